//! List resources (`terraform query`, Terraform 1.14 and later): the inventory's nodes and the
//! project's hosts, filtered, each with the state an import of it gives when Terraform asks for
//! it (`-generate-config-out` writes a resource block and an `import` block per object).

use std::sync::Arc;

use async_trait::async_trait;
use planner::inventory::{NodeFilter, NodeRecord};
use planner::lifecycle::{ProvisionState, ALL_STATES};
use planner::schema::{ResourceSpec, LIST_HOST, LIST_NODE};

use crate::engine::{Engine, EngineCell, Problem};
use crate::plugin::schema::Schema;
use crate::plugin::{self, AttributePath, Diagnostics, Listed};
use crate::resource::report;
use crate::value::{schema, Obj, ValueAny};

/// The filters of a `config {}` block, type-checked: a wrong type or an unknown state is an error
/// at its attribute, never read as "no filter".
struct Filters<'a> {
    spec: &'static ResourceSpec,
    config: &'a Obj,
}

impl Filters<'_> {
    fn text(&self, name: &str, diags: &mut Diagnostics) -> Option<String> {
        match self.config.get(name) {
            Some(ValueAny::String(s)) => Some(s.clone()),
            None | Some(ValueAny::Null) => None,
            Some(other) => {
                let detail = format!("{name} is a string, not {other:?}");
                diags.error("Invalid filter", detail, AttributePath::new(name));
                None
            }
        }
    }

    fn flag(&self, name: &str, diags: &mut Diagnostics) -> Option<bool> {
        match self.config.get(name) {
            Some(ValueAny::Bool(b)) => Some(*b),
            None | Some(ValueAny::Null) => None,
            Some(other) => {
                let detail = format!("{name} is true or false, not {other:?}");
                diags.error("Invalid filter", detail, AttributePath::new(name));
                None
            }
        }
    }

    fn state(&self, diags: &mut Diagnostics) -> Option<ProvisionState> {
        let s = self.text("state", diags)?;
        let found = ProvisionState::parse(&s);
        if found.is_none() && self.spec.name == LIST_NODE.name {
            let all = ALL_STATES.map(|s| s.as_str()).join(", ");
            let detail = format!("no provision state is called {s:?}; states: {all}");
            diags.error("Unknown state", detail, AttributePath::new("state"));
        }
        found
    }
}

fn object(config: plugin::Value, diags: &mut Diagnostics) -> Option<Obj> {
    match config {
        ValueAny::Map(m) => Some(m),
        ValueAny::Null => Some(Obj::new()),
        other => {
            diags.root_error(
                "Unexpected value",
                format!("expected an object, got {other:?}"),
            );
            None
        }
    }
}

fn engine(cell: &EngineCell, spec: &ResourceSpec, diags: &mut Diagnostics) -> Option<Arc<Engine>> {
    match cell.get() {
        Ok(e) => Some(e),
        Err(p) => {
            report(diags, spec, [p]);
            None
        }
    }
}

/// The state of each listed object, read as an import reads it (secrets never read back).
async fn with_states(
    resource: &Arc<dyn plugin::Resource>,
    found: Vec<(String, String)>,
    with_state: bool,
    diags: &mut Diagnostics,
) -> Vec<Listed> {
    let mut out = Vec::with_capacity(found.len());
    for (name, display_name) in found {
        let state = if with_state {
            let (state, d) = resource.import(name.clone()).await;
            diags.extend(d);
            state
        } else {
            None
        };
        out.push(Listed {
            name,
            display_name,
            state,
        });
    }
    out
}

/// Whether a node has been taken under management (verified), as the `managed` filter means it.
fn managed(n: &NodeRecord) -> bool {
    !matches!(
        n.state,
        ProvisionState::Enroll | ProvisionState::Verifying | ProvisionState::VerifyFailed
    )
}

/// A node listing's filters: the inventory's, then the rack and whether managed.
struct NodeFilters {
    inventory: NodeFilter,
    rack: Option<String>,
    managed: Option<bool>,
}

/// The `config {}` of a node listing, each problem at its attribute (what validation and the
/// listing both read).
fn node_filters(config: plugin::Value, diags: &mut Diagnostics) -> Option<NodeFilters> {
    let config = object(config, diags)?;
    let f = Filters {
        spec: &LIST_NODE,
        config: &config,
    };
    let inventory = NodeFilter {
        state: f.state(diags),
        flavor: f.text("flavor", diags),
        project: f.text("project", diags),
        name: None,
    };
    let (rack, managed) = (f.text("rack", diags), f.flag("managed", diags));
    diags.is_empty().then_some(NodeFilters {
        inventory,
        rack,
        managed,
    })
}

/// A host listing's filters: state, flavor and node.
fn host_filters(config: plugin::Value, diags: &mut Diagnostics) -> Option<[Option<String>; 3]> {
    let config = object(config, diags)?;
    let f = Filters {
        spec: &LIST_HOST,
        config: &config,
    };
    let found = ["state", "flavor", "node"].map(|k| f.text(k, diags));
    diags.is_empty().then_some(found)
}

pub struct NodeList {
    pub engine: EngineCell,
    pub resource: Arc<dyn plugin::Resource>,
}

#[async_trait]
impl plugin::ListResource for NodeList {
    fn schema(&self) -> Schema {
        schema(&LIST_NODE, 0)
    }

    async fn validate(&self, config: plugin::Value) -> Diagnostics {
        let mut diags = Diagnostics::default();
        node_filters(config, &mut diags);
        diags
    }

    async fn list(
        &self,
        config: plugin::Value,
        with_state: bool,
        limit: usize,
    ) -> (Vec<Listed>, Diagnostics) {
        let mut diags = Diagnostics::default();
        let Some(NodeFilters {
            inventory,
            rack,
            managed: want_managed,
        }) = node_filters(config, &mut diags)
        else {
            return (Vec::new(), diags);
        };
        let Some(e) = engine(&self.engine, &LIST_NODE, &mut diags) else {
            return (Vec::new(), diags);
        };
        let nodes = match e.inv.nodes(&inventory).await {
            Ok(n) => n,
            Err(err) => {
                report(&mut diags, &LIST_NODE, [Problem::from(err)]);
                return (Vec::new(), diags);
            }
        };
        let found: Vec<(String, String)> = nodes
            .iter()
            .filter(|n| rack.as_ref().is_none_or(|r| n.rack.as_ref() == Some(r)))
            .filter(|n| want_managed.is_none_or(|m| managed(n) == m))
            .take(limit)
            .map(|n| {
                let model = [n.manufacturer.as_deref(), n.model.as_deref()]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(" ");
                let display = format!("{} ({}, {model}, {})", n.name, n.state, n.bmc_url);
                (n.name.clone(), display)
            })
            .collect();
        let listed = with_states(&self.resource, found, with_state, &mut diags).await;
        (listed, diags)
    }
}

pub struct HostList {
    pub engine: EngineCell,
    pub resource: Arc<dyn plugin::Resource>,
}

#[async_trait]
impl plugin::ListResource for HostList {
    fn schema(&self) -> Schema {
        schema(&LIST_HOST, 0)
    }

    async fn validate(&self, config: plugin::Value) -> Diagnostics {
        let mut diags = Diagnostics::default();
        host_filters(config, &mut diags);
        diags
    }

    async fn list(
        &self,
        config: plugin::Value,
        with_state: bool,
        limit: usize,
    ) -> (Vec<Listed>, Diagnostics) {
        let mut diags = Diagnostics::default();
        let Some([state, flavor, node]) = host_filters(config, &mut diags) else {
            return (Vec::new(), diags);
        };
        let Some(e) = engine(&self.engine, &LIST_HOST, &mut diags) else {
            return (Vec::new(), diags);
        };
        // A host resource lives in the provider's project, as an import of it does.
        let Some(project) = e.project.clone() else {
            let detail =
                "hosts belong to a project: set the provider's project or BAREMETAL_PROJECT";
            diags.root_error("No project", detail);
            return (Vec::new(), diags);
        };
        let hosts = match e.inv.hosts(Some(&project)).await {
            Ok(h) => h,
            Err(err) => {
                report(&mut diags, &LIST_HOST, [Problem::from(err)]);
                return (Vec::new(), diags);
            }
        };
        let found: Vec<(String, String)> = hosts
            .iter()
            .filter(|h| h.project == project)
            .filter(|h| state.as_ref().is_none_or(|s| &h.state == s))
            .filter(|h| flavor.as_ref().is_none_or(|f| h.flavor.as_ref() == Some(f)))
            .filter(|h| node.as_ref().is_none_or(|n| h.node.as_ref() == Some(n)))
            .take(limit)
            .map(|h| {
                let on = h.node.as_deref().unwrap_or("no node");
                let display = format!("{}/{} ({}, on {on})", h.project, h.name, h.state);
                (h.name.clone(), display)
            })
            .collect();
        let listed = with_states(&self.resource, found, with_state, &mut diags).await;
        (listed, diags)
    }
}
