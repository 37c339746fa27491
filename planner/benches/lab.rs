//! Lab throughput and memory at fleet scale: starts `bmplan lab` as a separate process, loads every
//! simulated BMC with concurrent Redfish GETs, and prints requests per second and the lab's RSS.
//!
//!     cargo bench -p planner --bench lab -- [--nodes 1000] [--seconds 10] [--concurrency 64] [--runs 3] [--tls]
//!
//! The load generator runs on the same machine as the lab, so on 2 cores the two compete for CPU:
//! the figure is a floor for what the lab serves, not a ceiling.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Args {
    nodes: usize,
    seconds: u64,
    concurrency: usize,
    runs: usize,
    tls: bool,
}

fn args() -> Args {
    let mut a = Args {
        nodes: 1000,
        seconds: 10,
        concurrency: 64,
        runs: 3,
        tls: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().unwrap_or_else(|| panic!("{name} needs a value"));
        match flag.as_str() {
            "--nodes" => a.nodes = value("--nodes").parse().expect("--nodes N"),
            "--seconds" => a.seconds = value("--seconds").parse().expect("--seconds S"),
            "--concurrency" => {
                a.concurrency = value("--concurrency").parse().expect("--concurrency C")
            }
            "--runs" => a.runs = value("--runs").parse().expect("--runs R"),
            "--tls" => a.tls = true,
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// Resident set size and its peak, in MiB, from /proc.
fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(f64::NAN)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

struct LabProcess {
    child: Child,
    manifest: serde_json::Value,
    startup: Duration,
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_lab(bin: &Path, dir: &Path, nodes: usize, tls: bool) -> LabProcess {
    let manifest_path = dir.join("lab.json");
    let _ = std::fs::remove_file(&manifest_path);
    let mut cmd = Command::new(bin);
    cmd.args([
        "lab",
        "--nodes",
        &nodes.to_string(),
        "--switches",
        "4",
        "--manifest",
    ])
    .arg(&manifest_path);
    if tls {
        cmd.arg("--tls");
    }
    let started = Instant::now();
    let child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn bmplan lab");
    while !manifest_path.exists() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "lab did not start"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let startup = started.elapsed();
    let manifest = serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    LabProcess {
        child,
        manifest,
        startup,
    }
}

struct Target {
    url: String,
    user: String,
    pass: String,
}

struct RunResult {
    rps: f64,
    requests: u64,
    errors: u64,
    p50_ms: f64,
    p99_ms: f64,
}

async fn load(
    targets: Arc<Vec<Target>>,
    ca: Option<PathBuf>,
    concurrency: usize,
    seconds: u64,
) -> RunResult {
    let mut builder = reqwest::Client::builder()
        .pool_max_idle_per_host(4)
        .timeout(Duration::from_secs(10));
    if let Some(ca) = ca {
        let pem = std::fs::read(ca).unwrap();
        builder = builder
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
    }
    let client = builder.build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    let started = Instant::now();
    for _ in 0..concurrency {
        let (client, targets, stop, next, errors) = (
            client.clone(),
            targets.clone(),
            stop.clone(),
            next.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize % targets.len();
                let t = &targets[i];
                let t0 = Instant::now();
                let ok = match client
                    .get(&t.url)
                    .basic_auth(&t.user, Some(&t.pass))
                    .send()
                    .await
                {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    latencies.push(t0.elapsed().as_secs_f64() * 1000.0);
                } else {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            latencies
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| {
        all.get(((all.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    RunResult {
        rps: all.len() as f64 / elapsed,
        requests: all.len() as u64,
        errors: errors.load(Ordering::Relaxed),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let a = args();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_bmplan"));
    let dir = std::env::temp_dir().join(format!("bmplan-lab-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scheme = if a.tls {
        "HTTPS (keep-alive)"
    } else {
        "plain HTTP (keep-alive)"
    };
    println!(
        "lab benchmark: {} nodes, {scheme}, {} concurrent clients, {} s per run, {} runs ({} cores)",
        a.nodes,
        a.concurrency,
        a.seconds,
        a.runs,
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    let lab = start_lab(&bin, &dir, a.nodes, a.tls);
    let pid = lab.child.id();
    std::thread::sleep(Duration::from_millis(300));
    let (idle_rss, _) = rss_mib(pid);
    println!(
        "  startup {:.2} s; idle RSS {:.1} MiB",
        lab.startup.as_secs_f64(),
        idle_rss
    );
    let nodes = lab.manifest["nodes"].as_array().unwrap();
    let targets: Arc<Vec<Target>> = Arc::new(
        nodes
            .iter()
            .map(|n| Target {
                url: format!(
                    "{}/redfish/v1/Systems/{}",
                    n["bmc_url"].as_str().unwrap(),
                    n["system_id"].as_str().unwrap()
                ),
                user: n["username"].as_str().unwrap().into(),
                pass: n["password"].as_str().unwrap().into(),
            })
            .collect(),
    );
    let ca = lab.manifest["ca_cert"].as_str().map(PathBuf::from);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rates = Vec::new();
    for run in 1..=a.runs {
        let r = rt.block_on(load(targets.clone(), ca.clone(), a.concurrency, a.seconds));
        println!(
            "  run {run}: GET /redfish/v1/Systems/{{id}} {:>8.0} req/s ({} requests, {} errors), p50 {:.2} ms, p99 {:.2} ms",
            r.rps, r.requests, r.errors, r.p50_ms, r.p99_ms
        );
        rates.push(r.rps);
    }
    let (rss, peak) = rss_mib(pid);
    let med = median(rates);
    println!(
        "  median {med:.0} req/s across {} runs; target: thousands of requests per second",
        a.runs
    );
    println!(
        "  lab RSS after load {rss:.1} MiB, peak {peak:.1} MiB; budget 500 MiB: {:.2}x of budget",
        peak / 500.0
    );
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
}
