//! IPAM: the static addresses hosts hold on their networks' subnets. An allocation is one
//! transaction that holds the network's row (`FOR UPDATE` on PostgreSQL; SQLite's write
//! transaction holds the whole database), reads what is taken and inserts the next free address;
//! the table's key on the address is the last word, so no two hosts ever hold one address. A host
//! keeps its addresses across rebuilds and releases them when it is deleted. Every allocation and
//! release is audited.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use planner_core::model::NetworkSpec;
use planner_core::project::{Access, Object};
use planner_core::subnet::{AddressPin, Allocation, Subnet};

use super::audit::Change;
use super::{get_i64, get_str, now_ms, Inventory, InventoryError, Result};

/// One allocated address, as listings and exports show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AddressRecord {
    pub address: String,
    pub network: String,
    pub subnet: String,
    pub project: String,
    pub host: String,
    /// Asked for by the host's `address` block, rather than picked.
    pub pinned: bool,
    pub created_at: i64,
}

fn record(r: &AnyRow) -> Result<AddressRecord> {
    Ok(AddressRecord {
        address: get_str(r, "address")?,
        network: get_str(r, "network")?,
        subnet: get_str(r, "subnet")?,
        project: get_str(r, "project")?,
        host: get_str(r, "host")?,
        pinned: get_i64(r, "pinned")? != 0,
        created_at: get_i64(r, "created_at")?,
    })
}

fn allocation(r: &AddressRecord) -> Option<Allocation> {
    Some(Allocation {
        network: r.network.clone(),
        subnet: r.subnet.clone(),
        address: r.address.parse().ok()?,
    })
}

/// How full a subnet is, for `bmplan networks list` and the plan's exhaustion check.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SubnetUse {
    pub network: String,
    pub subnet: String,
    pub allocated: usize,
    /// Addresses allocation can still give (capped at 2³² for huge IPv6 subnets).
    pub free: u128,
}

const COLUMNS: &str = "address, network, subnet, project, host, pinned, created_at";

impl Inventory {
    /// Gives `project/host` one address on each static subnet of each of `networks` (in order),
    /// keeping the ones it holds, taking a pinned address where the host pins one, and releasing
    /// what it holds on subnets it is no longer on. Refused, with nothing taken, when a subnet has
    /// no free address left or a pinned address is another host's.
    pub async fn allocate_addresses(
        &self,
        project: &str,
        host: &str,
        networks: &[String],
        pins: &[AddressPin],
    ) -> Result<Vec<Allocation>> {
        self.authorize(
            Object::Host,
            Access::Write,
            Some(project),
            "address.allocate",
            host,
        )
        .await?;
        let mut tx = self.begin().await?;
        let held = self.host_rows(&mut *tx, project, host).await?;
        let mut wanted: Vec<(String, Subnet)> = Vec::new();
        for name in networks {
            if wanted.iter().any(|(n, _)| n == name) {
                continue;
            }
            let net = self.network_locked(&mut tx, name).await?;
            for s in net.subnets.into_iter().filter(Subnet::allocates) {
                wanted.push((name.clone(), s));
            }
        }
        for p in pins {
            if !wanted
                .iter()
                .any(|(n, s)| *n == p.network && s.parsed().contains(p.address))
            {
                return Err(InventoryError::Invalid(format!(
                    "host {project}/{host} pins {} on network {:?}, which is not in a static subnet of the host's networks ({})",
                    p.address,
                    p.network,
                    networks.join(", ")
                )));
            }
        }
        // What the host holds that still serves a wanted subnet (its pin, if it pins one there).
        let serves = |r: &AddressRecord, network: &str, s: &Subnet| {
            r.network == network
                && r.subnet == s.cidr
                && pin_on(pins, network, s).is_none_or(|p| p.to_string() == r.address)
        };
        // Released first: an address the host leaves may be the one it pins elsewhere.
        for r in &held {
            if !wanted.iter().any(|(n, s)| serves(r, n, s)) {
                self.release(&mut tx, r, "no longer on the host's networks or pins")
                    .await?;
            }
        }
        let mut out = Vec::new();
        for (network, s) in &wanted {
            if let Some(r) = held.iter().find(|r| serves(r, network, s)) {
                out.extend(allocation(r));
                continue;
            }
            let used = self.used(&mut tx, network, &s.cidr).await?;
            let (address, pinned) = match pin_on(pins, network, s) {
                Some(p) => {
                    if let Some(why) = s.refuses(p) {
                        return Err(InventoryError::Invalid(format!(
                            "host {project}/{host}: address {p} on network {network:?}: {why}"
                        )));
                    }
                    (p, true)
                }
                None => match s.next_free(&used) {
                    Some(a) => (a, false),
                    None => {
                        return Err(InventoryError::Conflict {
                            detail: format!(
                                "network {network:?} subnet {} has no free address: all {} allocatable are held \
                                 (host {project}/{host} needs one); widen its ranges or release a host",
                                s.cidr,
                                used.len()
                            ),
                        })
                    }
                },
            };
            if let Some(owner) = self.owner(&mut tx, address).await? {
                return Err(InventoryError::Conflict {
                    detail: format!(
                        "address {address} on network {network:?} is held by {}",
                        planner_core::subnet::holder(project, &owner.project, &owner.host)
                    ),
                });
            }
            let rec = AddressRecord {
                address: address.to_string(),
                network: network.clone(),
                subnet: s.cidr.clone(),
                project: project.to_string(),
                host: host.to_string(),
                pinned,
                created_at: now_ms(),
            };
            sqlx::query(&format!(
                "INSERT INTO addresses ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ))
            .bind(rec.address.clone())
            .bind(rec.network.clone())
            .bind(rec.subnet.clone())
            .bind(rec.project.clone())
            .bind(rec.host.clone())
            .bind(pinned as i64)
            .bind(rec.created_at)
            .execute(&mut *tx)
            .await
            .map_err(InventoryError::db("allocating an address"))?;
            self.audit(
                &mut tx,
                Change {
                    action: "address.allocate",
                    kind: Object::Network,
                    object: network,
                    project: Some(project),
                    node: None,
                    before: None,
                    after: Some(serde_json::to_value(&rec).unwrap_or_default()),
                    detail: Some(format!(
                        "{address} ({}) to host {host}{}",
                        s.cidr,
                        if pinned { ", pinned" } else { "" }
                    )),
                },
            )
            .await?;
            out.extend(allocation(&rec));
        }
        tx.commit()
            .await
            .map_err(InventoryError::db("committing an address allocation"))?;
        Ok(out)
    }

    /// The addresses a host holds.
    pub async fn host_addresses(&self, project: &str, host: &str) -> Result<Vec<Allocation>> {
        let recs = self.host_rows(&self.pool, project, host).await?;
        Ok(recs.iter().filter_map(allocation).collect())
    }

    /// Every allocated address, or a network's: what `bmplan addresses list` exports.
    pub async fn addresses(&self, network: Option<&str>) -> Result<Vec<AddressRecord>> {
        let rows = match network {
            Some(n) => sqlx::query(&format!(
                "SELECT {COLUMNS} FROM addresses WHERE network = $1 ORDER BY network, subnet, address"
            ))
            .bind(n.to_string())
            .fetch_all(&self.pool)
            .await,
            None => sqlx::query(&format!(
                "SELECT {COLUMNS} FROM addresses ORDER BY network, subnet, address"
            ))
            .fetch_all(&self.pool)
            .await,
        }
        .map_err(InventoryError::db("listing addresses"))?;
        let mut out: Vec<AddressRecord> = rows.iter().map(record).collect::<Result<_>>()?;
        // Text order puts 10.0.0.10 before 10.0.0.2: sort by the address itself.
        out.sort_by_key(|r| {
            (
                r.network.clone(),
                r.subnet.clone(),
                r.address.parse::<IpAddr>().ok(),
            )
        });
        Ok(out)
    }

    /// How full each static subnet of a network is.
    pub async fn subnet_use(&self, network: &NetworkSpec) -> Result<Vec<SubnetUse>> {
        let held = self.addresses(Some(&network.name)).await?;
        Ok(subnet_use(network, &held))
    }

    /// Releases every address a host holds, inside the host's deletion.
    pub(crate) async fn release_host_addresses(
        &self,
        tx: &mut Transaction<'static, Any>,
        project: &str,
        host: &str,
    ) -> Result<usize> {
        let held = self.host_rows(&mut **tx, project, host).await?;
        for r in &held {
            self.release(tx, r, "the host was deleted").await?;
        }
        Ok(held.len())
    }

    async fn release(
        &self,
        tx: &mut Transaction<'static, Any>,
        r: &AddressRecord,
        why: &str,
    ) -> Result<()> {
        sqlx::query("DELETE FROM addresses WHERE address = $1")
            .bind(r.address.clone())
            .execute(&mut **tx)
            .await
            .map_err(InventoryError::db("releasing an address"))?;
        self.audit(
            tx,
            Change {
                action: "address.release",
                kind: Object::Network,
                object: &r.network,
                project: Some(&r.project),
                node: None,
                before: Some(serde_json::to_value(r).unwrap_or_default()),
                after: None,
                detail: Some(format!(
                    "{} ({}) from host {}: {why}",
                    r.address, r.subnet, r.host
                )),
            },
        )
        .await
    }

    /// A host's address rows, read through `ex` (the pool, or a transaction).
    pub(crate) async fn host_rows<'e, E>(
        &self,
        ex: E,
        project: &str,
        host: &str,
    ) -> Result<Vec<AddressRecord>>
    where
        E: sqlx::Executor<'e, Database = Any>,
    {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM addresses WHERE project = $1 AND host = $2 ORDER BY network, subnet"
        ))
        .bind(project.to_string())
        .bind(host.to_string())
        .fetch_all(ex)
        .await
        .map_err(InventoryError::db("reading a host's addresses"))?;
        rows.iter().map(record).collect()
    }

    /// A network's spec, its row held until the transaction ends (PostgreSQL), so allocations on
    /// one network queue instead of racing.
    async fn network_locked(
        &self,
        tx: &mut Transaction<'static, Any>,
        name: &str,
    ) -> Result<NetworkSpec> {
        let row = sqlx::query(&format!(
            "SELECT spec FROM networks WHERE name = $1{}",
            self.for_update()
        ))
        .bind(name.to_string())
        .fetch_optional(&mut **tx)
        .await
        .map_err(InventoryError::db("reading a network"))?
        .ok_or_else(|| InventoryError::NotFound {
            kind: "network",
            name: name.to_string(),
        })?;
        serde_json::from_str(&get_str(&row, "spec")?).map_err(|e| {
            InventoryError::Invalid(format!("network {name}: the stored spec is damaged: {e}"))
        })
    }

    async fn used(
        &self,
        tx: &mut Transaction<'static, Any>,
        network: &str,
        subnet: &str,
    ) -> Result<BTreeSet<IpAddr>> {
        let rows = sqlx::query("SELECT address FROM addresses WHERE network = $1 AND subnet = $2")
            .bind(network.to_string())
            .bind(subnet.to_string())
            .fetch_all(&mut **tx)
            .await
            .map_err(InventoryError::db("reading allocated addresses"))?;
        Ok(rows
            .iter()
            .filter_map(|r| get_str(r, "address").ok()?.parse().ok())
            .collect())
    }

    async fn owner(
        &self,
        tx: &mut Transaction<'static, Any>,
        address: IpAddr,
    ) -> Result<Option<AddressRecord>> {
        sqlx::query(&format!(
            "SELECT {COLUMNS} FROM addresses WHERE address = $1"
        ))
        .bind(address.to_string())
        .fetch_optional(&mut **tx)
        .await
        .map_err(InventoryError::db("reading an address"))?
        .as_ref()
        .map(record)
        .transpose()
    }
}

/// How full each static subnet of `network` is, given the addresses held on it (`held` may hold
/// other networks' too: they are not counted).
pub fn subnet_use(network: &NetworkSpec, held: &[AddressRecord]) -> Vec<SubnetUse> {
    network
        .subnets
        .iter()
        .filter(|s| s.allocates())
        .map(|s| {
            let used: BTreeSet<IpAddr> = held
                .iter()
                .filter(|r| r.network == network.name && r.subnet == s.cidr)
                .filter_map(|r| r.address.parse().ok())
                .collect();
            SubnetUse {
                network: network.name.clone(),
                subnet: s.cidr.clone(),
                allocated: used.len(),
                free: s.free(&used),
            }
        })
        .collect()
}

/// The address a host pins on this subnet, if any.
fn pin_on(pins: &[AddressPin], network: &str, s: &Subnet) -> Option<IpAddr> {
    pins.iter()
        .find(|p| p.network == network && s.parsed().contains(p.address))
        .map(|p| p.address)
}
