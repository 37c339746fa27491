//! A flaky fleet: 5% of BMC requests fail (503, a held-then-dropped connection, a reset connection).
//! `bmplan plan` still reads every node, with the retries in the log, and plans the same as on a
//! steady fleet. (An apply under the same faults does not converge yet: see docs/reliability.md.)
//! `BAREMETAL_FLAKY_NODES` sets the fleet size (default 1000).

mod common;

use common::text;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use lab::faults::{FaultConfig, FaultKind};
use lab::{Lab, LabConfig};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plan_reads_every_node_of_a_flaky_fleet_with_its_retries_in_the_log() {
    let nodes: usize = std::env::var("BAREMETAL_FLAKY_NODES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::start(LabConfig {
        nodes,
        switches: nodes.div_ceil(40),
        tls: true,
        faults: FaultConfig::from_rate(
            0,
            0.05,
            &[FaultKind::ServerError, FaultKind::Timeout, FaultKind::Reset],
            300,
        ),
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
            .env("BMPLAN_LOG", "planner::bmc=debug")
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
    lab.shutdown().await;
}
