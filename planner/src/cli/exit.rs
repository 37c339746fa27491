//! Exit codes pipelines can branch on:
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (plan and drift with `-detailed-exitcode`: no changes) |
//! | 1 | any other error |
//! | 2 | changes present (plan and drift with `-detailed-exitcode`), or a usage error (clap) |
//! | 3 | credentials refused by a BMC or a switch |
//! | 4 | a BMC or switch unreachable (connection, TLS or timeout) |
//! | 5 | not found in the inventory |
//! | 6 | conflict: an illegal transition, no capacity, a quota, a lease held, a duplicate |
//! | 7 | permission denied |
//! | 8 | a bulk command finished with some items failed |
//! | 141 | stdout closed by its reader (as a SIGPIPE would end it) |

use std::error::Error;

use crate::bmc::BmcError;
use crate::engine::EngineError;
use crate::enroll::EnrollError;
use crate::host::HostError;
use crate::inventory::InventoryError;
use crate::run::StageError;
use crate::switch::SwitchError;

/// Plan and drift with `-detailed-exitcode`: changes present (exit 2).
#[derive(Debug, thiserror::Error)]
#[error("changes present")]
pub struct ChangesPresent;

/// A bulk command in which some items failed (exit 8).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Partial(pub String);

/// The exit code of an error, from the first error of its chain (outermost first) whose kind
/// has a code of its own; 1 when none has.
pub fn exit_code<'a>(chain: impl IntoIterator<Item = &'a (dyn Error + 'static)>) -> u8 {
    chain.into_iter().find_map(code_of).unwrap_or(1)
}

/// Output piped into a command that stops reading (`bmplan nodes list | head -1`) ends bmplan
/// quietly with the status a SIGPIPE would give (141), instead of `println!`'s panic. SIGPIPE itself
/// stays ignored, as Rust sets it: a BMC or switch closing its socket must never kill the process.
pub fn quiet_on_a_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

/// The process's peak resident set in KiB (`VmHWM`), 0 where it cannot be read: what the
/// benchmarks read before `bmplan` exits (`BMPLAN_REPORT_PEAK_RSS`).
pub fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn code_of(e: &(dyn Error + 'static)) -> Option<u8> {
    if e.is::<ChangesPresent>() {
        return Some(2);
    }
    if e.is::<Partial>() {
        return Some(8);
    }
    if let Some(i) = e.downcast_ref::<InventoryError>() {
        return inventory(i);
    }
    if let Some(h) = e.downcast_ref::<HostError>() {
        return match h {
            HostError::Inventory(i) => inventory(i),
            HostError::Engine(EngineError::Inventory(i)) => inventory(i),
            _ => None,
        };
    }
    if let Some(EngineError::Inventory(i)) = e.downcast_ref::<EngineError>() {
        return inventory(i);
    }
    if let Some(s) = e.downcast_ref::<StageError>() {
        return match s {
            StageError::Engine(EngineError::Inventory(i)) => inventory(i),
            StageError::Host(HostError::Inventory(i)) => inventory(i),
            StageError::Host(HostError::Engine(EngineError::Inventory(i))) => inventory(i),
            _ => None,
        };
    }
    if let Some(EnrollError::Inventory(InventoryError::Forbidden { .. })) =
        e.downcast_ref::<EnrollError>()
    {
        return Some(7);
    }
    if let Some(b) = e.downcast_ref::<BmcError>() {
        return match b {
            BmcError::Unauthorized { .. } => Some(3),
            BmcError::Transport { .. }
            | BmcError::Unreachable { .. }
            | BmcError::Timeout { .. } => Some(4),
            _ => None,
        };
    }
    match e.downcast_ref::<SwitchError>()? {
        SwitchError::Login { .. } | SwitchError::Enable { .. } => Some(3),
        SwitchError::Connect { .. } | SwitchError::Timeout { .. } => Some(4),
        _ => None,
    }
}

fn inventory(i: &InventoryError) -> Option<u8> {
    use InventoryError as I;
    match i {
        I::NotFound { .. } => Some(5),
        I::Illegal(_)
        | I::NoCapacity { .. }
        | I::Quota { .. }
        | I::Conflict { .. }
        | I::LeaseHeld { .. }
        | I::AlreadyExists { .. } => Some(6),
        I::Forbidden { .. } => Some(7),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(e: &(dyn Error + 'static)) -> u8 {
        let mut chain: Vec<&(dyn Error + 'static)> = vec![e];
        let mut at = e;
        while let Some(s) = at.source() {
            chain.push(s);
            at = s;
        }
        exit_code(chain)
    }

    #[test]
    fn each_kind_of_error_has_its_code() {
        let not_found = || InventoryError::NotFound {
            kind: "node",
            name: "r1u01".into(),
        };
        assert_eq!(code(&not_found()), 5);
        assert_eq!(code(&HostError::Inventory(not_found())), 5);
        assert_eq!(code(&ChangesPresent), 2);
        assert_eq!(code(&Partial("2 of 3".into())), 8);
        let taken = EngineError::Inventory(InventoryError::Conflict {
            detail: "node r1u01 is taken".into(),
        });
        assert_eq!(code(&HostError::Engine(taken)), 6);
        assert_eq!(code(&EngineError::Incomplete("x".into())), 1);
        let refused = BmcError::Unauthorized {
            bmc: "https://10.0.0.5".into(),
            operation: "login".into(),
            username: "root".into(),
        };
        assert_eq!(code(&refused), 3);
    }
}
