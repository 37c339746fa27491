//! The lab: a simulated bare-metal fleet serving real protocols on loopback. Redfish BMCs (HTTPS with
//! a lab CA, and plain HTTP, on one port per node) and Cisco IOS-style top-of-rack switches over SSH,
//! with latency and fault injection and a control endpoint for counters.
//!
//! The demo, the benchmarks and the fault-injection tests use it. It never stands in for the
//! independent peers (sushy-emulator, badfish, fake-switches) in tests of our drivers.

pub mod bios;
pub mod control;
pub mod faults;
pub mod hardware;
pub mod install;
pub mod manifest;
pub mod node;
pub mod redfish;
mod rng;
pub(crate) mod server;
pub mod switch;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::bios::Registry;
use crate::faults::{FaultConfig, Injector};
use crate::hardware::Vendor;
use crate::manifest::{Manifest, ManifestNode, ManifestSwitch};
use crate::node::{NodeSim, Timing};
use crate::switch::SwitchState;

/// What lab to build.
#[derive(Debug, Clone)]
pub struct LabConfig {
    pub nodes: usize,
    pub switches: usize,
    /// Serve HTTPS (with the lab CA) as well as HTTP; `bmc_url` is then `https://`.
    pub tls: bool,
    pub faults: FaultConfig,
    /// Seed for hardware, credentials and fault draws: the same seed builds the same fleet.
    pub seed: u64,
    pub power_delay: Duration,
    pub task_delay: Duration,
    /// Where the CA certificate is written.
    pub dir: PathBuf,
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            nodes: 8,
            switches: 1,
            tls: true,
            faults: FaultConfig {
                hang_ms: 30_000,
                ..FaultConfig::default()
            },
            seed: 1,
            power_delay: Duration::from_millis(1000),
            task_delay: Duration::from_millis(1000),
            dir: std::env::temp_dir(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LabError {
    #[error("a lab needs at least one node and one switch (asked for {nodes} nodes, {switches} switches)")]
    Size { nodes: usize, switches: usize },
    #[error("invalid fault settings: {0}")]
    Faults(String),
    #[error("could not listen on loopback")]
    Bind(#[source] std::io::Error),
    #[error("could not write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
}

/// Everything the servers share.
#[derive(Debug)]
pub struct Fleet {
    pub nodes: Vec<Arc<NodeSim>>,
    pub switches: Vec<(String, Arc<Mutex<SwitchState>>)>,
    pub faults: Arc<Injector>,
    manifest: OnceLock<Manifest>,
}

impl Fleet {
    pub fn node(&self, name: &str) -> Option<&Arc<NodeSim>> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn switch(&self, name: &str) -> Option<&Arc<Mutex<SwitchState>>> {
        self.switches.iter().find(|s| s.0 == name).map(|s| &s.1)
    }

    pub fn manifest(&self) -> &Manifest {
        self.manifest
            .get()
            .expect("the manifest is set before any server starts")
    }
}

/// A running lab. Dropping it does not stop the servers; call [`Lab::shutdown`].
pub struct Lab {
    pub fleet: Arc<Fleet>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Rack name and node name of the `i`th node: racks of 40 units, `r1u01`…
pub fn node_name(i: usize) -> (String, String) {
    let rack = i / 40 + 1;
    let unit = i % 40 + 1;
    (format!("r{rack}"), format!("r{rack}u{unit:02}"))
}

fn secret(seed: u64, what: &str) -> String {
    hex::encode(&Sha256::digest(format!("lab-secret:{seed}:{what}"))[..6])
}

async fn bind() -> Result<(TcpListener, SocketAddr), LabError> {
    let l = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(LabError::Bind)?;
    let a = l.local_addr().map_err(LabError::Bind)?;
    Ok((l, a))
}

impl Lab {
    pub async fn start(cfg: LabConfig) -> Result<Lab, LabError> {
        if cfg.nodes == 0 || cfg.switches == 0 {
            return Err(LabError::Size {
                nodes: cfg.nodes,
                switches: cfg.switches,
            });
        }
        cfg.faults.validate().map_err(LabError::Faults)?;
        let tls = if cfg.tls {
            Some(tls::LabTls::generate()?)
        } else {
            None
        };
        let ca_path = match &tls {
            Some(t) => {
                std::fs::create_dir_all(&cfg.dir).map_err(|e| LabError::Write {
                    path: cfg.dir.clone(),
                    source: e,
                })?;
                let p = std::path::absolute(cfg.dir.join("lab-ca.pem"))
                    .unwrap_or_else(|_| cfg.dir.join("lab-ca.pem"));
                std::fs::write(&p, &t.ca_pem).map_err(|e| LabError::Write {
                    path: p.clone(),
                    source: e,
                })?;
                Some(p)
            }
            None => None,
        };
        let registries: Vec<Arc<Registry>> = Vendor::ALL
            .iter()
            .map(|v| Arc::new(Registry::for_vendor(*v)))
            .collect();
        let timing = Timing {
            power_delay: cfg.power_delay,
            task_delay: cfg.task_delay,
        };

        // Switch groups: nodes are split into contiguous, balanced groups, one per switch, and each
        // node's first two NICs are cabled to two consecutive ports of its switch.
        let group_of = |i: usize| i * cfg.switches / cfg.nodes;
        let mut group_sizes = vec![0usize; cfg.switches];
        for i in 0..cfg.nodes {
            group_sizes[group_of(i)] += 1;
        }
        let mut nodes = Vec::with_capacity(cfg.nodes);
        let mut manifest_nodes = Vec::with_capacity(cfg.nodes);
        let mut listeners = Vec::with_capacity(cfg.nodes);
        let mut slot_in_group = vec![0usize; cfg.switches];
        for i in 0..cfg.nodes {
            let (rack, name) = node_name(i);
            let mut hw = hardware::generate(cfg.seed, i);
            let g = group_of(i);
            let sw_name = format!("tor{}", g + 1);
            let j = slot_in_group[g];
            slot_in_group[g] += 1;
            let ports: Vec<String> = (0..2).map(|k| format!("Gi0/{}", 2 * j + k + 1)).collect();
            for (k, p) in ports.iter().enumerate() {
                hw.nics[k].cable = Some((sw_name.clone(), p.clone()));
            }
            let vendor = hw.vendor;
            let registry =
                registries[Vendor::ALL.iter().position(|v| *v == vendor).unwrap_or(0)].clone();
            let (listener, addr) = bind().await?;
            let scheme = if cfg.tls { "https" } else { "http" };
            let username = vendor.default_username().to_string();
            let password = secret(cfg.seed, &name);
            manifest_nodes.push(ManifestNode {
                name: name.clone(),
                rack: rack.clone(),
                bmc_url: format!("{scheme}://{addr}"),
                bmc_http_url: format!("http://{addr}"),
                system_id: vendor.system_id().into(),
                manager_id: vendor.manager_id().into(),
                vendor: vendor.key().into(),
                model: hw.model.into(),
                serial: hw.serial.clone(),
                uuid: hw.uuid.clone(),
                arch: hw.arch.name().into(),
                username: username.clone(),
                password: password.clone(),
                macs: hw.nics.iter().map(|n| n.mac.clone()).collect(),
                switch: sw_name,
                switch_ports: ports,
            });
            nodes.push(Arc::new(NodeSim::new(
                name, i, rack, hw, registry, username, password, timing,
            )));
            listeners.push(listener);
        }

        let mut switches = Vec::new();
        let mut manifest_switches = Vec::new();
        let mut switch_listeners = Vec::new();
        for (g, size) in group_sizes.iter().enumerate() {
            let name = format!("tor{}", g + 1);
            let ports = (2 * size).div_ceil(48).max(1) * 48;
            let (listener, addr) = bind().await?;
            manifest_switches.push(ManifestSwitch {
                name: name.clone(),
                driver: "cisco_ios".into(),
                address: addr.to_string(),
                username: "admin".into(),
                password: secret(cfg.seed, &format!("{name}:login")),
                enable_password: secret(cfg.seed, &format!("{name}:enable")),
                ports,
            });
            switches.push((
                name.clone(),
                Arc::new(Mutex::new(SwitchState::new(&name, ports))),
            ));
            switch_listeners.push(listener);
        }

        let (control, control_addr) = bind().await?;
        let manifest = Manifest {
            control_url: format!("http://{control_addr}"),
            ca_cert: ca_path.map(|p| p.display().to_string()),
            tls_fingerprint: tls.as_ref().map(|t| t.fingerprint.clone()),
            seed: cfg.seed,
            nodes: manifest_nodes,
            switches: manifest_switches.clone(),
        };
        let fleet = Arc::new(Fleet {
            nodes,
            switches,
            faults: Arc::new(Injector::new(cfg.faults.clone(), cfg.seed)),
            manifest: OnceLock::new(),
        });
        let _ = fleet.manifest.set(manifest);

        let (tx, rx) = watch::channel(false);
        let acceptor = tls.map(|t| server::Acceptors {
            normal: tokio_rustls::TlsAcceptor::from(t.server),
            replaced: tokio_rustls::TlsAcceptor::from(t.replaced),
        });
        let mut tasks = Vec::new();
        for (node, listener) in fleet.nodes.iter().zip(listeners) {
            tasks.push(tokio::spawn(server::serve_bmc(
                listener,
                node.clone(),
                fleet.faults.clone(),
                acceptor.clone(),
                rx.clone(),
            )));
        }
        for ((ms, (_, state)), listener) in manifest_switches
            .iter()
            .zip(&fleet.switches)
            .zip(switch_listeners)
        {
            let creds = switch::ssh::Credentials {
                username: ms.username.clone(),
                password: ms.password.clone(),
                enable_password: ms.enable_password.clone(),
            };
            let key = switch::ssh::host_key(cfg.seed, &ms.name);
            tasks.push(tokio::spawn(switch::ssh::serve(
                listener,
                state.clone(),
                creds,
                key,
                rx.clone(),
            )));
        }
        tasks.push(tokio::spawn(control::serve(control, fleet.clone(), rx)));
        Ok(Lab {
            fleet,
            shutdown: tx,
            tasks,
        })
    }

    pub fn manifest(&self) -> &Manifest {
        self.fleet.manifest()
    }

    /// Stops accepting connections and waits for the listeners to close.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}
