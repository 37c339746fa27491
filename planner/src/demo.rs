//! `bmplan demo`: the main job on the embedded default, with no hardware. It starts the lab in-process,
//! enrolls every simulated BMC into a SQLite inventory (credentials verified, TLS verified, passwords
//! sealed), schedules hosts by flavor as a project member, reads the switch, then runs `examples/lab`
//! through validate → plan → apply → plan ("No changes", one reset per node), changes a BIOS value
//! behind the planner's back and prints the drift report.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use lab::{Lab, LabConfig};

use crate::apply::ApplyOptions;
use crate::bmc::{Limits, Secret};
use crate::credentials::CredentialsKey;
use crate::drift;
use crate::engine::{self, Run, Session};
use crate::enroll;
use crate::flavor::Flavor;
use crate::inventory::{AuditFilter, Inventory, NewHost, NodeFilter, NodeRegistration, NodeTls};
use crate::load::LoadOptions;
use crate::project::Actor;
use crate::report;
use crate::switch::SwitchEndpoint;

/// The lab fleet as code, the same file as `examples/lab/main.tf`.
const EXAMPLE_LAB: &str = include_str!("../../examples/lab/main.tf");

/// Options of `bmplan demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub nodes: usize,
    /// Where the lab CA, the manifest, the SQLite inventory and its credentials key go; a temporary directory if unset.
    pub dir: Option<PathBuf>,
}

/// Runs the demo, writing its report to `out`. Fails if any stage that exists fails.
pub async fn run(opts: DemoOptions, out: &mut (dyn Write + Send)) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = match &opts.dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("bmplan-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    writeln!(out, "bmplan demo: the lab simulator and no hardware\n")?;

    writeln!(
        out,
        "[1/6] starting the lab: {} simulated servers and 1 top-of-rack switch, TLS with a lab CA",
        opts.nodes
    )?;
    let cfg = LabConfig {
        nodes: opts.nodes,
        switches: 1,
        tls: true,
        dir: dir.clone(),
        ..LabConfig::default()
    };
    let lab = Lab::start(cfg).await.context("starting the lab")?;
    let manifest = lab.manifest().clone();
    let manifest_path = dir.join("lab.json");
    manifest
        .write(&manifest_path)
        .with_context(|| format!("writing {}", manifest_path.display()))?;
    writeln!(out, "      manifest: {}", manifest_path.display())?;
    writeln!(out, "      control:  {}/stats\n", manifest.control_url)?;

    writeln!(
        out,
        "[2/6] enrolling every BMC into a SQLite inventory (TLS verified against the lab CA, passwords sealed)"
    )?;
    let ca_pem = match &manifest.ca_cert {
        Some(p) => std::fs::read_to_string(p).with_context(|| format!("reading {p}"))?,
        None => anyhow::bail!("the lab wrote no CA certificate"),
    };
    let key_text = CredentialsKey::generate()?;
    let key_path = dir.join("credentials.key");
    // Readable by its owner only, as every key file must be.
    CredentialsKey::write_file(&key_path, &key_text, true)?;
    let inventory_url = format!("sqlite://{}", dir.join("inventory.db").display());
    let inventory = Inventory::open(
        &inventory_url,
        Actor::admin("demo"),
        Some(CredentialsKey::from_base64(&key_text, "demo")?),
    )
    .await?;
    let regs: Vec<NodeRegistration> = manifest
        .nodes
        .iter()
        .map(|n| NodeRegistration {
            name: n.name.clone(),
            bmc_url: n.bmc_url.clone(),
            system_id: n.system_id.clone(),
            username: n.username.clone(),
            password: Secret::new(n.password.clone()),
            tls: NodeTls {
                ca_cert_pem: Some(ca_pem.clone()),
                fingerprint: None,
                insecure: false,
            },
        })
        .collect();
    let outcomes = enroll::enroll_all(&inventory, regs, 16, Limits::default(), |_| {}).await?;
    if !enroll::all_succeeded(&outcomes) {
        let failed: Vec<String> = outcomes
            .iter()
            .filter(|o| o.detail.is_some())
            .map(|o| format!("{}: {}", o.name, o.detail.clone().unwrap_or_default()))
            .collect();
        anyhow::bail!("enrollment failed: {}", failed.join("; "));
    }
    let nodes = inventory.nodes(&NodeFilter::default()).await?;
    for line in report::node_rows(&nodes).table().lines() {
        writeln!(out, "      {line}")?;
    }
    writeln!(
        out,
        "      inventory: {inventory_url}{}\n",
        if opts.dir.is_none() {
            " (removed at the end; pass --dir to keep it)"
        } else {
            ""
        }
    )?;

    writeln!(
        out,
        "[3/6] scheduling: flavors match nodes on CPUs, memory, architecture; best fit, then name"
    )?;
    inventory
        .put_flavor(&Flavor {
            name: "general".into(),
            cpus: 32,
            memory_gib: 128,
            arch: Some("x86_64".into()),
            ..Flavor::default()
        })
        .await?;
    inventory.put_project("demo", Some(2), None).await?;
    let member = inventory.as_actor(Actor::member("alice", "demo"));
    for (host, flavor) in [
        ("web-1", "general"),
        ("web-2", "general"),
        ("web-3", "general"),
    ] {
        let req = NewHost {
            name: host.into(),
            project: None,
            flavor: Some(flavor.into()),
            node: None,
        };
        match member.create_host(&req).await {
            Ok(h) => writeln!(
                out,
                "      alice (member of demo) creates {host} ({flavor}): node {}",
                h.node.as_deref().unwrap_or("-")
            )?,
            Err(e) => writeln!(out, "      alice creates {host} ({flavor}): refused: {e}")?,
        }
    }
    for c in inventory.flavors().await? {
        writeln!(
            out,
            "      flavor {:<8} matches {} nodes, {} free",
            c.flavor.name, c.matching, c.free
        )?;
    }
    writeln!(out)?;

    let sw = &manifest.switches[0];
    writeln!(
        out,
        "[4/6] switch {} ({}) over SSH at {}: live VLANs and ports",
        sw.name, sw.driver, sw.address
    )?;
    let switch = crate::switch::open(
        &sw.driver,
        SwitchEndpoint {
            address: sw.address.clone(),
            username: sw.username.clone(),
            password: Secret::new(sw.password.clone()),
            enable_password: Some(Secret::new(sw.enable_password.clone())),
            timeout: Duration::from_secs(30),
        },
    )?;
    let state = switch.read().await?;
    for line in report::switch_text(&sw.address, &state)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(7)
    {
        writeln!(out, "      {line}")?;
    }
    writeln!(out, "      …\n")?;

    writeln!(
        out,
        "[5/6] examples/lab: validate -> plan -> apply -> plan (BIOS, boot, RAID, firmware, ports)"
    )?;
    let config = dir.join("config");
    std::fs::create_dir_all(&config).with_context(|| format!("creating {}", config.display()))?;
    std::fs::write(config.join("main.tf"), EXAMPLE_LAB)
        .with_context(|| format!("writing {}", config.display()))?;
    let load_opts = LoadOptions {
        vars: vec![("lab_manifest".into(), manifest_path.display().to_string())],
        var_files: vec![],
        env: Some(vec![]),
    };
    let (_, desired) = engine::load_config(&config, &load_opts)?;
    writeln!(
        out,
        "      valid: {} nodes, {} profiles, {} networks, {} switches",
        desired.nodes.len(),
        desired.profiles.len(),
        desired.networks.len(),
        desired.switches.len()
    )?;
    let session = Session::new(&inventory);
    let prepare = || async {
        let (loaded, desired) = engine::load_config(&config, &load_opts)?;
        anyhow::Ok(session.prepare(loaded, desired).await?)
    };
    let first = prepare().await?;
    writeln!(
        out,
        "      plan: {} nodes to change, {} reboots, {} waves; for example",
        first
            .plan
            .waves
            .iter()
            .map(|w| w.nodes.len())
            .sum::<usize>(),
        first.plan.resets(),
        first.plan.waves.len()
    )?;
    if let Some(line) = first.plan.disruptions.first() {
        writeln!(out, "        {line}")?;
    }
    let run = Run::New(format!("demo-{}", std::process::id()));
    let report = session
        .execute(&first.desired, &first.plan, &run, ApplyOptions::default())
        .await?
        .report;
    if !report.ok() {
        anyhow::bail!(
            "the demo apply failed: {:?} {:?}",
            report.failed,
            report.skipped
        );
    }
    let resets: Vec<u64> = lab.fleet.nodes.iter().map(|n| n.state().resets).collect();
    writeln!(
        out,
        "      apply: {} steps succeeded; resets per node: {}",
        report.succeeded.len(),
        resets
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    )?;
    let second = prepare().await?;
    writeln!(
        out,
        "      plan again: {}\n",
        if second.plan.is_empty() {
            "No changes."
        } else {
            "changes remain (unexpected)"
        }
    )?;

    writeln!(
        out,
        "[6/6] someone turns Turbo back on at r1u02's console; the drift report says so"
    )?;
    if let Some(n) = lab.fleet.nodes.get(1) {
        n.state()
            .bios
            .insert("ProcTurboMode".into(), serde_json::json!("Enabled"));
    }
    let third = prepare().await?;
    let drift = drift::report(&third.desired, &third.diff);
    for line in report::drift_text(&drift, report::Style { color: false })
        .lines()
        .filter(|l| !l.contains(": in sync"))
    {
        writeln!(out, "      {line}")?;
    }
    writeln!(out)?;

    let audit = inventory.audit_log(&AuditFilter::default()).await?;
    writeln!(
        out,
        "demo done in {1:.1}s: {0} BMCs enrolled, planned, applied and checked; the audit log holds {2} entries ({3} refused); the lab served {4} Redfish requests",
        nodes.len(),
        started.elapsed().as_secs_f64(),
        audit.len(),
        audit.iter().filter(|e| e.outcome == "denied").count(),
        lab.fleet.faults.counters()["requests"]
    )?;
    inventory.close().await;
    lab.shutdown().await;
    if opts.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
