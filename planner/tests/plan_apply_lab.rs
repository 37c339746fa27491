//! End to end on the lab with `examples/lab` (BIOS, boot, RAID and firmware): plan shows changes, apply,
//! plan says "No changes", one reset per node, an out-of-band BIOS change made through plain Redfish shows in drift, a stale saved
//! plan is refused, and an apply killed midway resumes without repeating a step.

mod common;

use common::text;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use lab::{Lab, LabConfig};
use serde_json::Value;

struct Fleet {
    lab: Lab,
    dir: tempfile::TempDir,
    manifest: PathBuf,
    inventory: String,
}

async fn fleet(nodes: usize, power_delay: Duration) -> Fleet {
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::start(LabConfig {
        nodes,
        switches: 1,
        tls: true,
        dir: dir.path().to_path_buf(),
        power_delay,
        task_delay: Duration::from_millis(200),
        ..LabConfig::default()
    })
    .await
    .unwrap();
    let manifest = dir.path().join("lab.json");
    lab.manifest().write(&manifest).unwrap();
    let inventory = format!("sqlite://{}", dir.path().join("inventory.db").display());
    Fleet {
        lab,
        dir,
        manifest,
        inventory,
    }
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/lab")
}

impl Fleet {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_bmplan"));
        c.args(args)
            .arg("-var")
            .arg(format!("lab_manifest={}", self.manifest.display()))
            .env("BAREMETAL_INVENTORY", &self.inventory)
            .env("BAREMETAL_USER", "ci")
            .env_remove("BAREMETAL_ROLE")
            .env_remove("BAREMETAL_PROJECT")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// The apply runs the inventory recorded, and for the first of them how many times each step
    /// was journaled as succeeded.
    async fn runs_and_successes(&self) -> (Vec<String>, std::collections::BTreeMap<String, u32>) {
        let inv = planner::inventory::Inventory::open(
            &self.inventory,
            planner::project::Actor::admin("t"),
            None,
        )
        .await
        .unwrap();
        let runs: Vec<String> = inv
            .audit_log(&Default::default())
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.action == "apply.start")
            .map(|e| e.object)
            .collect();
        let mut succeeded = std::collections::BTreeMap::new();
        if let Some(first) = runs.first() {
            for e in inv.journal_of(first).await.unwrap() {
                if e.status == planner::inventory::StepStatus::Succeeded {
                    *succeeded.entry(e.step.clone()).or_insert(0) += 1;
                }
            }
        }
        (runs, succeeded)
    }

    /// Sets a node's health through the lab's control endpoint.
    async fn set_health(&self, node: &str, health: &str) {
        let control = &self.lab.manifest().control_url;
        let r = reqwest::Client::new()
            .put(format!("{control}/nodes/{node}/health"))
            .json(&serde_json::json!({ "health": health }))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }

    async fn stats(&self) -> Value {
        let url = format!("{}/stats", self.lab.manifest().control_url);
        reqwest::get(url).await.unwrap().json().await.unwrap()
    }

    async fn resets(&self) -> Vec<u64> {
        let s = self.stats().await;
        s["nodes"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n["resets"].as_u64().unwrap())
            .collect()
    }

    /// Changes a BIOS value through plain Redfish, as someone at the console would, and resets.
    async fn out_of_band(&self, node: usize, attr: &str, value: &str) {
        let m = self.lab.manifest();
        let n = &m.nodes[node];
        let ca = std::fs::read(m.ca_cert.as_ref().unwrap()).unwrap();
        let http = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
            .build()
            .unwrap();
        let sys = format!("{}/redfish/v1/Systems/{}", n.bmc_url, n.system_id);
        let bios: Value = http
            .get(format!("{sys}/Bios"))
            .basic_auth(&n.username, Some(&n.password))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let settings = bios["@Redfish.Settings"]["SettingsObject"]["@odata.id"]
            .as_str()
            .unwrap()
            .to_string();
        let r = http
            .patch(format!("{}{settings}", n.bmc_url))
            .basic_auth(&n.username, Some(&n.password))
            .json(&serde_json::json!({"Attributes": {attr: value}}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        let r = http
            .post(format!("{sys}/Actions/ComputerSystem.Reset"))
            .basic_auth(&n.username, Some(&n.password))
            .json(&serde_json::json!({"ResetType": "ForceRestart"}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success());
        // Wait for the node to be back with the value applied.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let b: Value = http
                .get(format!("{sys}/Bios"))
                .basic_auth(&n.username, Some(&n.password))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if b["Attributes"][attr] == value {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the out-of-band change did not apply"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plan_apply_plan_on_the_lab_resets_each_node_once_and_drift_sees_out_of_band_changes() {
    let f = fleet(6, Duration::from_millis(200)).await;
    let ex = example();
    let ex = ex.to_str().unwrap();

    let v = f.run(&["validate", ex]);
    assert!(v.status.success(), "{}", text(&v));

    let p = f.run(&["plan", ex, "-detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(2), "{}", text(&p));
    let out = text(&p);
    assert!(
        out.contains(
            "r1u01: 1 reboot, BIOS 4 changes, RAID +1 -0, 1 firmware update, secure boot, VLAN 1→100 on tor1 Gi0/1"
        ),
        "{out}"
    );
    assert!(
        out.contains("bios.ProcTurboMode: \"Enabled\" → \"Disabled\""),
        "{out}"
    );
    assert!(out.contains("create VLAN 100 (prod)"), "{out}");
    // Secrets from the manifest never reach the plan.
    for n in &f.lab.manifest().nodes {
        assert!(!out.contains(&n.password));
    }

    // Save the plan, apply exactly it.
    let saved = f.dir.path().join("plan.json");
    let p = f.run(&["plan", ex, "-out", saved.to_str().unwrap()]);
    assert!(p.status.success(), "{}", text(&p));
    let a = f.run(&["apply", saved.to_str().unwrap()]);
    assert!(a.status.success(), "{}", text(&a));
    assert!(text(&a).contains("Apply succeeded"), "{}", text(&a));

    // Right after: no changes, and exactly one reset per node.
    let p = f.run(&["plan", ex, "-detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    assert!(text(&p).contains("No changes."));
    assert_eq!(f.resets().await, vec![1; 6]);
    // The switch ports are on the VLAN.
    {
        let sw = f.lab.fleet.switch("tor1").unwrap();
        let st = sw.lock().unwrap();
        assert_eq!(st.vlans.get(&100).map(String::as_str), Some("prod"));
        for i in 1..=12 {
            let port = &st.ports[&format!("GigabitEthernet0/{i}")];
            assert_eq!(port.access_vlan, 100, "Gi0/{i}");
        }
        assert_eq!(
            st.saved_generation, st.generation,
            "the configuration was saved"
        );
    }
    let d = f.run(&["drift", ex, "--format", "json"]);
    let report: Value = serde_json::from_slice(&d.stdout).unwrap();
    assert_eq!(report["summary"]["nodes_in_sync"], 6, "{report:#}");
    assert_eq!(report["summary"]["ports_in_sync"], 12);

    // Someone changes a BIOS value on r1u02 through plain Redfish: drift calls it out of band.
    f.out_of_band(1, "ProcTurboMode", "Enabled").await;
    let d = f.run(&["drift", ex, "--format", "json", "--detailed-exitcode"]);
    assert_eq!(d.status.code(), Some(2));
    let report: Value = serde_json::from_slice(&d.stdout).unwrap();
    let r1u02 = report["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["node"] == "r1u02")
        .unwrap();
    assert_eq!(r1u02["status"], "drifted");
    assert_eq!(r1u02["items"][0]["path"], "bios.ProcTurboMode");
    assert_eq!(r1u02["items"][0]["cause"], "out_of_band");
    assert_eq!(r1u02["items"][0]["live"], "Enabled");
    // JUnit fails the pipeline on it; markdown carries the summary for the ticket.
    let junit = f.dir.path().join("drift.xml");
    f.run(&[
        "drift",
        ex,
        "--format",
        "junit",
        "-o",
        junit.to_str().unwrap(),
    ]);
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.contains("failures=\"1\""), "{xml}");
    assert!(xml.contains("bios.ProcTurboMode [out-of-band]"), "{xml}");
    let md = text(&f.run(&["drift", ex, "--format", "markdown"]));
    assert!(md.contains("| nodes (6) | 5 | 1 | 0 |"), "{md}");

    // A plan saved now goes stale when the live state changes again before it is applied.
    let p = f.run(&["plan", ex, "-out", saved.to_str().unwrap()]);
    assert!(p.status.success());
    f.out_of_band(2, "SysProfile", "Custom").await;
    let a = f.run(&["apply", saved.to_str().unwrap()]);
    assert_eq!(a.status.code(), Some(1));
    assert!(text(&a).contains("is stale"), "{}", text(&a));

    // Applying the directory converges again, with one more reset for each drifted node only.
    let a = f.run(&["apply", ex, "-auto-approve"]);
    assert!(a.status.success(), "{}", text(&a));
    let mut resets = f.resets().await;
    resets.sort();
    assert_eq!(
        resets,
        vec![1, 1, 1, 1, 3, 3],
        "two out-of-band resets and two corrective ones"
    );
    let p = f.run(&["plan", ex, "-detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));

    // Template compliance: a value changed at the template ("base") shows on every node that
    // takes a profile inheriting it, grouped under that profile.
    let changed = f.dir.path().join("template-changed");
    std::fs::create_dir_all(&changed).unwrap();
    let main = std::fs::read_to_string(Path::new(ex).join("main.tf")).unwrap();
    assert!(main.contains("PowerOnDelaySec   = 30"));
    std::fs::write(
        changed.join("main.tf"),
        main.replace("PowerOnDelaySec   = 30", "PowerOnDelaySec   = 60"),
    )
    .unwrap();
    let p = f.run(&["plan", changed.to_str().unwrap(), "-detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(2), "{}", text(&p));
    let out = text(&p);
    assert!(out.contains("By profile:"), "{out}");
    assert!(
        out.contains(
            "profile compute (template base): 6 node(s) to bring back to it: r1u01 (1), r1u02 (1)"
        ),
        "{out}"
    );
    f.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_apply_killed_midway_resumes_from_the_journal_without_repeating_a_step() {
    let f = fleet(4, Duration::from_millis(1500)).await;
    let ex = example();
    let ex = ex.to_str().unwrap();
    let mut child = f
        .cmd(&["apply", ex, "-auto-approve", "--max-parallel", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Kill it once two resets are under way.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut started = 0;
    let mut waves = Vec::new();
    while let Some(Ok(l)) = lines.next() {
        if l.contains("apply: wave ") {
            waves.push(l.clone());
        }
        if l.contains("/reset started") {
            started += 1;
            if started == 2 {
                break;
            }
        }
    }
    assert_eq!(started, 2, "the apply did not reach its resets");
    // --max-parallel 2 shapes the plan: 4 nodes of one rack make two waves.
    assert_eq!(
        waves,
        vec!["apply: wave 1/2 started: r1, 2 nodes"],
        "{waves:?}"
    );
    child.kill().unwrap();
    child.wait().unwrap();

    let a = f.run(&["apply", ex, "-auto-approve", "--max-parallel", "2"]);
    let out = text(&a);
    assert!(a.status.success(), "{out}");
    assert!(out.contains("resuming run"), "{out}");
    assert!(
        out.contains("already done in this run: not repeated"),
        "{out}"
    );
    // Every node reset exactly once, whether its reset was issued before or after the kill.
    assert_eq!(f.resets().await, vec![1; 4]);
    // The journal: no step succeeded twice.
    let (runs, succeeded) = f.runs_and_successes().await;
    assert_eq!(runs.len(), 1, "the second apply resumed the first run");
    assert!(succeeded.values().all(|c| *c == 1), "{succeeded:?}");
    // Six steps per node, and one switch batch per wave.
    assert_eq!(succeeded.len(), 4 * 6 + 2, "{succeeded:?}");
    let p = f.run(&["plan", ex, "-detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    f.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_critical_after_its_reset_fails_its_wait_and_what_depends_on_it_is_skipped() {
    let f = fleet(2, Duration::from_millis(100)).await;
    let ex = example();
    let ex = ex.to_str().unwrap();
    f.set_health("r1u02", "Critical").await;
    // Observed before anything is done: the plan warns, drift shows the health (not as drift).
    let p = f.run(&["plan", ex]);
    assert!(
        text(&p).contains("warning: r1u02: health is Critical: its wait after the reset will fail"),
        "{}",
        text(&p)
    );
    let d = f.run(&["drift", ex, "--format", "json"]);
    let report: Value = serde_json::from_slice(&d.stdout).unwrap();
    let health = |name: &str| {
        report["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["node"] == name)
            .map(|n| n["health"].clone())
    };
    assert_eq!(health("r1u02"), Some(Value::from("Critical")), "{report}");
    assert_eq!(health("r1u01"), Some(Value::from("OK")), "{report}");
    let d = f.run(&["drift", ex]);
    assert!(text(&d).contains("(health Critical)"), "{}", text(&d));
    let a = f.run(&["apply", ex, "-auto-approve"]);
    let out = text(&a);
    assert_eq!(a.status.code(), Some(1), "{out}");
    assert!(
        out.contains("failed  r1u02/wait") && out.contains("Critical health"),
        "{out}"
    );
    // The switch batch of the wave depends on every node of the wave: it is skipped, and says why.
    assert!(
        out.contains("skipped tor1/wave-1: skipped: r1u02/wait failed"),
        "{out}"
    );
    // r1u01 itself converged: only the ports remain.
    let p = f.run(&["plan", ex]);
    let plan = text(&p);
    assert!(plan.contains("r1u01: VLAN 1→100 on tor1 Gi0/1"), "{plan}");
    assert!(!plan.contains("r1u01: 1 reboot"), "{plan}");
    f.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failure_budget_lets_later_waves_run_until_it_is_spent() {
    // Five nodes in one rack, two per wave: {r1u01, r1u02}, {r1u03, r1u04}, {r1u05}. r1u02 and
    // r1u03 fail their wait (Critical health); the budget is one failed node.
    let f = fleet(5, Duration::from_millis(100)).await;
    let ex = example();
    let ex = ex.to_str().unwrap();
    for n in ["r1u02", "r1u03"] {
        f.set_health(n, "Critical").await;
    }
    let a = f.run(&[
        "apply",
        ex,
        "-auto-approve",
        "--max-parallel",
        "2",
        "--max-failures",
        "1",
    ]);
    let out = text(&a);
    assert_eq!(
        a.status.code(),
        Some(1),
        "a failure within the budget still fails the run: {out}"
    );
    // Within the budget: r1u02 failed, its wave's batch moved r1u01's ports without r1u02's, and
    // the next wave still ran.
    assert!(out.contains("failed  r1u02/wait"), "{out}");
    assert!(
        out.contains("skipped tor1/wave-1 (r1u02): the ports of r1u02 left out"),
        "{out}"
    );
    assert!(
        out.contains("failed  r1u03/wait"),
        "r1u03's wave ran after r1u02 failed: {out}"
    );
    // Spent: two nodes failed, so wave 2's batch and wave 3 did not run, and say why.
    assert!(
        out.contains(
            "skipped tor1/wave-2: skipped: r1u03/wait failed (2 node(s) failed, more than the failure budget of 1)"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "skipped r1u05/wait: skipped: r1u03/wait failed (2 node(s) failed, more than the failure budget of 1)"
        ),
        "{out}"
    );
    // A batch behind a step that was itself skipped says so, not that it failed.
    assert!(
        out.contains("skipped tor1/wave-3: skipped: r1u05/wait did not run"),
        "{out}"
    );
    let stats = f.stats().await;
    let resets = |n: &str| stats["nodes"][n]["resets"].as_u64().unwrap();
    assert_eq!(
        (
            resets("r1u01"),
            resets("r1u02"),
            resets("r1u03"),
            resets("r1u04"),
            resets("r1u05")
        ),
        (1, 1, 1, 1, 0),
        "{stats}"
    );
    // The partial batch is not journaled as done: a resume would run it whole.
    let (runs, succeeded) = f.runs_and_successes().await;
    assert_eq!(runs.len(), 1);
    assert!(!succeeded.contains_key("tor1/wave-1"), "{succeeded:?}");
    // The next plan: r1u01 is done, ports and all; what was left out or skipped remains, and the
    // left-out ports are not taken for out-of-band changes.
    let p = f.run(&["plan", ex]);
    let plan = text(&p);
    assert!(!plan.contains("r1u01:"), "{plan}");
    assert!(plan.contains("r1u05: 1 reboot"), "{plan}");
    assert!(plan.contains("r1u02: VLAN 1→100 on tor1"), "{plan}");
    assert!(!plan.contains("changed out of band"), "{plan}");
    f.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bonded_ports_become_one_port_channel_carrying_the_profile_networks() {
    let f = fleet(2, Duration::from_millis(100)).await;
    let dir = f.dir.path().join("bonds");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(
        dir.join("main.tf"),
        r#"
variable "lab_manifest" { type = string }
locals {
  lab   = jsondecode(file(var.lab_manifest))
  nodes = { for n in local.lab.nodes : n.name => n }
}
provider "baremetal" { ca_cert = local.lab.ca_cert }
resource "baremetal_switch" "tor1" {
  name            = "tor1"
  driver          = local.lab.switches[0].driver
  address         = local.lab.switches[0].address
  username        = local.lab.switches[0].username
  password        = local.lab.switches[0].password
  enable_password = local.lab.switches[0].enable_password
}
resource "baremetal_network" "prod" {
  name    = "prod"
  vlan_id = 100
}
resource "baremetal_network" "storage" {
  name    = "storage"
  vlan_id = 200
}
resource "baremetal_profile" "bonded" {
  name = "bonded"
  network_connection {
    networks  = [baremetal_network.prod.name, baremetal_network.storage.name]
    bond_mode = "lacp"
  }
}
resource "baremetal_node" "n" {
  for_each  = local.nodes
  name      = each.key
  bmc_url   = each.value.bmc_url
  system_id = each.value.system_id
  username  = each.value.username
  password  = each.value.password
  profile   = baremetal_profile.bonded.name
  dynamic "port" {
    for_each = each.value.switch_ports
    content {
      switch = baremetal_switch.tor1.name
      port   = port.value
      bond   = "bond0"
    }
  }
}
"#,
    )
    .unwrap();
    let d = dir.to_str().unwrap();
    let p = f.run(&["plan", d, "-detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(2), "{}", text(&p));
    assert!(text(&p).contains("port-channel 1 (Lacp)"), "{}", text(&p));
    let a = f.run(&["apply", d, "-auto-approve"]);
    assert!(a.status.success(), "{}", text(&a));
    {
        let sw = f.lab.fleet.switch("tor1").unwrap();
        let st = sw.lock().unwrap();
        // r1u01 on Gi0/1+Gi0/2 → Port-channel1, r1u02 on Gi0/3+Gi0/4 → Port-channel3.
        for (members, po) in [([1, 2], 1), ([3, 4], 3)] {
            for m in members {
                let port = &st.ports[&format!("GigabitEthernet0/{m}")];
                assert_eq!(
                    port.channel_group.map(|g| g.0),
                    Some(po),
                    "Gi0/{m} in port-channel {po}"
                );
            }
            let pc = &st.ports[&format!("Port-channel{po}")];
            assert_eq!(pc.native_vlan, 100, "Port-channel{po}");
            assert!(
                pc.trunk_allowed.as_ref().is_some_and(|a| a.contains(&200)),
                "Port-channel{po}"
            );
        }
    }
    // No reset for a network-only profile, and the next plan has nothing to do.
    assert_eq!(f.resets().await, vec![0, 0]);
    let p = f.run(&["plan", d, "-detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));

    // `static` is refused at its line, naming both things it could mean; nothing is planned.
    let tf = std::fs::read_to_string(dir.join("main.tf")).unwrap();
    std::fs::write(dir.join("main.tf"), tf.replace("\"lacp\"", "\"static\"")).unwrap();
    let p = f.run(&["plan", d]);
    assert_eq!(p.status.code(), Some(1), "{}", text(&p));
    assert!(text(&p).contains("main.tf:28:5"), "{}", text(&p));
    assert!(text(&p).contains("\"active-backup\" (independent switch ports, one active link) or \"balance-xor\" (a static port-channel)"), "{}", text(&p));

    // Active-backup: the host fails over by itself, so the switch ports leave their
    // port-channels and each carries the bond's networks on its own.
    std::fs::write(
        dir.join("main.tf"),
        tf.replace("\"lacp\"", "\"active-backup\""),
    )
    .unwrap();
    let p = f.run(&["plan", d, "-detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(2), "{}", text(&p));
    // Both sides in the plan: the switch port's networks and the host's bond.
    assert!(
        text(&p).contains("native 100, host bond bond0 active-backup on tor1 Gi0/1"),
        "{}",
        text(&p)
    );
    let a = f.run(&["apply", d, "-auto-approve"]);
    assert!(a.status.success(), "{}", text(&a));
    {
        let sw = f.lab.fleet.switch("tor1").unwrap();
        let st = sw.lock().unwrap();
        for m in 1..=4 {
            let port = &st.ports[&format!("GigabitEthernet0/{m}")];
            assert_eq!(port.channel_group, None, "Gi0/{m} is an independent port");
            assert_eq!(port.native_vlan, 100, "Gi0/{m}");
            assert!(
                port.trunk_allowed
                    .as_ref()
                    .is_some_and(|a| a.contains(&200)),
                "Gi0/{m} carries storage"
            );
        }
        assert!(!st.ports.contains_key("Port-channel1"), "released");
    }
    let p = f.run(&["plan", d, "-detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
}

/// Destroy edges on a live switch: moving the network to another VLAN moves the ports with the
/// nodes' waves, then deletes the old VLAN in a last wave of its own; a node removed from the
/// configuration gets its ports back on the default VLAN. Both then plan as "No changes".
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn within_the_failure_budget_a_removed_vlan_waits_for_the_node_whose_ports_still_use_it() {
    let f = fleet(2, Duration::from_millis(100)).await;
    let ex = example();
    let ex = ex.to_str().unwrap();
    let a = f.run(&["apply", ex, "-auto-approve"]);
    assert!(a.status.success(), "{}", text(&a));
    // prod moves from VLAN 100 to 200 (VLAN 100 is then released), while r1u02 needs a reset
    // (a value changed out of band) and will fail its wait.
    f.out_of_band(1, "ProcTurboMode", "Enabled").await;
    f.set_health("r1u02", "Critical").await;
    let a = f.run(&[
        "apply",
        ex,
        "-var",
        "prod_vlan=200",
        "-auto-approve",
        "--max-parallel",
        "1",
        "--max-failures",
        "1",
    ]);
    let out = text(&a);
    assert_eq!(a.status.code(), Some(1), "{out}");
    assert!(out.contains("failed  r1u02/wait"), "{out}");
    assert!(
        out.contains(
            "skipped tor1/release: skipped: 1 node(s) are not done in this run; what removed resources left on the switch is released once every node is"
        ),
        "{out}"
    );
    {
        let sw = f.lab.fleet.switch("tor1").unwrap();
        let st = sw.lock().unwrap();
        assert!(st.vlans.contains_key(&100), "VLAN 100 kept: {:?}", st.vlans);
        for (i, vlan) in [(1, 200), (2, 200), (3, 100), (4, 100)] {
            assert_eq!(
                st.ports[&format!("GigabitEthernet0/{i}")].access_vlan,
                vlan,
                "Gi0/{i}"
            );
        }
    }
    f.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_removed_vlan_is_deleted_after_its_ports_moved_and_a_removed_node_releases_its_ports() {
    let f = fleet(2, Duration::from_millis(100)).await;
    let ex = example();
    let ex = ex.to_str().unwrap();
    let a = f.run(&["apply", ex, "-auto-approve"]);
    assert!(a.status.success(), "{}", text(&a));

    let p = f.run(&["plan", ex, "-var", "prod_vlan=200", "-detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(2), "{}", text(&p));
    let out = text(&p);
    assert!(out.contains("create VLAN 200 (prod)"), "{out}");
    assert!(
        out.contains("Wave 2/2 (removed resources: 0 nodes)")
            && out.contains("- switch tor1: one batch of 1 changes after every other wave")
            && out.contains("delete VLAN 100"),
        "{out}"
    );
    let a = f.run(&["apply", ex, "-var", "prod_vlan=200", "-auto-approve"]);
    assert!(a.status.success(), "{}", text(&a));
    {
        let sw = f.lab.fleet.switch("tor1").unwrap();
        let st = sw.lock().unwrap();
        assert!(!st.vlans.contains_key(&100), "{:?}", st.vlans);
        assert_eq!(st.vlans.get(&200).map(String::as_str), Some("prod"));
        for i in 1..=4 {
            assert_eq!(st.ports[&format!("GigabitEthernet0/{i}")].access_vlan, 200);
        }
        // The VLAN went after the ports left it.
        let vlan_gone = st.log.iter().position(|l| l == "no vlan 100").unwrap();
        let last_move = st
            .log
            .iter()
            .rposition(|l| l.contains("switchport access vlan 200"))
            .unwrap();
        assert!(last_move < vlan_gone, "{:?}", st.log);
    }
    let p = f.run(&["plan", ex, "-var", "prod_vlan=200", "-detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));

    // r1u02 leaves the configuration (a manifest without it): its ports go back to VLAN 1.
    let mut m: Value =
        serde_json::from_str(&std::fs::read_to_string(&f.manifest).unwrap()).unwrap();
    let kept: Vec<Value> = m["nodes"].as_array().unwrap()[..1].to_vec();
    m["nodes"] = Value::Array(kept);
    let smaller = f.dir.path().join("one-node.json");
    std::fs::write(&smaller, m.to_string()).unwrap();
    let with = |args: &[&str]| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_bmplan"));
        c.args(args)
            .args(["-var", "prod_vlan=200", "-var"])
            .arg(format!("lab_manifest={}", smaller.display()))
            .env("BAREMETAL_INVENTORY", &f.inventory)
            .stdin(Stdio::null());
        c.output().unwrap()
    };
    let p = with(&["plan", ex, "-detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(2), "{}", text(&p));
    assert!(
        text(&p).contains("GigabitEthernet0/3: access VLAN 1"),
        "{}",
        text(&p)
    );
    assert!(!text(&p).contains("delete VLAN 200"), "{}", text(&p));
    let a = with(&["apply", ex, "-auto-approve"]);
    assert!(a.status.success(), "{}", text(&a));
    {
        let sw = f.lab.fleet.switch("tor1").unwrap();
        let st = sw.lock().unwrap();
        for (i, vlan) in [(1, 200), (2, 200), (3, 1), (4, 1)] {
            assert_eq!(
                st.ports[&format!("GigabitEthernet0/{i}")].access_vlan,
                vlan,
                "Gi0/{i}"
            );
        }
        assert!(st.vlans.contains_key(&200));
    }
    let p = with(&["plan", ex, "-detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    f.lab.shutdown().await;
}

/// Work already staged for the next reset (a volume creation and a firmware update the profile
/// wants, staged through plain Redfish) is read from the BMC's pending tasks: the plan shows it as
/// pending and does not stage it again, and the apply's one reset applies it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn work_staged_for_the_next_reset_is_pending_and_not_staged_again() {
    use planner::bmc::{ApplyTime, Endpoint, TlsTrust, VolumeSpec};
    let f = fleet(2, Duration::from_millis(100)).await;
    let ex = example();
    let ex = ex.to_str().unwrap();
    let m = f.lab.manifest();
    let n = &m.nodes[0];
    let bmc = open_bmc(Endpoint::new(
        n.bmc_url.clone(),
        n.username.clone(),
        n.password.clone(),
        TlsTrust::CaBundle(m.ca_cert.clone().unwrap().into()),
    ))
    .unwrap();
    let storage = bmc.storage(&n.system_id).await.unwrap();
    let busy: Vec<&String> = storage.volumes.iter().flat_map(|v| &v.drives).collect();
    let free = storage
        .drives
        .iter()
        .map(|d| d.id.clone())
        .rfind(|d| !busy.contains(&d))
        .expect("a free drive");
    bmc.create_volume(
        &n.system_id,
        &VolumeSpec {
            name: "data".into(),
            raid: "RAID0".into(),
            drives: vec![free],
            capacity_bytes: None,
        },
        ApplyTime::OnReset,
    )
    .await
    .unwrap();
    bmc.update_firmware(
        "http://images.lab.invalid/bios-9.9.9.bin",
        &["/redfish/v1/UpdateService/FirmwareInventory/BIOS".to_string()],
        ApplyTime::OnReset,
    )
    .await
    .unwrap();
    bmc.logout().await;

    let p = f.run(&["plan", ex]);
    let out = text(&p);
    assert!(
        out.contains("raid.data: (none) → \"RAID0\" (pending)"),
        "{out}"
    );
    assert!(
        out.contains("firmware.BIOS:") && out.contains("\"9.9.9\" (pending)"),
        "{out}"
    );
    let j = f.run(&["plan", ex, "--json"]);
    let plan: Value = serde_json::from_slice(&j.stdout).unwrap();
    let steps = plan["plan"]["steps"].as_array().unwrap();
    let step = |id: &str| steps.iter().find(|s| s["id"] == id);
    assert!(step("r1u01/stage-firmware").is_none(), "{}", plan["plan"]);
    assert!(step("r1u02/stage-firmware").is_some());
    let created = |id: &str| -> Vec<String> {
        step(id)
            .and_then(|s| s["action"]["volumes"].as_array())
            .map(|a| {
                a.iter()
                    .map(|v| v["name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    // r1u02 creates "data"; r1u01 has it staged already (the lab's factory state may hold "OS").
    assert!(
        created("r1u02/create-volumes").contains(&"data".to_string()),
        "{}",
        step("r1u02/create-volumes").unwrap()
    );
    assert!(!created("r1u01/create-volumes").contains(&"data".to_string()));

    let a = f.run(&["apply", ex, "-auto-approve"]);
    assert!(a.status.success(), "{}", text(&a));
    assert_eq!(f.resets().await, vec![1, 1]);
    let p = f.run(&["plan", ex, "-detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    f.lab.shutdown().await;
}

/// `kill -9` at 20 points spread over an apply's life (from a seeded draw, the same in every run):
/// each time, on a fresh lab, the killed apply is resumed and converges, every node is reset exactly
/// once, and the journal has one run whose steps each succeeded once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn applies_killed_at_twenty_points_each_resume_to_one_reset_per_node() {
    // How long an apply runs when nothing kills it.
    let whole = {
        let f = fleet(4, Duration::from_millis(300)).await;
        let started = std::time::Instant::now();
        let a = f.run(&["apply", example().to_str().unwrap(), "-auto-approve"]);
        assert!(a.status.success(), "{}", text(&a));
        let t = started.elapsed();
        f.lab.shutdown().await;
        t
    };
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut landed = Vec::new();
    let mut resumed = 0;
    for trial in 0..20 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        // Anywhere from the first instant to the end of an uninterrupted run.
        let at = whole.mul_f64((seed % 1000) as f64 / 1000.0);
        let f = fleet(4, Duration::from_millis(300)).await;
        let ex = example();
        let ex = ex.to_str().unwrap();
        let mut child = f
            .cmd(&["apply", ex, "-auto-approve"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        tokio::time::sleep(at).await;
        let finished_first = child.try_wait().unwrap().is_some();
        child.kill().unwrap();
        child.wait().unwrap();
        landed.push(format!("{:.2}", at.as_secs_f64()));

        let a = f.run(&["apply", ex, "-auto-approve", "--reset-grace", "2s"]);
        assert!(
            a.status.success(),
            "trial {trial} (kill at {at:?}): {}",
            text(&a)
        );
        if text(&a).contains("resuming run") {
            resumed += 1;
        }
        assert_eq!(
            f.resets().await,
            vec![1; 4],
            "trial {trial} (kill at {at:?}, first run finished: {finished_first})"
        );
        let p = f.run(&["plan", ex, "-detailed-exitcode"]);
        assert_eq!(p.status.code(), Some(0), "trial {trial}: {}", text(&p));
        let (runs, succeeded) = f.runs_and_successes().await;
        assert_eq!(
            runs.len(),
            1,
            "trial {trial}: the resume continued the killed run"
        );
        assert!(
            succeeded.values().all(|c| *c == 1),
            "trial {trial}: {succeeded:?}"
        );
        f.lab.shutdown().await;
    }
    eprintln!(
        "an apply takes {whole:?}; killed at {} s; {resumed} of 20 resumes continued a run the kill interrupted",
        landed.join(", ")
    );
    // Most kills land inside a run (the others before its plan was recorded, or after it ended).
    assert!(resumed >= 10, "only {resumed} kills interrupted a run");
}

/// Two `bmplan apply` at once against one inventory (PostgreSQL, and a SQLite file), on nodes that
/// are only in the configuration (not enrolled): each BMC is leased by address, so no server is
/// worked on by both (every node is reset exactly once), and the loser of a node says who holds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_applies_at_once_never_work_on_one_server_and_the_loser_says_who_holds_it() {
    for db in common::backends().await {
        let f = fleet(4, Duration::from_millis(1000)).await;
        let ex = example();
        let ex = ex.to_str().unwrap();
        let spawn = || {
            f.cmd(&["apply", ex, "-auto-approve"])
                .env("BAREMETAL_INVENTORY", &db.url)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(), spawn());
        let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
        let both = format!("{}\n{}", text(&a), text(&b));
        assert!(
            !(a.status.success() && b.status.success()),
            "{}: both applies claim every node:\n{both}",
            db.backend
        );
        assert!(
            both.contains("is leased by") && both.contains("for apply until"),
            "{}: the loser does not say who holds the node:\n{both}",
            db.backend
        );
        assert!(
            f.resets().await.iter().all(|r| *r <= 1),
            "{}: a server was reset by both: {:?}",
            db.backend,
            f.resets().await
        );
        // A third apply finishes what the losers left; still one reset per node.
        let c = f
            .cmd(&["apply", ex, "-auto-approve"])
            .env("BAREMETAL_INVENTORY", &db.url)
            .output()
            .unwrap();
        assert!(c.status.success(), "{}: {}", db.backend, text(&c));
        assert_eq!(f.resets().await, vec![1; 4], "{}", db.backend);
        // Each lease refused to the loser is in the audit log, naming who held it.
        let inv =
            planner::inventory::Inventory::open(&db.url, planner::project::Actor::admin("t"), None)
                .await
                .unwrap();
        let refused: Vec<_> = inv
            .audit_log(&planner::inventory::AuditFilter {
                outcome: Some("denied".into()),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.action == "lease.acquire")
            .collect();
        assert!(!refused.is_empty(), "{}: no refusal audited", db.backend);
        assert!(
            refused.iter().all(|e| e
                .detail
                .as_deref()
                .is_some_and(|d| d.contains("is leased by"))),
            "{}: {refused:#?}",
            db.backend
        );
        f.lab.shutdown().await;
    }
}

/// Switch failures in an apply: a command the switch rejects, then a session dropped mid-batch. The
/// apply fails that batch and says which command and what is known of the switch; the next plan reads
/// the switch again and plans what is missing, and the next apply converges without resetting a node
/// again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rejected_command_and_a_dropped_session_fail_the_batch_clearly_and_the_next_run_finishes()
{
    let f = fleet(2, Duration::from_millis(100)).await;
    let ex = example();
    let ex = ex.to_str().unwrap();
    let faults = |reject: Option<&str>, drop_after: Option<u32>| {
        let sw = f.lab.fleet.switch("tor1").unwrap();
        let mut st = sw.lock().unwrap();
        st.faults.reject = reject.map(String::from);
        st.faults.drop_after = drop_after;
    };

    faults(Some("switchport access vlan 100"), None);
    let a = f.run(&["apply", ex, "-auto-approve"]);
    let out = text(&a);
    assert_eq!(a.status.code(), Some(1), "{out}");
    assert!(
        out.contains("failed  tor1/wave-1")
            && out.contains("command \"switchport access vlan 100\" was rejected"),
        "{out}"
    );
    faults(None, None);
    let p = f.run(&["plan", ex, "-detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(2), "{}", text(&p));
    assert!(text(&p).contains("access VLAN 100"), "{}", text(&p));
    assert!(!text(&p).contains("1 reboot"), "{}", text(&p));
    let a = f.run(&["apply", ex, "-auto-approve"]);
    assert!(a.status.success(), "{}", text(&a));

    // The network moves to VLAN 200; the session drops a few commands into the batch.
    faults(None, Some(3));
    let a = f.run(&["apply", ex, "-var", "prod_vlan=200", "-auto-approve"]);
    let out = text(&a);
    assert_eq!(a.status.code(), Some(1), "{out}");
    assert!(
        out.contains("the session closed during")
            && out.contains("whether that one was is unknown")
            && out.contains("the next plan reads the switch again"),
        "{out}"
    );
    faults(None, None);
    let a = f.run(&["apply", ex, "-var", "prod_vlan=200", "-auto-approve"]);
    assert!(a.status.success(), "{}", text(&a));
    let p = f.run(&["plan", ex, "-var", "prod_vlan=200", "-detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    {
        let sw = f.lab.fleet.switch("tor1").unwrap();
        let st = sw.lock().unwrap();
        for i in 1..=4 {
            assert_eq!(st.ports[&format!("GigabitEthernet0/{i}")].access_vlan, 200);
        }
        assert!(!st.vlans.contains_key(&100));
    }
    assert_eq!(f.resets().await, vec![1, 1]);
    f.lab.shutdown().await;
}

/// A Redfish client through the one BMC factory.
fn open_bmc(
    ep: planner::bmc::Endpoint,
) -> Result<Box<dyn planner::bmc::Bmc>, planner::bmc::BmcError> {
    planner::bmc::open(ep, planner::bmc::Purpose::Change)
}
