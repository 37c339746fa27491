//! `/redfish/v1/Managers`: the BMC itself and its virtual media (insert and eject through actions or
//! PATCH), with the vendor quirks clients must cope with.

use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use super::{
    bad_request, collection, error, method_not_allowed, no_content, not_found, odata_ref, ok,
    precondition, Req, Resp,
};
use crate::install::{Effect, Fetch};
use crate::node::{NodeSim, VirtualMedia};

/// The manager's `HostInterfaces` link, on the profiles whose BMCs have one.
fn with_host_interfaces(node: &NodeSim, base: &str, mut doc: Value) -> Value {
    if node.hw.vendor.host_interface_nic() {
        doc["HostInterfaces"] = odata_ref(&format!("{base}/HostInterfaces"));
    }
    doc
}

/// The manager resets the lab's BMCs offer.
const MANAGER_RESET_TYPES: [&str; 2] = ["GracefulRestart", "ForceRestart"];

pub fn route(node: &NodeSim, req: &Req<'_>) -> Resp {
    let mid = node.hw.vendor.manager_id();
    let base = format!("/redfish/v1/Managers/{mid}");
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    if segs.len() == 1 {
        return ok(collection("/redfish/v1/Managers", "Manager", [base]));
    }
    if segs[1] != mid {
        return not_found(&format!("/redfish/v1/Managers/{}", segs[1]));
    }
    match (req.method, &segs[2..]) {
        (&Method::GET, []) => ok(with_host_interfaces(
            node,
            &base,
            json!({
                "@odata.id": base,
                "@odata.type": "#Manager.v1_10_0.Manager",
                "Id": mid,
                "Name": "Manager",
                "ManagerType": "BMC",
                "Model": node.hw.vendor.manager_model(),
                "FirmwareVersion": node.state().firmware.iter().find(|f| f.id == "BMC").map(|f| f.version.clone()),
                "Status": {"State": "Enabled", "Health": "OK"},
                "VirtualMedia": odata_ref(&format!("{base}/VirtualMedia")),
                "Links": {"ManagerForServers": [odata_ref(&format!("/redfish/v1/Systems/{}", node.hw.vendor.system_id()))]},
                // As the Lenovo XCC, HPE iLO 5 and Supermicro dumps offer it (DMTF Manager v1.10).
                "Actions": {"#Manager.Reset": {
                    "target": format!("{base}/Actions/Manager.Reset"),
                    "ResetType@Redfish.AllowableValues": MANAGER_RESET_TYPES,
                }},
            }),
        )),
        (&Method::POST, ["Actions", "Manager.Reset"]) => {
            let body = match req.json() {
                Ok(b) => b,
                Err(r) => return r,
            };
            match body.get("ResetType").and_then(Value::as_str) {
                Some(t) if MANAGER_RESET_TYPES.contains(&t) => {
                    // The BMC restarts: every session ends with it; the server keeps running.
                    let mut st = node.state();
                    st.manager_resets += 1;
                    st.sessions.clear();
                    no_content()
                }
                Some(t) => bad_request(
                    "Base.1.8.ActionParameterNotSupported",
                    &format!("The parameter ResetType with the value {t} is not supported by the action Manager.Reset."),
                    &[t.to_string(), "ResetType".into()],
                ),
                None => bad_request(
                    "Base.1.8.ActionParameterMissing",
                    "The action Manager.Reset requires the parameter ResetType to be present in the request body.",
                    &["Manager.Reset".into(), "ResetType".into()],
                ),
            }
        }
        (&Method::GET, ["HostInterfaces"]) if node.hw.vendor.host_interface_nic() => {
            ok(collection(
                &format!("{base}/HostInterfaces"),
                "HostInterface",
                [format!("{base}/HostInterfaces/1")],
            ))
        }
        (&Method::GET, ["HostInterfaces", "1"]) if node.hw.vendor.host_interface_nic() => {
            ok(json!({
                "@odata.id": format!("{base}/HostInterfaces/1"),
                "@odata.type": "#HostInterface.v1_3_0.HostInterface",
                "Id": "1",
                "Name": "Host Interface",
                "HostInterfaceType": "NetworkHostInterface",
                "InterfaceEnabled": false,
                "Status": {"State": "Disabled", "Health": "OK"},
                "HostEthernetInterfaces": odata_ref(&format!("{base}/HostInterfaces/1/HostEthernetInterfaces")),
            }))
        }
        (&Method::GET, ["HostInterfaces", "1", "HostEthernetInterfaces"])
            if node.hw.vendor.host_interface_nic() =>
        {
            ok(collection(
                &format!("{base}/HostInterfaces/1/HostEthernetInterfaces"),
                "EthernetInterface",
                [format!(
                    "/redfish/v1/Systems/{}/EthernetInterfaces/ToManager",
                    node.hw.vendor.system_id()
                )],
            ))
        }
        // iDRAC serves its job queue here (Dell's Redfish API guide), unlinked; the lab's jobs run
        // as tasks, so the queue is empty.
        (&Method::GET, ["Jobs"]) if node.hw.vendor == crate::hardware::Vendor::Dell => {
            ok(collection(
                &format!("{base}/Jobs"),
                "DellJob",
                std::iter::empty::<String>(),
            ))
        }
        (&Method::GET, ["VirtualMedia"]) => {
            let st = node.state();
            ok(collection(
                &format!("{base}/VirtualMedia"),
                "VirtualMedia",
                st.vmedia
                    .iter()
                    .map(|m| format!("{base}/VirtualMedia/{}", m.id)),
            ))
        }
        (method, ["VirtualMedia", id, rest @ ..]) => {
            let mut st = node.state();
            let Some(idx) = st.vmedia.iter().position(|m| m.id == *id) else {
                return not_found(id);
            };
            let vbase = format!("{base}/VirtualMedia/{id}");
            match (method, rest) {
                (&Method::GET, []) => ok(render(&vbase, &st.vmedia[idx])),
                (&Method::PATCH, []) => {
                    if let Some(r) = precondition(req, &render(&vbase, &st.vmedia[idx])) {
                        return r;
                    }
                    let body = match req.json() {
                        Ok(b) => b,
                        Err(r) => return r,
                    };
                    let inserted = body.get("Inserted").and_then(Value::as_bool);
                    match (body.get("Image").and_then(Value::as_str), inserted) {
                        (Some(image), _) if inserted != Some(false) => {
                            let st = &mut *st;
                            insert(
                                node,
                                &mut st.vmedia[idx],
                                &mut st.outbox,
                                image,
                                &body,
                                false,
                            )
                        }
                        (_, Some(false)) => eject(&mut st.vmedia[idx]),
                        _ => bad_request(
                            "Base.1.8.PropertyMissing",
                            "PATCH needs Image (to insert) or Inserted=false (to eject).",
                            &["Image".into()],
                        ),
                    }
                }
                (&Method::POST, ["Actions", "VirtualMedia.InsertMedia"]) => {
                    let body = match req.json() {
                        Ok(b) => b,
                        Err(r) => return r,
                    };
                    match body.get("Image").and_then(Value::as_str) {
                        Some(image) => {
                            let st = &mut *st;
                            insert(node, &mut st.vmedia[idx], &mut st.outbox, image, &body, true)
                        }
                        None => bad_request(
                            "Base.1.8.ActionParameterMissing",
                            "The action VirtualMedia.InsertMedia requires the parameter Image to be present in the request body.",
                            &["VirtualMedia.InsertMedia".into(), "Image".into()],
                        ),
                    }
                }
                (&Method::POST, ["Actions", "VirtualMedia.EjectMedia"]) => {
                    eject(&mut st.vmedia[idx])
                }
                (_, []) => method_not_allowed(),
                _ => not_found(&format!("{vbase}/{}", rest.join("/"))),
            }
        }
        _ => not_found(&format!("{base}/{}", segs[2..].join("/"))),
    }
}

fn render(vbase: &str, m: &VirtualMedia) -> Value {
    json!({
        "@odata.id": vbase,
        "@odata.type": "#VirtualMedia.v1_3_0.VirtualMedia",
        "Id": m.id,
        "Name": format!("Virtual {}", m.media_types[0]),
        "MediaTypes": m.media_types,
        "Image": m.image,
        "ImageName": m.image.as_deref().and_then(|i| i.rsplit('/').next()),
        "Inserted": m.inserted,
        "WriteProtected": m.write_protected,
        "ConnectedVia": if m.inserted { "URI" } else { "NotConnected" },
        "TransferProtocolType": m.transfer_protocol,
        "Actions": {
            "#VirtualMedia.InsertMedia": {"target": format!("{vbase}/Actions/VirtualMedia.InsertMedia")},
            "#VirtualMedia.EjectMedia": {"target": format!("{vbase}/Actions/VirtualMedia.EjectMedia")},
        },
    })
}

fn insert(
    node: &NodeSim,
    m: &mut VirtualMedia,
    outbox: &mut Vec<Effect>,
    image: &str,
    body: &Value,
    action: bool,
) -> Resp {
    if !(image.starts_with("http://") || image.starts_with("https://")) {
        return bad_request(
            "Base.1.8.ActionParameterValueFormatError",
            &format!("The value {image} for the parameter Image is not an http or https URL."),
            &[image.into(), "Image".into()],
        );
    }
    let protocol = body.get("TransferProtocolType").and_then(Value::as_str);
    if action && protocol.is_none() && node.hw.vendor.insert_requires_protocol() {
        return bad_request(
            "Base.1.8.ActionParameterMissing",
            "The action VirtualMedia.InsertMedia requires the parameter TransferProtocolType to be present in the request body.",
            &["VirtualMedia.InsertMedia".into(), "TransferProtocolType".into()],
        );
    }
    if m.inserted {
        return error(
            StatusCode::CONFLICT,
            "Base.1.8.ResourceInUse",
            &format!(
                "Virtual media {} already has {} inserted; eject it first.",
                m.id,
                m.image.as_deref().unwrap_or("an image")
            ),
            std::slice::from_ref(&m.id),
        );
    }
    m.image = Some(image.to_string());
    m.inserted = body
        .get("Inserted")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    m.write_protected = body
        .get("WriteProtected")
        .and_then(Value::as_bool)
        .unwrap_or(true);
    m.transfer_protocol = Some(protocol.map(String::from).unwrap_or_else(|| {
        if image.starts_with("https") {
            "HTTPS".into()
        } else {
            "HTTP".into()
        }
    }));
    // Like a BMC streaming the image, the lab fetches it now (after this answer).
    m.fetch = Fetch::Pending;
    outbox.push(Effect::Fetch {
        media: m.id.clone(),
        url: image.to_string(),
    });
    no_content()
}

fn eject(m: &mut VirtualMedia) -> Resp {
    m.image = None;
    m.inserted = false;
    m.transfer_protocol = None;
    m.fetch = Fetch::None;
    no_content()
}
