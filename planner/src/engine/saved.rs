//! A plan saved with `bmplan plan -out`: applied exactly as saved, and refused when the
//! configuration, the live state or the hosts' needs have changed since.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::plan::Plan;

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

    /// The plan `prepared` made from the configuration in `dir` with `opts`, and the host changes
    /// shown with it, to save with `-out`. Sensitive variables are left out: they must be given
    /// again when it is applied.
    pub fn new(
        dir: &Path,
        opts: &crate::load::LoadOptions,
        prepared: &crate::plan::Prepared,
        hosts: &[crate::deploy::HostWork],
    ) -> SavedPlan {
        SavedPlan {
            format: Self::FORMAT,
            dir: std::fs::canonicalize(dir).unwrap_or(dir.to_path_buf()),
            var_files: opts.var_files.clone(),
            vars: opts
                .vars
                .iter()
                .filter(|(k, _)| !prepared.loaded.sensitive_vars.contains(k))
                .cloned()
                .collect(),
            desired: prepared.desired.fingerprint(),
            plan: prepared.plan.clone(),
            hosts: crate::deploy::work::change_lines(hosts),
        }
    }

    /// The load options of an apply of this plan: its own variable files and values, then those
    /// of the command line (which win).
    pub fn options(&self, given: crate::load::LoadOptions) -> crate::load::LoadOptions {
        let mut o = given;
        o.var_files = self.var_files.iter().cloned().chain(o.var_files).collect();
        let mut vars = self.vars.clone();
        vars.extend(o.vars);
        o.vars = vars;
        o
    }

    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(
            path,
            serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?,
        )
    }

    /// Refuses the saved plan (`path`) when the configuration or the live state is no longer
    /// what it was made from: `now` is a fresh pass over the same configuration.
    pub fn check_plan(
        &self,
        now: &crate::plan::Prepared,
        path: &Path,
    ) -> Result<(), super::EngineError> {
        if self.desired != now.desired.fingerprint() {
            return Err(stale(
                path,
                "was made for another configuration: run bmplan plan again",
            ));
        }
        if self.plan.observed_fingerprint != now.plan.observed_fingerprint {
            return Err(stale(
                path,
                "is stale: the live state has changed since it was made; run bmplan plan again",
            ));
        }
        Ok(())
    }

    /// Refuses the saved plan (`path`) when its hosts now need other changes than it showed.
    pub fn check_hosts(
        &self,
        hosts: &[crate::deploy::HostWork],
        path: &Path,
    ) -> Result<(), super::EngineError> {
        if self.hosts != crate::deploy::work::change_lines(hosts) {
            return Err(stale(
                path,
                "is stale: its hosts now need other changes; run bmplan plan again",
            ));
        }
        Ok(())
    }

    pub fn read(path: &Path) -> Result<SavedPlan, SavedPlanError> {
        let text = std::fs::read(path).map_err(|source| SavedPlanError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let p: SavedPlan =
            serde_json::from_slice(&text).map_err(|source| SavedPlanError::NotAPlan {
                path: path.to_path_buf(),
                source,
            })?;
        if p.format != Self::FORMAT {
            return Err(SavedPlanError::Format {
                path: path.to_path_buf(),
                found: p.format,
            });
        }
        Ok(p)
    }
}

/// Why a saved plan cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum SavedPlanError {
    #[error("{}: cannot read the plan file", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a bmplan plan file", .path.display())]
    NotAPlan {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}: plan format {found} is not {}", .path.display(), SavedPlan::FORMAT)]
    Format { path: PathBuf, found: u32 },
}

fn stale(path: &Path, why: &str) -> super::EngineError {
    super::EngineError::Stale(format!("the saved plan {} {why}", path.display()))
}
