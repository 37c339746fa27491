//! The Redfish driver against independent peers nobody here wrote: sushy-emulator (fake driver) and
//! badfish's iDRAC emulator. Where a stock peer lacks a resource, the test says so by asserting the
//! error or the `unavailable` note the driver gives, instead of skipping.

mod common;

use std::time::Duration;

use planner::bmc::{
    Bmc, BmcError, BootPersistence, BootTarget, Endpoint, PowerAction, PowerState, Purpose,
    TlsTrust,
};
use serde_json::{json, Map, Value};

fn driver(peer: &common::Peer) -> Box<dyn Bmc> {
    let mut ep = Endpoint::new(
        peer.url.clone(),
        peer.username.clone(),
        peer.password.clone(),
        TlsTrust::CaBundle(peer.ca.clone()),
    );
    ep.limits.poll = Duration::from_millis(250);
    planner::bmc::open(ep, Purpose::Change).unwrap()
}

#[tokio::test]
async fn sushy_inspect_power_boot_secure_boot_media_and_storage() {
    let peer = common::sushy().await;
    let b = driver(&peer);
    let mut systems = b.systems().await.unwrap();
    systems.sort();
    assert_eq!(systems.len(), 2, "{systems:?}");
    let sys = common::SUSHY_UUID;

    // Inspect: NICs and drives work; the stock fake driver has no BIOS and no firmware inventory
    // (404 or 501), and answers 500 for a volumes collection nobody configured. The driver records
    // each of these in `unavailable` instead of failing the inspection.
    let inv = b.inspect(sys).await.unwrap();
    assert_eq!(inv.macs(), ["52:54:ee:00:00:01", "52:54:ee:00:00:02"]);
    assert_eq!(inv.drives.len(), 2, "{inv:#?}");
    assert_eq!(inv.disk_bytes(), 2 * 899_527_000_000);
    assert!(
        inv.unavailable
            .iter()
            .any(|u| u.starts_with("BIOS (the System has no Bios link):")
                && (u.contains("HTTP 501") || u.contains("HTTP 404"))),
        "{:?}",
        inv.unavailable
    );
    assert!(
        inv.unavailable.iter().any(|u| u.starts_with(&format!(
            "volumes of 1 (/redfish/v1/Systems/{sys}/Storage/1):"
        )) && u.contains("HTTP 500")),
        "{:?}",
        inv.unavailable
    );
    assert!(
        inv.unavailable.iter().any(|u| u
            .starts_with("firmware inventory (/redfish/v1/UpdateService):")
            && u.contains("HTTP 404")),
        "{:?}",
        inv.unavailable
    );

    // Power: sushy's fake driver changes state after a random 1-11 s.
    b.power(sys, PowerAction::ForceOff, Duration::from_secs(40))
        .await
        .unwrap();
    assert_eq!(b.power_state(sys).await.unwrap(), PowerState::Off);
    b.power(sys, PowerAction::On, Duration::from_secs(40))
        .await
        .unwrap();
    assert_eq!(b.power_state(sys).await.unwrap(), PowerState::On);

    // Boot override (sushy ignores BootSourceOverrideEnabled and reads back Continuous).
    b.set_boot_override(
        sys,
        BootTarget::Pxe,
        BootPersistence::Once,
        Some(planner::bmc::BootMode::Uefi),
    )
    .await
    .unwrap();
    assert_eq!(b.boot(sys).await.unwrap().target, "Pxe");

    b.set_secure_boot(sys, true).await.unwrap();
    assert!(b.secure_boot(sys).await.unwrap().enabled);

    // Virtual media lives under the System on sushy; insert downloads the image from loopback.
    let image = common::image_server(vec![0u8; 4096]).await;
    b.insert_media(sys, &image.url).await.unwrap();
    let media = b.virtual_media(sys).await.unwrap();
    assert!(
        media
            .iter()
            .any(|m| m.inserted && m.image.as_deref() == Some(image.url.as_str())),
        "{media:?}"
    );
    b.eject_media(sys).await.unwrap();
    assert!(b
        .virtual_media(sys)
        .await
        .unwrap()
        .iter()
        .all(|m| !m.inserted));

    // Volume creation and SimpleUpdate exist in sushy's API but its fake driver cannot carry them out
    // (no libvirt storage pool, no BIOS versions): the driver surfaces the refusal with the status.
    let spec = planner::bmc::VolumeSpec {
        name: "data".into(),
        raid: "RAID1".into(),
        drives: vec!["drive-0".into(), "drive-1".into()],
        capacity_bytes: None,
    };
    let err = b
        .create_volume(sys, &spec, planner::bmc::ApplyTime::Immediate)
        .await
        .unwrap_err();
    assert!(err.status().is_some_and(|s| s >= 500), "{err:?}");
    let target = format!("/redfish/v1/Systems/{sys}");
    let err = b
        .update_firmware(&image.url, &[target], planner::bmc::ApplyTime::Immediate)
        .await
        .unwrap_err();
    assert!(err.status().is_some_and(|s| s >= 400), "{err:?}");

    // BIOS staging is not in the stock fake driver: the error says so, with the status.
    let changes: Map<String, Value> = serde_json::from_value(json!({"BootMode": "Uefi"})).unwrap();
    let err = b.stage_bios(sys, &changes).await.unwrap_err();
    assert!(matches!(err.status(), Some(404 | 501)), "{err:?}");
}

#[tokio::test]
async fn sushy_wrong_password_and_untrusted_certificate_are_clear_errors() {
    let peer = common::sushy().await;
    let ep = Endpoint::new(
        peer.url.clone(),
        peer.username.clone(),
        "wrong",
        TlsTrust::CaBundle(peer.ca.clone()),
    );
    let err = open_bmc(ep).unwrap().systems().await.unwrap_err();
    assert!(matches!(err, BmcError::Unauthorized { .. }), "{err:?}");
    let ep = Endpoint::new(
        peer.url.clone(),
        peer.username.clone(),
        peer.password.clone(),
        TlsTrust::NoExtraRoots,
    );
    let err = open_bmc(ep).unwrap().systems().await.unwrap_err();
    assert!(err.to_string().contains("certificate"), "{err}");
}

#[tokio::test]
async fn badfish_sessions_bios_registry_staging_media_and_firmware() {
    let peer = common::badfish().await;
    let b = driver(&peer);
    assert_eq!(b.systems().await.unwrap(), ["System.Embedded.1"]);
    let sys = "System.Embedded.1";
    // A plain Redfish client reads the sessions: the driver's and the reader's own.
    let mut ep = Endpoint::new(
        peer.url.clone(),
        peer.username.clone(),
        peer.password.clone(),
        TlsTrust::CaBundle(peer.ca.clone()),
    );
    ep.limits.attempts = 1;
    let raw = planner::bmc::redfish::client::Client::new(ep).unwrap();
    let sessions = raw
        .get("/redfish/v1/SessionService/Sessions", "read")
        .await
        .unwrap();
    assert_eq!(
        sessions["Members"].as_array().map(Vec::len),
        Some(2),
        "the driver logs in with a session (and so does the reader): {sessions}"
    );
    raw.logout().await;

    let inv = b.inspect(sys).await.unwrap();
    assert_eq!(inv.manufacturer.as_deref(), Some("Dell Inc."));
    assert!(
        !inv.bios.is_empty(),
        "badfish serves BIOS attributes (without a Bios link on the System)"
    );
    assert!(
        !inv.firmware.is_empty(),
        "badfish serves the firmware inventory"
    );
    assert!(!inv.macs().is_empty());

    let registry = b.bios_registry(sys).await.unwrap();
    assert!(!registry.attributes.is_empty());
    // Pick a writable enumeration attribute and a value other than the current one.
    let current = b.bios(sys).await.unwrap().current;
    let (name, value) = registry
        .attributes
        .values()
        .filter(|a| !a.read_only && current.contains_key(&a.name))
        .find_map(|a| match &a.kind {
            planner::bmc::AttrType::Enumeration(vals) => vals
                .iter()
                .find(|v| Some(v.as_str()) != current[&a.name].as_str())
                .map(|v| (a.name.clone(), v.clone())),
            _ => None,
        })
        .expect("a writable enumeration attribute");
    let mut changes = Map::new();
    changes.insert(name.clone(), json!(value));
    // badfish accepts the PATCH of Bios/Settings (200) but does not model pending values, so what
    // this proves is the registry lookup beside Bios, the validation and the accepted PATCH; pending
    // and applied-on-reset behaviour is proven against the lab (bmc_ops_on_lab.rs).
    b.stage_bios(sys, &changes).await.unwrap();
    let mut bad = Map::new();
    bad.insert("NoSuchAttribute".into(), json!("x"));
    assert!(matches!(
        b.stage_bios(sys, &bad).await.unwrap_err(),
        BmcError::Invalid { .. }
    ));

    b.reset_bios(sys).await.unwrap();
    // badfish restarts in about 2 s.
    b.power(sys, PowerAction::ForceReboot, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(b.power_state(sys).await.unwrap(), PowerState::On);

    let image = "http://127.0.0.1:9/images/boot.iso";
    b.insert_media(sys, image).await.unwrap();
    let media = b.virtual_media(sys).await.unwrap();
    // Found under the Manager (badfish's System has no ManagedBy link). badfish reports Inserted but
    // does not echo the Image URL back.
    assert!(
        media
            .iter()
            .any(|m| m.inserted && m.uri.contains("/Managers/")),
        "{media:?}"
    );
    b.eject_media(sys).await.unwrap();
    assert!(b
        .virtual_media(sys)
        .await
        .unwrap()
        .iter()
        .all(|m| !m.inserted));
}

/// A Redfish client through the one BMC factory.
fn open_bmc(
    ep: planner::bmc::Endpoint,
) -> Result<Box<dyn planner::bmc::Bmc>, planner::bmc::BmcError> {
    planner::bmc::open(ep, planner::bmc::Purpose::Change)
}
