//! A flaky fleet: 5% of BMC requests fail (503, a held-then-dropped connection, a reset connection).
//! `bmplan plan` still reads every node, with the retries in the log, and plans the same as on a
//! steady fleet; `bmplan apply` converges with exactly one reset per node: staging steps read what is
//! already staged before retrying, and a reset that got no answer is sent again only when the node
//! shows no sign of it. `BAREMETAL_FLAKY_NODES` sets the fleet size (default 1000).

mod common;

use common::text;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use lab::faults::{FaultConfig, FaultKind};
use lab::{Lab, LabConfig};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn plan_and_apply_converge_on_a_flaky_fleet_with_retries_logged_and_one_reset_per_node() {
    let nodes: usize = std::env::var("BAREMETAL_FLAKY_NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let flaky = FaultConfig::from_rate(
        0,
        0.05,
        &[FaultKind::ServerError, FaultKind::Timeout, FaultKind::Reset],
        300,
    );
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::start(LabConfig {
        nodes,
        switches: nodes.div_ceil(40),
        tls: true,
        faults: flaky.clone(),
        power_delay: Duration::from_millis(50),
        task_delay: Duration::from_millis(50),
        dir: dir.path().to_path_buf(),
        ..LabConfig::default()
    })
    .await
    .unwrap();
    let manifest = dir.path().join("lab.json");
    lab.manifest().write(&manifest).unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/lab");
    let inventory = format!("sqlite://{}", dir.path().join("inv.db").display());
    let run = |args: &[&str]| -> Output {
        Command::new(env!("CARGO_BIN_EXE_bmplan"))
            .args(args)
            .arg(&example)
            .arg("-var")
            .arg(format!("lab_manifest={}", manifest.display()))
            .env("BAREMETAL_INVENTORY", &inventory)
            .env("BMPLAN_LOG", "planner::bmc=debug,planner::apply=info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };

    let p = run(&["plan", "-detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(2), "{}", text(&p));
    assert!(
        !text(&p).contains("unreachable node"),
        "retries should have absorbed 5% faults:\n{}",
        text(&p)
    );
    assert!(text(&p).contains("retrying after"), "no retry in the log");

    // Every node is planned: one reboot line per node of the fleet.
    let reboots = text(&p).matches(": 1 reboot").count();
    let stats: Value = reqwest::get(format!("{}/stats", lab.manifest().control_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // The faults really happened.
    let injected = stats["faults"]["errors"].as_u64().unwrap_or(0)
        + stats["faults"]["timeouts"].as_u64().unwrap_or(0)
        + stats["faults"]["resets"].as_u64().unwrap_or(0);
    assert!(
        injected > (nodes as u64) / 2,
        "only {injected} faults: {}",
        stats["faults"]
    );
    let retries = text(&p).matches("retrying after").count();
    eprintln!("{nodes} nodes: {injected} faults injected, {retries} retries logged, {reboots} nodes to reboot");
    assert!(
        retries as u64 >= injected / 2,
        "{retries} retries for {injected} faults"
    );
    // The same plan as a steady fleet gets: compare with a read without faults.
    lab.fleet.faults.set(FaultConfig::default());
    let steady = run(&["plan", "-detailed-exitcode"]);
    assert_eq!(steady.status.code(), Some(2), "{}", text(&steady));
    assert_eq!(
        text(&steady).matches(": 1 reboot").count(),
        reboots,
        "the flaky plan and the steady plan differ"
    );

    // Apply under the same faults. Each run plans only what is left, so a run that ends with some
    // nodes failed is simply run again.
    lab.fleet.faults.set(flaky.clone());
    let mut runs = 0;
    let mut log = String::new();
    loop {
        runs += 1;
        let a = run(&[
            "apply",
            "-auto-approve",
            "--max-parallel",
            "250",
            "--reset-grace",
            "2s",
        ]);
        log.push_str(&text(&a));
        if a.status.success() {
            break;
        }
        assert!(runs < 3, "apply did not converge in 2 runs:\n{}", text(&a));
    }
    let p = run(&["plan", "-detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    let stats: Value = reqwest::get(format!("{}/stats", lab.manifest().control_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let resets: Vec<u64> = stats["nodes"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n["resets"].as_u64().unwrap())
        .collect();
    assert_eq!(resets.len(), nodes);
    let twice = resets.iter().filter(|r| **r != 1).count();
    assert_eq!(twice, 0, "nodes not reset exactly once: {twice}");
    let unanswered = log.matches("the reset got no answer").count();
    // Some resets lost their answer and were reconciled, not blindly repeated.
    assert!(
        unanswered > 0,
        "no reset lost its answer: the test did not exercise reconciliation"
    );
    eprintln!(
        "apply: {runs} run(s), {} retries logged, {unanswered} unanswered resets reconciled, every node reset once",
        log.matches("retrying after").count()
    );
    lab.shutdown().await;
}
