//! The executor: walks a plan's waves, journaling every step before and after it runs.
//!
//! - A wave's nodes run their chains concurrently, each under a lease in the inventory, so two applies
//!   never work on one node; the wave's switch batches follow.
//! - Transient faults are retried with backoff; a failed step makes everything downstream of it skip,
//!   and the report says what and why.
//! - A failure budget (`max_failures`) lets the rolling waves go on while at most that many nodes
//!   have failed: later waves start, and a wave's switch batches leave out the failed nodes' ports.
//!   A failed switch batch always stops the waves after it (the switch's state is then unknown).
//! - A killed apply resumes its run: steps that succeeded are not run again, and a reset that had
//!   started is issued again only if the node shows that the staged work is still pending.
//! - A window guard refuses to start a disruptive wave that would not finish, by the estimates, before
//!   the window closes.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::bmc::{
    ApplyTime, Bmc, BmcError, BootMode, BootPersistence, BootTarget, Limits, PowerAction,
    PowerState, Purpose,
};
use crate::drivers::Drivers;
use crate::inventory::{Inventory, InventoryError, StepStatus};
use crate::model::{Desired, NodeSpec};
use crate::observe::{endpoint, switch_endpoint};
use crate::plan::{Action, Plan, Step, Wave};
use crate::switch;

/// What the executor reports as it goes, for progress bars or log lines.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Progress {
    Wave {
        index: usize,
        of: usize,
        domain: String,
        nodes: usize,
    },
    Started {
        step: String,
    },
    Retrying {
        step: String,
        attempt: u32,
        error: String,
    },
    Succeeded {
        step: String,
    },
    Failed {
        step: String,
        error: String,
    },
    Skipped {
        step: String,
        reason: String,
    },
    AlreadyDone {
        step: String,
    },
}

/// One line per event, as `bmplan apply` logs progress when stderr is not a terminal.
impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Progress::Wave {
                index,
                of,
                domain,
                nodes,
            } => write!(f, "wave {index}/{of} started: {domain}, {nodes} nodes"),
            Progress::Started { step } => write!(f, "step {step} started"),
            Progress::Succeeded { step } => write!(f, "step {step} succeeded"),
            Progress::AlreadyDone { step } => {
                write!(f, "step {step} already done in this run: not repeated")
            }
            Progress::Retrying {
                step,
                attempt,
                error,
            } => write!(f, "step {step} retry {attempt}: {error}"),
            Progress::Failed { step, error } => write!(f, "step {step} failed: {error}"),
            Progress::Skipped { step, reason } => write!(f, "step {step} {reason}"),
        }
    }
}

impl Progress {
    /// Whether the event ends a step (a progress bar advances by one).
    pub fn ends_a_step(&self) -> bool {
        matches!(
            self,
            Progress::Succeeded { .. }
                | Progress::AlreadyDone { .. }
                | Progress::Skipped { .. }
                | Progress::Failed { .. }
        )
    }
}

#[derive(Clone)]
pub struct ApplyOptions {
    /// Nodes worked on at once (a wave never holds more than the plan's `max_parallel`).
    pub max_parallel: usize,
    pub limits: Limits,
    /// Step attempts for transient faults (the first included).
    pub attempts: u32,
    pub backoff: Duration,
    /// Longest a reset and a wait may take.
    pub power_timeout: Duration,
    pub wait_timeout: Duration,
    pub poll: Duration,
    /// How long to look for signs (a power transition, the staged work applied) that a reset
    /// whose request got no answer happened, before sending it again.
    pub reset_grace: Duration,
    /// Refuse to start a disruptive wave that would end after this instant.
    pub window_end: Option<Instant>,
    /// Nodes that may fail before later waves stop starting (0: the first failure stops them).
    pub max_failures: usize,
    pub lease_ttl: Duration,
    /// A holder under which the caller already holds the nodes' leases (a host's deployment,
    /// around the converge runs within it): the run takes its leases under that name and leaves
    /// them held when it ends.
    pub held_lease: Option<String>,
    pub progress: Arc<dyn Fn(&Progress) + Send + Sync>,
    /// Where BMC and switch clients come from.
    pub drivers: Arc<dyn Drivers>,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        ApplyOptions {
            max_parallel: 50,
            limits: Limits::default(),
            attempts: 3,
            backoff: Duration::from_millis(500),
            power_timeout: Duration::from_secs(600),
            wait_timeout: Duration::from_secs(1800),
            poll: Duration::from_millis(500),
            reset_grace: Duration::from_secs(10),
            window_end: None,
            max_failures: 0,
            lease_ttl: Duration::from_secs(3600),
            held_lease: None,
            progress: Arc::new(|_| {}),
            drivers: crate::drivers::wired(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ApplyReport {
    pub run_id: String,
    pub succeeded: Vec<String>,
    pub already_done: Vec<String>,
    pub failed: Vec<(String, String)>,
    pub skipped: Vec<(String, String)>,
    /// Waves not started because the window would close first.
    pub stopped_by_window: Option<String>,
}

impl ApplyReport {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.skipped.is_empty() && self.stopped_by_window.is_none()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error("{0}")]
    Plan(String),
}

/// Whether an error is worth retrying: the device may answer next time.
fn transient(e: &BmcError) -> bool {
    match e {
        BmcError::Transport { .. } | BmcError::Unreachable { .. } | BmcError::Timeout { .. } => {
            true
        }
        BmcError::Status { status, .. } => *status >= 500 || *status == 409 || *status == 429,
        _ => false,
    }
}

/// Everything staged for the next reset has been applied (used to tell whether a reset that was
/// started before a crash happened, and by the wait step).
async fn staged_work_done(bmc: &dyn Bmc, sys: &str, n: &NodeSpec) -> Result<bool, BmcError> {
    let Some(p) = &n.profile else {
        return Ok(true);
    };
    if !p.bios.is_empty() {
        let b = bmc.bios(sys).await?;
        if !b.pending.is_empty() {
            return Ok(false);
        }
    }
    if let Some(want) = p.secure_boot {
        let sb = bmc.secure_boot(sys).await?;
        if sb.current.is_some_and(|c| c != want) {
            return Ok(false);
        }
    }
    if !p.firmware.is_empty() {
        let inv = bmc.firmware_inventory().await?;
        let behind = p.firmware.iter().any(|f| {
            !inv.iter()
                .any(|x| x.id == f.component && x.version.as_deref() == Some(f.version.as_str()))
        });
        if behind {
            return Ok(false);
        }
    }
    if let Some(raid) = &p.raid {
        let vols = bmc.volumes(sys).await?;
        let names: BTreeSet<&str> = vols.iter().filter_map(|v| v.name.as_deref()).collect();
        if raid.iter().any(|v| !names.contains(v.name.as_str())) {
            return Ok(false);
        }
        if vols.len() != raid.len() {
            return Ok(false);
        }
    }
    Ok(true)
}

async fn run_node_step(
    bmc: &dyn Bmc,
    n: &NodeSpec,
    step: &Step,
    resumed_reset: bool,
    opts: &ApplyOptions,
) -> Result<(), BmcError> {
    let sys = step.system_id.clone().unwrap_or_default();
    match &step.action {
        // Each staging step first reads what is already live or staged, so a retry after a
        // request that got no answer (did the BMC act?) never stages the same work twice.
        Action::DeleteVolumes { volumes } => {
            let staged = staged_or_none(bmc).await;
            let existing = bmc.volumes(&sys).await?;
            for v in volumes {
                let gone = !existing.iter().any(|e| &e.id == v);
                if gone
                    || staged
                        .iter()
                        .any(|t| t.deleted_volume() == Some(v.as_str()))
                {
                    continue;
                }
                bmc.delete_volume(&sys, v, ApplyTime::OnReset).await?;
            }
            Ok(())
        }
        Action::CreateVolumes { volumes } => {
            let staged = staged_or_none(bmc).await;
            let existing = bmc.volumes(&sys).await?;
            for v in volumes {
                let there = existing
                    .iter()
                    .any(|e| e.name.as_deref() == Some(v.name.as_str()));
                let pending = staged
                    .iter()
                    .any(|t| t.created_volume().is_some_and(|(name, _)| name == v.name));
                if there || pending {
                    continue;
                }
                bmc.create_volume(&sys, v, ApplyTime::OnReset).await?;
            }
            Ok(())
        }
        Action::StageBios { values } => bmc.stage_bios(&sys, values).await,
        Action::UpdateFirmware { updates } => {
            let staged = staged_or_none(bmc).await;
            for (image, component) in updates {
                if staged
                    .iter()
                    .any(|t| t.firmware_image() == Some(image.as_str()))
                {
                    continue;
                }
                let target = format!("/redfish/v1/UpdateService/FirmwareInventory/{component}");
                bmc.update_firmware(image, &[target], ApplyTime::OnReset)
                    .await?;
            }
            Ok(())
        }
        Action::SetBootMode { mode } => {
            let m = if mode == "Legacy" {
                BootMode::Legacy
            } else {
                BootMode::Uefi
            };
            bmc.set_boot_override(&sys, BootTarget::None, BootPersistence::Once, Some(m))
                .await
        }
        Action::SetSecureBoot { enabled } => bmc.set_secure_boot(&sys, *enabled).await,
        Action::Reset => {
            // A reset the killed run may have sent is treated like one whose answer was lost:
            // watched for, and sent only if the node shows no sign of it.
            if resumed_reset && reset_seen(bmc, &sys, n, opts).await {
                return Ok(());
            }
            match bmc.power_state(&sys).await? {
                PowerState::Off => bmc.power(&sys, PowerAction::On, opts.power_timeout).await,
                _ => reset_once(bmc, &sys, n, opts).await,
            }
        }
        Action::Wait => {
            let deadline = Instant::now() + opts.wait_timeout;
            loop {
                let (power, health) = bmc.power_and_health(&sys).await?;
                let healthy = health.as_deref() != Some("Critical");
                if power == PowerState::On && healthy && staged_work_done(bmc, &sys, n).await? {
                    return Ok(());
                }
                if power == PowerState::On && !healthy && staged_work_done(bmc, &sys, n).await? {
                    return Err(BmcError::Invalid {
                        bmc: n.bmc_url.clone(),
                        operation: "the health check after the reset".into(),
                        problems: vec!["the system reports Critical health".into()],
                    });
                }
                if Instant::now() >= deadline {
                    return Err(BmcError::Timeout {
                        bmc: n.bmc_url.clone(),
                        operation: "waiting for the staged settings to apply".into(),
                        after: opts.wait_timeout,
                    });
                }
                tokio::time::sleep(opts.poll).await;
            }
        }
        Action::SwitchBatch { .. } => unreachable!("switch steps run elsewhere"),
    }
}

/// Takes the leases on a server for `holder`: its BMC's first (every node has one, enrolled or
/// not), then the enrolled node's. A lease whose holder died on this host is taken over. On a
/// refusal nothing this call took stays held; leases the caller already held (`held`: a host
/// operation around this run) are left alone.
pub(crate) async fn take_leases(
    inv: &Inventory,
    device: &str,
    node: &str,
    holder: &str,
    purpose: &str,
    ttl: Duration,
    held: bool,
) -> std::result::Result<(), InventoryError> {
    let taken = async {
        match inv
            .acquire_device_lease(device, node, holder, purpose, ttl)
            .await
        {
            Err(InventoryError::LeaseHeld { holder: old, .. }) if holder_died(&old) => take_over(
                inv.take_over_device_lease(device, &old, holder, ttl).await,
                &old,
            )?,
            other => {
                other?;
            }
        }
        let node_lease = match inv.acquire_lease(node, holder, purpose, ttl).await {
            // Nodes only in the configuration (not enrolled) have the BMC lease only.
            Ok(_) | Err(InventoryError::NotFound { .. }) => Ok(()),
            Err(InventoryError::LeaseHeld { holder: old, .. }) if holder_died(&old) => {
                take_over(inv.take_over_lease(node, &old, holder, ttl).await, &old)
            }
            Err(e) => Err(e),
        };
        if node_lease.is_err() && !held {
            let _ = inv.release_device_lease(device, holder).await;
        }
        node_lease
    }
    .await;
    // A refusal is audited: who wanted the server, for what, and who holds it.
    if let Err(e @ InventoryError::LeaseHeld { .. }) = &taken {
        let reason = format!("{holder} wanted it for {purpose}: {e}");
        inv.record_denied(
            crate::project::Object::Node,
            "lease.acquire",
            node,
            None,
            &reason,
        )
        .await?;
    }
    taken
}

/// Gives back what [`take_leases`] took.
pub(crate) async fn release_leases(inv: &Inventory, device: &str, node: &str, holder: &str) {
    let _ = inv.release_lease(node, holder).await;
    let _ = inv.release_device_lease(device, holder).await;
}

/// Who holds a lease: the run, the host and the process (`run@host:pid`), so a runner on the same
/// host can tell a holder that died (`kill -9`) from one still at work.
pub(crate) fn lease_holder(run_id: &str) -> String {
    format!("{run_id}@{}:{}", host_name(), std::process::id())
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

/// A holder on this host whose process is gone. A holder on another host (or in an older format) is
/// never judged dead: its lease runs out instead.
fn holder_died(holder: &str) -> bool {
    let Some((_, at)) = holder.rsplit_once('@') else {
        return false;
    };
    let Some((host, pid)) = at.rsplit_once(':') else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    host == host_name()
        && pid != std::process::id()
        && !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// The outcome of taking over a dead holder's lease; losing the compare-and-swap means another
/// runner took it first.
fn take_over(
    r: std::result::Result<bool, InventoryError>,
    dead: &str,
) -> std::result::Result<(), InventoryError> {
    match r {
        Ok(true) => {
            tracing::info!(holder = dead, "took over the lease of a runner that died");
            Ok(())
        }
        Ok(false) => Err(InventoryError::Conflict {
            detail: format!("another runner took over the lease {dead} held first"),
        }),
        Err(e) => Err(e),
    }
}

/// The key of a BMC's lease: its origin (scheme, host, port), lowercased, so two spellings of
/// one BMC's URL (a trailing slash, a path) are one device; and the system, when one is named, so
/// the servers of a BMC that manages several (a chassis manager, sushy-emulator over libvirt) are
/// changed at once, each under its own lease.
pub fn device_key(bmc_url: &str, system_id: Option<&str>) -> String {
    match system_id.filter(|s| !s.is_empty()) {
        Some(s) => format!("{}#{s}", crate::bmc::origin(bmc_url)),
        None => crate::bmc::origin(bmc_url),
    }
}

/// What the BMC has staged for the next reset; a BMC that will not say has nothing we can see.
async fn staged_or_none(bmc: &dyn Bmc) -> Vec<crate::bmc::StagedTask> {
    bmc.staged_tasks().await.unwrap_or_default()
}

/// Resets the node once. A reset request that gets no answer (the connection dropped or timed
/// out) may or may not have been acted on, and a second reset would break "one reset per node":
/// so the node is watched for `reset_grace` first — a power transition, or the staged work
/// applied, means the reset happened — and the reset is sent again only when neither shows.
async fn reset_once(
    bmc: &dyn Bmc,
    sys: &str,
    n: &NodeSpec,
    opts: &ApplyOptions,
) -> Result<(), BmcError> {
    let mut attempt = 1;
    loop {
        match bmc
            .power(sys, PowerAction::ForceReboot, opts.power_timeout)
            .await
        {
            Err(e) if e.is_unreachable() && attempt < opts.attempts.max(1) => {
                tracing::warn!(bmc = %n.bmc_url, node = %n.name, error = %e, "the reset got no answer; checking whether it happened");
                if reset_seen(bmc, sys, n, opts).await {
                    tracing::info!(node = %n.name, "the unanswered reset happened; not sending it again");
                    return Ok(());
                }
                tracing::warn!(node = %n.name, "no sign of the unanswered reset; sending it again");
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Whether a reset that may have been sent shows on the node within `reset_grace`: a power
/// transition under way, or the staged work applied. The power state is read before the staged
/// work, so a reset that completes between the two reads is still seen.
async fn reset_seen(bmc: &dyn Bmc, sys: &str, n: &NodeSpec, opts: &ApplyOptions) -> bool {
    let deadline = Instant::now() + opts.reset_grace;
    loop {
        let power = bmc.power_state(sys).await;
        if matches!(power, Ok(PowerState::PoweringOff | PowerState::PoweringOn)) {
            return true;
        }
        if matches!(power, Ok(PowerState::On))
            && staged_work_done(bmc, sys, n).await.unwrap_or(false)
        {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(opts.poll).await;
    }
}

/// Runs one node's chain of steps in order.
async fn run_node(
    inv: Inventory,
    run_id: String,
    n: NodeSpec,
    steps: Vec<Step>,
    journal: Arc<BTreeMap<String, StepStatus>>,
    opts: ApplyOptions,
) -> Vec<(String, Result<bool, String>)> {
    let mut out = Vec::new();
    let progress = opts.progress.clone();
    let bmc = match opts.drivers.bmc(endpoint(&n, opts.limits), Purpose::Change) {
        Ok(b) => b,
        Err(e) => {
            for s in steps {
                out.push((s.id, Err(e.to_string())));
            }
            return out;
        }
    };
    let mut failed: Option<String> = None;
    for s in steps {
        if let Some(f) = &failed {
            let reason = format!("skipped: {f} failed");
            progress(&Progress::Skipped {
                step: s.id.clone(),
                reason: reason.clone(),
            });
            let _ = inv
                .journal(
                    &run_id,
                    &s.id,
                    Some(&n.name),
                    StepStatus::Skipped,
                    Some(&reason),
                )
                .await;
            out.push((s.id, Err(reason)));
            continue;
        }
        let previous = journal.get(&s.id).copied();
        if previous == Some(StepStatus::Succeeded) {
            progress(&Progress::AlreadyDone { step: s.id.clone() });
            out.push((s.id, Ok(false)));
            continue;
        }
        let resumed_reset = s.action == Action::Reset && previous.is_some();
        progress(&Progress::Started { step: s.id.clone() });
        if let Err(e) = inv
            .journal(&run_id, &s.id, Some(&n.name), StepStatus::Started, None)
            .await
        {
            failed = Some(s.id.clone());
            out.push((s.id, Err(e.to_string())));
            continue;
        }
        let mut attempt = 1;
        let result = loop {
            match run_node_step(bmc.as_ref(), &n, &s, resumed_reset, &opts).await {
                Ok(()) => break Ok(()),
                Err(e) if transient(&e) && attempt < opts.attempts && s.action != Action::Reset => {
                    progress(&Progress::Retrying {
                        step: s.id.clone(),
                        attempt,
                        error: e.to_string(),
                    });
                    tokio::time::sleep(opts.backoff * 2u32.pow(attempt - 1)).await;
                    attempt += 1;
                }
                Err(e) => break Err(e.to_string()),
            }
        };
        match result {
            Ok(()) => {
                let _ = inv
                    .journal(&run_id, &s.id, Some(&n.name), StepStatus::Succeeded, None)
                    .await;
                progress(&Progress::Succeeded { step: s.id.clone() });
                out.push((s.id, Ok(true)));
            }
            Err(e) => {
                let _ = inv
                    .journal(&run_id, &s.id, Some(&n.name), StepStatus::Failed, Some(&e))
                    .await;
                progress(&Progress::Failed {
                    step: s.id.clone(),
                    error: e.clone(),
                });
                failed = Some(s.id.clone());
                out.push((s.id, Err(e)));
            }
        }
    }
    bmc.logout().await;
    out
}

/// Applies `plan` as run `run_id` (a new run, or one being resumed).
pub async fn apply(
    inv: &Inventory,
    desired: &Desired,
    plan: &Plan,
    run_id: &str,
    opts: ApplyOptions,
) -> Result<ApplyReport, ApplyError> {
    let mut run = Executor::new(inv, desired, plan, run_id, opts).await?;
    let of = plan.waves.len();
    for w in &plan.waves {
        let wave_steps: Vec<&Step> = plan.steps.iter().filter(|s| s.wave == w.index).collect();
        if let Some(why) = run.outlasts_window(w, &wave_steps) {
            run.report.stopped_by_window = Some(why);
            break;
        }
        (run.opts.progress)(&Progress::Wave {
            index: w.index,
            of,
            domain: w.domain.clone(),
            nodes: w.nodes.len(),
        });
        let nodes = run.node_chains(w, &wave_steps).await?;
        let failed_so_far: BTreeSet<String> =
            run.failed_nodes.union(&nodes.failed).cloned().collect();
        let not_done: BTreeSet<String> = failed_so_far
            .iter()
            .chain(run.skipped_nodes.iter())
            .chain(nodes.skipped.iter())
            .cloned()
            .collect();
        // The wave's switch batches, after its nodes.
        for s in wave_steps.iter().filter(|s| s.switch.is_some()) {
            run.switch_batch(s, failed_so_far.len(), &not_done).await?;
        }
        run.record_nodes(&nodes).await?;
        run.failed_nodes.extend(nodes.failed);
        run.skipped_nodes.extend(nodes.skipped);
    }
    Ok(run.report)
}

/// How a wave's node chains ended, by node.
#[derive(Default)]
struct WaveNodes {
    ok: BTreeSet<String>,
    failed: BTreeSet<String>,
    skipped: BTreeSet<String>,
}

/// One run being carried out: what it was given, and what it has seen so far.
struct Executor<'a> {
    inv: &'a Inventory,
    desired: &'a Desired,
    plan: &'a Plan,
    run_id: &'a str,
    opts: ApplyOptions,
    /// What earlier attempts of this run journaled, by step.
    journal: Arc<BTreeMap<String, StepStatus>>,
    /// Who holds the leases of this run's nodes.
    holder: String,
    switch_steps: BTreeSet<String>,
    report: ApplyReport,
    failed_steps: BTreeSet<String>,
    /// Of those, the steps that did not run because something before them failed.
    skipped_steps: BTreeSet<String>,
    /// Nodes that failed so far (what the failure budget counts), and nodes that were skipped.
    failed_nodes: BTreeSet<String>,
    skipped_nodes: BTreeSet<String>,
}

impl<'a> Executor<'a> {
    async fn new(
        inv: &'a Inventory,
        desired: &'a Desired,
        plan: &'a Plan,
        run_id: &'a str,
        opts: ApplyOptions,
    ) -> Result<Executor<'a>, ApplyError> {
        let journal = Arc::new(inv.step_states(run_id).await?);
        let holder = opts
            .held_lease
            .clone()
            .unwrap_or_else(|| lease_holder(run_id));
        Ok(Executor {
            inv,
            desired,
            plan,
            run_id,
            journal,
            holder,
            switch_steps: plan
                .steps
                .iter()
                .filter(|s| s.switch.is_some())
                .map(|s| s.id.clone())
                .collect(),
            report: ApplyReport {
                run_id: run_id.to_string(),
                ..ApplyReport::default()
            },
            opts,
            failed_steps: BTreeSet::new(),
            skipped_steps: BTreeSet::new(),
            failed_nodes: BTreeSet::new(),
            skipped_nodes: BTreeSet::new(),
        })
    }

    /// Why wave `w` is not started: it has disruptive work left that would end past the window.
    fn outlasts_window(&self, w: &Wave, wave_steps: &[&Step]) -> Option<String> {
        let end = self.opts.window_end?;
        let pending_here = wave_steps
            .iter()
            .any(|s| self.journal.get(&s.id) != Some(&StepStatus::Succeeded));
        let est = self.plan.wave_estimate_s(w);
        let disruptive = wave_steps.iter().any(|s| s.action.disruptive());
        (pending_here && disruptive && Instant::now() + Duration::from_secs(est) > end).then(|| {
            format!(
                "wave {} ({} nodes of {}) would take about {est}s by the estimates, past the end of the window; \
                 it and the waves after it were not started",
                w.index,
                w.nodes.len(),
                w.domain
            )
        })
    }

    /// The wave's node chains, concurrently, each under a lease; their results in the report.
    async fn node_chains(
        &mut self,
        w: &Wave,
        wave_steps: &[&Step],
    ) -> Result<WaveNodes, ApplyError> {
        let opts = &self.opts;
        let sem = Arc::new(tokio::sync::Semaphore::new(opts.max_parallel.max(1)));
        let mut tasks = tokio::task::JoinSet::new();
        let mut spawned: BTreeSet<String> = BTreeSet::new();
        for node in &w.nodes {
            let steps: Vec<Step> = wave_steps
                .iter()
                .filter(|s| s.node.as_deref() == Some(node))
                .map(|s| (*s).clone())
                .collect();
            if steps.is_empty() {
                continue;
            }
            // The node's first step waits for the wave before it. A failed node there blocks it
            // only once the failure budget is spent; a failed switch batch always does.
            let within_budget = self.failed_nodes.len() <= opts.max_failures;
            let blocked = blocker(
                &steps[0].after,
                &self.failed_steps,
                &self.skipped_steps,
                |a| !within_budget || self.switch_steps.contains(a),
            )
            .map(|a| {
                budget_note(
                    a,
                    !self.skipped_steps.contains(a),
                    self.switch_steps.contains(a),
                    self.failed_nodes.len(),
                    opts.max_failures,
                )
            });
            let Some(spec) = self.desired.nodes.get(node).cloned() else {
                return Err(ApplyError::Plan(format!(
                    "the plan names node {node}, which the configuration no longer has"
                )));
            };
            let inv = self.inv.clone();
            let run = self.run_id.to_string();
            let journal = self.journal.clone();
            let opts = opts.clone();
            let holder = self.holder.clone();
            let sem = sem.clone();
            spawned.insert(node.clone());
            tasks.spawn(async move {
                let _permit = sem.acquire_owned().await;
                if let Some(b) = blocked {
                    return steps
                        .into_iter()
                        .map(|s| (s.id, Err(format!("skipped: {b}"))))
                        .collect::<Vec<_>>();
                }
                // The system as configured, else as enrolled: the key host operations use too.
                let system = match &spec.system_id {
                    Some(s) => Some(s.clone()),
                    None => inv.node(&spec.name).await.ok().map(|r| r.system_id),
                };
                let device = device_key(&spec.bmc_url, system.as_deref());
                let keep = opts.held_lease.is_some();
                let leased = take_leases(
                    &inv,
                    &device,
                    &spec.name,
                    &holder,
                    "apply",
                    opts.lease_ttl,
                    keep,
                )
                .await;
                if let Err(e) = leased {
                    let msg = e.to_string();
                    (opts.progress)(&Progress::Failed {
                        step: steps[0].id.clone(),
                        error: msg.clone(),
                    });
                    return steps
                        .into_iter()
                        .map(|s| (s.id, Err(msg.clone())))
                        .collect();
                }
                let r = run_node(inv.clone(), run, spec.clone(), steps, journal, opts).await;
                if !keep {
                    release_leases(&inv, &device, &spec.name, &holder).await;
                }
                r
            });
        }
        let mut nodes = WaveNodes::default();
        while let Some(joined) = tasks.join_next().await {
            let Ok(results) = joined else { continue };
            for (id, r) in results {
                let node = id.split('/').next().unwrap_or_default().to_string();
                match r {
                    Ok(true) => {
                        self.report.succeeded.push(id);
                        nodes.ok.insert(node);
                    }
                    Ok(false) => {
                        self.report.already_done.push(id);
                        nodes.ok.insert(node);
                    }
                    Err(e) if e.starts_with("skipped: ") => {
                        self.failed_steps.insert(id.clone());
                        self.skipped_steps.insert(id.clone());
                        nodes.skipped.insert(node);
                        self.report.skipped.push((id, e));
                    }
                    Err(e) => {
                        self.failed_steps.insert(id.clone());
                        nodes.failed.insert(node);
                        self.report.failed.push((id, e));
                    }
                }
            }
        }
        // A node whose task ended without results (it panicked) failed, whatever it did.
        for n in &spawned {
            if !nodes.ok.contains(n) && !nodes.failed.contains(n) && !nodes.skipped.contains(n) {
                nodes.failed.insert(n.clone());
                self.report.failed.push((
                    format!("{n}/*"),
                    "the node's task ended without a result".to_string(),
                ));
            }
        }
        Ok(nodes)
    }

    /// Why switch batch `s` does not run, if it does not: something before it failed or was
    /// skipped. With budget left (`failed_so_far` nodes failed), the failed nodes' ports are left
    /// out and the rest of the batch runs; a batch that says whose its changes are not (the
    /// releases, or a plan saved before batches said) is held back by any node not done.
    fn batch_skip(
        &self,
        s: &Step,
        failed_so_far: usize,
        not_done: &BTreeSet<String>,
    ) -> Option<String> {
        let within_budget = failed_so_far <= self.opts.max_failures;
        let attributed = !s.owners.is_empty();
        let blocked_by = blocker(&s.after, &self.failed_steps, &self.skipped_steps, |a| {
            !within_budget || !attributed || self.switch_steps.contains(a)
        });
        let held_back = |n: usize| {
            if s.id.ends_with("/release") {
                format!(
                    "skipped: {n} node(s) are not done in this run; what removed resources left on the switch is released once every node is"
                )
            } else {
                format!("skipped: {n} node(s) are not done in this run, and this batch does not say whose its changes are (a plan saved by an older bmplan)")
            }
        };
        match blocked_by {
            // Held back only because the batch is not attributed to nodes.
            Some(b) if within_budget && !self.switch_steps.contains(b) => {
                Some(held_back(not_done.len()))
            }
            Some(b) => Some(format!(
                "skipped: {}",
                budget_note(
                    b,
                    !self.skipped_steps.contains(b),
                    self.switch_steps.contains(b),
                    failed_so_far,
                    self.opts.max_failures
                )
            )),
            // Releases undo what removed resources left; a left-out node may still use it.
            None if !attributed && !not_done.is_empty() => Some(held_back(not_done.len())),
            None => None,
        }
    }

    /// Runs switch batch `s` (or records why not), without the ports of nodes not done.
    async fn switch_batch(
        &mut self,
        s: &Step,
        failed_so_far: usize,
        not_done: &BTreeSet<String>,
    ) -> Result<(), ApplyError> {
        let (inv, run_id, progress) = (self.inv, self.run_id, self.opts.progress.clone());
        if self.journal.get(&s.id) == Some(&StepStatus::Succeeded) {
            progress(&Progress::AlreadyDone { step: s.id.clone() });
            self.report.already_done.push(s.id.clone());
            return Ok(());
        }
        if let Some(reason) = self.batch_skip(s, failed_so_far, not_done) {
            progress(&Progress::Skipped {
                step: s.id.clone(),
                reason: reason.clone(),
            });
            inv.journal(run_id, &s.id, None, StepStatus::Skipped, Some(&reason))
                .await?;
            self.failed_steps.insert(s.id.clone());
            self.skipped_steps.insert(s.id.clone());
            self.report.skipped.push((s.id.clone(), reason));
            return Ok(());
        }
        let sw_name = s.switch.clone().unwrap_or_default();
        let Some(spec) = self.desired.switches.get(&sw_name) else {
            return Err(ApplyError::Plan(format!(
                "the plan names switch {sw_name}, which the configuration no longer has"
            )));
        };
        let Action::SwitchBatch { changes } = &s.action else {
            return Ok(());
        };
        let left_out: Vec<&String> = s.owners.keys().filter(|n| not_done.contains(*n)).collect();
        let dropped: BTreeSet<usize> = left_out
            .iter()
            .flat_map(|n| s.owners[*n].iter().copied())
            .collect();
        let kept: Vec<switch::Change> = changes
            .iter()
            .enumerate()
            .filter(|(i, _)| !dropped.contains(i))
            .map(|(_, c)| c.clone())
            .collect();
        if !left_out.is_empty() {
            let names: Vec<&str> = left_out.iter().map(|n| n.as_str()).collect();
            let reason = format!(
                "the ports of {} left out (not done; within the failure budget of {})",
                names.join(", "),
                self.opts.max_failures
            );
            // Reported, not a step of its own (the progress bar counts steps).
            self.report
                .skipped
                .push((format!("{} ({})", s.id, names.join(", ")), reason));
        }
        if kept.is_empty() {
            return Ok(());
        }
        progress(&Progress::Started { step: s.id.clone() });
        inv.journal(run_id, &s.id, None, StepStatus::Started, None)
            .await?;
        let result = match self
            .opts
            .drivers
            .switch(&spec.driver, switch_endpoint(spec, Duration::from_secs(60)))
        {
            Ok(sw) => sw.apply(&kept).await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match result {
            Ok(()) if !left_out.is_empty() => {
                // Partly done: not journaled as succeeded, so a resume runs it whole, and the
                // switch's applied state is not recorded (its left-out ports are not there).
                let note = "ran without the ports left out; a resume runs the whole batch";
                inv.journal(run_id, &s.id, None, StepStatus::Skipped, Some(note))
                    .await?;
                progress(&Progress::Succeeded { step: s.id.clone() });
                self.report.succeeded.push(s.id.clone());
            }
            Ok(()) => {
                inv.journal(run_id, &s.id, None, StepStatus::Succeeded, None)
                    .await?;
                progress(&Progress::Succeeded { step: s.id.clone() });
                self.report.succeeded.push(s.id.clone());
                if let Some(state) = self.plan.applied.get(&format!("switch {sw_name}")) {
                    inv.record_applied(&format!("switch {sw_name}"), state, None, run_id)
                        .await?;
                }
            }
            Err(e) => {
                inv.journal(run_id, &s.id, None, StepStatus::Failed, Some(&e))
                    .await?;
                progress(&Progress::Failed {
                    step: s.id.clone(),
                    error: e.clone(),
                });
                self.failed_steps.insert(s.id.clone());
                self.report.failed.push((s.id.clone(), e));
            }
        }
        Ok(())
    }

    /// Records what the wave's nodes that ended well now hold (and held before).
    async fn record_nodes(&self, nodes: &WaveNodes) -> Result<(), ApplyError> {
        for n in nodes
            .ok
            .iter()
            .filter(|n| !nodes.failed.contains(*n) && !nodes.skipped.contains(*n))
        {
            if let Some(state) = self.plan.applied.get(n) {
                self.inv
                    .record_applied(n, state, self.plan.before.get(n), self.run_id)
                    .await?;
            }
        }
        Ok(())
    }
}

/// The step of `after` that keeps a step from running: one that failed (`blocks` says whether
/// it counts), a step that really failed before one that was itself skipped.
fn blocker<'a>(
    after: &'a [String],
    failed: &BTreeSet<String>,
    skipped: &BTreeSet<String>,
    blocks: impl Fn(&str) -> bool,
) -> Option<&'a str> {
    let mut counted = after
        .iter()
        .filter(|a| failed.contains(*a) && blocks(a.as_str()));
    let first = counted.clone().next();
    counted
        .find(|a| !skipped.contains(*a))
        .or(first)
        .map(String::as_str)
}

/// Why a step waits for good on `step`: its failure (or that it did not run), and the budget when
/// there is one.
fn budget_note(
    step: &str,
    ran: bool,
    is_switch: bool,
    failed_nodes: usize,
    max_failures: usize,
) -> String {
    let what = if ran {
        format!("{step} failed")
    } else {
        format!("{step} did not run")
    };
    if max_failures == 0 {
        what
    } else if is_switch && ran {
        format!("{what} (a failed switch batch stops the waves, whatever the budget)")
    } else {
        format!(
            "{what} ({failed_nodes} node(s) failed, more than the failure budget of {max_failures})"
        )
    }
}
