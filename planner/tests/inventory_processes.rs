//! The inventory shared by several processes: `bmplan` commands run concurrently against one real
//! PostgreSQL database (and a SQLite file), and processes killed with SIGKILL in the middle of a
//! transaction.

mod common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use planner::bmc::Secret;
use planner::credentials::CredentialsKey;
use planner::flavor::Flavor;
use planner::inventory::{Inventory, NodeRegistration, NodeTls, Verification};
use planner::lifecycle::ProvisionState;
use planner::project::Actor;

async fn fleet(url: &str, nodes: usize) -> Inventory {
    let key = CredentialsKey::from_base64(&CredentialsKey::generate().unwrap(), "t").unwrap();
    let inv = Inventory::open(url, Actor::admin("setup"), Some(key))
        .await
        .unwrap();
    inv.put_project("p", None, None).await.unwrap();
    inv.put_flavor(&Flavor {
        name: "any".into(),
        ..Flavor::default()
    })
    .await
    .unwrap();
    for i in 1..=nodes {
        let name = format!("n{i:02}");
        let reg = NodeRegistration {
            name: name.clone(),
            bmc_url: format!("https://bmc-{name}.example"),
            system_id: "1".into(),
            username: "root".into(),
            password: Secret::new("pw"),
            tls: NodeTls::default(),
        };
        let hw = common::hw(
            &format!("u-{name}"),
            &name,
            "Dell Inc.",
            "x86_64",
            32,
            256.0,
        );
        inv.enroll(&reg, &Verification::Inspected(Box::new(hw)))
            .await
            .unwrap();
    }
    inv
}

fn bmplan(url: &str, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bmplan"));
    c.args(args)
        .env("BAREMETAL_INVENTORY", url)
        .env("BAREMETAL_USER", "pipeline")
        .env_remove("BAREMETAL_ROLE")
        .env_remove("BAREMETAL_PROJECT")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Starts `n` allocating processes at once and waits for all; returns (allocated nodes, capacity
/// errors, other failures).
fn allocation_storm(url: &str, run: usize, n: usize) -> (Vec<String>, usize, Vec<String>) {
    let children: Vec<Child> = (0..n)
        .map(|i| {
            let name = format!("r{run}h{i}");
            bmplan(
                url,
                &[
                    "hosts",
                    "create",
                    &name,
                    "--project",
                    "p",
                    "--flavor",
                    "any",
                    "--json",
                ],
            )
            .spawn()
            .unwrap()
        })
        .collect();
    let (mut nodes, mut capacity, mut other) = (Vec::new(), 0, Vec::new());
    for c in children {
        let out = c.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        match out.status.code() {
            Some(0) => {
                let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
                nodes.push(v["node"].as_str().unwrap().to_string());
            }
            Some(6) if stderr.contains("no capacity for flavor \"any\"") => capacity += 1,
            code => other.push(format!("exit {code:?}: {stderr}")),
        }
    }
    (nodes, capacity, other)
}

async fn clear_hosts(inv: &Inventory) {
    for h in inv.hosts(None).await.unwrap() {
        inv.delete_host(&h.project, &h.name).await.unwrap();
    }
}

#[tokio::test]
async fn fifty_processes_allocating_forty_nodes_on_postgresql_twenty_times() {
    let Some(db) = common::postgres_db().await else {
        return;
    };
    let inv = fleet(&db.url, 40).await;
    for run in 0..20 {
        clear_hosts(&inv).await;
        let (nodes, capacity, other) = allocation_storm(&db.url, run, 50);
        assert!(other.is_empty(), "run {run}: {other:#?}");
        assert_eq!((nodes.len(), capacity), (40, 10), "run {run}");
        let distinct: BTreeSet<_> = nodes.iter().collect();
        assert_eq!(distinct.len(), 40, "run {run}: a node was allocated twice");
        assert!(inv.check().await.unwrap().is_empty(), "run {run}");
    }
}

#[tokio::test]
async fn fifty_processes_allocating_forty_nodes_on_one_sqlite_file() {
    let db = common::sqlite_db();
    let inv = fleet(&db.url, 40).await;
    for run in 0..3 {
        clear_hosts(&inv).await;
        let (nodes, capacity, other) = allocation_storm(&db.url, run, 50);
        assert!(other.is_empty(), "run {run}: {other:#?}");
        assert_eq!((nodes.len(), capacity), (40, 10), "run {run}");
        assert_eq!(nodes.iter().collect::<BTreeSet<_>>().len(), 40);
    }
}

/// Runs a command with `BAREMETAL_TEST_PAUSE=point`, waits until it is frozen inside its transaction,
/// and kills it with SIGKILL.
fn kill_inside(url: &str, point: &str, args: &[&str]) {
    let mut child = bmplan(url, args)
        .env("BAREMETAL_TEST_PAUSE", point)
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match lines.next() {
            Some(Ok(l)) if l.contains(&format!("paused at {point}")) => break,
            Some(Ok(_)) => {}
            other => panic!("{args:?} ended before pausing at {point}: {other:?}"),
        }
        assert!(Instant::now() < deadline);
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn a_process_killed_inside_an_allocation_or_a_transition_leaves_the_inventory_consistent() {
    for db in common::backends().await {
        let inv = fleet(&db.url, 2).await;
        kill_inside(
            &db.url,
            "allocate",
            &[
                "hosts",
                "create",
                "web",
                "--project",
                "p",
                "--flavor",
                "any",
            ],
        );
        // Nothing of the allocation survived: no host, the node is free, and no audit entry.
        assert!(inv.hosts(None).await.unwrap().is_empty(), "{}", db.backend);
        assert!(inv.check().await.unwrap().is_empty());
        kill_inside(&db.url, "transition", &["nodes", "event", "n01", "deploy"]);
        assert_eq!(
            inv.node("n01").await.unwrap().state,
            ProvisionState::Available,
            "{}",
            db.backend
        );
        let audit = inv
            .audit_log(&planner::inventory::AuditFilter::default())
            .await
            .unwrap();
        assert!(
            audit
                .iter()
                .all(|e| e.action != "host.create" && e.action != "node.deploy"),
            "{}: an audit entry of a killed transaction survived",
            db.backend
        );
        // The same commands then run to completion.
        let out = bmplan(
            &db.url,
            &[
                "hosts",
                "create",
                "web",
                "--project",
                "p",
                "--flavor",
                "any",
            ],
        )
        .output()
        .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let out = bmplan(&db.url, &["nodes", "event", "n02", "deploy"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(inv.check().await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn processes_killed_at_random_moments_during_an_allocation_storm_leave_it_consistent() {
    for db in common::backends().await {
        let inv = fleet(&db.url, 20).await;
        let mut seed = 0x9e37_79b9_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut children: Vec<Child> = (0..30)
            .map(|i| {
                bmplan(
                    &db.url,
                    &[
                        "hosts",
                        "create",
                        &format!("h{i}"),
                        "--project",
                        "p",
                        "--flavor",
                        "any",
                    ],
                )
                .spawn()
                .unwrap()
            })
            .collect();
        // Kill a third of them, each after a random 0–300 ms.
        let start = Instant::now();
        let mut victims: Vec<(usize, Duration)> = (0..10)
            .map(|_| ((next() % 30) as usize, Duration::from_millis(next() % 300)))
            .collect();
        victims.sort_by_key(|v| v.1);
        for (i, at) in victims {
            if let Some(wait) = at.checked_sub(start.elapsed()) {
                std::thread::sleep(wait);
            }
            let _ = children[i].kill();
        }
        for c in &mut children {
            c.wait().unwrap();
        }
        assert!(
            inv.check().await.unwrap().is_empty(),
            "{}: {:?}",
            db.backend,
            inv.check().await.unwrap()
        );
        let hosts = inv.hosts(None).await.unwrap();
        let nodes: BTreeSet<_> = hosts.iter().filter_map(|h| h.node.clone()).collect();
        assert_eq!(nodes.len(), hosts.len(), "{}", db.backend);
        assert!(hosts.len() <= 20);
    }
}
