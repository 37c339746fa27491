//! Top-of-rack switches: the [`Switch`] trait the planner and provider use, and [`open`], the one
//! place a switch driver is made. The plain data it speaks in (VLANs, ports, changes) and the pure
//! function that drops changes the switch already satisfies live in the core
//! (`planner_core::ports`, re-exported here), so that applying the same desired state twice sends
//! nothing the second time.
//!
//! Drivers, one per protocol family: [`ios`] (Cisco IOS-style CLI over SSH), [`netconf`] (Junos
//! NETCONF) and [`eapi`] (Arista JSON-RPC).

pub mod eapi;
pub mod ios;
pub mod netconf;
mod ssh;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::bmc::Secret;
pub use planner_core::ports::*;

/// Checks every change before anything is sent; the error names the switch.
pub fn validate_all(changes: &[Change], switch: &str) -> Result<(), SwitchError> {
    for c in changes {
        c.validate().map_err(|e| SwitchError::Invalid {
            switch: switch.to_string(),
            detail: e.0,
        })?;
    }
    Ok(())
}

/// Where a switch is and how to log in.
#[derive(Debug, Clone)]
pub struct SwitchEndpoint {
    /// `host:port`.
    pub address: String,
    pub username: String,
    pub password: Secret,
    /// The enable (privileged mode) password, where the OS has one.
    pub enable_password: Option<Secret>,
    pub timeout: Duration,
}

/// What an applied batch did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchReport {
    /// Changes sent (after dropping those already in place).
    pub applied: Vec<Change>,
    /// Commands sent, in order.
    pub commands: Vec<String>,
    pub saved: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SwitchError {
    #[error("switch {switch}: cannot connect: {detail}")]
    Connect { switch: String, detail: String },
    #[error("switch {switch}: login refused for user {username:?}")]
    Login { switch: String, username: String },
    #[error("switch {switch}: the enable password was refused")]
    Enable { switch: String },
    #[error("switch {switch}: {}command {command:?} was rejected: {output}", port_prefix(.port))]
    Rejected {
        switch: String,
        port: Option<String>,
        command: String,
        output: String,
    },
    #[error("switch {switch}: no prompt within {}s after {command:?}; the session state is unknown", .after.as_secs())]
    Timeout {
        switch: String,
        command: String,
        after: Duration,
    },
    #[error("switch {switch}: the session closed during {command:?}; the changes before it were made (not saved), whether that one was is unknown, the rest were not sent; the next plan reads the switch again")]
    Dropped { switch: String, command: String },
    #[error("switch {switch}: invalid change: {detail}")]
    Invalid { switch: String, detail: String },
    #[error("switch {switch}: could not parse {what}: {detail}")]
    Parse {
        switch: String,
        what: String,
        detail: String,
    },
}

fn port_prefix(p: &Option<String>) -> String {
    p.as_ref()
        .map(|p| format!("port {p}: "))
        .unwrap_or_default()
}

/// Everything the planner does to a switch.
#[async_trait]
pub trait Switch: Send + Sync {
    fn address(&self) -> &str;

    /// Live VLANs and port configuration.
    async fn read(&self) -> Result<SwitchState, SwitchError>;

    /// Applies the changes not already in place, in one session, then saves the configuration.
    /// A rejected command stops the batch; the error names the switch, the port and the command.
    async fn apply(&self, changes: &[Change]) -> Result<BatchReport, SwitchError>;
}

/// A driver for `driver` talking to `ep`.
pub fn open(driver: &str, ep: SwitchEndpoint) -> Result<Box<dyn Switch>, SwitchError> {
    Ok(match driver {
        "cisco_ios" => Box::new(ios::IosSwitch::new(ep)),
        "juniper_netconf" => Box::new(netconf::NetconfSwitch::new(ep, netconf::Dialect::Generic)),
        "juniper_netconf_qfx" => Box::new(netconf::NetconfSwitch::new(ep, netconf::Dialect::Qfx)),
        "arista_eapi" => Box::new(eapi::EapiSwitch::new(ep)?),
        other => {
            return Err(SwitchError::Invalid {
                switch: ep.address,
                detail: format!("driver {other:?} is not one of {}", DRIVERS.join(", ")),
            })
        }
    })
}
