//! A run of `bmplan apply`, staged: the unfinished run of the same desired state is resumed as it
//! was planned; otherwise the configuration (or a saved plan, whose staleness is checked against
//! a fresh pass) is planned anew, with the failovers and the hosts' work. The caller shows what
//! was staged, asks for confirmation, then carries it out with [`Session::execute`] (the waves)
//! and [`Session::perform_hosts`] (the hosts, after the waves).

use std::path::Path;

use crate::engine::{EngineError, Run, SavedPlan, SavedPlanError, Session, Source};
use crate::host::work::HostPass;
use crate::host::HostError;
use crate::load::LoadOptions;
use crate::model::Desired;
use crate::plan::{Plan, Prepared};

/// Why an apply could not be staged.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(transparent)]
    SavedPlan(#[from] SavedPlanError),
}

/// What an apply will do, before it is confirmed.
pub enum Staged {
    /// The unfinished run of this desired state (killed, or stopped by its window): its steps
    /// already done are not repeated, and its hosts' work comes after (no failovers on a resume).
    Resume {
        run_id: String,
        /// Who started it.
        actor: String,
        desired: Box<Desired>,
        plan: Plan,
        hosts: HostPass,
    },
    /// A new run: the plan of a fresh pass, or the saved plan it matches.
    New {
        prepared: Box<Prepared>,
        plan: Plan,
        hosts: HostPass,
        /// From a plan saved with `-out` (applied without asking again).
        saved: bool,
    },
}

impl Staged {
    pub fn desired(&self) -> &Desired {
        match self {
            Staged::Resume { desired, .. } => desired,
            Staged::New { prepared, .. } => &prepared.desired,
        }
    }

    pub fn plan(&self) -> &Plan {
        match self {
            Staged::Resume { plan, .. } | Staged::New { plan, .. } => plan,
        }
    }

    pub fn hosts(&self) -> &HostPass {
        match self {
            Staged::Resume { hosts, .. } | Staged::New { hosts, .. } => hosts,
        }
    }

    /// The run the waves are journaled into.
    pub fn run(&self) -> Run {
        match self {
            Staged::Resume { run_id, .. } => Run::Resume(run_id.clone()),
            Staged::New { .. } => Run::New(Session::new_run_id("run")),
        }
    }

    /// The devices that could not be read (a resumed run reads none before its waves).
    pub fn unreachable(&self) -> Vec<String> {
        match self {
            Staged::Resume { .. } => Vec::new(),
            Staged::New { prepared, .. } => prepared.diff.unreachable.keys().cloned().collect(),
        }
    }
}

impl Session<'_> {
    /// Stages an apply of `target`, a configuration directory or a plan file saved with `-out`;
    /// `opts` are the command line's variables and `max_parallel` overrides the configuration's.
    /// A saved plan is refused when the configuration, the live state or the hosts' needs have
    /// changed since it was made.
    pub async fn stage(
        &self,
        target: &Path,
        opts: LoadOptions,
        max_parallel: Option<usize>,
    ) -> Result<Staged, StageError> {
        let saved = if target.is_file() {
            Some(SavedPlan::read(target)?)
        } else {
            None
        };
        let from_saved = saved.is_some();
        let (dir, opts) = match &saved {
            Some(s) => (s.dir.clone(), s.options(opts)),
            None => (target.to_path_buf(), opts),
        };
        let source = Source::Config {
            dir: &dir,
            opts: &opts,
            max_parallel,
        };
        let (loaded, desired) = self.desired(source).await?;
        if saved.is_none() {
            if let Some((open, plan)) = self.open_run(&desired).await? {
                let hosts = HostPass {
                    moves: Vec::new(),
                    images: self.image_work(&desired).await?,
                    work: self.host_work(&desired).await?,
                };
                return Ok(Staged::Resume {
                    run_id: open.run_id,
                    actor: open.actor,
                    desired: Box::new(desired),
                    plan,
                    hosts,
                });
            }
        }
        // The configuration loaded above, with its max_parallel override, is what gets planned.
        let prepared = self.prepare(loaded, desired).await?;
        if let Some(s) = &saved {
            s.check_plan(&prepared, target)?;
        }
        let moves = self.failovers().await?;
        let images = self.image_work(&prepared.desired).await?;
        let work = self.host_work(&prepared.desired).await?;
        if let Some(s) = &saved {
            s.check_hosts(&work, target)?;
        }
        Ok(Staged::New {
            plan: saved
                .map(|s| s.plan)
                .unwrap_or_else(|| prepared.plan.clone()),
            prepared: Box::new(prepared),
            hosts: HostPass {
                moves,
                images,
                work,
            },
            saved: from_saved,
        })
    }
}
