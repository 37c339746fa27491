//! `/redfish/v1/Systems`: the computer system, power and boot, BIOS with its pending settings object,
//! secure boot, processors, memory and NICs.

use hyper::{Method, StatusCode};
use serde_json::{json, Map, Value};

use super::{
    bad_request, collection, error, errors, method_not_allowed, no_content, not_found, odata_ref,
    ok, precondition, storage, Req, Resp,
};
use crate::hardware::Arch;
use crate::node::{NodeSim, NodeState, BOOT_OPTIONS};

pub fn route(node: &NodeSim, req: &Req<'_>) -> Resp {
    let sid = node.hw.vendor.system_id();
    let base = format!("/redfish/v1/Systems/{sid}");
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    if segs.len() == 1 {
        return match *req.method {
            Method::GET => ok(collection("/redfish/v1/Systems", "ComputerSystem", [base])),
            _ => method_not_allowed(),
        };
    }
    if segs[1] != sid {
        return not_found(&format!("/redfish/v1/Systems/{}", segs[1]));
    }
    match (req.method, &segs[2..]) {
        (&Method::GET, []) => ok(system(node, &node.state())),
        (&Method::PATCH, []) => patch_system(node, req),
        (&Method::POST, ["Actions", "ComputerSystem.Reset"]) => reset(node, req),
        (&Method::GET, ["Bios"]) => ok(bios(node, &node.state())),
        (&Method::GET, ["Bios", "Settings"]) => ok(bios_settings(node, &node.state())),
        (&Method::PATCH, ["Bios", "Settings"]) => patch_bios(node, req),
        (&Method::POST, ["Bios", "Actions", "Bios.ResetBios"]) => {
            node.state().bios_reset_pending = true;
            no_content()
        }
        (&Method::GET, ["SecureBoot"]) => ok(secure_boot(node, &node.state())),
        (&Method::PATCH, ["SecureBoot"]) => patch_secure_boot(node, req),
        (&Method::GET, ["BootOptions"]) => ok(collection(
            &format!("{base}/BootOptions"),
            "BootOption",
            BOOT_OPTIONS
                .iter()
                .map(|b| format!("{base}/BootOptions/{}", b.0)),
        )),
        (&Method::GET, ["BootOptions", id]) => match BOOT_OPTIONS.iter().find(|b| b.0 == *id) {
            Some(b) => ok(json!({
                "@odata.id": format!("{base}/BootOptions/{}", b.0),
                "@odata.type": "#BootOption.v1_0_4.BootOption",
                "Id": b.0, "Name": b.1, "BootOptionReference": b.0, "DisplayName": b.1, "BootOptionEnabled": true,
            })),
            None => not_found(id),
        },
        (&Method::GET, ["Processors"]) => ok(collection(
            &format!("{base}/Processors"),
            "Processor",
            (1..=node.hw.sockets).map(|n| format!("{base}/Processors/CPU.Socket.{n}")),
        )),
        (&Method::GET, ["Processors", id]) => processor(node, &base, id),
        (&Method::GET, ["Memory"]) => ok(collection(
            &format!("{base}/Memory"),
            "Memory",
            (1..=dimms(node)).map(|n| format!("{base}/Memory/DIMM.{n}")),
        )),
        (&Method::GET, ["Memory", id]) => memory(node, &base, id),
        (&Method::GET, ["EthernetInterfaces"]) => ok(collection(
            &format!("{base}/EthernetInterfaces"),
            "EthernetInterface",
            node.hw
                .nics
                .iter()
                .map(|n| format!("{base}/EthernetInterfaces/{}", n.id))
                .chain(
                    node.hw
                        .vendor
                        .host_interface_nic()
                        .then(|| format!("{base}/EthernetInterfaces/ToManager")),
                ),
        )),
        (&Method::GET, ["EthernetInterfaces", "ToManager"])
            if node.hw.vendor.host_interface_nic() =>
        {
            ok(host_interface_nic(node, &base))
        }
        (&Method::GET, ["EthernetInterfaces", id]) => {
            match node.hw.nics.iter().find(|n| n.id == *id) {
                Some(n) => ok(json!({
                    "@odata.id": format!("{base}/EthernetInterfaces/{}", n.id),
                    "@odata.type": "#EthernetInterface.v1_6_0.EthernetInterface",
                    "Id": n.id,
                    "Name": format!("Ethernet interface {}", n.id),
                    "MACAddress": n.mac,
                    "PermanentMACAddress": n.mac,
                    "SpeedMbps": n.speed_mbps,
                    "LinkStatus": if n.cable.is_some() { "LinkUp" } else { "LinkDown" },
                    "InterfaceEnabled": true,
                    "Status": {"State": "Enabled", "Health": "OK"},
                })),
                None => not_found(id),
            }
        }
        (_, ["Storage", ..]) => storage::route(node, req, &base),
        _ => not_found(&format!("{base}/{}", segs[2..].join("/"))),
    }
}

fn dimms(node: &NodeSim) -> u32 {
    node.hw.memory_gib / node.hw.dimm_gib
}

pub fn system(node: &NodeSim, st: &NodeState) -> Value {
    let hw = &node.hw;
    let sid = hw.vendor.system_id();
    let base = format!("/redfish/v1/Systems/{sid}");
    let bios_version = st
        .firmware
        .iter()
        .find(|f| f.id == "BIOS")
        .map(|f| f.version.clone())
        .unwrap_or_default();
    let cd = hw.vendor.cd_boot_target();
    json!({
        "@odata.id": base,
        "@odata.type": "#ComputerSystem.v1_20_0.ComputerSystem",
        "Id": sid,
        "Name": "System",
        "SystemType": "Physical",
        "HostName": node.name,
        "Manufacturer": hw.vendor.manufacturer(),
        "Model": hw.model,
        "SerialNumber": hw.serial,
        "SKU": hw.sku,
        "UUID": hw.uuid,
        "AssetTag": st.bios.get("AssetTag").cloned().unwrap_or(Value::Null),
        "BiosVersion": bios_version,
        "PowerState": st.power.as_str(),
        "IndicatorLED": "Off",
        "Status": {"State": "Enabled", "Health": st.health, "HealthRollup": st.health},
        "BootProgress": {"LastState": st.boot_progress},
        "ProcessorSummary": processor_summary(hw),
        "MemorySummary": {"TotalSystemMemoryGiB": hw.memory_gib, "Status": {"State": "Enabled", "Health": "OK"}},
        "Boot": {
            "BootSourceOverrideTarget": st.boot.target,
            "BootSourceOverrideTarget@Redfish.AllowableValues": ["None", "Pxe", cd, "Hdd", "BiosSetup", "Usb"],
            "BootSourceOverrideEnabled": st.boot.enabled,
            "BootSourceOverrideEnabled@Redfish.AllowableValues": ["Once", "Continuous", "Disabled"],
            "BootSourceOverrideMode": st.boot.mode,
            "BootSourceOverrideMode@Redfish.AllowableValues": ["UEFI", "Legacy"],
            "BootOrder": st.boot.order,
            "BootOptions": odata_ref(&format!("{base}/BootOptions")),
        },
        "TrustedModules": [{"FirmwareVersion": "7.2.2.0", "InterfaceType": "TPM2_0", "Status": {"State": "Enabled"}}],
        "Bios": odata_ref(&format!("{base}/Bios")),
        "SecureBoot": odata_ref(&format!("{base}/SecureBoot")),
        "Processors": odata_ref(&format!("{base}/Processors")),
        "Memory": odata_ref(&format!("{base}/Memory")),
        "EthernetInterfaces": odata_ref(&format!("{base}/EthernetInterfaces")),
        "Storage": odata_ref(&format!("{base}/Storage")),
        "Links": {
            "Chassis": [odata_ref(&format!("/redfish/v1/Chassis/{}", hw.vendor.chassis_id()))],
            "ManagedBy": [odata_ref(&format!("/redfish/v1/Managers/{}", hw.vendor.manager_id()))],
        },
        "Actions": {"#ComputerSystem.Reset": {
            "target": format!("{base}/Actions/ComputerSystem.Reset"),
            "ResetType@Redfish.AllowableValues":
                ["On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart", "Nmi", "PowerCycle", "PushPowerButton"],
        }},
    })
}

fn patch_system(node: &NodeSim, req: &Req<'_>) -> Resp {
    let body = match req.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut st = node.state();
    if let Some(r) = precondition(req, &system(node, &st)) {
        return r;
    }
    let cd = node.hw.vendor.cd_boot_target();
    let obj = body.as_object().cloned().unwrap_or_default();
    let mut problems = Vec::new();
    for key in obj.keys() {
        if !matches!(key.as_str(), "Boot" | "AssetTag" | "IndicatorLED") {
            problems.push((
                "Base.1.8.PropertyNotWritable",
                format!("The property {key} is a read only property."),
                vec![key.clone()],
            ));
        }
    }
    let boot = obj
        .get("Boot")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let check = |key: &str,
                 allowed: &[&str],
                 problems: &mut Vec<(&str, String, Vec<String>)>|
     -> Option<String> {
        let v = boot.get(key)?;
        match v.as_str() {
            Some(s) if allowed.contains(&s) => Some(s.to_string()),
            _ => {
                problems.push((
                    "Base.1.8.PropertyValueNotInList",
                    format!("The value {v} for the property {key} is not in the list of acceptable values."),
                    vec![v.to_string(), key.to_string()],
                ));
                None
            }
        }
    };
    let target = check(
        "BootSourceOverrideTarget",
        &["None", "Pxe", cd, "Hdd", "BiosSetup", "Usb"],
        &mut problems,
    );
    let enabled = check(
        "BootSourceOverrideEnabled",
        &["Once", "Continuous", "Disabled"],
        &mut problems,
    );
    let mode = check("BootSourceOverrideMode", &["UEFI", "Legacy"], &mut problems);
    let order = match boot.get("BootOrder") {
        None => None,
        Some(Value::Array(items)) => {
            let refs: Vec<String> = items
                .iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect();
            let mut sorted = refs.clone();
            sorted.sort();
            let mut known: Vec<String> = BOOT_OPTIONS.iter().map(|b| b.0.to_string()).collect();
            known.sort();
            if sorted != known {
                problems.push((
                    "Base.1.8.PropertyValueError",
                    "BootOrder must be a permutation of the system's boot option references."
                        .into(),
                    vec!["BootOrder".into()],
                ));
                None
            } else {
                Some(refs)
            }
        }
        Some(v) => {
            problems.push((
                "Base.1.8.PropertyValueTypeError",
                format!("The value {v} for BootOrder is of a different type."),
                vec![v.to_string(), "BootOrder".into()],
            ));
            None
        }
    };
    if !problems.is_empty() {
        return errors(StatusCode::BAD_REQUEST, &problems);
    }
    if let Some(t) = target {
        st.boot.target = t;
        // Setting a target without saying how long means "once", as most BMCs treat it.
        if enabled.is_none() && st.boot.enabled == "Disabled" && st.boot.target != "None" {
            st.boot.enabled = "Once".into();
        }
    }
    if let Some(e) = enabled {
        st.boot.enabled = e;
    }
    if let Some(m) = mode {
        st.boot.mode = m;
    }
    if let Some(o) = order {
        st.boot.order = o;
    }
    if let Some(tag) = obj.get("AssetTag").and_then(Value::as_str) {
        st.bios.insert("AssetTag".into(), json!(tag));
    }
    no_content()
}

fn reset(node: &NodeSim, req: &Req<'_>) -> Resp {
    let body = match req.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(kind) = body.get("ResetType").and_then(Value::as_str) else {
        return bad_request(
            "Base.1.8.ActionParameterMissing",
            "The action ComputerSystem.Reset requires the parameter ResetType to be present in the request body.",
            &["ComputerSystem.Reset".into(), "ResetType".into()],
        );
    };
    let delay = node.timing.power_delay;
    match node.state().reset(kind, delay) {
        Ok(()) => no_content(),
        Err(e) if e.0.starts_with("Unknown") => bad_request(
            "Base.1.8.ActionParameterValueNotInList",
            &format!("The value {kind} for the parameter ResetType in the action ComputerSystem.Reset is not in the list of acceptable values."),
            &[kind.into(), "ResetType".into(), "ComputerSystem.Reset".into()],
        ),
        Err(e) => error(StatusCode::CONFLICT, "Base.1.8.ResourceInUse", &e.0, &[]),
    }
}

pub fn bios(node: &NodeSim, st: &NodeState) -> Value {
    let base = format!("/redfish/v1/Systems/{}/Bios", node.hw.vendor.system_id());
    json!({
        "@odata.id": base,
        "@odata.type": "#Bios.v1_2_0.Bios",
        "Id": "Bios",
        "Name": "BIOS Configuration Current Settings",
        "AttributeRegistry": node.registry.name,
        "Attributes": st.bios,
        "@Redfish.Settings": {
            "@odata.type": "#Settings.v1_3_5.Settings",
            "SettingsObject": odata_ref(&format!("{base}/Settings")),
            "SupportedApplyTimes": ["OnReset"],
        },
        "Actions": {"#Bios.ResetBios": {"target": format!("{base}/Actions/Bios.ResetBios")}},
    })
}

fn bios_settings(node: &NodeSim, st: &NodeState) -> Value {
    let base = format!(
        "/redfish/v1/Systems/{}/Bios/Settings",
        node.hw.vendor.system_id()
    );
    json!({
        "@odata.id": base,
        "@odata.type": "#Bios.v1_2_0.Bios",
        "Id": "Settings",
        "Name": "BIOS Configuration Pending Settings",
        "AttributeRegistry": node.registry.name,
        "Attributes": st.bios_pending,
        "@Redfish.SettingsApplyTime": {"ApplyTime": "OnReset"},
    })
}

fn patch_bios(node: &NodeSim, req: &Req<'_>) -> Resp {
    let body = match req.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut st = node.state();
    if let Some(r) = precondition(req, &bios_settings(node, &st)) {
        return r;
    }
    if let Some(apply) = body
        .pointer("/@Redfish.SettingsApplyTime/ApplyTime")
        .and_then(Value::as_str)
    {
        if apply != "OnReset" {
            return bad_request(
                "Base.1.8.PropertyValueNotInList",
                &format!("The value {apply} for the property ApplyTime is not supported; this BIOS applies settings OnReset."),
                &[apply.into(), "ApplyTime".into()],
            );
        }
    }
    let Some(attrs) = body.get("Attributes").and_then(Value::as_object) else {
        return bad_request(
            "Base.1.8.PropertyMissing",
            "The property Attributes is a required property and must be included in the request.",
            &["Attributes".into()],
        );
    };
    let mut problems = Vec::new();
    for (k, v) in attrs {
        if let Err((id, args)) = node.registry.check(k, v) {
            let msg = match id {
                "Base.1.8.PropertyUnknown" => format!(
                    "The property {k} is not in the list of valid properties for the resource."
                ),
                "Base.1.8.PropertyNotWritable" => format!(
                    "The property {k} is a read only property and cannot be assigned a value."
                ),
                _ => format!("The value {v} for the property {k} is not valid for this attribute."),
            };
            problems.push((id, msg, args));
        }
    }
    if !problems.is_empty() {
        // All or nothing: a rejected request stages none of its values.
        return errors(StatusCode::BAD_REQUEST, &problems);
    }
    let pending: &mut Map<String, Value> = &mut st.bios_pending;
    for (k, v) in attrs {
        pending.insert(k.clone(), v.clone());
    }
    no_content()
}

fn secure_boot(node: &NodeSim, st: &NodeState) -> Value {
    json!({
        "@odata.id": format!("/redfish/v1/Systems/{}/SecureBoot", node.hw.vendor.system_id()),
        "@odata.type": "#SecureBoot.v1_1_0.SecureBoot",
        "Id": "SecureBoot",
        "Name": "UEFI Secure Boot",
        "SecureBootEnable": st.secure_boot_enable,
        "SecureBootCurrentBoot": if st.secure_boot_current { "Enabled" } else { "Disabled" },
        "SecureBootMode": "UserMode",
    })
}

fn patch_secure_boot(node: &NodeSim, req: &Req<'_>) -> Resp {
    let body = match req.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut st = node.state();
    if let Some(r) = precondition(req, &secure_boot(node, &st)) {
        return r;
    }
    match body.get("SecureBootEnable") {
        Some(Value::Bool(b)) => {
            if *b && st.boot.mode != "UEFI" {
                return bad_request(
                    "Base.1.8.PropertyValueConflict",
                    "SecureBootEnable cannot be true while the boot mode is Legacy.",
                    &["SecureBootEnable".into(), "BootSourceOverrideMode".into()],
                );
            }
            st.secure_boot_enable = *b;
            no_content()
        }
        Some(v) => bad_request(
            "Base.1.8.PropertyValueTypeError",
            &format!("The value {v} for the property SecureBootEnable is of a different type than the property can accept."),
            &[v.to_string(), "SecureBootEnable".into()],
        ),
        None => bad_request("Base.1.8.PropertyMissing", "The property SecureBootEnable is missing.", &["SecureBootEnable".into()]),
    }
}

/// The host's side of the Redfish host interface, as XClarity lists it (`ToManager`): physical,
/// disabled until the OS brings it up, linked to the manager's HostInterface. Its MAC is a locally
/// administered one derived from the node's serial.
pub fn host_interface_nic(node: &NodeSim, base: &str) -> Value {
    let h = node
        .hw
        .serial
        .bytes()
        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let mac = format!(
        "0a:8f:{:02x}:{:02x}:{:02x}:{:02x}",
        (h >> 24) & 0xff,
        (h >> 16) & 0xff,
        (h >> 8) & 0xff,
        h & 0xff
    );
    let mid = node.hw.vendor.manager_id();
    json!({
        "@odata.id": format!("{base}/EthernetInterfaces/ToManager"),
        "@odata.type": "#EthernetInterface.v1_6_0.EthernetInterface",
        "Id": "ToManager",
        "Name": "Host Ethernet Interface",
        "EthernetInterfaceType": "Physical",
        "MACAddress": mac,
        "PermanentMACAddress": mac,
        "InterfaceEnabled": false,
        "Status": {"State": "Disabled", "Health": "OK"},
        "Links": {"HostInterface": odata_ref(&format!("/redfish/v1/Managers/{mid}/HostInterfaces/1"))},
    })
}

/// The system's `ProcessorSummary` with the counts the vendor's BMCs send, and only those (real
/// dumps: iDRAC 9 sends `CoreCount` and `LogicalProcessorCount`, XClarity only the latter, iLO 5 and
/// Supermicro neither): a client must count cores and threads from the Processor members.
fn processor_summary(hw: &crate::hardware::Hardware) -> Value {
    let mut summary = json!({
        "Count": hw.sockets,
        "Model": hw.cpu.model,
        "Status": {"State": "Enabled", "Health": "OK"},
    });
    let (cores, logical) = hw.vendor.summary_counts();
    if cores {
        summary["CoreCount"] = json!(hw.sockets * hw.cpu.cores);
    }
    if logical {
        summary["LogicalProcessorCount"] = json!(hw.sockets * hw.cpu.threads);
    }
    summary
}

fn processor(node: &NodeSim, base: &str, id: &str) -> Resp {
    let hw = &node.hw;
    let Some(n) = id
        .strip_prefix("CPU.Socket.")
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| (1..=hw.sockets).contains(n))
    else {
        return not_found(id);
    };
    let (arch, isa) = match hw.arch {
        Arch::X86_64 => ("x86", "x86-64"),
        Arch::Aarch64 => ("ARM", "ARM-A64"),
    };
    ok(json!({
        "@odata.id": format!("{base}/Processors/{id}"),
        "@odata.type": "#Processor.v1_11_0.Processor",
        "Id": id,
        "Name": format!("CPU {n}"),
        "Socket": format!("CPU.Socket.{n}"),
        "ProcessorType": "CPU",
        "ProcessorArchitecture": arch,
        "InstructionSet": isa,
        "Manufacturer": hw.cpu.model.split(['(', ' ']).next().unwrap_or(""),
        "Model": hw.cpu.model,
        "TotalCores": hw.cpu.cores,
        "TotalThreads": hw.cpu.threads,
        "MaxSpeedMHz": hw.cpu.max_mhz,
        "Status": {"State": "Enabled", "Health": "OK"},
    }))
}

fn memory(node: &NodeSim, base: &str, id: &str) -> Resp {
    let Some(n) = id
        .strip_prefix("DIMM.")
        .and_then(|n| n.parse::<u32>().ok())
        .filter(|n| (1..=dimms(node)).contains(n))
    else {
        return not_found(id);
    };
    ok(json!({
        "@odata.id": format!("{base}/Memory/{id}"),
        "@odata.type": "#Memory.v1_11_0.Memory",
        "Id": id,
        "Name": format!("DIMM {n}"),
        "CapacityMiB": node.hw.dimm_gib * 1024,
        "MemoryDeviceType": "DDR4",
        "OperatingSpeedMhz": 3200,
        "Manufacturer": "Samsung",
        "Status": {"State": "Enabled", "Health": "OK"},
    }))
}
