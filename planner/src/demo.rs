//! `bmplan demo`: the main job on the embedded default, with no hardware. It starts the lab in-process,
//! reads every simulated BMC through our Redfish client with TLS verification on, and says plainly
//! which stages of the lifecycle are not built yet.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use lab::{Lab, LabConfig};

use crate::bmc::redfish::RedfishBmc;
use crate::bmc::{Bmc, Endpoint, TlsTrust};

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
        let endpoint = Endpoint::new(
            n.bmc_url.clone(),
            n.username.clone(),
            n.password.clone(),
            TlsTrust::CaBundle(ca.clone()),
        );
        let name = n.name.clone();
        let system_id = n.system_id.clone();
        reads.spawn(async move {
            let bmc = RedfishBmc::new(endpoint)?;
            let inventory = bmc.inspect(&system_id).await?;
            Ok::<_, crate::bmc::BmcError>((name, inventory))
        });
    }
    let mut rows = Vec::new();
    while let Some(r) = reads.join_next().await {
        rows.push(r.context("a BMC read task panicked")??);
    }
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    writeln!(
        out,
        "      {:<7} {:<11} {:<26} {:<16} {:<6} {:>5} {:>6} {:>6} {:>5} {:<18}",
        "NODE",
        "VENDOR",
        "MODEL",
        "SERIAL",
        "POWER",
        "CORES",
        "MEM",
        "DISK",
        "NICS",
        "SWITCH PORTS (LLDP)"
    )?;
    for (name, inv) in &rows {
        let lldp: Vec<String> = inv
            .nics
            .iter()
            .filter_map(|n| n.lldp.as_ref()?.port.clone())
            .collect();
        writeln!(
            out,
            "      {:<7} {:<11} {:<26} {:<16} {:<6} {:>5} {:>4.0}Gi {:>4.1}TB {:>5} {:<18}",
            name,
            inv.manufacturer.as_deref().unwrap_or("?"),
            inv.model.as_deref().unwrap_or("?"),
            inv.serial.as_deref().unwrap_or("?"),
            inv.power_state.as_str(),
            inv.cpu.cores.unwrap_or(0),
            inv.memory_gib.unwrap_or(0.0),
            inv.disk_bytes() as f64 / 1e12,
            inv.nics.len(),
            lldp.join(" ")
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
