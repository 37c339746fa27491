//! `bmplan validate | plan | apply | drift`: parsing, confirmation, progress display and exit codes.
//! The work is the engine's (`planner::engine::Session`); this prints it.

use std::io::{IsTerminal, Write as _};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use planner::apply::{ApplyOptions, Progress};
use planner::cli::args::*;
use planner::cli::ChangesPresent;
use planner::engine::{Prepared, Run, SavedPlan, Session};
use planner::host::work::HostPass;
use planner::observe::{ObserveOptions, DEFAULT_CONCURRENCY};
use planner::report::{self, Style};
use planner::run::Staged;

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
    println!("{}", report::validate_summary(&desired));
    Ok(())
}

pub async fn plan(inv_args: &InventoryArgs, a: PlanArgs) -> anyhow::Result<()> {
    let inv = inv_args.open().await?;
    let session =
        Session::new(&inv).observing(ObserveOptions::bounded(a.concurrency, a.bmc_timeout));
    let opts = a.vars.options()?;
    let p = session.plan_config(&a.dir, &opts).await?;
    let hosts = session.host_pass(&p.desired).await?;
    if a.json {
        let doc = hosts.plan_json(&p);
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", report::plan_text(&p, style()));
        print!("{}", report::moves_text(&hosts.moves));
        print!("{}", hosts.work_text());
    }
    if let Some(out) = &a.out {
        let (saved, shown) = (
            SavedPlan::new(&a.dir, &opts, &p, &hosts.work),
            out.display(),
        );
        saved
            .write(out)
            .with_context(|| format!("writing {shown}"))?;
        eprintln!("saved the plan to {shown}; apply it with: bmplan apply {shown}");
    }
    unreachable_is_an_error(&p)?;
    if a.detailed_exitcode && (!p.plan.is_empty() || hosts.any_to_do()) {
        return Err(ChangesPresent.into());
    }
    Ok(())
}

/// A plan that could not see every device fails after it is shown.
fn unreachable_is_an_error(p: &Prepared) -> anyhow::Result<()> {
    p.unreachable_problem()
        .map_or(Ok(()), |e| Err(anyhow::Error::msg(e)))
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

/// Progress on a terminal: one bar for the steps, the wave as its message, failures and retries
/// above it; otherwise one line per event.
fn progress_sink(total_steps: usize) -> Arc<dyn Fn(&Progress) + Send + Sync> {
    if !std::io::stderr().is_terminal() {
        return Arc::new(|p: &Progress| eprintln!("apply: {p}"));
    }
    let bar = indicatif::ProgressBar::new(total_steps as u64);
    let style = indicatif::ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} steps {msg}",
    );
    bar.set_style(style.unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
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
            Progress::Failed { .. } | Progress::Retrying { .. } => b.println(p.to_string()),
            _ => {}
        }
        if p.ends_a_step() {
            b.inc(1);
        }
    })
}

pub async fn apply_cmd(inv_args: &InventoryArgs, a: ApplyArgs) -> anyhow::Result<()> {
    let inv = inv_args.open().await?;
    let session =
        Session::new(&inv).observing(ObserveOptions::bounded(a.concurrency, a.bmc_timeout));
    // The flags are judged before any device is read.
    let opts = a.apply_options(1)?;
    let staged = session
        .stage(&a.target, a.vars.options()?, a.max_parallel)
        .await?;
    let hosts = staged.hosts();
    let max_parallel = staged.desired().max_parallel;
    let opts = ApplyOptions {
        max_parallel,
        progress: progress_sink(staged.plan().steps.len()),
        ..opts
    };
    let wait_timeout = opts.wait_timeout;
    if let Staged::Resume { run_id, actor, .. } = &staged {
        eprintln!(
            "resuming run {run_id} (started by {actor}): steps already done are not repeated"
        );
    }
    if let Staged::New { prepared, .. } = &staged {
        print!("{}", report::plan_text(prepared, style()));
        print!("{}", report::moves_text(&hosts.moves));
    }
    print!("{}", hosts.work_text());
    if let Staged::New {
        prepared, saved, ..
    } = &staged
    {
        if staged.plan().is_empty() {
            if hosts.any_to_do() {
                confirm(a.auto_approve || *saved)?;
                host_work(&session, hosts, max_parallel, wait_timeout).await?;
            }
            return unreachable_is_an_error(prepared);
        }
        confirm(a.auto_approve || *saved)?;
    }
    let run = staged.run();
    let done = session
        .execute(staged.desired(), staged.plan(), &run, opts)
        .await?;
    let report = &done.report;
    let resumed = if matches!(run, Run::Resume(_)) {
        " (resumed)"
    } else {
        ""
    };
    println!(
        "\nApply {}{resumed}: {}.",
        done.status.as_str(),
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
    host_work(&session, hosts, max_parallel, wait_timeout).await?;
    let unreachable = staged.unreachable();
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
    let progress = planner::cli::operation::stderr_progress();
    let results = session
        .perform_hosts(hosts, max_parallel, timeout, progress)
        .await?;
    let failed = results.failed();
    let (count, failed) = (failed.len(), failed.join(", "));
    let (lines, failed_move) = results.lines();
    for line in lines {
        println!("{line}");
    }
    if let Some(e) = failed_move {
        return Err(e.into());
    }
    if !failed.is_empty() {
        bail!("{count} host(s) failed: {failed}");
    }
    Ok(())
}

pub async fn drift(inv_args: &InventoryArgs, a: DriftArgs) -> anyhow::Result<()> {
    let inv = inv_args.open().await?;
    let observe = ObserveOptions::bounded(DEFAULT_CONCURRENCY, a.bmc_timeout);
    let session = Session::new(&inv).observing(observe);
    let opts = a.vars.options()?;
    let p = session.plan_config(&a.dir, &opts).await?;
    let r = planner::drift::report(&p.desired, &p.diff);
    // A file gets no colour.
    let style = Style {
        color: style().color && a.output.is_none(),
    };
    planner::cli::output::emit(&a.output, &a.format.render(&r, style)?)?;
    let bad = r.drifted() || r.summary.nodes_unreachable + r.summary.ports_unreachable > 0;
    if a.detailed_exitcode && bad {
        return Err(ChangesPresent.into());
    }
    Ok(())
}
