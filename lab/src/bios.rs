//! BIOS attribute registries of the simulated vendors, and validation of staged values against them.
//!
//! The registry is served as a Redfish `AttributeRegistry` so that clients can check names, types,
//! allowed values and read-only flags before they stage anything, the way they must on real BMCs.

use serde_json::{json, Map, Value};

use crate::hardware::{Hardware, Vendor};

#[derive(Debug, Clone)]
pub enum Kind {
    Enumeration(&'static [&'static str]),
    Integer { lower: i64, upper: i64 },
    String { max_len: usize },
    Boolean,
}

#[derive(Debug, Clone)]
pub struct Attribute {
    pub name: &'static str,
    pub display: &'static str,
    pub kind: Kind,
    pub read_only: bool,
    pub default: Value,
}

const ON_OFF: &[&str] = &["Enabled", "Disabled"];

fn common() -> Vec<Attribute> {
    let e = |name, display, values: &'static [&'static str], default: &str| Attribute {
        name,
        display,
        kind: Kind::Enumeration(values),
        read_only: false,
        default: json!(default),
    };
    vec![
        e("BootMode", "Boot Mode", &["Uefi", "Bios"], "Uefi"),
        e(
            "ProcVirtualization",
            "Virtualization Technology",
            ON_OFF,
            "Enabled",
        ),
        e("LogicalProc", "Logical Processor", ON_OFF, "Enabled"),
        e("ProcTurboMode", "Turbo Boost", ON_OFF, "Enabled"),
        e(
            "SriovGlobalEnable",
            "SR-IOV Global Enable",
            ON_OFF,
            "Disabled",
        ),
        e(
            "SysProfile",
            "System Profile",
            &[
                "PerfPerWattOptimizedDapc",
                "PerfPerWattOptimizedOs",
                "PerfOptimized",
                "Custom",
            ],
            "PerfPerWattOptimizedDapc",
        ),
        e("MemTest", "System Memory Testing", ON_OFF, "Disabled"),
        e("PxeDev1EnDis", "PXE Device 1", ON_OFF, "Enabled"),
        e("NumLock", "Keyboard NumLock", &["On", "Off"], "On"),
        e(
            "SerialComm",
            "Serial Communication",
            &["OnConRedir", "OnNoConRedir", "Off"],
            "Off",
        ),
        e(
            "AcPwrRcvry",
            "AC Power Recovery",
            &["On", "Off", "Last"],
            "Last",
        ),
        e("OsWatchdogTimer", "OS Watchdog Timer", ON_OFF, "Disabled"),
        Attribute {
            name: "PowerOnDelaySec",
            display: "Power-On Delay (seconds)",
            kind: Kind::Integer {
                lower: 0,
                upper: 120,
            },
            read_only: false,
            default: json!(0),
        },
        Attribute {
            name: "AssetTag",
            display: "Asset Tag",
            kind: Kind::String { max_len: 63 },
            read_only: false,
            default: json!(""),
        },
        Attribute {
            name: "TpmSecurity",
            display: "TPM Security",
            kind: Kind::Boolean,
            read_only: false,
            default: json!(true),
        },
        Attribute {
            name: "SystemModelName",
            display: "System Model Name",
            kind: Kind::String { max_len: 64 },
            read_only: true,
            default: json!(""),
        },
        Attribute {
            name: "SystemServiceTag",
            display: "System Service Tag",
            kind: Kind::String { max_len: 32 },
            read_only: true,
            default: json!(""),
        },
    ]
}

fn vendor_extra(vendor: Vendor) -> Option<Attribute> {
    let (name, display, values, default): (_, _, &'static [&'static str], _) = match vendor {
        Vendor::Dell => ("ProcCStates", "C States", ON_OFF, "Enabled"),
        Vendor::Hpe => (
            "WorkloadProfile",
            "Workload Profile",
            &[
                "GeneralPowerEfficientCompute",
                "GeneralThroughputCompute",
                "Virtualization-MaxPerformance",
                "Custom",
            ],
            "GeneralPowerEfficientCompute",
        ),
        Vendor::Lenovo => (
            "OperatingModes_ChooseOperatingMode",
            "Operating Mode",
            &["EfficiencyFavorPerformance", "MaximumPerformance", "Custom"],
            "EfficiencyFavorPerformance",
        ),
        Vendor::Supermicro => ("QuietBoot", "Quiet Boot", ON_OFF, "Enabled"),
    };
    Some(Attribute {
        name,
        display,
        kind: Kind::Enumeration(values),
        read_only: false,
        default: json!(default),
    })
}

/// The BIOS attribute registry of one vendor.
#[derive(Debug, Clone)]
pub struct Registry {
    pub name: String,
    pub attributes: Vec<Attribute>,
}

impl Registry {
    pub fn for_vendor(vendor: Vendor) -> Registry {
        let mut attributes = common();
        attributes.extend(vendor_extra(vendor));
        Registry {
            name: format!("{}BiosAttributeRegistry.v1_0_0", capitalize(vendor.key())),
            attributes,
        }
    }

    pub fn get(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// Factory values of a given server (read-only attributes describe the hardware).
    pub fn defaults(&self, hw: &Hardware) -> Map<String, Value> {
        self.attributes
            .iter()
            .map(|a| {
                let v = match a.name {
                    "SystemModelName" => json!(hw.model),
                    "SystemServiceTag" => json!(hw.serial),
                    _ => a.default.clone(),
                };
                (a.name.to_string(), v)
            })
            .collect()
    }

    /// Checks one staged value. The error is a Redfish Base message id and its arguments.
    pub fn check(&self, name: &str, value: &Value) -> Result<(), (&'static str, Vec<String>)> {
        let Some(attr) = self.get(name) else {
            return Err(("Base.1.8.PropertyUnknown", vec![name.to_string()]));
        };
        if attr.read_only {
            return Err(("Base.1.8.PropertyNotWritable", vec![name.to_string()]));
        }
        let shown = value.to_string();
        let type_error = || {
            Err((
                "Base.1.8.PropertyValueTypeError",
                vec![shown.clone(), name.to_string()],
            ))
        };
        match &attr.kind {
            Kind::Enumeration(values) => match value.as_str() {
                Some(s) if values.contains(&s) => Ok(()),
                Some(_) => Err((
                    "Base.1.8.PropertyValueNotInList",
                    vec![shown, name.to_string()],
                )),
                None => type_error(),
            },
            Kind::Integer { lower, upper } => match value.as_i64() {
                Some(n) if (*lower..=*upper).contains(&n) => Ok(()),
                Some(_) => Err((
                    "Base.1.8.PropertyValueOutOfRange",
                    vec![shown, name.to_string()],
                )),
                None => type_error(),
            },
            Kind::String { max_len } => match value.as_str() {
                Some(s) if s.len() <= *max_len => Ok(()),
                Some(_) => Err((
                    "Base.1.8.PropertyValueFormatError",
                    vec![shown, name.to_string()],
                )),
                None => type_error(),
            },
            Kind::Boolean => match value {
                Value::Bool(_) => Ok(()),
                _ => type_error(),
            },
        }
    }

    /// The registry as a Redfish `AttributeRegistry` document.
    pub fn to_redfish(&self) -> Value {
        let attributes: Vec<Value> = self
            .attributes
            .iter()
            .map(|a| {
                let mut o = json!({
                    "AttributeName": a.name,
                    "DisplayName": a.display,
                    "ReadOnly": a.read_only,
                    "DefaultValue": a.default,
                });
                let m = o.as_object_mut().expect("object literal");
                match &a.kind {
                    Kind::Enumeration(values) => {
                        m.insert("Type".into(), json!("Enumeration"));
                        let vs: Vec<Value> = values
                            .iter()
                            .map(|v| json!({"ValueName": v, "ValueDisplayName": v}))
                            .collect();
                        m.insert("Value".into(), Value::Array(vs));
                    }
                    Kind::Integer { lower, upper } => {
                        m.insert("Type".into(), json!("Integer"));
                        m.insert("LowerBound".into(), json!(lower));
                        m.insert("UpperBound".into(), json!(upper));
                    }
                    Kind::String { max_len } => {
                        m.insert("Type".into(), json!("String"));
                        m.insert("MaxLength".into(), json!(max_len));
                    }
                    Kind::Boolean => {
                        m.insert("Type".into(), json!("Boolean"));
                    }
                }
                o
            })
            .collect();
        json!({
            "@odata.type": "#AttributeRegistry.v1_3_6.AttributeRegistry",
            "Id": self.name,
            "Name": "BIOS Attribute Registry",
            "Language": "en",
            "OwningEntity": "Lab",
            "RegistryVersion": "1.0.0",
            "SupportedSystems": [],
            "RegistryEntries": { "Attributes": attributes },
        })
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_rejects_unknown_read_only_and_out_of_list_values() {
        let r = Registry::for_vendor(Vendor::Dell);
        assert!(r.check("ProcVirtualization", &json!("Disabled")).is_ok());
        assert_eq!(
            r.check("NoSuchThing", &json!("x")).unwrap_err().0,
            "Base.1.8.PropertyUnknown"
        );
        assert_eq!(
            r.check("SystemServiceTag", &json!("x")).unwrap_err().0,
            "Base.1.8.PropertyNotWritable"
        );
        assert_eq!(
            r.check("BootMode", &json!("Uefi2")).unwrap_err().0,
            "Base.1.8.PropertyValueNotInList"
        );
        assert_eq!(
            r.check("PowerOnDelaySec", &json!(500)).unwrap_err().0,
            "Base.1.8.PropertyValueOutOfRange"
        );
        assert_eq!(
            r.check("PowerOnDelaySec", &json!("5")).unwrap_err().0,
            "Base.1.8.PropertyValueTypeError"
        );
        assert_eq!(
            r.check("TpmSecurity", &json!("yes")).unwrap_err().0,
            "Base.1.8.PropertyValueTypeError"
        );
    }

    #[test]
    fn each_vendor_has_its_own_extra_attribute() {
        assert!(Registry::for_vendor(Vendor::Hpe)
            .get("WorkloadProfile")
            .is_some());
        assert!(Registry::for_vendor(Vendor::Dell)
            .get("WorkloadProfile")
            .is_none());
    }
}
