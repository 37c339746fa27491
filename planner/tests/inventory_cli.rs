//! The inventory commands of `bmplan` as a pipeline sees them: exit codes, JSON and CSV output, the
//! audit export, key rotation, and the `--inventory` / `BAREMETAL_INVENTORY` fallback.

mod common;

use std::process::{Command, Output};

use planner::credentials::CredentialsKey;
use planner::inventory::{Inventory, NodeRegistration, NodeTls, Verification};
use planner::project::Actor;
use serde_json::Value;

struct Cli {
    url: String,
    key: String,
    dir: tempfile::TempDir,
}

impl Cli {
    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_bmplan"))
            .args(args)
            .env("BAREMETAL_INVENTORY", &self.url)
            .env("BAREMETAL_CREDENTIALS_KEY", &self.key)
            .env("BAREMETAL_USER", "ci-bot")
            .env_remove("BAREMETAL_ROLE")
            .env_remove("BAREMETAL_PROJECT")
            .env_remove("BAREMETAL_CREDENTIALS_KEY_FILE")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(
            o.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8(o.stdout).unwrap()
    }

    fn code(&self, args: &[&str]) -> (i32, String) {
        let o = self.run(args);
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stderr).to_string(),
        )
    }
}

async fn setup() -> Cli {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("inv.db").display());
    let key = CredentialsKey::generate().unwrap();
    let inv = Inventory::open(
        &url,
        Actor::admin("setup"),
        Some(CredentialsKey::from_base64(&key, "k").unwrap()),
    )
    .await
    .unwrap();
    for (name, arch, cpus) in [
        ("x1", "x86_64", 32),
        ("x2", "x86_64", 64),
        ("a1", "aarch64", 80),
    ] {
        let reg = NodeRegistration {
            name: name.into(),
            bmc_url: format!("https://{name}.bmc.example"),
            system_id: "1".into(),
            username: "root".into(),
            password: planner::bmc::Secret::new("hunter2-secret"),
            tls: NodeTls::default(),
        };
        let hw = common::hw(&format!("u-{name}"), name, "Dell Inc.", arch, cpus, 256.0);
        inv.enroll(&reg, &Verification::Inspected(Box::new(hw)))
            .await
            .unwrap();
    }
    inv.close().await;
    Cli { url, key, dir }
}

#[tokio::test]
async fn pipelines_branch_on_exit_codes() {
    let cli = setup().await;
    cli.ok(&["projects", "create", "blue", "--max-hosts", "1"]);
    cli.ok(&[
        "flavors", "create", "arm", "--arch", "aarch64", "--cpus", "64",
    ]);
    // 5: not found.
    assert_eq!(cli.code(&["nodes", "show", "nope"]).0, 5);
    // 6: illegal transition, with the allowed events named.
    let (code, err) = cli.code(&["nodes", "adopt", "x1", "--host", "h", "--project", "blue"]);
    assert_eq!(code, 6);
    assert!(err.contains("allowed: manage, deploy"), "{err}");
    // 7: a member asking for the fleet.
    let (code, err) = cli.code(&["--role", "member", "--as-project", "blue", "nodes", "list"]);
    assert_eq!(code, 7);
    assert!(err.contains("permission denied"), "{err}");
    // A member creates a host in their project; the quota then refuses the next with 6.
    let host: Value = serde_json::from_str(&cli.ok(&[
        "--role",
        "member",
        "--as-project",
        "blue",
        "hosts",
        "create",
        "arm-1",
        "--flavor",
        "arm",
        "--json",
    ]))
    .unwrap();
    assert_eq!(host["node"], "a1");
    let (code, err) = cli.code(&[
        "--role",
        "member",
        "--as-project",
        "blue",
        "hosts",
        "create",
        "arm-2",
        "--flavor",
        "arm",
    ]);
    assert_eq!(code, 6);
    assert!(err.contains("quota exceeded"), "{err}");
    // No capacity is 6 too, and says how many nodes match.
    cli.ok(&["projects", "create", "red"]);
    let (code, err) = cli.code(&[
        "hosts",
        "create",
        "r",
        "--project",
        "red",
        "--flavor",
        "arm",
    ]);
    assert_eq!(code, 6);
    assert!(err.contains("1 nodes match it and none is free"), "{err}");
    // 2: usage.
    assert_eq!(cli.code(&["nodes", "list", "--bogus"]).0, 2);
    // Lists filter by state, flavor and project.
    let arm: Value =
        serde_json::from_str(&cli.ok(&["nodes", "list", "--flavor", "arm", "--json"])).unwrap();
    assert_eq!(arm.as_array().unwrap().len(), 1);
    let blue: Value =
        serde_json::from_str(&cli.ok(&["nodes", "list", "--project", "blue", "--json"])).unwrap();
    assert_eq!(blue[0]["host"], "arm-1");
    let hosts_csv = cli.ok(&["hosts", "export", "--format", "csv"]);
    assert!(
        hosts_csv.starts_with("PROJECT,NAME,STATE,FLAVOR,NODE,"),
        "{hosts_csv}"
    );
    assert!(
        hosts_csv.contains("blue,arm-1,allocated,arm,a1,available"),
        "{hosts_csv}"
    );
}

#[tokio::test]
async fn the_audit_log_exports_as_csv_and_json_filtered_by_time_and_node() {
    let cli = setup().await;
    cli.ok(&[
        "nodes",
        "maintenance",
        "x2",
        "on",
        "--reason",
        "DIMM B3 errors",
    ]);
    cli.code(&["--role", "member", "--as-project", "red", "nodes", "list"]);
    let all: Value = serde_json::from_str(&cli.ok(&["audit", "--format", "json"])).unwrap();
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 5, "{all:#?}");
    let m = all
        .iter()
        .find(|e| e["action"] == "node.maintenance")
        .unwrap();
    assert_eq!(m["actor"], "ci-bot");
    assert_eq!(m["before"]["maintenance"], false);
    assert_eq!(m["after"]["maintenance_reason"], "DIMM B3 errors");
    let denied = all.iter().find(|e| e["outcome"] == "denied").unwrap();
    assert_eq!(denied["role"], "member");
    // By node, as CSV.
    let csv = cli.ok(&["audit", "--node", "x2", "--format", "csv"]);
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(csv.starts_with("AT,ACTOR,ROLE,PROJECT,ACTION,OBJECT,OUTCOME,BEFORE,AFTER,DETAIL\n"));
    // By time: nothing is in the future, everything is in the last hour.
    let future: Value =
        serde_json::from_str(&cli.ok(&["audit", "--since", "2999-01-01", "--format", "json"]))
            .unwrap();
    assert!(future.as_array().unwrap().is_empty());
    let hour: Value =
        serde_json::from_str(&cli.ok(&["audit", "--since", "1h", "--format", "json"])).unwrap();
    assert_eq!(hour.as_array().unwrap().len(), 5);
    let (code, err) = cli.code(&["audit", "--since", "last tuesday"]);
    assert_eq!(code, 1);
    assert!(err.contains("--since"), "{err}");
    // Written to a file; and no secret anywhere in it.
    let out = cli.dir.path().join("audit.json");
    cli.ok(&["audit", "--format", "json", "-o", out.to_str().unwrap()]);
    assert!(!std::fs::read_to_string(&out).unwrap().contains("hunter2"));
}

#[tokio::test]
async fn keys_rotate_from_the_command_line_and_a_missing_key_is_a_clear_error() {
    let cli = setup().await;
    let new_key = cli.dir.path().join("new.key");
    cli.ok(&["credentials", "keygen", "--out", new_key.to_str().unwrap()]);
    let out = cli.ok(&[
        "credentials",
        "rotate",
        "--new-key-file",
        new_key.to_str().unwrap(),
    ]);
    assert!(
        out.starts_with(
            "re-sealed 3 stored secrets (passwords, hosts' user data and image URLs) under key "
        ),
        "{out}"
    );
    // With the old key, opening now fails and names both keys.
    let inv = Inventory::open(
        &cli.url,
        Actor::admin("t"),
        Some(CredentialsKey::from_base64(&cli.key, "old").unwrap()),
    )
    .await
    .unwrap();
    let e = inv.node_endpoint("x1").await.unwrap_err().to_string();
    assert!(e.contains("were sealed with key"), "{e}");
    // A command that needs the key, run without one, says how to make one.
    let o = Command::new(env!("CARGO_BIN_EXE_bmplan"))
        .args([
            "credentials",
            "rotate",
            "--new-key-file",
            new_key.to_str().unwrap(),
        ])
        .env("BAREMETAL_INVENTORY", &cli.url)
        .env_remove("BAREMETAL_CREDENTIALS_KEY")
        .env_remove("BAREMETAL_CREDENTIALS_KEY_FILE")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("bmplan credentials keygen"),
        "{err}"
    );
    // The key can come from a file.
    let o = Command::new(env!("CARGO_BIN_EXE_bmplan"))
        .args(["inventory", "check"])
        .arg("--inventory")
        .arg(&cli.url)
        .env_remove("BAREMETAL_INVENTORY")
        .env("BAREMETAL_CREDENTIALS_KEY_FILE", &new_key)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stdout).contains("consistent"));
    // `keygen --out` wrote it for its owner only; once others can read it, it is refused.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&new_key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    std::fs::set_permissions(&new_key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_bmplan"))
        .args(["inventory", "check"])
        .arg("--inventory")
        .arg(&cli.url)
        .env_remove("BAREMETAL_INVENTORY")
        .env("BAREMETAL_CREDENTIALS_KEY_FILE", &new_key)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("can be read by its group or by others (mode 640)"),
        "{err}"
    );
}
