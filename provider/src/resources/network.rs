//! `baremetal_network`: a VLAN the inventory knows by name. The VLAN is created on a switch when a
//! node's port on that switch is put on the network (in the same batch as the port change).

use crate::value::ValueAny;
use async_trait::async_trait;
use planner::inventory::InventoryError;
use planner::model::{network_from_attrs, NetworkSpec};
use planner::schema::{ResourceSpec, NETWORK};
use planner::subnet::{overlap_with, subnets_from_attrs};
use serde_json::Value;

use super::{name_of, object};
use crate::engine::attr_problems;
use crate::engine::{Engine, Problem};
use crate::resource::{Handler, Json};
use crate::value::Obj;

pub struct NetworkResource;

async fn write(e: &Engine, planned: &Json) -> Result<Json, Problem> {
    let n = network_from_attrs(planned)
        .map_err(|errs| attr_problems("Invalid network", errs).remove(0))?;
    if let Some(p) = overlaps(e, &n).await?.into_iter().next() {
        return Err(p);
    }
    e.inv.put_network(&n).await?;
    read(e, &n.name, Some(planned)).await?.ok_or_else(|| {
        Problem::root(
            "Network vanished",
            format!("network {} was not written", n.name),
        )
    })
}

/// A network's subnets that overlap another network's in the inventory, at `subnet.N.cidr`.
async fn overlaps(e: &Engine, n: &NetworkSpec) -> Result<Vec<Problem>, Problem> {
    if n.subnets.is_empty() {
        return Ok(Vec::new());
    }
    let others: Vec<NetworkSpec> = e
        .inv
        .networks()
        .await?
        .into_iter()
        .filter(|o| o.name != n.name)
        .collect();
    Ok(overlap_with(
        &n.subnets,
        others
            .iter()
            .map(|o| (o.name.as_str(), o.subnets.as_slice())),
    )
    .into_iter()
    .map(|(k, m)| Problem::at(format!("subnet.{k}.cidr"), "Overlapping subnet", m))
    .collect())
}

/// The subnet blocks as stored; where the prior state (or plan) wrote a value that means the same
/// (`fd00:0::/64` for `fd00::/64`, `mode = "static"` for no `mode`), it is kept as written, so reading
/// back never shows a change nobody made. An import, with nothing prior, reads the canonical forms
/// (the default mode unset).
fn subnet_blocks(n: &NetworkSpec, prior: Option<&Json>) -> Value {
    let prior_blocks: Vec<&Json> = prior
        .and_then(|p| p.get("subnet"))
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default();
    let texts = |xs: &[std::net::IpAddr]| -> Value {
        if xs.is_empty() {
            Value::Null
        } else {
            Value::from(xs.iter().map(|a| a.to_string()).collect::<Vec<_>>())
        }
    };
    Value::Array(
        n.subnets
            .iter()
            .enumerate()
            .map(|(i, sub)| {
                let mut b = serde_json::Map::new();
                b.insert("cidr".into(), Value::from(sub.cidr.clone()));
                b.insert(
                    "gateway".into(),
                    sub.gateway
                        .map(|g| Value::from(g.to_string()))
                        .unwrap_or(Value::Null),
                );
                b.insert("dns_servers".into(), texts(&sub.dns_servers));
                b.insert(
                    "ranges".into(),
                    if sub.ranges.is_empty() {
                        Value::Null
                    } else {
                        Value::from(
                            sub.ranges
                                .iter()
                                .map(|(a, z)| format!("{a}-{z}"))
                                .collect::<Vec<_>>(),
                        )
                    },
                );
                b.insert("reserved".into(), texts(&sub.reserved));
                // The default reads back as unset (an import of a network written without it).
                b.insert(
                    "mode".into(),
                    match sub.mode {
                        planner::subnet::AddressMode::Static => Value::Null,
                        m => Value::from(m.as_str()),
                    },
                );
                if let Some(p) = prior_blocks.get(i) {
                    // Written differently, meaning the same: the prior text stays.
                    let (same, _) = subnets_from_attrs(&serde_json::Map::from_iter([(
                        "subnet".to_string(),
                        Value::Array(vec![Value::Object((*p).clone())]),
                    )]));
                    if same.first() == Some(sub) {
                        for k in [
                            "cidr",
                            "gateway",
                            "dns_servers",
                            "ranges",
                            "reserved",
                            "mode",
                        ] {
                            b.insert(k.into(), p.get(k).cloned().unwrap_or(Value::Null));
                        }
                    }
                }
                Value::Object(b)
            })
            .collect(),
    )
}

async fn read(e: &Engine, name: &str, prior: Option<&Json>) -> Result<Option<Json>, Problem> {
    let n = match e.inv.network(name).await {
        Ok(n) => n,
        Err(InventoryError::NotFound { .. }) => return Ok(None),
        Err(other) => return Err(other.into()),
    };
    let subnets = subnet_blocks(&n, prior);
    Ok(Some(object(vec![
        ("id", Value::String(n.name.clone())),
        ("name", Value::String(n.name)),
        ("vlan_id", Value::from(n.vlan)),
        ("mtu", n.mtu.map(Value::from).unwrap_or(Value::Null)),
        ("role", Value::String(n.role)),
        ("subnet", subnets),
    ])))
}

#[async_trait]
impl Handler for NetworkResource {
    fn spec(&self) -> &'static ResourceSpec {
        &NETWORK
    }

    fn validate(&self, config: &Json) -> Vec<Problem> {
        if !config.contains_key("vlan_id") {
            return Vec::new();
        }
        network_from_attrs(config)
            .err()
            .map(|e| attr_problems("Invalid network", e))
            .unwrap_or_default()
    }

    async fn plan(
        &self,
        e: &Engine,
        _prior: Option<&Json>,
        _config: &Obj,
        planned: &mut Obj,
    ) -> Result<crate::resource::PlanOut, Vec<Problem>> {
        if planned.get("role") == Some(&ValueAny::Unknown) {
            planned.insert("role".into(), ValueAny::String("tenant".into()));
        }
        // Overlap with the inventory's other networks is known at plan time (within one
        // configuration, the network applied second is refused at apply, at the same place).
        if let Ok(n) = network_from_attrs(&crate::value::obj_to_json(planned)) {
            let problems = overlaps(e, &n).await.map_err(|p| vec![p])?;
            if !problems.is_empty() {
                return Err(problems);
            }
        }
        Ok(Default::default())
    }

    async fn read(&self, e: &Engine, state: &Json) -> Result<Option<Json>, Problem> {
        read(e, &name_of(state)?, Some(state)).await
    }

    async fn create(&self, e: &Engine, planned: &Json) -> Result<Json, Problem> {
        write(e, planned).await
    }

    async fn update(&self, e: &Engine, _prior: &Json, planned: &Json) -> Result<Json, Problem> {
        write(e, planned).await
    }

    async fn delete(&self, e: &Engine, prior: &Json) -> Result<(), Problem> {
        match e.inv.delete_network(&name_of(prior)?).await {
            Ok(()) | Err(InventoryError::NotFound { .. }) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }
}
