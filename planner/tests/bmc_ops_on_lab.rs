//! Every `Bmc` operation against the lab, and the behaviours real BMCs need under faults: retried
//! 5xx and dropped connections, re-login after a session expires, 412 fallbacks, failing tasks,
//! timeouts and an unresponsive BMC.

use std::time::{Duration, Instant};

use lab::faults::FaultConfig;
use lab::{Lab, LabConfig};
use planner::bmc::{
    ApplyTime, Bmc, BmcError, BootPersistence, BootTarget, Endpoint, Limits, PowerAction,
    PowerState, Purpose, TlsTrust, VolumeSpec,
};
use serde_json::{json, Map, Value};

async fn lab(nodes: usize, dir: &std::path::Path) -> Lab {
    Lab::start(LabConfig {
        nodes,
        tls: false,
        power_delay: Duration::from_millis(200),
        task_delay: Duration::from_millis(200),
        dir: dir.to_path_buf(),
        ..LabConfig::default()
    })
    .await
    .expect("lab starts")
}

fn bmc(lab: &Lab, i: usize) -> (Box<dyn Bmc>, String) {
    let n = &lab.manifest().nodes[i];
    let mut ep = Endpoint::new(
        n.bmc_url.clone(),
        n.username.clone(),
        n.password.clone(),
        TlsTrust::NoExtraRoots,
    );
    // Short backoff (it also caps the lab's Retry-After: 1) keeps fault tests quick.
    ep.limits = Limits {
        backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(100),
        request_timeout: Duration::from_secs(5),
        poll: Duration::from_millis(50),
        ..Limits::default()
    };
    let b = planner::bmc::open(ep, Purpose::Change).unwrap();
    (b, n.system_id.clone())
}

fn node_detail(lab: &Lab, i: usize) -> Value {
    let f = &lab.fleet;
    let n = &f.nodes[i];
    let st = n.state();
    json!({"resets": st.resets, "bios": st.bios, "last_boot_source": st.last_boot_source, "secure_boot": st.secure_boot_current})
}

fn map(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[tokio::test]
async fn power_off_on_and_reboot_wait_for_the_target_state() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(1, dir.path()).await;
    let (b, sys) = bmc(&lab, 0);
    b.power(&sys, PowerAction::Off, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(b.power_state(&sys).await.unwrap(), PowerState::Off);
    b.power(&sys, PowerAction::Off, Duration::from_secs(10))
        .await
        .unwrap(); // already off: no-op
    b.power(&sys, PowerAction::On, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(b.power_state(&sys).await.unwrap(), PowerState::On);
    let before = node_detail(&lab, 0)["resets"].as_u64().unwrap();
    b.power(&sys, PowerAction::Reboot, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(node_detail(&lab, 0)["resets"].as_u64().unwrap(), before + 1);
    b.power(&sys, PowerAction::Nmi, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(lab.fleet.nodes[0].state().nmis, 1);
    lab.shutdown().await;
}

#[tokio::test]
async fn a_power_wait_that_cannot_finish_times_out_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::start(LabConfig {
        nodes: 1,
        tls: false,
        power_delay: Duration::from_secs(30),
        dir: dir.path().into(),
        ..LabConfig::default()
    })
    .await
    .unwrap();
    let (b, sys) = bmc(&lab, 0);
    let err = b
        .power(&sys, PowerAction::ForceReboot, Duration::from_millis(600))
        .await
        .unwrap_err();
    assert!(matches!(err, BmcError::Timeout { .. }), "{err:?}");
    assert!(err.to_string().contains("did not finish within"), "{err}");
    lab.shutdown().await;
}

#[tokio::test]
async fn boot_override_and_secure_boot_take_effect_at_the_next_boot() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(4, dir.path()).await;
    // Node 3 is a Supermicro: its virtual CD is spelt UsbCd.
    for i in [0, 3] {
        let (b, sys) = bmc(&lab, i);
        b.insert_media(&sys, "http://127.0.0.1:9/installer.iso")
            .await
            .unwrap();
        b.insert_media(&sys, "http://127.0.0.1:9/installer.iso")
            .await
            .unwrap(); // idempotent
        b.set_boot_override(&sys, BootTarget::Cd, BootPersistence::Once, None)
            .await
            .unwrap();
        let boot = b.boot(&sys).await.unwrap();
        assert_eq!(BootTarget::parse(&boot.target), Some(BootTarget::Cd));
        assert_eq!(boot.enabled, "Once");
        b.set_secure_boot(&sys, true).await.unwrap();
        assert_eq!(b.secure_boot(&sys).await.unwrap().current, Some(false));
        b.power(&sys, PowerAction::Reboot, Duration::from_secs(10))
            .await
            .unwrap();
        let d = node_detail(&lab, i);
        assert_eq!(
            d["last_boot_source"],
            json!("Cd:http://127.0.0.1:9/installer.iso")
        );
        assert_eq!(b.secure_boot(&sys).await.unwrap().current, Some(true));
        assert_eq!(b.boot(&sys).await.unwrap().enabled, "Disabled");
        b.eject_media(&sys).await.unwrap();
        assert!(b
            .virtual_media(&sys)
            .await
            .unwrap()
            .iter()
            .all(|m| !m.inserted));
    }
    lab.shutdown().await;
}

#[tokio::test]
async fn virtual_media_insert_falls_back_to_transfer_protocol_type_on_400() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(3, dir.path()).await;
    // Node 2 is a Lenovo: InsertMedia without TransferProtocolType answers 400.
    let (b, sys) = bmc(&lab, 2);
    b.insert_media(&sys, "https://127.0.0.1:9/boot.iso")
        .await
        .unwrap();
    let media = b.virtual_media(&sys).await.unwrap();
    assert!(media
        .iter()
        .any(|m| m.inserted && m.image.as_deref() == Some("https://127.0.0.1:9/boot.iso")));
    lab.shutdown().await;
}

#[tokio::test]
async fn bios_changes_are_validated_against_the_registry_then_staged_for_one_reset() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(1, dir.path()).await;
    let (b, sys) = bmc(&lab, 0);
    let bad = map(json!({"ProcVirtualisation": "Disabled", "BootMode": "Floppy"}));
    let err = b.stage_bios(&sys, &bad).await.unwrap_err();
    let shown = err.to_string();
    assert!(
        shown.contains("ProcVirtualisation: unknown BIOS attribute")
            && shown.contains("did you mean ProcVirtualization?"),
        "{shown}"
    );
    assert!(
        shown.contains("BootMode: \"Floppy\" is not one of Uefi, Bios"),
        "{shown}"
    );
    assert!(
        lab.fleet.nodes[0].state().bios_pending.is_empty(),
        "nothing may be staged after a refusal"
    );
    let good = map(json!({"ProcVirtualization": "Disabled", "PowerOnDelaySec": 10}));
    b.stage_bios(&sys, &good).await.unwrap();
    let state = b.bios(&sys).await.unwrap();
    assert_eq!(state.pending, good);
    assert_eq!(state.current["ProcVirtualization"], json!("Enabled"));
    b.power(&sys, PowerAction::Reboot, Duration::from_secs(10))
        .await
        .unwrap();
    let state = b.bios(&sys).await.unwrap();
    assert!(state.pending.is_empty());
    assert_eq!(state.current["ProcVirtualization"], json!("Disabled"));
    assert_eq!(node_detail(&lab, 0)["resets"], json!(1));
    b.reset_bios(&sys).await.unwrap();
    b.power(&sys, PowerAction::ForceReboot, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(
        b.bios(&sys).await.unwrap().current["ProcVirtualization"],
        json!("Enabled")
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn raid_volumes_are_created_and_deleted_at_the_next_reset() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(1, dir.path()).await;
    let (b, sys) = bmc(&lab, 0);
    let inv = b.inspect(&sys).await.unwrap();
    let used: Vec<String> = inv.volumes.iter().flat_map(|v| v.drives.clone()).collect();
    let free: Vec<String> = inv
        .drives
        .iter()
        .map(|d| d.id.clone())
        .filter(|d| !used.contains(d))
        .collect();
    let spec = VolumeSpec {
        name: "data".into(),
        raid: "RAID0".into(),
        drives: vec![free[0].clone()],
        capacity_bytes: None,
    };
    let task = b
        .create_volume(&sys, &spec, ApplyTime::OnReset)
        .await
        .unwrap()
        .expect("a staged create has a task");
    assert_eq!(b.volumes(&sys).await.unwrap().len(), inv.volumes.len());
    b.power(&sys, PowerAction::Reboot, Duration::from_secs(10))
        .await
        .unwrap();
    let outcome = b.wait_task(&task, Duration::from_secs(10)).await.unwrap();
    assert_eq!(outcome.state, "Completed");
    let vols = b.volumes(&sys).await.unwrap();
    let created = vols
        .iter()
        .find(|v| v.name.as_deref() == Some("data"))
        .expect("volume created");
    assert_eq!(created.drives, vec![free[0].clone()]);
    assert!(b
        .delete_volume(&sys, &created.id, ApplyTime::Immediate)
        .await
        .unwrap()
        .is_none());
    assert_eq!(b.volumes(&sys).await.unwrap().len(), inv.volumes.len());
    let unknown = VolumeSpec {
        name: "x".into(),
        raid: "RAID1".into(),
        drives: vec!["nope".into()],
        capacity_bytes: None,
    };
    assert!(matches!(
        b.create_volume(&sys, &unknown, ApplyTime::OnReset)
            .await
            .unwrap_err(),
        BmcError::Invalid { .. }
    ));
    lab.shutdown().await;
}

#[tokio::test]
async fn firmware_updates_follow_the_task_monitor_and_a_failed_task_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(1, dir.path()).await;
    let (b, sys) = bmc(&lab, 0);
    let task = b
        .update_firmware(
            "http://127.0.0.1:9/fw/nic1-23.1.0.bin",
            &[],
            ApplyTime::Immediate,
        )
        .await
        .unwrap();
    assert_eq!(
        b.wait_task(&task, Duration::from_secs(10))
            .await
            .unwrap()
            .state,
        "Completed"
    );
    let inv = b.inspect(&sys).await.unwrap();
    assert_eq!(
        inv.firmware
            .iter()
            .find(|f| f.id == "NIC1")
            .unwrap()
            .version
            .as_deref(),
        Some("23.1.0")
    );
    lab.fleet.nodes[0].state().faults.task_fail = true;
    let task = b
        .update_firmware(
            "http://127.0.0.1:9/fw/bios-9.9.9.bin",
            &[],
            ApplyTime::Immediate,
        )
        .await
        .unwrap();
    let err = b
        .wait_task(&task, Duration::from_secs(10))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, BmcError::TaskFailed { state, .. } if state == "Exception"),
        "{err:?}"
    );
    assert!(err.to_string().contains("injected task fault"), "{err}");
    lab.shutdown().await;
}

#[tokio::test]
async fn transient_5xx_and_dropped_connections_are_retried_for_reads() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(1, dir.path()).await;
    let (b, sys) = bmc(&lab, 0);
    b.systems().await.unwrap(); // log in while the BMC is healthy
    lab.fleet.faults.set(FaultConfig {
        error_rate: 0.15,
        reset_rate: 0.10,
        hang_ms: 0,
        ..FaultConfig::default()
    });
    // A request fails for good only when all five attempts draw a fault (0.25^5, about 1 in 1000),
    // so nearly every inspection comes back whole; one that does not must say what it lacks rather
    // than return a silently shorter inventory. Which request draws which fault depends on the
    // order of the concurrent reads, so the bound is "at most one of four incomplete", not "none".
    let mut incomplete = 0;
    for _ in 0..4 {
        let inv = b
            .inspect(&sys)
            .await
            .expect("reads survive a 25% fault rate with retries");
        if inv.nics.is_empty() {
            assert!(
                inv.unavailable
                    .iter()
                    .any(|u| u.starts_with("network interfaces")),
                "NICs missing without being reported: {:?}",
                inv.unavailable
            );
        }
        if !inv.unavailable.is_empty() {
            incomplete += 1;
        }
    }
    assert!(incomplete <= 1, "{incomplete} of 4 inspections incomplete");
    let injected = lab.fleet.faults.counters();
    assert!(
        injected["errors"].as_u64().unwrap() + injected["resets"].as_u64().unwrap() > 10,
        "{injected}"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn an_expired_session_is_renewed_once_transparently() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(1, dir.path()).await;
    let (b, sys) = bmc(&lab, 0);
    b.power_state(&sys).await.unwrap();
    assert_eq!(
        lab.fleet.nodes[0].state().sessions.len(),
        1,
        "the client logs in with a session"
    );
    lab.fleet.nodes[0].state().sessions.clear();
    b.power_state(&sys).await.unwrap();
    assert_eq!(
        lab.fleet.nodes[0].state().sessions.len(),
        1,
        "one new session after the 401"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn a_stale_etag_is_retried_without_if_match() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(1, dir.path()).await;
    let (b, sys) = bmc(&lab, 0);
    // Change the system between the client's GET (for the ETag) and its PATCH, from another writer.
    let node = lab.fleet.nodes[0].clone();
    let other = tokio::spawn(async move {
        for _ in 0..200 {
            node.state()
                .bios
                .insert("AssetTag".into(), json!(format!("{:?}", Instant::now())));
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    for _ in 0..5 {
        b.set_boot_override(&sys, BootTarget::Pxe, BootPersistence::Continuous, None)
            .await
            .unwrap();
    }
    other.await.unwrap();
    assert_eq!(b.boot(&sys).await.unwrap().target, "Pxe");
    lab.shutdown().await;
}

#[tokio::test]
async fn an_unresponsive_bmc_fails_within_the_request_timeout_and_names_itself() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(2, dir.path()).await;
    lab.fleet.nodes[0].state().faults.unresponsive = true;
    let n = &lab.manifest().nodes[0];
    let mut ep = Endpoint::new(
        n.bmc_url.clone(),
        n.username.clone(),
        n.password.clone(),
        TlsTrust::NoExtraRoots,
    );
    ep.limits = Limits {
        request_timeout: Duration::from_millis(300),
        attempts: 2,
        backoff: Duration::from_millis(10),
        ..Limits::default()
    };
    let started = Instant::now();
    let err = open_bmc(ep).unwrap().systems().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    let shown = err.to_string();
    assert!(
        shown.contains(&n.bmc_url) && shown.contains("no complete answer within"),
        "{shown}"
    );
    let (healthy, sys) = bmc(&lab, 1);
    assert_eq!(healthy.power_state(&sys).await.unwrap(), PowerState::On);
    lab.shutdown().await;
}

#[tokio::test]
async fn inspection_reports_lldp_sensors_firmware_and_architecture() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(4, dir.path()).await;
    let (b, sys) = bmc(&lab, 0);
    let inv = b.inspect(&sys).await.unwrap();
    let m = &lab.manifest().nodes[0];
    let lldp: Vec<_> = inv.nics.iter().filter_map(|n| n.lldp.clone()).collect();
    assert_eq!(lldp.len(), 2);
    assert_eq!(lldp[0].switch.as_deref(), Some(m.switch.as_str()));
    assert_eq!(lldp[0].port.as_deref(), Some(m.switch_ports[0].as_str()));
    assert!(
        !inv.sensors.temperatures.is_empty()
            && !inv.sensors.fans.is_empty()
            && inv.sensors.power_watts.is_some()
    );
    assert!(inv.firmware.iter().any(|f| f.id == "BIOS"));
    assert_eq!(inv.cpu.arch.as_deref(), Some(m.arch.as_str()));
    assert!(inv.disk_bytes() > 0 && inv.memory_gib.unwrap() >= 128.0);
    assert_eq!(inv.health.as_deref(), Some("OK"));
    lab.shutdown().await;
}

/// A Redfish client through the one BMC factory.
fn open_bmc(
    ep: planner::bmc::Endpoint,
) -> Result<Box<dyn planner::bmc::Bmc>, planner::bmc::BmcError> {
    planner::bmc::open(ep, planner::bmc::Purpose::Change)
}
