//! A simulated top-of-rack switch: VLANs, access and trunk ports, native VLANs, descriptions and
//! port-channels, rendered the way Cisco IOS shows them. The CLI that changes it is in [`cli`]; the
//! SSH server that carries the CLI is in [`ssh`].

pub mod cli;
pub mod ssh;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub const VLAN_MIN: u16 = 1;
pub const VLAN_MAX: u16 = 4094;
/// VLANs IOS creates itself and refuses to delete.
pub const RESERVED_VLANS: [(u16, &str); 4] = [
    (1002, "fddi-default"),
    (1003, "token-ring-default"),
    (1004, "fddinet-default"),
    (1005, "trnet-default"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortMode {
    Access,
    Trunk,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelMode {
    Active,
    Passive,
    On,
}

impl ChannelMode {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelMode::Active => "active",
            ChannelMode::Passive => "passive",
            ChannelMode::On => "on",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Port {
    pub name: String,
    pub mode: PortMode,
    /// Whether `switchport mode` was configured. IOS does not print the default (dynamic auto, which
    /// behaves as access on a port facing a server) in the running configuration.
    pub mode_set: bool,
    pub access_vlan: u16,
    /// `None` means all VLANs (the IOS default).
    pub trunk_allowed: Option<BTreeSet<u16>>,
    pub native_vlan: u16,
    pub description: Option<String>,
    pub shutdown: bool,
    pub channel_group: Option<(u32, ChannelMode)>,
    pub mtu: u32,
}

impl Port {
    fn new(name: String) -> Port {
        Port {
            name,
            mode: PortMode::Access,
            mode_set: false,
            access_vlan: 1,
            trunk_allowed: None,
            native_vlan: 1,
            description: None,
            shutdown: false,
            channel_group: None,
            mtu: 1500,
        }
    }

    /// Short name as IOS shows it in tables: `Gi0/1`, `Po1`.
    pub fn short(&self) -> String {
        short_name(&self.name)
    }
}

pub fn short_name(name: &str) -> String {
    if let Some(rest) = name.strip_prefix("GigabitEthernet") {
        format!("Gi{rest}")
    } else if let Some(rest) = name.strip_prefix("Port-channel") {
        format!("Po{rest}")
    } else {
        name.to_string()
    }
}

/// Per-switch injected faults, set through the control endpoint.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SwitchFaults {
    /// Configuration commands containing this text are rejected with a vendor-style error.
    pub reject: Option<String>,
    /// Drop the SSH session after this many more commands (a session lost mid-batch).
    pub drop_after: Option<u32>,
}

/// The whole configuration of one switch.
#[derive(Debug, Clone)]
pub struct SwitchState {
    pub hostname: String,
    pub vlans: BTreeMap<u16, String>,
    pub ports: BTreeMap<String, Port>,
    /// The configuration as last saved with `write memory`.
    pub saved_generation: u64,
    pub generation: u64,
    pub faults: SwitchFaults,
    /// Every configuration command that changed something, for tests and the control endpoint.
    pub log: Vec<String>,
}

impl SwitchState {
    /// A factory-fresh switch with `ports` GigabitEthernet ports, all access ports in VLAN 1.
    pub fn new(hostname: &str, ports: usize) -> SwitchState {
        let mut vlans = BTreeMap::new();
        vlans.insert(1, "default".to_string());
        for (id, name) in RESERVED_VLANS {
            vlans.insert(id, name.to_string());
        }
        let ports = (1..=ports).map(|n| {
            let name = format!("GigabitEthernet0/{n}");
            (name.clone(), Port::new(name))
        });
        SwitchState {
            hostname: hostname.to_string(),
            vlans,
            ports: ports.collect(),
            saved_generation: 0,
            generation: 0,
            faults: SwitchFaults::default(),
            log: Vec::new(),
        }
    }

    /// Ports in name order, with physical ports in numeric order (`Gi0/2` before `Gi0/10`).
    pub fn ports_sorted(&self) -> Vec<&Port> {
        let mut v: Vec<&Port> = self.ports.values().collect();
        v.sort_by_key(|p| sort_key(&p.name));
        v
    }

    pub fn ensure_port_channel(&mut self, n: u32) -> &mut Port {
        let name = format!("Port-channel{n}");
        self.ports.entry(name.clone()).or_insert_with(|| {
            let mut p = Port::new(name);
            p.mtu = 1500;
            p
        })
    }

    /// The state as JSON, for the control endpoint and tests.
    pub fn to_json(&self) -> Value {
        let ports: Vec<Value> = self
            .ports_sorted()
            .into_iter()
            .map(|p| {
                json!({
                    "name": p.name,
                    "short": p.short(),
                    "mode": match p.mode { PortMode::Access => "access", PortMode::Trunk => "trunk" },
                    "access_vlan": p.access_vlan,
                    "trunk_allowed": p.trunk_allowed.as_ref().map(vlan_list).unwrap_or_else(|| "all".into()),
                    "native_vlan": p.native_vlan,
                    "description": p.description,
                    "shutdown": p.shutdown,
                    "channel_group": p.channel_group.map(|(n, m)| json!({"group": n, "mode": m.as_str()})),
                    "mtu": p.mtu,
                })
            })
            .collect();
        let vlans: Vec<Value> = self
            .vlans
            .iter()
            .map(|(id, name)| json!({"id": id, "name": name}))
            .collect();
        json!({
            "hostname": self.hostname,
            "vlans": vlans,
            "ports": ports,
            "saved": self.saved_generation == self.generation,
            "commands": self.log.len(),
        })
    }
}

pub fn sort_key(name: &str) -> (u8, Vec<u32>) {
    let class = if name.starts_with("Port-channel") {
        1
    } else {
        0
    };
    let nums = name
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .filter_map(|s| s.parse().ok())
        .collect();
    (class, nums)
}

/// Compresses a VLAN set the IOS way: `10,20-22,30`.
pub fn vlan_list(set: &BTreeSet<u16>) -> String {
    if set.is_empty() {
        return "none".into();
    }
    let mut out: Vec<String> = Vec::new();
    let mut iter = set.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end = iter.next().expect("peeked");
        }
        out.push(if end > start {
            format!("{start}-{end}")
        } else {
            start.to_string()
        });
    }
    out.join(",")
}

/// Parses an IOS VLAN list (`10,20-22`); the error names the offending piece.
pub fn parse_vlan_list(s: &str) -> Result<BTreeSet<u16>, String> {
    let mut set = BTreeSet::new();
    for part in s.split(',') {
        let part = part.trim();
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let parse = |x: &str| -> Result<u16, String> {
            let n: u32 = x
                .parse()
                .map_err(|_| format!("Bad VLAN list - {part:?} is not a VLAN number"))?;
            if (u32::from(VLAN_MIN)..=u32::from(VLAN_MAX)).contains(&n) {
                Ok(n as u16)
            } else {
                Err(format!(
                    "Bad VLAN list - VLAN {n} is out of range {VLAN_MIN}..{VLAN_MAX}"
                ))
            }
        };
        let (a, b) = (parse(a)?, parse(b)?);
        if a > b {
            return Err(format!("Bad VLAN list - range {part} is reversed"));
        }
        set.extend(a..=b);
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vlan_lists_round_trip() {
        let s = parse_vlan_list("10,20-22,30").unwrap();
        assert_eq!(vlan_list(&s), "10,20-22,30");
        assert!(parse_vlan_list("5000")
            .unwrap_err()
            .contains("out of range"));
        assert!(parse_vlan_list("abc").is_err());
        assert!(parse_vlan_list("30-20").is_err());
    }

    #[test]
    fn ports_sort_numerically() {
        let sw = SwitchState::new("tor1", 12);
        let names: Vec<String> = sw.ports_sorted().iter().map(|p| p.short()).collect();
        assert_eq!(names[1], "Gi0/2");
        assert_eq!(names[11], "Gi0/12");
    }
}
