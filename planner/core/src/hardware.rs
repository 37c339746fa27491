//! Plain data a BMC speaks in (inventory, power, boot, BIOS, storage, media and tasks), with the
//! credentials and TLS trust of an endpoint. No I/O here; the BIOS registry's validation is a pure function.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum PowerState {
    On,
    Off,
    PoweringOn,
    PoweringOff,
    Other(String),
}

impl PowerState {
    pub fn parse(s: &str) -> PowerState {
        match s {
            "On" => PowerState::On,
            "Off" => PowerState::Off,
            "PoweringOn" => PowerState::PoweringOn,
            "PoweringOff" => PowerState::PoweringOff,
            other => PowerState::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            PowerState::On => "On",
            PowerState::Off => "Off",
            PowerState::PoweringOn => "PoweringOn",
            PowerState::PoweringOff => "PoweringOff",
            PowerState::Other(s) => s,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PowerAction {
    On,
    /// Graceful shutdown, forced off if the OS does not stop in time.
    Off,
    ForceOff,
    /// Graceful restart where supported, else a forced one.
    Reboot,
    ForceReboot,
    Nmi,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BootTarget {
    None,
    Pxe,
    /// The virtual CD; sent as `UsbCd` to BMCs that spell it so.
    Cd,
    Hdd,
    BiosSetup,
}

impl BootTarget {
    pub fn redfish(self) -> &'static str {
        match self {
            BootTarget::None => "None",
            BootTarget::Pxe => "Pxe",
            BootTarget::Cd => "Cd",
            BootTarget::Hdd => "Hdd",
            BootTarget::BiosSetup => "BiosSetup",
        }
    }

    pub fn parse(s: &str) -> Option<BootTarget> {
        match s.to_ascii_lowercase().as_str() {
            "none" => Some(BootTarget::None),
            "pxe" => Some(BootTarget::Pxe),
            "cd" | "usbcd" | "dvd" => Some(BootTarget::Cd),
            "hdd" | "disk" => Some(BootTarget::Hdd),
            "biossetup" => Some(BootTarget::BiosSetup),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BootPersistence {
    Once,
    Continuous,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BootMode {
    Uefi,
    Legacy,
}

impl BootMode {
    pub fn redfish(self) -> &'static str {
        match self {
            BootMode::Uefi => "UEFI",
            BootMode::Legacy => "Legacy",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BootSettings {
    /// Override target as the BMC spells it (`UsbCd` reads back as `Cd` via [`BootTarget::parse`]).
    pub target: String,
    /// `Disabled`, `Once` or `Continuous`.
    pub enabled: String,
    pub mode: Option<String>,
    pub order: Vec<String>,
    pub allowed_targets: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecureBoot {
    pub enabled: bool,
    /// Whether the current boot ran with secure boot on (changes apply at the next boot).
    pub current: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Lldp {
    pub switch: Option<String>,
    pub port: Option<String>,
    pub chassis_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NicInfo {
    pub id: String,
    pub mac: String,
    pub link: Option<String>,
    pub speed_mbps: Option<u64>,
    pub lldp: Option<Lldp>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriveInfo {
    pub id: String,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub capacity_bytes: Option<u64>,
    pub media: Option<String>,
    pub protocol: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeInfo {
    pub id: String,
    pub name: Option<String>,
    pub raid: Option<String>,
    pub capacity_bytes: Option<u64>,
    /// Drive ids (the last segment of each drive link).
    pub drives: Vec<String>,
    /// The storage controller's id.
    pub controller: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControllerInfo {
    pub id: String,
    pub name: Option<String>,
    pub raid_types: Vec<String>,
    pub firmware: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirmwareInfo {
    pub id: String,
    pub name: Option<String>,
    pub version: Option<String>,
    pub updateable: Option<bool>,
}

/// The protocol a BMC endpoint speaks, told by its URL's scheme: `ipmi://` is IPMI 2.0 (lanplus),
/// everything else Redfish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Protocol {
    Redfish,
    Ipmi,
}

impl Protocol {
    pub fn of(url: &str) -> Protocol {
        match url.split_once("://") {
            Some((scheme, _)) if scheme.eq_ignore_ascii_case("ipmi") => Protocol::Ipmi,
            _ => Protocol::Redfish,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Protocol::Redfish => "Redfish",
            Protocol::Ipmi => "IPMI",
        }
    }
}

/// One entry of a system event log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEntry {
    pub id: String,
    /// When it happened, as the BMC words it.
    pub created: Option<String>,
    /// The sensor or part it is about.
    pub source: Option<String>,
    pub message: String,
    /// `OK`, `Warning` or `Critical`, where the BMC says.
    pub severity: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    pub name: String,
    pub value: Option<f64>,
    pub units: String,
    pub health: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Sensors {
    pub temperatures: Vec<Reading>,
    pub fans: Vec<Reading>,
    pub power_watts: Option<f64>,
    pub power_supplies: Vec<Reading>,
    /// Every other reading (voltage, current, power, energy, humidity…), from a `Sensors`
    /// collection or the deprecated `Power` resource's `Voltages`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other: Vec<Reading>,
    /// Where the readings came from, per chassis: `Sensors`, `ThermalSubsystem`/`PowerSubsystem`
    /// or the deprecated `Thermal`/`Power`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
}

impl Sensors {
    /// How many readings there are (power supplies are devices, not sensors, and not counted).
    pub fn count(&self) -> usize {
        self.temperatures.len() + self.fans.len() + self.other.len()
    }
}

/// Processors that are not CPUs (GPUs, FPGAs, DSPs, accelerators), grouped by kind and model.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Accelerator {
    /// The Redfish `ProcessorType`, lower-cased: `gpu`, `fpga`, `dsp`, `accelerator`, `oem`.
    pub kind: String,
    /// The `Model`, else the `PartNumber` (XClarity names GPUs only by part number).
    pub model: Option<String>,
    pub manufacturer: Option<String>,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CpuSummary {
    pub sockets: Option<u64>,
    pub cores: Option<u64>,
    pub threads: Option<u64>,
    pub model: Option<String>,
    /// `x86_64` or `aarch64` where the BMC says.
    pub arch: Option<String>,
}

/// What inspection learns about one system. Absent facts are `None` or empty, never invented.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    pub system_id: String,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub uuid: Option<String>,
    pub sku: Option<String>,
    pub power_state: PowerState,
    pub health: Option<String>,
    pub bios_version: Option<String>,
    pub cpu: CpuSummary,
    /// GPUs, FPGAs and other non-CPU processors, never counted as CPUs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accelerators: Vec<Accelerator>,
    pub memory_gib: Option<f64>,
    pub nics: Vec<NicInfo>,
    pub controllers: Vec<ControllerInfo>,
    pub drives: Vec<DriveInfo>,
    pub volumes: Vec<VolumeInfo>,
    pub firmware: Vec<FirmwareInfo>,
    pub sensors: Sensors,
    pub bios: BTreeMap<String, Value>,
    /// Where the server sits, from its chassis' Redfish `Location`: `RACK/U` from `Placement`
    /// (rack and offset), else `PartLocation.ServiceLabel` (a blade's slot in its enclosure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slot: Option<String>,
    /// Parts of the inventory the BMC could not provide, with why (e.g. "BIOS: HTTP 501").
    pub unavailable: Vec<String>,
}

impl Inventory {
    pub fn disk_bytes(&self) -> u64 {
        self.drives.iter().filter_map(|d| d.capacity_bytes).sum()
    }

    pub fn macs(&self) -> Vec<String> {
        self.nics.iter().map(|n| n.mac.clone()).collect()
    }
}

/// A system's storage, as RAID planning reads it.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StorageInfo {
    pub controllers: Vec<ControllerInfo>,
    pub drives: Vec<DriveInfo>,
    pub volumes: Vec<VolumeInfo>,
    /// Parts the BMC could not provide, with why.
    pub unavailable: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BiosState {
    pub current: Map<String, Value>,
    pub pending: Map<String, Value>,
    pub registry: Option<String>,
    pub apply_times: Vec<String>,
    /// The Bios resource, and the settings object that stages changes for the next reset.
    pub uri: String,
    pub settings_uri: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum AttrType {
    Enumeration(Vec<String>),
    Integer {
        lower: Option<i64>,
        upper: Option<i64>,
    },
    String {
        max_len: Option<u64>,
    },
    Boolean,
    Password,
    Other(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BiosAttribute {
    pub name: String,
    pub kind: AttrType,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct BiosRegistry {
    pub name: String,
    pub attributes: BTreeMap<String, BiosAttribute>,
}

impl BiosRegistry {
    /// Parses a Redfish `AttributeRegistry` document.
    pub fn from_redfish(doc: &Value) -> BiosRegistry {
        let name = doc
            .get("Id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut attributes = BTreeMap::new();
        let entries = doc
            .pointer("/RegistryEntries/Attributes")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for a in entries {
            let Some(attr_name) = a.get("AttributeName").and_then(Value::as_str) else {
                continue;
            };
            let kind = match a.get("Type").and_then(Value::as_str).unwrap_or("") {
                "Enumeration" => AttrType::Enumeration(
                    a.get("Value")
                        .and_then(Value::as_array)
                        .map(|vs| {
                            vs.iter()
                                .filter_map(|v| {
                                    v.get("ValueName").and_then(Value::as_str).map(String::from)
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                ),
                "Integer" => AttrType::Integer {
                    lower: a.get("LowerBound").and_then(Value::as_i64),
                    upper: a.get("UpperBound").and_then(Value::as_i64),
                },
                "String" => AttrType::String {
                    max_len: a.get("MaxLength").and_then(Value::as_u64),
                },
                "Boolean" => AttrType::Boolean,
                "Password" => AttrType::Password,
                other => AttrType::Other(other.to_string()),
            };
            let read_only = a.get("ReadOnly").and_then(Value::as_bool).unwrap_or(false)
                || a.get("Immutable").and_then(Value::as_bool).unwrap_or(false);
            attributes.insert(
                attr_name.to_string(),
                BiosAttribute {
                    name: attr_name.to_string(),
                    kind,
                    read_only,
                },
            );
        }
        BiosRegistry { name, attributes }
    }

    /// Checks staged values against the registry: unknown names, read-only attributes, wrong types,
    /// values outside the allowed list or range. Each problem is a sentence naming the attribute.
    pub fn validate(&self, changes: &Map<String, Value>) -> Vec<String> {
        let mut problems = Vec::new();
        for (name, value) in changes {
            let Some(attr) = self.attributes.get(name) else {
                let hint = self
                    .closest(name)
                    .map(|c| format!(" (did you mean {c}?)"))
                    .unwrap_or_default();
                problems.push(format!(
                    "{name}: unknown BIOS attribute in registry {}{hint}",
                    self.name
                ));
                continue;
            };
            if attr.read_only {
                problems.push(format!("{name}: read-only"));
                continue;
            }
            match &attr.kind {
                AttrType::Enumeration(allowed) => match value.as_str() {
                    Some(v) if allowed.iter().any(|a| a == v) => {}
                    Some(v) => problems.push(format!(
                        "{name}: {v:?} is not one of {}",
                        allowed.join(", ")
                    )),
                    None => problems.push(format!(
                        "{name}: expects one of {}, got {value}",
                        allowed.join(", ")
                    )),
                },
                AttrType::Integer { lower, upper } => match value.as_i64() {
                    Some(n) if lower.is_none_or(|l| n >= l) && upper.is_none_or(|u| n <= u) => {}
                    Some(n) => problems.push(format!(
                        "{name}: {n} is outside {}..{}",
                        lower.map(|l| l.to_string()).unwrap_or_default(),
                        upper.map(|u| u.to_string()).unwrap_or_default()
                    )),
                    None => problems.push(format!("{name}: expects an integer, got {value}")),
                },
                AttrType::String { max_len } => match value.as_str() {
                    Some(s) if max_len.is_none_or(|m| s.len() as u64 <= m) => {}
                    Some(s) => problems.push(format!(
                        "{name}: {} characters, more than {}",
                        s.len(),
                        max_len.unwrap_or(0)
                    )),
                    None => problems.push(format!("{name}: expects a string, got {value}")),
                },
                AttrType::Boolean if !value.is_boolean() => {
                    problems.push(format!("{name}: expects true or false, got {value}"))
                }
                _ => {}
            }
        }
        problems
    }

    /// The known attribute closest to a misspelt name, for the error message.
    fn closest(&self, name: &str) -> Option<&str> {
        let lower = name.to_ascii_lowercase();
        self.attributes
            .keys()
            .map(|k| (edit_distance(&lower, &k.to_ascii_lowercase()), k))
            .filter(|(d, k)| *d <= (k.len() / 3).max(2))
            .min()
            .map(|(_, k)| k.as_str())
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

/// A RAID volume to create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VolumeSpec {
    pub name: String,
    /// `RAID0`, `RAID1`, `RAID5`, `RAID6`, `RAID10`.
    pub raid: String,
    /// Drive ids, as in [`DriveInfo::id`].
    pub drives: Vec<String>,
    pub capacity_bytes: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApplyTime {
    Immediate,
    OnReset,
}

impl ApplyTime {
    pub fn redfish(self) -> &'static str {
        match self {
            ApplyTime::Immediate => "Immediate",
            ApplyTime::OnReset => "OnReset",
        }
    }
}

/// A BMC task that has not run yet, with the request that created it (Redfish `Task.Payload`):
/// work staged for the next reset, such as a volume creation or a firmware update.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagedTask {
    pub id: String,
    pub state: String,
    /// `POST`, `DELETE`, …
    pub operation: String,
    /// The request's target path.
    pub target: String,
    /// The request's JSON body, when it had one.
    pub body: Option<serde_json::Value>,
    /// What the BMC calls the work (`Configure: BIOS.Setup.1-1`, `Task 12`), for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl StagedTask {
    /// One line for people: the name, the request it will make, its state.
    pub fn describe(&self) -> String {
        let request = match (self.operation.as_str(), self.target.as_str()) {
            ("" | "JOB", _) => String::new(),
            (op, target) => format!("{op} {target}"),
        };
        match (&self.name, request.is_empty()) {
            (Some(n), true) => format!("{n} ({})", self.state),
            (Some(n), false) => format!("{n}: {request} ({})", self.state),
            (None, _) => format!("{request} ({})", self.state),
        }
    }

    /// Whether the planner can tell what this work changes (a volume created or deleted, a
    /// firmware image): anything else is someone else's work queued for the next reset.
    pub fn understood(&self) -> bool {
        self.created_volume().is_some()
            || self.deleted_volume().is_some()
            || self.firmware_image().is_some()
    }
}

impl StagedTask {
    /// A volume creation staged on a Volumes collection: (its name, its RAID type).
    pub fn created_volume(&self) -> Option<(&str, &str)> {
        if self.operation != "POST" || !self.target.trim_end_matches('/').ends_with("/Volumes") {
            return None;
        }
        let b = self.body.as_ref()?;
        let name = b.get("Name")?.as_str()?;
        let level = b
            .get("RAIDType")
            .or_else(|| b.get("VolumeType"))
            .and_then(serde_json::Value::as_str)
            .unwrap_or("");
        Some((name, level))
    }

    /// The volume a staged DELETE removes (the last segment of its target).
    pub fn deleted_volume(&self) -> Option<&str> {
        if self.operation != "DELETE" {
            return None;
        }
        let t = self.target.trim_end_matches('/');
        let (coll, id) = t.rsplit_once('/')?;
        coll.ends_with("/Volumes").then_some(id)
    }

    /// The image a staged `SimpleUpdate` installs.
    pub fn firmware_image(&self) -> Option<&str> {
        if self.operation != "POST" || !self.target.ends_with("SimpleUpdate") {
            return None;
        }
        self.body.as_ref()?.get("ImageURI")?.as_str()
    }

    /// The drives a staged volume creation claims.
    pub fn claimed_drives(&self) -> Vec<String> {
        self.body
            .as_ref()
            .and_then(|b| b.pointer("/Links/Drives"))
            .and_then(serde_json::Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.get("@odata.id").and_then(serde_json::Value::as_str))
                    .map(|u| u.rsplit('/').next().unwrap_or(u).to_string())
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MediaInfo {
    pub uri: String,
    pub media_types: Vec<String>,
    pub image: Option<String>,
    pub inserted: bool,
}

/// A BMC task to follow: its monitor (or task) URI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskRef {
    pub monitor: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskOutcome {
    pub state: String,
    pub messages: Vec<String>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_ipmi_bmc_has_its_own_origin_and_protocol() {
        assert_eq!(origin("ipmi://10.0.0.5"), "ipmi://10.0.0.5:623");
        assert_eq!(
            origin("IPMI://BMC.example:6231/"),
            "ipmi://bmc.example:6231"
        );
        assert_ne!(
            origin("ipmi://10.0.0.5:6231"),
            origin("ipmi://10.0.0.5:6232")
        );
        assert_eq!(origin("https://10.0.0.5/redfish/v1"), "https://10.0.0.5");
        assert_eq!(Protocol::of("ipmi://10.0.0.5"), Protocol::Ipmi);
        assert_eq!(Protocol::of("https://10.0.0.5"), Protocol::Redfish);
    }

    use super::*;
    use serde_json::json;

    fn registry() -> BiosRegistry {
        BiosRegistry::from_redfish(&json!({"Id": "Reg.1", "RegistryEntries": {"Attributes": [
            {"AttributeName": "BootMode", "Type": "Enumeration", "Value": [{"ValueName": "Uefi"}, {"ValueName": "Bios"}]},
            {"AttributeName": "PowerOnDelaySec", "Type": "Integer", "LowerBound": 0, "UpperBound": 120},
            {"AttributeName": "AssetTag", "Type": "String", "MaxLength": 4},
            {"AttributeName": "SystemServiceTag", "Type": "String", "ReadOnly": true},
            {"AttributeName": "TpmSecurity", "Type": "Boolean"},
        ]}}))
    }

    #[test]
    fn registry_validation_names_each_bad_attribute() {
        let r = registry();
        let changes: Map<String, Value> = serde_json::from_value(json!({
            "BootMod": "Uefi", "BootMode": "Floppy", "PowerOnDelaySec": 500, "AssetTag": "toolong",
            "SystemServiceTag": "X", "TpmSecurity": "yes",
        }))
        .unwrap();
        let p = registry().validate(&changes);
        assert_eq!(p.len(), 6, "{p:?}");
        assert!(
            p.iter()
                .any(|m| m.starts_with("BootMod: unknown") && m.contains("did you mean BootMode?")),
            "{p:?}"
        );
        assert!(p
            .iter()
            .any(|m| m.starts_with("BootMode: \"Floppy\" is not one of Uefi, Bios")));
        assert!(p
            .iter()
            .any(|m| m.starts_with("PowerOnDelaySec: 500 is outside 0..120")));
        assert!(p.iter().any(|m| m == "SystemServiceTag: read-only"));
        let good: Map<String, Value> =
            serde_json::from_value(json!({"BootMode": "Bios", "PowerOnDelaySec": 5})).unwrap();
        assert!(r.validate(&good).is_empty());
    }

    #[test]
    fn boot_targets_parse_vendor_spellings() {
        assert_eq!(BootTarget::parse("UsbCd"), Some(BootTarget::Cd));
        assert_eq!(BootTarget::parse("Pxe"), Some(BootTarget::Pxe));
        assert_eq!(BootTarget::parse("Floppy"), None);
    }
}

/// How to trust a BMC's TLS certificate. Verification is on unless `Insecure` is chosen explicitly.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum TlsTrust {
    /// Trust no certificate authority beyond what the BMC endpoint is given: BMC certificates are
    /// private, so public roots are never loaded.
    #[default]
    NoExtraRoots,
    /// Trust certificates issued by the CAs in this PEM file.
    CaBundle(PathBuf),
    /// Trust certificates issued by the CAs in this PEM text (how the inventory keeps a node's CA).
    CaPem(String),
    /// Trust exactly the certificate whose SHA-256 fingerprint (hex, colons optional) is given.
    Fingerprint(String),
    /// Skip verification. Only on explicit request.
    Insecure,
}

/// A password or token that never reaches a log line, even through `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret(s.to_string())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret(s)
    }
}

/// Normalises a fingerprint to 64 lowercase hex digits; accepts colons, spaces and a `sha256:` prefix.
pub fn parse_fingerprint(s: &str) -> Option<[u8; 32]> {
    let s = s.trim();
    let s = s
        .strip_prefix("sha256:")
        .or_else(|| s.strip_prefix("SHA256:"))
        .unwrap_or(s);
    let hex: String = s.chars().filter(|c| !matches!(c, ':' | ' ')).collect();
    let bytes = hex::decode(hex).ok()?;
    bytes.try_into().ok()
}

/// Where a node's BMC is and how to reach it.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Base URL, `https://host:port` (a path, if any, is ignored).
    pub url: String,
    pub username: String,
    pub password: Secret,
    pub tls: TlsTrust,
    pub limits: Limits,
}

impl Endpoint {
    pub fn new(
        url: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<Secret>,
        tls: TlsTrust,
    ) -> Endpoint {
        Endpoint {
            url: url.into(),
            username: username.into(),
            password: password.into(),
            tls,
            limits: Limits::default(),
        }
    }
}

/// Time and concurrency bounds for one BMC.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Longest a single HTTP request may take.
    pub request_timeout: Duration,
    /// Longest to wait for a TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// Concurrent requests to this BMC: small BMC web servers fall over under load.
    pub max_connections: usize,
    /// Attempts for a retryable request (the first try included).
    pub attempts: u32,
    /// First backoff between attempts; it doubles each time, up to `max_backoff`.
    pub backoff: Duration,
    pub max_backoff: Duration,
    /// Largest answer read: a BMC that sends more (a runaway log, a hostile device) gets an error,
    /// not the client's memory.
    pub max_body: usize,
    /// Most members one collection may list: a longer one (a runaway or self-referencing
    /// collection) is reported, not followed.
    pub max_members: usize,
    /// Most documents one inventory walk of a BMC reads (one operation: inspect, plan, enroll).
    pub max_documents: u64,
    /// Most bytes of answers one operation on a BMC reads, all documents together.
    pub max_read_bytes: u64,
    /// How often a transition (power, a task) is polled while it is awaited.
    pub poll: Duration,
}

/// The default bound on one answer: the largest BIOS attribute registries are a few MiB.
pub const MAX_BODY: usize = 16 << 20;

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            request_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_connections: 4,
            attempts: 5,
            backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
            max_body: MAX_BODY,
            max_members: 1024,
            max_documents: 4096,
            max_read_bytes: 256 << 20,
            poll: Duration::from_millis(500),
        }
    }
}

/// A BMC's origin (scheme, host, port), lower-cased: two spellings of one BMC's URL (a trailing
/// slash, a path) are one BMC. The key of its lease and of its identity.
pub fn origin(bmc_url: &str) -> String {
    match url::Url::parse(bmc_url) {
        // `ipmi://` is not a special scheme: its URL origin is opaque ("null"), so it is spelled
        // out, port included (623 when not given), or every IPMI BMC would share one.
        Ok(u) if u.scheme() == "ipmi" => format!(
            "ipmi://{}:{}",
            u.host_str().unwrap_or_default().to_ascii_lowercase(),
            u.port().unwrap_or(623)
        ),
        Ok(u) => u.origin().ascii_serialization().to_ascii_lowercase(),
        Err(_) => bmc_url.trim_end_matches('/').to_ascii_lowercase(),
    }
}

/// A part of a BMC endpoint, for pointing a refusal at what to fix: the address (URL), the
/// credentials, how the certificate is trusted (CA bundle, fingerprint), or the system id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EndpointPart {
    Address,
    Credentials,
    Trust,
    System,
}
