//! Data sources: `baremetal_nodes` (names, filtered), `baremetal_node` (one node by name, serial or
//! MAC), `baremetal_image` (a golden image by name, with the hosts that deploy it) and `baremetal_drift` (the `bmplan drift` report of a configuration directory).

use crate::plugin::{self, Diagnostics, Schema};
use crate::value::ValueAny;
use async_trait::async_trait;
use planner::inventory::NodeFilter;
use planner::load::LoadOptions;
use planner::schema::{ResourceSpec, DATA_DRIFT, DATA_IMAGE, DATA_NODE, DATA_NODES};
use serde_json::{json, Value};

use crate::engine::{Engine, EngineCell, Problem};
use crate::resource::{report, s, Json};
use crate::resources::object;
use crate::value;

#[async_trait]
pub trait Lookup: Send + Sync + 'static {
    fn spec(&self) -> &'static ResourceSpec;
    async fn read(&self, e: &Engine, config: &Json) -> Result<Json, Problem>;
}

pub struct SpecDataSource<L: Lookup> {
    pub lookup: L,
    pub engine: EngineCell,
}

#[async_trait]
impl<L: Lookup> plugin::DataSource for SpecDataSource<L> {
    fn schema(&self) -> Schema {
        value::schema(self.lookup.spec(), 1)
    }

    async fn validate(&self, _config: ValueAny) -> Diagnostics {
        Diagnostics::default()
    }

    async fn read(&self, config: ValueAny) -> (Option<ValueAny>, Diagnostics) {
        let mut diags = Diagnostics::default();
        let spec = self.lookup.spec();
        let config = match config {
            ValueAny::Map(m) => m,
            _ => Default::default(),
        };
        let engine = match self.engine.get() {
            Ok(e) => e,
            Err(p) => {
                report(&mut diags, spec, [p]);
                return (None, diags);
            }
        };
        let cj = value::obj_to_json(&config);
        match self.lookup.read(&engine, &cj).await {
            Ok(mut out) => {
                // Inputs stand as given.
                for (k, v) in &cj {
                    out.entry(k.clone()).or_insert_with(|| v.clone());
                }
                let o = value::from_json(&out, spec.attrs, spec.blocks);
                (Some(ValueAny::Map(o)), diags)
            }
            Err(p) => {
                report(&mut diags, spec, [p]);
                (None, diags)
            }
        }
    }
}

pub struct Nodes;

#[async_trait]
impl Lookup for Nodes {
    fn spec(&self) -> &'static ResourceSpec {
        &DATA_NODES
    }

    async fn read(&self, e: &Engine, config: &Json) -> Result<Json, Problem> {
        let filter = NodeFilter {
            state: match s(config, "state") {
                Some(st) => Some(planner::lifecycle::ProvisionState::parse(&st).ok_or_else(
                    || {
                        Problem::at(
                            "state",
                            "Unknown state",
                            format!("{st:?} is not a provision state"),
                        )
                    },
                )?),
                None => None,
            },
            flavor: s(config, "flavor"),
            project: s(config, "project"),
            name: None,
        };
        let want_trait = s(config, "trait");
        let names: Vec<String> = e
            .inv
            .nodes(&filter)
            .await?
            .into_iter()
            .filter(|n| want_trait.as_ref().is_none_or(|t| n.traits.contains(t)))
            .map(|n| n.name)
            .collect();
        Ok(object(vec![
            ("id", Value::String("nodes".into())),
            ("names", json!(names)),
        ]))
    }
}

pub struct Node;

#[async_trait]
impl Lookup for Node {
    fn spec(&self) -> &'static ResourceSpec {
        &DATA_NODE
    }

    async fn read(&self, e: &Engine, config: &Json) -> Result<Json, Problem> {
        let (name, serial, mac) = (s(config, "name"), s(config, "serial"), s(config, "mac"));
        if name.is_none() && serial.is_none() && mac.is_none() {
            return Err(Problem::root(
                "Nothing to look up",
                "set name, serial or mac",
            ));
        }
        let all = e.inv.nodes(&NodeFilter::default()).await?;
        let mut found = None;
        for n in all {
            if name.as_ref().is_some_and(|x| x != &n.name)
                || serial
                    .as_ref()
                    .is_some_and(|x| Some(x) != n.serial.as_ref())
            {
                continue;
            }
            let facts = e.inv.node_facts(&n.name).await?;
            let macs: Vec<String> = facts.map(|f| f.macs()).unwrap_or_default();
            if let Some(m) = &mac {
                if !macs.iter().any(|x| x.eq_ignore_ascii_case(m)) {
                    continue;
                }
            }
            found = Some((n, macs));
            break;
        }
        let (n, macs) = found.ok_or_else(|| {
            let at = if mac.is_some() {
                "mac"
            } else if serial.is_some() {
                "serial"
            } else {
                "name"
            };
            Problem::at(at, "No such node", "no node of the inventory matches")
        })?;
        let profile = e.inv.node_config(&n.name).await?.profile;
        let opt = |v: Option<String>| v.map(Value::String).unwrap_or(Value::Null);
        Ok(object(vec![
            ("id", Value::String(n.name.clone())),
            ("name", Value::String(n.name.clone())),
            ("serial", opt(n.serial.clone())),
            ("bmc_url", Value::String(n.bmc_url.clone())),
            ("system_id", Value::String(n.system_id.clone())),
            (
                "provision_state",
                Value::String(n.state.as_str().to_string()),
            ),
            ("maintenance", Value::Bool(n.maintenance)),
            ("power", opt(n.power.clone())),
            ("health", opt(n.health.clone())),
            ("manufacturer", opt(n.manufacturer.clone())),
            ("model", opt(n.model.clone())),
            ("arch", opt(n.arch.clone())),
            ("cpus", Value::from(n.cpus)),
            ("memory_gib", Value::from(n.memory_gib)),
            ("disk_gib", Value::from(n.disk_gib)),
            ("macs", json!(macs)),
            ("traits", json!(n.traits)),
            ("gpus", Value::from(n.specs().gpus(None))),
            ("rack", opt(n.rack.clone())),
            ("host", opt(n.host.clone())),
            ("profile", opt(profile)),
        ]))
    }
}

pub struct Drift;

#[async_trait]
impl Lookup for Drift {
    fn spec(&self) -> &'static ResourceSpec {
        &DATA_DRIFT
    }

    async fn read(&self, e: &Engine, config: &Json) -> Result<Json, Problem> {
        let dir = s(config, "config_dir").ok_or_else(|| {
            Problem::at("config_dir", "Missing config_dir", "config_dir is required")
        })?;
        let vars: Vec<(String, String)> = config
            .get("vars")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        (
                            k.clone(),
                            v.as_str()
                                .map(str::to_string)
                                .unwrap_or_else(|| v.to_string()),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let opts = LoadOptions {
            vars,
            ..LoadOptions::default()
        };
        let cannot = |err: &dyn std::fmt::Display| {
            Problem::at("config_dir", "Cannot check drift", err.to_string())
        };
        let (loaded, desired) = planner::engine::load_config(std::path::Path::new(&dir), &opts)
            .map_err(|err| cannot(&err))?;
        let p = e
            .session()
            .prepare(loaded, desired)
            .await
            .map_err(|err| cannot(&err))?;
        let r = planner::drift::report(&p.desired, &p.diff);
        let sm = r.summary;
        let drifted_nodes: Vec<&str> = r
            .nodes
            .iter()
            .filter(|n| n.status == planner::drift::Status::Drifted)
            .map(|n| n.node.as_str())
            .collect();
        let drifted_ports: Vec<String> = r
            .ports
            .iter()
            .filter(|p| p.status == planner::drift::Status::Drifted)
            .map(|p| format!("{} {}", p.switch, p.port))
            .collect();
        let unreachable: Vec<&String> = p.diff.unreachable.keys().collect();
        Ok(object(vec![
            ("id", Value::String(dir.clone())),
            (
                "drifted",
                Value::Bool(r.drifted() || !unreachable.is_empty()),
            ),
            (
                "summary",
                Value::String(format!(
                    "{} of {} nodes in sync, {} drifted, {} unreachable; {} of {} ports in sync, {} drifted",
                    sm.nodes_in_sync, sm.nodes, sm.nodes_drifted, sm.nodes_unreachable,
                    sm.ports_in_sync, sm.ports, sm.ports_drifted
                )),
            ),
            ("in_sync", Value::from(sm.nodes_in_sync + sm.ports_in_sync)),
            ("drifted_nodes", json!(drifted_nodes)),
            ("drifted_ports", json!(drifted_ports)),
            ("unreachable", json!(unreachable)),
            (
                "report_json",
                Value::String(serde_json::to_string_pretty(&r).unwrap_or_default()),
            ),
            (
                "report_markdown",
                Value::String(planner::report::drift_markdown(&r)),
            ),
        ]))
    }
}

pub struct Image;

#[async_trait]
impl Lookup for Image {
    fn spec(&self) -> &'static ResourceSpec {
        &DATA_IMAGE
    }

    async fn read(&self, e: &Engine, config: &Json) -> Result<Json, Problem> {
        let name = s(config, "name")
            .ok_or_else(|| Problem::at("name", "Nothing to look up", "set name"))?;
        let mut out = crate::resources::image::read(e, &name, None)
            .await?
            .ok_or_else(|| {
                Problem::at(
                    "name",
                    "Not found",
                    format!("no image named {name:?} in the inventory"),
                )
            })?;
        out.insert("hosts".into(), json!(e.inv.image_users(&name).await?));
        Ok(out)
    }
}
