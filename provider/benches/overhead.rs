//! Provider overhead, measured in one run:
//!
//! - start: from spawning `terraform-provider-baremetal` as Terraform does (magic cookie set) to its
//!   go-plugin handshake line, and its RSS at that moment;
//! - per resource: `terraform plan` of N `baremetal_network` resources (validated and planned by the
//!   provider over gRPC, nothing else read) against N `terraform_data` (Terraform's built-in no-op,
//!   no plugin at all), both not yet created; the difference over N is what one resource costs in
//!   gRPC calls, encoding and provider work.
//!
//!     cargo bench -p terraform-provider-baremetal --bench overhead -- [--runs 5] [--resources 200]
//!
//! Needs a Terraform CLI: `$TERRAFORM`, else `terraform` on PATH.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use common::{median, Run};

const MAGIC_COOKIE: (&str, &str) = (
    "TF_PLUGIN_MAGIC_COOKIE",
    "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2",
);

fn args() -> (usize, usize) {
    let (mut runs, mut resources) = (5, 200);
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--runs" => runs = it.next().and_then(|v| v.parse().ok()).expect("--runs N"),
            "--resources" => {
                resources = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("--resources N")
            }
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    (runs.max(1), resources.max(1))
}

fn rss_kib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(f64::NAN)
}

fn main() {
    let (runs, n) = args();
    let provider = PathBuf::from(env!("CARGO_BIN_EXE_terraform-provider-baremetal"));
    let terraform = std::env::var("TERRAFORM").unwrap_or_else(|_| "terraform".into());
    println!("provider overhead: median of {runs} runs");

    let tmp = tempfile::tempdir().expect("a temporary directory");
    let inventory = format!("sqlite://{}", tmp.path().join("inventory.db").display());
    let mut starts = Vec::new();
    let mut rss = Vec::new();
    // As Terraform starts it: protocol 6 offered and a client certificate to pin (Terraform's is
    // P-521; the start does not verify it, so any certificate serves here).
    let client_cert = rcgen::generate_simple_self_signed(vec!["terraform".into()])
        .expect("a client certificate")
        .cert
        .pem();
    for _ in 0..runs {
        let started = Instant::now();
        let mut child = Command::new(&provider)
            .env(MAGIC_COOKIE.0, MAGIC_COOKIE.1)
            .env("PLUGIN_PROTOCOL_VERSIONS", "6")
            .env("PLUGIN_CLIENT_CERT", &client_cert)
            .env("BAREMETAL_INVENTORY", &inventory)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the provider starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("the handshake line");
        starts.push(started.elapsed().as_secs_f64() * 1000.0);
        rss.push(rss_kib(child.id()) / 1024.0);
        assert!(
            line.starts_with("1|6|"),
            "not a go-plugin handshake: {line:?}"
        );
        let _ = child.kill();
        let _ = child.wait();
    }
    println!(
        "  start to handshake: {:.1} ms; RSS then {:.1} MiB",
        median(starts),
        median(rss)
    );

    let rc = tmp.path().join("cli.tfrc");
    std::fs::write(
        &rc,
        format!(
            "provider_installation {{\n  dev_overrides {{ \"bmplan/baremetal\" = \"{}\" }}\n  direct {{}}\n}}\n",
            provider.parent().unwrap().display()
        ),
    )
    .unwrap();
    let env = vec![
        ("TF_CLI_CONFIG_FILE".to_string(), rc.display().to_string()),
        ("CHECKPOINT_DISABLE".into(), "1".into()),
        ("TF_IN_AUTOMATION".into(), "1".into()),
        ("BAREMETAL_INVENTORY".into(), inventory.clone()),
        (
            "BAREMETAL_CREDENTIALS_KEY".into(),
            planner::credentials::CredentialsKey::generate().unwrap(),
        ),
    ];
    let plan = |name: &str, text: String| -> f64 {
        let dir = tmp.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("main.tf"), text).unwrap();
        let run = Run {
            dir,
            env: env.clone(),
            terraform: terraform.clone(),
        };
        let times: Vec<f64> = (0..runs)
            .map(|_| {
                let (code, took, out) = run.terraform(&["plan", "-input=false", "-no-color"]);
                assert_eq!(code, 0, "terraform plan failed:\n{out}");
                took.as_secs_f64()
            })
            .collect();
        median(times)
    };
    let networks: String = std::iter::once(
        "terraform {\n  required_providers {\n    baremetal = { source = \"bmplan/baremetal\" }\n  }\n}\n"
            .to_string(),
    )
    .chain((0..n).map(|i| {
        format!(
            "resource \"baremetal_network\" \"n{i}\" {{\n  name    = \"net{i}\"\n  vlan_id = {}\n}}\n",
            100 + i
        )
    }))
    .collect();
    let noops: String = (0..n)
        .map(|i| format!("resource \"terraform_data\" \"n{i}\" {{\n  input = \"net{i}\"\n}}\n"))
        .collect();
    let with_provider = plan("networks", networks);
    let builtin = plan("noop", noops);
    println!(
        "  terraform plan of {n} resources: baremetal_network {with_provider:.2} s, terraform_data {builtin:.2} s"
    );
    println!(
        "  per resource: {:.2} ms over the built-in no-op ({:.2} ms against {:.2} ms)",
        (with_provider - builtin) * 1000.0 / n as f64,
        with_provider * 1000.0 / n as f64,
        builtin * 1000.0 / n as f64
    );
}
