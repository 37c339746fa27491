//! `baremetal_host`: a node allocated to the provider's project, picked by flavor (best fit) or
//! pinned, optionally taking on a profile. Deploying an operating system onto it (image, config
//! drive, user data, SSH keys, networks, power) is the host-lifecycle work and is refused clearly
//! until it lands, never accepted and ignored.

use async_trait::async_trait;
use planner::inventory::{HostRecord, InventoryError, NewHost};
use planner::schema::{ResourceSpec, HOST};
use serde_json::Value;
use tf_provider::value::ValueAny;

use super::{name_of, object};
use crate::engine::{Engine, Problem};
use crate::resource::{s, Handler, Json, PlanOut};
use crate::value::Obj;

pub struct HostResource;

/// Attributes of the deployment that this provider version does not perform yet.
const DEPLOYMENT: [&str; 6] = [
    "image_url",
    "image_checksum",
    "networks",
    "user_data",
    "ssh_keys",
    "power",
];

fn project(e: &Engine) -> Result<String, Problem> {
    e.project.clone().ok_or_else(|| {
        Problem::root(
            "No project",
            "hosts belong to a project: set the provider's project or BAREMETAL_PROJECT",
        )
    })
}

fn state_of(h: &HostRecord, profile: Option<String>) -> Json {
    let opt = |v: Option<String>| v.map(Value::String).unwrap_or(Value::Null);
    object(vec![
        ("id", Value::String(h.name.clone())),
        ("name", Value::String(h.name.clone())),
        ("flavor", opt(h.flavor.clone())),
        ("node", opt(h.node.clone())),
        ("project", Value::String(h.project.clone())),
        ("state", Value::String(h.state.clone())),
        ("profile", opt(profile)),
    ])
}

/// Gives the host's node the profile, and converges it (one reset if the profile needs one).
async fn apply_profile(e: &Engine, node: &str, planned: &Json, op: &str) -> Result<(), Problem> {
    let profile = s(planned, "profile");
    let mut config = e.inv.node_config(node).await?;
    if config.profile == profile {
        return Ok(());
    }
    if let Some(p) = &profile {
        if let Err(InventoryError::NotFound { .. }) = e.inv.profile_layer(p).await {
            return Err(Problem::at(
                "profile",
                "Unknown profile",
                format!("no profile named {p:?}"),
            ));
        }
    }
    config.profile = profile;
    e.inv.set_node_config(node, &config).await?;
    e.converge(&[node.to_string()], e.timeout(planned, op)?, &|_| {
        "profile".to_string()
    })
    .await?;
    Ok(())
}

#[async_trait]
impl Handler for HostResource {
    fn spec(&self) -> &'static ResourceSpec {
        &HOST
    }

    fn validate(&self, config: &Json) -> Vec<Problem> {
        let out: Vec<Problem> = DEPLOYMENT
            .iter()
            .filter(|k| config.get(**k).is_some_and(|v| v.as_array().is_none_or(|a| !a.is_empty())))
            .map(|k| {
                Problem::at(
                    *k,
                    "Not supported yet",
                    format!(
                        "{k}: deploying an operating system (image, config drive, user data, SSH keys, networks, \
                         power) is not supported by this provider version; a host allocates a node and gives it a profile"
                    ),
                )
            })
            .collect();
        out
    }

    async fn plan(
        &self,
        e: &Engine,
        prior: Option<&Json>,
        config: &Obj,
        planned: &mut Obj,
    ) -> Result<PlanOut, Vec<Problem>> {
        if prior.is_none() {
            let null = |k: &str| matches!(config.get(k), None | Some(ValueAny::Null));
            if null("flavor") && null("node") {
                return Err(vec![Problem::root(
                    "Flavor or node",
                    "a host is scheduled by flavor or pinned to a node: set one of them",
                )]);
            }
            if let Ok(p) = project(e) {
                planned.insert("project".into(), ValueAny::String(p));
            }
            // Flavor satisfiability at plan time.
            if let Some(ValueAny::String(f)) = planned.get("flavor") {
                let caps = e.inv.flavors().await.map_err(|x| vec![x.into()])?;
                match caps.iter().find(|c| &c.flavor.name == f) {
                    Some(c) if c.free == 0 => {
                        return Err(vec![Problem::at(
                            "flavor",
                            "No capacity",
                            format!(
                                "flavor {f}: {} node(s) match it and none is available",
                                c.matching
                            ),
                        )])
                    }
                    _ => {}
                }
            }
        }
        Ok(PlanOut {
            replace: vec!["flavor", "node"],
            ..Default::default()
        })
    }

    async fn read(&self, e: &Engine, state: &Json) -> Result<Option<Json>, Problem> {
        let project = s(state, "project").map(Ok).unwrap_or_else(|| project(e))?;
        let name = name_of(state)?;
        let h = match e.inv.host(&project, &name).await {
            Ok(h) => h,
            Err(InventoryError::NotFound { .. }) => return Ok(None),
            Err(other) => return Err(other.into()),
        };
        let profile = match (
            &h.node,
            state.contains_key("flavor") || state.contains_key("node"),
        ) {
            // Imported: the profile is the node's.
            (Some(n), false) => e.inv.node_config(n).await?.profile,
            _ => s(state, "profile"),
        };
        Ok(Some(state_of(&h, profile)))
    }

    async fn create(&self, e: &Engine, planned: &Json) -> Result<Json, Problem> {
        let h = e
            .inv
            .create_host(&NewHost {
                name: name_of(planned)?,
                project: Some(project(e)?),
                flavor: s(planned, "flavor"),
                node: s(planned, "node"),
            })
            .await
            .map_err(|err| match err {
                InventoryError::NoCapacity { .. } => {
                    Problem::at("flavor", "No capacity", err.to_string())
                }
                other => other.into(),
            })?;
        if let Some(node) = &h.node {
            if let Err(p) = apply_profile(e, node, planned, "create").await {
                // Nothing half-made: the allocation is released.
                let _ = e.inv.delete_host(&h.project, &h.name).await;
                return Err(p);
            }
        }
        Ok(state_of(&h, s(planned, "profile")))
    }

    async fn update(&self, e: &Engine, _prior: &Json, planned: &Json) -> Result<Json, Problem> {
        let project = project(e)?;
        let h = e.inv.host(&project, &name_of(planned)?).await?;
        if let Some(node) = &h.node {
            apply_profile(e, node, planned, "update").await?;
        }
        Ok(state_of(&h, s(planned, "profile")))
    }

    async fn delete(&self, e: &Engine, prior: &Json) -> Result<(), Problem> {
        let project = s(prior, "project").map(Ok).unwrap_or_else(|| project(e))?;
        match e.inv.delete_host(&project, &name_of(prior)?).await {
            Ok(()) | Err(InventoryError::NotFound { .. }) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }
}
