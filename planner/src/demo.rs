//! `bmplan demo`: the main job on the embedded default, with no hardware. It starts the lab in-process,
//! reads every simulated BMC through our Redfish client with TLS verification on, and says plainly
//! which stages of the lifecycle are not built yet.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use lab::{Lab, LabConfig};

use crate::bmc::redfish::RedfishClient;
use crate::bmc::{Endpoint, TlsTrust};

/// Options of `bmplan demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub nodes: usize,
    /// Where the lab CA, the manifest (and later the SQLite inventory) go; a temporary directory if unset.
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
        "[1/4] starting the lab: {} simulated servers and 1 top-of-rack switch, TLS with a lab CA",
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
        "[2/4] reading every BMC over Redfish, verifying TLS against the lab CA"
    )?;
    let ca = manifest
        .ca_cert
        .clone()
        .map(PathBuf::from)
        .context("the lab wrote no CA certificate")?;
    let mut reads = tokio::task::JoinSet::new();
    for n in &manifest.nodes {
        let endpoint = Endpoint {
            url: n.bmc_url.clone(),
            username: n.username.clone(),
            password: n.password.clone(),
            tls: TlsTrust::CaBundle(ca.clone()),
        };
        let name = n.name.clone();
        let system_id = n.system_id.clone();
        reads.spawn(async move {
            let client = RedfishClient::new(endpoint)?;
            let system = client.system(&system_id).await?;
            let bios = client.bios_attributes(&system_id).await?;
            Ok::<_, crate::bmc::BmcError>((name, system, bios.len()))
        });
    }
    let mut rows = Vec::new();
    while let Some(r) = reads.join_next().await {
        rows.push(r.context("a BMC read task panicked")??);
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    writeln!(
        out,
        "      {:<7} {:<11} {:<26} {:<16} {:<6} {:>4} {:>6} {:<13} {:>5}",
        "NODE", "VENDOR", "MODEL", "SERIAL", "POWER", "CPUS", "MEM", "BIOS", "ATTRS"
    )?;
    for (name, s, attrs) in &rows {
        writeln!(
            out,
            "      {:<7} {:<11} {:<26} {:<16} {:<6} {:>4} {:>4.0}Gi {:<13} {:>5}",
            name,
            s.manufacturer,
            s.model,
            s.serial,
            s.power_state,
            s.cpus,
            s.memory_gib,
            s.bios_version,
            attrs
        )?;
    }
    writeln!(out)?;

    let sw = &manifest.switches[0];
    writeln!(
        out,
        "[3/4] switch {} speaks {} over SSH at {} ({} ports)",
        sw.name, sw.driver, sw.address, sw.ports
    )?;
    writeln!(
        out,
        "      each node's first two NICs are cabled to it; the BMCs report the LLDP neighbour\n"
    )?;

    writeln!(out, "[4/4] not built yet, so not run:")?;
    writeln!(
        out,
        "      - the switch driver that reads and changes VLANs (issue #4)"
    )?;
    writeln!(
        out,
        "      - the SQLite inventory with the audit log and apply journal (issue #5)"
    )?;
    writeln!(out, "      - validate -> plan -> apply -> plan \"No changes\" -> drift report on examples/lab (issue #6)\n")?;

    writeln!(
        out,
        "read {} BMCs in {:.1}s; the lab served {} Redfish requests",
        rows.len(),
        started.elapsed().as_secs_f64(),
        lab.fleet.faults.counters()["requests"]
    )?;
    lab.shutdown().await;
    if opts.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}
