//! `/redfish/v1/Systems/{id}/Storage`: the RAID controller, its drives, and volumes whose creation and
//! deletion are staged for the next reset (`@Redfish.OperationApplyTime`), as on Dell and HPE.

use hyper::{Method, StatusCode};
use serde_json::{json, Value};

use super::{
    accepted, bad_request, collection, error, no_content, not_found, odata_ref, ok, respond,
    with_location, Req, Resp,
};
use crate::node::{NodeSim, NodeState, Staged, Volume};

pub fn route(node: &NodeSim, req: &Req<'_>, sys_base: &str) -> Resp {
    let ctl = node.hw.vendor.storage_controller_id();
    let base = format!("{sys_base}/Storage");
    let segs: Vec<&str> = req.segs[2..].iter().map(String::as_str).collect();
    if segs.len() == 1 {
        return ok(collection(&base, "Storage", [format!("{base}/{ctl}")]));
    }
    if segs[1] != ctl {
        return not_found(&format!("{base}/{}", segs[1]));
    }
    let cbase = format!("{base}/{ctl}");
    match (req.method, &segs[2..]) {
        (&Method::GET, []) => ok(controller(node, &cbase)),
        (&Method::GET, ["Drives", id]) => match node.hw.drives.iter().find(|d| d.id == *id) {
            Some(d) => ok(json!({
                "@odata.id": format!("{cbase}/Drives/{}", d.id),
                "@odata.type": "#Drive.v1_9_0.Drive",
                "Id": d.id,
                "Name": format!("Drive {}", d.id),
                "Model": d.model,
                "SerialNumber": d.serial,
                "CapacityBytes": d.capacity_bytes,
                "MediaType": d.media,
                "Protocol": d.protocol,
                "Status": {"State": "Enabled", "Health": "OK"},
                "Actions": {"#Drive.SecureErase": {"target": format!("{cbase}/Drives/{}/Actions/Drive.SecureErase", d.id)}},
            })),
            None => not_found(id),
        },
        (&Method::POST, ["Drives", id, "Actions", "Drive.SecureErase"]) => {
            if !node.hw.drives.iter().any(|d| d.id == *id) {
                return not_found(id);
            }
            let mut st = node.state();
            let deadline = std::time::Instant::now() + node.timing.task_delay;
            let task = st.new_task(
                format!("Secure erase of drive {id}"),
                "Running",
                Some(deadline),
            );
            st.set_payload(task, "POST", req.uri(), &req.body);
            st.staged.push(Staged::Erase {
                task,
                drive: id.to_string(),
            });
            accepted(task, task_stub(task))
        }
        (&Method::GET, ["Volumes"]) => {
            let st = node.state();
            let mut c = collection(
                &format!("{cbase}/Volumes"),
                "Volume",
                st.volumes
                    .iter()
                    .map(|v| format!("{cbase}/Volumes/{}", v.id)),
            );
            c["@Redfish.OperationApplyTimeSupport"] = json!({
                "@odata.type": "#Settings.v1_3_5.OperationApplyTimeSupport",
                "SupportedValues": ["Immediate", "OnReset"],
            });
            ok(c)
        }
        (&Method::POST, ["Volumes"]) => create_volume(node, req, &cbase),
        (&Method::GET, ["Volumes", id]) => {
            let st = node.state();
            match st.volumes.iter().find(|v| v.id == *id) {
                Some(v) => ok(volume(&cbase, v)),
                None => not_found(id),
            }
        }
        (&Method::DELETE, ["Volumes", id]) => delete_volume(node, req, id),
        _ => not_found(&format!("{cbase}/{}", segs[2..].join("/"))),
    }
}

fn controller(node: &NodeSim, cbase: &str) -> Value {
    let ctl = node.hw.vendor.storage_controller_id();
    let drives: Vec<Value> = node
        .hw
        .drives
        .iter()
        .map(|d| odata_ref(&format!("{cbase}/Drives/{}", d.id)))
        .collect();
    json!({
        "@odata.id": cbase,
        "@odata.type": "#Storage.v1_10_0.Storage",
        "Id": ctl,
        "Name": "RAID Controller",
        "StorageControllers": [{
            "@odata.id": format!("{cbase}#/StorageControllers/0"),
            "MemberId": "0",
            "Name": "RAID Controller",
            "FirmwareVersion": node.hw.raid_fw_version,
            "SupportedRAIDTypes": ["RAID0", "RAID1", "RAID5", "RAID6", "RAID10"],
            "SupportedControllerProtocols": ["PCIe"],
            "SupportedDeviceProtocols": ["SAS", "SATA", "NVMe"],
            "Status": {"State": "Enabled", "Health": "OK"},
        }],
        "Drives@odata.count": drives.len(),
        "Drives": drives,
        "Volumes": odata_ref(&format!("{cbase}/Volumes")),
        "Status": {"State": "Enabled", "Health": "OK", "HealthRollup": "OK"},
    })
}

fn volume(cbase: &str, v: &Volume) -> Value {
    let drives: Vec<Value> = v
        .drives
        .iter()
        .map(|d| odata_ref(&format!("{cbase}/Drives/{d}")))
        .collect();
    json!({
        "@odata.id": format!("{cbase}/Volumes/{}", v.id),
        "@odata.type": "#Volume.v1_6_0.Volume",
        "Id": v.id,
        "Name": v.name,
        "RAIDType": v.raid,
        "CapacityBytes": v.capacity_bytes,
        "Links": {"Drives": drives},
        "Status": {"State": "Enabled", "Health": "OK"},
    })
}

/// Minimum drive count and usable capacity of a RAID level over `n` drives of `size` bytes.
fn raid_capacity(level: &str, n: u64, size: u64) -> Result<u64, String> {
    let need = |min: u64, ok: bool| {
        if n >= min && ok {
            Ok(())
        } else {
            Err(format!("{level} needs {}", describe(level)))
        }
    };
    match level {
        "RAID0" => need(1, true).map(|_| n * size),
        "RAID1" => need(2, n == 2).map(|_| size),
        "RAID5" => need(3, true).map(|_| (n - 1) * size),
        "RAID6" => need(4, true).map(|_| (n - 2) * size),
        "RAID10" => need(4, n % 2 == 0).map(|_| n / 2 * size),
        other => Err(format!("RAID type {other} is not supported")),
    }
}

fn describe(level: &str) -> &'static str {
    match level {
        "RAID1" => "exactly 2 drives",
        "RAID5" => "at least 3 drives",
        "RAID6" => "at least 4 drives",
        "RAID10" => "an even number of drives, at least 4",
        _ => "at least 1 drive",
    }
}

/// The request body and its `@Redfish.OperationApplyTime` (default `OnReset`).
fn body_and_apply_time(req: &Req<'_>) -> Result<(Value, String), Resp> {
    let body = req.json()?;
    let when = apply_time(&body)?.to_string();
    Ok((body, when))
}

fn apply_time(body: &Value) -> Result<&str, Resp> {
    match body.get("@Redfish.OperationApplyTime").map(|v| v.as_str()) {
        None => Ok("OnReset"),
        Some(Some(t @ ("Immediate" | "OnReset"))) => Ok(t),
        Some(other) => Err(bad_request(
            "Base.1.8.PropertyValueNotInList",
            &format!("The value {other:?} for @Redfish.OperationApplyTime is not one of Immediate, OnReset."),
            &["@Redfish.OperationApplyTime".into()],
        )),
    }
}

/// Drives that are in a volume, or promised to one by a staged creation.
fn drives_in_use(st: &NodeState) -> Vec<String> {
    let mut used: Vec<String> = st.volumes.iter().flat_map(|v| v.drives.clone()).collect();
    for s in &st.staged {
        match s {
            Staged::CreateVolume { volume, .. } => used.extend(volume.drives.clone()),
            Staged::DeleteVolume { id, .. } => {
                if let Some(v) = st.volumes.iter().find(|v| &v.id == id) {
                    used.retain(|d| !v.drives.contains(d));
                }
            }
            Staged::Firmware { .. } | Staged::Erase { .. } => {}
        }
    }
    used
}

fn create_volume(node: &NodeSim, req: &Req<'_>, cbase: &str) -> Resp {
    let (body, when) = match body_and_apply_time(req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(level) = body.get("RAIDType").and_then(Value::as_str) else {
        return bad_request(
            "Base.1.8.PropertyMissing",
            "The property RAIDType is required to create a volume.",
            &["RAIDType".into()],
        );
    };
    let refs: Vec<String> = body
        .pointer("/Links/Drives")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|d| d.get("@odata.id").and_then(Value::as_str))
                .map(|s| s.rsplit('/').next().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default();
    if refs.is_empty() {
        return bad_request(
            "Base.1.8.PropertyMissing",
            "The property Links/Drives must name the volume's drives.",
            &["Links/Drives".into()],
        );
    }
    let mut st = node.state();
    let used = drives_in_use(&st);
    let mut size = u64::MAX;
    for r in &refs {
        let Some(d) = node.hw.drives.iter().find(|d| &d.id == r) else {
            return bad_request(
                "Base.1.8.ResourceNotFound",
                &format!("The drive {r} does not exist on this controller."),
                std::slice::from_ref(r),
            );
        };
        if used.contains(r) {
            return bad_request(
                "Base.1.8.ResourceInUse",
                &format!("The drive {r} already belongs to a volume."),
                std::slice::from_ref(r),
            );
        }
        size = size.min(d.capacity_bytes);
    }
    let max = match raid_capacity(level, refs.len() as u64, size) {
        Ok(m) => m,
        Err(e) => {
            return bad_request(
                "Base.1.8.PropertyValueConflict",
                &format!("{e}; {} given.", refs.len()),
                &[level.into()],
            )
        }
    };
    let capacity = match body.get("CapacityBytes").and_then(Value::as_u64) {
        Some(c) if c > max => {
            return bad_request(
                "Base.1.8.PropertyValueOutOfRange",
                &format!("CapacityBytes {c} exceeds the {max} bytes that {level} over these drives provides."),
                &[c.to_string(), "CapacityBytes".into()],
            )
        }
        Some(c) => c,
        None => max,
    };
    let n = st.next_volume;
    st.next_volume += 1;
    let v = Volume {
        id: node
            .hw
            .vendor
            .volume_id(node.hw.vendor.storage_controller_id(), n),
        name: body
            .get("Name")
            .and_then(Value::as_str)
            .unwrap_or("Volume")
            .to_string(),
        raid: level.to_string(),
        drives: refs,
        capacity_bytes: capacity,
    };
    if when == "Immediate" {
        let loc = format!("{cbase}/Volumes/{}", v.id);
        let body = volume(cbase, &v);
        st.volumes.push(v);
        return with_location(respond(StatusCode::CREATED, Some(&body)), &loc);
    }
    let task = st.new_task(format!("Create {level} volume {}", v.id), "Pending", None);
    st.set_payload(task, "POST", req.uri(), &req.body);
    st.staged.push(Staged::CreateVolume { task, volume: v });
    accepted(task, task_stub(task))
}

fn delete_volume(node: &NodeSim, req: &Req<'_>, id: &str) -> Resp {
    let (_, when) = match body_and_apply_time(req) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let mut st = node.state();
    if !st.volumes.iter().any(|v| v.id == id) {
        return not_found(id);
    }
    if st
        .staged
        .iter()
        .any(|s| matches!(s, Staged::DeleteVolume { id: d, .. } if d == id))
    {
        return error(
            StatusCode::CONFLICT,
            "Base.1.8.ResourceInUse",
            &format!("Deletion of volume {id} is already pending."),
            &[id.into()],
        );
    }
    if when == "Immediate" {
        st.volumes.retain(|v| v.id != id);
        st.os = None;
        return no_content();
    }
    let task = st.new_task(format!("Delete volume {id}"), "Pending", None);
    st.set_payload(task, "DELETE", req.uri(), &req.body);
    st.staged.push(Staged::DeleteVolume {
        task,
        id: id.to_string(),
    });
    accepted(task, task_stub(task))
}

pub fn task_stub(task: u32) -> Value {
    json!({"@odata.id": format!("/redfish/v1/TaskService/Tasks/{task}"), "Id": task.to_string(), "TaskState": "Pending"})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raid_levels_enforce_drive_counts_and_capacity() {
        assert_eq!(raid_capacity("RAID1", 2, 100), Ok(100));
        assert!(raid_capacity("RAID1", 3, 100).is_err());
        assert_eq!(raid_capacity("RAID5", 3, 100), Ok(200));
        assert!(raid_capacity("RAID5", 2, 100).is_err());
        assert_eq!(raid_capacity("RAID10", 4, 100), Ok(200));
        assert!(raid_capacity("RAID10", 5, 100).is_err());
        assert!(raid_capacity("RAID7", 5, 100).is_err());
    }
}
