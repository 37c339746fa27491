//! Our Redfish client against the lab's BMCs over TLS: trust is verified, and errors name the BMC and
//! the operation without leaking the password.

use std::path::PathBuf;

use lab::{Lab, LabConfig};
use planner::bmc::redfish::RedfishBmc;
use planner::bmc::{Bmc, BmcError, Endpoint, TlsTrust};

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
        let bmc = RedfishBmc::new(endpoint(&lab, i, ca(&lab))).unwrap();
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
    let strict = RedfishBmc::new(endpoint(&lab, 0, TlsTrust::NoExtraRoots)).unwrap();
    let err = strict.systems().await.unwrap_err();
    assert!(matches!(err, BmcError::Transport { .. }), "{err:?}");
    let shown = err.to_string();
    assert!(
        shown.contains(&lab.manifest().nodes[0].bmc_url) && shown.contains("certificate"),
        "{shown}"
    );
    let pinned = RedfishBmc::new(endpoint(
        &lab,
        0,
        TlsTrust::Fingerprint(lab.manifest().tls_fingerprint.clone().unwrap()),
    ))
    .unwrap();
    assert_eq!(pinned.systems().await.unwrap().len(), 1);
    let wrong_pin =
        RedfishBmc::new(endpoint(&lab, 0, TlsTrust::Fingerprint("00".repeat(32)))).unwrap();
    let err = wrong_pin.systems().await.unwrap_err().to_string();
    assert!(err.contains("does not match the pinned"), "{err}");
    let insecure = RedfishBmc::new(endpoint(&lab, 0, TlsTrust::Insecure)).unwrap();
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
    let err = RedfishBmc::new(ep).unwrap().systems().await.unwrap_err();
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
    let err = RedfishBmc::new(ep).err().expect("no client without its CA");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}
