//! `bmplan validate | plan | apply | drift`: parsing, confirmation, progress display and exit codes.
//! The work is the engine's (`planner::engine::Session`); this prints it.

use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use planner::apply::{ApplyOptions, Progress};
use planner::deploy::work::change_lines;
use planner::engine::{Prepared, Run, SavedPlan, Session, Source};
use planner::host::work::HostPass;
use planner::load::LoadOptions;
use planner::observe::ObserveOptions;
use planner::report::{self, Style};

use crate::fleet::InventoryArgs;

/// Variables, as `terraform` takes them.
#[derive(Args, Clone, Debug, Default)]
pub struct VarArgs {
    /// A variable value, NAME=VALUE (repeatable). `-var` works too.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// A .tfvars file (repeatable). `-var-file` works too.
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
}

impl VarArgs {
    fn options(&self) -> anyhow::Result<LoadOptions> {
        let mut vars = Vec::new();
        for v in &self.vars {
            let (k, val) = v
                .split_once('=')
                .with_context(|| format!("-var {v:?}: use NAME=VALUE"))?;
            vars.push((k.trim().to_string(), val.to_string()));
        }
        Ok(LoadOptions {
            vars,
            var_files: self.var_files.clone(),
            env: None,
        })
    }
}

#[derive(Args)]
pub struct ValidateArgs {
    /// The configuration directory.
    dir: PathBuf,
    #[command(flatten)]
    vars: VarArgs,
}

#[derive(Args)]
pub struct PlanArgs {
    /// The configuration directory.
    dir: PathBuf,
    #[command(flatten)]
    vars: VarArgs,
    /// Save the plan, to apply exactly it later (`-out` works too).
    #[arg(long = "out", value_name = "FILE")]
    out: Option<PathBuf>,
    /// Exit 0 with no changes, 2 with changes, 1 on error (`-detailed-exitcode` works too).
    #[arg(long = "detailed-exitcode")]
    detailed_exitcode: bool,
    /// The plan, the diff and what was unreachable as one JSON document.
    #[arg(long)]
    json: bool,
    /// Nodes read at once.
    #[arg(long, default_value_t = planner::observe::DEFAULT_CONCURRENCY)]
    concurrency: usize,
    /// Longest one BMC request may take, in seconds (retried requests get it each time).
    #[arg(long, default_value_t = 30)]
    bmc_timeout: u64,
}

#[derive(Args)]
pub struct ApplyArgs {
    /// A configuration directory, or a plan file saved with `plan -out`.
    target: PathBuf,
    #[command(flatten)]
    vars: VarArgs,
    /// Do not ask for confirmation (`-auto-approve` works too).
    #[arg(long = "auto-approve")]
    auto_approve: bool,
    /// Nodes changed at once per wave (overrides the provider's max_parallel).
    #[arg(long)]
    max_parallel: Option<usize>,
    /// Nodes that may fail before the rolling waves stop (default 0: the first failed node stops
    /// the waves after it). Within the budget, later waves start and switch batches leave out the
    /// failed nodes' ports; a failed switch batch always stops the waves. The exit code is still 1.
    #[arg(long, default_value_t = 0)]
    max_failures: usize,
    /// The maintenance window left, e.g. 2h or 45m: a disruptive wave that would not finish in it is
    /// not started.
    #[arg(long)]
    window: Option<String>,
    /// Longest wait for a node to come back with its settings applied.
    #[arg(long, default_value = "30m")]
    wait_timeout: String,
    /// How long to look for signs that a reset whose request got no answer happened, before
    /// sending it again (e.g. 10s).
    #[arg(long, default_value = "10s")]
    reset_grace: String,
    /// Nodes read at once.
    #[arg(long, default_value_t = planner::observe::DEFAULT_CONCURRENCY)]
    concurrency: usize,
    /// Longest one BMC request may take, in seconds (retried requests get it each time).
    #[arg(long, default_value_t = 30)]
    bmc_timeout: u64,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DriftFormat {
    Text,
    Markdown,
    Json,
    Junit,
}

#[derive(Args)]
pub struct DriftArgs {
    /// The configuration directory.
    dir: PathBuf,
    #[command(flatten)]
    vars: VarArgs,
    #[arg(long, value_enum, default_value = "text")]
    format: DriftFormat,
    /// Write the report here.
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
    /// Exit 2 when something drifted or is unreachable.
    #[arg(long = "detailed-exitcode")]
    detailed_exitcode: bool,
    /// Longest one BMC request may take, in seconds (retried requests get it each time).
    #[arg(long, default_value_t = 30)]
    bmc_timeout: u64,
}

/// Exit status of plan and drift with `-detailed-exitcode`: changes present.
#[derive(Debug, thiserror::Error)]
#[error("changes present")]
pub struct ChangesPresent;

fn style() -> Style {
    Style {
        color: std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    }
}

pub fn validate(a: ValidateArgs) -> anyhow::Result<()> {
    let (loaded, desired) = planner::engine::load_config(&a.dir, &a.vars.options()?)?;
    for n in &loaded.notes {
        eprintln!("note: {n}");
    }
    println!(
        "Success! The configuration is valid: {} nodes, {} hosts, {} profiles, {} networks, {} switches{}.",
        desired.nodes.len(),
        desired.hosts.len(),
        desired.profiles.len(),
        desired.networks.len(),
        desired.switches.len(),
        if desired.unplanned.is_empty() {
            String::new()
        } else {
            format!(
                " ({} resources not planned by bmplan yet)",
                desired.unplanned.len()
            )
        }
    );
    Ok(())
}

fn observe_opts(concurrency: usize, bmc_timeout: u64) -> ObserveOptions {
    let mut o = ObserveOptions {
        concurrency,
        ..ObserveOptions::default()
    };
    o.limits.request_timeout = std::time::Duration::from_secs(bmc_timeout.max(1));
    o
}

pub async fn plan(inv_args: &InventoryArgs, a: PlanArgs) -> anyhow::Result<()> {
    let inv = inv_args.open().await?;
    let session = Session::new(&inv).observing(observe_opts(a.concurrency, a.bmc_timeout));
    let opts = a.vars.options()?;
    let source = Source::Config {
        dir: &a.dir,
        opts: &opts,
        max_parallel: None,
    };
    let (loaded, desired) = session.desired(source).await?;
    let p = session.prepare(loaded, desired).await?;
    let hosts = session.host_pass(&p.desired).await?;
    if a.json {
        let doc = report::plan_json(&p, &hosts.moves, &hosts.work);
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", report::plan_text(&p, style()));
        print!("{}", report::moves_text(&hosts.moves));
        print!("{}", report::host_work_text(&hosts.work));
    }
    if let Some(out) = &a.out {
        let saved = SavedPlan {
            format: SavedPlan::FORMAT,
            dir: std::fs::canonicalize(&a.dir).unwrap_or(a.dir.clone()),
            var_files: a.vars.var_files.clone(),
            vars: opts
                .vars
                .iter()
                .filter(|(k, _)| !p.loaded.sensitive_vars.contains(k))
                .cloned()
                .collect(),
            desired: p.desired.fingerprint(),
            plan: p.plan.clone(),
            hosts: change_lines(&hosts.work),
        };
        saved
            .write(out)
            .with_context(|| format!("writing {}", out.display()))?;
        eprintln!(
            "saved the plan to {}; apply it with: bmplan apply {}",
            out.display(),
            out.display()
        );
    }
    unreachable_is_an_error(&p)?;
    if a.detailed_exitcode && (!p.plan.is_empty() || hosts.any_to_do()) {
        return Err(ChangesPresent.into());
    }
    Ok(())
}

/// A plan that could not see every device is shown, then fails: a pipeline must not read a partial
/// view as "no changes".
fn unreachable_is_an_error(p: &Prepared) -> anyhow::Result<()> {
    if p.diff.unreachable.is_empty() {
        return Ok(());
    }
    bail!(
        "{} devices could not be read ({}); the plan covers the others",
        p.diff.unreachable.len(),
        p.diff
            .unreachable
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn confirm(auto: bool) -> anyhow::Result<()> {
    if auto {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        bail!("apply asks for confirmation; not on a terminal, pass -auto-approve");
    }
    print!("Apply these changes? Only 'yes' is accepted: ");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    if line.trim() != "yes" {
        bail!("apply cancelled");
    }
    Ok(())
}

/// Progress on a terminal: one bar per wave; otherwise one structured line per event.
fn progress_sink(total_steps: usize) -> Arc<dyn Fn(&Progress) + Send + Sync> {
    if std::io::stderr().is_terminal() {
        let bar = indicatif::ProgressBar::new(total_steps as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} steps {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        let bar = Arc::new(Mutex::new(bar));
        Arc::new(move |p: &Progress| {
            let Ok(b) = bar.lock() else { return };
            match p {
                Progress::Wave {
                    index,
                    of,
                    domain,
                    nodes,
                } => b.set_message(format!("wave {index}/{of} ({domain}, {nodes} nodes)")),
                Progress::Succeeded { .. }
                | Progress::AlreadyDone { .. }
                | Progress::Skipped { .. } => b.inc(1),
                Progress::Failed { step, error } => {
                    b.inc(1);
                    b.println(format!("failed {step}: {error}"));
                }
                Progress::Retrying {
                    step,
                    attempt,
                    error,
                } => b.println(format!("retry {attempt} of {step}: {error}")),
                Progress::Started { .. } => {}
            }
        })
    } else {
        Arc::new(|p: &Progress| {
            let line = match p {
                Progress::Wave {
                    index,
                    of,
                    domain,
                    nodes,
                } => format!("wave {index}/{of} started: {domain}, {nodes} nodes"),
                Progress::Started { step } => format!("step {step} started"),
                Progress::Succeeded { step } => format!("step {step} succeeded"),
                Progress::AlreadyDone { step } => {
                    format!("step {step} already done in this run: not repeated")
                }
                Progress::Retrying {
                    step,
                    attempt,
                    error,
                } => format!("step {step} retry {attempt}: {error}"),
                Progress::Failed { step, error } => format!("step {step} failed: {error}"),
                Progress::Skipped { step, reason } => format!("step {step} {reason}"),
            };
            eprintln!("apply: {line}");
        })
    }
}

pub async fn apply_cmd(inv_args: &InventoryArgs, a: ApplyArgs) -> anyhow::Result<()> {
    let inv = inv_args.open().await?;
    let session = Session::new(&inv).observing(observe_opts(a.concurrency, a.bmc_timeout));
    let saved = if a.target.is_file() {
        Some(SavedPlan::read(&a.target)?)
    } else {
        None
    };
    let (dir, opts) = match &saved {
        Some(s) => {
            let mut o = a.vars.options()?;
            o.var_files = s.var_files.iter().cloned().chain(o.var_files).collect();
            let mut vars = s.vars.clone();
            vars.extend(o.vars);
            o.vars = vars;
            (s.dir.clone(), o)
        }
        None => (a.target.clone(), a.vars.options()?),
    };
    let wait_timeout =
        planner::schema::parse_duration(&a.wait_timeout).map_err(anyhow::Error::msg)?;
    let window_end = match &a.window {
        Some(w) => {
            Some(Instant::now() + planner::schema::parse_duration(w).map_err(anyhow::Error::msg)?)
        }
        None => None,
    };
    let source = Source::Config {
        dir: &dir,
        opts: &opts,
        max_parallel: a.max_parallel,
    };
    let (loaded, desired) = session.desired(source).await?;
    // A run of this desired state that did not finish is resumed, exactly as it was planned.
    let mut unreachable: Vec<String> = Vec::new();
    let (run, plan, hosts) = match session.open_run(&desired).await? {
        Some((open, plan)) if saved.is_none() => {
            eprintln!(
                "resuming run {} (started by {}): steps already done are not repeated",
                open.run_id, open.actor
            );
            // The hosts come after the node waves, as in a new run (no failovers on a resume).
            let hosts = HostPass {
                moves: Vec::new(),
                work: session.host_work(&desired).await?,
            };
            print!("{}", report::host_work_text(&hosts.work));
            (Run::Resume(open.run_id), plan, hosts)
        }
        _ => {
            // The configuration loaded above, with --max-parallel applied, is what gets planned.
            let p = session.prepare(loaded, desired.clone()).await?;
            if let Some(s) = &saved {
                s.check_plan(&p, &a.target)?;
            }
            let plan = saved
                .as_ref()
                .map(|s| s.plan.clone())
                .unwrap_or(p.plan.clone());
            print!("{}", report::plan_text(&p, style()));
            let moves = session.failovers().await?;
            print!("{}", report::moves_text(&moves));
            let work = session.host_work(&p.desired).await?;
            if let Some(s) = &saved {
                s.check_hosts(&work, &a.target)?;
            }
            print!("{}", report::host_work_text(&work));
            let hosts = HostPass { moves, work };
            unreachable = p.diff.unreachable.keys().cloned().collect();
            if plan.is_empty() {
                if hosts.any_to_do() {
                    confirm(a.auto_approve || saved.is_some())?;
                    host_work(&session, &hosts, desired.max_parallel, wait_timeout).await?;
                }
                return unreachable_is_an_error(&p);
            }
            confirm(a.auto_approve || saved.is_some())?;
            (Run::New(Session::new_run_id("run")), plan, hosts)
        }
    };
    let opts = ApplyOptions {
        max_parallel: desired.max_parallel,
        wait_timeout,
        reset_grace: planner::schema::parse_duration(&a.reset_grace)
            .map_err(|e| anyhow::anyhow!("--reset-grace {:?}: {e}", a.reset_grace))?,
        window_end,
        max_failures: a.max_failures,
        progress: progress_sink(plan.steps.len()),
        ..ApplyOptions::default()
    };
    let done = session.execute(&desired, &plan, &run, opts).await?;
    let report = &done.report;
    println!(
        "\nApply {}{}: {}.",
        done.status.as_str(),
        if matches!(run, Run::Resume(_)) {
            " (resumed)"
        } else {
            ""
        },
        done.summary
    );
    for (step, e) in &report.failed {
        println!("  failed  {step}: {e}");
    }
    for (step, why) in &report.skipped {
        println!("  skipped {step}: {why}");
    }
    if let Some(w) = &report.stopped_by_window {
        println!("  stopped: {w}");
        bail!("the maintenance window is too short for the remaining waves; run apply again in the next window to resume");
    }
    if !report.ok() {
        bail!(
            "{} steps failed and {} were skipped",
            report.failed.len(),
            report.skipped.len()
        );
    }
    host_work(&session, &hosts, desired.max_parallel, wait_timeout).await?;
    if !unreachable.is_empty() {
        bail!(
            "{} devices could not be read and were not changed: {}",
            unreachable.len(),
            unreachable.join(", ")
        );
    }
    Ok(())
}

/// Carries out the hosts' work after the node waves and prints what became of each host.
async fn host_work(
    session: &Session<'_>,
    hosts: &HostPass,
    max_parallel: usize,
    timeout: Duration,
) -> anyhow::Result<()> {
    let results = session
        .perform_hosts(
            hosts,
            max_parallel,
            timeout,
            crate::fleet::stderr_progress(),
        )
        .await?;
    let failed: Vec<String> = results.failed().into_iter().map(str::to_string).collect();
    for (who, r) in results.moved {
        let h = r?;
        println!(
            "host {who}: moved to {} ({})",
            h.node.as_deref().unwrap_or("-"),
            h.state
        );
    }
    for (who, r) in &results.changed {
        match r {
            Ok(h) => println!(
                "host {who}: {} on node {}",
                h.state,
                h.node.as_deref().unwrap_or("-")
            ),
            Err(e) => println!(
                "host {who}: failed: {}",
                planner::bmc::redfish::client::error_chain(e)
            ),
        }
    }
    if !failed.is_empty() {
        bail!("{} host(s) failed: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}

pub async fn drift(inv_args: &InventoryArgs, a: DriftArgs) -> anyhow::Result<()> {
    let inv = inv_args.open().await?;
    let session = Session::new(&inv).observing(observe_opts(
        planner::observe::DEFAULT_CONCURRENCY,
        a.bmc_timeout,
    ));
    let opts = a.vars.options()?;
    let source = Source::Config {
        dir: &a.dir,
        opts: &opts,
        max_parallel: None,
    };
    let (loaded, desired) = session.desired(source).await?;
    let p = session.prepare(loaded, desired).await?;
    let r = planner::drift::report(&p.desired, &p.diff);
    let text = match a.format {
        DriftFormat::Text => report::drift_text(
            &r,
            if a.output.is_some() {
                Style { color: false }
            } else {
                style()
            },
        ),
        DriftFormat::Markdown => report::drift_markdown(&r),
        DriftFormat::Json => serde_json::to_string_pretty(&r)? + "\n",
        DriftFormat::Junit => report::drift_junit(&r),
    };
    match &a.output {
        Some(path) => write_file(path, &text)?,
        None => print!("{text}"),
    }
    let bad = r.drifted() || r.summary.nodes_unreachable + r.summary.ports_unreachable > 0;
    if a.detailed_exitcode && bad {
        return Err(ChangesPresent.into());
    }
    Ok(())
}

fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))
}

/// Terraform spells long flags with one dash (`-out`, `-var`, `-auto-approve`); clap wants two.
pub fn terraform_flags(args: impl Iterator<Item = String>) -> Vec<String> {
    const SINGLE: &[&str] = &[
        "-out",
        "-var",
        "-var-file",
        "-auto-approve",
        "-detailed-exitcode",
    ];
    args.map(|a| {
        let (flag, rest) = match a.split_once('=') {
            Some((f, r)) => (f.to_string(), Some(r.to_string())),
            None => (a.clone(), None),
        };
        if SINGLE.contains(&flag.as_str()) {
            match rest {
                Some(r) => format!("-{flag}={r}"),
                None => format!("-{flag}"),
            }
        } else {
            a
        }
    })
    .collect()
}
