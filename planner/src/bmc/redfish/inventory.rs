//! Pure parsers from Redfish documents to inventory data. Vendor spellings are absorbed here (and
//! unit-tested against real vendor payloads in `tests/fixtures/redfish`).

use serde_json::Value;

use super::super::{
    ControllerInfo, CpuSummary, DriveInfo, FirmwareInfo, Lldp, NicInfo, Reading, Sensors,
    VolumeInfo,
};

pub fn text(doc: &Value, pointer: &str) -> Option<String> {
    doc.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

fn number(doc: &Value, pointer: &str) -> Option<f64> {
    doc.pointer(pointer).and_then(Value::as_f64)
}

/// The last segment of a link: the id Redfish gives the member.
pub fn last_segment(uri: &str) -> String {
    uri.trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("")
        .to_string()
}

/// `@odata.id` of a navigation property.
pub fn link(doc: &Value, pointer: &str) -> Option<String> {
    doc.pointer(pointer)
        .and_then(|v| v.get("@odata.id"))
        .and_then(Value::as_str)
        .map(String::from)
}

/// A navigation link at the top level (standard) or under `Links` (badfish's iDRAC emulator and some
/// iDRAC firmware put EthernetInterfaces, Processors, Bios and FirmwareInventory there).
pub fn nav(doc: &Value, name: &str) -> Option<String> {
    link(doc, &format!("/{name}")).or_else(|| link(doc, &format!("/Links/{name}")))
}

/// The link object of a navigation property (top level or under `Links`), which holds the whole
/// document when the service expanded it.
pub fn nav_value<'a>(doc: &'a Value, name: &str) -> Option<&'a Value> {
    [doc.get(name), doc.get("Links").and_then(|l| l.get(name))]
        .into_iter()
        .flatten()
        .find(|v| v.get("@odata.id").and_then(Value::as_str).is_some())
}

/// Whether a link object carries its resource inline (`$expand`): a bare link has only
/// `@odata.id`; every Redfish resource has an `Id` and every collection `Members`.
pub fn expanded(link: &Value) -> bool {
    link.as_object()
        .is_some_and(|o| o.contains_key("Id") || o.contains_key("Members"))
}

/// The member link objects of a collection (inline documents when expanded).
pub fn member_links(collection: &Value) -> Vec<Value> {
    collection
        .get("Members")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// A JSON array of strings at `pointer`, or empty.
pub fn strings(doc: &Value, pointer: &str) -> Vec<String> {
    doc.pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// The `@odata.id` of each member of a collection.
pub fn members(collection: &Value) -> Vec<String> {
    collection
        .get("Members")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| m.get("@odata.id").and_then(Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// Normalises a MAC to lowercase colon form; `null`, empty and all-zero MACs are absent.
pub fn normalize_mac(s: &str) -> Option<String> {
    let hex: String = s
        .chars()
        .filter(|c| c.is_ascii_hexdigit())
        .collect::<String>()
        .to_ascii_lowercase();
    if hex.len() != 12 || hex.chars().all(|c| c == '0') {
        return None;
    }
    Some(
        hex.as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap_or(""))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// CPU summary from the system's `ProcessorSummary` (counts missing on some BMCs stay `None`).
pub fn cpu_summary(system: &Value) -> CpuSummary {
    let sockets = system
        .pointer("/ProcessorSummary/Count")
        .and_then(Value::as_u64);
    CpuSummary {
        sockets,
        cores: system
            .pointer("/ProcessorSummary/CoreCount")
            .and_then(Value::as_u64),
        threads: system
            .pointer("/ProcessorSummary/LogicalProcessorCount")
            .and_then(Value::as_u64),
        model: text(system, "/ProcessorSummary/Model"),
        arch: None,
    }
}

/// Architecture from a `Processor` document.
pub fn processor_arch(p: &Value) -> Option<String> {
    let isa = text(p, "/InstructionSet").unwrap_or_default();
    let arch = text(p, "/ProcessorArchitecture").unwrap_or_default();
    match (isa.as_str(), arch.as_str()) {
        ("x86-64", _) | (_, "x86") => Some("x86_64".into()),
        ("ARM-A64", _) | (_, "ARM") => Some("aarch64".into()),
        ("PowerISA", _) | (_, "Power") => Some("ppc64le".into()),
        _ => None,
    }
}

pub fn nic(doc: &Value) -> Option<NicInfo> {
    let mac = text(doc, "/MACAddress")
        .and_then(|m| normalize_mac(&m))
        .or_else(|| text(doc, "/PermanentMACAddress").and_then(|m| normalize_mac(&m)))?;
    Some(NicInfo {
        id: text(doc, "/Id").unwrap_or_default(),
        mac,
        link: text(doc, "/LinkStatus"),
        speed_mbps: doc.get("SpeedMbps").and_then(Value::as_u64),
        lldp: None,
    })
}

/// LLDP neighbour of a network adapter `Port`, with the MACs it serves.
pub fn port_lldp(port: &Value) -> Option<(Vec<String>, Lldp)> {
    let rx = port.pointer("/Ethernet/LLDPReceive")?;
    let lldp = Lldp {
        switch: text(rx, "/SystemName"),
        port: text(rx, "/PortId"),
        chassis_id: text(rx, "/ChassisId"),
    };
    let macs = port
        .pointer("/Ethernet/AssociatedMACAddresses")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter_map(normalize_mac)
                .collect()
        })
        .unwrap_or_default();
    Some((macs, lldp))
}

pub fn drive(doc: &Value) -> DriveInfo {
    DriveInfo {
        id: text(doc, "/Id").unwrap_or_default(),
        model: text(doc, "/Model"),
        serial: text(doc, "/SerialNumber"),
        // HPE iLO's HpSmartStorageDiskDrive says CapacityGB (decimal) and InterfaceType.
        capacity_bytes: doc
            .get("CapacityBytes")
            .and_then(Value::as_u64)
            .or_else(|| {
                doc.get("CapacityGB")
                    .and_then(Value::as_u64)
                    .map(|gb| gb * 1_000_000_000)
            }),
        media: text(doc, "/MediaType"),
        protocol: text(doc, "/Protocol").or_else(|| text(doc, "/InterfaceType")),
    }
}

pub fn volume(doc: &Value, controller: &str) -> VolumeInfo {
    VolumeInfo {
        id: text(doc, "/Id").unwrap_or_default(),
        name: text(doc, "/Name"),
        raid: text(doc, "/RAIDType").or_else(|| text(doc, "/VolumeType")),
        capacity_bytes: doc.get("CapacityBytes").and_then(Value::as_u64),
        drives: doc
            .pointer("/Links/Drives")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.get("@odata.id").and_then(Value::as_str))
                    .map(last_segment)
                    .collect()
            })
            .unwrap_or_default(),
        controller: controller.to_string(),
    }
}

pub fn controller(doc: &Value) -> ControllerInfo {
    let first = doc
        .pointer("/StorageControllers/0")
        .cloned()
        .unwrap_or(Value::Null);
    ControllerInfo {
        id: text(doc, "/Id").unwrap_or_default(),
        name: text(&first, "/Name").or_else(|| text(doc, "/Name")),
        raid_types: strings(&first, "/SupportedRAIDTypes"),
        firmware: text(&first, "/FirmwareVersion"),
    }
}

pub fn firmware(doc: &Value) -> FirmwareInfo {
    FirmwareInfo {
        id: text(doc, "/Id").unwrap_or_default(),
        name: text(doc, "/Name"),
        version: text(doc, "/Version"),
        updateable: doc.get("Updateable").and_then(Value::as_bool),
    }
}

/// Temperatures and fans from a `Thermal` document.
pub fn thermal(doc: &Value, into: &mut Sensors) {
    for t in doc
        .get("Temperatures")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        into.temperatures.push(Reading {
            name: text(t, "/Name").unwrap_or_default(),
            value: number(t, "/ReadingCelsius"),
            units: "Cel".into(),
            health: text(t, "/Status/Health"),
        });
    }
    for f in doc
        .get("Fans")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        into.fans.push(Reading {
            name: text(f, "/Name")
                .or_else(|| text(f, "/FanName"))
                .unwrap_or_default(),
            // Older HPE firmware: CurrentReading in Units (often Percent).
            value: number(f, "/Reading").or_else(|| number(f, "/CurrentReading")),
            units: text(f, "/ReadingUnits")
                .or_else(|| text(f, "/Units"))
                .unwrap_or_else(|| "RPM".into()),
            health: text(f, "/Status/Health"),
        });
    }
}

/// Where a chassis sits, from its `Location` (Resource.Location in the Redfish schema):
/// `RACK/U` from `Placement` (the rack, and the offset in it), with a blade's
/// `PartLocation.ServiceLabel` after it when the BMC gives one (`r1/5/Slot 3`). A label alone
/// ("Slot 3" is in every enclosure) or a rack without an offset names no one place: `None`.
pub fn slot(chassis: &Value) -> Option<String> {
    let loc = chassis.get("Location")?;
    let rack = text(loc, "/Placement/Rack").filter(|r| !r.trim().is_empty())?;
    let offset = loc.pointer("/Placement/RackOffset").and_then(|v| match v {
        Value::Number(n) => n.as_u64().map(|u| u.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    })?;
    let place = format!("{}/{offset}", rack.trim());
    match text(loc, "/PartLocation/ServiceLabel").filter(|l| !l.trim().is_empty()) {
        Some(label) => Some(format!("{place}/{}", label.trim())),
        None => Some(place),
    }
}

/// Consumption and supplies from a `Power` document.
pub fn power(doc: &Value, into: &mut Sensors) {
    into.power_watts = number(doc, "/PowerControl/0/PowerConsumedWatts");
    for p in doc
        .get("PowerSupplies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        into.power_supplies.push(Reading {
            name: text(p, "/Name").unwrap_or_default(),
            value: number(p, "/PowerCapacityWatts"),
            units: "W".into(),
            health: text(p, "/Status/Health"),
        });
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_chassis_slot_is_its_rack_and_offset_and_a_blade_its_label_there() {
        let rack = serde_json::json!({"Location": {"Placement": {"Rack": "r1", "RackOffset": 5, "Row": "A"}}});
        assert_eq!(slot(&rack).as_deref(), Some("r1/5"));
        let blade = serde_json::json!({"Location": {
            "Placement": {"Rack": "r2", "RackOffset": "20"},
            "PartLocation": {"ServiceLabel": "Slot 3", "LocationType": "Slot", "LocationOrdinalValue": 3}}});
        assert_eq!(slot(&blade).as_deref(), Some("r2/20/Slot 3"));
        // A label alone is in every enclosure, and a rack without an offset is no one place.
        let label = serde_json::json!({"Location": {"PartLocation": {"ServiceLabel": "Slot 3"}}});
        assert_eq!(slot(&label), None);
        let vague = serde_json::json!({"Location": {"Placement": {"Rack": "r1"},
            "PartLocation": {"ServiceLabel": "Slot 3"}}});
        assert_eq!(slot(&vague), None);
        assert_eq!(slot(&serde_json::json!({"Id": "1U"})), None);
    }

    use super::*;

    #[test]
    fn macs_normalise_and_zero_or_null_is_absent() {
        assert_eq!(
            normalize_mac("B8-CE-F6-00-11-22").as_deref(),
            Some("b8:ce:f6:00:11:22")
        );
        assert_eq!(normalize_mac("00:00:00:00:00:00"), None);
        assert_eq!(normalize_mac(""), None);
    }
}
