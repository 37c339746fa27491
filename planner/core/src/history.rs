//! A node's life read back from the audit log: the provision states it went through, oldest first,
//! with what else happened to it (maintenance, power, hosts arriving and leaving, its offline
//! profile). `bmplan nodes history NODE` prints it; the lifecycle tests assert it.
//!
//! Pure over [`AuditEntry`] rows: the inventory only fetches them.

use serde::Serialize;
use serde_json::Value;

use crate::records::AuditEntry;

/// One audit entry that changed something about a node.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LifeEvent {
    pub id: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    /// The node's provision state after this entry, when the entry changed it.
    pub state: Option<String>,
    /// What happened, in words.
    pub what: String,
}

/// A node's life, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeHistory {
    pub node: String,
    /// Provision states, each stay once: `["available", "deploying", "active"]`.
    pub states: Vec<String>,
    /// The states joined by `→`, with maintenance, power and host arrivals marked in brackets
    /// where they happened: the one line to read.
    pub sequence: String,
    pub events: Vec<LifeEvent>,
}

impl NodeHistory {
    /// Builds the history of `node` from audit entries in any order. Refused and failed attempts,
    /// reads and entries about other nodes are left out.
    pub fn from_entries(node: &str, entries: &[AuditEntry]) -> NodeHistory {
        let mut entries: Vec<&AuditEntry> = entries
            .iter()
            .filter(|e| e.outcome == "ok" && e.node.as_deref() == Some(node))
            .collect();
        entries.sort_by_key(|e| e.id);
        let mut states: Vec<String> = Vec::new();
        let mut tokens: Vec<String> = Vec::new();
        let mut events = Vec::new();
        for e in entries {
            let state = if e.action.starts_with("node.") {
                str_at(&e.after, "state")
            } else {
                None
            };
            let changed = state.filter(|s| states.last().map(String::as_str) != Some(*s));
            if let Some(s) = changed {
                states.push(s.to_string());
                tokens.push(s.to_string());
            }
            let marks = marks(e);
            let what = describe(e, changed);
            if changed.is_none() && marks.is_none() && what.is_none() {
                continue;
            }
            if let Some(m) = marks {
                tokens.push(format!("[{m}]"));
            }
            events.push(LifeEvent {
                id: e.id,
                at: e.at.clone(),
                actor: e.actor.clone(),
                action: e.action.clone(),
                state: changed.map(str::to_string),
                what: what.unwrap_or_default(),
            });
        }
        // States are joined by arrows; a mark follows the state it happened in.
        let mut sequence = String::new();
        for t in tokens {
            if !sequence.is_empty() {
                sequence.push_str(if t.starts_with('[') { " " } else { " → " });
            }
            sequence.push_str(&t);
        }
        NodeHistory {
            node: node.to_string(),
            states,
            sequence,
            events,
        }
    }
}

fn str_at<'a>(v: &'a Option<Value>, key: &str) -> Option<&'a str> {
    v.as_ref()?.get(key)?.as_str()
}

fn bool_at(v: &Option<Value>, key: &str) -> Option<bool> {
    v.as_ref()?.get(key)?.as_bool()
}

fn host_of(e: &AuditEntry) -> String {
    match &e.project {
        Some(p) => format!("{p}/{}", e.object),
        None => e.object.clone(),
    }
}

/// The bracketed mark an entry leaves in the sequence, if any.
fn marks(e: &AuditEntry) -> Option<String> {
    match e.action.as_str() {
        "node.maintenance" | "node.update" | "node.configure" => {
            let (was, is) = (
                bool_at(&e.before, "maintenance"),
                bool_at(&e.after, "maintenance"),
            );
            match (was, is) {
                (Some(false), Some(true)) => Some("maintenance".into()),
                (Some(true), Some(false)) => Some("maintenance cleared".into()),
                _ => None,
            }
        }
        "node.power" => {
            let d = e.detail.as_deref().unwrap_or_default();
            let what = d.split_whitespace().next().unwrap_or("power");
            Some(format!("power {}", what.to_ascii_lowercase()))
        }
        "host.create" => Some(format!("host {}", host_of(e))),
        "host.migrate" => Some(format!("host {} moved here", host_of(e))),
        "host.delete" => Some(format!("host {} gone", host_of(e))),
        "node.offline_profile" => Some("offline profile".into()),
        _ => None,
    }
}

/// What an entry did, in words; `None` for entries that changed nothing worth a line.
fn describe(e: &AuditEntry, changed: Option<&str>) -> Option<String> {
    let detail = e.detail.as_deref().filter(|d| !d.is_empty());
    let with_detail = |s: String| match detail {
        Some(d) => format!("{s}: {d}"),
        None => s,
    };
    match e.action.as_str() {
        "node.maintenance" | "node.update" | "node.configure" => {
            match (
                bool_at(&e.before, "maintenance"),
                bool_at(&e.after, "maintenance"),
            ) {
                (Some(false), Some(true)) => Some(format!(
                    "maintenance set: {}",
                    str_at(&e.after, "maintenance_reason").unwrap_or("no reason given")
                )),
                (Some(true), Some(false)) => Some("maintenance cleared".into()),
                _ => changed.map(|s| format!("now {s}")),
            }
        }
        "node.power" => Some(detail.unwrap_or("power").to_string()),
        "node.offline_profile" => Some(
            detail
                .unwrap_or("took the profile assigned to it before it was installed")
                .to_string(),
        ),
        "host.create" => Some(with_detail(format!("host {} created", host_of(e)))),
        "host.migrate" => Some(with_detail(format!("host {} moved here", host_of(e)))),
        "host.delete" => Some(with_detail(format!("host {} deleted", host_of(e)))),
        "host.state" => Some(with_detail(format!(
            "host {} is {}",
            host_of(e),
            str_at(&e.after, "state").unwrap_or("?")
        ))),
        a if a.starts_with("node.") => changed.map(|s| {
            let was = str_at(&e.before, "state")
                .map(|b| format!("{b} → "))
                .unwrap_or_default();
            with_detail(format!("{was}{s}"))
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(id: i64, action: &str, before: Value, after: Value, detail: &str) -> AuditEntry {
        AuditEntry {
            id,
            at: format!("t{id}"),
            at_ms: id,
            actor: "admin".into(),
            role: "admin".into(),
            project: Some("blue".into()),
            action: action.into(),
            object_kind: "node".into(),
            object: if action.starts_with("host.") {
                "web-1".into()
            } else {
                "r1u01".into()
            },
            node: Some("r1u01".into()),
            outcome: "ok".into(),
            before: Some(before),
            after: Some(after),
            detail: (!detail.is_empty()).then(|| detail.to_string()),
        }
    }

    #[test]
    fn a_deploy_and_a_failed_clean_read_as_one_line() {
        let n = |s: &str| json!({"state": s, "maintenance": false});
        let mut entries = vec![
            entry(
                1,
                "node.enroll",
                Value::Null,
                n("available"),
                "enroll → manageable → available",
            ),
            entry(
                2,
                "host.create",
                Value::Null,
                json!({}),
                "allocated r1u01 (flavor any, best fit)",
            ),
            entry(3, "node.deploy", n("available"), n("deploying"), ""),
            entry(
                4,
                "host.state",
                json!({"state": "allocated"}),
                json!({"state": "deploying"}),
                "",
            ),
            entry(5, "node.done", n("deploying"), n("active"), ""),
            entry(
                6,
                "node.power",
                Value::Null,
                Value::Null,
                "Off for host web-1",
            ),
            entry(7, "node.delete", n("active"), n("deleting"), ""),
            entry(8, "node.clean", n("deleting"), n("cleaning"), ""),
            entry(
                9,
                "node.fail",
                n("cleaning"),
                n("clean failed"),
                "secure erase failed",
            ),
            entry(
                10,
                "node.maintenance",
                n("clean failed"),
                json!({"state": "clean failed", "maintenance": true, "maintenance_reason": "clean failed: secure erase"}),
                "",
            ),
        ];
        // A refused attempt and an entry about another node are not the node's life.
        let mut denied = entry(11, "node.provide", n("clean failed"), n("available"), "");
        denied.outcome = "denied".into();
        let mut other = entry(12, "node.deploy", n("available"), n("deploying"), "");
        other.node = Some("r1u02".into());
        entries.extend([denied, other]);
        entries.reverse();
        let h = NodeHistory::from_entries("r1u01", &entries);
        assert_eq!(
            h.states,
            [
                "available",
                "deploying",
                "active",
                "deleting",
                "cleaning",
                "clean failed"
            ]
        );
        assert_eq!(
            h.sequence,
            "available [host blue/web-1] → deploying → active [power off] → deleting → cleaning \
             → clean failed [maintenance]"
        );
        let last = h.events.last().unwrap();
        assert_eq!(last.what, "maintenance set: clean failed: secure erase");
        assert_eq!(last.state, None);
        let fail = h.events.iter().find(|e| e.id == 9).unwrap();
        assert_eq!(fail.what, "cleaning → clean failed: secure erase failed");
        assert_eq!(fail.state.as_deref(), Some("clean failed"));
        assert!(h
            .events
            .iter()
            .any(|e| e.what == "host blue/web-1 is deploying"));
    }
}
