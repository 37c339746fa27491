//! The diff: a pure function from the desired and the observed state to attribute-level changes.
//!
//! Values are normalised before they are compared (BIOS values take the registry's types, port names
//! the switch's canonical spelling), so a plan right after an apply says "No changes". Each item says
//! whether it still has to be staged, is already staged and waits for a reset (pending), and whether
//! the live value was changed out of band since the planner last applied it.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::hardware::{AttrType, BiosRegistry, VolumeSpec};
use crate::model::{Desired, NodeSpec, PortWant, ProfileSpec};
use crate::observed::{NodeLive, Observed, Seen};
use crate::ports::{self, Change, Port, PortMode, SwitchState, VlanSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemState {
    /// Live differs from desired, nothing staged: the plan stages it.
    Change,
    /// Already staged on the BMC; the next reset applies it.
    Pending,
}

/// One attribute that is not as desired.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Item {
    /// `bios.ProcTurboMode`, `boot.mode`, `boot.secure_boot`, `raid.os`.
    pub path: String,
    pub live: Option<Value>,
    pub want: Option<Value>,
    pub state: ItemState,
    /// The planner applied another value last time: someone changed it out of band.
    pub out_of_band: bool,
}

/// What a node needs.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct NodeDiff {
    pub node: String,
    pub system_id: String,
    pub items: Vec<Item>,
    /// BIOS values to stage, typed for the registry.
    pub bios: Map<String, Value>,
    pub boot_mode: Option<String>,
    pub secure_boot: Option<bool>,
    pub raid_delete: Vec<String>,
    pub raid_create: Vec<VolumeSpec>,
    /// Firmware images to stage: (image URL, component id).
    pub firmware: Vec<(String, String)>,
    /// Something staged or to be staged only takes effect at a reset.
    pub needs_reset: bool,
    /// The values this diff wants, by path, recorded after a successful apply (for out-of-band
    /// detection next time).
    pub applied: BTreeMap<String, Value>,
    /// The node's health as its BMC reports it (`HealthRollup`, else `Health`): state, not
    /// configuration, so it never makes the node drifted; a Critical node fails its wait.
    pub health: Option<String>,
    /// Images inserted in the node's virtual media.
    pub media: Vec<String>,
    /// Work the BMC holds for the next reset that this configuration did not ask for (open tasks,
    /// vendor jobs), one line each.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub queued: Vec<String>,
}

impl NodeDiff {
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// One switch port that is not as desired.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PortDiff {
    pub switch: String,
    pub port: String,
    pub node: String,
    pub live: String,
    pub want: String,
    pub out_of_band: bool,
}

/// What a switch needs: the changes not in place, in order (VLANs first), as one batch.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct SwitchDiff {
    pub switch: String,
    pub ports: Vec<PortDiff>,
    pub vlans: Vec<u16>,
    pub changes: Vec<Change>,
    /// Port changes by node, so the plan can put them in the node's wave.
    pub by_node: BTreeMap<String, Vec<Change>>,
    /// What the planner manages on this switch once this plan is applied (`port.<name>` → what
    /// it carries, `channel.<id>` → members, `vlan.<id>` → name). Recorded when the switch's
    /// batches succeed, so a later plan knows what a removed resource left behind.
    pub managed: BTreeMap<String, Value>,
    /// Destroy edges: what the planner configured before and the configuration no longer has,
    /// undone after every wave and in reverse order of creation: ports back to the default VLAN,
    /// port-channels removed, then the VLANs no port carries any more.
    pub releases: Vec<Change>,
    /// VLANs no longer configured that ports the planner does not manage still carry: kept, with
    /// those ports.
    pub kept_vlans: BTreeMap<u16, Vec<String>>,
}

/// The VLAN a released port goes back to.
pub const DEFAULT_VLAN: u16 = 1;

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct Diff {
    pub nodes: BTreeMap<String, NodeDiff>,
    pub switches: BTreeMap<String, SwitchDiff>,
    /// Devices that could not be read, with why.
    pub unreachable: BTreeMap<String, String>,
    /// Desired values the devices cannot take (unknown BIOS attributes, not enough drives…).
    pub errors: Vec<DiffError>,
    /// Nodes and ports in sync.
    pub in_sync: Vec<String>,
    /// Configured ports whose cable goes elsewhere, as LLDP says.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cabling: Vec<Miscabled>,
}

/// A configured port whose NIC's LLDP neighbour is another switch or port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Miscabled {
    pub node: String,
    pub mac: String,
    pub configured_switch: String,
    pub configured_port: String,
    pub seen_switch: String,
    pub seen_port: String,
}

impl std::fmt::Display for Miscabled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "node {} NIC {} is cabled to {} port {} (LLDP, seen from inside), not to {} port {} as configured",
            self.node, self.mac, self.seen_switch, self.seen_port, self.configured_switch, self.configured_port
        )
    }
}

/// Configured ports (with a MAC) whose NIC heard LLDP from another switch or port than the
/// configuration names. Switches are matched by name against the LLDP system name (else the
/// chassis id), ports against the port id, both without regard to case: name a `baremetal_switch`
/// as the switch calls itself for the check to hold.
pub fn cabling(desired: &Desired, observed: &Observed) -> Vec<Miscabled> {
    let mut out = Vec::new();
    for n in desired.nodes.values() {
        let Some(nics) = observed.inband.get(&n.name) else {
            continue;
        };
        for p in &n.ports {
            let Some(mac) = p.mac.as_deref().map(str::to_ascii_lowercase) else {
                continue;
            };
            let Some(l) = nics
                .iter()
                .find(|x| x.mac.eq_ignore_ascii_case(&mac))
                .and_then(|x| x.lldp.as_ref())
            else {
                continue;
            };
            let same = l.switch().eq_ignore_ascii_case(&p.switch)
                && l.port_id.eq_ignore_ascii_case(&p.port);
            if !same {
                out.push(Miscabled {
                    node: n.name.clone(),
                    mac,
                    configured_switch: p.switch.clone(),
                    configured_port: p.port.clone(),
                    seen_switch: l.switch().to_string(),
                    seen_port: l.port_id.clone(),
                });
            }
        }
    }
    out
}

impl Diff {
    pub fn has_changes(&self) -> bool {
        self.nodes.values().any(|n| !n.is_empty())
            || self
                .switches
                .values()
                .any(|s| !s.changes.is_empty() || !s.releases.is_empty())
    }
}

/// A desired value a device cannot take: the node, the attribute path (`bios.X`, `raid.os`) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiffError {
    pub node: String,
    pub path: String,
    pub message: String,
}

impl std::fmt::Display for DiffError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.node, self.message)
    }
}

/// What a node's BMC protocol cannot do but its profile asks for: one error per part, before
/// anything is read from or sent to a device. IPMI has no BIOS attributes, no RAID, no firmware
/// update and no secure boot settings (the boot mode it has: the boot flags' EFI bit).
pub fn protocol_limits(desired: &Desired) -> Vec<DiffError> {
    desired
        .nodes
        .values()
        .filter_map(|n| {
            Some(node_protocol_limits(
                &n.name,
                &n.bmc_url,
                n.profile.as_ref()?,
            ))
        })
        .flatten()
        .collect()
}

/// [`protocol_limits`] for one node: its name, its BMC's URL and the profile it would have.
pub fn node_protocol_limits(node: &str, bmc_url: &str, p: &ProfileSpec) -> Vec<DiffError> {
    let protocol = crate::hardware::Protocol::of(bmc_url);
    if protocol != crate::hardware::Protocol::Ipmi {
        return vec![];
    }
    let mut out = Vec::new();
    let mut refuse = |path: String, what: &str| {
        out.push(DiffError {
            node: node.to_string(),
            message: format!(
                "node {node} is managed over {} ({}), which has no {what}: refused before anything is sent. Manage this node over Redfish (https://), or give it a profile without {}",
                protocol.name(),
                crate::text::redacted(bmc_url),
                path.split('.').next().unwrap_or(&path),
            ),
            path,
        })
    };
    if let Some(first) = p.bios.keys().next() {
        refuse(format!("bios.{first}"), "BIOS attributes");
    }
    if p.raid.is_some() {
        refuse("raid".into(), "RAID management");
    }
    if !p.firmware.is_empty() {
        refuse("firmware".into(), "firmware update");
    }
    if p.secure_boot.is_some() {
        refuse("secure_boot".into(), "secure boot settings");
    }
    out
}

/// What the planner applied last time, by node, then path (`bios.X` → value).
pub type Applied = BTreeMap<String, BTreeMap<String, Value>>;

/// The registry's typed value for a configured BIOS setting, or why it cannot be.
pub fn bios_value(
    reg: &BiosRegistry,
    name: &str,
    text: &str,
) -> Result<Value, crate::rules::Invalid> {
    let Some(attr) = reg.attributes.get(name) else {
        let mut m = Map::new();
        m.insert(name.to_string(), Value::String(text.to_string()));
        return Err(crate::rules::Invalid(reg.validate(&m).join("; ")));
    };
    let v = match &attr.kind {
        AttrType::Integer { .. } => text
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("{name}: {text:?} is not an integer"))?,
        AttrType::Boolean => match text.trim() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => {
                return Err(crate::rules::Invalid(format!(
                    "{name}: {text:?} is not true or false"
                )))
            }
        },
        _ => Value::String(text.to_string()),
    };
    let mut m = Map::new();
    m.insert(name.to_string(), v.clone());
    let problems = reg.validate(&m);
    if problems.is_empty() {
        Ok(v)
    } else {
        Err(crate::rules::Invalid(problems.join("; ")))
    }
}

fn min_drives(level: &str) -> u32 {
    match level {
        "RAID0" => 1,
        "RAID1" => 2,
        "RAID5" => 3,
        "RAID6" | "RAID10" => 4,
        _ => 1,
    }
}

fn node_diff(
    n: &NodeSpec,
    live: &NodeLive,
    applied: Option<&BTreeMap<String, Value>>,
    errors: &mut Vec<DiffError>,
) -> NodeDiff {
    let mut d = NodeDiff {
        node: n.name.clone(),
        system_id: live.system_id.clone(),
        health: live.health.clone(),
        media: live
            .media
            .iter()
            .flatten()
            .filter(|m| m.inserted)
            // Shown in plans and drift reports: an image URL's credentials are masked.
            .map(|m| {
                m.image
                    .as_deref()
                    .map(crate::text::shown)
                    .unwrap_or_else(|| m.uri.clone())
            })
            .collect(),
        ..NodeDiff::default()
    };
    d.queued = queued_work(n, live);
    let Some(p) = &n.profile else {
        return d;
    };
    let inputs = NodeInputs { n, live, applied };
    inputs.bios(p, &mut d, errors);
    inputs.boot_mode(p, &mut d);
    inputs.secure_boot(p, &mut d);
    inputs.raid(p, &mut d, errors);
    inputs.firmware(p, &mut d, errors);
    d
}

/// What every part of one node's diff reads: the node, what its BMC said, and what the last run
/// recorded of it.
struct NodeInputs<'a> {
    n: &'a NodeSpec,
    live: &'a NodeLive,
    applied: Option<&'a BTreeMap<String, Value>>,
}

impl NodeInputs<'_> {
    fn err(&self, path: String, message: String) -> DiffError {
        DiffError {
            node: self.n.name.clone(),
            path,
            message,
        }
    }

    /// Whether a live value differs from what the last run recorded: changed out of band.
    fn oob(&self, path: &str, live: &Option<Value>) -> bool {
        self.applied
            .and_then(|a| a.get(path))
            .is_some_and(|was| Some(was) != live.as_ref())
    }

    /// BIOS: each attribute at its value, typed by the registry; a value staged for the next reset is pending.
    fn bios(&self, p: &ProfileSpec, d: &mut NodeDiff, errors: &mut Vec<DiffError>) {
        if !p.bios.is_empty() {
            match (&self.live.bios, &self.live.registry) {
                (Some(bios), Some(reg)) => {
                    for (name, text) in &p.bios {
                        let want = match bios_value(reg, name, text) {
                            Ok(v) => v,
                            Err(e) => {
                                errors.push(self.err(format!("bios.{name}"), format!("BIOS {e}")));
                                continue;
                            }
                        };
                        let path = format!("bios.{name}");
                        d.applied.insert(path.clone(), want.clone());
                        let cur = bios.current.get(name).cloned();
                        let pending = bios.pending.get(name);
                        if pending == Some(&want) {
                            if cur.as_ref() != Some(&want) {
                                d.needs_reset = true;
                                d.items.push(Item {
                                    path,
                                    live: cur,
                                    want: Some(want),
                                    state: ItemState::Pending,
                                    out_of_band: false,
                                });
                            }
                            continue;
                        }
                        if cur.as_ref() == Some(&want) && pending.is_none() {
                            continue;
                        }
                        d.needs_reset = true;
                        d.bios.insert(name.clone(), want.clone());
                        let out_of_band = self.oob(&path, &cur);
                        d.items.push(Item {
                            path,
                            live: cur,
                            want: Some(want),
                            state: ItemState::Change,
                            out_of_band,
                        });
                    }
                }
                _ => errors.push(self.err(
                    "bios".into(),
                    "the profile sets BIOS attributes, but the BMC exposes no BIOS settings".into(),
                )),
            }
        }
    }

    /// Boot mode (UEFI or Legacy).
    fn boot_mode(&self, p: &ProfileSpec, d: &mut NodeDiff) {
        if let Some(mode) = &p.boot_mode {
            if let Some(boot) = &self.live.boot {
                let cur = boot.mode.clone();
                d.applied
                    .insert("boot.mode".into(), Value::String(mode.clone()));
                if cur.as_deref() != Some(mode.as_str()) {
                    let live_v = cur.map(Value::String);
                    d.items.push(Item {
                        path: "boot.mode".into(),
                        out_of_band: self.oob("boot.mode", &live_v),
                        live: live_v,
                        want: Some(Value::String(mode.clone())),
                        state: ItemState::Change,
                    });
                    d.boot_mode = Some(mode.clone());
                    d.needs_reset = true;
                }
            }
        }
    }

    /// Secure boot: enabled as asked; one enabled but not yet in effect is pending.
    fn secure_boot(&self, p: &ProfileSpec, d: &mut NodeDiff) {
        if let Some(want) = p.secure_boot {
            if let Some(sb) = &self.live.secure_boot {
                d.applied
                    .insert("boot.secure_boot".into(), Value::Bool(want));
                let live_v = Some(Value::Bool(sb.enabled));
                if sb.enabled != want {
                    d.items.push(Item {
                        path: "boot.secure_boot".into(),
                        out_of_band: self.oob("boot.secure_boot", &live_v),
                        live: live_v,
                        want: Some(Value::Bool(want)),
                        state: ItemState::Change,
                    });
                    d.secure_boot = Some(want);
                    d.needs_reset = true;
                } else if sb.current.is_some_and(|c| c != want) {
                    d.items.push(Item {
                        path: "boot.secure_boot".into(),
                        live: sb.current.map(Value::Bool),
                        want: Some(Value::Bool(want)),
                        state: ItemState::Pending,
                        out_of_band: false,
                    });
                    d.needs_reset = true;
                }
            }
        }
    }

    /// RAID: the listed volumes exist with their level; others are deleted. A creation or deletion already staged for the next reset is pending, not planned again.
    fn raid(&self, p: &ProfileSpec, d: &mut NodeDiff, errors: &mut Vec<DiffError>) {
        let staged: &[crate::hardware::StagedTask] = self.live.staged.as_deref().unwrap_or(&[]);
        if let (Some(want), Some(vols)) = (&p.raid, &self.live.volumes) {
            let mut used: BTreeSet<String> =
                staged.iter().flat_map(|t| t.claimed_drives()).collect();
            let mut keep: BTreeSet<String> = BTreeSet::new();
            for v in want {
                d.applied
                    .insert(format!("raid.{}", v.name), Value::String(v.level.clone()));
                if let Some(have) = vols
                    .iter()
                    .find(|x| x.name.as_deref() == Some(v.name.as_str()))
                {
                    if have.raid.as_deref().map(str::to_ascii_uppercase) == Some(v.level.clone()) {
                        keep.insert(have.id.clone());
                        used.extend(have.drives.iter().cloned());
                        // A volume is never resized in place: a different drive count is refused,
                        // not silently read as in sync (nor deleted and recreated with its data).
                        if let Some(n) = v.drives.filter(|n| *n as usize != have.drives.len()) {
                            errors.push(self.err(
                                format!("raid.{}", v.name),
                                format!(
                                    "RAID volume {} exists with {} drives and the configuration asks for {n}: a volume's drive count cannot be changed in place (give the new volume another name to replace it)",
                                    v.name,
                                    have.drives.len()
                                ),
                            ));
                        }
                    }
                }
            }
            for have in vols.iter().filter(|x| !keep.contains(&x.id)) {
                let pending = staged
                    .iter()
                    .any(|t| t.deleted_volume() == Some(have.id.as_str()));
                if pending {
                    d.needs_reset = true;
                } else {
                    d.raid_delete.push(have.id.clone());
                }
                d.items.push(Item {
                    path: format!(
                        "raid.{}",
                        have.name.clone().unwrap_or_else(|| have.id.clone())
                    ),
                    live: have.raid.clone().map(Value::String),
                    want: None,
                    state: if pending {
                        ItemState::Pending
                    } else {
                        ItemState::Change
                    },
                    out_of_band: false,
                });
            }
            let mut free: Vec<&str> = self
                .live
                .drives
                .iter()
                .map(|x| x.id.as_str())
                .filter(|id| !used.contains(*id))
                .collect();
            for v in want {
                let exists = vols
                    .iter()
                    .any(|x| keep.contains(&x.id) && x.name.as_deref() == Some(v.name.as_str()));
                if exists {
                    continue;
                }
                let staged_here = staged.iter().any(|t| {
                    t.created_volume().is_some_and(|(name, level)| {
                        name == v.name && level.eq_ignore_ascii_case(&v.level)
                    })
                });
                if staged_here {
                    d.items.push(Item {
                        path: format!("raid.{}", v.name),
                        live: None,
                        want: Some(Value::String(v.level.clone())),
                        state: ItemState::Pending,
                        out_of_band: false,
                    });
                    d.needs_reset = true;
                    continue;
                }
                let count = v.drives.unwrap_or_else(|| min_drives(&v.level)) as usize;
                if free.len() < count {
                    errors.push(self.err(
                        format!("raid.{}", v.name),
                        format!(
                            "RAID volume {} needs {count} free drives, and {} are free",
                            v.name,
                            free.len()
                        ),
                    ));
                    continue;
                }
                let drives: Vec<String> = free.drain(..count).map(str::to_string).collect();
                d.raid_create.push(VolumeSpec {
                    name: v.name.clone(),
                    raid: v.level.clone(),
                    drives,
                    capacity_bytes: None,
                });
                d.items.push(Item {
                    path: format!("raid.{}", v.name),
                    live: None,
                    want: Some(Value::String(v.level.clone())),
                    state: ItemState::Change,
                    out_of_band: false,
                });
            }
            if !d.raid_create.is_empty() || !d.raid_delete.is_empty() {
                d.needs_reset = true;
            }
        }
    }

    /// Firmware: each named component at its version.
    fn firmware(&self, p: &ProfileSpec, d: &mut NodeDiff, errors: &mut Vec<DiffError>) {
        let staged: &[crate::hardware::StagedTask] = self.live.staged.as_deref().unwrap_or(&[]);
        if !p.firmware.is_empty() {
            match &self.live.firmware {
                Some(inv) => {
                    for f in &p.firmware {
                        let path = format!("firmware.{}", f.component);
                        d.applied
                            .insert(path.clone(), Value::String(f.version.clone()));
                        let Some(have) = inv.iter().find(|x| x.id == f.component) else {
                            errors.push(self.err(
                                path,
                                format!(
                                    "no firmware component {:?} (the BMC has {})",
                                    f.component,
                                    inv.iter()
                                        .map(|x| x.id.as_str())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            ));
                            continue;
                        };
                        if have.version.as_deref() == Some(f.version.as_str()) {
                            continue;
                        }
                        let live_v = have.version.clone().map(Value::String);
                        // An update to this image already staged for the next reset is pending.
                        let pending = staged
                            .iter()
                            .any(|t| t.firmware_image() == Some(f.image_url.as_str()));
                        d.items.push(Item {
                            out_of_band: !pending && self.oob(&path, &live_v),
                            path,
                            live: live_v,
                            want: Some(Value::String(f.version.clone())),
                            state: if pending {
                                ItemState::Pending
                            } else {
                                ItemState::Change
                            },
                        });
                        if !pending {
                            d.firmware.push((f.image_url.clone(), f.component.clone()));
                        }
                        d.needs_reset = true;
                    }
                }
                None => errors.push(self.err(
                    "firmware".into(),
                    "the profile sets firmware, but the BMC has no firmware inventory".into(),
                )),
            }
        }
    }
}

/// Work the BMC holds for the next reset that the configuration does not account for (someone's
/// BIOS job, a PMEM task): shown, since the next reset applies it too. Volume and firmware tasks
/// are the profile's own business when it manages RAID or firmware.
fn queued_work(n: &NodeSpec, live: &NodeLive) -> Vec<String> {
    let manages_raid = n.profile.as_ref().is_some_and(|p| p.raid.is_some());
    let manages_firmware = n.profile.as_ref().is_some_and(|p| !p.firmware.is_empty());
    live.staged
        .iter()
        .flatten()
        .filter(|t| {
            let volume = t.created_volume().is_some() || t.deleted_volume().is_some();
            let firmware = t.firmware_image().is_some();
            !((volume && manages_raid) || (firmware && manages_firmware))
        })
        .map(|t| format!("{} {}", t.id, t.describe()))
        .collect()
}

fn describe(p: Option<&Port>) -> String {
    match p {
        None => "absent".into(),
        Some(p) => match p.mode {
            PortMode::Access => format!("VLAN {}", p.access_vlan),
            PortMode::Trunk => match &p.trunk_allowed {
                VlanSet::All => format!("trunk all, native {}", p.native_vlan),
                VlanSet::Only(s) => format!(
                    "trunk {}, native {}",
                    s.iter().map(u16::to_string).collect::<Vec<_>>().join(","),
                    p.native_vlan
                ),
            },
        },
    }
}

fn port_change(p: &PortWant) -> Option<(Change, String)> {
    match p.vlans.as_slice() {
        [] => None,
        [one] => Some((
            Change::Access {
                port: p.port.clone(),
                vlan: *one,
            },
            format!("VLAN {one}"),
        )),
        many => {
            let set: BTreeSet<u16> = many.iter().copied().collect();
            Some((
                Change::Trunk {
                    port: p.port.clone(),
                    allowed: VlanSet::Only(set.clone()),
                    native: many[0],
                },
                format!(
                    "trunk {}, native {}",
                    set.iter().map(u16::to_string).collect::<Vec<_>>().join(","),
                    many[0]
                ),
            ))
        }
    }
}

fn switch_diff(
    desired: &Desired,
    name: &str,
    live: &SwitchState,
    applied: Option<&BTreeMap<String, Value>>,
) -> SwitchDiff {
    let driver = desired
        .switches
        .get(name)
        .map(|s| s.driver.as_str())
        .unwrap_or("");
    let canonical = ports::canonical_for(driver);
    let mut d = SwitchDiff {
        switch: name.to_string(),
        ..SwitchDiff::default()
    };
    let mut wanted: Vec<Change> = Vec::new();
    let mut vlans: BTreeSet<u16> = BTreeSet::new();
    let mut per_node: Vec<(String, Change, PortDiff)> = Vec::new();
    // Port-channels to create, by node: (change, what the plan shows).
    let mut bonds: Vec<(String, Change, PortDiff)> = Vec::new();
    let vlan_name = |v: u16| {
        desired
            .networks
            .values()
            .find(|n| n.vlan == v)
            .map(|n| n.name.clone())
            .unwrap_or_else(|| format!("vlan{v}"))
    };
    // Nodes in maintenance are left as they are, but what they have stays managed (not released).
    let mut held_vlans: BTreeSet<u16> = BTreeSet::new();
    for n in desired.nodes.values() {
        let held = n.maintenance;
        // Unbonded ports carry their VLANs; a bond's VLANs go on its port-channel.
        let mut carriers: Vec<PortWant> = Vec::new();
        let mut groups: BTreeMap<&str, Vec<&PortWant>> = BTreeMap::new();
        for p in n.ports.iter().filter(|p| p.switch == name) {
            match &p.bond {
                Some(b) => groups.entry(b.as_str()).or_default().push(p),
                None => carriers.push(p.clone()),
            }
        }
        for members in groups.values() {
            let host_mode = members[0].bond_mode.unwrap_or(ports::HostBond::Lacp);
            let Some(mode) = host_mode.channel() else {
                // Active-backup: the host fails over by itself; each member stays an independent
                // port carrying the bond's networks (a port-channel it was in is released). It
                // keeps its bond, which the plan shows.
                carriers.extend(members.iter().map(|m| (*m).clone()));
                continue;
            };
            let mut names: Vec<String> = members.iter().map(|m| canonical(&m.port)).collect();
            names.sort();
            let id = channel_id(&names);
            let live_groups: Vec<String> = names
                .iter()
                .map(|m| match live.ports.get(m).and_then(|p| p.channel_group) {
                    Some((g, md)) => format!("{m} in port-channel {g} ({md:?})"),
                    None => format!("{m} not bonded"),
                })
                .collect();
            d.managed
                .insert(format!("channel.{id}"), Value::String(names.join("+")));
            let mut po = members[0].clone();
            po.port = format!("Port-channel{id}");
            po.bond = None;
            carriers.push(po);
            if held {
                continue;
            }
            bonds.push((
                n.name.clone(),
                Change::CreatePortChannel {
                    id,
                    members: names.clone(),
                    mode,
                },
                PortDiff {
                    switch: name.to_string(),
                    port: names.join("+"),
                    node: n.name.clone(),
                    live: live_groups.join(", "),
                    want: format!(
                        "port-channel {id} ({mode:?}), host bond {}",
                        host_mode.as_str()
                    ),
                    out_of_band: false,
                },
            ));
        }
        for p in &carriers {
            let Some((change, want)) = port_change(p) else {
                continue;
            };
            let key = format!("port.{}", canonical(&p.port));
            d.managed.insert(key.clone(), Value::String(want.clone()));
            if held {
                held_vlans.extend(p.vlans.iter().copied());
                continue;
            }
            vlans.extend(p.vlans.iter().copied());
            let live_port = live.ports.get(&canonical(&p.port));
            let live_text = describe(live_port);
            let out_of_band = applied
                .and_then(|a| a.get(&key))
                .and_then(Value::as_str)
                .is_some_and(|was| was != live_text && was == want);
            per_node.push((
                n.name.clone(),
                change,
                PortDiff {
                    switch: name.to_string(),
                    port: p.port.clone(),
                    node: n.name.clone(),
                    live: live_text,
                    // Only an active-backup member is still bonded here: the host's side shown.
                    want: match &p.bond {
                        Some(b) => format!("{want}, host bond {b} active-backup"),
                        None => want,
                    },
                    out_of_band,
                },
            ));
        }
    }
    // The host lifecycle's networks (provisioning, cleaning) live on every switch that carries
    // managed node ports, used or not at the moment: a deployment or a clean moves ports onto them.
    if d.managed.keys().any(|k| k.starts_with("port.")) {
        for nw in desired.networks.values() {
            if matches!(nw.role.as_str(), "provisioning" | "cleaning") {
                vlans.insert(nw.vlan);
            }
        }
    }
    for v in &held_vlans {
        d.managed
            .insert(format!("vlan.{v}"), Value::String(vlan_name(*v)));
    }
    for v in &vlans {
        let name = vlan_name(*v);
        d.managed
            .insert(format!("vlan.{v}"), Value::String(name.clone()));
        wanted.push(Change::CreateVlan { id: *v, name });
    }
    let vlan_changes = ports::pending(live, &wanted, canonical);
    d.vlans = vlan_changes
        .iter()
        .filter_map(|c| match c {
            Change::CreateVlan { id, .. } => Some(*id),
            _ => None,
        })
        .collect();
    d.changes.extend(vlan_changes);
    // One pass over all bond and port changes (the state is cloned once, not once per port); the
    // port-channels come first, so their VLAN settings are judged on them.
    let all: Vec<Change> = bonds
        .iter()
        .chain(per_node.iter())
        .map(|(_, c, _)| c.clone())
        .collect();
    let todo = ports::pending(live, &all, canonical);
    let mut todo_ports: BTreeMap<String, Vec<Change>> = BTreeMap::new();
    let mut todo_bonds: BTreeSet<u32> = BTreeSet::new();
    for c in todo {
        if let Change::CreatePortChannel { id, .. } = &c {
            todo_bonds.insert(*id);
        } else if let Some(p) = c.port() {
            todo_ports.entry(canonical(p)).or_default().push(c);
        }
    }
    for (node, change, pd) in bonds {
        let Change::CreatePortChannel { id, .. } = &change else {
            continue;
        };
        if todo_bonds.contains(id) {
            d.by_node.entry(node).or_default().push(change.clone());
            d.changes.push(change);
            d.ports.push(pd);
        }
    }
    for (node, change, pd) in per_node {
        let Some(p) = change.port() else { continue };
        let Some(changes) = todo_ports.remove(&canonical(p)) else {
            continue;
        };
        d.by_node.entry(node).or_default().extend(changes.clone());
        d.changes.extend(changes);
        d.ports.push(pd);
    }
    match applied {
        Some(before) if desired.complete => releases(&mut d, before, live, &canonical),
        // A partial desired state (some nodes) says nothing about the others: what was managed
        // stays managed.
        Some(before) => {
            for (k, v) in before {
                d.managed.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        None => {}
    }
    d
}

/// The destroy edges of one switch: what `before` (the last applied record) managed and `d.managed`
/// no longer does, undone in reverse order of creation once the switch's other changes are made.
fn releases(
    d: &mut SwitchDiff,
    before: &BTreeMap<String, Value>,
    live: &SwitchState,
    canonical: &impl Fn(&str) -> String,
) {
    let gone = |prefix: &str| -> Vec<String> {
        before
            .keys()
            .filter(|k| !d.managed.contains_key(*k))
            .filter_map(|k| k.strip_prefix(prefix).map(String::from))
            .collect()
    };
    let bonded: BTreeSet<String> = d
        .managed
        .iter()
        .filter(|(k, _)| k.starts_with("channel."))
        .filter_map(|(_, v)| v.as_str())
        .flat_map(|m| m.split('+').map(String::from).collect::<Vec<_>>())
        .collect();
    let mut undo = Vec::new();
    for port in gone("port.") {
        // A port now in a bond is configured through its port-channel; a removed port-channel
        // goes with its channel below.
        // Records of older versions name ports as written, bonds as `a+b`: a port still managed
        // under its canonical name, and a name the switch does not have, are not released.
        let name = canonical(&port);
        if bonded.contains(&name)
            || name.starts_with("Port-channel")
            || d.managed.contains_key(&format!("port.{name}"))
            || !live.ports.contains_key(&name)
        {
            continue;
        }
        undo.push(Change::Access {
            port: name,
            vlan: DEFAULT_VLAN,
        });
    }
    for id in gone("channel.") {
        if let Ok(id) = id.parse() {
            undo.push(Change::DeletePortChannel { id });
        }
    }
    // VLANs last, judged on the switch as every other change of the plan leaves it.
    let after_changes = ports::simulated(live, &d.changes, canonical);
    let after_undo = ports::simulated(&after_changes, &undo, canonical);
    for id in gone("vlan.") {
        let Ok(id) = id.parse::<u16>() else { continue };
        let users: Vec<String> = after_undo
            .ports
            .iter()
            .filter(|(_, p)| match p.mode {
                PortMode::Access => p.access_vlan == id,
                // A trunk allowing every VLAN (an uplink) does not hold one back.
                PortMode::Trunk => {
                    p.native_vlan == id
                        || matches!(&p.trunk_allowed, VlanSet::Only(s) if s.contains(&id))
                }
            })
            .map(|(name, _)| name.clone())
            .collect();
        if users.is_empty() {
            undo.push(Change::DeleteVlan { id });
        } else {
            d.kept_vlans.insert(id, users);
        }
    }
    d.releases = ports::pending(&after_changes, &undo, canonical);
}

/// A port-channel's number: the trailing number of its first member (`Gi0/3` → 3), else one
/// derived from the members' names. Members are canonical and sorted.
fn channel_id(members: &[String]) -> u32 {
    let first = members.first().map(String::as_str).unwrap_or("");
    let digits: String = first
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    match digits.parse::<u32>() {
        Ok(n) if n > 0 => n,
        _ => {
            let h = members
                .join(",")
                .bytes()
                .fold(0u32, |a, b| a.wrapping_mul(31).wrapping_add(b as u32));
            h % 4000 + 1
        }
    }
}

/// The diff of the whole desired state against what was observed. Pure.
pub fn diff(desired: &Desired, observed: &Observed, applied: &Applied) -> Diff {
    let mut out = Diff {
        cabling: cabling(desired, observed),
        ..Diff::default()
    };
    for n in desired.nodes.values() {
        if n.maintenance {
            continue;
        }
        match observed.nodes.get(&n.name) {
            Some(Seen::Live(live)) => {
                let nd = node_diff(n, live, applied.get(&n.name), &mut out.errors);
                if nd.is_empty() {
                    out.in_sync.push(n.name.clone());
                }
                out.nodes.insert(n.name.clone(), nd);
            }
            Some(Seen::Unreachable(why)) => {
                out.unreachable
                    .insert(format!("node {}", n.name), why.clone());
            }
            None => {
                out.unreachable
                    .insert(format!("node {}", n.name), "not observed".into());
            }
        }
    }
    for name in desired.switches.keys() {
        match observed.switches.get(name) {
            Some(Seen::Live(st)) => {
                let sd = switch_diff(desired, name, st, applied.get(&format!("switch {name}")));
                out.switches.insert(name.clone(), sd);
            }
            Some(Seen::Unreachable(why)) => {
                out.unreachable
                    .insert(format!("switch {name}"), why.clone());
            }
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hardware::{BiosAttribute, BiosState, BootSettings, PowerState, SecureBoot};
    use crate::model::ProfileSpec;

    fn registry() -> BiosRegistry {
        let mut attributes = BTreeMap::new();
        attributes.insert(
            "ProcTurboMode".into(),
            BiosAttribute {
                name: "ProcTurboMode".into(),
                kind: AttrType::Enumeration(vec!["Enabled".into(), "Disabled".into()]),
                read_only: false,
            },
        );
        attributes.insert(
            "NumLock".into(),
            BiosAttribute {
                name: "NumLock".into(),
                kind: AttrType::Integer {
                    lower: Some(0),
                    upper: Some(10),
                },
                read_only: false,
            },
        );
        BiosRegistry {
            name: "Reg".into(),
            attributes,
        }
    }

    fn node(bios: &[(&str, &str)], mode: Option<&str>, sb: Option<bool>) -> NodeSpec {
        NodeSpec {
            name: "n1".into(),
            address: "baremetal_node.n1".into(),
            bmc_url: "https://x".into(),
            system_id: Some("1".into()),
            username: "u".into(),
            password: "p".into(),
            tls: Default::default(),
            profile: Some(ProfileSpec {
                name: "p".into(),
                bios: bios
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                boot_mode: mode.map(str::to_string),
                secure_boot: sb,
                ..ProfileSpec::default()
            }),
            rack: None,
            maintenance: false,
            ports: vec![],
            boot: Default::default(),
        }
    }

    #[test]
    fn what_ipmi_cannot_do_is_refused_per_part_and_boot_mode_is_not() {
        let mut n = node(&[("ProcTurboMode", "Disabled")], Some("UEFI"), Some(true));
        assert_eq!(
            protocol_limits_of(&n),
            Vec::<String>::new(),
            "Redfish carries it all"
        );
        n.bmc_url = "ipmi://10.0.0.9".into();
        assert_eq!(
            protocol_limits_of(&n),
            vec!["bios.ProcTurboMode".to_string(), "secure_boot".to_string()]
        );
        let err = &node_protocol_limits("n1", &n.bmc_url, n.profile.as_ref().unwrap())[0];
        assert!(
            err.message.contains(
                "node n1 is managed over IPMI (ipmi://10.0.0.9), which has no BIOS attributes"
            ),
            "{}",
            err.message
        );
        let only_boot_mode = NodeSpec {
            bmc_url: "ipmi://10.0.0.9".into(),
            ..node(&[], Some("UEFI"), None)
        };
        assert_eq!(protocol_limits_of(&only_boot_mode), Vec::<String>::new());
    }

    fn protocol_limits_of(n: &NodeSpec) -> Vec<String> {
        let mut d = Desired::default();
        d.nodes.insert(n.name.clone(), n.clone());
        protocol_limits(&d).into_iter().map(|e| e.path).collect()
    }

    fn live(current: Value, pending: Value) -> NodeLive {
        NodeLive {
            system_id: "1".into(),
            power: PowerState::On,
            health: Some("OK".into()),
            media: None,
            staged: None,
            bios: Some(BiosState {
                current: current.as_object().unwrap().clone(),
                pending: pending.as_object().unwrap().clone(),
                registry: None,
                apply_times: vec![],
                uri: String::new(),
                settings_uri: String::new(),
            }),
            registry: Some(std::sync::Arc::new(registry())),
            boot: Some(BootSettings {
                target: "None".into(),
                enabled: "Disabled".into(),
                mode: Some("Legacy".into()),
                order: vec![],
                allowed_targets: vec![],
            }),
            secure_boot: Some(SecureBoot {
                enabled: false,
                current: Some(false),
            }),
            volumes: None,
            drives: vec![],
            controllers: vec![],
            firmware: None,
        }
    }

    #[test]
    fn values_are_typed_by_the_registry_so_an_applied_value_compares_equal() {
        let n = node(
            &[("ProcTurboMode", "Enabled"), ("NumLock", "3")],
            None,
            None,
        );
        let l = live(
            serde_json::json!({"ProcTurboMode": "Enabled", "NumLock": 3}),
            serde_json::json!({}),
        );
        let mut errors = vec![];
        let d = node_diff(&n, &l, None, &mut errors);
        assert!(errors.is_empty());
        assert!(d.is_empty(), "{d:?}");
        assert!(!d.needs_reset);
    }

    #[test]
    fn pending_desired_and_out_of_band_are_told_apart() {
        let n = node(
            &[("ProcTurboMode", "Enabled"), ("NumLock", "3")],
            Some("UEFI"),
            Some(true),
        );
        let l = live(
            serde_json::json!({"ProcTurboMode": "Disabled", "NumLock": 5}),
            serde_json::json!({"ProcTurboMode": "Enabled"}),
        );
        let applied: BTreeMap<String, Value> =
            [("bios.NumLock".to_string(), Value::from(3))].into();
        let mut errors = vec![];
        let d = node_diff(&n, &l, Some(&applied), &mut errors);
        let by: BTreeMap<&str, &Item> = d.items.iter().map(|i| (i.path.as_str(), i)).collect();
        assert_eq!(by["bios.ProcTurboMode"].state, ItemState::Pending);
        assert_eq!(by["bios.NumLock"].state, ItemState::Change);
        assert!(by["bios.NumLock"].out_of_band);
        assert!(!by["bios.ProcTurboMode"].out_of_band);
        assert_eq!(d.bios.len(), 1, "pending values are not staged again");
        assert_eq!(d.bios["NumLock"], 3);
        assert_eq!(d.boot_mode.as_deref(), Some("UEFI"));
        assert_eq!(d.secure_boot, Some(true));
        assert!(d.needs_reset);
    }

    #[test]
    fn firmware_behind_its_version_is_staged_and_an_unknown_component_is_an_error() {
        use crate::hardware::FirmwareInfo;
        use crate::model::FirmwareWant;
        let mut n = node(&[], None, None);
        n.profile.as_mut().unwrap().firmware = vec![
            FirmwareWant {
                component: "BIOS".into(),
                version: "2.20.0".into(),
                image_url: "http://img/bios-2.20.0.bin".into(),
            },
            FirmwareWant {
                component: "NIC.1".into(),
                version: "1.0".into(),
                image_url: "http://img/nic-1.0.bin".into(),
            },
        ];
        let mut l = live(serde_json::json!({}), serde_json::json!({}));
        l.firmware = Some(vec![FirmwareInfo {
            id: "BIOS".into(),
            name: None,
            version: Some("2.19.1".into()),
            updateable: Some(true),
        }]);
        let mut errors = vec![];
        let d = node_diff(&n, &l, None, &mut errors);
        assert_eq!(
            d.firmware,
            vec![("http://img/bios-2.20.0.bin".to_string(), "BIOS".to_string())]
        );
        assert!(d.needs_reset);
        assert_eq!(d.items[0].path, "firmware.BIOS");
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0]
                .message
                .contains("no firmware component \"NIC.1\" (the BMC has BIOS)"),
            "{errors:?}"
        );
    }

    #[test]
    fn an_unknown_bios_attribute_is_an_error_naming_the_registry() {
        let n = node(&[("ProcTurbo", "Enabled")], None, None);
        let l = live(serde_json::json!({}), serde_json::json!({}));
        let mut errors = vec![];
        node_diff(&n, &l, None, &mut errors);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "bios.ProcTurbo");
        assert!(
            errors[0]
                .to_string()
                .contains("n1: BIOS ProcTurbo: unknown BIOS attribute in registry Reg"),
            "{errors:?}"
        );
    }
}
