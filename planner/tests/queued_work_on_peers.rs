//! Work a BMC holds for the next reset, on peers we did not write: a task pending with its payload in
//! DMTF's PMEM mockup (found through the service root's `Tasks` link, as the schema names it), and a
//! BIOS configuration job in badfish's iDRAC job queue (found under the manager, where iDRAC serves
//! it). Both show in `bmplan plan` (a note) and `bmplan drift` (cause `queued`), and change nothing.

mod common;

use common::text;

use std::path::Path;
use std::process::{Command, Output, Stdio};

fn bmplan(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bmplan"));
    c.args(args)
        .arg(dir)
        .env(
            "BAREMETAL_INVENTORY",
            format!("sqlite://{}", dir.join("inv.db").display()),
        )
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pending_task_of_the_dmtf_pmem_mockup_shows_in_plan_and_drift() {
    let peer = common::mockup("dmtf-pmem").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.tf"),
        format!(
            r#"
resource "baremetal_node" "pmem" {{
  name      = "pmem-1"
  bmc_url   = "{url}"
  system_id = "InitialBoot"
  username  = "root"
  password  = "mockup"
}}
"#,
            url = peer.url
        ),
    )
    .unwrap();
    let p = bmplan(dir.path(), &["plan"], &[]);
    let out = text(&p);
    assert_eq!(p.status.code(), Some(0), "{out}");
    assert!(
        out.contains("pmem-1: queued on its BMC for the next reset, not by this configuration: 2 Task: POST /redfish/v1/Systems/InitialBoot/MemoryDomains/PMEM-2/MemoryChunks/ (Pending)"),
        "{out}"
    );
    let d = bmplan(dir.path(), &["drift", "--format", "json"], &[]);
    let out = text(&d);
    let json: serde_json::Value =
        serde_json::from_slice(&d.stdout).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(json["summary"]["queued"], 1, "{out}");
    let node = &json["nodes"][0];
    assert_eq!(node["status"], "drifted", "{out}");
    assert_eq!(node["items"][0]["path"], "queued.2", "{out}");
    assert_eq!(node["items"][0]["cause"], "queued", "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bios_job_in_badfishs_idrac_job_queue_shows_in_drift_and_plan() {
    let peer = common::badfish().await;
    let client = reqwest::Client::builder()
        .add_root_certificate(
            reqwest::Certificate::from_pem(&std::fs::read(&peer.ca).unwrap()).unwrap(),
        )
        .build()
        .unwrap();
    // Queue a BIOS configuration job the way iDRAC clients do (badfish's own `--set-bios-attribute`).
    // badfish's emulator runs a job on its first read and reports it Completed from the second on,
    // so each of drift and plan gets a job of its own.
    let queue_job = || async {
        let r = client
            .post(format!(
                "{}/redfish/v1/Managers/iDRAC.Embedded.1/Jobs",
                peer.url
            ))
            .basic_auth(&peer.username, Some(&peer.password))
            .json(&serde_json::json!({"TargetSettingsURI": "/redfish/v1/Systems/System.Embedded.1/Bios/Settings"}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        let job: serde_json::Value = r.json().await.unwrap();
        job["Id"].as_str().unwrap().to_string()
    };
    queue_job().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("main.tf"),
        format!(
            r#"
resource "baremetal_node" "dell" {{
  name      = "r640-1"
  bmc_url   = "{url}"
  username  = "{user}"
  password  = "{pass}"
  ca_cert   = "{ca}"
}}
"#,
            url = peer.url,
            user = peer.username,
            pass = peer.password,
            ca = peer.ca.display()
        ),
    )
    .unwrap();
    let d = bmplan(dir.path(), &["drift", "--format", "json"], &[]);
    let out = text(&d);
    let json: serde_json::Value =
        serde_json::from_slice(&d.stdout).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(json["summary"]["queued"], 1, "{out}");
    let item = &json["nodes"][0]["items"][0];
    assert_eq!(item["cause"], "queued", "{out}");
    assert!(
        item["live"]
            .as_str()
            .is_some_and(|l| l.contains("Configure: BIOS.Setup.1-1")),
        "{out}"
    );
    let job = queue_job().await;
    let p = bmplan(dir.path(), &["plan"], &[]);
    let out = text(&p);
    assert!(
        out.contains(&format!(
            "r640-1: queued on its BMC for the next reset, not by this configuration: {job} Configure: BIOS.Setup.1-1 (Running)"
        )),
        "{out}"
    );
}
