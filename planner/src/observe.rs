//! Observing live state: every node's BMC and every switch the desired state concerns, read
//! concurrently (a bounded number of nodes at once; each BMC client bounds its own connections). What
//! is read depends on what the profile asks: BIOS (current, pending, registry), boot, secure boot,
//! storage. An unreachable device is recorded with its reason; the rest is still observed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::bmc::{BiosRegistry, BiosState, Bmc, BmcError, Endpoint, Limits, Purpose};
use crate::drivers::Drivers;
use crate::model::{Desired, NodeSpec, SwitchSpec};
use crate::switch::SwitchEndpoint;

pub use planner_core::observed::{NodeLive, Observed, Seen};

/// Bounds of one observation.
#[derive(Clone)]
pub struct ObserveOptions {
    /// Nodes read at once.
    pub concurrency: usize,
    pub limits: Limits,
    pub switch_timeout: Duration,
    /// Where BMC and switch clients come from.
    pub drivers: Arc<dyn Drivers>,
}

impl std::fmt::Debug for ObserveOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObserveOptions")
            .field("concurrency", &self.concurrency)
            .field("limits", &self.limits)
            .field("switch_timeout", &self.switch_timeout)
            .finish_non_exhaustive()
    }
}

impl ObserveOptions {
    /// `concurrency` nodes read at once, each BMC request given `bmc_timeout_s` seconds (at least 1).
    pub fn bounded(concurrency: usize, bmc_timeout_s: u64) -> ObserveOptions {
        let mut o = ObserveOptions {
            concurrency,
            ..ObserveOptions::default()
        };
        o.limits.request_timeout = Duration::from_secs(bmc_timeout_s.max(1));
        o
    }
}

/// Nodes read at once unless told otherwise: a 1000-node pass in two rounds within ~150 MB.
pub const DEFAULT_CONCURRENCY: usize = 512;

impl Default for ObserveOptions {
    fn default() -> Self {
        ObserveOptions {
            concurrency: DEFAULT_CONCURRENCY,
            // Two connections per BMC: reads of one node overlap (see `observe` for fleets larger
            // than the concurrency, which get one).
            limits: Limits {
                max_connections: 2,
                ..Limits::default()
            },
            switch_timeout: Duration::from_secs(30),
            drivers: crate::drivers::wired(),
        }
    }
}

pub fn endpoint(n: &NodeSpec, limits: Limits) -> Endpoint {
    let mut ep = Endpoint::new(
        n.bmc_url.clone(),
        n.username.clone(),
        n.password.clone(),
        n.tls.clone(),
    );
    ep.limits = limits;
    ep
}

pub fn switch_endpoint(s: &SwitchSpec, timeout: Duration) -> SwitchEndpoint {
    SwitchEndpoint {
        address: s.address.clone(),
        username: s.username.clone(),
        password: s.password.clone(),
        enable_password: s.enable_password.clone(),
        timeout,
    }
}

/// Picks the system: the configured id, else the only one.
pub async fn system_id(bmc: &dyn Bmc, n: &NodeSpec) -> Result<String, BmcError> {
    if let Some(s) = &n.system_id {
        return Ok(s.clone());
    }
    let systems = bmc.systems().await?;
    match systems.as_slice() {
        [one] => Ok(one.clone()),
        many => Err(BmcError::Ambiguous {
            bmc: n.bmc_url.clone(),
            detail: format!(
                "the BMC manages {} systems ({}); set system_id",
                many.len(),
                crate::report::few(many)
            ),
        }),
    }
}

/// BIOS registries by name, shared by every node of one observation: nodes of one vendor and BIOS
/// generation publish the same registry (its name carries its version), so it is read once and the
/// other nodes wait for that read instead of each downloading and parsing it.
#[derive(Default)]
pub struct RegistryCache {
    by_name: std::sync::Mutex<BTreeMap<String, Arc<tokio::sync::OnceCell<Arc<BiosRegistry>>>>>,
}

impl RegistryCache {
    /// The registry `bios` names, read through `bmc` by the first node that asks.
    async fn get(&self, bmc: &dyn Bmc, bios: &BiosState) -> Result<Arc<BiosRegistry>, BmcError> {
        let Some(name) = bios.registry.as_deref().filter(|n| !n.is_empty()) else {
            return bmc.registry_for(bios).await.map(Arc::new);
        };
        let cell = {
            let mut m = self.by_name.lock().unwrap_or_else(|e| e.into_inner());
            m.entry(name.to_string()).or_default().clone()
        };
        cell.get_or_try_init(|| async { bmc.registry_for(bios).await.map(Arc::new) })
            .await
            .cloned()
    }
}

/// Reads one node, then gives back `permit` (the fleet's bound on nodes read at once) before
/// ending the BMC session, so closing one session does not hold up the next node's reads. The
/// session is ended whether the reads succeeded or not.
async fn observe_node_with(
    drivers: &dyn Drivers,
    n: &NodeSpec,
    limits: Limits,
    registries: &RegistryCache,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
) -> Result<NodeLive, BmcError> {
    let bmc = drivers.bmc(endpoint(n, limits), Purpose::Observe)?;
    let live = read_node(bmc.as_ref(), n, registries).await;
    drop(permit);
    bmc.logout().await;
    live
}

async fn read_node(
    bmc: &dyn Bmc,
    n: &NodeSpec,
    registries: &RegistryCache,
) -> Result<NodeLive, BmcError> {
    // The service root first: a BMC that cannot answer it fails here once, instead of once in
    // each of the concurrent reads below.
    bmc.probe().await?;
    let sys = system_id(bmc, n).await?;
    let profile = n.profile.clone().unwrap_or_default();
    let wants_bios = !profile.bios.is_empty();
    let wants_raid = profile.raid.is_some();
    let wants_firmware = !profile.firmware.is_empty();
    let (power, bios_and_registry, boot, secure_boot, storage, firmware, media, staged) = tokio::join!(
        bmc.power_and_health(&sys),
        async {
            if !wants_bios {
                return None;
            }
            let bios = match bmc.bios(&sys).await {
                Ok(b) => b,
                Err(e) => return Some(Err(e)),
            };
            let registry = registries.get(bmc, &bios).await;
            Some(registry.map(|r| (bios, r)))
        },
        async {
            if profile.boot_mode.is_some() {
                Some(bmc.boot(&sys).await)
            } else {
                None
            }
        },
        async {
            if profile.secure_boot.is_some() {
                Some(bmc.secure_boot(&sys).await)
            } else {
                None
            }
        },
        async {
            if wants_raid {
                Some(bmc.storage(&sys).await)
            } else {
                None
            }
        },
        async {
            if wants_firmware {
                Some(bmc.firmware_inventory().await)
            } else {
                None
            }
        },
        async { bmc.virtual_media(&sys).await.ok() },
        // Always read: work queued for the next reset shows in plans and drift reports even
        // when this configuration manages neither RAID nor firmware.
        async { bmc.staged_tasks().await.ok() },
    );
    let (power, health) = power?;
    let storage = storage.transpose()?;
    let (bios, registry) = match bios_and_registry.transpose()? {
        Some((b, r)) => (Some(b), Some(r)),
        None => (None, None),
    };
    let live = NodeLive {
        system_id: sys,
        power,
        health,
        media,
        staged,
        bios,
        registry,
        boot: boot.transpose()?,
        secure_boot: secure_boot.transpose()?,
        volumes: storage.as_ref().map(|i| i.volumes.clone()),
        drives: storage
            .as_ref()
            .map(|i| i.drives.clone())
            .unwrap_or_default(),
        controllers: storage
            .as_ref()
            .map(|i| i.controllers.clone())
            .unwrap_or_default(),
        firmware: firmware.transpose()?,
    };
    Ok(live)
}

/// Above this many nodes per CPU core, a pass is bound by CPU (TLS handshakes above all), not by
/// BMC latency, and each BMC gets one connection. Measured on 2 cores with 50 ms per request (the
/// provider's fleet snapshot, `cargo bench -p terraform-provider-baremetal --bench refresh`): 200
/// nodes 0.74 s with two connections against 0.93 s with one; 500 nodes 2.05 s against 1.5 s.
const SECOND_CONNECTION_NODES_PER_CORE: usize = 128;

fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Reads every node and switch of `desired` (nodes in maintenance are skipped).
///
/// When there are more nodes than `opts.concurrency`, or more than
/// `SECOND_CONNECTION_NODES_PER_CORE` per core, each BMC gets one connection: nodes wait for a slot
/// or for CPU anyway, so overlapping one node's reads would not shorten the pass, while a second TLS
/// handshake per BMC is what bounds a fleet-wide pass on a small machine (measured by
/// `cargo bench -p planner --bench plan`).
pub async fn observe(desired: &Desired, mut opts: ObserveOptions) -> Observed {
    let readable = desired.nodes.values().filter(|n| !n.maintenance).count();
    if readable > opts.concurrency || readable > SECOND_CONNECTION_NODES_PER_CORE * cores() {
        opts.limits.max_connections = 1;
    }
    let sem = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let registries = Arc::new(RegistryCache::default());
    let mut nodes = tokio::task::JoinSet::new();
    for n in desired.nodes.values().filter(|n| !n.maintenance) {
        let n = n.clone();
        let sem = sem.clone();
        let registries = registries.clone();
        let drivers = opts.drivers.clone();
        let limits = opts.limits;
        nodes.spawn(async move {
            let permit = sem.acquire_owned().await.ok();
            let r = observe_node_with(drivers.as_ref(), &n, limits, &registries, permit).await;
            (
                n.name,
                match r {
                    Ok(l) => Seen::Live(l),
                    Err(e) => Seen::Unreachable(e.to_string()),
                },
            )
        });
    }
    // Every configured switch, also one no node uses any more: what removed nodes and networks
    // left on it is planned from what it holds.
    let mut switches = tokio::task::JoinSet::new();
    for s in desired.switches.values() {
        let s = s.clone();
        let timeout = opts.switch_timeout;
        let drivers = opts.drivers.clone();
        switches.spawn(async move {
            let r = match drivers.switch(&s.driver, switch_endpoint(&s, timeout)) {
                Ok(sw) => sw.read().await,
                Err(e) => Err(e),
            };
            (
                s.name,
                match r {
                    Ok(st) => Seen::Live(st),
                    Err(e) => Seen::Unreachable(e.to_string()),
                },
            )
        });
    }
    let mut out = Observed::default();
    while let Some(r) = nodes.join_next().await {
        if let Ok((name, seen)) = r {
            out.nodes.insert(name, seen);
        }
    }
    while let Some(r) = switches.join_next().await {
        if let Ok((name, seen)) = r {
            out.switches.insert(name, seen);
        }
    }
    out
}
