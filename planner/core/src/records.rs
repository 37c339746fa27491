//! What the inventory keeps, as plain data: nodes, hosts and audit entries as listings show them,
//! and the time format of every record. The inventory (`planner::inventory`) reads and writes them;
//! `report` renders them.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use crate::flavor::NodeSpecs;
use crate::lifecycle::ProvisionState;

/// A node as the inventory lists it. Credentials are not part of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeRecord {
    pub id: i64,
    pub name: String,
    pub state: ProvisionState,
    pub power: Option<String>,
    pub health: Option<String>,
    pub maintenance: bool,
    pub maintenance_reason: Option<String>,
    pub last_error: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub system_uuid: Option<String>,
    pub arch: Option<String>,
    pub cpus: i64,
    pub memory_gib: i64,
    pub disk_gib: i64,
    pub traits: BTreeSet<String>,
    /// GPUs, FPGAs… its inspection found.
    pub accelerators: Vec<crate::hardware::Accelerator>,
    pub rack: Option<String>,
    pub bmc_url: String,
    pub system_id: String,
    pub username: String,
    pub tls_mode: String,
    pub owner_project: Option<String>,
    /// The host allocated on this node, and its project.
    pub host: Option<String>,
    pub project: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl NodeRecord {
    pub fn specs(&self) -> NodeSpecs {
        NodeSpecs {
            name: self.name.clone(),
            cpus: self.cpus.max(0) as u64,
            memory_gib: self.memory_gib.max(0) as u64,
            disk_gib: self.disk_gib.max(0) as u64,
            arch: self.arch.clone(),
            vendor: self.manufacturer.clone(),
            model: self.model.clone(),
            traits: self.traits.clone(),
            accelerators: self.accelerators.clone(),
        }
    }

    /// What the audit log records of a node (no credentials).
    pub fn audit_value(&self) -> Value {
        serde_json::json!({
            "state": self.state.as_str(),
            "maintenance": self.maintenance,
            "maintenance_reason": self.maintenance_reason,
            "bmc_url": self.bmc_url,
            "system_id": self.system_id,
            "username": self.username,
            "tls": self.tls_mode,
            "serial": self.serial,
            "system_uuid": self.system_uuid,
            "owner_project": self.owner_project,
            "traits": self.traits,
            "rack": self.rack,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HostRecord {
    pub id: i64,
    pub name: String,
    pub project: String,
    pub flavor: Option<String>,
    pub node: Option<String>,
    /// `allocated` (a node is reserved), then the deployment states of the host lifecycle.
    pub state: String,
    pub node_state: Option<ProvisionState>,
    pub power: Option<String>,
    pub arch: Option<String>,
    pub created_by: String,
    pub created_at: i64,
    /// What the host was deployed from (a `deploy::Deployment`), once it was. Shown
    /// without the sealed user data (ciphertext is no one's business in a listing), and with the
    /// image URL's credentials masked.
    #[serde(serialize_with = "without_sealed_user_data")]
    pub deployment: Option<serde_json::Value>,
    /// Static addresses the inventory gave it, by network.
    pub addresses: std::collections::BTreeMap<String, Vec<String>>,
}

fn without_sealed_user_data<S: serde::Serializer>(
    deployment: &Option<serde_json::Value>,
    s: S,
) -> Result<S::Ok, S::Error> {
    let mut shown = deployment.clone();
    if let Some(serde_json::Value::Object(d)) = shown.as_mut() {
        d.remove("user_data_sealed");
        d.remove("image_url_sealed");
        if let Some(serde_json::Value::String(u)) = d.get_mut("image_url") {
            *u = crate::text::shown(u);
        }
    }
    serde::Serialize::serialize(&shown, s)
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: String,
    pub at_ms: i64,
    pub actor: String,
    pub role: String,
    pub project: Option<String>,
    pub action: String,
    pub object_kind: String,
    pub object: String,
    pub node: Option<String>,
    /// `ok`, `denied` or `failed`.
    pub outcome: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub detail: Option<String>,
}

/// Unix milliseconds as RFC 3339 UTC (`2026-11-23T04:06:27Z`).
pub fn format_time(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        tod / 3600,
        (tod % 3600) / 60,
        tod % 60
    )
}

// Howard Hinnant's civil-calendar algorithms.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}
