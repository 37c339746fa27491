//! Pure parsers from Redfish documents to inventory data. Vendor spellings are absorbed here (and
//! unit-tested against real vendor payloads in `tests/fixtures/redfish`).

use serde_json::Value;

use super::super::{
    Accelerator, ControllerInfo, CpuSummary, DriveInfo, FirmwareInfo, Lldp, NicInfo, Reading,
    Sensors, StagedTask, VolumeInfo,
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

/// A `Task` that has not run to its end: work the BMC holds (most often for the next reset). Its
/// `Payload` says the request it will make, where the BMC tells; a task without one is still
/// listed, by name. Finished tasks (`Completed`, `Exception`, `Killed`, `Cancelled`) are not.
pub fn open_task(uri: &str, t: &Value) -> Option<StagedTask> {
    let state = text(t, "/TaskState").unwrap_or_default();
    if state.is_empty()
        || matches!(
            state.as_str(),
            "Completed" | "Exception" | "Killed" | "Cancelled" | "Cancelling"
        )
    {
        return None;
    }
    let payload = t.get("Payload");
    let body = payload
        .and_then(|p| p.get("JsonBody"))
        .and_then(|b| match b {
            Value::String(s) => serde_json::from_str(s).ok(),
            Value::Object(_) => Some(b.clone()),
            _ => None,
        });
    let (operation, target) = match payload.and_then(|p| {
        Some((
            text(p, "/HttpOperation")?.to_ascii_uppercase(),
            text(p, "/TargetUri")?,
        ))
    }) {
        Some(found) => found,
        None => (String::new(), uri.to_string()),
    };
    Some(StagedTask {
        id: text(t, "/Id").unwrap_or_else(|| last_segment(uri)),
        state,
        operation,
        target,
        body,
        name: text(t, "/Name"),
    })
}

/// A job of a vendor job queue (Dell iDRAC's `Jobs` under its manager, `#DellJob`/`#Job`) that
/// waits or runs: `Scheduled` for the next reset, `New`, `Running`…; finished ones are not.
pub fn open_job(uri: &str, j: &Value) -> Option<StagedTask> {
    let state = text(j, "/JobState")?;
    if matches!(
        state.as_str(),
        "Completed"
            | "CompletedWithErrors"
            | "Failed"
            | "Cancelled"
            | "Killed"
            | "Aborted"
            | "Exception"
    ) {
        return None;
    }
    Some(StagedTask {
        id: text(j, "/Id").unwrap_or_else(|| last_segment(uri)),
        state,
        operation: "JOB".into(),
        target: text(j, "/TargetSettingsURI").unwrap_or_else(|| uri.to_string()),
        body: None,
        name: text(j, "/Name").or_else(|| text(j, "/JobType")),
    })
}

/// Whether a resource is absent (an empty socket, an unpopulated bay): `Status.State` is `Absent`.
pub fn absent(doc: &Value) -> bool {
    text(doc, "/Status/State").as_deref() == Some("Absent")
}

/// CPUs and accelerators from the members of a system's `Processors` collection, by the schema:
/// `ProcessorType` `CPU` (or no type: older services) counts as a socket with its `TotalCores` and
/// `TotalThreads` (threads = cores where the BMC gives no threads); `GPU`, `FPGA`, `DSP`,
/// `Accelerator` and `OEM` are accelerators, grouped by kind and model; `Core` and `Thread` are parts
/// of a processor, not processors; `Absent` members are empty sockets. `None` when no CPU is listed,
/// so the caller falls back on the system's `ProcessorSummary`.
pub fn processors(docs: &[Value]) -> Option<(CpuSummary, Vec<Accelerator>)> {
    let mut cpu = CpuSummary::default();
    let (mut sockets, mut cores, mut threads) = (0u64, Some(0u64), Some(0u64));
    let mut accelerators: Vec<Accelerator> = Vec::new();
    for p in docs.iter().filter(|p| !absent(p)) {
        let kind = text(p, "/ProcessorType").unwrap_or_else(|| "CPU".into());
        match kind.as_str() {
            "CPU" => {
                sockets += 1;
                let c = p.get("TotalCores").and_then(Value::as_u64);
                let t = p.get("TotalThreads").and_then(Value::as_u64).or(c);
                cores = cores.zip(c).map(|(a, b)| a + b);
                threads = threads.zip(t).map(|(a, b)| a + b);
                if cpu.model.is_none() {
                    cpu.model = text(p, "/Model");
                }
                if cpu.arch.is_none() {
                    cpu.arch = processor_arch(p);
                }
            }
            "Core" | "Thread" => {}
            other => {
                let kind = other.to_ascii_lowercase();
                // Not the Name ("GPU 1" on XCC): that would make each GPU a model of its own.
                let model = text(p, "/Model").or_else(|| text(p, "/PartNumber"));
                let manufacturer = text(p, "/Manufacturer");
                match accelerators
                    .iter_mut()
                    .find(|a| a.kind == kind && a.model == model)
                {
                    Some(a) => a.count += 1,
                    None => accelerators.push(Accelerator {
                        kind,
                        model,
                        manufacturer,
                        count: 1,
                    }),
                }
            }
        }
    }
    accelerators.sort();
    if sockets == 0 {
        return None;
    }
    cpu.sockets = Some(sockets);
    cpu.cores = cores;
    cpu.threads = threads;
    Some((cpu, accelerators))
}

/// The CPU facts from both sources: the members where they say, the `ProcessorSummary` for what
/// they leave out (and for everything when the system lists no CPU member).
pub fn cpus(system: &Value, members: &[Value]) -> (CpuSummary, Vec<Accelerator>) {
    let summary = cpu_summary(system);
    match processors(members) {
        Some((mut cpu, acc)) => {
            cpu.cores = cpu.cores.or(summary.cores);
            cpu.threads = cpu.threads.or(summary.threads).or(cpu.cores);
            cpu.model = cpu.model.or(summary.model);
            (cpu, acc)
        }
        None => {
            let mut cpu = summary;
            cpu.threads = cpu.threads.or(cpu.cores);
            (cpu, Vec::new())
        }
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

/// A system's `EthernetInterface` as a NIC of the server, or `None` when it is not one: a
/// `Virtual` interface (a VLAN sub-interface, a bond, a team), an interface the BMC reports
/// `Absent`, or one without a MAC.
pub fn ethernet_interface(doc: &Value) -> Option<NicInfo> {
    if text(doc, "/EthernetInterfaceType").as_deref() == Some("Virtual") || absent(doc) {
        return None;
    }
    // The host's side of the Redfish host interface (the in-band path to the BMC, Lenovo's
    // `ToManager`) is linked to its HostInterface: not a NIC the server is cabled with.
    if doc.pointer("/Links/HostInterface").is_some() {
        return None;
    }
    nic(doc)
}

/// The MACs a network adapter's `NetworkDeviceFunction` carries (`Ethernet.MACAddress`, else
/// `Ethernet.PermanentMACAddress`), as NICs named `ADAPTER/FUNCTION`.
pub fn device_function(adapter: &str, doc: &Value) -> Option<NicInfo> {
    if absent(doc) {
        return None;
    }
    let eth = doc.get("Ethernet")?;
    let mac = text(eth, "/MACAddress")
        .and_then(|m| normalize_mac(&m))
        .or_else(|| text(eth, "/PermanentMACAddress").and_then(|m| normalize_mac(&m)))?;
    Some(NicInfo {
        id: format!("{adapter}/{}", text(doc, "/Id").unwrap_or_default()),
        mac,
        link: None,
        speed_mbps: None,
        lldp: None,
    })
}

/// The MACs a network adapter's port lists: `Ethernet.AssociatedMACAddresses` (Port), the older
/// `AssociatedNetworkAddresses` (NetworkPort), with the port's link state.
pub fn port_macs(adapter: &str, doc: &Value) -> Vec<NicInfo> {
    let id = text(doc, "/Id").unwrap_or_default();
    let link = text(doc, "/LinkStatus");
    let speed = doc
        .get("CurrentSpeedGbps")
        .and_then(Value::as_f64)
        .map(|g| (g * 1000.0) as u64)
        .or_else(|| doc.get("CurrentLinkSpeedMbps").and_then(Value::as_u64));
    let mut macs = strings(doc, "/Ethernet/AssociatedMACAddresses");
    macs.extend(strings(doc, "/AssociatedNetworkAddresses"));
    macs.iter()
        .filter_map(|m| normalize_mac(m))
        .map(|mac| NicInfo {
            id: format!("{adapter}/{id}"),
            mac,
            link: link.clone(),
            speed_mbps: speed,
            lldp: None,
        })
        .collect()
}

/// MACs a vendor publishes only in its OEM section of a `NetworkAdapter` (HPE iLO:
/// `Oem.Hpe.PhysicalPorts[].MacAddress`).
pub fn adapter_oem_macs(adapter: &str, doc: &Value) -> Vec<NicInfo> {
    let mut out = Vec::new();
    for vendor in ["Hpe", "Hp"] {
        let ports = doc
            .pointer(&format!("/Oem/{vendor}/PhysicalPorts"))
            .and_then(Value::as_array);
        for (i, p) in ports.into_iter().flatten().enumerate() {
            if let Some(mac) = text(p, "/MacAddress").and_then(|m| normalize_mac(&m)) {
                out.push(NicInfo {
                    id: format!("{adapter}/port{}", i + 1),
                    mac,
                    link: text(p, "/LinkStatus"),
                    speed_mbps: p.get("SpeedMbps").and_then(Value::as_u64),
                    lldp: None,
                });
            }
        }
    }
    out
}

/// NICs merged by MAC: the first source that names a MAC wins (the system's interfaces come
/// first), and a later one only fills in what the first left out (link state, speed).
pub fn merge_nics(sources: impl IntoIterator<Item = NicInfo>) -> Vec<NicInfo> {
    let mut out: Vec<NicInfo> = Vec::new();
    for n in sources {
        match out.iter_mut().find(|o| o.mac == n.mac) {
            Some(o) => {
                o.link = o.link.take().or(n.link);
                o.speed_mbps = o.speed_mbps.or(n.speed_mbps);
            }
            None => out.push(n),
        }
    }
    out
}

/// An LLDP identifier as the switch meant it. Redfish gives `ChassisId` and `PortId` as colon
/// separated hex octets (`47:69:30:2F:31`); an interface name, alias or locally assigned id is
/// text, so those octets are decoded (`Gi0/1`). A MAC (subtype `MacAddr`, or six octets when the
/// subtype is not given) and anything not printable stay as given.
pub fn lldp_id(raw: &str, subtype: Option<&str>) -> String {
    let octets: Option<Vec<u8>> = raw
        .split(':')
        .map(|h| {
            (h.len() == 2)
                .then(|| u8::from_str_radix(h, 16).ok())
                .flatten()
        })
        .collect();
    let Some(octets) = octets.filter(|o| o.len() > 1) else {
        return raw.to_string();
    };
    let textual = match subtype {
        Some("IfName" | "IfAlias" | "LocalAssign" | "PortComp" | "ChassisComp" | "AgentId") => true,
        Some(_) => false,
        None => octets.len() != 6,
    };
    if textual && octets.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        String::from_utf8(octets).unwrap_or_else(|_| raw.to_string())
    } else {
        raw.to_string()
    }
}

/// LLDP neighbour of a network adapter `Port`, with the MACs it serves.
pub fn port_lldp(port: &Value) -> Option<(Vec<String>, Lldp)> {
    let rx = port.pointer("/Ethernet/LLDPReceive")?;
    let lldp = Lldp {
        switch: text(rx, "/SystemName"),
        port: text(rx, "/PortId").map(|p| lldp_id(&p, text(rx, "/PortIdSubtype").as_deref())),
        chassis_id: text(rx, "/ChassisId")
            .map(|c| lldp_id(&c, text(rx, "/ChassisIdSubtype").as_deref())),
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

/// Why a document that a link led to is not the resource it should be: an error body (a
/// `200` carrying `{"error": …}`), or a document with neither `Id` nor `@odata.id`.
pub fn not_a_resource(doc: &Value) -> Option<String> {
    if let Some(e) = doc.get("error") {
        let msg = text(e, "/message")
            .or_else(|| text(e, "/code"))
            .unwrap_or_else(|| "an error".into());
        return Some(format!("an error body instead of a resource: {msg}"));
    }
    if !doc.is_object() || (doc.get("Id").is_none() && doc.get("@odata.id").is_none()) {
        return Some("a document with neither Id nor @odata.id".into());
    }
    None
}

/// The drives of a `SimpleStorage` controller (`Devices`), which BMCs without the `Storage`
/// model publish (and some publish beside it). Absent bays are skipped.
pub fn simple_storage(doc: &Value) -> Vec<DriveInfo> {
    let ctl = text(doc, "/Id").unwrap_or_default();
    doc.get("Devices")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter(|(_, d)| !absent(d))
        .map(|(i, d)| DriveInfo {
            id: format!(
                "{ctl}/{}",
                text(d, "/Name").unwrap_or_else(|| i.to_string())
            ),
            model: text(d, "/Model"),
            serial: None,
            capacity_bytes: d.get("CapacityBytes").and_then(Value::as_u64),
            media: None,
            protocol: None,
        })
        .collect()
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
                    // A size past u64 bytes is no size at all: unknown, never a wrapped number.
                    .and_then(|gb| gb.checked_mul(1_000_000_000))
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

/// One `Sensor` resource (Redfish `Sensors` collection), sorted by its `ReadingType`:
/// temperatures, fans (`Rotational`), everything else.
pub fn sensor(doc: &Value, into: &mut Sensors) {
    let kind = text(doc, "/ReadingType").unwrap_or_default();
    let reading = Reading {
        name: text(doc, "/Name")
            .or_else(|| text(doc, "/Id"))
            .unwrap_or_default(),
        value: number(doc, "/Reading"),
        units: text(doc, "/ReadingUnits").unwrap_or_default(),
        health: text(doc, "/Status/Health"),
    };
    match kind.as_str() {
        "Temperature" => into.temperatures.push(reading),
        "Rotational" => into.fans.push(reading),
        _ => into.other.push(reading),
    }
}

/// A `Fan` of a `ThermalSubsystem` (its speed is an excerpt of a sensor: `SpeedPercent`).
pub fn subsystem_fan(doc: &Value, into: &mut Sensors) {
    let speed = doc.get("SpeedPercent");
    into.fans.push(Reading {
        name: text(doc, "/Name")
            .or_else(|| text(doc, "/Id"))
            .unwrap_or_default(),
        value: speed
            .and_then(|s| number(s, "/SpeedRPM"))
            .or_else(|| speed.and_then(|s| number(s, "/Reading"))),
        units: if speed.and_then(|s| s.get("SpeedRPM")).is_some() {
            "RPM".into()
        } else {
            "%".into()
        },
        health: text(doc, "/Status/Health"),
    });
}

/// A `PowerSupply` of a `PowerSubsystem`.
pub fn subsystem_supply(doc: &Value, into: &mut Sensors) {
    into.power_supplies.push(Reading {
        name: text(doc, "/Name")
            .or_else(|| text(doc, "/Id"))
            .unwrap_or_default(),
        value: number(doc, "/PowerCapacityWatts"),
        units: "W".into(),
        health: text(doc, "/Status/Health"),
    });
}

/// Consumption and supplies from a `Power` document.
pub fn power(doc: &Value, into: &mut Sensors) {
    into.power_watts = into
        .power_watts
        .or_else(|| number(doc, "/PowerControl/0/PowerConsumedWatts"));
    for v in doc
        .get("Voltages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        into.other.push(Reading {
            name: text(v, "/Name").unwrap_or_default(),
            value: number(v, "/ReadingVolts"),
            units: "V".into(),
            health: text(v, "/Status/Health"),
        });
    }
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
    fn a_drive_size_in_gb_is_decimal_bytes_and_one_past_u64_is_unknown() {
        let hpe = serde_json::json!({"Id": "0", "CapacityGB": 480});
        assert_eq!(drive(&hpe).capacity_bytes, Some(480_000_000_000));
        // Found by the bounded fuzz run in CI: this multiplied past u64 and panicked.
        let huge = serde_json::json!({"Id": "0", "CapacityGB": u64::MAX / 10});
        assert_eq!(drive(&huge).capacity_bytes, None);
    }

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

#[cfg(test)]
mod schema_tests {
    use super::*;
    use serde_json::json;

    fn cpu(cores: u64, threads: Option<u64>) -> Value {
        let mut p = json!({"Id": "CPU", "ProcessorType": "CPU", "TotalCores": cores,
            "Model": "AMD EPYC 7763", "InstructionSet": "x86-64", "Status": {"State": "Enabled"}});
        if let Some(t) = threads {
            p["TotalThreads"] = json!(t);
        }
        p
    }

    #[test]
    fn cpus_come_from_processor_members_not_the_summary_threads() {
        // iLO 5 and XCC send no LogicalProcessorCount: the members' threads are the truth.
        let system = json!({"ProcessorSummary": {"Count": 2, "Model": "AMD EPYC 7763"}});
        let members = [cpu(64, Some(128)), cpu(64, Some(128))];
        let (c, acc) = cpus(&system, &members);
        assert_eq!(
            (c.sockets, c.cores, c.threads),
            (Some(2), Some(128), Some(256))
        );
        assert_eq!(c.arch.as_deref(), Some("x86_64"));
        assert!(acc.is_empty());
    }

    #[test]
    fn gpus_are_accelerators_and_never_sockets() {
        let gpu = |id: &str| {
            json!({"Id": id, "ProcessorType": "GPU", "Model": "AMD INSTINCT MI200",
                "Manufacturer": "AMD", "Status": {"State": "Enabled"}})
        };
        let mut members = vec![gpu("GPU0")];
        members.extend((1..8).map(|i| gpu(&format!("GPU{i}"))));
        members.insert(0, cpu(64, None));
        let (c, acc) = cpus(&json!({}), &members);
        assert_eq!(c.sockets, Some(1));
        // No TotalThreads: threads are the cores.
        assert_eq!((c.cores, c.threads), (Some(64), Some(64)));
        assert_eq!(c.model.as_deref(), Some("AMD EPYC 7763"));
        assert_eq!(
            acc,
            vec![Accelerator {
                kind: "gpu".into(),
                model: Some("AMD INSTINCT MI200".into()),
                manufacturer: Some("AMD".into()),
                count: 8
            }]
        );
    }

    #[test]
    fn gpus_without_a_model_group_by_part_number_not_by_name() {
        // XClarity: `Name` "GPU 1".."GPU 8", no `Model`, one `PartNumber`.
        let members: Vec<Value> = (1..=8)
            .map(|i| {
                json!({"Id": format!("GPU{i}"), "Name": format!("GPU {i}"), "ProcessorType": "GPU",
                    "PartNumber": "26B5-895-A1", "Manufacturer": "NVIDIA Corporation"})
            })
            .chain([cpu(32, Some(64))])
            .collect();
        let (_, acc) = cpus(&json!({}), &members);
        assert_eq!(acc.len(), 1, "{acc:?}");
        assert_eq!(acc[0].count, 8);
        assert_eq!(acc[0].model.as_deref(), Some("26B5-895-A1"));
    }

    #[test]
    fn an_absent_socket_adds_no_cores() {
        let mut empty = cpu(32, Some(64));
        empty["Status"] = json!({"State": "Absent"});
        let (c, _) = cpus(&json!({}), &[cpu(32, Some(64)), empty]);
        assert_eq!(
            (c.sockets, c.cores, c.threads),
            (Some(1), Some(32), Some(64))
        );
    }

    #[test]
    fn without_members_the_summary_counts_and_threads_default_to_cores() {
        let system = json!({"ProcessorSummary": {"Count": 2, "CoreCount": 40}});
        let (c, _) = cpus(&system, &[]);
        assert_eq!(
            (c.sockets, c.cores, c.threads),
            (Some(2), Some(40), Some(40))
        );
    }

    #[test]
    fn virtual_interfaces_are_not_nics_and_macs_merge() {
        let phys = json!({"Id": "1", "MACAddress": "AA:BB:CC:00:00:01", "LinkStatus": "LinkUp"});
        let vlan = json!({"Id": "1.100", "EthernetInterfaceType": "Virtual", "MACAddress": "AA:BB:CC:00:00:01"});
        assert!(ethernet_interface(&phys).is_some());
        assert!(ethernet_interface(&vlan).is_none());
        let to_bmc = json!({"Id": "ToManager", "MACAddress": "0a:8f:c3:a5:8a:71",
            "EthernetInterfaceType": "Physical",
            "Links": {"HostInterface": {"@odata.id": "/redfish/v1/Managers/1/HostInterfaces/1"}}});
        assert!(ethernet_interface(&to_bmc).is_none());
        let func = json!({"Id": "1", "Ethernet": {"MACAddress": "aa-bb-cc-00-00-01"}});
        let other = json!({"Id": "2", "Ethernet": {"PermanentMACAddress": "aabbcc000002"}});
        let merged = merge_nics(
            ethernet_interface(&phys)
                .into_iter()
                .chain(device_function("NIC.Slot.1", &func))
                .chain(device_function("NIC.Slot.1", &other)),
        );
        let macs: Vec<&str> = merged.iter().map(|n| n.mac.as_str()).collect();
        assert_eq!(macs, ["aa:bb:cc:00:00:01", "aa:bb:cc:00:00:02"]);
        assert_eq!(merged[1].id, "NIC.Slot.1/2");
    }

    #[test]
    fn hpe_oem_physical_ports_give_macs() {
        let adapter = json!({"Id": "DC080000", "Oem": {"Hpe": {"PhysicalPorts": [
            {"MacAddress": "98:f2:b3:2a:0e:f8", "LinkStatus": "LinkUp"},
            {"MacAddress": "98:f2:b3:2a:0e:f9"}]}}});
        let nics = adapter_oem_macs("DC080000", &adapter);
        assert_eq!(nics.len(), 2);
        assert_eq!(nics[1].mac, "98:f2:b3:2a:0e:f9");
    }

    #[test]
    fn lldp_hex_ids_decode_to_names_but_macs_stay() {
        assert_eq!(lldp_id("47:69:30:2F:31", None), "Gi0/1");
        assert_eq!(lldp_id("47:69:30:2F:31", Some("IfName")), "Gi0/1");
        assert_eq!(
            lldp_id("00:1b:21:aa:bb:cc", Some("MacAddr")),
            "00:1b:21:aa:bb:cc"
        );
        assert_eq!(lldp_id("00:1b:21:aa:bb:cc", None), "00:1b:21:aa:bb:cc");
        assert_eq!(lldp_id("Ethernet1/3", Some("IfName")), "Ethernet1/3");
        // Not printable: left as given.
        assert_eq!(lldp_id("01:02:03", Some("LocalAssign")), "01:02:03");
    }

    #[test]
    fn simple_storage_devices_are_drives_and_absent_bays_are_not() {
        let doc = json!({"Id": "1", "Name": "Simple Storage Controller", "Devices": [
            {"Name": "SATA Bay 1", "CapacityBytes": 8_001_563_222_016u64, "Model": "ST8000", "Status": {"State": "Enabled"}},
            {"Name": "SATA Bay 2", "Status": {"State": "Absent"}},
            {"Name": "SATA Bay 3", "CapacityBytes": 4_000_787_030_016u64, "Status": {"State": "Enabled"}}]});
        let d = simple_storage(&doc);
        assert_eq!(d.len(), 2);
        assert_eq!(
            d.iter().filter_map(|d| d.capacity_bytes).sum::<u64>(),
            12_002_350_252_032
        );
        assert_eq!(d[0].id, "1/SATA Bay 1");
    }

    #[test]
    fn error_bodies_are_not_resources() {
        let err = json!({"error": {"code": "Base.1.0.GeneralError", "message": "Internal error"}});
        assert!(not_a_resource(&err).unwrap().contains("Internal error"));
        assert!(not_a_resource(&json!({"Name": "x"})).is_some());
        assert!(not_a_resource(&json!({"Id": "0", "Name": "x"})).is_none());
    }

    #[test]
    fn open_tasks_and_jobs_are_queued_work_and_finished_ones_are_not() {
        let pmem = json!({"Id": "2", "Name": "Task", "TaskState": "Pending", "Payload": {
            "HttpOperation": "POST", "TargetUri": "/redfish/v1/Systems/1/MemoryDomains/PMEM-2/MemoryChunks/",
            "JsonBody": "{\"AddressRangeType\": \"PMEM\"}"}});
        let t = open_task("/redfish/v1/TaskService/Tasks/1", &pmem).unwrap();
        assert_eq!((t.id.as_str(), t.operation.as_str()), ("2", "POST"));
        assert_eq!(t.body, Some(json!({"AddressRangeType": "PMEM"})));
        assert!(open_task("/x", &json!({"Id": "1", "TaskState": "Completed"})).is_none());
        let bare = open_task(
            "/redfish/v1/TaskService/Tasks/9",
            &json!({"Id": "9", "Name": "Update", "TaskState": "Running"}),
        )
        .unwrap();
        assert_eq!(bare.describe(), "Update (Running)");
        let job = json!({"Id": "JID_001", "Name": "Configure: BIOS.Setup.1-1", "JobState": "Scheduled", "JobType": "BIOSConfiguration"});
        let j = open_job("/redfish/v1/Managers/iDRAC.Embedded.1/Jobs/JID_001", &job).unwrap();
        assert_eq!(j.describe(), "Configure: BIOS.Setup.1-1 (Scheduled)");
        assert!(!j.understood());
        assert!(open_job("/x", &json!({"Id": "JID_2", "JobState": "Completed"})).is_none());
    }

    #[test]
    fn sensors_sort_by_reading_type() {
        let mut s = Sensors::default();
        for (t, units) in [
            ("Temperature", "Cel"),
            ("Rotational", "RPM"),
            ("Voltage", "V"),
            ("Power", "W"),
        ] {
            sensor(
                &json!({"Id": t, "ReadingType": t, "Reading": 1.0, "ReadingUnits": units}),
                &mut s,
            );
        }
        assert_eq!(
            (s.temperatures.len(), s.fans.len(), s.other.len(), s.count()),
            (1, 1, 2, 4)
        );
    }
}
