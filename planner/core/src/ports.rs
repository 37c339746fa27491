//! Switch ports as plain data: VLANs, port modes, bonds and the changes a switch can be asked for,
//! with the pure functions that judge them: which changes are already in place ([`pending`]), what a
//! batch leaves behind ([`simulated`]), and how each driver spells port names. No I/O here; the
//! drivers (`planner::switch`) speak these types.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

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
    /// Static bundle ("on"), for a host's balance-xor bond.
    Static,
}

/// A bond as the host sees it, and what its switch ports must be for it. The host's mode and the
/// switch's side always come from this one value, so they cannot disagree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HostBond {
    /// One member carries traffic, another takes over when its link goes down. The switch ports
    /// stay independent ports, each with the bond's networks: no port-channel.
    #[serde(rename = "active-backup")]
    ActiveBackup,
    /// LACP: an 802.3ad bond on an LACP port-channel.
    #[serde(rename = "802.3ad", alias = "Lacp")]
    Lacp,
    /// A static XOR bond on a static port-channel (`mode on`).
    #[serde(rename = "balance-xor", alias = "Static")]
    BalanceXor,
}

impl HostBond {
    /// The values `bond_mode` takes, for messages and docs.
    pub const NAMES: &'static str = "active-backup, 802.3ad (or lacp), balance-xor";

    /// Reads a profile's `bond_mode`. `static` was once accepted and meant two different things
    /// (a static port-channel on the switch, `balance-xor` on the host, while the docs said
    /// active-backup); it is refused with both meanings named.
    pub fn parse(s: &str) -> Result<HostBond, String> {
        match s {
            "active-backup" => Ok(HostBond::ActiveBackup),
            "802.3ad" | "lacp" => Ok(HostBond::Lacp),
            "balance-xor" => Ok(HostBond::BalanceXor),
            "static" => Err(
                "bond mode \"static\" is ambiguous: write \"active-backup\" (independent \
                 switch ports, one active link) or \"balance-xor\" (a static port-channel)"
                    .into(),
            ),
            other => Err(format!("bond mode {other:?} is not one of {}", Self::NAMES)),
        }
    }

    /// The name the host's network configuration (netplan, Linux bonding) uses.
    pub fn as_str(self) -> &'static str {
        match self {
            HostBond::ActiveBackup => "active-backup",
            HostBond::Lacp => "802.3ad",
            HostBond::BalanceXor => "balance-xor",
        }
    }

    /// The port-channel the switch needs, if any.
    pub fn channel(self) -> Option<BondMode> {
        match self {
            HostBond::ActiveBackup => None,
            HostBond::Lacp => Some(BondMode::Lacp),
            HostBond::BalanceXor => Some(BondMode::Static),
        }
    }
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
    pub fn validate(&self) -> Result<(), crate::rules::Invalid> {
        let check = |v: u16| {
            if (VLAN_MIN..=VLAN_MAX).contains(&v) {
                Ok(())
            } else {
                Err(crate::rules::Invalid(format!(
                    "VLAN {v} is outside {VLAN_MIN}..{VLAN_MAX}"
                )))
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
            Change::CreatePortChannel { members, .. } if members.is_empty() => Err(
                crate::rules::Invalid("a port-channel needs at least one member".into()),
            ),
            _ => Ok(()),
        }
    }
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

/// The drivers `open` knows.
pub const DRIVERS: &[&str] = &[
    "cisco_ios",
    "juniper_netconf",
    "juniper_netconf_qfx",
    "arista_eapi",
];

/// Cisco IOS long interface names by their abbreviations, longest abbreviation first.
pub const IOS_INTERFACE_NAMES: &[(&str, &str)] = &[
    ("tengigabitethernet", "TenGigabitEthernet"),
    ("gigabitethernet", "GigabitEthernet"),
    ("fastethernet", "FastEthernet"),
    ("port-channel", "Port-channel"),
    ("te", "TenGigabitEthernet"),
    ("gi", "GigabitEthernet"),
    ("fa", "FastEthernet"),
    ("po", "Port-channel"),
];

/// Expands `Gi0/1` to `GigabitEthernet0/1`; unknown names pass unchanged.
pub fn ios_canonical(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (kind, num) = (lower[..split].trim(), &name.trim()[split..]);
    for (abbr, long) in IOS_INTERFACE_NAMES {
        if kind == *abbr {
            return format!("{long}{}", num.trim());
        }
    }
    name.trim().to_string()
}

/// Expands `Et1`/`eth1` to `Ethernet1` and `Po1` to `Port-Channel1`, as EOS names them.
pub fn eos_canonical(name: &str) -> String {
    let lower = name.trim().to_ascii_lowercase();
    let split = lower
        .find(|c: char| c.is_ascii_digit())
        .unwrap_or(lower.len());
    let (kind, num) = (lower[..split].trim(), name.trim()[split..].trim());
    match kind {
        "et" | "eth" | "ethernet" => format!("Ethernet{num}"),
        "po" | "port-channel" => format!("Port-Channel{num}"),
        _ => name.trim().to_string(),
    }
}

/// `10,20-22` from a set.
pub fn vlan_list(set: &BTreeSet<u16>) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut it = set.iter().copied().peekable();
    while let Some(start) = it.next() {
        let mut end = start;
        while it.peek() == Some(&(end + 1)) {
            end = it.next().unwrap_or(end);
        }
        out.push(if end > start {
            format!("{start}-{end}")
        } else {
            start.to_string()
        });
    }
    out.join(",")
}

/// How `driver` spells port names canonically (`Gi0/3` → `GigabitEthernet0/3` for IOS).
pub fn canonical_for(driver: &str) -> fn(&str) -> String {
    match driver {
        "cisco_ios" => ios_canonical,
        "arista_eapi" => eos_canonical,
        _ => |s: &str| s.to_string(),
    }
}
