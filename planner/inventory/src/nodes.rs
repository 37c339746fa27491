//! Nodes: enrollment, the lifecycle, maintenance, and the facts scheduling reads.

use std::collections::BTreeSet;

use serde::Serialize;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use super::audit::Change;
use super::{
    get_i64, get_opt, get_opt_i64, get_str, now_ms, pause_point, Inventory, InventoryError, Result,
};
use planner_core::hardware::{Endpoint, Secret, TlsTrust};
use planner_core::lifecycle::{self, Event, ProvisionState};
use planner_core::project::{Access, Object};
pub use planner_core::records::NodeRecord;

/// How to trust a node's BMC certificate, as the inventory keeps it (the CA's PEM text, not a path,
/// so a shared inventory works from any machine).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NodeTls {
    pub ca_cert_pem: Option<String>,
    pub fingerprint: Option<String>,
    pub insecure: bool,
}

/// What an operator gives to enroll a node.
#[derive(Debug, Clone)]
pub struct NodeRegistration {
    pub name: String,
    pub bmc_url: String,
    /// Empty when the BMC manages one system and the prober picked it.
    pub system_id: String,
    pub username: String,
    pub password: Secret,
    pub tls: NodeTls,
}

impl NodeRegistration {
    /// The BMC endpoint this registration describes.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint::new(
            self.bmc_url.clone(),
            self.username.clone(),
            self.password.clone(),
            tls_trust(&self.tls),
        )
    }
}

fn tls_trust(t: &NodeTls) -> TlsTrust {
    if let Some(pem) = &t.ca_cert_pem {
        TlsTrust::CaPem(pem.clone())
    } else if let Some(fp) = &t.fingerprint {
        TlsTrust::Fingerprint(fp.clone())
    } else if t.insecure {
        TlsTrust::Insecure
    } else {
        TlsTrust::NoExtraRoots
    }
}

/// What talking to the BMC found before the node is written.
#[derive(Debug, Clone)]
pub enum Verification {
    /// Credentials accepted and the system inspected.
    Inspected(Box<planner_core::hardware::Inventory>),
    /// The BMC could not be reached or refused the credentials: why, and which part of the
    /// endpoint to fix.
    VerifyFailed {
        part: planner_core::hardware::EndpointPart,
        message: String,
    },
    /// Credentials accepted, but inspection failed.
    InspectFailed(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EnrollResult {
    Enrolled,
    /// Already enrolled under this name: address, credentials and facts refreshed.
    Updated,
    /// Another node already is this system (same UUID or serial); nothing was written.
    Duplicate,
    VerifyFailed,
    InspectFailed,
}

impl EnrollResult {
    pub fn as_str(&self) -> &'static str {
        match self {
            EnrollResult::Enrolled => "enrolled",
            EnrollResult::Updated => "updated",
            EnrollResult::Duplicate => "duplicate",
            EnrollResult::VerifyFailed => "verify_failed",
            EnrollResult::InspectFailed => "inspect_failed",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EnrollOutcome {
    pub name: String,
    pub result: EnrollResult,
    pub state: Option<ProvisionState>,
    pub detail: Option<String>,
}

impl EnrollOutcome {
    /// One line of a bulk enrolment's progress: the BMC's name, what became of it, why.
    pub fn line(&self) -> String {
        let detail = self.detail.as_deref().map(|d| format!(": {d}"));
        format!(
            "{}: {:?}{}",
            self.name,
            self.result,
            detail.unwrap_or_default()
        )
    }
}

#[derive(Debug, Clone, Default)]
pub struct NodeFilter {
    pub state: Option<ProvisionState>,
    pub flavor: Option<String>,
    pub project: Option<String>,
    pub name: Option<String>,
}

const NODE_SELECT: &str = "SELECT n.id, n.name, n.state, n.power, n.health, n.maintenance, n.maintenance_reason, \
     n.last_error, n.manufacturer, n.model, n.serial, n.system_uuid, n.arch, n.cpus, n.memory_gib, n.disk_gib, \
     n.traits, n.accelerators, n.rack, n.bmc_url, n.system_id, n.username, n.ca_cert_pem, n.fingerprint, n.insecure, \
     n.owner_project, n.created_at, n.updated_at, h.name AS host_name, h.project AS host_project \
     FROM nodes n LEFT JOIN hosts h ON h.node_id = n.id";

pub(super) fn node_from_row(r: &AnyRow) -> Result<NodeRecord> {
    let state_text = get_str(r, "state")?;
    let state = ProvisionState::parse(&state_text).ok_or_else(|| {
        InventoryError::Invalid(format!(
            "the inventory holds an unknown state {state_text:?}"
        ))
    })?;
    let traits: BTreeSet<String> = serde_json::from_str(&get_str(r, "traits")?).unwrap_or_default();
    let tls_mode = if get_opt(r, "ca_cert_pem")?.is_some() {
        "ca"
    } else if get_opt(r, "fingerprint")?.is_some() {
        "pinned"
    } else if get_i64(r, "insecure")? != 0 {
        "insecure"
    } else {
        "verify"
    };
    Ok(NodeRecord {
        id: get_i64(r, "id")?,
        name: get_str(r, "name")?,
        state,
        power: get_opt(r, "power")?,
        health: get_opt(r, "health")?,
        maintenance: get_i64(r, "maintenance")? != 0,
        maintenance_reason: get_opt(r, "maintenance_reason")?,
        last_error: get_opt(r, "last_error")?,
        manufacturer: get_opt(r, "manufacturer")?,
        model: get_opt(r, "model")?,
        serial: get_opt(r, "serial")?,
        system_uuid: get_opt(r, "system_uuid")?,
        arch: get_opt(r, "arch")?,
        cpus: get_i64(r, "cpus")?,
        memory_gib: get_i64(r, "memory_gib")?,
        disk_gib: get_i64(r, "disk_gib")?,
        traits,
        accelerators: serde_json::from_str(&get_str(r, "accelerators")?).unwrap_or_default(),
        rack: get_opt(r, "rack")?,
        bmc_url: get_str(r, "bmc_url")?,
        system_id: get_str(r, "system_id")?,
        username: get_str(r, "username")?,
        tls_mode: tls_mode.to_string(),
        owner_project: get_opt(r, "owner_project")?,
        host: get_opt(r, "host_name")?,
        project: get_opt(r, "host_project")?,
        created_at: get_i64(r, "created_at")?,
        updated_at: get_i64(r, "updated_at")?,
    })
}

/// The facts an inspection gives, as the node columns keep them.
struct Facts {
    /// The system's id at its BMC (with the BMC, a node's identity).
    system_id: String,
    power: String,
    health: Option<String>,
    manufacturer: Option<String>,
    model: Option<String>,
    serial: Option<String>,
    /// Where the chassis sits (not stored as a column: it is in `inventory`), for offline
    /// configuration by slot.
    slot: Option<String>,
    uuid: Option<String>,
    arch: Option<String>,
    cpus: i64,
    memory_gib: i64,
    disk_gib: i64,
    accelerators: String,
    inventory: String,
}

fn facts(inv: &planner_core::hardware::Inventory) -> Facts {
    let cpus = inv.cpu.threads.or(inv.cpu.cores).unwrap_or(0) as i64;
    Facts {
        system_id: inv.system_id.clone(),
        power: inv.power_state.as_str().to_string(),
        health: inv.health.clone(),
        manufacturer: inv.manufacturer.clone(),
        model: inv.model.clone(),
        serial: inv.serial.clone().filter(|s| !s.trim().is_empty()),
        slot: inv.slot.clone(),
        uuid: inv
            .uuid
            .clone()
            .filter(|s| !s.trim().is_empty())
            .map(|u| u.to_ascii_lowercase()),
        arch: inv.cpu.arch.clone(),
        cpus,
        memory_gib: inv.memory_gib.unwrap_or(0.0).round() as i64,
        disk_gib: (inv.disk_bytes() >> 30) as i64,
        accelerators: serde_json::to_string(&inv.accelerators).unwrap_or_else(|_| "[]".into()),
        inventory: serde_json::to_string(inv).unwrap_or_default(),
    }
}

/// The events that lead from `from` through verification and inspection to what `v` says happened.
fn enrollment_path(from: ProvisionState, v: &Verification) -> Vec<Event> {
    use ProvisionState as S;
    let mut events = Vec::new();
    let mut s = from;
    if matches!(s, S::Enroll | S::VerifyFailed) {
        events.push(Event::Manage);
        s = S::Verifying;
    }
    if s == S::Verifying {
        if matches!(v, Verification::VerifyFailed { .. }) {
            events.push(Event::Fail);
            return events;
        }
        events.push(Event::Verified);
        s = S::Manageable;
    }
    if matches!(s, S::Manageable | S::InspectFailed)
        && !matches!(v, Verification::VerifyFailed { .. })
    {
        events.push(Event::Inspect);
        s = S::Inspecting;
    }
    if s == S::Inspecting {
        events.push(match v {
            Verification::Inspected(_) => Event::Inspected,
            _ => Event::Fail,
        });
    }
    events
}

impl Inventory {
    /// One node by name, read through `ex` (the pool, or a transaction).
    pub(super) async fn node_in<'e, E>(&self, ex: E, name: &str) -> Result<NodeRecord>
    where
        E: sqlx::Executor<'e, Database = Any>,
    {
        let row = sqlx::query(&format!("{NODE_SELECT} WHERE n.name = $1"))
            .bind(name.to_string())
            .fetch_optional(ex)
            .await
            .map_err(InventoryError::db("reading a node"))?;
        match row {
            Some(r) => node_from_row(&r),
            None => Err(InventoryError::NotFound {
                kind: "node",
                name: name.to_string(),
            }),
        }
    }

    /// One node by name (admin only).
    pub async fn node(&self, name: &str) -> Result<NodeRecord> {
        self.authorize(Object::Node, Access::Read, None, "node.read", name)
            .await?;
        self.node_in(&self.pool, name).await
    }

    /// Every node, for scheduling and checks; no permission check (callers check).
    pub(super) async fn all_nodes<'e, E>(&self, ex: E) -> Result<Vec<NodeRecord>>
    where
        E: sqlx::Executor<'e, Database = Any>,
    {
        let rows = sqlx::query(&format!("{NODE_SELECT} ORDER BY n.name"))
            .fetch_all(ex)
            .await
            .map_err(InventoryError::db("listing nodes"))?;
        rows.iter().map(node_from_row).collect()
    }

    /// Nodes, by name, filtered (admin only: members do not see the fleet).
    pub async fn nodes(&self, filter: &NodeFilter) -> Result<Vec<NodeRecord>> {
        self.authorize(Object::Node, Access::Read, None, "node.list", "*")
            .await?;
        let flavor = match &filter.flavor {
            Some(f) => Some(self.flavor_unchecked(&self.pool, f).await?),
            None => None,
        };
        let all = self.all_nodes(&self.pool).await?;
        Ok(all
            .into_iter()
            .filter(|n| filter.state.is_none_or(|s| n.state == s))
            .filter(|n| filter.name.as_ref().is_none_or(|x| &n.name == x))
            .filter(|n| {
                filter.project.as_ref().is_none_or(|p| {
                    n.project.as_ref() == Some(p) || n.owner_project.as_ref() == Some(p)
                })
            })
            .filter(|n| flavor.as_ref().is_none_or(|f| f.matches(&n.specs())))
            .collect())
    }

    /// Enrolls one node from what the BMC said. Idempotent by name; a system already enrolled under
    /// another name (same system UUID, or same manufacturer and serial) is reported as a duplicate and
    /// nothing is written. A BMC that could not be verified or inspected still leaves a node, in verify
    /// failed or inspect failed with the reason, so nothing the operator gave is lost.
    pub async fn enroll(
        &self,
        reg: &NodeRegistration,
        verification: &Verification,
    ) -> Result<EnrollOutcome> {
        self.authorize(Object::Node, Access::Write, None, "node.enroll", &reg.name)
            .await?;
        super::valid_name("node", &reg.name)?;
        // A URL is shown in listings, exports and the audit log: never one carrying credentials.
        planner_core::rules::url_ok(&reg.bmc_url, planner_core::rules::BMC_SCHEMES)
            .map_err(|m| InventoryError::Invalid(format!("node {}: bmc_url: {m}", reg.name)))?;
        let key = self.key()?;
        if reg.name.trim().is_empty() {
            return Err(InventoryError::Invalid("a node needs a name".into()));
        }
        let mut tx = self.begin().await?;
        let facts = match verification {
            Verification::Inspected(inv) => Some(facts(inv)),
            _ => None,
        };
        let existing = match self.node_in(&mut *tx, &reg.name).await {
            Ok(n) => Some(n),
            Err(InventoryError::NotFound { .. }) => None,
            Err(e) => return Err(e),
        };
        if let Some(f) = &facts {
            if let Some(other) = self.same_system(&mut tx, f, reg).await? {
                tx.rollback().await.ok();
                return Ok(EnrollOutcome {
                    name: reg.name.clone(),
                    result: EnrollResult::Duplicate,
                    state: None,
                    detail: Some(other),
                });
            }
            if let (Some(old), Some(new)) = (
                existing.as_ref().and_then(|e| e.system_uuid.clone()),
                f.uuid.as_ref(),
            ) {
                if &old != new {
                    return Err(InventoryError::Conflict {
                        detail: format!(
                            "node {} is enrolled for system {old}, but {} now answers with system {new}; \
                             remove the node or use another name",
                            reg.name, reg.bmc_url
                        ),
                    });
                }
            }
        }
        let now = now_ms();
        let (id, from) = match &existing {
            Some(n) => (n.id, n.state),
            None => {
                let row = sqlx::query(
                    "INSERT INTO nodes (name, bmc_url, system_id, username, password_sealed, state, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, '', $5, $6, $6) RETURNING id",
                )
                .bind(reg.name.clone())
                .bind(reg.bmc_url.clone())
                .bind(reg.system_id.clone())
                .bind(reg.username.clone())
                .bind(ProvisionState::Enroll.as_str())
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(same_node_conflict("inserting a node", &reg.name))?;
                (get_i64(&row, "id")?, ProvisionState::Enroll)
            }
        };
        let mut state = from;
        let mut path = vec![state.as_str().to_string()];
        for e in enrollment_path(from, verification) {
            state = lifecycle::transition(&reg.name, state, e)?;
            path.push(state.as_str().to_string());
        }
        let sealed = key.seal(&format!("node:{id}"), &reg.password)?;
        let error = match verification {
            Verification::Inspected(_) => None,
            Verification::VerifyFailed { message: m, .. } | Verification::InspectFailed(m) => {
                Some(m.clone())
            }
        };
        sqlx::query(
            "UPDATE nodes SET bmc_url = $1, system_id = $2, username = $3, password_sealed = $4, \
             ca_cert_pem = $5, fingerprint = $6, insecure = $7, state = $8, last_error = $9, updated_at = $10 \
             WHERE id = $11",
        )
        .bind(reg.bmc_url.clone())
        .bind(reg.system_id.clone())
        .bind(reg.username.clone())
        .bind(sealed)
        .bind(reg.tls.ca_cert_pem.clone())
        .bind(reg.tls.fingerprint.clone())
        .bind(reg.tls.insecure as i64)
        .bind(state.as_str())
        .bind(error.clone())
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(InventoryError::db("updating a node"))?;
        if let Some(f) = &facts {
            self.store_facts(&mut tx, id, &reg.name, f).await?;
        }
        let after = self.node_in(&mut *tx, &reg.name).await?;
        let result = match (verification, &existing) {
            (Verification::VerifyFailed { .. }, _) => EnrollResult::VerifyFailed,
            (Verification::InspectFailed(_), _) => EnrollResult::InspectFailed,
            (_, Some(_)) => EnrollResult::Updated,
            (_, None) => EnrollResult::Enrolled,
        };
        self.audit(
            &mut tx,
            Change {
                action: "node.enroll",
                kind: Object::Node,
                object: &reg.name,
                project: None,
                node: Some(&reg.name),
                before: existing.as_ref().map(NodeRecord::audit_value),
                after: Some(after.audit_value()),
                detail: Some(match &error {
                    None => path.join(" → "),
                    Some(e) => format!("{}: {e}", path.join(" → ")),
                }),
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing an enrollment"))?;
        if let Some(f) = &facts {
            self.offline_profile(&reg.name, f.serial.as_deref(), f.slot.as_deref())
                .await?;
        }
        Ok(EnrollOutcome {
            name: reg.name.clone(),
            result,
            state: Some(state),
            detail: error,
        })
    }

    /// Offline configuration: a node without a profile whose serial number a profile names takes
    /// that profile (recorded in the audit log). The next apply configures it.
    async fn offline_profile(
        &self,
        name: &str,
        serial: Option<&str>,
        slot: Option<&str>,
    ) -> Result<()> {
        if serial.is_none() && slot.is_none() {
            return Ok(());
        }
        let mut config = self.node_config(name).await?;
        if config.profile.is_some() {
            return Ok(());
        }
        let layers = self.profile_layers().await?;
        let same = |a: &String, b: Option<&str>| {
            b.is_some_and(|b| a.trim().eq_ignore_ascii_case(b.trim()))
        };
        // A serial number names the very server; a slot, wherever it sits: serials first.
        let by_serial = layers
            .iter()
            .find(|(_, l)| l.serials.iter().any(|s| same(s, serial)))
            .map(|(p, _)| {
                (
                    p,
                    format!("serial number {}", serial.unwrap_or_default().trim()),
                )
            });
        let by_slot = || {
            layers
                .iter()
                .find(|(_, l)| l.slots.iter().any(|s| same(s, slot)))
                .map(|(p, _)| (p, format!("slot {}", slot.unwrap_or_default().trim())))
        };
        let Some((profile, matched)) = by_serial.or_else(by_slot) else {
            return Ok(());
        };
        let claimants: Vec<&String> = layers
            .iter()
            .filter(|(_, l)| {
                l.serials.iter().any(|s| same(s, serial)) || l.slots.iter().any(|s| same(s, slot))
            })
            .map(|(p, _)| p)
            .collect();
        if claimants.len() > 1 {
            tracing::warn!(node = name, ?claimants, chosen = %profile, "more than one profile names this server; the first by serial, else by slot, wins");
        }
        config.profile = Some(profile.clone());
        let c = config.clone();
        let detail = format!("took profile {profile}, assigned to its {matched}");
        self.update_node(
            name,
            "node.offline_profile",
            None,
            Some(detail),
            move |_| ("profile = $1".into(), vec![Bind::S(c.profile)]),
        )
        .await?;
        tracing::info!(node = name, ?serial, ?slot, profile = %profile, "offline configuration: the node takes its profile");
        Ok(())
    }

    /// The node (other than `name`) that is the same system, described for the operator.
    /// Another node that is this system: the same system UUID anywhere, or the same manufacturer
    /// and serial unless it is another system of the same BMC: the nodes of a multi-node blade
    /// share a serial (and often have no UUID), and a node is its BMC plus its system id.
    async fn same_system(
        &self,
        tx: &mut Transaction<'static, Any>,
        f: &Facts,
        reg: &NodeRegistration,
    ) -> Result<Option<String>> {
        let all = self.all_nodes(&mut **tx).await?;
        for n in all.iter().filter(|n| n.name != reg.name) {
            if let (Some(a), Some(b)) = (&n.system_uuid, &f.uuid) {
                if a == b {
                    return Ok(Some(format!(
                        "already enrolled as {} at {} (same system UUID {b})",
                        n.name, n.bmc_url
                    )));
                }
            }
            // Another system of the same BMC (the nodes of a multi-node blade share a serial).
            let their_system = n.system_id.trim();
            let other_system_here = planner_core::hardware::origin(&n.bmc_url)
                == planner_core::hardware::origin(&reg.bmc_url)
                && !their_system.is_empty()
                && their_system != f.system_id;
            if let (Some(a), Some(b)) = (&n.serial, &f.serial) {
                let same_maker = n
                    .manufacturer
                    .as_deref()
                    .map(planner_core::flavor::vendor_key)
                    == f.manufacturer
                        .as_deref()
                        .map(planner_core::flavor::vendor_key);
                if a == b && same_maker && !other_system_here {
                    return Ok(Some(format!(
                        "already enrolled as {} at {} (same serial number {b})",
                        n.name, n.bmc_url
                    )));
                }
            }
        }
        Ok(None)
    }

    async fn store_facts(
        &self,
        tx: &mut Transaction<'static, Any>,
        id: i64,
        name: &str,
        f: &Facts,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE nodes SET power = $1, health = $2, manufacturer = $3, model = $4, serial = $5, system_uuid = $6, \
             arch = COALESCE($7, arch), cpus = $8, memory_gib = $9, disk_gib = $10, inventory = $11, \
             accelerators = $13 WHERE id = $12",
        )
        .bind(f.power.clone())
        .bind(f.health.clone())
        .bind(f.manufacturer.clone())
        .bind(f.model.clone())
        .bind(f.serial.clone())
        .bind(f.uuid.clone())
        .bind(f.arch.clone())
        .bind(f.cpus)
        .bind(f.memory_gib)
        .bind(f.disk_gib)
        .bind(f.inventory.clone())
        .bind(id)
        .bind(f.accelerators.clone())
        .execute(&mut **tx)
        .await
        .map_err(same_node_conflict("storing inspection results", name))?;
        Ok(())
    }

    /// Records a fresh inspection of an enrolled node (power, health, hardware) without changing its
    /// state.
    pub async fn record_inspection(
        &self,
        name: &str,
        inv: &planner_core::hardware::Inventory,
    ) -> Result<()> {
        self.authorize(Object::Node, Access::Write, None, "node.inspect", name)
            .await?;
        let mut tx = self.begin().await?;
        let n = self.node_in(&mut *tx, name).await?;
        self.store_facts(&mut tx, n.id, name, &facts(inv)).await?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing an inspection"))?;
        Ok(())
    }

    /// Applies a lifecycle event to a node, atomically with its audit entry. `error` is kept as the
    /// node's last error (failure events) or cleared.
    pub async fn transition(
        &self,
        name: &str,
        event: Event,
        error: Option<&str>,
    ) -> Result<NodeRecord> {
        self.authorize(
            Object::Node,
            Access::Write,
            None,
            &format!("node.{event}"),
            name,
        )
        .await?;
        let mut tx = self.begin().await?;
        let before = self.node_in_locked(&mut tx, name).await?;
        if before.maintenance && matches!(event, Event::Deploy | Event::Provide | Event::Adopt) {
            return Err(InventoryError::Conflict {
                detail: format!(
                    "node {name} is in maintenance ({}): clear it before {event}",
                    before
                        .maintenance_reason
                        .as_deref()
                        .unwrap_or("no reason given")
                ),
            });
        }
        if let (Some(h), Event::Manage) = (&before.host, event) {
            return Err(InventoryError::Conflict {
                detail: format!(
                    "node {name} carries host {h}: delete the host before taking the node out of the pool"
                ),
            });
        }
        let next = lifecycle::transition(name, before.state, event)?;
        sqlx::query("UPDATE nodes SET state = $1, last_error = $2, updated_at = $3 WHERE id = $4")
            .bind(next.as_str())
            .bind(error.map(str::to_string))
            .bind(now_ms())
            .bind(before.id)
            .execute(&mut *tx)
            .await
            .map_err(InventoryError::db("updating a node's state"))?;
        pause_point("transition").await;
        let after = self.node_in(&mut *tx, name).await?;
        self.audit(
            &mut tx,
            Change {
                action: &format!("node.{event}"),
                kind: Object::Node,
                object: name,
                project: before.project.as_deref(),
                node: Some(name),
                before: Some(serde_json::json!({"state": before.state.as_str()})),
                after: Some(serde_json::json!({"state": next.as_str()})),
                detail: error.map(str::to_string),
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing a transition"))?;
        Ok(after)
    }

    /// Sets or clears maintenance. A reason is required to set it.
    pub async fn set_maintenance(
        &self,
        name: &str,
        on: bool,
        reason: Option<&str>,
    ) -> Result<NodeRecord> {
        self.authorize(Object::Node, Access::Write, None, "node.maintenance", name)
            .await?;
        let reason = reason.map(str::trim).filter(|r| !r.is_empty());
        if on && reason.is_none() {
            return Err(InventoryError::Invalid(format!(
                "node {name}: maintenance needs a reason (--reason)"
            )));
        }
        self.update_node(name, "node.maintenance", None, None, |_| {
            (
                "maintenance = $1, maintenance_reason = $2".to_string(),
                vec![
                    Bind::I(on as i64),
                    Bind::S(if on { reason.map(str::to_string) } else { None }),
                ],
            )
        })
        .await
    }

    /// Sets traits, rack, architecture (when the BMC does not say) and the owning project of a node.
    /// `owner` of `Some(None)` clears the reservation.
    pub async fn set_node_attributes(
        &self,
        name: &str,
        traits: Option<BTreeSet<String>>,
        rack: Option<String>,
        arch: Option<String>,
        owner: Option<Option<String>>,
    ) -> Result<NodeRecord> {
        self.authorize(Object::Node, Access::Write, None, "node.update", name)
            .await?;
        if let Some(a) = &arch {
            if !matches!(a.as_str(), "x86_64" | "aarch64") {
                return Err(InventoryError::Invalid(format!(
                    "architecture {a:?} is not one of x86_64, aarch64"
                )));
            }
        }
        let quota = match &owner {
            Some(Some(p)) => Some(p.clone()),
            _ => None,
        };
        self.update_node(name, "node.update", quota.as_deref(), None, move |_| {
            let mut sets = Vec::new();
            let mut binds = Vec::new();
            let mut add = |col: &str, b: Bind| {
                binds.push(b);
                sets.push(format!("{col} = ${}", binds.len()));
            };
            if let Some(t) = traits {
                add(
                    "traits",
                    Bind::S(Some(serde_json::to_string(&t).unwrap_or_default())),
                );
            }
            if let Some(r) = rack {
                add("rack", Bind::S(Some(r)));
            }
            if let Some(a) = arch {
                add("arch", Bind::S(Some(a)));
            }
            if let Some(o) = owner {
                add("owner_project", Bind::S(o));
            }
            (sets.join(", "), binds)
        })
        .await
    }

    /// Runs one UPDATE of a node's columns with its audit entry; `quota_project`, when the update
    /// reserves the node for a project, is checked in the same transaction.
    pub(super) async fn update_node<F>(
        &self,
        name: &str,
        action: &str,
        quota_project: Option<&str>,
        detail: Option<String>,
        f: F,
    ) -> Result<NodeRecord>
    where
        F: FnOnce(&NodeRecord) -> (String, Vec<Bind>),
    {
        let mut tx = self.begin().await?;
        let before = self.node_in(&mut *tx, name).await?;
        if let Some(p) = quota_project {
            if let Err(e) = self.check_node_quota(&mut tx, p, &before).await {
                // The refusal is recorded after the transaction that was refused is dropped.
                drop(tx);
                if matches!(e, InventoryError::Quota { .. }) {
                    self.record_denied(Object::Node, action, name, Some(p), &e.to_string())
                        .await?;
                }
                return Err(e);
            }
        }
        let (sets, binds) = f(&before);
        if !sets.is_empty() {
            let n = binds.len();
            let sql = format!(
                "UPDATE nodes SET {sets}, updated_at = ${} WHERE id = ${}",
                n + 1,
                n + 2
            );
            let mut q = sqlx::query(&sql);
            for b in binds {
                q = match b {
                    Bind::I(i) => q.bind(i),
                    Bind::S(s) => q.bind(s),
                };
            }
            q.bind(now_ms())
                .bind(before.id)
                .execute(&mut *tx)
                .await
                .map_err(InventoryError::db("updating a node"))?;
        }
        let after = self.node_in(&mut *tx, name).await?;
        self.audit(
            &mut tx,
            Change {
                action,
                kind: Object::Node,
                object: name,
                project: None,
                node: Some(name),
                before: Some(before.audit_value()),
                after: Some(after.audit_value()),
                detail,
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing a node update"))?;
        Ok(after)
    }

    /// Removes a node from the inventory. Refused while a host is allocated on it or an operation is
    /// under way.
    pub async fn remove_node(&self, name: &str) -> Result<()> {
        self.authorize(Object::Node, Access::Write, None, "node.remove", name)
            .await?;
        let mut tx = self.begin().await?;
        let n = self.node_in(&mut *tx, name).await?;
        if let Some(h) = &n.host {
            return Err(InventoryError::Conflict {
                detail: format!("node {name} carries host {h}: delete the host first"),
            });
        }
        if n.state.is_transient() || n.state == ProvisionState::Active {
            return Err(InventoryError::Conflict {
                detail: format!(
                    "node {name} is {}: it can be removed in enroll, manageable, available or a failed state",
                    n.state
                ),
            });
        }
        sqlx::query("DELETE FROM nodes WHERE id = $1")
            .bind(n.id)
            .execute(&mut *tx)
            .await
            .map_err(InventoryError::db("removing a node"))?;
        self.audit(
            &mut tx,
            Change {
                action: "node.remove",
                kind: Object::Node,
                object: name,
                project: None,
                node: Some(name),
                before: Some(n.audit_value()),
                after: None,
                detail: None,
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing a node removal"))?;
        Ok(())
    }

    /// The BMC endpoint of a node, with its password opened. For the engine's own use (observing,
    /// applying): no command prints it, and a member acting on their host's node goes through here
    /// without ever seeing it.
    pub async fn node_endpoint(&self, name: &str) -> Result<(Endpoint, String)> {
        let row = sqlx::query(
            "SELECT id, bmc_url, system_id, username, password_sealed, ca_cert_pem, fingerprint, insecure FROM nodes WHERE name = $1",
        )
        .bind(name.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(InventoryError::db("reading a node's endpoint"))?
        .ok_or_else(|| InventoryError::NotFound {
            kind: "node",
            name: name.to_string(),
        })?;
        let id = get_i64(&row, "id")?;
        let password = self
            .key()?
            .open(&format!("node:{id}"), &get_str(&row, "password_sealed")?)?;
        let tls = NodeTls {
            ca_cert_pem: get_opt(&row, "ca_cert_pem")?,
            fingerprint: get_opt(&row, "fingerprint")?,
            insecure: get_opt_i64(&row, "insecure")?.unwrap_or(0) != 0,
        };
        Ok((
            Endpoint::new(
                get_str(&row, "bmc_url")?,
                get_str(&row, "username")?,
                password,
                tls_trust(&tls),
            ),
            get_str(&row, "system_id")?,
        ))
    }
}

/// A concurrent enrollment of the same name or system loses on a unique index (the statement fails,
/// on both backends): say so plainly; any other database error stays one.
fn same_node_conflict(
    operation: &'static str,
    name: &str,
) -> impl FnOnce(sqlx::Error) -> InventoryError {
    let name = name.to_string();
    move |e| {
        match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => InventoryError::Conflict {
            detail: format!(
                "node {name}: another node with the same name or system UUID was enrolled at the same time"
            ),
        },
        _ => InventoryError::Database {
            operation: operation.into(),
            source: e,
        },
    }
    }
}

pub(super) enum Bind {
    I(i64),
    S(Option<String>),
}

/// `bmplan nodes enroll` and `discover`: a BMC per row, with what became of it.
pub fn outcome_rows(outcomes: &[EnrollOutcome]) -> planner_core::report::Rows {
    planner_core::report::Rows {
        header: vec!["NAME", "RESULT", "STATE", "DETAIL"],
        cells: outcomes
            .iter()
            .map(|o| {
                vec![
                    o.name.clone(),
                    o.result.as_str().to_string(),
                    o.state.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
                    o.detail.clone().unwrap_or_default(),
                ]
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProvisionState as S;

    fn inspected() -> Verification {
        Verification::Inspected(Box::new(planner_core::hardware::Inventory {
            system_id: "1".into(),
            manufacturer: None,
            model: None,
            serial: None,
            uuid: None,
            sku: None,
            power_state: planner_core::hardware::PowerState::On,
            health: None,
            bios_version: None,
            slot: None,
            cpu: Default::default(),
            accelerators: Vec::new(),
            memory_gib: None,
            nics: vec![],
            controllers: vec![],
            drives: vec![],
            volumes: vec![],
            firmware: vec![],
            sensors: Default::default(),
            bios: Default::default(),
            unavailable: vec![],
        }))
    }

    #[test]
    fn enrollment_walks_the_lifecycle_from_wherever_the_node_is() {
        use Event::*;
        assert_eq!(
            enrollment_path(S::Enroll, &inspected()),
            vec![Manage, Verified, Inspect, Inspected]
        );
        assert_eq!(
            enrollment_path(
                S::Enroll,
                &Verification::VerifyFailed {
                    part: planner_core::hardware::EndpointPart::Address,
                    message: "x".into(),
                }
            ),
            vec![Manage, Fail]
        );
        assert_eq!(
            enrollment_path(S::Enroll, &Verification::InspectFailed("x".into())),
            vec![Manage, Verified, Inspect, Fail]
        );
        assert_eq!(
            enrollment_path(S::InspectFailed, &inspected()),
            vec![Inspect, Inspected]
        );
        // An enrolled node in service keeps its state; its facts are refreshed.
        assert!(enrollment_path(S::Active, &inspected()).is_empty());
        assert!(enrollment_path(
            S::Available,
            &Verification::VerifyFailed {
                part: planner_core::hardware::EndpointPart::Address,
                message: "x".into(),
            }
        )
        .is_empty());
    }
}
