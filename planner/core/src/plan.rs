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

use crate::diff::{Diff, ItemState};
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

/// Orders the diff into steps and waves. Pure.
pub fn plan(desired: &Desired, diff: &Diff) -> Plan {
    let max_parallel = desired.max_parallel.max(1);
    // Nodes with something to do, grouped by failure domain.
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
    for w in &waves {
        let mut wave_end = Vec::new();
        for node in &w.nodes {
            let nd = &diff.nodes[node];
            let mut last: Vec<String> = previous_wave_end.clone();
            let mut push = |id: &str, action: Action, last: &mut Vec<String>| {
                let id = format!("{node}/{id}");
                steps.push(Step {
                    id: id.clone(),
                    node: Some(node.clone()),
                    switch: None,
                    system_id: Some(nd.system_id.clone()),
                    wave: w.index,
                    action,
                    after: std::mem::take(last),
                    owners: BTreeMap::new(),
                });
                *last = vec![id];
            };
            if !nd.raid_delete.is_empty() {
                push(
                    "delete-volumes",
                    Action::DeleteVolumes {
                        volumes: nd.raid_delete.clone(),
                    },
                    &mut last,
                );
            }
            if !nd.raid_create.is_empty() {
                push(
                    "create-volumes",
                    Action::CreateVolumes {
                        volumes: nd.raid_create.clone(),
                    },
                    &mut last,
                );
            }
            if !nd.firmware.is_empty() {
                push(
                    "stage-firmware",
                    Action::UpdateFirmware {
                        updates: nd.firmware.clone(),
                    },
                    &mut last,
                );
            }
            if !nd.bios.is_empty() {
                push(
                    "stage-bios",
                    Action::StageBios {
                        values: nd.bios.clone(),
                    },
                    &mut last,
                );
            }
            if let Some(m) = &nd.boot_mode {
                push(
                    "boot-mode",
                    Action::SetBootMode { mode: m.clone() },
                    &mut last,
                );
            }
            if let Some(sb) = nd.secure_boot {
                push(
                    "secure-boot",
                    Action::SetSecureBoot { enabled: sb },
                    &mut last,
                );
            }
            if nd.needs_reset {
                push("reset", Action::Reset, &mut last);
                push("wait", Action::Wait, &mut last);
            }
            wave_end.extend(last);
        }
        // One batch per switch for the wave's ports, after the wave's nodes are back.
        let mut wave_batches = Vec::new();
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
            let id = format!("{sw}/wave-{}", w.index);
            steps.push(Step {
                id: id.clone(),
                node: None,
                switch: Some(sw.clone()),
                system_id: None,
                wave: w.index,
                action: Action::SwitchBatch { changes },
                after: if wave_end.is_empty() {
                    previous_wave_end.clone()
                } else {
                    wave_end.clone()
                },
                owners,
            });
            wave_batches.push(id);
        }
        wave_end.extend(wave_batches);
        previous_wave_end = wave_end;
    }
    // Destroy edges: what removed resources left on the switches, undone in a last wave of its
    // own (ports leave a VLAN before it is deleted), one batch per switch.
    let release_wave = waves.len() + 1;
    let mut released = false;
    for (sw, sd) in diff.switches.iter().filter(|(_, s)| !s.releases.is_empty()) {
        steps.push(Step {
            id: format!("{sw}/release"),
            node: None,
            switch: Some(sw.clone()),
            system_id: None,
            wave: release_wave,
            action: Action::SwitchBatch {
                changes: sd.releases.clone(),
            },
            after: previous_wave_end.clone(),
            owners: BTreeMap::new(),
        });
        released = true;
    }
    if released {
        waves.push(Wave {
            index: release_wave,
            domain: RELEASE_DOMAIN.into(),
            nodes: Vec::new(),
        });
    }
    // What each node and switch will look like, for the operator.
    let mut disruptions = Vec::new();
    for w in &waves {
        for node in &w.nodes {
            let nd = &diff.nodes[node];
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
                for p in sd.ports.iter().filter(|p| &p.node == node) {
                    let text = match (p.live.strip_prefix("VLAN "), p.want.strip_prefix("VLAN ")) {
                        (Some(a), Some(b)) => format!("VLAN {a}→{b}"),
                        _ => format!("{}→{}", p.live, p.want),
                    };
                    parts.push(format!("{text} on {} {}", p.switch, p.port));
                }
            }
            let mut line = String::new();
            let _ = write!(line, "{node}: {}", parts.join(", "));
            disruptions.push(line);
        }
    }
    let applied = diff
        .nodes
        .iter()
        .filter(|(n, _)| waves.iter().any(|w| w.nodes.contains(n)))
        .map(|(n, d)| (n.clone(), d.applied.clone()))
        .chain(
            diff.switches
                .iter()
                .filter(|(_, s)| !s.changes.is_empty() || !s.releases.is_empty())
                .map(|(name, s)| (format!("switch {name}"), s.managed.clone())),
        )
        .collect();
    let before = diff
        .nodes
        .iter()
        .filter(|(n, _)| waves.iter().any(|w| w.nodes.contains(n)))
        .map(|(n, d)| {
            let live = d
                .items
                .iter()
                .filter(|i| d.applied.contains_key(&i.path))
                .filter_map(|i| i.live.clone().map(|v| (i.path.clone(), v)))
                .collect();
            (n.clone(), live)
        })
        .collect();
    Plan {
        steps,
        waves,
        disruptions,
        observed_fingerprint: fingerprint(diff),
        applied,
        before,
    }
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
}
