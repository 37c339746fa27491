//! The one engine under both front ends. A [`Session`] holds the inventory and how to observe;
//! it builds a desired state from a [`Source`] (a configuration for `bmplan`, the inventory's
//! catalog for the Terraform provider), prepares a plan from it (observe → diff → plan, all the
//! deciding done by the pure core), and carries a plan out as one journaled run ([`Session::execute`]).
//! Host work (deployments, rebuilds, moves, failovers) is planned and done in the same session,
//! after the node waves, by the host lifecycle (its `work` module).
//!
//! ```text
//! Source ──desired──▶ (Loaded, Desired) ──prepare──▶ Prepared { observed, diff, plan }
//!                                                        │
//!                        host_pass ◀─────────────────────┤ (bmplan: host work, failovers)
//!                                                        ▼
//!                                    execute: start_run → apply waves → finish_run
//! ```
//!
//! `bmplan` and the provider call this module and the inventory; neither observes, diffs, plans or
//! applies on its own.

pub mod desired;
pub mod saved;

use std::path::Path;
use std::time::Instant;

pub use desired::{desired_for, layer_over, Catalog};
pub use saved::{SavedPlan, SavedPlanError};

use crate::apply::{self, ApplyError, ApplyOptions, ApplyReport};
use crate::diff::{self, Applied, DiffError};
use crate::inventory::{Inventory, InventoryError};
use crate::load::{self, LoadError, LoadErrors, LoadOptions, Loaded};
use crate::model::Desired;
use crate::observe::{self, ObserveOptions, Observed};
use crate::plan::{self, Plan};

pub use crate::plan::Prepared;

/// Why the engine could not plan or apply. Each variant carries its cause.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// The configuration is invalid, or asks for values a device cannot take (located in it).
    #[error(transparent)]
    Config(#[from] LoadErrors),
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// A reference the inventory cannot resolve (a profile, network or switch that does not exist).
    #[error("{0}")]
    Reference(String),
    /// Values the devices cannot take, by node and attribute path (a desired state that came from
    /// the inventory has no file to locate them in).
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Device(Vec<DiffError>),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// A device that could not be read, or steps that failed or were skipped.
    #[error("{0}")]
    Incomplete(String),
    /// A saved plan that no longer matches the configuration, the live state or the hosts.
    #[error("{0}")]
    Stale(String),
}

/// Where a desired state comes from.
pub enum Source<'a> {
    /// A configuration directory (`bmplan`), with the hosts' layer (profile, networks) over the
    /// nodes they run on; `max_parallel` overrides the configuration's.
    Config {
        dir: &'a Path,
        opts: &'a LoadOptions,
        max_parallel: Option<usize>,
    },
    /// Enrolled nodes as the inventory's catalog describes them (the provider).
    Inventory {
        catalog: &'a Catalog,
        nodes: &'a [String],
        max_parallel: usize,
    },
}

/// Which run an [`Session::execute`] journals into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Run {
    /// A new run with this id (see [`Session::new_run_id`]).
    New(String),
    /// The unfinished run of the same desired state: steps it journaled as done are not repeated.
    Resume(String),
}

impl Run {
    pub fn id(&self) -> &str {
        match self {
            Run::New(id) | Run::Resume(id) => id,
        }
    }
}

/// How an executed run ended, as the inventory records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Succeeded,
    Failed,
    /// Stopped before a wave that would have outlasted the maintenance window: left open, so the
    /// next apply resumes it.
    Stopped,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Stopped => "stopped",
        }
    }
}

/// What [`Session::execute`] did.
#[derive(Debug, Clone)]
pub struct Executed {
    pub report: ApplyReport,
    pub status: RunStatus,
    /// One line: steps succeeded, already done, failed and skipped, and how long it took.
    pub summary: String,
}

/// One engine session: the inventory it records into, and how it observes.
pub struct Session<'a> {
    pub inv: &'a Inventory,
    pub observe: ObserveOptions,
}

impl<'a> Session<'a> {
    pub fn new(inv: &'a Inventory) -> Session<'a> {
        Session {
            inv,
            observe: ObserveOptions::default(),
        }
    }

    pub fn observing(mut self, observe: ObserveOptions) -> Session<'a> {
        self.observe = observe;
        self
    }

    /// The desired state of `source`. A configuration's problems are errors at their location; an
    /// inventory reference that does not resolve is a [`EngineError::Reference`].
    pub async fn desired(&self, source: Source<'_>) -> Result<(Loaded, Desired), EngineError> {
        match source {
            Source::Config {
                dir,
                opts,
                max_parallel,
            } => {
                let (loaded, mut desired) = load_config(dir, opts)?;
                layer_over(self.inv, &mut desired).await?;
                if let Some(m) = max_parallel {
                    desired.max_parallel = m.max(1);
                }
                Ok((loaded, desired))
            }
            Source::Inventory {
                catalog,
                nodes,
                max_parallel,
            } => {
                let desired = desired_for(self.inv, catalog, nodes, max_parallel).await?;
                Ok((Loaded::default(), desired))
            }
        }
    }

    /// The plan of the configuration in `dir`: [`Session::desired`] then [`Session::prepare`]
    /// (`bmplan plan` and `drift`).
    pub async fn plan_config(
        &self,
        dir: &Path,
        opts: &LoadOptions,
    ) -> Result<Prepared, EngineError> {
        let source = Source::Config {
            dir,
            opts,
            max_parallel: None,
        };
        let (loaded, desired) = self.desired(source).await?;
        self.prepare(loaded, desired).await
    }

    /// Observes, diffs and plans. Values a device cannot take are errors: located in the
    /// configuration when the desired state came from one. Unreachable devices are not errors:
    /// they are in the diff, and the rest is planned.
    pub async fn prepare(&self, loaded: Loaded, desired: Desired) -> Result<Prepared, EngineError> {
        // What a node's protocol cannot do is refused before any device is read.
        let refused = diff::protocol_limits(&desired);
        if !refused.is_empty() {
            return Err(located(&loaded, &desired, refused));
        }
        let started = Instant::now();
        let observed = observe::observe(&desired, self.observe.clone()).await;
        let observe_seconds = started.elapsed().as_secs_f64();
        let mut p = self.prepare_observed(loaded, desired, observed).await?;
        p.observe_seconds = observe_seconds;
        Ok(p)
    }

    /// [`Session::prepare`] from an observation already made (a caller that observed once and
    /// plans several desired states from it).
    pub async fn prepare_observed(
        &self,
        loaded: Loaded,
        desired: Desired,
        mut observed: Observed,
    ) -> Result<Prepared, EngineError> {
        let applied = self.inv.applied_state().await?;
        // What the cables say, from the nodes' last in-band inspections.
        for (name, v) in self.inv.inband_all().await? {
            if !desired.nodes.contains_key(&name) {
                continue;
            }
            if let Ok(found) = serde_json::from_value::<planner_core::deploy::agent::Inventory>(v) {
                observed.inband.insert(name, found.nics);
            }
        }
        plan_observed(loaded, desired, observed, &applied)
    }

    /// A run id unique across the concurrent runs of one process (Terraform creates resources in
    /// parallel) and across processes.
    pub fn new_run_id(prefix: &str) -> String {
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        format!(
            "{prefix}-{}-{}-{}",
            crate::inventory::now_ms(),
            std::process::id(),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        )
    }

    /// The unfinished run of this desired state, if one was left open (killed, or stopped by its
    /// window), with its plan: an apply resumes it exactly as it was planned.
    pub async fn open_run(
        &self,
        desired: &Desired,
    ) -> Result<Option<(crate::inventory::OpenRun, Plan)>, EngineError> {
        let Some(open) = self.inv.open_run(&desired.fingerprint()).await? else {
            return Ok(None);
        };
        let plan: Plan = serde_json::from_str(&open.plan).map_err(|e| {
            EngineError::Incomplete(format!(
                "run {} cannot be resumed: its plan in the inventory is unreadable ({e})",
                open.run_id
            ))
        })?;
        Ok(Some((open, plan)))
    }

    /// Carries `plan` out as run `run`: a new run is recorded first (with the desired state's
    /// fingerprint and the plan, so it can be resumed), then the waves run, then the run is
    /// closed with its status (a run stopped by its window stays open).
    pub async fn execute(
        &self,
        desired: &Desired,
        plan: &Plan,
        run: &Run,
        opts: ApplyOptions,
    ) -> Result<Executed, EngineError> {
        if let Run::New(id) = run {
            let text = serde_json::to_string(plan).map_err(|e| {
                EngineError::Incomplete(format!("the plan cannot be recorded: {e}"))
            })?;
            self.inv
                .start_run(id, &desired.fingerprint(), &text)
                .await?;
        }
        let started = Instant::now();
        let report = apply::apply(self.inv, desired, plan, run.id(), opts).await?;
        let status = if report.ok() {
            RunStatus::Succeeded
        } else if report.stopped_by_window.is_some() {
            RunStatus::Stopped
        } else {
            RunStatus::Failed
        };
        let summary = format!(
            "{} steps succeeded, {} already done, {} failed, {} skipped in {:.1}s",
            report.succeeded.len(),
            report.already_done.len(),
            report.failed.len(),
            report.skipped.len(),
            started.elapsed().as_secs_f64()
        );
        if status != RunStatus::Stopped {
            self.inv
                .finish_run(run.id(), status.as_str(), &summary)
                .await?;
        }
        Ok(Executed {
            report,
            status,
            summary,
        })
    }

    /// Brings `nodes` to what the inventory says (profile, ports) through prepare → execute as one
    /// journaled run: what the provider's resources and the host lifecycle use. A device that
    /// could not be read, and a step that failed or was skipped, are errors.
    pub async fn converge(
        &self,
        nodes: &[String],
        opts: ApplyOptions,
    ) -> Result<ApplyReport, EngineError> {
        if nodes.is_empty() {
            return Ok(ApplyReport::default());
        }
        let catalog = Catalog::read(self.inv).await?;
        let source = Source::Inventory {
            catalog: &catalog,
            nodes,
            max_parallel: opts.max_parallel,
        };
        let (loaded, desired) = self.desired(source).await?;
        let prepared = self.prepare(loaded, desired).await?;
        tracing::info!(
            nodes = nodes.len(),
            steps = prepared.plan.steps.len(),
            "converging"
        );
        if let Some((dev, why)) = prepared.diff.unreachable.iter().next() {
            return Err(EngineError::Incomplete(format!(
                "{dev} could not be read, so nothing was changed: {why}"
            )));
        }
        if prepared.plan.is_empty() {
            return Ok(ApplyReport::default());
        }
        let run = Run::New(Self::new_run_id("tf"));
        // One source of drivers for the whole run: the session's observed, so it applies.
        let opts = ApplyOptions {
            drivers: self.observe.drivers.clone(),
            ..opts
        };
        let done = self
            .execute(&prepared.desired, &prepared.plan, &run, opts)
            .await?;
        let summary = &done.summary;
        if let Some((step, e)) = done.report.failed.first() {
            return Err(EngineError::Incomplete(format!(
                "step {step} failed: {e} ({summary})"
            )));
        }
        if let Some((step, why)) = done.report.skipped.first() {
            return Err(EngineError::Incomplete(format!(
                "step {step} was skipped: {why} ({summary})"
            )));
        }
        Ok(done.report)
    }
}

/// Loads a configuration directory and builds its desired state (no inventory, no devices:
/// `bmplan validate`).
pub fn load_config(dir: &Path, opts: &LoadOptions) -> Result<(Loaded, Desired), LoadErrors> {
    let loaded = load::load_dir(dir, opts)?;
    let desired = Desired::from_loaded(&loaded)?;
    Ok((loaded, desired))
}

/// Diff and plan of an observation: pure. Values a device cannot take are errors, located in the
/// configuration when there is one.
pub fn plan_observed(
    loaded: Loaded,
    desired: Desired,
    observed: Observed,
    applied: &Applied,
) -> Result<Prepared, EngineError> {
    let diff = diff::diff(&desired, &observed, applied);
    if !diff.errors.is_empty() {
        return Err(located(&loaded, &desired, diff.errors));
    }
    let plan = plan::plan(&desired, &diff);
    Ok(Prepared {
        loaded,
        desired,
        observed,
        diff,
        plan,
        observe_seconds: 0.0,
    })
}

/// Values a device cannot take: located in the configuration when the desired state came from
/// one, else by node and path.
fn located(loaded: &Loaded, desired: &Desired, errors: Vec<DiffError>) -> EngineError {
    if loaded.instances.is_empty() {
        return EngineError::Device(errors);
    }
    EngineError::Config(LoadErrors(locate(loaded, desired, &errors)))
}

/// Diff errors (values a device cannot take), located at the profile attribute that asks for them.
fn locate(loaded: &Loaded, desired: &Desired, errors: &[DiffError]) -> Vec<LoadError> {
    errors
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
