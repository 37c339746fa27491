//! The engine's side of the deploy agent: the agent's boot ISO made for one session (its
//! `bm.url` written into the kernel command line), and the steps that boot the agent by virtual
//! media and run its commands: write an image, wipe the disks, inspect.
//!
//! The agent's ISO is built by `scripts/build-agent-iso.sh` and found through
//! `BAREMETAL_AGENT_ISO` (a path). Its kernel command line ends with a 512-byte placeholder that is
//! overwritten byte for byte, so the ISO's structure never changes.

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use planner_core::deploy::agent::{Command, CommandKind, CommandResult, Inventory, Progress};

use super::media::{AgentSession, MediaServer};

/// Why a step through the deploy agent failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("deploying this image needs the deploy agent: set {AGENT_ISO_ENV} to the agent's ISO (scripts/build-agent-iso.sh builds it)")]
    NotConfigured,
    #[error("reading the agent ISO {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an agent ISO from scripts/build-agent-iso.sh: its kernel command line placeholder appears {found} times, not once")]
    NotAnAgentIso { path: String, found: usize },
    #[error("the deployment endpoint's URL is too long for the agent's kernel command line ({len} bytes, at most {max})")]
    UrlTooLong { len: usize, max: usize },
    #[error("{step}: {source}")]
    Bmc {
        step: &'static str,
        #[source]
        source: crate::bmc::BmcError,
    },
    #[error("the deploy agent did not call back within {0}s (did the server boot the agent's ISO, and can it reach the deployment endpoint?)")]
    NoCallback(u64),
    #[error("the deploy agent did not finish within {0}s")]
    Timeout(u64),
    #[error("the deploy agent stopped answering: no heartbeat for {0}s")]
    Silent(u64),
    /// The agent ran the command and it failed: the agent's reason.
    #[error("{0}")]
    Failed(String),
}

/// The lifecycle's private steps say what failed in words.
impl From<AgentError> for String {
    fn from(e: AgentError) -> String {
        e.to_string()
    }
}

/// Where the agent's ISO is found.
pub const AGENT_ISO_ENV: &str = "BAREMETAL_AGENT_ISO";
const PLACEHOLDER: &[u8] = b"BMARGS#";
const PLACEHOLDER_LEN: usize = 512;

/// What was read last from the files `BAREMETAL_AGENT_ISO` names, by that path.
type Loaded<T> = OnceLock<Mutex<Option<(String, Arc<T>)>>>;

/// `load` applied to the path `BAREMETAL_AGENT_ISO` names, once per process and path: a later
/// call with the same path gets what was read then.
fn configured_once<T>(
    cell: &Loaded<T>,
    load: impl FnOnce(&Path) -> Result<T, AgentError>,
) -> Result<Arc<T>, AgentError> {
    let path = std::env::var(AGENT_ISO_ENV).map_err(|_| AgentError::NotConfigured)?;
    let mut g = cell
        .get_or_init(|| Mutex::new(None))
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some((p, loaded)) = g.as_ref() {
        if *p == path {
            return Ok(loaded.clone());
        }
    }
    let loaded = Arc::new(load(Path::new(&path))?);
    *g = Some((path, loaded.clone()));
    Ok(loaded)
}

/// The agent's boot ISO, read once.
pub struct AgentIso {
    bytes: Vec<u8>,
    at: usize,
}

impl AgentIso {
    /// Reads the ISO and finds its placeholder (exactly one).
    pub fn load(path: &Path) -> Result<AgentIso, AgentError> {
        let bytes = std::fs::read(path).map_err(|source| AgentError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let found: Vec<usize> = bytes
            .windows(PLACEHOLDER.len())
            .enumerate()
            .filter(|(_, w)| *w == PLACEHOLDER)
            .map(|(i, _)| i)
            .collect();
        match found.as_slice() {
            [at] if at + PLACEHOLDER_LEN <= bytes.len() => Ok(AgentIso { bytes, at: *at }),
            _ => Err(AgentError::NotAnAgentIso {
                path: path.display().to_string(),
                found: found.len(),
            }),
        }
    }

    /// The agent ISO configured by `BAREMETAL_AGENT_ISO`, read once per process.
    pub fn configured() -> Result<Arc<AgentIso>, AgentError> {
        static LOADED: Loaded<AgentIso> = OnceLock::new();
        configured_once(&LOADED, AgentIso::load)
    }

    /// The ISO with `bm.url=<url>` on its kernel command line.
    pub fn for_session(&self, url: &str) -> Result<Vec<u8>, AgentError> {
        let arg = format!("bm.url={url}");
        if arg.len() > PLACEHOLDER_LEN || arg.contains(char::is_whitespace) {
            return Err(AgentError::UrlTooLong {
                len: arg.len(),
                max: PLACEHOLDER_LEN,
            });
        }
        let mut out = self.bytes.clone();
        let slot = &mut out[self.at..self.at + PLACEHOLDER_LEN];
        slot.fill(b' ');
        slot[..arg.len()].copy_from_slice(arg.as_bytes());
        Ok(out)
    }
}

/// The agent's kernel and initrd for network boot: `vmlinuz` and `initrd.img` beside the ISO
/// (scripts/build-agent-iso.sh writes the three together), read once per process.
pub struct AgentNetboot {
    kernel: bytes::Bytes,
    initrd: bytes::Bytes,
}

impl AgentNetboot {
    pub fn load(dir: &Path) -> Result<AgentNetboot, AgentError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path)
                .map(bytes::Bytes::from)
                .map_err(|source| AgentError::Read {
                    path: format!(
                        "{} (network boot needs the agent's kernel and initrd beside its ISO; scripts/build-agent-iso.sh writes them)",
                        path.display()
                    ),
                    source,
                })
        };
        Ok(AgentNetboot {
            kernel: read("vmlinuz")?,
            initrd: read("initrd.img")?,
        })
    }

    /// The kernel and initrd beside the ISO `BAREMETAL_AGENT_ISO` names.
    pub fn configured() -> Result<Arc<AgentNetboot>, AgentError> {
        static LOADED: Loaded<AgentNetboot> = OnceLock::new();
        configured_once(&LOADED, |iso| {
            AgentNetboot::load(iso.parent().unwrap_or(Path::new(".")))
        })
    }
}

/// How an agent session boots its node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentBoot {
    /// The session's ISO in the BMC's virtual CD.
    VirtualMedia,
    /// PXE from the NIC with this MAC (normalised), then iPXE loads the agent's kernel and initrd.
    Pxe { mac: String },
}

impl AgentBoot {
    /// How `node` boots the agent: its configured boot interface, else what its BMC supports;
    /// for PXE, the MAC configured (`pxe_mac`), else a port marked `pxe` with a MAC, else any
    /// port's MAC, else the NIC a past in-band inspection saw first. An error says what to set.
    pub async fn for_node(
        inv: &crate::inventory::Inventory,
        node: &str,
    ) -> Result<AgentBoot, String> {
        let (ep, _) = inv.node_endpoint(node).await.map_err(|e| e.to_string())?;
        let config = inv.node_config(node).await.map_err(|e| e.to_string())?;
        let interface = crate::host::BootInterface::for_node(
            node,
            &ep.url,
            config.boot.interface.map(|b| b.as_str()),
        )?;
        if interface == crate::host::BootInterface::VirtualMedia {
            return Ok(AgentBoot::VirtualMedia);
        }
        let from_ports = || {
            let with_mac = || config.ports.iter().filter_map(|p| p.mac.clone());
            config
                .ports
                .iter()
                .filter(|p| p.pxe)
                .find_map(|p| p.mac.clone())
                .or_else(|| with_mac().next())
        };
        let mut mac = config.boot.pxe_mac.clone().or_else(from_ports);
        if mac.is_none() {
            if let Ok(Some((v, _))) = inv.node_inband(node).await {
                mac = serde_json::from_value::<Inventory>(v)
                    .ok()
                    .and_then(|i| i.nics.first().map(|n| n.mac.clone()));
            }
        }
        let mac = mac.ok_or_else(|| {
            format!(
                "node {node} boots the deploy agent from the network (PXE), but no MAC address is known for it: set its pxe_mac (the node's pxe_mac attribute, or bmplan nodes netboot {node} --pxe-mac MAC)"
            )
        })?;
        let mac = crate::host::netboot::normalize_mac(&mac)
            .map_err(|e| format!("node {node}: its PXE MAC {e}"))?;
        Ok(AgentBoot::Pxe { mac })
    }

    /// Whether what boots the agent this way is configured (its ISO, or its kernel and initrd).
    pub fn check_configured(&self) -> Result<(), AgentError> {
        match self {
            AgentBoot::VirtualMedia => AgentIso::configured().map(|_| ()),
            AgentBoot::Pxe { .. } => AgentNetboot::configured().map(|_| ()),
        }
    }

    pub fn interface(&self) -> crate::host::BootInterface {
        match self {
            AgentBoot::VirtualMedia => crate::host::BootInterface::VirtualMedia,
            AgentBoot::Pxe { .. } => crate::host::BootInterface::Pxe,
        }
    }

    /// In words, for progress lines.
    pub fn describe(&self) -> String {
        match self {
            AgentBoot::VirtualMedia => "virtual media".into(),
            AgentBoot::Pxe { mac } => format!("network boot (PXE) from {mac}"),
        }
    }
}

/// How long the agent may stay silent once it has spoken before it is taken for gone.
pub const SILENCE: Duration = Duration::from_secs(90);

/// An agent session as the lifecycle drives it.
pub struct Agent {
    pub session: AgentSession,
    next_id: u64,
    pub boot: AgentBoot,
    iso_url: Option<String>,
    /// What network boot serves: the kernel's and initrd's URLs, and the MAC's script.
    netboot: Vec<String>,
    pxe: Option<super::media::PxeEntry>,
}

impl Agent {
    /// A fresh session, and what boots it published on the media endpoint: its ISO, or for
    /// network boot the agent's kernel and initrd and the node's iPXE script.
    pub fn start(media: &MediaServer, name: &str, boot: &AgentBoot) -> Result<Agent, AgentError> {
        let session = media.agent_session();
        let mut agent = Agent {
            session,
            next_id: 0,
            boot: boot.clone(),
            iso_url: None,
            netboot: Vec::new(),
            pxe: None,
        };
        match boot {
            AgentBoot::VirtualMedia => {
                let iso = AgentIso::configured()?;
                let data = iso.for_session(&agent.session.url)?;
                agent.iso_url = Some(media.publish(&format!("{name}-agent.iso"), data));
            }
            AgentBoot::Pxe { mac } => {
                let nb = AgentNetboot::configured()?;
                let kernel = media.publish_shared("vmlinuz", nb.kernel.clone());
                let initrd = media.publish_shared("initrd.img", nb.initrd.clone());
                let script = planner_core::deploy::netboot::agent_script(
                    &kernel,
                    &initrd,
                    &planner_core::deploy::netboot::agent_cmdline(&agent.session.url),
                );
                agent.netboot = vec![kernel, initrd];
                agent.pxe = Some(media.pxe_script(mac, script));
            }
        }
        Ok(agent)
    }

    pub fn iso_url(&self) -> &str {
        self.iso_url.as_deref().unwrap_or("")
    }

    /// Stops serving the ISO, or the kernel, initrd and script of network boot.
    pub fn withdraw(&mut self, media: &MediaServer) {
        if let Some(u) = self.iso_url.take() {
            media.withdraw(&u);
        }
        for u in self.netboot.drain(..) {
            media.withdraw(&u);
        }
        self.pxe = None;
    }

    /// Waits for the agent's first heartbeat; returns the inventory it sent.
    pub async fn hello(&mut self, limit: Duration) -> Result<Inventory, AgentError> {
        let ok = self
            .session
            .wait_until(limit, |s| s.inventory.is_some())
            .await;
        if !ok {
            return Err(AgentError::NoCallback(limit.as_secs()));
        }
        Ok(self.session.lock().inventory.clone().unwrap_or_default())
    }

    /// Runs one command to its end, `limit` at most; `on_progress` is called as it goes (with the
    /// lines heard meanwhile). A command that fails is an error with the agent's reason.
    pub async fn run(
        &mut self,
        kind: CommandKind,
        limit: Duration,
        mut on_progress: impl FnMut(Option<&Progress>),
    ) -> Result<CommandResult, AgentError> {
        self.next_id += 1;
        let id = self.next_id;
        self.session.lock().pending = Some(Command { id, kind });
        let end = Instant::now() + limit;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(AgentError::Timeout(limit.as_secs()));
            }
            let done = self
                .session
                .wait_until(left.min(Duration::from_secs(5)), |s| {
                    s.results.iter().any(|r| r.id == id)
                })
                .await;
            let (progress, result, silent) = {
                let s = self.session.lock();
                (
                    s.running.clone(),
                    s.results.iter().find(|r| r.id == id).cloned(),
                    s.last_seen.map(|t| t.elapsed()).unwrap_or_default(),
                )
            };
            on_progress(progress.as_ref());
            if done {
                let r = result.unwrap_or(CommandResult {
                    id,
                    ok: false,
                    message: "no result".into(),
                    detail: serde_json::Value::Null,
                });
                return if r.ok {
                    Ok(r)
                } else {
                    Err(AgentError::Failed(r.message))
                };
            }
            if silent > SILENCE {
                return Err(AgentError::Silent(silent.as_secs()));
            }
        }
    }
}

/// Boots the agent once, by virtual media (its ISO in the CD) or by network boot (PXE once: the
/// node's iPXE script is served), the server powered off first, and waits for its first
/// heartbeat, `limit` at most; returns what it found.
pub async fn boot(
    bmc: &dyn crate::bmc::Bmc,
    sys: &str,
    agent: &mut Agent,
    limit: Duration,
) -> Result<Inventory, AgentError> {
    use crate::bmc::{BootPersistence, BootTarget, PowerAction};
    let step = |step: &'static str| move |source| AgentError::Bmc { step, source };
    let power_limit = limit.min(Duration::from_secs(600));
    bmc.power(sys, PowerAction::ForceOff, power_limit)
        .await
        .map_err(step("powering off"))?;
    match agent.boot {
        AgentBoot::VirtualMedia => {
            bmc.eject_media(sys).await.map_err(step("ejecting media"))?;
            bmc.insert_media(sys, agent.iso_url())
                .await
                .map_err(step("inserting the deploy agent's ISO"))?;
            bmc.set_boot_override(sys, BootTarget::Cd, BootPersistence::Once, None)
                .await
                .map_err(step("setting a one-time boot from CD"))?;
        }
        AgentBoot::Pxe { .. } => {
            bmc.set_boot_override(sys, BootTarget::Pxe, BootPersistence::Once, None)
                .await
                .map_err(step("setting a one-time network boot (PXE)"))?;
        }
    }
    bmc.power_on_started(sys, power_limit)
        .await
        .map_err(step("powering on"))?;
    agent.hello(limit.min(Duration::from_secs(900))).await
}

/// Keeps what the agent found with the node. A NIC heard with no LLDP neighbour this time (the
/// agent listens for LLDP only when asked to inspect) keeps the neighbour the last inspection
/// heard, so a deployment never erases what the cabling check reads. Failures are logged.
pub async fn record(
    inv: &crate::inventory::Inventory,
    node: &str,
    project: &str,
    found: &Inventory,
) {
    let mut found = found.clone();
    if let Ok(Some((v, _))) = inv.node_inband(node).await {
        if let Ok(last) = serde_json::from_value::<Inventory>(v) {
            for n in found.nics.iter_mut().filter(|n| n.lldp.is_none()) {
                n.lldp = last
                    .nics
                    .iter()
                    .find(|l| l.mac.eq_ignore_ascii_case(&n.mac))
                    .and_then(|l| l.lldp.clone());
            }
        }
    }
    let v = serde_json::to_value(&found).unwrap_or_default();
    if let Err(e) = inv.record_inband(node, Some(project), &v).await {
        tracing::warn!(node, "recording the in-band inspection: {e}");
    }
}

/// A one-line summary of what the agent found.
pub fn summary(inv: &Inventory) -> String {
    let disks: Vec<String> = inv
        .disks
        .iter()
        .map(|d| {
            format!(
                "{} {} GiB{}",
                d.name,
                d.size_bytes >> 30,
                d.serial
                    .as_deref()
                    .map(|s| format!(" serial {s}"))
                    .unwrap_or_default()
            )
        })
        .collect();
    let nics: Vec<String> = inv
        .nics
        .iter()
        .map(|n| {
            format!(
                "{} {}{}",
                n.name,
                n.mac,
                n.lldp
                    .as_ref()
                    .map(|l| format!(" → {} {}", l.switch(), l.port_id))
                    .unwrap_or_default()
            )
        })
        .collect();
    format!(
        "{} CPUs, {} MiB, {} boot; disks: {}; NICs: {}",
        inv.cpu_count,
        inv.memory_bytes >> 20,
        inv.boot_mode,
        if disks.is_empty() {
            "none".into()
        } else {
            disks.join(", ")
        },
        if nics.is_empty() {
            "none".into()
        } else {
            nics.join(", ")
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso_file(copies: usize) -> tempfile::NamedTempFile {
        let mut data = vec![0u8; 4096];
        for k in 0..copies {
            let at = 100 + k * 1000;
            data[at..at + 7].copy_from_slice(PLACEHOLDER);
            data[at + 7..at + PLACEHOLDER_LEN].fill(b'#');
        }
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), data).unwrap();
        f
    }

    #[test]
    fn the_endpoint_is_written_over_the_placeholder_byte_for_byte() {
        let f = iso_file(1);
        let iso = AgentIso::load(f.path()).unwrap();
        let out = iso.for_session("http://10.0.0.1:8080/agent/abc").unwrap();
        assert_eq!(out.len(), 4096);
        assert_eq!(
            &out[100..100 + 37],
            b"bm.url=http://10.0.0.1:8080/agent/abc"
        );
        assert!(out[137..100 + PLACEHOLDER_LEN].iter().all(|&b| b == b' '));
        assert_eq!(
            out[100 + PLACEHOLDER_LEN],
            0,
            "nothing past the placeholder changes"
        );
        let long = format!("http://x/{}", "a".repeat(600));
        assert!(iso
            .for_session(&long)
            .unwrap_err()
            .to_string()
            .contains("too long"));
    }

    #[test]
    fn an_iso_without_exactly_one_placeholder_is_refused() {
        for n in [0, 2] {
            let f = iso_file(n);
            let e = AgentIso::load(f.path()).err().unwrap().to_string();
            assert!(e.contains(&format!("appears {n} times")), "{e}");
        }
    }
}
