//! The plan: a pure function from the diff to an ordered DAG of steps, in waves.
//!
//! Per node: stage RAID deletions, RAID creations, BIOS, boot mode and secure boot → exactly **one**
//! reset → wait for the staged work and the node's health. Switch port changes of a wave go in one
//! batch per switch after the wave's nodes are back (VLANs they need first). Waves hold at most
//! `max_parallel` nodes of one failure domain (rack, else switch); a wave starts when the one before
//! it has finished.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::diff::{Diff, ItemState, NodeDiff};
use crate::hardware::VolumeSpec;
use crate::model::Desired;
use crate::ports::Change;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Action {
    DeleteVolumes {
        volumes: Vec<String>,
    },
    CreateVolumes {
        volumes: Vec<VolumeSpec>,
    },
    StageBios {
        values: Map<String, Value>,
    },
    /// Firmware images staged for the reset: (image URL, component id).
    UpdateFirmware {
        updates: Vec<(String, String)>,
    },
    SetBootMode {
        mode: String,
    },
    SetSecureBoot {
        enabled: bool,
    },
    /// The one reset that applies everything staged.
    Reset,
    /// Waits for the staged work to be applied and the node to be healthy.
    Wait,
    /// One batch of changes to one switch.
    SwitchBatch {
        changes: Vec<Change>,
    },
}

impl Action {
    pub fn disruptive(&self) -> bool {
        matches!(
            self,
            Action::Reset | Action::SwitchBatch { .. } | Action::DeleteVolumes { .. }
        )
    }

    /// A rough duration, for window checks.
    pub fn estimate_s(&self) -> u64 {
        match self {
            Action::Reset => 60,
            Action::Wait => 240,
            Action::SwitchBatch { .. } => 10,
            _ => 2,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// `r1u01/stage-bios`, `tor1/wave-1`.
    pub id: String,
    pub node: Option<String>,
    pub switch: Option<String>,
    pub system_id: Option<String>,
    pub wave: usize,
    pub action: Action,
    pub after: Vec<String>,
    /// For a switch batch: which of its changes (by index) are each node's ports, so that with a
    /// failure budget a node that failed is left out of the batch and the others' ports still move.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub owners: BTreeMap<String, Vec<usize>>,
}

/// The plan: steps in a valid order, their waves, and what an operator reads before approving it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub steps: Vec<Step>,
    pub waves: Vec<Wave>,
    /// Per node and switch: "r1u03: 1 reboot, BIOS 3 changes, VLAN 100→200 on Gi0/3".
    pub disruptions: Vec<String>,
    /// Fingerprint of the observed state the plan was made from: a saved plan is refused when live
    /// state has changed since.
    pub observed_fingerprint: String,
    /// What to record as applied once the node's steps succeed (for out-of-band detection).
    pub applied: BTreeMap<String, BTreeMap<String, Value>>,
    /// What the devices showed before, for the same paths as `applied` (the audit's `before`).
    #[serde(default)]
    pub before: BTreeMap<String, BTreeMap<String, Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Wave {
    pub index: usize,
    pub domain: String,
    pub nodes: Vec<String>,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The number of resets the plan makes, by node.
    pub fn resets_by_node(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for s in self.steps.iter().filter(|s| s.action.disruptive()) {
            if let Some(n) = &s.node {
                *out.entry(n.clone()).or_insert(0) += 1;
            }
        }
        out
    }

    pub fn resets(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| s.action == Action::Reset)
            .count()
    }

    /// The time one wave takes by its estimates: its longest node chain, plus its switch batches.
    pub fn wave_estimate_s(&self, w: &Wave) -> u64 {
        let longest = w
            .nodes
            .iter()
            .map(|n| {
                self.steps
                    .iter()
                    .filter(|s| s.node.as_deref() == Some(n))
                    .map(|s| s.action.estimate_s())
                    .sum::<u64>()
            })
            .max()
            .unwrap_or(0);
        let batches: u64 = self
            .steps
            .iter()
            .filter(|s| s.wave == w.index && s.switch.is_some())
            .map(|s| s.action.estimate_s())
            .sum();
        longest + batches
    }

    /// The time the plan takes by its estimates: its waves one after the other.
    pub fn estimate_s(&self) -> u64 {
        self.waves.iter().map(|w| self.wave_estimate_s(w)).sum()
    }
}

/// The domain of the last wave, which undoes what removed resources left on the switches.
pub const RELEASE_DOMAIN: &str = "removed resources";

/// A stable fingerprint of what the diff saw, so a saved plan can be checked against live state.
pub fn fingerprint(diff: &Diff) -> String {
    let text = serde_json::to_string(&(
        &diff
            .nodes
            .values()
            .map(|n| (&n.node, &n.items))
            .collect::<Vec<_>>(),
        &diff
            .switches
            .values()
            .map(|s| (&s.switch, &s.changes, &s.releases))
            .collect::<Vec<_>>(),
        &diff.unreachable.keys().collect::<Vec<_>>(),
    ))
    .unwrap_or_default();
    hex::encode(&Sha256::digest(text.as_bytes())[..12])
}

/// Orders the diff into steps and waves, as passes in order: [`waves`], [`wave_steps`] (node
/// chains and switch batches), [`release_wave`], then what the operator and the run record are
/// told ([`disruptions`], [`applied`], [`before`]). Pure.
pub fn plan(desired: &Desired, diff: &Diff) -> Plan {
    // The passes, in order; each is a pure function of what the ones before produced.
    let mut waves = waves(desired, diff);
    let (mut steps, last) = wave_steps(&waves, diff);
    if let Some((wave, releases)) = release_wave(diff, waves.len() + 1, &last) {
        waves.push(wave);
        steps.extend(releases);
    }
    Plan {
        disruptions: disruptions(diff, &waves),
        observed_fingerprint: fingerprint(diff),
        applied: applied(diff, &waves),
        before: before(diff, &waves),
        steps,
        waves,
    }
}

/// Pass 1, waves: the nodes with something to do (a setting or a port), grouped by failure
/// domain (rack, else switch), at most `max_parallel` to a wave; waves numbered from 1.
pub fn waves(desired: &Desired, diff: &Diff) -> Vec<Wave> {
    let max_parallel = desired.max_parallel.max(1);
    let mut by_domain: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, nd) in &diff.nodes {
        let has_ports = diff.switches.values().any(|s| s.by_node.contains_key(name));
        if nd.is_empty() && !has_ports {
            continue;
        }
        let domain = desired
            .nodes
            .get(name)
            .map(|n| n.failure_domain())
            .unwrap_or_default();
        by_domain.entry(domain).or_default().push(name.clone());
    }
    let mut waves = Vec::new();
    for (domain, nodes) in by_domain {
        for chunk in nodes.chunks(max_parallel) {
            waves.push(Wave {
                index: waves.len() + 1,
                domain: domain.clone(),
                nodes: chunk.to_vec(),
            });
        }
    }
    waves
}

/// Pass 2, steps: each wave's node chains ([`node_steps`]), then one batch per switch for the
/// wave's ports ([`switch_batches`]); a wave starts when the one before it has ended. Returns the
/// steps and the ids the last wave ends with.
pub fn wave_steps(waves: &[Wave], diff: &Diff) -> (Vec<Step>, Vec<String>) {
    // VLANs to create are needed by every port change: they go in the first batch of their switch.
    let mut vlans_pending: BTreeMap<String, Vec<Change>> = diff
        .switches
        .iter()
        .map(|(name, s)| {
            (
                name.clone(),
                s.changes
                    .iter()
                    .filter(|c| matches!(c, Change::CreateVlan { .. }))
                    .cloned()
                    .collect(),
            )
        })
        .collect();
    let mut steps = Vec::new();
    let mut previous_wave_end: Vec<String> = Vec::new();
    for w in waves {
        let mut wave_end = Vec::new();
        for node in &w.nodes {
            let (chain, last) = node_steps(node, &diff.nodes[node], w.index, &previous_wave_end);
            steps.extend(chain);
            wave_end.extend(last);
        }
        let after = if wave_end.is_empty() {
            previous_wave_end.clone()
        } else {
            wave_end.clone()
        };
        let batches = switch_batches(w, diff, &mut vlans_pending, &after);
        wave_end.extend(batches.iter().map(|s| s.id.clone()));
        steps.extend(batches);
        previous_wave_end = wave_end;
    }
    (steps, previous_wave_end)
}

/// One node's chain in wave `wave`, after `after`: stage RAID deletions, RAID creations,
/// firmware, BIOS, boot mode and secure boot, then exactly one reset and the wait. Returns the
/// steps and the id the chain ends with (`after` itself when the node has no step of its own:
/// only ports to move).
pub fn node_steps(
    node: &str,
    nd: &NodeDiff,
    wave: usize,
    after: &[String],
) -> (Vec<Step>, Vec<String>) {
    let mut actions: Vec<(&str, Action)> = Vec::new();
    if !nd.raid_delete.is_empty() {
        actions.push((
            "delete-volumes",
            Action::DeleteVolumes {
                volumes: nd.raid_delete.clone(),
            },
        ));
    }
    if !nd.raid_create.is_empty() {
        actions.push((
            "create-volumes",
            Action::CreateVolumes {
                volumes: nd.raid_create.clone(),
            },
        ));
    }
    if !nd.firmware.is_empty() {
        actions.push((
            "stage-firmware",
            Action::UpdateFirmware {
                updates: nd.firmware.clone(),
            },
        ));
    }
    if !nd.bios.is_empty() {
        actions.push((
            "stage-bios",
            Action::StageBios {
                values: nd.bios.clone(),
            },
        ));
    }
    if let Some(m) = &nd.boot_mode {
        actions.push(("boot-mode", Action::SetBootMode { mode: m.clone() }));
    }
    if let Some(sb) = nd.secure_boot {
        actions.push(("secure-boot", Action::SetSecureBoot { enabled: sb }));
    }
    if nd.needs_reset {
        actions.push(("reset", Action::Reset));
        actions.push(("wait", Action::Wait));
    }
    let mut last: Vec<String> = after.to_vec();
    let mut steps = Vec::new();
    for (name, action) in actions {
        let id = format!("{node}/{name}");
        steps.push(Step {
            id: id.clone(),
            node: Some(node.to_string()),
            switch: None,
            system_id: Some(nd.system_id.clone()),
            wave,
            action,
            after: std::mem::replace(&mut last, vec![id]),
            owners: BTreeMap::new(),
        });
    }
    (steps, last)
}

/// One batch per switch for wave `w`'s ports, after `after` (the wave's nodes back): the VLANs
/// still to create on that switch first, then each node's port changes, with which changes are
/// whose (`owners`), so a node left out can have its ports left out too.
pub fn switch_batches(
    w: &Wave,
    diff: &Diff,
    vlans_pending: &mut BTreeMap<String, Vec<Change>>,
    after: &[String],
) -> Vec<Step> {
    let mut out = Vec::new();
    for (sw, sd) in &diff.switches {
        if !w.nodes.iter().any(|n| sd.by_node.contains_key(n)) {
            continue;
        }
        let mut changes: Vec<Change> = vlans_pending
            .get_mut(sw)
            .map(std::mem::take)
            .unwrap_or_default();
        let mut owners = BTreeMap::new();
        for n in &w.nodes {
            if let Some(ports) = sd.by_node.get(n) {
                let first = changes.len();
                changes.extend(ports.iter().cloned());
                owners.insert(n.clone(), (first..changes.len()).collect());
            }
        }
        out.push(Step {
            id: format!("{sw}/wave-{}", w.index),
            node: None,
            switch: Some(sw.clone()),
            system_id: None,
            wave: w.index,
            action: Action::SwitchBatch { changes },
            after: after.to_vec(),
            owners,
        });
    }
    out
}

/// Pass 3, destroy edges: what removed resources left on the switches, undone in a last wave of
/// its own (numbered `index`, after `after`; ports leave a VLAN before it is deleted), one batch
/// per switch. `None` when nothing is left behind.
pub fn release_wave(diff: &Diff, index: usize, after: &[String]) -> Option<(Wave, Vec<Step>)> {
    let steps: Vec<Step> = diff
        .switches
        .iter()
        .filter(|(_, s)| !s.releases.is_empty())
        .map(|(sw, sd)| Step {
            id: format!("{sw}/release"),
            node: None,
            switch: Some(sw.clone()),
            system_id: None,
            wave: index,
            action: Action::SwitchBatch {
                changes: sd.releases.clone(),
            },
            after: after.to_vec(),
            owners: BTreeMap::new(),
        })
        .collect();
    if steps.is_empty() {
        return None;
    }
    let wave = Wave {
        index,
        domain: RELEASE_DOMAIN.into(),
        nodes: Vec::new(),
    };
    Some((wave, steps))
}

/// Pass 4, for the operator: one line per node of the waves saying what it goes through
/// (`r1u01: 1 reboot, BIOS 2 changes, VLAN 1→100 on tor1 Gi0/1`).
pub fn disruptions(diff: &Diff, waves: &[Wave]) -> Vec<String> {
    waves
        .iter()
        .flat_map(|w| &w.nodes)
        .map(|node| disruption(node, &diff.nodes[node], diff))
        .collect()
}

fn disruption(node: &str, nd: &NodeDiff, diff: &Diff) -> String {
    let mut parts = Vec::new();
    if nd.needs_reset {
        parts.push("1 reboot".to_string());
    }
    let bios = nd
        .items
        .iter()
        .filter(|i| i.path.starts_with("bios."))
        .count();
    let pending = nd
        .items
        .iter()
        .filter(|i| i.path.starts_with("bios.") && i.state == ItemState::Pending)
        .count();
    if bios > 0 {
        parts.push(if pending > 0 {
            format!("BIOS {bios} changes ({pending} already pending)")
        } else {
            format!("BIOS {bios} changes")
        });
    }
    if !nd.raid_create.is_empty() || !nd.raid_delete.is_empty() {
        parts.push(format!(
            "RAID +{} -{}",
            nd.raid_create.len(),
            nd.raid_delete.len()
        ));
    }
    if !nd.firmware.is_empty() {
        let n = nd.firmware.len();
        parts.push(format!(
            "{n} firmware update{}",
            if n == 1 { "" } else { "s" }
        ));
    }
    if let Some(m) = &nd.boot_mode {
        let live = nd
            .items
            .iter()
            .find(|i| i.path == "boot.mode")
            .and_then(|i| i.live.as_ref())
            .and_then(Value::as_str)
            .unwrap_or("?");
        parts.push(format!("boot mode {live}→{m}"));
    }
    if nd.items.iter().any(|i| i.path == "boot.secure_boot") {
        parts.push("secure boot".into());
    }
    for sd in diff.switches.values() {
        for p in sd.ports.iter().filter(|p| p.node == node) {
            let text = match (p.live.strip_prefix("VLAN "), p.want.strip_prefix("VLAN ")) {
                (Some(a), Some(b)) => format!("VLAN {a}→{b}"),
                _ => format!("{}→{}", p.live, p.want),
            };
            parts.push(format!("{text} on {} {}", p.switch, p.port));
        }
    }
    let mut line = String::new();
    let _ = write!(line, "{node}: {}", parts.join(", "));
    line
}

fn in_waves(waves: &[Wave], node: &str) -> bool {
    waves.iter().any(|w| w.nodes.iter().any(|n| n == node))
}

/// Pass 5, what the run records once it has applied: the managed values of each planned node
/// and of each switch with changes (what the next diff compares against to tell drift).
pub fn applied(diff: &Diff, waves: &[Wave]) -> BTreeMap<String, BTreeMap<String, Value>> {
    diff.nodes
        .iter()
        .filter(|(n, _)| in_waves(waves, n))
        .map(|(n, d)| (n.clone(), d.applied.clone()))
        .chain(
            diff.switches
                .iter()
                .filter(|(_, s)| !s.changes.is_empty() || !s.releases.is_empty())
                .map(|(name, s)| (format!("switch {name}"), s.managed.clone())),
        )
        .collect()
}

/// Pass 6, what the planned nodes showed before, for each value the run will set (the audit
/// log's `before` of a configure row).
pub fn before(diff: &Diff, waves: &[Wave]) -> BTreeMap<String, BTreeMap<String, Value>> {
    diff.nodes
        .iter()
        .filter(|(n, _)| in_waves(waves, n))
        .map(|(n, d)| {
            let live = d
                .items
                .iter()
                .filter(|i| d.applied.contains_key(&i.path))
                .filter_map(|i| i.live.clone().map(|v| (i.path.clone(), v)))
                .collect();
            (n.clone(), live)
        })
        .collect()
}

/// Everything one planning pass produced.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub loaded: crate::load::Loaded,
    pub desired: crate::model::Desired,
    pub observed: crate::observed::Observed,
    pub diff: Diff,
    pub plan: Plan,
    pub observe_seconds: f64,
}

impl Prepared {
    /// What to say when some devices could not be read: a plan that could not see every device
    /// is shown, then fails, so a pipeline never reads a partial view as "no changes".
    pub fn unreachable_problem(&self) -> Option<String> {
        let u = &self.diff.unreachable;
        (!u.is_empty()).then(|| {
            let names = u.keys().cloned().collect::<Vec<_>>().join(", ");
            format!(
                "{} devices could not be read ({names}); the plan covers the others",
                u.len()
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::{Item, NodeDiff, SwitchDiff};
    use crate::model::{NodeSpec, PortWant};

    fn desired(nodes: &[(&str, &str)], max_parallel: usize) -> Desired {
        let mut d = Desired {
            max_parallel,
            ..Desired::default()
        };
        for (n, rack) in nodes {
            d.nodes.insert(
                n.to_string(),
                NodeSpec {
                    name: n.to_string(),
                    address: format!("baremetal_node.{n}"),
                    bmc_url: "https://x".into(),
                    system_id: Some("1".into()),
                    username: "u".into(),
                    password: "p".into(),
                    tls: Default::default(),
                    profile: None,
                    rack: Some(rack.to_string()),
                    maintenance: false,
                    ports: vec![PortWant {
                        switch: "tor1".into(),
                        port: format!("Gi0/{}", n.len()),
                        networks: vec![],
                        vlans: vec![100],
                        mac: None,
                        pxe: false,
                        bond: None,
                        bond_mode: None,
                    }],
                    boot: Default::default(),
                },
            );
        }
        d
    }

    fn bios_change(node: &str) -> NodeDiff {
        NodeDiff {
            node: node.into(),
            system_id: "1".into(),
            items: vec![Item {
                path: "bios.X".into(),
                live: None,
                want: Some(Value::from("a")),
                state: ItemState::Change,
                out_of_band: false,
            }],
            bios: [("X".to_string(), Value::from("a"))].into_iter().collect(),
            boot_mode: Some("UEFI".into()),
            raid_create: vec![VolumeSpec {
                name: "os".into(),
                raid: "RAID1".into(),
                drives: vec!["d0".into(), "d1".into()],
                capacity_bytes: None,
            }],
            needs_reset: true,
            ..NodeDiff::default()
        }
    }

    fn index(p: &Plan) -> BTreeMap<&str, usize> {
        p.steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect()
    }

    /// Every step comes after everything it depends on.
    fn assert_topological(p: &Plan) {
        let idx = index(p);
        for s in &p.steps {
            for a in &s.after {
                assert!(
                    idx[a.as_str()] < idx[s.id.as_str()],
                    "{} runs before {a}",
                    s.id
                );
            }
        }
    }

    #[test]
    fn one_reset_per_node_after_all_staging_and_ports_after_the_wait() {
        let d = desired(&[("r1u01", "r1"), ("r1u02", "r1")], 10);
        let mut diff = Diff::default();
        for n in ["r1u01", "r1u02"] {
            diff.nodes.insert(n.into(), bios_change(n));
        }
        diff.switches.insert(
            "tor1".into(),
            SwitchDiff {
                switch: "tor1".into(),
                changes: vec![
                    Change::CreateVlan {
                        id: 100,
                        name: "v".into(),
                    },
                    Change::Access {
                        port: "Gi0/5".into(),
                        vlan: 100,
                    },
                ],
                by_node: [(
                    "r1u01".to_string(),
                    vec![Change::Access {
                        port: "Gi0/5".into(),
                        vlan: 100,
                    }],
                )]
                .into(),
                ..SwitchDiff::default()
            },
        );
        let p = plan(&d, &diff);
        assert_topological(&p);
        assert_eq!(p.resets(), 2);
        let idx = index(&p);
        for n in ["r1u01", "r1u02"] {
            let reset = idx[format!("{n}/reset").as_str()];
            for stage in ["create-volumes", "stage-bios", "boot-mode"] {
                assert!(idx[format!("{n}/{stage}").as_str()] < reset);
            }
            assert!(reset < idx[format!("{n}/wait").as_str()]);
        }
        let batch = &p.steps[idx["tor1/wave-1"]];
        assert!(batch.after.contains(&"r1u01/wait".to_string()));
        match &batch.action {
            Action::SwitchBatch { changes } => {
                assert!(
                    matches!(changes[0], Change::CreateVlan { id: 100, .. }),
                    "VLANs first"
                );
                assert_eq!(changes.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            p.disruptions[0],
            "r1u01: 1 reboot, BIOS 1 changes, RAID +1 -0, boot mode ?→UEFI"
        );
    }

    #[test]
    fn waves_hold_max_parallel_nodes_of_one_failure_domain_and_follow_each_other() {
        let names: Vec<(String, &str)> = (1..=5)
            .map(|i| (format!("r1u{i:02}"), "r1"))
            .chain((1..=2).map(|i| (format!("r2u{i:02}"), "r2")))
            .collect();
        let refs: Vec<(&str, &str)> = names.iter().map(|(n, r)| (n.as_str(), *r)).collect();
        let d = desired(&refs, 2);
        let mut diff = Diff::default();
        for (n, _) in &refs {
            diff.nodes.insert(n.to_string(), bios_change(n));
        }
        let p = plan(&d, &diff);
        assert_topological(&p);
        let waves: Vec<(String, Vec<String>)> = p
            .waves
            .iter()
            .map(|w| (w.domain.clone(), w.nodes.clone()))
            .collect();
        assert_eq!(waves.len(), 4);
        assert_eq!(
            waves[0],
            (
                "r1".to_string(),
                vec!["r1u01".to_string(), "r1u02".to_string()]
            )
        );
        assert_eq!(waves[2].1, vec!["r1u05"]);
        assert_eq!(
            waves[3],
            (
                "r2".to_string(),
                vec!["r2u01".to_string(), "r2u02".to_string()]
            )
        );
        // Wave 2 starts after wave 1 ended: its first steps wait for wave 1's last ones.
        let first_of_w2 = p.steps.iter().find(|s| s.wave == 2).unwrap();
        assert!(first_of_w2.after.contains(&"r1u01/wait".to_string()));
        assert!(first_of_w2.after.contains(&"r1u02/wait".to_string()));
        assert_eq!(p.resets(), 7);
        assert_eq!(p.estimate_s(), 4 * (2 + 2 + 2 + 60 + 240));
    }

    #[test]
    fn nothing_to_do_is_an_empty_plan() {
        let d = desired(&[("r1u01", "r1")], 10);
        let mut diff = Diff::default();
        diff.nodes.insert(
            "r1u01".into(),
            NodeDiff {
                node: "r1u01".into(),
                ..NodeDiff::default()
            },
        );
        let p = plan(&d, &diff);
        assert!(p.is_empty());
        assert!(p.waves.is_empty());
    }

    #[test]
    fn pass_waves_skip_nodes_with_nothing_to_do_and_split_domains_by_max_parallel() {
        let d = desired(&[("a1", "ra"), ("a2", "ra"), ("a3", "ra"), ("b1", "rb")], 2);
        let mut diff = Diff::default();
        for n in ["a1", "a2", "a3", "b1"] {
            diff.nodes.insert(n.into(), bios_change(n));
        }
        diff.nodes.insert(
            "a2".into(),
            NodeDiff {
                node: "a2".into(),
                ..NodeDiff::default()
            },
        );
        let w = waves(&d, &diff);
        let got: Vec<(usize, &str, Vec<&str>)> = w
            .iter()
            .map(|w| {
                (
                    w.index,
                    w.domain.as_str(),
                    w.nodes.iter().map(String::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(got, [(1, "ra", vec!["a1", "a3"]), (2, "rb", vec!["b1"])]);
    }

    #[test]
    fn pass_node_steps_stage_everything_before_one_reset_and_chain_after_the_previous_wave() {
        let mut nd = bios_change("n1");
        nd.firmware = vec![("https://fw/bios.bin".into(), "BIOS".into())];
        nd.secure_boot = Some(true);
        let (steps, last) = node_steps("n1", &nd, 3, &["x/wait".to_string()]);
        let ids: Vec<&str> = steps.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "n1/create-volumes",
                "n1/stage-firmware",
                "n1/stage-bios",
                "n1/boot-mode",
                "n1/secure-boot",
                "n1/reset",
                "n1/wait"
            ]
        );
        assert_eq!(steps[0].after, ["x/wait"]);
        for pair in steps.windows(2) {
            assert_eq!(pair[1].after, [pair[0].id.clone()]);
        }
        assert!(steps.iter().all(|s| s.wave == 3));
        assert_eq!(last, ["n1/wait"]);
        // A node with only ports has no chain: what follows waits for what came before.
        let (none, last) = node_steps("n2", &NodeDiff::default(), 1, &["y".to_string()]);
        assert!(none.is_empty());
        assert_eq!(last, ["y"]);
    }

    #[test]
    fn pass_switch_batches_put_pending_vlans_first_once_and_record_owners() {
        let mut diff = Diff::default();
        let port = |p: &str| Change::Access {
            port: p.into(),
            vlan: 100,
        };
        let create = Change::CreateVlan {
            id: 100,
            name: "prod".into(),
        };
        diff.switches.insert(
            "tor1".into(),
            SwitchDiff {
                switch: "tor1".into(),
                changes: vec![create.clone(), port("Gi0/1"), port("Gi0/2")],
                by_node: [
                    ("n1".to_string(), vec![port("Gi0/1")]),
                    ("n2".to_string(), vec![port("Gi0/2")]),
                ]
                .into_iter()
                .collect(),
                ..SwitchDiff::default()
            },
        );
        let mut pending: BTreeMap<String, Vec<Change>> =
            [("tor1".to_string(), vec![create.clone()])]
                .into_iter()
                .collect();
        let w1 = Wave {
            index: 1,
            domain: "r".into(),
            nodes: vec!["n1".into()],
        };
        let w2 = Wave {
            index: 2,
            domain: "r".into(),
            nodes: vec!["n2".into()],
        };
        let b1 = switch_batches(&w1, &diff, &mut pending, &["n1/wait".to_string()]);
        let b2 = switch_batches(&w2, &diff, &mut pending, &[]);
        let changes = |s: &Step| match &s.action {
            Action::SwitchBatch { changes } => changes.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(changes(&b1[0]), [create, port("Gi0/1")]);
        assert_eq!(b1[0].owners["n1"], [1]);
        assert_eq!(b1[0].after, ["n1/wait"]);
        assert_eq!(changes(&b2[0]), [port("Gi0/2")], "the VLAN is created once");
        assert_eq!(b2[0].id, "tor1/wave-2");
    }

    #[test]
    fn pass_release_wave_comes_last_and_only_when_something_is_left_behind() {
        let mut diff = Diff::default();
        assert!(release_wave(&diff, 4, &[]).is_none());
        diff.switches.insert(
            "tor1".into(),
            SwitchDiff {
                switch: "tor1".into(),
                releases: vec![Change::DeleteVlan { id: 300 }],
                ..SwitchDiff::default()
            },
        );
        let (w, steps) = release_wave(&diff, 4, &["tor1/wave-3".to_string()]).unwrap();
        assert_eq!((w.index, w.domain.as_str()), (4, RELEASE_DOMAIN));
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].id, "tor1/release");
        assert_eq!(steps[0].after, ["tor1/wave-3"]);
    }

    #[test]
    fn pass_disruptions_say_what_each_node_goes_through() {
        let d = desired(&[("n1", "r1")], 5);
        let mut diff = Diff::default();
        let mut nd = bios_change("n1");
        nd.firmware = vec![("https://fw/bmc.bin".into(), "BMC".into())];
        diff.nodes.insert("n1".into(), nd);
        let w = waves(&d, &diff);
        let lines = disruptions(&diff, &w);
        assert_eq!(
            lines,
            ["n1: 1 reboot, BIOS 1 changes, RAID +1 -0, 1 firmware update, boot mode ?→UEFI"]
        );
    }
}
