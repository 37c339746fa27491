//! The node lifecycle: Ironic's provision-state machine as a pure function.
//!
//! ```text
//! enroll --manage--> verifying --verified--> manageable --inspect--> inspecting --inspected--> available
//! available --deploy--> deploying --deployed--> active --delete--> deleting --deleted--> cleaning --cleaned--> available
//! manageable --adopt--> active            manageable --provide--> available      available --manage--> manageable
//! verifying/inspecting/deploying/cleaning --fail--> verify failed/inspect failed/deploy failed/clean failed
//! ```
//!
//! The inventory applies [`next`] inside the transaction that stores the new state, so an illegal
//! transition is refused before anything is written.

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProvisionState {
    Enroll,
    Verifying,
    VerifyFailed,
    Manageable,
    Inspecting,
    InspectFailed,
    Available,
    Deploying,
    DeployFailed,
    Active,
    Deleting,
    Cleaning,
    CleanFailed,
}

/// What an operator or the engine asks of a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Verify the BMC credentials (from enroll or verify failed), or take a node out of the pool.
    Manage,
    Verified,
    Inspect,
    Inspected,
    /// Make a manageable node available for scheduling.
    Provide,
    /// Take over a server that already runs an OS: manageable → active without a deployment.
    Adopt,
    Deploy,
    Deployed,
    /// Redeploy an active node in place.
    Rebuild,
    Delete,
    Deleted,
    Cleaned,
    /// The running operation (verifying, inspecting, deploying, cleaning) failed.
    Fail,
}

pub const ALL_STATES: [ProvisionState; 13] = [
    ProvisionState::Enroll,
    ProvisionState::Verifying,
    ProvisionState::VerifyFailed,
    ProvisionState::Manageable,
    ProvisionState::Inspecting,
    ProvisionState::InspectFailed,
    ProvisionState::Available,
    ProvisionState::Deploying,
    ProvisionState::DeployFailed,
    ProvisionState::Active,
    ProvisionState::Deleting,
    ProvisionState::Cleaning,
    ProvisionState::CleanFailed,
];

pub const ALL_EVENTS: [Event; 13] = [
    Event::Manage,
    Event::Verified,
    Event::Inspect,
    Event::Inspected,
    Event::Provide,
    Event::Adopt,
    Event::Deploy,
    Event::Deployed,
    Event::Rebuild,
    Event::Delete,
    Event::Deleted,
    Event::Cleaned,
    Event::Fail,
];

impl ProvisionState {
    pub fn as_str(self) -> &'static str {
        use ProvisionState::*;
        match self {
            Enroll => "enroll",
            Verifying => "verifying",
            VerifyFailed => "verify failed",
            Manageable => "manageable",
            Inspecting => "inspecting",
            InspectFailed => "inspect failed",
            Available => "available",
            Deploying => "deploying",
            DeployFailed => "deploy failed",
            Active => "active",
            Deleting => "deleting",
            Cleaning => "cleaning",
            CleanFailed => "clean failed",
        }
    }

    /// Accepts the display form ("verify failed") and the snake_case form ("verify_failed").
    pub fn parse(s: &str) -> Option<ProvisionState> {
        let norm = s.trim().to_ascii_lowercase().replace(['_', '-'], " ");
        ALL_STATES.into_iter().find(|st| st.as_str() == norm)
    }

    /// States in which an operation is under way (the node is busy, a lease is expected).
    pub fn is_transient(self) -> bool {
        use ProvisionState::*;
        matches!(
            self,
            Verifying | Inspecting | Deploying | Deleting | Cleaning
        )
    }

    pub fn is_failure(self) -> bool {
        use ProvisionState::*;
        matches!(
            self,
            VerifyFailed | InspectFailed | DeployFailed | CleanFailed
        )
    }

    /// The events this state accepts, in a stable order, for error messages.
    pub fn allowed(self) -> Vec<Event> {
        ALL_EVENTS
            .into_iter()
            .filter(|e| next(self, *e).is_some())
            .collect()
    }
}

impl fmt::Display for ProvisionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Event {
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Manage => "manage",
            Event::Verified => "verified",
            Event::Inspect => "inspect",
            Event::Inspected => "inspected",
            Event::Provide => "provide",
            Event::Adopt => "adopt",
            Event::Deploy => "deploy",
            Event::Deployed => "deployed",
            Event::Rebuild => "rebuild",
            Event::Delete => "delete",
            Event::Deleted => "deleted",
            Event::Cleaned => "cleaned",
            Event::Fail => "fail",
        }
    }

    pub fn parse(s: &str) -> Option<Event> {
        let s = s.trim().to_ascii_lowercase();
        ALL_EVENTS.into_iter().find(|e| e.as_str() == s)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state `event` leads to from `state`, or `None` when the lifecycle does not allow it.
pub fn next(state: ProvisionState, event: Event) -> Option<ProvisionState> {
    use Event as E;
    use ProvisionState as S;
    Some(match (state, event) {
        (S::Enroll | S::VerifyFailed, E::Manage) => S::Verifying,
        (S::Verifying, E::Verified) => S::Manageable,
        (S::Verifying, E::Fail) => S::VerifyFailed,
        (S::Manageable | S::InspectFailed, E::Inspect) => S::Inspecting,
        (S::Inspecting, E::Inspected) => S::Available,
        (S::Inspecting, E::Fail) => S::InspectFailed,
        (S::InspectFailed | S::Available | S::CleanFailed, E::Manage) => S::Manageable,
        (S::Manageable, E::Provide) => S::Available,
        (S::Manageable, E::Adopt) => S::Active,
        (S::Available | S::DeployFailed, E::Deploy) => S::Deploying,
        (S::Active, E::Rebuild) => S::Deploying,
        (S::Deploying, E::Deployed) => S::Active,
        (S::Deploying, E::Fail) => S::DeployFailed,
        (S::Active | S::DeployFailed, E::Delete) => S::Deleting,
        (S::Deleting, E::Deleted) => S::Cleaning,
        (S::Deleting, E::Fail) => S::CleanFailed,
        (S::Cleaning, E::Cleaned) => S::Available,
        (S::Cleaning, E::Fail) => S::CleanFailed,
        _ => return None,
    })
}

/// Why a transition was refused: names the node, its state, the event and what the state allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("node {node} is {state}: {event:?} is not allowed in that state (allowed: {})", allowed_list(.allowed))]
pub struct IllegalTransition {
    pub node: String,
    pub state: ProvisionState,
    pub event: String,
    pub allowed: Vec<Event>,
}

fn allowed_list(a: &[Event]) -> String {
    if a.is_empty() {
        "none".to_string()
    } else {
        a.iter().map(|e| e.as_str()).collect::<Vec<_>>().join(", ")
    }
}

/// [`next`], with the error an operator reads.
pub fn transition(
    node: &str,
    state: ProvisionState,
    event: Event,
) -> Result<ProvisionState, IllegalTransition> {
    next(state, event).ok_or_else(|| IllegalTransition {
        node: node.to_string(),
        state,
        event: event.as_str().to_string(),
        allowed: state.allowed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProvisionState as S;

    fn walk(start: S, events: &[Event]) -> S {
        events
            .iter()
            .fold(start, |s, e| transition("n", s, *e).unwrap())
    }

    #[test]
    fn the_ironic_happy_path_goes_round() {
        use Event::*;
        let s = walk(S::Enroll, &[Manage, Verified, Inspect, Inspected]);
        assert_eq!(s, S::Available);
        let s = walk(s, &[Deploy, Deployed]);
        assert_eq!(s, S::Active);
        let s = walk(s, &[Delete, Deleted, Cleaned]);
        assert_eq!(s, S::Available);
    }

    #[test]
    fn adopt_goes_from_manageable_to_active_without_deploying() {
        assert_eq!(next(S::Manageable, Event::Adopt), Some(S::Active));
        assert_eq!(next(S::Available, Event::Adopt), None);
    }

    #[test]
    fn every_running_operation_has_its_failure_state() {
        assert_eq!(next(S::Verifying, Event::Fail), Some(S::VerifyFailed));
        assert_eq!(next(S::Inspecting, Event::Fail), Some(S::InspectFailed));
        assert_eq!(next(S::Deploying, Event::Fail), Some(S::DeployFailed));
        assert_eq!(next(S::Cleaning, Event::Fail), Some(S::CleanFailed));
        // A failed clean never becomes available by itself: only manage leads out of it.
        assert_eq!(S::CleanFailed.allowed(), vec![Event::Manage]);
    }

    #[test]
    fn an_illegal_transition_names_node_state_and_the_allowed_events() {
        let e = transition("r1u03", S::Enroll, Event::Deploy).unwrap_err();
        assert_eq!(
            e.to_string(),
            "node r1u03 is enroll: \"deploy\" is not allowed in that state (allowed: manage)"
        );
        let e = transition("r1u03", S::Active, Event::Inspect).unwrap_err();
        assert!(e.to_string().contains("allowed: rebuild, delete"), "{e}");
    }

    #[test]
    fn every_state_is_reachable_and_none_is_a_dead_end() {
        use std::collections::BTreeSet;
        let mut seen = BTreeSet::from([S::Enroll]);
        let mut todo = vec![S::Enroll];
        while let Some(s) = todo.pop() {
            for e in ALL_EVENTS {
                if let Some(n) = next(s, e) {
                    if seen.insert(n) {
                        todo.push(n);
                    }
                }
            }
        }
        assert_eq!(seen.len(), ALL_STATES.len());
        for s in ALL_STATES {
            assert!(!s.allowed().is_empty(), "{s} is a dead end");
        }
    }

    #[test]
    fn states_parse_in_both_spellings() {
        for s in ALL_STATES {
            assert_eq!(ProvisionState::parse(s.as_str()), Some(s));
        }
        assert_eq!(ProvisionState::parse("clean_failed"), Some(S::CleanFailed));
        assert_eq!(ProvisionState::parse("nonsense"), None);
    }
}
