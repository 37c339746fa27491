//! What one planning pass finds for hosts: each host of the configuration against the inventory's
//! host of that name ([`HostWork`]), and each host whose node failed with where its failover policy
//! sends it ([`HostMove`]). The engine fills them; `report` shows them; a saved plan keeps them as
//! [`change_lines`] to tell when it went stale.

use sha2::{Digest, Sha256};

use super::{HostChange, HostSpec, NodeFailure};
use crate::records::HostRecord;

/// A host of the configuration, the inventory's host of that name, and what it needs.
#[derive(Debug, Clone)]
pub struct HostWork {
    pub spec: HostSpec,
    pub project: String,
    pub existing: Option<HostRecord>,
    pub change: Option<HostChange>,
    /// Why something asked for is not done (a pinned node that cannot take the host, power that
    /// could not be read, attributes only Terraform acts on).
    pub notes: Vec<String>,
}

/// A host whose node failed, and the standby its failover policy sends it to (`None`: no standby
/// is free, it stays).
#[derive(Debug, Clone)]
pub struct HostMove {
    pub host: HostRecord,
    pub failure: NodeFailure,
    pub to: Option<String>,
}

/// Whether a pass has host work to carry out.
pub fn any_to_do(moves: &[HostMove], work: &[HostWork]) -> bool {
    moves.iter().any(|m| m.to.is_some()) || work.iter().any(|w| w.change.is_some())
}

/// The host changes as a saved plan keeps them, to tell a stale one. The image is kept as a
/// digest of its URL and checksum: an image URL may carry credentials, and a plan file is not the
/// place for them.
pub fn change_lines(work: &[HostWork]) -> Vec<String> {
    work.iter()
        .filter_map(|w| {
            w.change.as_ref().map(|c| {
                let image = Sha256::digest(format!(
                    "{} {}",
                    w.spec.image_url.as_deref().unwrap_or("-"),
                    w.spec.image_checksum.as_deref().unwrap_or("-")
                ));
                format!(
                    "{}/{}: {} (image {})",
                    w.project,
                    w.spec.name,
                    c.describe(),
                    hex::encode(&image[..8])
                )
            })
        })
        .collect()
}

/// Whether the change a host needs now is the one the plan showed (an allocation planned for a
/// host another run created is the same deployment).
pub fn same_work(planned: Option<&HostChange>, now: &HostChange) -> bool {
    match (planned, now) {
        (Some(HostChange::Create { .. }), HostChange::Deploy | HostChange::Resume) => true,
        (Some(p), n) => p == n,
        (None, _) => false,
    }
}
