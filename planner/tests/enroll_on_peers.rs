//! Enrollment and discovery against Redfish services we did not write: sushy-emulator (two systems,
//! basic auth) and badfish's iDRAC emulator (sessions), driven through the `bmplan` command line
//! with a real SQLite inventory.

mod common;

use std::process::{Command, Output};

use serde_json::Value;

struct Env {
    dir: tempfile::TempDir,
    inventory: String,
    key: String,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().unwrap();
        let inventory = format!("sqlite://{}", dir.path().join("inv.db").display());
        let key = planner::credentials::CredentialsKey::generate().unwrap();
        Env {
            dir,
            inventory,
            key,
        }
    }

    fn bmplan(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_bmplan"))
            .args(args)
            .env("BAREMETAL_INVENTORY", &self.inventory)
            .env("BAREMETAL_CREDENTIALS_KEY", &self.key)
            .env("BAREMETAL_USER", "ops")
            .env_remove("BAREMETAL_ROLE")
            .env_remove("BAREMETAL_PROJECT")
            .output()
            .unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        let out = self.bmplan(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

fn by_name<'a>(list: &'a Value, name: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {list:#}"))
}

#[tokio::test]
async fn a_csv_list_enrolls_sushy_and_badfish_systems_and_reports_duplicates_and_bad_credentials() {
    let sushy = common::sushy().await;
    let badfish = common::badfish().await;
    let env = Env::new();
    let sushy_localhost = sushy.url.replace("127.0.0.1", "localhost");
    let csv = format!(
        "name,bmc_url,system_id,username,password,ca_cert\n\
         sushy-a,{su},{ua},{suser},{spass},{sca}\n\
         sushy-b,{su},{ub},{suser},{spass},{sca}\n\
         idrac,{bu},,{buser},{bpass},{bca}\n\
         again-a,{sl},{ua},{suser},{spass},{sca}\n\
         wrong-pw,{su},{ua},{suser},not-the-password,{sca}\n\
         untrusted,{bu},,{buser},{bpass},{sca}\n",
        su = sushy.url,
        sl = sushy_localhost,
        ua = common::SUSHY_UUID,
        ub = common::SUSHY_UUID_2,
        suser = sushy.username,
        spass = sushy.password,
        sca = sushy.ca.display(),
        bu = badfish.url,
        buser = badfish.username,
        bpass = badfish.password,
        bca = badfish.ca.display(),
    );
    let list = env.dir.path().join("bmcs.csv");
    std::fs::write(&list, csv).unwrap();
    let out = env.bmplan(&["nodes", "enroll", list.to_str().unwrap(), "--json"]);
    // Some rows were not enrolled: the bulk command says so with exit 8.
    assert_eq!(
        out.status.code(),
        Some(8),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let outcomes: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(by_name(&outcomes, "sushy-a")["result"], "enrolled");
    assert_eq!(
        by_name(&outcomes, "sushy-b")["result"],
        "enrolled",
        "{outcomes:#}"
    );
    assert_eq!(by_name(&outcomes, "idrac")["result"], "enrolled");
    assert_eq!(by_name(&outcomes, "sushy-a")["state"], "available");
    // The same sushy system through another address is recognised by its UUID.
    let dup = by_name(&outcomes, "again-a");
    assert_eq!(dup["result"], "duplicate");
    assert!(
        dup["detail"]
            .as_str()
            .unwrap()
            .contains("already enrolled as sushy-a"),
        "{dup}"
    );
    let wrong = by_name(&outcomes, "wrong-pw");
    assert_eq!(wrong["result"], "verify_failed");
    assert!(
        wrong["detail"].as_str().unwrap().contains("HTTP 401"),
        "{wrong}"
    );
    let untrusted = by_name(&outcomes, "untrusted");
    assert_eq!(untrusted["result"], "verify_failed");
    assert!(
        untrusted["detail"].as_str().unwrap().contains("TLS"),
        "{untrusted}"
    );

    // What was learnt from each BMC.
    let nodes = env.json(&["nodes", "list", "--json"]);
    assert_eq!(nodes.as_array().unwrap().len(), 5);
    let a = by_name(&nodes, "sushy-a");
    assert_eq!(a["system_uuid"], common::SUSHY_UUID);
    assert_eq!(a["system_id"], common::SUSHY_UUID);
    assert_eq!(a["power"], "On");
    let idrac = by_name(&nodes, "idrac");
    assert_eq!(idrac["system_id"], "System.Embedded.1");
    assert!(idrac["serial"].is_string(), "{idrac}");
    assert!(idrac["cpus"].as_i64().unwrap() > 0, "{idrac}");
    assert_eq!(by_name(&nodes, "wrong-pw")["state"], "verify_failed");

    // Enrolling the same list again changes nothing but refreshes (idempotent).
    let again = env.bmplan(&["nodes", "enroll", list.to_str().unwrap(), "--json"]);
    let outcomes: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(by_name(&outcomes, "sushy-a")["result"], "updated");
    assert_eq!(
        env.json(&["nodes", "list", "--json"])
            .as_array()
            .unwrap()
            .len(),
        5
    );

    // Exports carry the operator's columns and never a password; neither does the database file.
    let csv = env.bmplan(&["nodes", "export", "--format", "csv"]);
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert!(
        csv.starts_with(
            "NAME,STATE,POWER,MAINT,MODEL,SERIAL,CPUS,MEM_GIB,DISK_GIB,ARCH,BMC,HOST,PROJECT\n"
        ),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 6);
    let json_export = env.json(&["nodes", "export", "--format", "json"]);
    let db = std::fs::read(env.dir.path().join("inv.db")).unwrap();
    for secret in [&sushy.password, &badfish.password] {
        assert!(!csv.contains(secret.as_str()));
        assert!(!json_export.to_string().contains(secret.as_str()));
        assert!(
            !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "a password is stored in clear"
        );
    }
    // A state filter, and a clear error for an unknown state.
    let failed = env.json(&["nodes", "list", "--state", "verify failed", "--json"]);
    assert_eq!(failed.as_array().unwrap().len(), 2);
    let bad = env.bmplan(&["nodes", "list", "--state", "broken"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("states: enroll, verifying"));
}

#[tokio::test]
async fn discovery_over_a_port_range_finds_the_redfish_services_and_enrolls_their_systems() {
    let sushy = common::sushy().await;
    let badfish = common::badfish().await;
    let env = Env::new();
    let port: u16 = sushy.url.rsplit(':').next().unwrap().parse().unwrap();
    let range = format!("127.0.0.1:{}-{}", port - 1, port + 1);
    let run = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_bmplan"))
            .args(["nodes", "discover", &range, "--username", &sushy.username])
            .args([
                "--password-env",
                "SUSHY_PW",
                "--ca-cert",
                sushy.ca.to_str().unwrap(),
            ])
            .args(["--name-prefix", "lab-", "--json"])
            .args(extra)
            .env("SUSHY_PW", &sushy.password)
            .env("BAREMETAL_INVENTORY", &env.inventory)
            .env("BAREMETAL_CREDENTIALS_KEY", &env.key)
            .output()
            .unwrap()
    };
    let dry = run(&["--dry-run"]);
    assert!(
        dry.status.success(),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let found: Value = serde_json::from_slice(&dry.stdout).unwrap();
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0]["found"], "redfish");
    assert_eq!(found[0]["systems"].as_array().unwrap().len(), 2);
    assert!(String::from_utf8_lossy(&dry.stderr).contains("probed 3 addresses: 1 Redfish services"));
    assert!(env
        .json(&["nodes", "list", "--json"])
        .as_array()
        .unwrap()
        .is_empty());

    let out = run(&[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let outcomes: Value = serde_json::from_slice(&out.stdout).unwrap();
    let results: Vec<&str> = outcomes
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["result"].as_str().unwrap())
        .collect();
    assert_eq!(results, vec!["enrolled", "enrolled"]);
    let nodes = env.json(&["nodes", "list", "--json"]);
    let uuids: Vec<&str> = nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["system_uuid"].as_str().unwrap())
        .collect();
    assert!(uuids.contains(&common::SUSHY_UUID) && uuids.contains(&common::SUSHY_UUID_2));
    assert!(nodes[0]["name"]
        .as_str()
        .unwrap()
        .starts_with(&format!("lab-127-0-0-1-{port}-")));

    // badfish found under another name for the same machine kind: one system, named by address.
    let bport = badfish.url.rsplit(':').next().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_bmplan"))
        .args(["nodes", "discover", &format!("https://localhost:{bport}")])
        .args(["--username", &badfish.username, "--password-env", "BF_PW"])
        .args(["--ca-cert", badfish.ca.to_str().unwrap(), "--json"])
        .env("BF_PW", &badfish.password)
        .env("BAREMETAL_INVENTORY", &env.inventory)
        .env("BAREMETAL_CREDENTIALS_KEY", &env.key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let nodes = env.json(&["nodes", "list", "--json"]);
    assert_eq!(nodes.as_array().unwrap().len(), 3);
    by_name(&nodes, &format!("localhost-{bport}"));
}

/// A real Cray EX425 blade (a dump served by sushy-tools' static mockup server): two nodes behind
/// one BMC with one serial and no UUID. A node is its BMC plus its system id, so both enroll; the
/// same serial at another BMC is still a duplicate.
#[tokio::test]
async fn the_two_nodes_of_a_multi_node_blade_enroll_and_its_serial_elsewhere_is_a_duplicate() {
    let blade = common::mockup("cray-ex425").await;
    let elsewhere = common::mockup("cray-ex425").await;
    let env = Env::new();
    let csv = format!(
        "name,bmc_url,system_id,username,password\n\
         ex-n0,{b},Node0,root,initial0\n\
         ex-n1,{b},Node1,root,initial0\n\
         ex-copy,{e},Node0,root,initial0\n",
        b = blade.url,
        e = elsewhere.url,
    );
    let list = env.dir.path().join("blade.csv");
    std::fs::write(&list, csv).unwrap();
    let out = env.bmplan(&["nodes", "enroll", list.to_str().unwrap(), "--json"]);
    let outcomes: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(
        by_name(&outcomes, "ex-n0")["result"],
        "enrolled",
        "{outcomes:#}"
    );
    assert_eq!(
        by_name(&outcomes, "ex-n1")["result"],
        "enrolled",
        "{outcomes:#}"
    );
    let copy = by_name(&outcomes, "ex-copy");
    assert_eq!(copy["result"], "duplicate", "{outcomes:#}");
    assert!(
        copy["detail"]
            .as_str()
            .unwrap()
            .contains("same serial number HA19340017"),
        "{copy}"
    );
    assert_eq!(out.status.code(), Some(8));
    let nodes = env.json(&["nodes", "list", "--json"]);
    let n1 = by_name(&nodes, "ex-n1");
    assert_eq!(n1["serial"], "HA19340017");
    assert_eq!(n1["system_id"], "Node1");
    // 2 × 64-core EPYC 7763 with two threads per core: 256 threads, not 128.
    assert_eq!(n1["cpus"], 256, "{n1}");
}
