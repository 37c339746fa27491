//! Drift: per node and per switch port, in sync / drifted / unreachable, with each drifted value told
//! apart as desired-but-not-applied, pending (staged, awaiting a reset) or out of band (changed by
//! someone since the planner applied it). A pure function of the desired state and the diff.

use serde::Serialize;
use serde_json::Value;

use crate::diff::{Diff, ItemState};
use crate::model::Desired;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    InSync,
    Drifted,
    Unreachable,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::InSync => "in sync",
            Status::Drifted => "drifted",
            Status::Unreachable => "unreachable",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// The configuration asks for a value never applied.
    Desired,
    /// Staged on the BMC, applied at the next reset.
    Pending,
    /// Changed on the device since the planner applied it.
    OutOfBand,
    /// Work the BMC holds for the next reset that the configuration did not ask for.
    Queued,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Desired => "desired",
            Cause::Pending => "pending",
            Cause::OutOfBand => "out-of-band",
            Cause::Queued => "queued",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftItem {
    pub path: String,
    pub desired: Option<Value>,
    pub live: Option<Value>,
    pub cause: Cause,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeDrift {
    pub node: String,
    pub status: Status,
    pub items: Vec<DriftItem>,
    pub reason: Option<String>,
    /// The BMC's health for the node (state, not drift).
    pub health: Option<String>,
    /// Images inserted in its virtual media.
    pub media: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PortDrift {
    pub switch: String,
    pub port: String,
    pub node: String,
    pub status: Status,
    pub desired: String,
    pub live: Option<String>,
    pub cause: Option<Cause>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Summary {
    pub nodes: usize,
    pub nodes_in_sync: usize,
    pub nodes_drifted: usize,
    pub nodes_unreachable: usize,
    pub ports: usize,
    pub ports_in_sync: usize,
    pub ports_drifted: usize,
    pub ports_unreachable: usize,
    pub out_of_band: usize,
    pub pending: usize,
    /// Tasks and jobs queued on BMCs for the next reset that the configuration did not ask for.
    #[serde(default)]
    pub queued: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    pub summary: Summary,
    pub nodes: Vec<NodeDrift>,
    pub ports: Vec<PortDrift>,
}

impl DriftReport {
    pub fn drifted(&self) -> bool {
        self.summary.nodes_drifted + self.summary.ports_drifted > 0
    }
}

/// Builds the drift report. Pure.
pub fn report(desired: &Desired, diff: &Diff) -> DriftReport {
    let mut nodes = Vec::new();
    let mut s = Summary::default();
    for n in desired.nodes.values().filter(|n| !n.maintenance) {
        s.nodes += 1;
        let unreachable = diff.unreachable.get(&format!("node {}", n.name));
        let d = match (unreachable, diff.nodes.get(&n.name)) {
            (Some(why), _) => NodeDrift {
                node: n.name.clone(),
                status: Status::Unreachable,
                items: vec![],
                reason: Some(why.clone()),
                health: None,
                media: vec![],
            },
            (None, Some(nd)) if !nd.is_empty() || !nd.queued.is_empty() => NodeDrift {
                node: n.name.clone(),
                status: Status::Drifted,
                items: nd
                    .items
                    .iter()
                    .map(|i| DriftItem {
                        path: i.path.clone(),
                        desired: i.want.clone(),
                        live: i.live.clone(),
                        cause: match (i.state, i.out_of_band) {
                            (ItemState::Pending, _) => Cause::Pending,
                            (_, true) => Cause::OutOfBand,
                            _ => Cause::Desired,
                        },
                    })
                    .chain(nd.queued.iter().map(|q| DriftItem {
                        path: format!("queued.{}", q.split(' ').next().unwrap_or(q)),
                        desired: None,
                        live: Some(Value::String(q.clone())),
                        cause: Cause::Queued,
                    }))
                    .collect(),
                reason: None,
                health: nd.health.clone(),
                media: nd.media.clone(),
            },
            _ => NodeDrift {
                node: n.name.clone(),
                status: Status::InSync,
                items: vec![],
                reason: None,
                health: diff.nodes.get(&n.name).and_then(|d| d.health.clone()),
                media: diff
                    .nodes
                    .get(&n.name)
                    .map(|d| d.media.clone())
                    .unwrap_or_default(),
            },
        };
        match d.status {
            Status::InSync => s.nodes_in_sync += 1,
            Status::Drifted => s.nodes_drifted += 1,
            Status::Unreachable => s.nodes_unreachable += 1,
        }
        s.out_of_band += d
            .items
            .iter()
            .filter(|i| i.cause == Cause::OutOfBand)
            .count();
        s.pending += d.items.iter().filter(|i| i.cause == Cause::Pending).count();
        s.queued += d.items.iter().filter(|i| i.cause == Cause::Queued).count();
        nodes.push(d);
    }
    let mut ports = Vec::new();
    for n in desired.nodes.values().filter(|n| !n.maintenance) {
        for p in n.ports.iter().filter(|p| !p.vlans.is_empty()) {
            s.ports += 1;
            let want = match p.vlans.as_slice() {
                [one] => format!("VLAN {one}"),
                many => format!(
                    "trunk {}, native {}",
                    {
                        let mut v = many.to_vec();
                        v.sort();
                        v.dedup();
                        v.iter().map(u16::to_string).collect::<Vec<_>>().join(",")
                    },
                    many[0]
                ),
            };
            let unreachable = diff.unreachable.get(&format!("switch {}", p.switch));
            let changed = diff.switches.get(&p.switch).and_then(|sd| {
                sd.ports
                    .iter()
                    .find(|x| x.port == p.port && x.node == n.name)
            });
            let pd = match (unreachable, changed) {
                (Some(why), _) => PortDrift {
                    switch: p.switch.clone(),
                    port: p.port.clone(),
                    node: n.name.clone(),
                    status: Status::Unreachable,
                    desired: want,
                    live: None,
                    cause: None,
                    reason: Some(why.clone()),
                },
                (None, Some(c)) => PortDrift {
                    switch: p.switch.clone(),
                    port: p.port.clone(),
                    node: n.name.clone(),
                    status: Status::Drifted,
                    desired: want,
                    live: Some(c.live.clone()),
                    cause: Some(if c.out_of_band {
                        Cause::OutOfBand
                    } else {
                        Cause::Desired
                    }),
                    reason: None,
                },
                (None, None) => PortDrift {
                    switch: p.switch.clone(),
                    port: p.port.clone(),
                    node: n.name.clone(),
                    status: Status::InSync,
                    live: Some(want.clone()),
                    desired: want,
                    cause: None,
                    reason: None,
                },
            };
            match pd.status {
                Status::InSync => s.ports_in_sync += 1,
                Status::Drifted => s.ports_drifted += 1,
                Status::Unreachable => s.ports_unreachable += 1,
            }
            if pd.cause == Some(Cause::OutOfBand) {
                s.out_of_band += 1;
            }
            ports.push(pd);
        }
    }
    DriftReport {
        summary: s,
        nodes,
        ports,
    }
}
