//! Terraform refresh scaling: `terraform plan` (a full refresh) of `examples/lab` with 20 and with
//! 500 `baremetal_node` resources, on a lab that adds a fixed latency to every Redfish request, in the
//! same run. The fleet prefetch makes the first read observe every node at once, so the 500-node
//! refresh should cost about one round of BMC latency more than the 20-node one. Target:
//! t(500) / t(20) ≤ 3.
//!
//!     cargo bench -p terraform-provider-baremetal --bench refresh -- [--sizes 20,500] [--latency-ms 50] [--runs 3]
//!
//! Needs a Terraform CLI: `$TERRAFORM`, else `terraform` on PATH. The lab runs in this process, on
//! the same 2 cores as Terraform and the provider.
//!
//! Three configurations per size: `lab` (examples/lab as is), `literal` (the same fleet written out)
//! and `builtin`: the literal fleet's inputs held by Terraform's built-in `terraform_data`, no plugin
//! and nothing read — the floor Terraform itself sets for that many resources on this machine.

use std::path::{Path, PathBuf};
use std::time::Duration;

mod common;

use common::{median, Run};
use lab::faults::FaultConfig;
use lab::{Lab, LabConfig};

struct Args {
    sizes: Vec<usize>,
    latency_ms: u64,
    runs: usize,
    /// `lab`: examples/lab as is (nodes from the manifest with for_each); `literal`: the same fleet
    /// written out, one resource block per node, as a generated repository would hold it.
    configs: Vec<String>,
}

fn args() -> Args {
    let mut a = Args {
        sizes: vec![20, 200, 500],
        latency_ms: 50,
        runs: 3,
        configs: vec!["lab".into(), "literal".into(), "builtin".into()],
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = |name: &str| it.next().unwrap_or_else(|| panic!("{name} needs a value"));
        match flag.as_str() {
            "--sizes" => {
                a.sizes = value("--sizes")
                    .split(',')
                    .map(|s| s.parse().expect("--sizes 20,500"))
                    .collect()
            }
            "--latency-ms" => a.latency_ms = value("--latency-ms").parse().expect("--latency-ms L"),
            "--runs" => a.runs = value("--runs").parse().expect("--runs R"),
            "--configs" => a.configs = value("--configs").split(',').map(str::to_string).collect(),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    a
}

/// `examples/lab` written out for one manifest: the same switches, network and profiles, and one
/// `baremetal_node` block per node with literal values (no `for_each` over the manifest).
fn literal_config(lab_example: &str, m: &lab::manifest::Manifest) -> String {
    let head_end = lab_example
        .find("resource \"baremetal_node\" \"lab\"")
        .expect("examples/lab has its node block");
    let mut out = lab_example[..head_end].to_string();
    for n in &m.nodes {
        out.push_str(&format!(
            "resource \"baremetal_node\" \"{name}\" {{\n  name      = \"{name}\"\n  bmc_url   = \"{url}\"\n  system_id = \"{sys}\"\n  username  = \"{user}\"\n  password  = \"{pw}\"\n  rack      = \"{rack}\"\n  profile   = baremetal_profile.compute.name\n",
            name = n.name,
            url = n.bmc_url,
            sys = n.system_id,
            user = n.username,
            pw = n.password,
            rack = n.rack,
        ));
        for p in &n.switch_ports {
            out.push_str(&format!(
                "  port {{\n    switch   = \"{sw}\"\n    port     = \"{p}\"\n    networks = [baremetal_network.prod.name]\n  }}\n",
                sw = n.switch
            ));
        }
        out.push_str(&format!(
            "  depends_on = [baremetal_switch.tor[\"{}\"]]\n}}\n\n",
            n.switch
        ));
    }
    out
}

/// The literal fleet's inputs in Terraform's built-in `terraform_data`: what Terraform costs for that
/// many resources in state with no provider at all.
fn builtin_config(m: &lab::manifest::Manifest) -> String {
    let mut out = String::new();
    for n in &m.nodes {
        let ports = n
            .switch_ports
            .iter()
            .map(|p| {
                format!(
                    "{{ switch = \"{}\", port = \"{p}\", networks = [\"prod\"] }}",
                    n.switch
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        out.push_str(&format!(
            "resource \"terraform_data\" \"{name}\" {{\n  input = {{\n    name      = \"{name}\"\n    bmc_url   = \"{url}\"\n    system_id = \"{sys}\"\n    username  = \"{user}\"\n    rack      = \"{rack}\"\n    profile   = \"compute\"\n    ports     = [{ports}]\n  }}\n}}\n\n",
            name = n.name,
            url = n.bmc_url,
            sys = n.system_id,
            user = n.username,
            rack = n.rack,
        ));
    }
    out
}

fn main() {
    let a = args();
    let terraform = std::env::var("TERRAFORM").unwrap_or_else(|_| "terraform".into());
    let provider = PathBuf::from(env!("CARGO_BIN_EXE_terraform-provider-baremetal"));
    let provider_dir = provider
        .parent()
        .expect("the binary's directory")
        .to_path_buf();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    println!(
        "terraform refresh: examples/lab (profile with BIOS, boot, RAID, firmware; 2 switch ports per node), \
         {} ms per Redfish request, median of {} plans per size",
        a.latency_ms, a.runs
    );
    for config in &a.configs {
        println!("config: {config}");
        let mut medians = Vec::new();
        let mut shares = Vec::new();
        for &n in &a.sizes {
            let tmp = tempfile::tempdir().expect("a temporary directory");
            let lab = runtime
                .block_on(Lab::start(LabConfig {
                    nodes: n,
                    switches: n.div_ceil(40),
                    tls: true,
                    faults: FaultConfig {
                        latency_ms: a.latency_ms,
                        hang_ms: 30_000,
                        ..FaultConfig::default()
                    },
                    power_delay: Duration::from_millis(100),
                    task_delay: Duration::from_millis(100),
                    dir: tmp.path().to_path_buf(),
                    ..LabConfig::default()
                }))
                .expect("the lab starts");
            let manifest = tmp.path().join("lab.json");
            std::fs::write(&manifest, serde_json::to_vec(lab.manifest()).unwrap()).unwrap();
            let dir = tmp.path().join("config");
            std::fs::create_dir(&dir).unwrap();
            let example = std::fs::read_to_string(root.join("examples/lab/main.tf")).unwrap();
            let text = match config.as_str() {
                "lab" => example,
                "literal" => literal_config(&example, lab.manifest()),
                "builtin" => builtin_config(lab.manifest()),
                other => panic!("unknown config {other}: lab, literal or builtin"),
            };
            std::fs::write(dir.join("main.tf"), text).unwrap();
            let rc = tmp.path().join("cli.tfrc");
            std::fs::write(
            &rc,
            format!(
                "provider_installation {{\n  dev_overrides {{ \"bmplan/baremetal\" = \"{}\" }}\n  direct {{}}\n}}\n",
                provider_dir.display()
            ),
        )
        .unwrap();
            let run = Run {
                dir,
                terraform: terraform.clone(),
                env: vec![
                    ("TF_CLI_CONFIG_FILE".into(), rc.display().to_string()),
                    ("CHECKPOINT_DISABLE".into(), "1".into()),
                    ("TF_IN_AUTOMATION".into(), "1".into()),
                    ("RUST_BACKTRACE".into(), "0".into()),
                    (
                        "BAREMETAL_INVENTORY".into(),
                        format!("sqlite://{}", tmp.path().join("inventory.db").display()),
                    ),
                    (
                        "BAREMETAL_CREDENTIALS_KEY".into(),
                        planner::credentials::CredentialsKey::generate().unwrap(),
                    ),
                    ("TF_VAR_lab_manifest".into(), manifest.display().to_string()),
                    (
                        "PLUGIN_LOG_FILE".into(),
                        tmp.path().join("provider.log").display().to_string(),
                    ),
                ],
            };
            let (code, took, out) = run.terraform(&[
                "apply",
                "-auto-approve",
                "-input=false",
                "-no-color",
                "-parallelism=50",
            ]);
            assert_eq!(code, 0, "apply failed:\n{out}");
            println!(
                "  {n:>4} nodes: created in {:.1}s (apply, -parallelism=50)",
                took.as_secs_f64()
            );
            // Terraform's own cost of planning this configuration, without reading anything,
            // measured as often as the plan and interleaved with it, so both medians see the same
            // machine.
            let mut times = Vec::new();
            let mut floors = Vec::new();
            let mut snapshots = Vec::new();
            for _ in 0..a.runs {
                let (code, took, out) =
                    run.terraform(&["plan", "-input=false", "-no-color", "-detailed-exitcode"]);
                assert_eq!(
                    code, 0,
                    "a plan right after apply should show no changes:\n{out}"
                );
                times.push(took.as_secs_f64());
                // The plugin's log holds its last process: this plan's snapshot.
                let log =
                    std::fs::read_to_string(tmp.path().join("provider.log")).unwrap_or_default();
                snapshots.extend(
                    log.lines()
                        .filter(|l| l.contains("fleet snapshot"))
                        .filter_map(|l| l.split("seconds=").nth(1))
                        .filter_map(|v| v.split_whitespace().next()?.parse::<f64>().ok())
                        .next_back(),
                );
                let (_, floor, _) =
                    run.terraform(&["plan", "-refresh=false", "-input=false", "-no-color"]);
                floors.push(floor.as_secs_f64());
            }
            let floor = median(floors);
            let m = median(times.clone());
            let snapshot = (!snapshots.is_empty()).then(|| median(snapshots));
            println!(
            "  {n:>4} nodes: terraform plan {m:.2}s median (runs: {}); -refresh=false {:.2}s (median); refresh share {:.2}s; fleet snapshot {} (median)",
            times.iter().map(|t| format!("{t:.2}")).collect::<Vec<_>>().join(", "),
            floor,
            m - floor,
            snapshot.map(|s| format!("{s:.2}s")).unwrap_or_else(|| "n/a".into())
        );
            shares.push(m - floor);
            medians.push((n, m));
            runtime.block_on(lab.shutdown());
        }
        if let Some(&(n0, t0)) = medians.first() {
            for (&(n, t), share) in medians.iter().zip(&shares).skip(1) {
                println!(
                    "ratio t({n}) / t({n0}) = {:.2} (target ≤ 3; {}x the nodes); refresh share (plan minus plan -refresh=false) {share:.2}s / {:.2}s = {:.2}",
                    t / t0,
                    n / n0,
                    shares[0],
                    share / shares[0]
                );
            }
        }
    }
}
