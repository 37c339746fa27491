//! One planning pass, as `bmplan validate/plan/apply/drift` and the provider use it: load the
//! configuration → build the desired state → observe → diff → plan. Also the saved-plan file and the
//! desired-state fingerprint that ties a resumed apply to its run.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::diff::{self, Applied, Diff};
use crate::load::{self, LoadError, LoadErrors, LoadOptions, Loaded};
use crate::model::Desired;
use crate::observe::{self, ObserveOptions};
use crate::plan::{self, Plan};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Config(#[from] LoadErrors),
    #[error(transparent)]
    Inventory(#[from] crate::inventory::InventoryError),
    #[error("{0}")]
    Plan(String),
}

/// Loads `dir` and builds the desired state.
pub fn load(dir: &Path, opts: &LoadOptions) -> Result<(Loaded, Desired), LoadErrors> {
    let loaded = load::load_dir(dir, opts)?;
    let desired = Desired::from_loaded(&loaded)?;
    Ok((loaded, desired))
}

pub use planner_core::plan::Prepared;

/// The desired state's fingerprint (secrets left out): a resumed apply continues the run of the
/// same desired state.
pub fn desired_fingerprint(d: &Desired) -> String {
    let nodes: Vec<_> = d
        .nodes
        .values()
        .map(|n| {
            (
                &n.name,
                &n.bmc_url,
                &n.system_id,
                &n.profile,
                &n.ports,
                n.maintenance,
            )
        })
        .collect();
    let switches: Vec<_> = d
        .switches
        .values()
        .map(|s| (&s.name, &s.driver, &s.address))
        .collect();
    let text =
        serde_json::to_string(&(nodes, switches, &d.networks, d.max_parallel)).unwrap_or_default();
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
}

/// Diff errors (values a device cannot take), located at the profile attribute that asks for them.
fn locate(loaded: &Loaded, desired: &Desired, diff: &Diff) -> Vec<LoadError> {
    diff.errors
        .iter()
        .map(|e| {
            let node = desired.nodes.get(&e.node);
            let profile = node.and_then(|n| n.profile.as_ref());
            let chain: Vec<String> = profile
                .map(|p| {
                    std::iter::once(p.name.clone())
                        .chain(p.inherits.iter().cloned())
                        .collect()
                })
                .unwrap_or_default();
            let (top, key) = e.path.split_once('.').unwrap_or((e.path.as_str(), ""));
            let inst = chain.iter().find_map(|pname| {
                loaded.instances.iter().find(|i| {
                    i.kind == "baremetal_profile"
                        && i.str("name") == Some(pname.as_str())
                        && match top {
                            "bios" => i.attrs.get("bios").and_then(|b| b.get(key)).is_some(),
                            other => i.attrs.contains_key(other),
                        }
                })
            });
            match inst {
                Some(i) => LoadError {
                    location: Some(i.location_of(if top == "raid" { "raid.0" } else { top })),
                    message: format!("{} (node {}): {}", i.address, e.node, e.message),
                },
                None => LoadError {
                    location: node.and_then(|n| {
                        loaded
                            .instances
                            .iter()
                            .find(|i| i.address == n.address)
                            .map(|i| i.location.clone())
                    }),
                    message: e.to_string(),
                },
            }
        })
        .collect()
}

/// Loads, observes, diffs and plans. Values a device cannot take (an unknown BIOS attribute for its
/// registry…) are errors at their place in the configuration; unreachable devices are not errors:
/// they are reported in the diff and the rest is planned.
pub async fn prepare(
    dir: &Path,
    load_opts: &LoadOptions,
    applied: &Applied,
    observe_opts: ObserveOptions,
) -> Result<Prepared, RunError> {
    let (loaded, desired) = load(dir, load_opts)?;
    prepare_loaded(loaded, desired, applied, observe_opts).await
}

/// [`prepare`] for a configuration already loaded (and perhaps adjusted, e.g. `--max-parallel`).
pub async fn prepare_loaded(
    loaded: Loaded,
    desired: Desired,
    applied: &Applied,
    observe_opts: ObserveOptions,
) -> Result<Prepared, RunError> {
    let started = Instant::now();
    let observed = observe::observe(&desired, observe_opts).await;
    let observe_seconds = started.elapsed().as_secs_f64();
    let diff = diff::diff(&desired, &observed, applied);
    let located = locate(&loaded, &desired, &diff);
    if !located.is_empty() {
        return Err(RunError::Config(LoadErrors(located)));
    }
    let plan = plan::plan(&desired, &diff);
    Ok(Prepared {
        loaded,
        desired,
        observed,
        diff,
        plan,
        observe_seconds,
    })
}

/// A plan saved with `-out`: applied exactly as saved, and refused when live state has changed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedPlan {
    pub format: u32,
    pub dir: PathBuf,
    pub var_files: Vec<PathBuf>,
    /// `-var` values of variables that are not sensitive (sensitive ones must be given again).
    pub vars: Vec<(String, String)>,
    pub desired: String,
    pub plan: Plan,
    /// The host changes shown with the plan, one line each (`blue/web-1: rebuild in place …`):
    /// applying the saved plan refuses when the hosts now need something else.
    #[serde(default)]
    pub hosts: Vec<String>,
}

impl SavedPlan {
    pub const FORMAT: u32 = 1;

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(
            path,
            serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?,
        )
    }

    pub fn read(path: &Path) -> Result<SavedPlan, String> {
        let text = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let p: SavedPlan = serde_json::from_slice(&text)
            .map_err(|e| format!("{}: not a bmplan plan file: {e}", path.display()))?;
        if p.format != Self::FORMAT {
            return Err(format!(
                "{}: plan format {} is not {}",
                path.display(),
                p.format,
                Self::FORMAT
            ));
        }
        Ok(p)
    }
}
