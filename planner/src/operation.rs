//! Operations on a node on demand (the provider's actions, bmplan's `nodes` commands): its power
//! (on, off, a power cycle, a reboot), a firmware update, a restart of its BMC, its chassis
//! identify light. Each runs under the node's and its BMC's leases (so no apply or host operation
//! works on it meanwhile), is waited for, and is audited, as is every refusal (maintenance, a
//! lease held). Reading its system event log changes nothing and takes no lease.

use std::future::Future;
use std::time::Duration;

use crate::bmc::{
    ApplyTime, Bmc, BmcError, BootMode, BootPersistence, BootTarget, PowerAction, TaskRef,
};
use crate::inventory::{Inventory, InventoryError};
use crate::project::Object;

/// What to do with a node's power.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerChange {
    On,
    /// Graceful, then forced if the system does not stop.
    Off,
    /// Off (forced), then on.
    Cycle,
    /// A graceful restart, forced if the system does not stop.
    Reboot,
}

impl PowerChange {
    /// `on`, `off`, `cycle` or `reboot`.
    pub fn parse(s: &str) -> Option<PowerChange> {
        match s {
            "on" => Some(PowerChange::On),
            "off" => Some(PowerChange::Off),
            "cycle" => Some(PowerChange::Cycle),
            "reboot" => Some(PowerChange::Reboot),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PowerChange::On => "on",
            PowerChange::Off => "off",
            PowerChange::Cycle => "cycle",
            PowerChange::Reboot => "reboot",
        }
    }

    /// The BMC's actions, in order.
    fn actions(self) -> &'static [PowerAction] {
        match self {
            PowerChange::On => &[PowerAction::On],
            PowerChange::Off => &[PowerAction::Off],
            PowerChange::Cycle => &[PowerAction::ForceOff, PowerAction::On],
            PowerChange::Reboot => &[PowerAction::Reboot],
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OperationError {
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error("node {node} is in maintenance ({reason}): nothing is done to it")]
    Maintenance { node: String, reason: String },
    #[error("node {node}: {step}")]
    Bmc {
        node: String,
        step: String,
        #[source]
        source: BmcError,
    },
    /// A step failed; the detail is the BMC's error with any secret of the request masked.
    #[error("node {node}: {detail}")]
    Failed { node: String, detail: String },
    #[error("node {node}: it did not finish within {}s", .limit.as_secs())]
    Timeout { node: String, limit: Duration },
}

/// Progress lines, one per step.
pub type Progress<'a> = &'a (dyn Fn(String) + Send + Sync);

/// Runs `op` on `node`'s BMC under the node's and its BMC's leases, within `limit`; refused (and
/// audited) for a node in maintenance or held by someone else's lease; audited as `action` when
/// done. `what` says what it does, `who` who asks (both go into the leases and the audit log).
#[allow(clippy::too_many_arguments)]
async fn leased<'a, F, Fut>(
    inv: &'a Inventory,
    node: &'a str,
    action: &str,
    what: &str,
    who: &str,
    bmc_wide: bool,
    limit: Duration,
    op: F,
) -> Result<(), OperationError>
where
    F: FnOnce(Box<dyn Bmc>, String) -> Fut,
    Fut: Future<Output = Result<(), OperationError>> + 'a,
{
    let rec = inv.node(node).await?;
    if rec.maintenance {
        let reason = rec.maintenance_reason.unwrap_or_default();
        let why = format!("{what}: in maintenance ({reason})");
        inv.record_denied(Object::Node, action, node, None, &why)
            .await?;
        return Err(OperationError::Maintenance {
            node: node.to_string(),
            reason,
        });
    }
    // One holder per invocation: two at once on one node are two holders, the second refused.
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let holder = crate::apply::lease_holder(&format!("{who} #{n}"));
    let device = crate::apply::device_key(&rec.bmc_url, Some(&rec.system_id));
    let ttl = limit + Duration::from_secs(300);
    // Someone else's live lease is refused (and the refusal audited by the lease's own check).
    crate::apply::take_leases(inv, &device, node, &holder, what, ttl, false).await?;
    // What acts on the whole BMC (its restart, a firmware update) waits for none of the other
    // servers behind it: it holds their leases too.
    let mut siblings: Vec<(String, String)> = Vec::new();
    if bmc_wide {
        let origin = crate::bmc::origin(&rec.bmc_url);
        let all = inv.nodes(&crate::inventory::NodeFilter::default()).await?;
        for other in all
            .iter()
            .filter(|o| o.name != node && crate::bmc::origin(&o.bmc_url) == origin)
        {
            let key = crate::apply::device_key(&other.bmc_url, Some(&other.system_id));
            let taken =
                crate::apply::take_leases(inv, &key, &other.name, &holder, what, ttl, false).await;
            if let Err(e) = taken {
                for (k, n) in &siblings {
                    crate::apply::release_leases(inv, k, n, &holder).await;
                }
                crate::apply::release_leases(inv, &device, node, &holder).await;
                return Err(e.into());
            }
            siblings.push((key, other.name.clone()));
        }
    }
    let run = async {
        let (bmc, system) = connect(inv, node).await?;
        op(bmc, system).await
    };
    let done = tokio::time::timeout(limit, run).await;
    crate::apply::release_leases(inv, &device, node, &holder).await;
    for (k, n) in &siblings {
        crate::apply::release_leases(inv, k, n, &holder).await;
    }
    let done = match done {
        Err(_) => Err(OperationError::Timeout {
            node: node.to_string(),
            limit,
        }),
        Ok(r) => r,
    };
    match done {
        Err(e) => {
            let why = crate::bmc::redfish::client::error_chain(&e);
            let _ = inv
                .record_node_failure(action, node, None, &format!("{what} by {who}: {why}"))
                .await;
            Err(e)
        }
        Ok(()) => {
            inv.record_node_operation(action, node, None, &format!("{what} by {who}"))
                .await?;
            Ok(())
        }
    }
}

/// `node`'s BMC, opened for a change, and the node's system on it.
async fn connect(inv: &Inventory, node: &str) -> Result<(Box<dyn Bmc>, String), OperationError> {
    let (ep, system) = inv.node_endpoint(node).await?;
    let bmc =
        crate::bmc::open(ep, crate::bmc::Purpose::Change).map_err(bmc_error(node, "connecting"))?;
    Ok((bmc, system))
}

fn bmc_error(node: &str, step: &str) -> impl FnOnce(BmcError) -> OperationError {
    let (node, step) = (node.to_string(), step.to_string());
    move |source| OperationError::Bmc { node, step, source }
}

/// Changes `node`'s power and waits until it is done, within `limit`.
pub async fn set_power(
    inv: &Inventory,
    node: &str,
    change: PowerChange,
    limit: Duration,
    who: &str,
    progress: Progress<'_>,
) -> Result<(), OperationError> {
    let what = format!("power {}", change.as_str());
    leased(
        inv,
        node,
        "node.power",
        &what,
        who,
        false,
        limit,
        |bmc, system| async move {
            let before = bmc
                .power_state(&system)
                .await
                .map_err(bmc_error(node, "reading power"))?;
            progress(format!("{node}: power is {before:?}"));
            for action in change.actions() {
                progress(format!("{node}: {action:?}…"));
                bmc.power(&system, *action, limit)
                    .await
                    .map_err(bmc_error(node, &format!("{action:?}")))?;
            }
            let after = bmc
                .power_state(&system)
                .await
                .map_err(bmc_error(node, "reading power"))?;
            bmc.logout().await;
            progress(format!("{node}: power is {after:?}"));
            Ok(())
        },
    )
    .await
}

/// A firmware update asked for: the image, the firmware inventory entries it is for (empty: those
/// the BMC picks), and when it is applied.
#[derive(Debug, Clone)]
pub struct FirmwareUpdate {
    pub image_url: String,
    pub targets: Vec<String>,
    pub when: ApplyTime,
}

/// Updates `node`'s firmware (Redfish `SimpleUpdate`) and waits for the BMC's task.
pub async fn update_firmware(
    inv: &Inventory,
    node: &str,
    update: &FirmwareUpdate,
    limit: Duration,
    who: &str,
    progress: Progress<'_>,
) -> Result<(), OperationError> {
    let FirmwareUpdate {
        image_url,
        targets,
        when,
    } = update;
    let when = *when;
    let shown = crate::deploy::image::shown(image_url);
    let what = format!("firmware update from {shown} ({})", when.redfish());
    // What the BMC says may quote the image URL: shown with its secrets masked, never as given.
    let failed = |step: &str| {
        let (node, step, url) = (node.to_string(), step.to_string(), image_url.clone());
        move |e: BmcError| OperationError::Failed {
            detail: planner_core::text::masked(
                &format!("{step}: {}", crate::bmc::redfish::client::error_chain(&e)),
                &url,
            ),
            node,
        }
    };
    leased(
        inv,
        node,
        "node.firmware",
        &what,
        who,
        true,
        limit,
        |bmc, _system| async move {
            progress(format!("{node}: SimpleUpdate from {shown}…"));
            let task: TaskRef = bmc
                .update_firmware(image_url, targets, when)
                .await
                .map_err(failed("starting the update"))?;
            progress(format!("{node}: following the BMC's task {}", task.monitor));
            let outcome = bmc
                .wait_task(&task, limit)
                .await
                .map_err(failed("the update task"))?;
            bmc.logout().await;
            progress(format!("{node}: the update task ended {}", outcome.state));
            Ok(())
        },
    )
    .await
}

/// Restarts `node`'s BMC (the server keeps running) and waits until it answers again.
pub async fn reset_bmc(
    inv: &Inventory,
    node: &str,
    limit: Duration,
    who: &str,
    progress: Progress<'_>,
) -> Result<(), OperationError> {
    leased(
        inv,
        node,
        "node.bmc_reset",
        "BMC restart",
        who,
        true,
        limit,
        |bmc, system| async move {
            progress(format!("{node}: restarting its BMC…"));
            bmc.reset_manager(&system, limit)
                .await
                .map_err(bmc_error(node, "restarting the BMC"))?;
            progress(format!("{node}: the BMC answers again"));
            Ok(())
        },
    )
    .await
}

/// A boot device asked for: the target (`None` clears the override), for the next boot or every
/// boot, in `mode` where given.
#[derive(Debug, Clone, Copy)]
pub struct BootDevice {
    pub target: BootTarget,
    pub persistence: BootPersistence,
    pub mode: Option<BootMode>,
}

/// Sets the device `node` boots from and reads it back after. Audited as `node.boot`.
/// Sets how the deploy agent boots `node` (virtual media or network boot) and the MAC it
/// network-boots from; what is not given stays as it is. Refused, with nothing changed, when the
/// node's BMC cannot boot that way (IPMI has no virtual media) or the MAC is not one. Recorded as
/// the node's configuration (audited as `node.configure`). Returns what the node now has, in words.
pub async fn set_netboot(
    inv: &Inventory,
    node: &str,
    interface: Option<&str>,
    pxe_mac: Option<&str>,
) -> Result<String, OperationError> {
    let (ep, _) = inv.node_endpoint(node).await?;
    let mut config = inv.node_config(node).await?;
    let asked = crate::host::netboot::NodeBoot::from_attrs(node, &ep.url, interface, pxe_mac)
        .map_err(|es| OperationError::Failed {
            node: node.to_string(),
            detail: es
                .into_iter()
                .map(|(attr, m)| format!("{attr}: {m}"))
                .collect::<Vec<_>>()
                .join("; "),
        })?;
    config.boot.interface = asked.interface.or(config.boot.interface);
    config.boot.pxe_mac = asked.pxe_mac.or(config.boot.pxe_mac);
    inv.set_node_config(node, &config).await?;
    let effective = crate::host::BootInterface::for_node(
        node,
        &ep.url,
        config.boot.interface.map(|b| b.as_str()),
    )
    .map(|b| b.as_str())
    .unwrap_or("?");
    Ok(format!(
        "{node}: the deploy agent boots by {effective}{}; PXE MAC {}",
        if config.boot.interface.is_none() {
            " (the default for its BMC)"
        } else {
            ""
        },
        config.boot.pxe_mac.as_deref().unwrap_or("not set")
    ))
}

pub async fn set_boot_device(
    inv: &Inventory,
    node: &str,
    device: BootDevice,
    limit: Duration,
    who: &str,
    progress: Progress<'_>,
) -> Result<(), OperationError> {
    let BootDevice {
        target,
        persistence,
        mode,
    } = device;
    let what = format!(
        "boot device {target:?} ({})",
        match persistence {
            BootPersistence::Once => "next boot",
            BootPersistence::Continuous => "persistent",
        }
    );
    leased(
        inv,
        node,
        "node.boot",
        &what,
        who,
        false,
        limit,
        |bmc, system| async move {
            bmc.set_boot_override(&system, target, persistence, mode)
                .await
                .map_err(bmc_error(node, "setting the boot device"))?;
            let now = bmc
                .boot(&system)
                .await
                .map_err(bmc_error(node, "reading the boot device"))?;
            bmc.logout().await;
            progress(format!(
                "{node}: boot device {} ({}{})",
                now.target,
                now.enabled,
                now.mode.map(|m| format!(", {m}")).unwrap_or_default()
            ));
            Ok(())
        },
    )
    .await
}

/// Lights `node`'s chassis identify LED for `seconds` (`Some(0)` turns it off), or until turned
/// off (`None`). Audited as `node.identify`.
pub async fn identify(
    inv: &Inventory,
    node: &str,
    seconds: Option<u32>,
    limit: Duration,
    who: &str,
) -> Result<(), OperationError> {
    let what = match seconds {
        Some(0) => "identify light off".to_string(),
        Some(s) => format!("identify light on for {s} s"),
        None => "identify light on".to_string(),
    };
    leased(
        inv,
        node,
        "node.identify",
        &what,
        who,
        false,
        limit,
        |bmc, system| async move {
            bmc.identify(&system, seconds)
                .await
                .map_err(bmc_error(node, "identify"))?;
            bmc.logout().await;
            Ok(())
        },
    )
    .await
}

/// Attaches to `node`'s serial console. An admin, or a member of the project whose host runs on
/// the node, may attach; the attach is audited as `node.console` (a refusal too). Detaching ends
/// the session on the BMC ([`crate::bmc::Console::close`]).
pub async fn console(
    inv: &Inventory,
    node: &str,
    who: &str,
) -> Result<Box<dyn crate::bmc::Console>, OperationError> {
    let rec = inv.node(node).await?;
    let project = rec.project.clone().or(rec.owner_project.clone());
    inv.record_node_operation(
        "node.console",
        node,
        project.as_deref(),
        &format!("serial console attached by {who}"),
    )
    .await?;
    let (bmc, system) = connect(inv, node).await?;
    bmc.console(&system)
        .await
        .map_err(bmc_error(node, "attaching to the serial console"))
}

/// The newest `max` entries of `node`'s system event log, oldest first. Read-only: no lease.
pub async fn event_log(
    inv: &Inventory,
    node: &str,
    max: usize,
    limit: Duration,
) -> Result<Vec<crate::bmc::EventEntry>, OperationError> {
    let read = async {
        let (bmc, system) = connect(inv, node).await?;
        let entries = bmc
            .event_log(&system, max)
            .await
            .map_err(bmc_error(node, "reading the system event log"));
        bmc.logout().await;
        entries
    };
    match tokio::time::timeout(limit, read).await {
        Ok(read) => read,
        Err(_) => Err(OperationError::Timeout {
            node: node.to_string(),
            limit,
        }),
    }
}

/// Boots the deploy agent on `node` and reads the server from inside: disks, NICs with the LLDP
/// neighbour heard on each within `lldp_seconds`, CPU and memory. Recorded with the node and
/// audited; the node is powered off after, the agent's ISO ejected. Refused for a node that runs a
/// host (the agent's boot would stop it).
pub async fn inspect_in_band(
    inv: &Inventory,
    media: &crate::host::MediaServer,
    node: &str,
    lldp_seconds: u64,
    limit: Duration,
    who: &str,
    progress: Progress<'_>,
) -> Result<planner_core::deploy::agent::Inventory, OperationError> {
    let rec = inv.node(node).await?;
    if let Some(h) = &rec.host {
        let why = format!("it runs host {h}: booting the agent would stop it");
        inv.record_denied(Object::Node, "node.inspect.inband", node, None, &why)
            .await?;
        return Err(OperationError::Failed {
            node: node.to_string(),
            detail: format!("in-band inspection refused: {why}"),
        });
    }
    let failed = |detail: String| OperationError::Failed {
        node: node.to_string(),
        detail,
    };
    let mut found = None;
    let slot = &mut found;
    leased(
        inv,
        node,
        "node.inspect.inband",
        "in-band inspection",
        who,
        false,
        limit,
        |bmc, sys| async move {
            let boot = crate::host::agent::AgentBoot::for_node(inv, node)
                .await
                .map_err(failed)?;
            let mut agent = crate::host::agent::Agent::start(media, node, &boot)
                .map_err(|e| failed(e.to_string()))?;
            progress(format!("deploy agent booting by {}", boot.describe()));
            // Within the operation's limit less a minute: what follows (power off, media out)
            // always runs.
            let inner = limit
                .saturating_sub(Duration::from_secs(60))
                .max(Duration::from_secs(1));
            let r = tokio::time::timeout(inner, async {
                crate::host::agent::boot(bmc.as_ref(), &sys, &mut agent, inner).await?;
                progress(format!(
                    "deploy agent up; listening for LLDP for up to {lldp_seconds}s"
                ));
                let kind = planner_core::deploy::agent::CommandKind::Inspect { lldp_seconds };
                let res = agent.run(kind, inner, |_| {}).await?;
                progress(res.message);
                Ok::<_, crate::host::agent::AgentError>(
                    agent.session.lock().inventory.clone().unwrap_or_default(),
                )
            })
            .await
            .unwrap_or(Err(crate::host::agent::AgentError::Timeout(
                inner.as_secs(),
            )));
            agent.withdraw(media);
            let _ = bmc
                .power(&sys, PowerAction::ForceOff, Duration::from_secs(120))
                .await;
            if boot == crate::host::agent::AgentBoot::VirtualMedia {
                let _ = bmc.eject_media(&sys).await;
            }
            *slot = Some(r.map_err(|e| failed(e.to_string()))?);
            Ok(())
        },
    )
    .await?;
    let found = found.unwrap_or_default();
    let v = serde_json::to_value(&found).unwrap_or_default();
    inv.record_inband(node, None, &v).await?;
    Ok(found)
}
