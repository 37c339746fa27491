//! `/redfish/v1/Chassis`: enclosure health, thermal and power sensors, and network adapter ports with
//! the LLDP neighbour (switch and port) each NIC sees.

use hyper::Method;
use serde_json::{json, Value};

use super::{collection, not_found, odata_ref, ok, Req, Resp};
use crate::node::{NodeSim, Power};

pub fn route(node: &NodeSim, req: &Req<'_>) -> Resp {
    let cid = node.hw.vendor.chassis_id();
    let base = format!("/redfish/v1/Chassis/{cid}");
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    if req.method != Method::GET {
        return super::method_not_allowed();
    }
    if segs.len() == 1 {
        return ok(collection("/redfish/v1/Chassis", "Chassis", [base]));
    }
    if segs[1] != cid {
        return not_found(&format!("/redfish/v1/Chassis/{}", segs[1]));
    }
    let st = node.state();
    let on = st.power == Power::On;
    let health = st.health.clone();
    let power_state = st.power.as_str();
    drop(st);
    let adapter = "NIC.Integrated.1";
    match &segs[2..] {
        [] => ok(json!({
            "@odata.id": base,
            "@odata.type": "#Chassis.v1_14_0.Chassis",
            "Id": cid,
            "Name": "Chassis",
            "ChassisType": "RackMount",
            "Manufacturer": node.hw.vendor.manufacturer(),
            "Model": node.hw.model,
            "SerialNumber": node.hw.serial,
            "PowerState": power_state,
            "Location": {"Placement": {"Rack": node.rack, "RackOffset": node.index % 40 + 1}},
            "Status": {"State": "Enabled", "Health": health, "HealthRollup": health},
            "Thermal": odata_ref(&format!("{base}/Thermal")),
            "Power": odata_ref(&format!("{base}/Power")),
            "NetworkAdapters": odata_ref(&format!("{base}/NetworkAdapters")),
            "Links": {"ComputerSystems": [odata_ref(&format!("/redfish/v1/Systems/{}", node.hw.vendor.system_id()))]},
        })),
        ["Thermal"] => {
            // Readings follow the power state; a Critical node shows an over-temperature CPU.
            let cpu_temp = if !on {
                22
            } else if health == "Critical" {
                98
            } else {
                45 + (node.index % 15) as i64
            };
            // Array members of a resource carry `@odata.id` (`…#/Temperatures/0`) and their index
            // as `MemberId`, as the Thermal and Power schemas require.
            let temps: Vec<Value> = (1..=node.hw.sockets)
                .map(|n| {
                    let hot = cpu_temp >= 95;
                    json!({
                        "Name": format!("CPU{n} Temp"),
                        "ReadingCelsius": cpu_temp,
                        "UpperThresholdCritical": 95,
                        "UpperThresholdFatal": 100,
                        "Status": {"State": "Enabled", "Health": if hot { "Critical" } else { "OK" }},
                    })
                })
                .chain(std::iter::once(json!({
                    "Name": "System Board Inlet Temp", "ReadingCelsius": 23,
                    "UpperThresholdCritical": 42, "Status": {"State": "Enabled", "Health": "OK"},
                })))
                .collect();
            let temps = members_of(&format!("{base}/Thermal"), "Temperatures", temps);
            let fans: Vec<Value> = (1..=6)
                .map(|n| {
                    json!({
                        "Name": format!("System Board Fan{n}"),
                        "Reading": if on { 7200 + 120 * n } else { 0 },
                        "ReadingUnits": "RPM",
                        "Status": {"State": "Enabled", "Health": "OK"},
                    })
                })
                .collect();
            let fans = members_of(&format!("{base}/Thermal"), "Fans", fans);
            ok(json!({
                "@odata.id": format!("{base}/Thermal"),
                "@odata.type": "#Thermal.v1_7_0.Thermal",
                "Id": "Thermal", "Name": "Thermal",
                "Temperatures": temps,
                "Fans": fans,
            }))
        }
        ["Power"] => {
            let watts = if on {
                180 + node.hw.sockets * 110 + node.hw.memory_gib / 8
            } else {
                12
            };
            let psu = |n: u32| {
                let failed = health == "Critical" && n == 2;
                json!({
                    "Name": format!("PS{n} Status"),
                    "PowerCapacityWatts": 1100,
                    "LineInputVoltage": if failed { 0 } else { 230 },
                    "Status": {"State": "Enabled", "Health": if failed { "Critical" } else { "OK" }},
                })
            };
            ok(json!({
                "@odata.id": format!("{base}/Power"),
                "@odata.type": "#Power.v1_6_0.Power",
                "Id": "Power", "Name": "Power",
                "PowerControl": members_of(&format!("{base}/Power"), "PowerControl", vec![json!({"Name": "System Power Control", "PowerConsumedWatts": watts, "PowerCapacityWatts": 2200})]),
                "PowerSupplies": members_of(&format!("{base}/Power"), "PowerSupplies", vec![psu(1), psu(2)]),
                "Voltages": members_of(&format!("{base}/Power"), "Voltages", vec![json!({"Name": "System Board 12V", "ReadingVolts": if on { 12.1 } else { 0.0 }, "Status": {"State": "Enabled", "Health": "OK"}})]),
            }))
        }
        ["NetworkAdapters"] => ok(collection(
            &format!("{base}/NetworkAdapters"),
            "NetworkAdapter",
            [format!("{base}/NetworkAdapters/{adapter}")],
        )),
        ["NetworkAdapters", a] if *a == adapter => ok(json!({
            "@odata.id": format!("{base}/NetworkAdapters/{adapter}"),
            "@odata.type": "#NetworkAdapter.v1_7_0.NetworkAdapter",
            "Id": adapter, "Name": "Integrated NIC", "Manufacturer": "Mellanox", "Model": "ConnectX-6 Lx",
            "Ports": odata_ref(&format!("{base}/NetworkAdapters/{adapter}/Ports")),
            "Status": {"State": "Enabled", "Health": "OK"},
        })),
        ["NetworkAdapters", a, "Ports"] if *a == adapter => ok(collection(
            &format!("{base}/NetworkAdapters/{adapter}/Ports"),
            "Port",
            (1..=node.hw.nics.len()).map(|n| format!("{base}/NetworkAdapters/{adapter}/Ports/{n}")),
        )),
        ["NetworkAdapters", a, "Ports", p] if *a == adapter => {
            let Some(nic) = p
                .parse::<usize>()
                .ok()
                .and_then(|n| n.checked_sub(1))
                .and_then(|i| node.hw.nics.get(i))
            else {
                return not_found(p);
            };
            let mut port = json!({
                "@odata.id": format!("{base}/NetworkAdapters/{adapter}/Ports/{p}"),
                // v1_8_0: the first Port version whose LLDPReceive has SystemName.
                "@odata.type": "#Port.v1_8_0.Port",
                "Id": p,
                "Name": format!("Port {p}"),
                "LinkStatus": if nic.cable.is_some() { "LinkUp" } else { "LinkDown" },
                "CurrentSpeedGbps": nic.speed_mbps / 1000,
                "Ethernet": {"AssociatedMACAddresses": [nic.mac]},
                "Status": {"State": "Enabled", "Health": "OK"},
            });
            if let Some((switch, swport)) = &nic.cable {
                port["Ethernet"]["LLDPReceive"] = json!({
                    "ChassisId": switch_chassis_id(switch),
                    "ChassisIdSubtype": "MacAddr",
                    // LLDP identifiers are octets, given as colon-separated hex (the schema's
                    // pattern): an interface name's bytes (`Gi0/3` → `47:69:30:2F:33`).
                    "PortId": hex_octets(swport),
                    "PortIdSubtype": "IfName",
                    "SystemName": switch,
                });
            }
            ok(port)
        }
        _ => not_found(&format!("{base}/{}", segs[2..].join("/"))),
    }
}

/// Array members as the Redfish schema wants them in a resource: each with its `@odata.id`
/// (`RESOURCE#/PROPERTY/INDEX`) and its index as `MemberId`.
fn members_of(resource: &str, property: &str, items: Vec<Value>) -> Vec<Value> {
    items
        .into_iter()
        .enumerate()
        .map(|(i, mut v)| {
            v["@odata.id"] = json!(format!("{resource}#/{property}/{i}"));
            v["MemberId"] = json!(i.to_string());
            v
        })
        .collect()
}

/// Text as LLDP octets in the Redfish form: upper-case hex pairs joined by colons.
pub fn hex_octets(s: &str) -> String {
    s.bytes()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// A stable MAC-style chassis id for a switch, as LLDP would carry it.
pub fn switch_chassis_id(name: &str) -> String {
    let h = name
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!(
        "00:1c:73:{:02x}:{:02x}:{:02x}",
        (h >> 16) & 0xff,
        (h >> 8) & 0xff,
        h & 0xff
    )
}
