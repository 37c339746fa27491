//! `baremetal_profile`: BIOS, boot, RAID and firmware settings that nodes take on. Writing a profile
//! converges every node that uses it (one reset per node that needs one). A read shows, in the
//! profile's own attributes, any value a node has drifted to, so `terraform plan` offers to put it
//! back; planning a change checks it against each node's BIOS registry and says how many nodes reset.

use std::collections::BTreeMap;

use async_trait::async_trait;
use planner::diff::Item;
use planner::engine::Catalog;
use planner::inventory::InventoryError;
use planner::model::ProfileLayer;
use planner::schema::{ResourceSpec, PROFILE};
use serde_json::{json, Value};

use super::{name_of, object};
use crate::engine::attr_problems;
use crate::engine::{converge_problem, Engine, Problem};
use crate::resource::{Handler, Json, PlanOut};
use crate::value::{self, Obj};

pub struct ProfileResource;

fn layer_of(j: &Json) -> Result<ProfileLayer, Vec<Problem>> {
    let (layer, errs) = ProfileLayer::from_attrs(j);
    if errs.is_empty() {
        Ok(layer)
    } else {
        Err(attr_problems("Invalid profile", errs))
    }
}

fn text(v: &Value) -> Value {
    match v {
        Value::String(_) => v.clone(),
        Value::Null => Value::Null,
        other => Value::String(other.to_string()),
    }
}

/// The profile's state: its own layer, with what its nodes drifted to in place of the layer's values.
fn layer_json(name: &str, layer: &ProfileLayer, nodes: &[String], drift: &[Item]) -> Json {
    let mut bios: serde_json::Map<String, Value> = layer
        .bios
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let mut mode = layer.boot_mode.clone().map(Value::String);
    let mut secure = layer.secure_boot.map(Value::Bool);
    let mut firmware: Vec<Value> = layer
        .firmware
        .iter()
        .map(|f| json!({"component": f.component, "version": f.version, "image_url": f.image_url}))
        .collect();
    let mut raid_drifted = false;
    for item in drift {
        let (top, key) = item
            .path
            .split_once('.')
            .unwrap_or((item.path.as_str(), ""));
        let live = item.live.as_ref().map(text).unwrap_or(Value::Null);
        match top {
            "bios" if bios.contains_key(key) => {
                bios.insert(key.to_string(), live);
            }
            "boot" if key == "mode" && mode.is_some() => mode = Some(live),
            "boot" if key == "secure_boot" && secure.is_some() => {
                secure = item.live.clone();
            }
            "firmware" => {
                for f in firmware.iter_mut().filter(|f| f["component"] == key) {
                    f["version"] = live.clone();
                }
            }
            "raid" if layer.raid.is_some() => raid_drifted = true,
            _ => {}
        }
    }
    let boot = if mode.is_some() || secure.is_some() {
        json!([{"mode": mode, "secure_boot": secure}])
    } else {
        json!([])
    };
    let raid = match &layer.raid {
        Some(vols) if !raid_drifted => json!([{"volume": vols.iter().map(|v| json!({
            "name": v.name, "level": v.level, "drives": v.drives, "controller": v.controller,
        })).collect::<Vec<_>>()}]),
        _ => json!([]),
    };
    let connection = if layer.connection_networks.is_empty() && layer.bond_mode.is_none() {
        json!([])
    } else {
        json!([{
            "networks": if layer.connection_networks.is_empty() { Value::Null } else { json!(layer.connection_networks) },
            "bond_mode": layer.bond_mode,
        }])
    };
    object(vec![
        ("id", Value::String(name.to_string())),
        ("name", Value::String(name.to_string())),
        ("network_connection", connection),
        (
            "template",
            layer
                .template
                .clone()
                .map(Value::String)
                .unwrap_or(Value::Null),
        ),
        ("bios", Value::Object(bios)),
        ("nodes", json!(nodes)),
        (
            "serials",
            if layer.serials.is_empty() {
                Value::Null
            } else {
                json!(layer.serials)
            },
        ),
        (
            "slots",
            if layer.slots.is_empty() {
                Value::Null
            } else {
                json!(layer.slots)
            },
        ),
        ("boot", boot),
        ("firmware", Value::Array(firmware)),
        ("raid", raid),
    ])
}

async fn read(e: &Engine, name: &str, live: bool) -> Result<Option<Json>, Problem> {
    let layer = match e.inv.profile_layer(name).await {
        Ok(l) => l,
        Err(InventoryError::NotFound { .. }) => return Ok(None),
        Err(other) => return Err(other.into()),
    };
    let mut drift = Vec::new();
    let nodes = if live {
        let snap = e.snapshot().await?;
        let nodes = snap.catalog.nodes_using(name);
        if let Some(p) = &snap.prepared {
            for n in &nodes {
                if let Some(d) = p.diff.nodes.get(n) {
                    drift.extend(d.items.iter().cloned());
                }
            }
        }
        nodes
    } else {
        Catalog::read(&e.inv).await?.nodes_using(name)
    };
    Ok(Some(layer_json(name, &layer, &nodes, &drift)))
}

async fn write(e: &Engine, planned: &Json, op: &str) -> Result<Json, Problem> {
    let name = name_of(planned)?;
    let layer = layer_of(planned).map_err(|mut p| p.remove(0))?;
    if let Some(t) = &layer.template {
        if let Err(InventoryError::NotFound { .. }) = e.inv.profile_layer(t).await {
            return Err(Problem::at(
                "template",
                "Unknown template",
                format!("no profile named {t:?}"),
            ));
        }
    }
    e.inv.put_profile(&name, &layer).await?;
    let nodes = Catalog::read(&e.inv).await?.nodes_using(&name);
    e.converge(&nodes, e.timeout(planned, op)?, &|p: &str| p.to_string())
        .await?;
    read(e, &name, false).await?.ok_or_else(|| {
        Problem::root(
            "Profile vanished",
            format!("profile {name} was not written"),
        )
    })
}

#[async_trait]
impl Handler for ProfileResource {
    fn spec(&self) -> &'static ResourceSpec {
        &PROFILE
    }

    fn validate(&self, config: &Json) -> Vec<Problem> {
        layer_of(config).err().unwrap_or_default()
    }

    /// A change to the settings is checked against the BIOS registry of every node that takes the
    /// profile on, and the plan says how many of them reset.
    async fn plan(
        &self,
        e: &Engine,
        prior: Option<&Json>,
        _config: &Obj,
        planned: &mut Obj,
    ) -> Result<PlanOut, Vec<Problem>> {
        let Some(prior) = prior else {
            return Ok(PlanOut::default());
        };
        if planned.values().any(value::has_unknown) {
            return Ok(PlanOut::default());
        }
        let planned_json = value::obj_to_json(planned);
        let (Ok(before), Ok(after)) = (layer_of(prior), layer_of(&planned_json)) else {
            return Ok(PlanOut::default());
        };
        if before == after {
            return Ok(PlanOut::default());
        }
        let name = name_of(&planned_json).map_err(|p| vec![p])?;
        let mut catalog = Catalog::read(&e.inv).await.map_err(|e| vec![e.into()])?;
        let nodes = catalog.nodes_using(&name);
        if nodes.is_empty() {
            return Ok(PlanOut::default());
        }
        catalog.profiles.insert(name.clone(), after);
        let (loaded, desired) = e
            .session()
            .desired(e.source(&catalog, &nodes))
            .await
            .map_err(|err| vec![converge_problem(err, &|p: &str| p.to_string())])?;
        let prepared = e
            .session()
            .prepare(loaded, desired)
            .await
            .map_err(|err| vec![converge_problem(err, &|p: &str| p.to_string())])?;
        let resets = prepared.plan.resets_by_node();
        let mut warnings = Vec::new();
        if !resets.is_empty() {
            let mut changes: BTreeMap<&str, usize> = BTreeMap::new();
            for d in prepared.diff.nodes.values() {
                changes.insert(&d.node, d.items.len());
            }
            let list: Vec<String> = resets
                .iter()
                .map(|(n, r)| {
                    format!(
                        "{n}: {r} reboot, {} change(s)",
                        changes.get(n.as_str()).copied().unwrap_or(0)
                    )
                })
                .collect();
            warnings.push(
                Problem::root(
                    format!(
                        "Applying profile {name} reboots {} node(s), once each",
                        resets.len()
                    ),
                    list.join("\n"),
                )
                .warning(),
            );
        }
        for u in prepared.diff.unreachable.keys() {
            warnings.push(
                Problem::root(
                    "Device unreachable",
                    format!("{u} could not be read; the apply will fail for it"),
                )
                .warning(),
            );
        }
        Ok(PlanOut {
            warnings,
            ..Default::default()
        })
    }

    async fn read(&self, e: &Engine, state: &Json) -> Result<Option<Json>, Problem> {
        read(e, &name_of(state)?, true).await
    }

    // From the inventory alone: a plan does not reach devices to know a name is taken.
    async fn exists(&self, e: &Engine, name: &str) -> Result<bool, Problem> {
        Ok(read(e, name, false).await?.is_some())
    }

    async fn create(&self, e: &Engine, planned: &Json) -> Result<Json, Problem> {
        write(e, planned, "create").await
    }

    async fn update(&self, e: &Engine, _prior: &Json, planned: &Json) -> Result<Json, Problem> {
        write(e, planned, "update").await
    }

    async fn delete(&self, e: &Engine, prior: &Json) -> Result<(), Problem> {
        match e.inv.delete_profile(&name_of(prior)?).await {
            Ok(()) | Err(InventoryError::NotFound { .. }) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }
}
