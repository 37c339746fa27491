//! The `cisco_ios` driver: Cisco IOS-style CLI over an SSH shell. What to send and what counts as an
//! error are data ([`IOS`]); parsing `show vlan brief` and `show running-config` is pure and tested on
//! captured output.

use std::collections::{BTreeMap, BTreeSet};

use async_trait::async_trait;
use tokio::sync::Mutex;

use super::ssh::Shell;
use super::{
    pending, validate_all, BatchReport, BondMode, Change, Port, PortMode, Switch, SwitchEndpoint,
    SwitchError, SwitchState, VlanSet,
};

/// One OS's command set and error vocabulary.
pub struct CommandSet {
    pub name: &'static str,
    /// Long interface names by their abbreviations, longest abbreviation first.
    pub interface_names: &'static [(&'static str, &'static str)],
    /// Output that means the command was refused.
    pub error_patterns: &'static [&'static str],
    /// Output that looks like an error but is information (IOS creates a missing access VLAN).
    pub info_patterns: &'static [&'static str],
    pub save: &'static str,
}

pub const IOS: CommandSet = CommandSet {
    name: "cisco_ios",
    interface_names: planner_core::ports::IOS_INTERFACE_NAMES,
    error_patterns: &[
        "% Invalid",
        "% Incomplete",
        "% Ambiguous",
        "% Bad",
        "%Default VLAN",
        "Command rejected",
        "%Error",
        "% Error",
    ],
    info_patterns: &["% Access VLAN does not exist"],
    save: "write memory",
};

/// Parses `show vlan brief` (or `show vlan`): id → name.
pub fn parse_vlans(text: &str) -> BTreeMap<u16, String> {
    text.lines()
        .filter_map(|l| {
            let mut cols = l.split_whitespace();
            let id: u16 = cols.next()?.parse().ok()?;
            let name = cols.next()?.to_string();
            Some((id, name))
        })
        .collect()
}

fn parse_list(s: &str) -> Option<BTreeSet<u16>> {
    let mut set = BTreeSet::new();
    for part in s.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let (a, b): (u16, u16) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
        set.extend(a..=b);
    }
    Some(set)
}

pub use planner_core::ports::{ios_canonical as canonical, vlan_list as format_list};

/// Parses the `interface` blocks of `show running-config`. An absent `switchport mode` is IOS's
/// default (dynamic auto), which behaves as access towards a server.
pub fn parse_interfaces(text: &str) -> BTreeMap<String, Port> {
    let mut ports = BTreeMap::new();
    let mut current: Option<Port> = None;
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("interface ") {
            if let Some(p) = current.take() {
                ports.insert(p.name.clone(), p);
            }
            current = Some(Port {
                name: canonical(name),
                mode: PortMode::Access,
                access_vlan: 1,
                trunk_allowed: VlanSet::All,
                native_vlan: 1,
                description: None,
                admin_up: true,
                channel_group: None,
                mtu: None,
            });
            continue;
        }
        let Some(p) = current.as_mut() else { continue };
        if !line.starts_with(' ') {
            ports.insert(p.name.clone(), current.take().expect("checked"));
            continue;
        }
        let l = line.trim();
        let words: Vec<&str> = l.split_whitespace().collect();
        match words.as_slice() {
            ["description", ..] => {
                p.description = Some(l["description".len()..].trim().to_string())
            }
            ["switchport", "mode", "trunk"] => p.mode = PortMode::Trunk,
            ["switchport", "mode", "access"] => p.mode = PortMode::Access,
            ["switchport", "access", "vlan", v] => p.access_vlan = v.parse().unwrap_or(1),
            ["switchport", "trunk", "native", "vlan", v] => p.native_vlan = v.parse().unwrap_or(1),
            ["switchport", "trunk", "allowed", "vlan", "none"] => {
                p.trunk_allowed = VlanSet::Only(BTreeSet::new())
            }
            ["switchport", "trunk", "allowed", "vlan", "add", v] => {
                if let (VlanSet::Only(s), Some(add)) = (&mut p.trunk_allowed, parse_list(v)) {
                    s.extend(add);
                }
            }
            ["switchport", "trunk", "allowed", "vlan", v] => {
                p.trunk_allowed = parse_list(v).map(VlanSet::Only).unwrap_or(VlanSet::All)
            }
            ["shutdown"] => p.admin_up = false,
            ["mtu", v] => p.mtu = v.parse().ok(),
            ["channel-group", n, "mode", m] => {
                let mode = if *m == "on" {
                    BondMode::Static
                } else {
                    BondMode::Lacp
                };
                p.channel_group = n.parse().ok().map(|n| (n, mode));
            }
            _ => {}
        }
    }
    if let Some(p) = current.take() {
        ports.insert(p.name.clone(), p);
    }
    ports
}

/// The configuration-mode commands for one change.
pub fn commands(change: &Change) -> Vec<String> {
    let iface = |p: &str| format!("interface {}", canonical(p));
    match change {
        Change::CreateVlan { id, name } => {
            vec![format!("vlan {id}"), format!("name {name}"), "exit".into()]
        }
        Change::DeleteVlan { id } => vec![format!("no vlan {id}")],
        Change::Access { port, vlan } => {
            vec![
                iface(port),
                "switchport mode access".into(),
                format!("switchport access vlan {vlan}"),
                "exit".into(),
            ]
        }
        Change::Trunk {
            port,
            allowed,
            native,
        } => {
            let allowed = match allowed {
                VlanSet::All => "all".to_string(),
                VlanSet::Only(s) if s.is_empty() => "none".to_string(),
                VlanSet::Only(s) => format_list(s),
            };
            vec![
                iface(port),
                "switchport mode trunk".into(),
                format!("switchport trunk allowed vlan {allowed}"),
                format!("switchport trunk native vlan {native}"),
                "exit".into(),
            ]
        }
        Change::AddTrunkVlans { port, vlans } => vec![
            iface(port),
            format!("switchport trunk allowed vlan add {}", format_list(vlans)),
            "exit".into(),
        ],
        Change::RemoveTrunkVlans { port, vlans } => {
            vec![
                iface(port),
                format!(
                    "switchport trunk allowed vlan remove {}",
                    format_list(vlans)
                ),
                "exit".into(),
            ]
        }
        Change::Description {
            port,
            text: Some(t),
        } => vec![iface(port), format!("description {t}"), "exit".into()],
        Change::Description { port, text: None } => {
            vec![iface(port), "no description".into(), "exit".into()]
        }
        Change::Admin { port, up } => vec![
            iface(port),
            if *up { "no shutdown" } else { "shutdown" }.into(),
            "exit".into(),
        ],
        Change::CreatePortChannel { id, members, mode } => {
            let m = match mode {
                BondMode::Lacp => "active",
                BondMode::Static => "on",
            };
            let mut c = vec![format!("interface Port-channel{id}"), "exit".into()];
            for member in members {
                c.extend([
                    iface(member),
                    format!("channel-group {id} mode {m}"),
                    "exit".into(),
                ]);
            }
            c
        }
        Change::DeletePortChannel { id } => vec![format!("no interface Port-channel{id}")],
    }
}

/// Whether output means the command was refused.
pub fn rejected(set: &CommandSet, output: &str) -> bool {
    output.lines().any(|l| {
        let l = l.trim();
        set.error_patterns.iter().any(|p| l.starts_with(p))
            && !set.info_patterns.iter().any(|p| l.starts_with(p))
    })
}

/// A Cisco IOS-style switch over SSH. One session per batch; a lock serialises work on the switch.
pub struct IosSwitch {
    ep: SwitchEndpoint,
    lock: Mutex<()>,
}

impl IosSwitch {
    /// Made by [`super::open`], the one place a switch driver is made.
    pub(crate) fn new(ep: SwitchEndpoint) -> IosSwitch {
        IosSwitch {
            ep,
            lock: Mutex::new(()),
        }
    }

    async fn session(&self) -> Result<Shell, SwitchError> {
        let (mut shell, banner) = Shell::open(&self.ep).await?;
        if banner.trim_end().ends_with('>') {
            let Some(enable) = &self.ep.enable_password else {
                return Err(SwitchError::Enable {
                    switch: self.ep.address.clone(),
                });
            };
            shell.run("enable").await?;
            let out = shell.run_secret(enable.expose(), "enable").await?;
            if !out.trim_end().ends_with('#') {
                return Err(SwitchError::Enable {
                    switch: self.ep.address.clone(),
                });
            }
        }
        shell.run("terminal length 0").await?;
        Ok(shell)
    }

    async fn read_with(&self, shell: &mut Shell) -> Result<SwitchState, SwitchError> {
        let vlans = shell.run("show vlan brief").await?;
        if rejected(&IOS, &vlans) {
            return Err(SwitchError::Rejected {
                switch: self.ep.address.clone(),
                port: None,
                command: "show vlan brief".into(),
                output: vlans,
            });
        }
        let config = shell.run("show running-config").await?;
        if rejected(&IOS, &config) {
            return Err(SwitchError::Rejected {
                switch: self.ep.address.clone(),
                port: None,
                command: "show running-config".into(),
                output: config,
            });
        }
        let mut ports = parse_interfaces(&config);
        // Some IOS images (and fake-switches) leave port-channel interfaces out of the full
        // running-config: read each one the members name on its own.
        let missing: BTreeSet<u32> = ports
            .values()
            .filter_map(|p| p.channel_group.map(|g| g.0))
            .filter(|id| !ports.contains_key(&format!("Port-channel{id}")))
            .collect();
        for id in missing {
            let command = format!("show running-config interface Port-channel{id}");
            let text = shell.run(&command).await?;
            if !rejected(&IOS, &text) {
                ports.extend(parse_interfaces(&text));
            }
        }
        Ok(SwitchState {
            vlans: parse_vlans(&vlans),
            ports,
        })
    }
}

#[async_trait]
impl Switch for IosSwitch {
    fn address(&self) -> &str {
        &self.ep.address
    }

    async fn read(&self) -> Result<SwitchState, SwitchError> {
        let _guard = self.lock.lock().await;
        let mut shell = self.session().await?;
        let state = self.read_with(&mut shell).await;
        shell.close().await;
        state
    }

    async fn apply(&self, changes: &[Change]) -> Result<BatchReport, SwitchError> {
        validate_all(changes, &self.ep.address)?;
        let _guard = self.lock.lock().await;
        let mut shell = self.session().await?;
        let current = self.read_with(&mut shell).await?;
        let todo = pending(&current, changes, canonical);
        let mut report = BatchReport {
            applied: Vec::new(),
            commands: Vec::new(),
            saved: false,
        };
        if todo.is_empty() {
            shell.close().await;
            return Ok(report);
        }
        shell.run("configure terminal").await?;
        for change in &todo {
            for cmd in commands(change) {
                let out = shell.run(&cmd).await?;
                report.commands.push(cmd.clone());
                if rejected(&IOS, &out) {
                    // Leave configuration mode so the next session starts clean; the CLI has no
                    // rollback, so what was applied before this command stays applied.
                    let _ = shell.run("end").await;
                    shell.close().await;
                    return Err(SwitchError::Rejected {
                        switch: self.ep.address.clone(),
                        port: change.port().map(canonical),
                        command: cmd,
                        output: out.trim().to_string(),
                    });
                }
            }
            report.applied.push(change.clone());
        }
        // "end" is IOS; fake-switches knows only "exit", which also leaves configuration mode.
        shell.run("exit").await?;
        let out = shell.run(IOS.save).await?;
        report.commands.push(IOS.save.into());
        report.saved = !rejected(&IOS, &out);
        shell.close().await;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNNING: &str = "Building configuration...\n\nCurrent configuration:\n!\nhostname tor1\n!\ninterface GigabitEthernet0/1\n description r1u01 nic1\n switchport access vlan 100\n switchport mode access\n!\ninterface GigabitEthernet0/2\n switchport trunk native vlan 100\n switchport trunk allowed vlan 100,200-202\n switchport mode trunk\n shutdown\n channel-group 1 mode active\n!\ninterface GigabitEthernet0/3\n!\nend\n";

    #[test]
    fn running_config_parses_access_trunk_and_defaults() {
        let p = parse_interfaces(RUNNING);
        let gi1 = &p["GigabitEthernet0/1"];
        assert_eq!((gi1.mode, gi1.access_vlan), (PortMode::Access, 100));
        assert_eq!(gi1.description.as_deref(), Some("r1u01 nic1"));
        let gi2 = &p["GigabitEthernet0/2"];
        assert_eq!(gi2.mode, PortMode::Trunk);
        assert_eq!(
            gi2.trunk_allowed,
            VlanSet::Only([100, 200, 201, 202].into())
        );
        assert_eq!(gi2.native_vlan, 100);
        assert!(!gi2.admin_up);
        assert_eq!(gi2.channel_group, Some((1, BondMode::Lacp)));
        let gi3 = &p["GigabitEthernet0/3"];
        assert_eq!(
            (gi3.mode, gi3.access_vlan, gi3.admin_up),
            (PortMode::Access, 1, true)
        );
    }

    #[test]
    fn vlan_table_parses_ids_and_names() {
        let t = "\nVLAN Name                             Status    Ports\n---- -------------------------------- --------- -------------------------------\n1    default                          active    Gi0/3\n100  provisioning                     active    Gi0/1\n1002 fddi-default                     act/unsup \n";
        let v = parse_vlans(t);
        assert_eq!(v.get(&100).map(String::as_str), Some("provisioning"));
        assert_eq!(v.len(), 3);
    }

    #[test]
    fn abbreviations_expand_and_errors_are_told_from_information() {
        assert_eq!(canonical("Gi0/1"), "GigabitEthernet0/1");
        assert_eq!(canonical("po12"), "Port-channel12");
        assert_eq!(canonical("GigabitEthernet1/0/4"), "GigabitEthernet1/0/4");
        assert!(rejected(
            &IOS,
            "        ^\n% Invalid input detected at '^' marker."
        ));
        assert!(rejected(&IOS, "Command rejected: Bad VLAN list"));
        assert!(!rejected(
            &IOS,
            "% Access VLAN does not exist. Creating vlan 300"
        ));
    }

    #[test]
    fn pending_drops_changes_already_in_place() {
        let state = SwitchState {
            vlans: [(1, "default".to_string()), (100, "prov".to_string())].into(),
            ports: parse_interfaces(RUNNING),
        };
        let desired = vec![
            Change::CreateVlan {
                id: 100,
                name: "prov".into(),
            },
            Change::Access {
                port: "Gi0/1".into(),
                vlan: 100,
            },
            Change::Access {
                port: "Gi0/3".into(),
                vlan: 100,
            },
            Change::AddTrunkVlans {
                port: "Gi0/2".into(),
                vlans: [200].into(),
            },
        ];
        assert_eq!(
            pending(&state, &desired, canonical),
            vec![Change::Access {
                port: "Gi0/3".into(),
                vlan: 100
            }]
        );
        // Each change is judged after the earlier ones: a trunk narrowed by the batch needs the add.
        let narrowed = vec![
            Change::Trunk {
                port: "Gi0/3".into(),
                allowed: VlanSet::Only([100].into()),
                native: 100,
            },
            Change::AddTrunkVlans {
                port: "Gi0/3".into(),
                vlans: [300].into(),
            },
        ];
        assert_eq!(pending(&state, &narrowed, canonical).len(), 2);
    }

    #[test]
    fn port_channel_commands_create_the_bundle_then_join_members() {
        let c = commands(&Change::CreatePortChannel {
            id: 2,
            members: vec!["Gi0/5".into(), "Gi0/6".into()],
            mode: BondMode::Lacp,
        });
        assert_eq!(c[0], "interface Port-channel2");
        assert!(
            c.contains(&"interface GigabitEthernet0/6".to_string())
                && c.contains(&"channel-group 2 mode active".to_string())
        );
    }
}
