//! Service-wide Redfish resources: the service root, sessions, the update service with its firmware
//! inventory, the task service with task monitors, and the registries.

use std::time::Instant;

use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use super::storage::task_stub;
use super::{
    accepted, bad_request, collection, method_not_allowed, no_content, not_found, odata_ref, ok,
    respond, with_location, Req, Resp,
};
use crate::node::{NodeSim, Staged, Task};

pub fn root(node: &NodeSim) -> Value {
    json!({
        "@odata.id": "/redfish/v1",
        "@odata.type": "#ServiceRoot.v1_11_0.ServiceRoot",
        "Id": "RootService",
        "Name": "Root Service",
        "RedfishVersion": "1.15.0",
        "UUID": node.hw.uuid,
        "Vendor": node.hw.vendor.manufacturer(),
        "Product": node.hw.vendor.manager_model(),
        "Systems": odata_ref("/redfish/v1/Systems"),
        "Managers": odata_ref("/redfish/v1/Managers"),
        "Chassis": odata_ref("/redfish/v1/Chassis"),
        "SessionService": odata_ref("/redfish/v1/SessionService"),
        "AccountService": odata_ref("/redfish/v1/AccountService"),
        "UpdateService": odata_ref("/redfish/v1/UpdateService"),
        // The schema's (and every real BMC's) name for the link to the task service is `Tasks`.
        "Tasks": odata_ref("/redfish/v1/TaskService"),
        "Registries": odata_ref("/redfish/v1/Registries"),
        "Links": {"Sessions": odata_ref("/redfish/v1/SessionService/Sessions")},
        "ProtocolFeaturesSupported": {
            "ExpandQuery": {
                "ExpandAll": false,
                "Links": false,
                "NoLinks": true,
                "Levels": true,
                "MaxLevels": super::expand::MAX_LEVELS,
            },
            "FilterQuery": false,
            "SelectQuery": false,
        },
    })
}

/// The schemas (file, namespaces) the lab's resources are typed with, for `$metadata`.
const SCHEMAS: &[(&str, &[&str])] = &[
    ("ServiceRoot", &["ServiceRoot", "ServiceRoot.v1_11_0"]),
    (
        "AccountService",
        &["AccountService", "AccountService.v1_5_0"],
    ),
    ("ManagerAccountCollection", &["ManagerAccountCollection"]),
    (
        "ManagerAccount",
        &["ManagerAccount", "ManagerAccount.v1_4_0"],
    ),
    ("RoleCollection", &["RoleCollection"]),
    ("Role", &["Role", "Role.v1_2_1"]),
    ("Bios", &["Bios", "Bios.v1_2_0"]),
    ("BootOptionCollection", &["BootOptionCollection"]),
    ("BootOption", &["BootOption", "BootOption.v1_0_4"]),
    ("ChassisCollection", &["ChassisCollection"]),
    ("Chassis", &["Chassis", "Chassis.v1_14_0"]),
    ("ComputerSystemCollection", &["ComputerSystemCollection"]),
    (
        "ComputerSystem",
        &["ComputerSystem", "ComputerSystem.v1_20_0"],
    ),
    ("Drive", &["Drive", "Drive.v1_9_0"]),
    (
        "EthernetInterfaceCollection",
        &["EthernetInterfaceCollection"],
    ),
    (
        "EthernetInterface",
        &["EthernetInterface", "EthernetInterface.v1_6_0"],
    ),
    ("ManagerCollection", &["ManagerCollection"]),
    ("HostInterfaceCollection", &["HostInterfaceCollection"]),
    ("HostInterface", &["HostInterface", "HostInterface.v1_3_0"]),
    ("Manager", &["Manager", "Manager.v1_10_0"]),
    ("MemoryCollection", &["MemoryCollection"]),
    ("Memory", &["Memory", "Memory.v1_11_0"]),
    ("Message", &["Message", "Message.v1_1_1"]),
    (
        "MessageRegistryFileCollection",
        &["MessageRegistryFileCollection"],
    ),
    (
        "MessageRegistryFile",
        &["MessageRegistryFile", "MessageRegistryFile.v1_1_3"],
    ),
    ("NetworkAdapterCollection", &["NetworkAdapterCollection"]),
    (
        "NetworkAdapter",
        &["NetworkAdapter", "NetworkAdapter.v1_7_0"],
    ),
    ("PortCollection", &["PortCollection"]),
    ("Port", &["Port", "Port.v1_8_0"]),
    ("Power", &["Power", "Power.v1_6_0"]),
    ("ProcessorCollection", &["ProcessorCollection"]),
    ("Processor", &["Processor", "Processor.v1_11_0"]),
    ("SecureBoot", &["SecureBoot", "SecureBoot.v1_1_0"]),
    ("SessionCollection", &["SessionCollection"]),
    ("Session", &["Session", "Session.v1_3_0"]),
    (
        "SessionService",
        &["SessionService", "SessionService.v1_1_8"],
    ),
    ("Settings", &["Settings", "Settings.v1_3_5"]),
    (
        "SoftwareInventoryCollection",
        &["SoftwareInventoryCollection"],
    ),
    (
        "SoftwareInventory",
        &["SoftwareInventory", "SoftwareInventory.v1_4_0"],
    ),
    ("StorageCollection", &["StorageCollection"]),
    ("Storage", &["Storage", "Storage.v1_10_0"]),
    ("TaskCollection", &["TaskCollection"]),
    ("Task", &["Task", "Task.v1_5_1"]),
    ("TaskService", &["TaskService", "TaskService.v1_2_0"]),
    ("Thermal", &["Thermal", "Thermal.v1_7_0"]),
    ("UpdateService", &["UpdateService", "UpdateService.v1_8_0"]),
    ("VirtualMediaCollection", &["VirtualMediaCollection"]),
    ("VirtualMedia", &["VirtualMedia", "VirtualMedia.v1_3_0"]),
    ("VolumeCollection", &["VolumeCollection"]),
    ("Volume", &["Volume", "Volume.v1_6_0"]),
    ("RedfishExtensions", &["RedfishExtensions.v1_0_0"]),
    ("Resource", &["Resource", "Resource.v1_0_0"]),
];

/// The OData metadata document (`/redfish/v1/$metadata`, DSP0266 "OData metadata document"): a
/// reference to each DMTF schema the lab's resources use, and the entity container, as XML.
pub fn metadata() -> Resp {
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <edmx:Edmx xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\" Version=\"4.0\">\n",
    );
    for (file, namespaces) in SCHEMAS {
        x.push_str(&format!(
            "  <edmx:Reference Uri=\"http://redfish.dmtf.org/schemas/v1/{file}_v1.xml\">\n"
        ));
        for ns in *namespaces {
            x.push_str(&format!("    <edmx:Include Namespace=\"{ns}\"/>\n"));
        }
        x.push_str("  </edmx:Reference>\n");
    }
    x.push_str(
        "  <edmx:DataServices>\n\
         \x20   <Schema xmlns=\"http://docs.oasis-open.org/odata/ns/edm\" Namespace=\"Service\">\n\
         \x20     <EntityContainer Name=\"Service\" Extends=\"ServiceRoot.v1_11_0.ServiceContainer\"/>\n\
         \x20   </Schema>\n\
         \x20 </edmx:DataServices>\n\
         </edmx:Edmx>\n",
    );
    let mut r = hyper::Response::new(http_body_util::Full::new(bytes::Bytes::from(x)));
    let h = r.headers_mut();
    h.insert("OData-Version", HeaderValue::from_static("4.0"));
    h.insert(
        hyper::header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml"),
    );
    r
}

/// The account service: the BMC's one account (the lab's user, an Administrator) and the three
/// roles every Redfish service predefines (DSP0266 "Roles"). Read-only: the lab's users are fixed.
pub fn accounts(node: &NodeSim, req: &Req<'_>) -> Resp {
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    let base = "/redfish/v1/AccountService";
    let role = |id: &str, privileges: &[&str]| {
        json!({
            "@odata.id": format!("{base}/Roles/{id}"),
            "@odata.type": "#Role.v1_2_1.Role",
            "Id": id, "Name": format!("{id} role"), "RoleId": id,
            "IsPredefined": true,
            "AssignedPrivileges": privileges,
        })
    };
    match (req.method, &segs[1..]) {
        (&Method::GET, []) => ok(json!({
            "@odata.id": base,
            "@odata.type": "#AccountService.v1_5_0.AccountService",
            "Id": "AccountService", "Name": "Account Service",
            "ServiceEnabled": true,
            "Accounts": odata_ref(&format!("{base}/Accounts")),
            "Roles": odata_ref(&format!("{base}/Roles")),
        })),
        (&Method::GET, ["Accounts"]) => ok(collection(
            &format!("{base}/Accounts"),
            "ManagerAccount",
            [format!("{base}/Accounts/1")],
        )),
        (&Method::GET, ["Accounts", "1"]) => ok(json!({
            "@odata.id": format!("{base}/Accounts/1"),
            "@odata.type": "#ManagerAccount.v1_4_0.ManagerAccount",
            "Id": "1", "Name": "User Account",
            "UserName": node.username,
            "RoleId": "Administrator",
            "AccountTypes": ["Redfish"],
            "Enabled": true, "Locked": false,
            "Links": {"Role": odata_ref(&format!("{base}/Roles/Administrator"))},
        })),
        (&Method::GET, ["Roles"]) => ok(collection(
            &format!("{base}/Roles"),
            "Role",
            ["Administrator", "Operator", "ReadOnly"].map(|r| format!("{base}/Roles/{r}")),
        )),
        (&Method::GET, ["Roles", "Administrator"]) => ok(role(
            "Administrator",
            &[
                "Login",
                "ConfigureManager",
                "ConfigureUsers",
                "ConfigureSelf",
                "ConfigureComponents",
            ],
        )),
        (&Method::GET, ["Roles", "Operator"]) => ok(role(
            "Operator",
            &["Login", "ConfigureSelf", "ConfigureComponents"],
        )),
        (&Method::GET, ["Roles", "ReadOnly"]) => ok(role("ReadOnly", &["Login", "ConfigureSelf"])),
        (&Method::GET, _) => not_found(&req.uri()),
        _ => method_not_allowed(),
    }
}

pub fn odata() -> Value {
    json!({"@odata.context": "/redfish/v1/$metadata", "value": [
        {"name": "Systems", "kind": "Singleton", "url": "/redfish/v1/Systems"},
        {"name": "Managers", "kind": "Singleton", "url": "/redfish/v1/Managers"},
        {"name": "Chassis", "kind": "Singleton", "url": "/redfish/v1/Chassis"},
    ]})
}

pub fn sessions(node: &NodeSim, req: &Req<'_>) -> Resp {
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    match (req.method, &segs[1..]) {
        (&Method::GET, []) => ok(json!({
            "@odata.id": "/redfish/v1/SessionService",
            "@odata.type": "#SessionService.v1_1_8.SessionService",
            "Id": "SessionService", "Name": "Session Service",
            "ServiceEnabled": true, "SessionTimeout": 1800,
            "Sessions": odata_ref("/redfish/v1/SessionService/Sessions"),
        })),
        (&Method::GET, ["Sessions"]) => {
            let st = node.state();
            let mut ids: Vec<u32> = st.sessions.values().copied().collect();
            ids.sort();
            ok(collection(
                "/redfish/v1/SessionService/Sessions",
                "Session",
                ids.into_iter()
                    .map(|i| format!("/redfish/v1/SessionService/Sessions/{i}")),
            ))
        }
        (&Method::POST, ["Sessions"] | ["Sessions", "Members"]) => {
            let body = match req.json() {
                Ok(b) => b,
                Err(r) => return r,
            };
            let user = body.get("UserName").and_then(Value::as_str).unwrap_or("");
            let pass = body.get("Password").and_then(Value::as_str).unwrap_or("");
            if user != node.username || pass != node.password {
                return super::error(
                    StatusCode::UNAUTHORIZED,
                    "Base.1.8.InsufficientPrivilege",
                    "The user name or password is not valid.",
                    &[],
                );
            }
            let (id, token) = node.new_session();
            let loc = format!("/redfish/v1/SessionService/Sessions/{id}");
            let body = json!({"@odata.id": loc, "@odata.type": "#Session.v1_3_0.Session", "Id": id.to_string(), "Name": "User Session", "UserName": user});
            let mut r = with_location(respond(StatusCode::CREATED, Some(&body)), &loc);
            r.headers_mut().insert(
                "X-Auth-Token",
                HeaderValue::from_str(&token).expect("hex token"),
            );
            r
        }
        (&Method::GET, ["Sessions", id]) => {
            let st = node.state();
            if st.sessions.values().any(|s| s.to_string() == *id) {
                ok(
                    json!({"@odata.id": format!("/redfish/v1/SessionService/Sessions/{id}"), "@odata.type": "#Session.v1_3_0.Session", "Id": id, "Name": "User Session", "UserName": node.username}),
                )
            } else {
                not_found(id)
            }
        }
        (&Method::DELETE, ["Sessions", id]) => {
            let mut st = node.state();
            let before = st.sessions.len();
            st.sessions.retain(|_, s| s.to_string() != *id);
            if st.sessions.len() == before {
                not_found(id)
            } else {
                no_content()
            }
        }
        _ => method_not_allowed(),
    }
}

pub fn update(node: &NodeSim, req: &Req<'_>) -> Resp {
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    let base = "/redfish/v1/UpdateService";
    match (req.method, &segs[1..]) {
        (&Method::GET, []) => ok(json!({
            "@odata.id": base,
            "@odata.type": "#UpdateService.v1_8_0.UpdateService",
            "Id": "UpdateService", "Name": "Update Service", "ServiceEnabled": true,
            "FirmwareInventory": odata_ref(&format!("{base}/FirmwareInventory")),
            "Actions": {"#UpdateService.SimpleUpdate": {
                "target": format!("{base}/Actions/UpdateService.SimpleUpdate"),
                "TransferProtocol@Redfish.AllowableValues": ["HTTP", "HTTPS"],
                "@Redfish.OperationApplyTimeSupport": {"SupportedValues": ["Immediate", "OnReset"]},
            }},
        })),
        (&Method::GET, ["FirmwareInventory"]) => {
            let st = node.state();
            ok(collection(
                &format!("{base}/FirmwareInventory"),
                "SoftwareInventory",
                st.firmware
                    .iter()
                    .map(|f| format!("{base}/FirmwareInventory/{}", f.id)),
            ))
        }
        (&Method::GET, ["FirmwareInventory", id]) => {
            let st = node.state();
            match st.firmware.iter().find(|f| f.id == *id) {
                Some(f) => ok(json!({
                    "@odata.id": format!("{base}/FirmwareInventory/{}", f.id),
                    "@odata.type": "#SoftwareInventory.v1_4_0.SoftwareInventory",
                    "Id": f.id, "Name": f.name, "Version": f.version, "Updateable": true, "SoftwareId": f.id,
                    "Status": {"State": "Enabled", "Health": "OK"},
                })),
                None => not_found(id),
            }
        }
        (&Method::POST, ["Actions", "UpdateService.SimpleUpdate"]) => simple_update(node, req),
        _ => not_found(&format!("/redfish/v1/{}", segs.join("/"))),
    }
}

/// `SimpleUpdate`: the version is read from the image file name (`bios-2.20.0.bin` → 2.20.0) and the
/// component from `Targets` or from the name's prefix. The lab does not download the image.
fn simple_update(node: &NodeSim, req: &Req<'_>) -> Resp {
    let body = match req.json() {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(uri) = body.get("ImageURI").and_then(Value::as_str) else {
        return bad_request(
            "Base.1.8.ActionParameterMissing",
            "The action UpdateService.SimpleUpdate requires the parameter ImageURI to be present in the request body.",
            &["UpdateService.SimpleUpdate".into(), "ImageURI".into()],
        );
    };
    if !(uri.starts_with("http://") || uri.starts_with("https://")) {
        return bad_request(
            "Base.1.8.ActionParameterValueFormatError",
            &format!("ImageURI {uri} is not an http or https URL."),
            &[uri.into(), "ImageURI".into()],
        );
    }
    let file = uri.rsplit('/').next().unwrap_or("");
    let stem = file.rsplit_once('.').map(|(s, _)| s).unwrap_or(file);
    let Some((prefix, version)) = stem
        .split_once('-')
        .filter(|(_, v)| v.chars().next().is_some_and(|c| c.is_ascii_digit()))
    else {
        return bad_request(
            "Base.1.8.ActionParameterValueFormatError",
            &format!(
                "The image name {file} does not carry a version (expected COMPONENT-VERSION.EXT)."
            ),
            &[uri.into(), "ImageURI".into()],
        );
    };
    let mut st = node.state();
    let target = body
        .get("Targets")
        .and_then(Value::as_array)
        .and_then(|t| t.first())
        .and_then(Value::as_str)
        .map(|t| t.rsplit('/').next().unwrap_or("").to_string())
        .or_else(|| {
            st.firmware
                .iter()
                .find(|f| f.id.eq_ignore_ascii_case(prefix))
                .map(|f| f.id.clone())
        });
    let Some(target) = target.filter(|t| st.firmware.iter().any(|f| &f.id == t)) else {
        return bad_request(
            "Base.1.8.ActionParameterValueError",
            &format!("No updateable component matches {file}; name a FirmwareInventory member in Targets."),
            &["Targets".into()],
        );
    };
    let when = body
        .get("@Redfish.OperationApplyTime")
        .and_then(Value::as_str)
        .unwrap_or("OnReset");
    let name = format!("Firmware update of {target} to {version}");
    let task = match when {
        "Immediate" => st.new_task(
            name,
            "Running",
            Some(Instant::now() + node.timing.task_delay),
        ),
        "OnReset" => st.new_task(name, "Pending", None),
        other => {
            return bad_request(
                "Base.1.8.PropertyValueNotInList",
                &format!("Apply time {other} is not supported."),
                &[other.into()],
            )
        }
    };
    st.set_payload(task, "POST", req.uri(), &req.body);
    st.staged.push(Staged::Firmware {
        task,
        target,
        version: version.to_string(),
    });
    accepted(task, task_stub(task))
}

fn task_json(t: &Task) -> Value {
    let messages: Vec<Value> = t
        .messages
        .iter()
        .map(|m| json!({"Message": m, "MessageId": "Lab.1.0.TaskMessage"}))
        .collect();
    let percent = match t.state {
        "Completed" | "Exception" => 100,
        "Running" => 50,
        _ => 0,
    };
    json!({
        "@odata.id": format!("/redfish/v1/TaskService/Tasks/{}", t.id),
        "@odata.type": "#Task.v1_5_1.Task",
        "Id": t.id.to_string(),
        "Name": t.name,
        "TaskState": t.state,
        "TaskStatus": t.status,
        "PercentComplete": percent,
        "StartTime": t.start,
        "EndTime": t.end,
        "Messages": messages,
        "TaskMonitor": format!("/redfish/v1/TaskService/TaskMonitors/{}", t.id),
        "Payload": t.payload,
    })
}

pub fn tasks(node: &NodeSim, req: &Req<'_>) -> Resp {
    if req.method != Method::GET {
        return method_not_allowed();
    }
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    let st = node.state();
    match &segs[1..] {
        [] => ok(json!({
            "@odata.id": "/redfish/v1/TaskService", "@odata.type": "#TaskService.v1_2_0.TaskService",
            "Id": "TaskService", "Name": "Task Service", "ServiceEnabled": true,
            "Tasks": odata_ref("/redfish/v1/TaskService/Tasks"),
        })),
        ["Tasks"] => ok(collection(
            "/redfish/v1/TaskService/Tasks",
            "Task",
            st.tasks
                .keys()
                .map(|k| format!("/redfish/v1/TaskService/Tasks/{k}")),
        )),
        ["Tasks", id] => match id.parse().ok().and_then(|i: u32| st.tasks.get(&i)) {
            Some(t) => ok(task_json(t)),
            None => not_found(id),
        },
        // A task monitor answers 202 while the task runs (with Retry-After) and the final task once done.
        ["TaskMonitors", id] => match id.parse().ok().and_then(|i: u32| st.tasks.get(&i)) {
            Some(t) if t.finished() => ok(task_json(t)),
            Some(t) => accepted(t.id, task_json(t)),
            None => not_found(id),
        },
        _ => not_found(&format!("/redfish/v1/{}", segs.join("/"))),
    }
}

pub fn registries(node: &NodeSim, req: &Req<'_>) -> Resp {
    if req.method != Method::GET {
        return method_not_allowed();
    }
    let segs: Vec<&str> = req.segs.iter().map(String::as_str).collect();
    let name = node.registry.name.as_str();
    let file_uri = format!("/redfish/v1/Registries/{name}/{name}.json");
    match &segs[1..] {
        [] => ok(collection(
            "/redfish/v1/Registries",
            "MessageRegistryFile",
            [format!("/redfish/v1/Registries/{name}")],
        )),
        [n] if *n == name => ok(json!({
            "@odata.id": format!("/redfish/v1/Registries/{name}"),
            "@odata.type": "#MessageRegistryFile.v1_1_3.MessageRegistryFile",
            "Id": name, "Name": "BIOS Attribute Registry File", "Registry": name, "Languages": ["en"],
            "Location": [{"Language": "en", "Uri": file_uri}],
        })),
        [n, f] if *n == name && *f == format!("{name}.json") => {
            let mut reg = node.registry.to_redfish();
            reg["@odata.id"] = json!(file_uri);
            ok(reg)
        }
        _ => not_found(&format!("/redfish/v1/{}", segs.join("/"))),
    }
}
