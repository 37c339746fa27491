//! Our Redfish client against the lab's BMCs over TLS: trust is verified, and errors name the BMC and
//! the operation without leaking the password.

use std::path::PathBuf;

use lab::{Lab, LabConfig};
use planner::bmc::{BmcError, Endpoint, TlsTrust};

async fn lab(dir: &std::path::Path) -> Lab {
    Lab::start(LabConfig {
        nodes: 4,
        dir: dir.to_path_buf(),
        ..LabConfig::default()
    })
    .await
    .expect("lab starts")
}

fn endpoint(lab: &Lab, i: usize, tls: TlsTrust) -> Endpoint {
    let n = &lab.manifest().nodes[i];
    Endpoint::new(
        n.bmc_url.clone(),
        n.username.clone(),
        n.password.clone(),
        tls,
    )
}

fn ca(lab: &Lab) -> TlsTrust {
    TlsTrust::CaBundle(PathBuf::from(
        lab.manifest().ca_cert.clone().expect("tls lab has a CA"),
    ))
}

#[tokio::test]
async fn inspects_every_system_with_tls_verified_against_the_lab_ca() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path()).await;
    for (i, n) in lab.manifest().nodes.iter().enumerate() {
        let bmc = open_bmc(endpoint(&lab, i, ca(&lab))).unwrap();
        assert_eq!(bmc.systems().await.unwrap(), vec![n.system_id.clone()]);
        let inv = bmc.inspect(&n.system_id).await.unwrap();
        assert_eq!(inv.serial.as_deref(), Some(n.serial.as_str()));
        assert_eq!(inv.uuid.as_deref(), Some(n.uuid.as_str()));
        assert_eq!(inv.macs(), n.macs);
        assert!(inv.bios.contains_key("BootMode"));
        assert!(inv.unavailable.is_empty(), "{:?}", inv.unavailable);
    }
    lab.shutdown().await;
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_unless_pinned_or_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path()).await;
    let strict = open_bmc(endpoint(&lab, 0, TlsTrust::NoExtraRoots)).unwrap();
    let err = strict.systems().await.unwrap_err();
    assert!(matches!(err, BmcError::Transport { .. }), "{err:?}");
    let shown = err.to_string();
    assert!(
        shown.contains(&lab.manifest().nodes[0].bmc_url) && shown.contains("certificate"),
        "{shown}"
    );
    let pinned = open_bmc(endpoint(
        &lab,
        0,
        TlsTrust::Fingerprint(lab.manifest().tls_fingerprint.clone().unwrap()),
    ))
    .unwrap();
    assert_eq!(pinned.systems().await.unwrap().len(), 1);
    let wrong_pin = open_bmc(endpoint(&lab, 0, TlsTrust::Fingerprint("00".repeat(32)))).unwrap();
    let err = wrong_pin.systems().await.unwrap_err().to_string();
    assert!(err.contains("does not match the pinned"), "{err}");
    let insecure = open_bmc(endpoint(&lab, 0, TlsTrust::Insecure)).unwrap();
    assert_eq!(insecure.systems().await.unwrap().len(), 1);
    lab.shutdown().await;
}

#[tokio::test]
async fn wrong_credentials_are_refused_with_the_bmc_and_user_named_and_no_password() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path()).await;
    let mut ep = endpoint(&lab, 1, ca(&lab));
    ep.password = "hunter2-wrong".into();
    let debug = format!("{ep:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    let err = open_bmc(ep).unwrap().systems().await.unwrap_err();
    assert!(matches!(err, BmcError::Unauthorized { .. }), "{err:?}");
    let shown = err.to_string();
    assert!(
        shown.contains(&lab.manifest().nodes[1].bmc_url)
            && shown.contains(&lab.manifest().nodes[1].username),
        "{shown}"
    );
    assert!(!shown.contains("hunter2"), "{shown}");
    lab.shutdown().await;
}

#[tokio::test]
async fn a_missing_ca_bundle_is_a_clear_error() {
    let ep = Endpoint::new(
        "https://127.0.0.1:1",
        "u",
        "p",
        TlsTrust::CaBundle("/nonexistent/ca.pem".into()),
    );
    let err = open_bmc(ep).err().expect("no client without its CA");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}

/// The lab advertises `$expand` (as iDRAC, iLO and XCC do): storage (controllers, drives, volume
/// collection, volumes) and the firmware inventory come in one request each, and say exactly what
/// following every link one request at a time says.
#[tokio::test]
async fn storage_and_firmware_come_in_one_expanded_request_each_and_match_the_links() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path()).await;
    let n = &lab.manifest().nodes[0];
    let sim = lab.fleet.node(&n.name).unwrap().clone();
    let requests = || sim.requests.load(std::sync::atomic::Ordering::Relaxed);
    let bmc = open_bmc(endpoint(&lab, 0, ca(&lab))).unwrap();
    // Session, service root and system document first, so the counts below are the reads alone.
    bmc.power_state(&n.system_id).await.unwrap();

    let before = requests();
    let storage = bmc.storage(&n.system_id).await.unwrap();
    // The system document again (this client is not a snapshot) and the expanded Storage collection.
    assert_eq!(requests() - before, 2, "storage reads");
    let before = requests();
    let firmware = bmc.firmware_inventory().await.unwrap();
    assert_eq!(requests() - before, 1, "firmware reads");

    // The same by following each link with a plain GET.
    // A plain Redfish client (its own session) for the raw reads.
    let raw = planner::bmc::redfish::client::Client::new(endpoint(&lab, 0, ca(&lab))).unwrap();
    let get = |p: String| {
        let raw = &raw;
        async move { raw.get(&p, "read").await.unwrap() }
    };
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["Members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["@odata.id"].as_str().unwrap().to_string())
            .collect()
    };
    let sys = get(format!("/redfish/v1/Systems/{}", n.system_id)).await;
    let coll = get(sys["Storage"]["@odata.id"].as_str().unwrap().into()).await;
    let mut drives = Vec::new();
    let mut volumes = Vec::new();
    for c in ids(&coll) {
        let ctl = get(c).await;
        for d in ctl["Drives"].as_array().unwrap() {
            let doc = get(d["@odata.id"].as_str().unwrap().into()).await;
            drives.push(planner::bmc::redfish::inventory::drive(&doc));
        }
        let vols = get(ctl["Volumes"]["@odata.id"].as_str().unwrap().into()).await;
        for v in ids(&vols) {
            let doc = get(v).await;
            volumes.push(planner::bmc::redfish::inventory::volume(
                &doc,
                ctl["Id"].as_str().unwrap(),
            ));
        }
    }
    assert!(
        drives.len() >= 2 && !volumes.is_empty(),
        "{drives:?} {volumes:?}"
    );
    assert_eq!(storage.drives, drives);
    assert_eq!(storage.volumes, volumes);
    assert!(storage.unavailable.is_empty(), "{:?}", storage.unavailable);

    let service = get("/redfish/v1/UpdateService".into()).await;
    let inv = get(service["FirmwareInventory"]["@odata.id"]
        .as_str()
        .unwrap()
        .into())
    .await;
    let mut linked = Vec::new();
    for m in ids(&inv) {
        linked.push(planner::bmc::redfish::inventory::firmware(&get(m).await));
    }
    assert!(linked.len() >= 3, "{linked:?}");
    assert_eq!(firmware, linked);

    // Forms the lab does not serve are refused, not silently answered unexpanded.
    let err = raw
        .get("/redfish/v1/UpdateService?$expand=*", "read")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(501), "{err}");
    lab.shutdown().await;
}

/// A Redfish client through the one BMC factory.
fn open_bmc(
    ep: planner::bmc::Endpoint,
) -> Result<Box<dyn planner::bmc::Bmc>, planner::bmc::BmcError> {
    planner::bmc::open(ep, planner::bmc::Purpose::Change)
}
