//! A node's power, changed on demand (the provider's `baremetal_power` action): on, off, a power
//! cycle or a reboot, under the node's and its BMC's leases (so no apply or host operation works on
//! it meanwhile), waited for, and audited, as is every refusal (maintenance, a lease held).

use std::time::Duration;

use crate::bmc::{BmcError, PowerAction};
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
pub enum PowerError {
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error("node {node} is in maintenance ({reason}): its power is not changed")]
    Maintenance { node: String, reason: String },
    #[error("node {node}: {step}")]
    Bmc {
        node: String,
        step: String,
        #[source]
        source: BmcError,
    },
    #[error("node {node}: the power change did not finish within {limit:?}")]
    Timeout { node: String, limit: Duration },
}

/// Changes `node`'s power and waits until it is done, within `limit`; `progress` gets a line per
/// step. `who` names the caller in the leases (`action baremetal_power.x`).
pub async fn set_power(
    inv: &Inventory,
    node: &str,
    change: PowerChange,
    limit: Duration,
    who: &str,
    progress: &(dyn Fn(String) + Send + Sync),
) -> Result<(), PowerError> {
    let rec = inv.node(node).await?;
    let what = format!("power {}", change.as_str());
    if rec.maintenance {
        let reason = rec.maintenance_reason.unwrap_or_default();
        let why = format!("{what}: in maintenance ({reason})");
        inv.record_denied(Object::Node, "node.power", node, None, &why)
            .await?;
        return Err(PowerError::Maintenance {
            node: node.to_string(),
            reason,
        });
    }
    let holder = crate::apply::lease_holder(who);
    let device = crate::apply::device_key(&rec.bmc_url);
    let ttl = limit + Duration::from_secs(300);
    // A lease held by a live apply or host operation is refused, and the refusal audited (by
    // the lease's own check).
    crate::apply::take_leases(inv, &device, node, &holder, &what, ttl, false).await?;
    let done = tokio::time::timeout(limit, power_held(inv, node, change, limit, progress)).await;
    crate::apply::release_leases(inv, &device, node, &holder).await;
    match done {
        Err(_) => Err(PowerError::Timeout {
            node: node.to_string(),
            limit,
        }),
        Ok(Err(e)) => Err(e),
        Ok(Ok(())) => {
            inv.record_node_operation("node.power", node, None, &format!("{what} by {who}"))
                .await?;
            Ok(())
        }
    }
}

async fn power_held(
    inv: &Inventory,
    node: &str,
    change: PowerChange,
    limit: Duration,
    progress: &(dyn Fn(String) + Send + Sync),
) -> Result<(), PowerError> {
    let bmc_error = |step: &str| {
        let (node, step) = (node.to_string(), step.to_string());
        move |source| PowerError::Bmc { node, step, source }
    };
    let (ep, system) = inv.node_endpoint(node).await?;
    let bmc = crate::bmc::open(ep, crate::bmc::Purpose::Change).map_err(bmc_error("connecting"))?;
    let before = bmc
        .power_state(&system)
        .await
        .map_err(bmc_error("reading power"))?;
    progress(format!("{node}: power is {before:?}"));
    for action in change.actions() {
        progress(format!("{node}: {action:?}…"));
        bmc.power(&system, *action, limit)
            .await
            .map_err(bmc_error(&format!("{action:?}")))?;
    }
    let after = bmc
        .power_state(&system)
        .await
        .map_err(bmc_error("reading power"))?;
    bmc.logout().await;
    progress(format!("{node}: power is {after:?}"));
    Ok(())
}
