//! Live state as plain data: what each node's BMC and each switch said, or why they could not be
//! read. The engine's observer (`planner::observe`) fills it; `diff` reads it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::hardware::{
    BiosRegistry, BiosState, BootSettings, ControllerInfo, DriveInfo, FirmwareInfo, MediaInfo,
    PowerState, SecureBoot, StagedTask, VolumeInfo,
};
use crate::ports::SwitchState;

/// What one node's BMC said. Parts the profile does not ask about are not read (`None`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeLive {
    pub system_id: String,
    pub power: PowerState,
    /// `Status.HealthRollup` (else `Health`) of the system.
    pub health: Option<String>,
    /// The virtual media slots; `None` when the BMC would not list them (not an error: a plan
    /// does not need them).
    pub media: Option<Vec<MediaInfo>>,
    /// Work staged for the next reset (volume creations and deletions, firmware updates), read
    /// when the profile sets RAID or firmware; `None` when the BMC would not list its tasks.
    pub staged: Option<Vec<StagedTask>>,
    pub bios: Option<BiosState>,
    /// Shared by every node that names the same registry.
    pub registry: Option<Arc<BiosRegistry>>,
    pub boot: Option<BootSettings>,
    pub secure_boot: Option<SecureBoot>,
    pub volumes: Option<Vec<VolumeInfo>>,
    pub drives: Vec<DriveInfo>,
    pub controllers: Vec<ControllerInfo>,
    /// Read when the profile names firmware.
    pub firmware: Option<Vec<FirmwareInfo>>,
}

/// A device's state, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Seen<T> {
    Live(T),
    Unreachable(String),
}

impl<T> Seen<T> {
    pub fn live(&self) -> Option<&T> {
        match self {
            Seen::Live(t) => Some(t),
            Seen::Unreachable(_) => None,
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Observed {
    pub nodes: BTreeMap<String, Seen<NodeLive>>,
    pub switches: BTreeMap<String, Seen<SwitchState>>,
    /// The NICs the deploy agent saw from inside each node (with their LLDP neighbours), from the
    /// node's last in-band inspection: what the cables say, where the BMC does not.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub inband: BTreeMap<String, Vec<crate::deploy::agent::Nic>>,
}
