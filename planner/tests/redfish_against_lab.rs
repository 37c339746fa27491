//! Our Redfish client against the lab's BMCs over TLS: trust is verified, and errors name the BMC and
//! the operation without leaking the password.

use std::path::PathBuf;

use lab::{Lab, LabConfig};
use planner::bmc::redfish::RedfishClient;
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
    Endpoint {
        url: n.bmc_url.clone(),
        username: n.username.clone(),
        password: n.password.clone(),
        tls,
    }
}

fn ca(lab: &Lab) -> TlsTrust {
    TlsTrust::CaBundle(PathBuf::from(
        lab.manifest().ca_cert.clone().expect("tls lab has a CA"),
    ))
}

#[tokio::test]
async fn reads_every_system_with_tls_verified_against_the_lab_ca() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path()).await;
    for (i, n) in lab.manifest().nodes.iter().enumerate() {
        let c = RedfishClient::new(endpoint(&lab, i, ca(&lab))).unwrap();
        assert_eq!(c.system_ids().await.unwrap(), vec![n.system_id.clone()]);
        let s = c.system(&n.system_id).await.unwrap();
        assert_eq!(s.serial, n.serial);
        assert_eq!(s.uuid, n.uuid);
        assert_eq!(s.power_state, "On");
        assert!(c
            .bios_attributes(&n.system_id)
            .await
            .unwrap()
            .contains_key("BootMode"));
    }
    lab.shutdown().await;
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_unless_insecure_is_chosen() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path()).await;
    let strict = RedfishClient::new(endpoint(&lab, 0, TlsTrust::NoExtraRoots)).unwrap();
    let err = strict.system_ids().await.unwrap_err();
    assert!(matches!(err, BmcError::Transport { .. }), "{err:?}");
    let shown = err.to_string();
    assert!(
        shown.contains(&lab.manifest().nodes[0].bmc_url) && shown.contains("list systems"),
        "{shown}"
    );
    let insecure = RedfishClient::new(endpoint(&lab, 0, TlsTrust::Insecure)).unwrap();
    assert_eq!(insecure.system_ids().await.unwrap().len(), 1);
    lab.shutdown().await;
}

#[tokio::test]
async fn wrong_credentials_give_a_401_that_names_the_bmc_and_not_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let lab = lab(dir.path()).await;
    let mut ep = endpoint(&lab, 1, ca(&lab));
    ep.password = "hunter2-wrong".into();
    let debug = format!("{ep:?}");
    assert!(!debug.contains("hunter2"), "{debug}");
    let err = RedfishClient::new(ep)
        .unwrap()
        .system_ids()
        .await
        .unwrap_err();
    match &err {
        BmcError::Status {
            status, messages, ..
        } => {
            assert_eq!(*status, 401);
            assert!(
                messages.iter().any(|m| m.contains("no valid session")),
                "{messages:?}"
            );
        }
        other => panic!("expected a status error, got {other:?}"),
    }
    let shown = err.to_string();
    assert!(
        shown.contains(&lab.manifest().nodes[1].bmc_url) && !shown.contains("hunter2"),
        "{shown}"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn a_missing_ca_bundle_is_a_clear_error() {
    let ep = Endpoint {
        url: "https://127.0.0.1:1".into(),
        username: "u".into(),
        password: "p".into(),
        tls: TlsTrust::CaBundle("/nonexistent/ca.pem".into()),
    };
    let err = RedfishClient::new(ep)
        .err()
        .expect("no client without its CA");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
}
