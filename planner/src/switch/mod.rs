//! Top-of-rack switches: the [`Switch`] trait the planner and provider use, the plain data it speaks in
//! (VLANs, ports, changes), and the pure function that drops changes the switch already satisfies, so
//! that applying the same desired state twice sends nothing the second time.
//!
//! Drivers, one per protocol family: [`ios`] (Cisco IOS-style CLI over SSH), [`netconf`] (Junos
//! NETCONF) and [`eapi`] (Arista JSON-RPC).

pub mod eapi;
pub mod ios;
pub mod netconf;
mod ssh;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::bmc::Secret;

pub const VLAN_MIN: u16 = 1;
pub const VLAN_MAX: u16 = 4094;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PortMode {
    Access,
    Trunk,
}

/// Trunk allowed VLANs: all of them (the usual default) or a set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum VlanSet {
    All,
    Only(BTreeSet<u16>),
}

impl VlanSet {
    pub fn contains(&self, v: u16) -> bool {
        match self {
            VlanSet::All => true,
            VlanSet::Only(s) => s.contains(&v),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BondMode {
    /// LACP (802.3ad), active.
    Lacp,
    /// Static bundle ("on"); with one active member this serves active-backup host bonds.
    Static,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    pub name: String,
    pub mode: PortMode,
    pub access_vlan: u16,
    pub trunk_allowed: VlanSet,
    pub native_vlan: u16,
    pub description: Option<String>,
    pub admin_up: bool,
    /// Port-channel number and mode, for member ports.
    pub channel_group: Option<(u32, BondMode)>,
    pub mtu: Option<u32>,
}

/// What a switch reports: VLANs (id → name) and ports by canonical name.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SwitchState {
    pub vlans: BTreeMap<u16, String>,
    pub ports: BTreeMap<String, Port>,
}

/// One change to a switch. Ports are named as the switch names them (`GigabitEthernet0/1`); drivers
/// accept the usual abbreviations and canonicalise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    CreateVlan {
        id: u16,
        name: String,
    },
    DeleteVlan {
        id: u16,
    },
    Access {
        port: String,
        vlan: u16,
    },
    Trunk {
        port: String,
        allowed: VlanSet,
        native: u16,
    },
    AddTrunkVlans {
        port: String,
        vlans: BTreeSet<u16>,
    },
    RemoveTrunkVlans {
        port: String,
        vlans: BTreeSet<u16>,
    },
    Description {
        port: String,
        text: Option<String>,
    },
    Admin {
        port: String,
        up: bool,
    },
    CreatePortChannel {
        id: u32,
        members: Vec<String>,
        mode: BondMode,
    },
    DeletePortChannel {
        id: u32,
    },
}

impl Change {
    /// The port a change touches, for error messages.
    pub fn port(&self) -> Option<&str> {
        match self {
            Change::Access { port, .. }
            | Change::Trunk { port, .. }
            | Change::AddTrunkVlans { port, .. }
            | Change::RemoveTrunkVlans { port, .. }
            | Change::Description { port, .. }
            | Change::Admin { port, .. } => Some(port),
            _ => None,
        }
    }

    /// Checks values that are wrong whatever the switch (VLAN ids out of range, empty bundles).
    pub fn validate(&self) -> Result<(), String> {
        let check = |v: u16| {
            if (VLAN_MIN..=VLAN_MAX).contains(&v) {
                Ok(())
            } else {
                Err(format!("VLAN {v} is outside {VLAN_MIN}..{VLAN_MAX}"))
            }
        };
        match self {
            Change::CreateVlan { id, .. }
            | Change::DeleteVlan { id }
            | Change::Access { vlan: id, .. } => check(*id),
            Change::Trunk {
                allowed, native, ..
            } => {
                check(*native)?;
                match allowed {
                    VlanSet::All => Ok(()),
                    VlanSet::Only(s) => s.iter().try_for_each(|v| check(*v)),
                }
            }
            Change::AddTrunkVlans { vlans, .. } | Change::RemoveTrunkVlans { vlans, .. } => {
                vlans.iter().try_for_each(|v| check(*v))
            }
            Change::CreatePortChannel { members, .. } if members.is_empty() => {
                Err("a port-channel needs at least one member".into())
            }
            _ => Ok(()),
        }
    }
}

/// Checks every change before anything is sent; the error names the switch.
pub fn validate_all(changes: &[Change], switch: &str) -> Result<(), SwitchError> {
    for c in changes {
        c.validate().map_err(|detail| SwitchError::Invalid {
            switch: switch.to_string(),
            detail,
        })?;
    }
    Ok(())
}

/// The changes of `desired` that are not already in place, in order. Each change is judged against the
/// state as the earlier changes of the batch leave it. Pure: the driver can tell before connecting for
/// writes whether there is anything to do.
pub fn pending(
    current: &SwitchState,
    desired: &[Change],
    canonical: impl Fn(&str) -> String,
) -> Vec<Change> {
    let mut state = current.clone();
    let mut out = Vec::new();
    for c in desired {
        if !satisfied(&state, c, &canonical) {
            out.push(c.clone());
        }
        simulate(&mut state, c, &canonical);
    }
    out
}

/// The state `changes` would leave `current` in, as far as the planner can tell.
pub fn simulated(
    current: &SwitchState,
    changes: &[Change],
    canonical: impl Fn(&str) -> String,
) -> SwitchState {
    let mut state = current.clone();
    for c in changes {
        simulate(&mut state, c, &canonical);
    }
    state
}

fn satisfied(st: &SwitchState, c: &Change, canonical: &impl Fn(&str) -> String) -> bool {
    let port = |p: &str| st.ports.get(&canonical(p));
    match c {
        Change::CreateVlan { id, name } => st.vlans.get(id) == Some(name),
        Change::DeleteVlan { id } => !st.vlans.contains_key(id),
        Change::Access { port: p, vlan } => port(p).is_some_and(|p| p.mode == PortMode::Access && p.access_vlan == *vlan),
        Change::Trunk { port: p, allowed, native } => {
            port(p).is_some_and(|p| p.mode == PortMode::Trunk && &p.trunk_allowed == allowed && p.native_vlan == *native)
        }
        Change::AddTrunkVlans { port: p, vlans } => port(p).is_some_and(|p| vlans.iter().all(|v| p.trunk_allowed.contains(*v))),
        Change::RemoveTrunkVlans { port: p, vlans } => {
            port(p).is_some_and(|p| matches!(&p.trunk_allowed, VlanSet::Only(s) if vlans.iter().all(|v| !s.contains(v))))
        }
        Change::Description { port: p, text } => port(p).is_some_and(|p| &p.description == text),
        Change::Admin { port: p, up } => port(p).is_some_and(|p| p.admin_up == *up),
        Change::CreatePortChannel { id, members, mode } => members.iter().all(|m| port(m).is_some_and(|p| p.channel_group == Some((*id, *mode)))),
        Change::DeletePortChannel { id } => !st.ports.contains_key(&canonical(&format!("Port-channel{id}"))),
    }
}

/// What a change does to the state, as far as [`satisfied`] can see.
fn simulate(st: &mut SwitchState, c: &Change, canonical: &impl Fn(&str) -> String) {
    match c {
        Change::CreateVlan { id, name } => {
            st.vlans.insert(*id, name.clone());
        }
        Change::DeleteVlan { id } => {
            st.vlans.remove(id);
        }
        Change::Access { port: p, vlan } => {
            if let Some(p) = st.ports.get_mut(&canonical(p)) {
                p.mode = PortMode::Access;
                p.access_vlan = *vlan;
            }
        }
        Change::Trunk {
            port: p,
            allowed,
            native,
        } => {
            if let Some(p) = st.ports.get_mut(&canonical(p)) {
                p.mode = PortMode::Trunk;
                p.trunk_allowed = allowed.clone();
                p.native_vlan = *native;
            }
        }
        Change::AddTrunkVlans { port: p, vlans } => {
            if let Some(p) = st.ports.get_mut(&canonical(p)) {
                if let VlanSet::Only(s) = &mut p.trunk_allowed {
                    s.extend(vlans);
                }
            }
        }
        Change::RemoveTrunkVlans { port: p, vlans } => {
            if let Some(p) = st.ports.get_mut(&canonical(p)) {
                let current = match &p.trunk_allowed {
                    VlanSet::All => (VLAN_MIN..=VLAN_MAX).collect(),
                    VlanSet::Only(s) => s.clone(),
                };
                p.trunk_allowed = VlanSet::Only(current.difference(vlans).copied().collect());
            }
        }
        Change::Description { port: p, text } => {
            if let Some(p) = st.ports.get_mut(&canonical(p)) {
                p.description = text.clone();
            }
        }
        Change::Admin { port: p, up } => {
            if let Some(p) = st.ports.get_mut(&canonical(p)) {
                p.admin_up = *up;
            }
        }
        Change::CreatePortChannel { id, members, mode } => {
            for m in members {
                if let Some(p) = st.ports.get_mut(&canonical(m)) {
                    p.channel_group = Some((*id, *mode));
                }
            }
        }
        Change::DeletePortChannel { id } => {
            st.ports.remove(&canonical(&format!("Port-channel{id}")));
            for p in st.ports.values_mut() {
                if p.channel_group.map(|g| g.0) == Some(*id) {
                    p.channel_group = None;
                }
            }
        }
    }
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

/// The drivers `open` knows.
pub const DRIVERS: &[&str] = &[
    "cisco_ios",
    "juniper_netconf",
    "juniper_netconf_qfx",
    "arista_eapi",
];

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

/// How `driver` spells port names canonically (`Gi0/3` → `GigabitEthernet0/3` for IOS).
pub fn canonical_for(driver: &str) -> fn(&str) -> String {
    match driver {
        "cisco_ios" => ios::canonical,
        "arista_eapi" => eapi::canonical,
        _ => |s: &str| s.to_string(),
    }
}
