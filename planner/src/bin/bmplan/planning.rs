//! `bmplan validate | plan | apply | drift`: parsing, confirmation, progress display and exit codes.
//! The work is in `planner::run`, `planner::apply` and `planner::drift`.

use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, ValueEnum};
use planner::apply::{self, ApplyOptions, Progress};
use planner::load::LoadOptions;
use planner::observe::ObserveOptions;
use planner::report::{self, Style};
use planner::run::{self, SavedPlan};

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
    let (loaded, desired) = run::load(&a.dir, &a.vars.options()?)?;
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
    let applied = inv.applied_state().await?;
    let opts = a.vars.options()?;
    let (loaded, desired) = load_with_hosts(&inv, &a.dir, &opts).await?;
    let p = run::prepare_loaded(
        loaded,
        desired,
        &applied,
        observe_opts(a.concurrency, a.bmc_timeout),
    )
    .await?;
    let moves = failovers(&inv).await?;
    let hosts = host_work(&inv, &p.desired).await?;
    let host_changes = hosts.iter().any(|w| w.change.is_some());
    if a.json {
        let doc = serde_json::json!({
            "changes": !p.plan.is_empty() || moves.iter().any(|m| m.to.is_some()) || host_changes,
            "plan": p.plan,
            "diff": p.diff,
            "unreachable": p.diff.unreachable,
            "failovers": moves.iter().map(|m| serde_json::json!({
                "host": m.host.name, "project": m.host.project, "node": m.failure.node,
                "reason": m.failure.reason, "to": m.to,
            })).collect::<Vec<_>>(),
            "hosts": hosts.iter().map(|w| serde_json::json!({
                "host": w.spec.name, "project": w.project,
                "node": w.existing.as_ref().and_then(|h| h.node.clone()),
                "change": w.change.as_ref().map(|c| c.describe()), "notes": w.notes,
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", report::plan_text(&p, style()));
        print!("{}", failover_text(&moves));
        print!("{}", host_work_text(&hosts));
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
            desired: run::desired_fingerprint(&p.desired),
            plan: p.plan.clone(),
            hosts: host_change_lines(&hosts),
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
    if a.detailed_exitcode
        && (!p.plan.is_empty() || moves.iter().any(|m| m.to.is_some()) || host_changes)
    {
        return Err(ChangesPresent.into());
    }
    Ok(())
}

/// A plan that could not see every device is shown, then fails: a pipeline must not read a partial
/// view as "no changes".
/// The configuration as plan, apply and drift see it: loaded from `dir`, with the hosts' layer
/// (profile, networks) over the nodes they run on, as the provider sees them.
async fn load_with_hosts(
    inv: &planner::inventory::Inventory,
    dir: &Path,
    opts: &LoadOptions,
) -> anyhow::Result<(planner::load::Loaded, planner::model::Desired)> {
    let (loaded, mut desired) = run::load(dir, opts)?;
    planner::host::layer_over(inv, &mut desired).await?;
    Ok((loaded, desired))
}

/// A host whose node failed, and where its failover policy sends it.
struct Failover {
    host: planner::inventory::HostRecord,
    failure: planner::host::NodeFailure,
    to: Option<String>,
}

/// Hosts with a failover policy whose node is Critical or unreachable past its threshold.
async fn failovers(inv: &planner::inventory::Inventory) -> anyhow::Result<Vec<Failover>> {
    let hosts = inv.hosts(None).await?;
    let with_policy: Vec<_> = hosts
        .into_iter()
        .filter(|h| planner::host::Deployment::of(h).is_some_and(|d| d.failover.is_some()))
        .collect();
    if with_policy.is_empty() {
        return Ok(Vec::new());
    }
    // Reads only: no deployment endpoint is started for a plan.
    let mut out = Vec::new();
    for h in with_policy {
        let (_, failure) = planner::host::check_failure(inv, &h).await?;
        let Some(failure) = failure else { continue };
        let policy = planner::host::Deployment::of(&h)
            .and_then(|d| d.failover)
            .unwrap_or_default();
        let to = planner::host::pick_standby(inv, &policy, &h.project, &failure.node).await?;
        out.push(Failover {
            host: h,
            failure,
            to,
        });
    }
    Ok(out)
}

fn failover_text(moves: &[Failover]) -> String {
    let mut s = String::new();
    if moves.is_empty() {
        return s;
    }
    s.push_str("\nHost failovers:\n");
    for m in moves {
        let h = &m.host;
        match &m.to {
            Some(to) => s.push_str(&format!(
                "  host {}/{}: {} → moves to standby {to}; {} goes into maintenance\n",
                h.project, h.name, m.failure.reason, m.failure.node
            )),
            None => s.push_str(&format!(
                "  host {}/{}: {}, and no standby node is free: it stays\n",
                h.project, h.name, m.failure.reason
            )),
        }
    }
    s
}

/// What apply does for hosts after the node waves: the failovers, then the configuration's host
/// changes, through one deployment endpoint (started only when there is something to do).
async fn perform_host_actions(
    inv: &planner::inventory::Inventory,
    moves: &[Failover],
    work: &[HostWork],
    max_parallel: usize,
    timeout: Duration,
) -> anyhow::Result<()> {
    if !moves.iter().any(|m| m.to.is_some()) && !work.iter().any(|w| w.change.is_some()) {
        return Ok(());
    }
    let media = planner::host::MediaServer::start("127.0.0.1:0", None)
        .await
        .map_err(anyhow::Error::msg)?;
    let life = crate::fleet::life(inv, &media);
    perform_failovers(&life, moves, timeout).await?;
    perform_host_work(inv, &life, work, max_parallel, timeout).await
}

/// Moves each failed host to its standby: its profile, and its image when it has one.
async fn perform_failovers(
    life: &planner::host::Lifecycle<'_>,
    moves: &[Failover],
    timeout: Duration,
) -> anyhow::Result<()> {
    let inv = life.inv;
    for m in moves {
        let Some(to) = &m.to else { continue };
        let req = planner::host::request_from_record(inv, &m.host, timeout)?;
        let h = life
            .migrate(&m.host, to, &m.failure.reason, req.as_ref(), timeout)
            .await?;
        println!("host {}/{}: moved to {to} ({})", h.project, h.name, h.state);
    }
    Ok(())
}

/// A host of the configuration, the inventory's host of that name, and what it needs.
struct HostWork {
    spec: planner::model::HostSpec,
    project: String,
    existing: Option<planner::inventory::HostRecord>,
    change: Option<planner::host::HostChange>,
    notes: Vec<String>,
}

/// Compares the configuration's `baremetal_host` blocks with the inventory's hosts.
async fn host_work(
    inv: &planner::inventory::Inventory,
    desired: &planner::model::Desired,
) -> anyhow::Result<Vec<HostWork>> {
    if desired.hosts.is_empty() {
        return Ok(Vec::new());
    }
    let Some(project) = desired
        .project
        .clone()
        .or_else(|| inv.actor().default_project().map(str::to_string))
    else {
        bail!("the configuration has hosts: name their project with `project` in the provider block, or BAREMETAL_PROJECT");
    };
    let mut out = Vec::new();
    for spec in desired.hosts.values() {
        let existing = match inv.host(&project, &spec.name).await {
            Ok(h) => Some(h),
            Err(planner::inventory::InventoryError::NotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        };
        let mut notes = planner::host::not_applied(spec, existing.as_ref());
        let mut change = planner::host::change_for(spec, existing.as_ref());
        // A move only to a node that can take the host; otherwise it stays, and says why.
        if let Some(planner::host::HostChange::Migrate { to }) = &change {
            let why = match inv.node(to).await {
                Ok(n) if n.owner_project.as_deref().is_some_and(|p| p != project) => {
                    Some("reserved for another project".to_string())
                }
                Ok(n) if planner::inventory::is_free(&n) => None,
                Ok(n) => Some(format!(
                    "{}{}{}",
                    n.state.as_str(),
                    if n.maintenance {
                        ", in maintenance"
                    } else {
                        ""
                    },
                    n.host
                        .as_deref()
                        .map(|h| format!(", carrying host {h}"))
                        .unwrap_or_default()
                )),
                Err(e) => Some(e.to_string()),
            };
            if let Some(why) = why {
                notes.push(format!(
                    "pinned to {to}, which cannot take it ({why}): it stays where it is"
                ));
                change = None;
            }
        }
        // Power is read live, and only asked of a host with nothing else to do.
        if let (None, Some(_), Some(h)) = (&change, &spec.power, &existing) {
            if h.state == "active" && h.node.is_some() {
                match planner::host::host_power(inv, h).await {
                    Ok(p) if matches!(p.as_str(), "On" | "Off" | "PoweringOn" | "PoweringOff") => {
                        change = planner::host::power_change(spec, Some(h), p.as_str())
                    }
                    Ok(p) => notes.push(format!(
                        "power reads {:?}, neither on nor off: not changed",
                        p.as_str()
                    )),
                    Err(e) => notes.push(format!("power could not be read: {e}")),
                }
            }
        }
        out.push(HostWork {
            change,
            notes,
            spec: spec.clone(),
            project: project.clone(),
            existing,
        });
    }
    Ok(out)
}

/// The host changes as the saved plan keeps them, to tell a stale one. The image is kept as a
/// digest of its URL and checksum: an image URL may carry credentials, and a plan file is not the
/// place for them.
fn host_change_lines(work: &[HostWork]) -> Vec<String> {
    use sha2::{Digest, Sha256};
    work.iter()
        .filter_map(|w| {
            w.change.as_ref().map(|c| {
                let image = Sha256::digest(format!(
                    "{} {}",
                    w.spec.image_url.as_deref().unwrap_or("-"),
                    w.spec.image_checksum.as_deref().unwrap_or("-")
                ));
                format!(
                    "{}/{}: {} (image {})",
                    w.project,
                    w.spec.name,
                    c.describe(),
                    hex::encode(&image[..8])
                )
            })
        })
        .collect()
}

fn host_work_text(work: &[HostWork]) -> String {
    let mut s = String::new();
    if work
        .iter()
        .all(|w| w.change.is_none() && w.notes.is_empty())
    {
        return s;
    }
    s.push_str("\nHosts:\n");
    for w in work {
        let on = match w.existing.as_ref().and_then(|h| h.node.as_deref()) {
            Some(n) => format!("on {n}"),
            None => match (&w.spec.flavor, &w.spec.node) {
                (_, Some(n)) => format!("node {n}"),
                (Some(f), None) => format!("flavor {f}"),
                (None, None) => String::new(),
            },
        };
        if let Some(c) = &w.change {
            let mark = if w.existing.is_none() { "+" } else { "~" };
            s.push_str(&format!(
                "  {mark} host {}/{} ({on}): {}\n",
                w.project,
                w.spec.name,
                c.describe()
            ));
        }
        for n in &w.notes {
            s.push_str(&format!("  ! host {}/{}: {n}\n", w.project, w.spec.name));
        }
    }
    s
}

/// Allocates, deploys, rebuilds, moves or reconfigures the hosts that need it, `max_parallel` at
/// a time. Every host is tried; the ones that failed are named at the end.
async fn perform_host_work(
    inv: &planner::inventory::Inventory,
    life: &planner::host::Lifecycle<'_>,
    work: &[HostWork],
    max_parallel: usize,
    timeout: Duration,
) -> anyhow::Result<()> {
    use futures_util::StreamExt;
    let todo: Vec<&HostWork> = work.iter().filter(|w| w.change.is_some()).collect();
    if todo.is_empty() {
        return Ok(());
    }
    let results: Vec<(String, anyhow::Result<planner::inventory::HostRecord>)> =
        futures_util::stream::iter(todo)
            .map(|w| async move {
                let who = format!("{}/{}", w.project, w.spec.name);
                (who, deploy_one(inv, life, w, timeout).await)
            })
            .buffer_unordered(max_parallel.max(1))
            .collect()
            .await;
    let mut failed = Vec::new();
    for (who, r) in results {
        match r {
            Ok(h) => println!(
                "host {who}: {} on node {}",
                h.state,
                h.node.as_deref().unwrap_or("-")
            ),
            Err(e) => {
                println!("host {who}: failed: {e:#}");
                failed.push(who);
            }
        }
    }
    if !failed.is_empty() {
        bail!("{} host(s) failed: {}", failed.len(), failed.join(", "));
    }
    Ok(())
}

async fn deploy_one(
    inv: &planner::inventory::Inventory,
    life: &planner::host::Lifecycle<'_>,
    w: &HostWork,
    timeout: Duration,
) -> anyhow::Result<planner::inventory::HostRecord> {
    let spec = &w.spec;
    let request = planner::host::DeployRequest::for_spec(spec, timeout).map_err(|errs| {
        anyhow::anyhow!(errs
            .iter()
            .map(|e| format!("{}: {}", e.attribute, e.message))
            .collect::<Vec<_>>()
            .join("; "))
    })?;
    if let Some(planner::host::HostChange::Power { .. }) = &w.change {
        let h = inv.host(&w.project, &spec.name).await?;
        // Still active, and still not as the block says (read again).
        let live = planner::host::host_power(inv, &h).await?;
        if planner::host::power_change(spec, Some(&h), live.as_str()).is_some() {
            power_as_written(life, &h, spec, timeout).await?;
        }
        return Ok(inv.host(&w.project, &spec.name).await?);
    }
    // Read again: the node waves ran since the plan, and another run may have got there first.
    // What it needs now must be what the plan showed (a planned move of ports must not turn
    // into a reinstall); nothing left means another run did it.
    let host = match inv.host(&w.project, &spec.name).await {
        Ok(h) => match planner::host::change_for(spec, Some(&h)) {
            None => return Ok(h),
            Some(now) if !same_work(w.change.as_ref(), &now) => bail!(
                "the plan said {:?}, but it now needs {:?}: run bmplan plan again",
                w.change.as_ref().map(|c| c.describe()).unwrap_or_default(),
                now.describe()
            ),
            Some(planner::host::HostChange::Migrate { to }) => {
                let h = life
                    .migrate(
                        &h,
                        &to,
                        "pinned there by the configuration",
                        request.as_ref(),
                        timeout,
                    )
                    .await?;
                if spec.power.as_deref() == Some("off") {
                    power_as_written(life, &h, spec, timeout).await?;
                }
                return Ok(inv.host(&w.project, &spec.name).await?);
            }
            Some(planner::host::HostChange::Reconfigure { networks, profile }) => {
                if let Some(n) = networks {
                    life.move_ports(&h, &n, timeout).await?;
                }
                let h = inv.host(&w.project, &spec.name).await?;
                if let Some(p) = profile {
                    life.set_profile(&h, Some(p), timeout).await?;
                }
                return Ok(inv.host(&w.project, &spec.name).await?);
            }
            Some(_) => h,
        },
        Err(planner::inventory::InventoryError::NotFound { .. }) => {
            inv.create_host(&planner::inventory::NewHost {
                name: spec.name.clone(),
                project: Some(w.project.clone()),
                flavor: spec.flavor.clone(),
                node: spec.node.clone(),
            })
            .await?
        }
        Err(e) => return Err(e.into()),
    };
    let host = match (&request, &host.node) {
        (Some(req), Some(_)) => life.deploy(&host, req).await?,
        (Some(_), None) => bail!("the host has no node to deploy onto"),
        (None, _) => return Ok(host),
    };
    // A deployment ends powered on: a block that says off is obeyed in the same apply.
    if spec.power.as_deref() == Some("off") {
        power_as_written(life, &host, spec, timeout).await?;
    }
    Ok(host)
}

/// Whether the change a host needs now is the one the plan showed (an allocation planned for a
/// host another run created is the same deployment).
fn same_work(planned: Option<&planner::host::HostChange>, now: &planner::host::HostChange) -> bool {
    use planner::host::HostChange as C;
    match (planned, now) {
        (Some(C::Create { .. }), C::Deploy | C::Resume) => true,
        (Some(p), n) => p == n,
        (None, _) => false,
    }
}

/// Sets the host's power as its block says.
async fn power_as_written(
    life: &planner::host::Lifecycle<'_>,
    h: &planner::inventory::HostRecord,
    spec: &planner::model::HostSpec,
    timeout: Duration,
) -> anyhow::Result<()> {
    let action = match spec.power.as_deref() {
        Some("off") => planner::bmc::PowerAction::Off,
        Some("on") => planner::bmc::PowerAction::On,
        _ => return Ok(()),
    };
    life.power(h, action, timeout).await?;
    Ok(())
}

fn unreachable_is_an_error(p: &run::Prepared) -> anyhow::Result<()> {
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
    let applied = inv.applied_state().await?;
    let saved = if a.target.is_file() {
        Some(SavedPlan::read(&a.target).map_err(anyhow::Error::msg)?)
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
    let (loaded, mut desired) = load_with_hosts(&inv, &dir, &opts).await?;
    if let Some(m) = a.max_parallel {
        desired.max_parallel = m.max(1);
    }
    let desired_fp = run::desired_fingerprint(&desired);
    // A run of this desired state that did not finish is resumed, exactly as it was planned.
    let mut unreachable: Vec<String> = Vec::new();
    let mut failover_moves: Vec<Failover> = Vec::new();
    let host_changes: Vec<HostWork>;
    let (run_id, plan, resumed) = match inv.open_run(&desired_fp).await? {
        Some(open) if saved.is_none() => {
            let plan: planner::plan::Plan =
                serde_json::from_str(&open.plan).context("reading the unfinished run's plan")?;
            eprintln!(
                "resuming run {} (started by {}): steps already done are not repeated",
                open.run_id, open.actor
            );
            // The hosts come after the node waves, as in a new run.
            host_changes = host_work(&inv, &desired).await?;
            print!("{}", host_work_text(&host_changes));
            (open.run_id, plan, true)
        }
        _ => {
            // The configuration loaded above, with --max-parallel applied, is what gets planned.
            let p = run::prepare_loaded(
                loaded,
                desired.clone(),
                &applied,
                observe_opts(a.concurrency, a.bmc_timeout),
            )
            .await?;
            if let Some(s) = &saved {
                if s.desired != desired_fp {
                    bail!("the saved plan {} was made for another configuration: run bmplan plan again", a.target.display());
                }
                if s.plan.observed_fingerprint != p.plan.observed_fingerprint {
                    bail!(
                        "the saved plan {} is stale: the live state has changed since it was made; run bmplan plan again",
                        a.target.display()
                    );
                }
            }
            let plan = saved
                .as_ref()
                .map(|s| s.plan.clone())
                .unwrap_or(p.plan.clone());
            print!("{}", report::plan_text(&p, style()));
            let moves = failovers(&inv).await?;
            print!("{}", failover_text(&moves));
            let hosts = host_work(&inv, &p.desired).await?;
            if let Some(s) = &saved {
                if s.hosts != host_change_lines(&hosts) {
                    bail!(
                        "the saved plan {} is stale: its hosts now need other changes; run bmplan plan again",
                        a.target.display()
                    );
                }
            }
            print!("{}", host_work_text(&hosts));
            unreachable = p.diff.unreachable.keys().cloned().collect();
            if plan.is_empty() {
                if moves.iter().any(|m| m.to.is_some()) || hosts.iter().any(|w| w.change.is_some())
                {
                    confirm(a.auto_approve || saved.is_some())?;
                    perform_host_actions(&inv, &moves, &hosts, desired.max_parallel, wait_timeout)
                        .await?;
                }
                return unreachable_is_an_error(&p);
            }
            failover_moves = moves;
            host_changes = hosts;
            confirm(a.auto_approve || saved.is_some())?;
            let run_id = format!(
                "run-{}-{}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or_default(),
                std::process::id()
            );
            inv.start_run(&run_id, &desired_fp, &serde_json::to_string(&plan)?)
                .await?;
            (run_id, plan, false)
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
    let started = Instant::now();
    let report = apply::apply(&inv, &desired, &plan, &run_id, opts).await?;
    let status = if report.ok() {
        "succeeded"
    } else if report.stopped_by_window.is_some() {
        "stopped"
    } else {
        "failed"
    };
    let summary = format!(
        "{} steps succeeded, {} already done, {} failed, {} skipped in {:.1}s",
        report.succeeded.len(),
        report.already_done.len(),
        report.failed.len(),
        report.skipped.len(),
        started.elapsed().as_secs_f64()
    );
    if status != "stopped" {
        inv.finish_run(&run_id, status, &summary).await?;
    }
    println!(
        "\nApply {status}{}: {summary}.",
        if resumed { " (resumed)" } else { "" }
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
    perform_host_actions(
        &inv,
        &failover_moves,
        &host_changes,
        desired.max_parallel,
        wait_timeout,
    )
    .await?;
    if !unreachable.is_empty() {
        bail!(
            "{} devices could not be read and were not changed: {}",
            unreachable.len(),
            unreachable.join(", ")
        );
    }
    Ok(())
}

pub async fn drift(inv_args: &InventoryArgs, a: DriftArgs) -> anyhow::Result<()> {
    let inv = inv_args.open().await?;
    let applied = inv.applied_state().await?;
    let (loaded, desired) = load_with_hosts(&inv, &a.dir, &a.vars.options()?).await?;
    let p = run::prepare_loaded(
        loaded,
        desired,
        &applied,
        observe_opts(planner::observe::DEFAULT_CONCURRENCY, a.bmc_timeout),
    )
    .await?;
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
