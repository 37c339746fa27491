//! Fleet plan: `bmplan plan examples/lab` over a lab of N nodes with a fixed latency added to every
//! Redfish request, against two baselines measured in the same run:
//!
//! - the critical-path limit: the same plan for one node (its chain of dependent requests × latency,
//!   plus process start and TLS), the best any concurrency can do;
//! - a concurrency of 10 (Terraform's default parallelism).
//!
//!     cargo bench -p planner --bench plan -- [--nodes 1000] [--latency-ms 50] [--runs 3] [--baseline-runs 1]
//!
//! The lab runs as a separate process on the same 2 cores, so lab and planner compete for CPU.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Args {
    nodes: usize,
    latency_ms: u64,
    runs: usize,
    baseline_runs: usize,
    concurrency: usize,
}

fn args() -> Args {
    let mut a = Args {
        nodes: 1000,
        latency_ms: 50,
        runs: 3,
        baseline_runs: 1,
        concurrency: planner::observe::DEFAULT_CONCURRENCY,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().unwrap_or_else(|| panic!("{name} needs a value"));
        match flag.as_str() {
            "--nodes" => a.nodes = value("--nodes").parse().expect("--nodes N"),
            "--latency-ms" => a.latency_ms = value("--latency-ms").parse().expect("--latency-ms L"),
            "--runs" => a.runs = value("--runs").parse().expect("--runs R"),
            "--baseline-runs" => a.baseline_runs = value("--baseline-runs").parse().expect("N"),
            "--concurrency" => a.concurrency = value("--concurrency").parse().expect("C"),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

struct LabProcess(Child);

impl Drop for LabProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_lab(bin: &Path, dir: &Path, nodes: usize, latency_ms: u64) -> (LabProcess, PathBuf) {
    let manifest = dir.join("lab.json");
    let child = Command::new(bin)
        .args(["lab", "--tls", "--nodes", &nodes.to_string()])
        .args(["--latency-ms", &latency_ms.to_string(), "--manifest"])
        .arg(&manifest)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starting bmplan lab");
    let deadline = Instant::now() + Duration::from_secs(120);
    while !manifest.exists() {
        assert!(Instant::now() < deadline, "the lab did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    (LabProcess(child), manifest)
}

struct Sample {
    wall: f64,
    observe: f64,
    peak_mib: f64,
}

fn plan_once(bin: &Path, manifest: &Path, inventory: &str, concurrency: usize) -> Sample {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/lab");
    let started = Instant::now();
    let out = Command::new(bin)
        .args(["plan"])
        .arg(&example)
        .arg("-var")
        .arg(format!("lab_manifest={}", manifest.display()))
        .args(["--concurrency", &concurrency.to_string()])
        .env("BAREMETAL_INVENTORY", inventory)
        .env("BMPLAN_REPORT_PEAK_RSS", "1")
        .output()
        .expect("running bmplan plan");
    let wall = started.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !stdout.contains("unreachable"),
        "bmplan plan failed:\n{stdout}\n{stderr}"
    );
    let observe = stdout
        .split("observed in ")
        .nth(1)
        .and_then(|s| s.split('s').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN);
    let peak_mib = stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak-rss-kib "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|k| k / 1024.0)
        .unwrap_or(f64::NAN);
    Sample {
        wall,
        observe,
        peak_mib,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn measure(
    bin: &Path,
    manifest: &Path,
    inventory: &str,
    concurrency: usize,
    runs: usize,
) -> (f64, f64, f64) {
    let samples: Vec<Sample> = (0..runs.max(1))
        .map(|_| plan_once(bin, manifest, inventory, concurrency))
        .collect();
    (
        median(samples.iter().map(|s| s.wall).collect()),
        median(samples.iter().map(|s| s.observe).collect()),
        samples.iter().map(|s| s.peak_mib).fold(0.0, f64::max),
    )
}

fn main() {
    let a = args();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_bmplan"));
    let dir = tempfile::tempdir().unwrap();
    let inventory = format!("sqlite://{}", dir.path().join("inv.db").display());
    let (_lab, manifest) = start_lab(&bin, dir.path(), a.nodes, a.latency_ms);
    // The one-node manifest: the same lab, only its first node.
    let mut m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let first = m["nodes"][0].clone();
    m["nodes"] = serde_json::json!([first]);
    let one = dir.path().join("one.json");
    std::fs::write(&one, serde_json::to_string(&m).unwrap()).unwrap();

    println!(
        "fleet plan: {} lab nodes, {} ms per Redfish request, examples/lab (BIOS, boot, RAID, ports), median of {} runs",
        a.nodes, a.latency_ms, a.runs
    );
    let (cp_wall, cp_observe, _) = measure(&bin, &one, &inventory, 1, a.runs);
    println!("  critical path (1 node):      wall {cp_wall:6.2} s, observe {cp_observe:6.2} s");
    let (wall, observe, peak) = measure(&bin, &manifest, &inventory, a.concurrency, a.runs);
    println!(
        "  {} nodes, concurrency {:4}: wall {wall:6.2} s, observe {observe:6.2} s, peak RSS {peak:6.1} MiB",
        a.nodes, a.concurrency
    );
    let (b_wall, b_observe, b_peak) = measure(&bin, &manifest, &inventory, 10, a.baseline_runs);
    println!(
        "  {} nodes, concurrency   10: wall {b_wall:6.2} s, observe {b_observe:6.2} s, peak RSS {b_peak:6.1} MiB",
        a.nodes
    );
    println!(
        "  ratios: {:.1}x the critical-path limit (observe {:.1}x); {:.1}x faster than concurrency 10 (observe {:.1}x)",
        wall / cp_wall,
        observe / cp_observe,
        b_wall / wall,
        b_observe / observe
    );
    println!(
        "  targets: under 3 s {}, 20x faster than concurrency 10 {}, under 200 MB RSS {}",
        if wall < 3.0 { "met" } else { "NOT met" },
        if b_wall / wall >= 20.0 {
            "met"
        } else {
            "NOT met"
        },
        if peak < 200.0 { "met" } else { "NOT met" }
    );
}
