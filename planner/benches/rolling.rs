//! Rolling apply: one BIOS change on a fleet of lab nodes with `max_parallel` 50, against the ideal
//! (the waves the plan makes × one node's chain of steps, measured on one node in the same run), and
//! the resets per node (each must be 1).
//!
//!     cargo bench -p planner --bench rolling -- [--nodes 200] [--max-parallel 50] [--power-delay-ms 2000] [--latency-ms 20]
//!
//! The lab runs as its own process on the same 2 cores. Waves hold at most `max_parallel` nodes of
//! one failure domain (a rack of 40 in the lab), so 200 nodes make 5 waves even at 50.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct LabProcess(Child);

impl Drop for LabProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn flag(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name} N")))
        .unwrap_or(default)
}

const CONFIG: &str = r#"
variable "lab_manifest" { type = string }
variable "max_parallel" { type = number }
locals {
  lab   = jsondecode(file(var.lab_manifest))
  nodes = { for n in local.lab.nodes : n.name => n }
}
provider "baremetal" {
  ca_cert      = local.lab.ca_cert
  max_parallel = var.max_parallel
}
resource "baremetal_profile" "turbo_off" {
  name = "turbo-off"
  bios = { ProcTurboMode = "Disabled" }
}
resource "baremetal_node" "n" {
  for_each  = local.nodes
  name      = each.key
  bmc_url   = each.value.bmc_url
  system_id = each.value.system_id
  username  = each.value.username
  password  = each.value.password
  rack      = each.value.rack
  profile   = baremetal_profile.turbo_off.name
}
"#;

fn apply(
    bin: &Path,
    dir: &Path,
    manifest: &Path,
    max_parallel: u64,
    inventory: &str,
) -> (f64, String) {
    let started = Instant::now();
    let out = Command::new(bin)
        .arg("apply")
        .arg(dir)
        .arg("-var")
        .arg(format!("lab_manifest={}", manifest.display()))
        .arg("-var")
        .arg(format!("max_parallel={max_parallel}"))
        .arg("-auto-approve")
        .env("BAREMETAL_INVENTORY", inventory)
        .env("NO_COLOR", "1")
        .output()
        .expect("bmplan apply runs");
    let took = started.elapsed().as_secs_f64();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bmplan apply failed:\n{text}");
    (took, text)
}

fn main() {
    let nodes = flag("--nodes", 200);
    let max_parallel = flag("--max-parallel", 50);
    let power_delay = flag("--power-delay-ms", 2000);
    let latency = flag("--latency-ms", 20);
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_bmplan"));
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("lab.json");
    let _lab = LabProcess(
        Command::new(&bin)
            .args(["lab", "--tls", "--nodes", &nodes.to_string()])
            .args(["--latency-ms", &latency.to_string()])
            .args(["--power-delay-ms", &power_delay.to_string()])
            .arg("--manifest")
            .arg(&manifest)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("bmplan lab starts"),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    while !manifest.exists() {
        assert!(Instant::now() < deadline, "the lab did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let control = m["control_url"].as_str().unwrap().to_string();
    let config = dir.path().join("config");
    std::fs::create_dir(&config).unwrap();
    std::fs::write(config.join("main.tf"), CONFIG).unwrap();
    let inventory = format!("sqlite://{}", dir.path().join("inv.db").display());

    // One node's chain: the same change on the first node alone.
    let mut one = m.clone();
    one["nodes"] = serde_json::json!([m["nodes"][0].clone()]);
    let one_path = dir.path().join("one.json");
    std::fs::write(&one_path, one.to_string()).unwrap();
    let (chain, _) = apply(&bin, &config, &one_path, max_parallel, &inventory);

    // The fleet (the first node is already done).
    let (wall, out) = apply(&bin, &config, &manifest, max_parallel, &inventory);
    let waves = out
        .matches("apply: wave ")
        .count()
        .max(out.lines().filter(|l| l.starts_with("Wave ")).count());
    let stats: serde_json::Value = serde_json::from_str(
        &Command::new("curl")
            .args(["-s", &format!("{control}/stats")])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
            .unwrap_or_default(),
    )
    .unwrap_or_default();
    let resets: Vec<u64> = stats["nodes"]
        .as_object()
        .map(|o| o.values().filter_map(|n| n["resets"].as_u64()).collect())
        .unwrap_or_default();
    let once = resets.iter().filter(|r| **r == 1).count();
    let ideal = waves as f64 * chain;
    println!(
        "rolling apply: ProcTurboMode on {nodes} lab nodes, max_parallel {max_parallel}, {power_delay} ms power transitions, {latency} ms per Redfish request"
    );
    println!("  one node's chain (apply of 1 node): {chain:.2} s");
    println!(
        "  fleet ({} nodes left): {wall:.2} s in {waves} waves; ideal {waves} x {chain:.2} s = {ideal:.2} s; ratio {:.2}",
        nodes - 1,
        wall / ideal
    );
    println!(
        "  resets per node: {once} of {} nodes reset exactly once (max {})",
        resets.len(),
        resets.iter().max().copied().unwrap_or(0)
    );
}
