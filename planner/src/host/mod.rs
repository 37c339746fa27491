//! The host lifecycle: an operating system deployed onto an allocated node through virtual media,
//! and the node given back cleaned.
//!
//! ```text
//! deploy:  verify the image checksum (nothing touched on a mismatch)
//!          → node deploying → ports to the provisioning network and the profile staged (one reset)
//!          → config drive built and served → power off, image in the virtual CD, config drive in
//!            the removable slot, boot once from CD, power on
//!          → wait (installer powers off | BootProgress OSRunning | callback from the installed OS)
//!          → media ejected, boot from disk, ports to the host's networks → node active
//! delete:  node deleting → power off, media ejected, ports to the cleaning network → node cleaning
//!          → volumes deleted and drives secure-erased → BIOS/RAID back to the node's own profile
//!          → ports back to the node's configuration → node available, host released
//! ```
//!
//! A deployment that fails is cleaned at once and its node goes back to the pool; a clean that
//! fails leaves the node in `clean failed`, in maintenance, with the reason. Every state change is
//! an inventory transition, so the audit log holds each node's sequence.

pub mod agent;
pub mod cache;
pub mod capture;
pub mod configdrive;
pub mod image;
pub mod media;
pub mod serial;
pub mod store;
pub mod work;

use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::apply::ApplyOptions;

use crate::bmc::{ApplyTime, Bmc, BmcError, BootPersistence, BootTarget, PowerAction, PowerState};
use crate::engine::{Catalog, EngineError, Session};
use crate::inventory::{HostOverride, HostRecord, Inventory, InventoryError};
use crate::lifecycle::Event;
use planner_core::deploy::agent as agent_proto;

pub use media::{MediaError, MediaServer};

pub use planner_core::deploy::*;

/// The image URL of a deployment to fetch from: opened with the credentials key when it was sealed.
pub fn image_url_for(
    dep: &Deployment,
    inv: &Inventory,
    h: &HostRecord,
) -> Result<String, HostError> {
    match &dep.image_url_sealed {
        Some(s) => Ok(inv.open_text(&sealed_image_owner(h), s)?),
        None => Ok(dep.image_url.clone()),
    }
}

/// The deployment a host was made from, to make it again (a migration, a resume from the
/// command line). The user data is opened with the credentials key.
pub fn request_from_record(
    inv: &Inventory,
    host: &HostRecord,
    timeout: Duration,
) -> Result<Option<DeployRequest>, HostError> {
    let Some(dep) = Deployment::of(host).filter(|d| !d.adopted && !d.image_url.is_empty()) else {
        return Ok(None);
    };
    let user_data = match &dep.user_data_sealed {
        Some(s) => Some(inv.open_text(&sealed_owner(host), s)?),
        None => None,
    };
    Ok(Some(DeployRequest {
        image_url: image_url_for(&dep, inv, host)?,
        image: dep.image.clone(),
        deployment_plan: dep.deployment_plan.clone(),
        hostname: dep.hostname.clone(),
        image_checksum: Checksum::parse(&dep.image_checksum)
            .map_err(|e| HostError::Invalid(e.0))?,
        user_data,
        user_data_write_only: dep.user_data_write_only,
        ssh_keys: dep.ssh_keys.clone(),
        networks: dep.networks.clone(),
        addresses: dep.addresses.clone(),
        wait: dep.wait,
        profile: dep.profile.clone(),
        image_format: dep
            .image_format
            .as_deref()
            .and_then(|f| ImageFormat::parse(f).ok()),
        root_device: dep.root_device.clone(),
        timeout,
    }))
}

/// A host in one line: `host P/N: STATE on node NODE`.
pub fn host_line(h: &HostRecord) -> String {
    let node = h.node.as_deref().unwrap_or("-");
    format!("host {}/{}: {} on node {node}", h.project, h.name, h.state)
}

/// A host's log as the command line prints it: one line each, `generation source: line`.
pub fn log_text(lines: &[crate::inventory::HostLogLine]) -> String {
    lines
        .iter()
        .map(|l| format!("g{} {:<7} {}\n", l.generation, l.source, l.line))
        .collect()
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The image could not be read or does not match: no node was touched.
    #[error("{0} (no node was touched)")]
    Image(String),
    #[error("{0}")]
    Invalid(String),
    #[error("host {host} on node {node}: {what}")]
    Failed {
        host: String,
        node: String,
        what: String,
    },
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// The engine could not plan or apply what a host operation needed.
    #[error(transparent)]
    Engine(#[from] EngineError),
}

/// A progress line: node, what happened.
pub type ProgressFn = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// What lifecycle operations need: the inventory, the media endpoint, and how to apply.
pub struct Lifecycle<'a> {
    pub inv: &'a Inventory,
    pub media: &'a MediaServer,
    pub max_parallel: usize,
    pub poll: Duration,
    pub progress: ProgressFn,
}

/// Why a deployment or a clean step failed, for the node's last error and the host's message.
fn step(what: &str, e: impl std::fmt::Display) -> String {
    format!("{what}: {e}")
}

/// The host's node; `for_what` ends the message when it has none (" to deploy onto").
fn node_of(host: &HostRecord, for_what: &str) -> Result<String, HostError> {
    host.node
        .clone()
        .ok_or_else(|| HostError::Invalid(format!("host {} has no node{for_what}", host.name)))
}

/// An installer ISO onto a node that boots by the network.
fn pxe_needs_a_disk_image(host: &HostRecord, node: &str) -> HostError {
    HostError::Invalid(format!(
        "host {}: an installer ISO boots from virtual media only, and node {node} boots from the network (PXE): deploy a disk image (raw, qcow2, raw.gz, raw.xz, raw.zst), which the deploy agent writes; nothing was touched",
        host.name
    ))
}

/// A step of the host's lifecycle failed on its node.
fn failed(host: &HostRecord, node: &str, what: String) -> HostError {
    HostError::Failed {
        host: host.name.clone(),
        node: node.to_string(),
        what,
    }
}

tokio::task_local! {
    /// The lease holder of the host operation this task is inside, if any.
    static HOLDER: String;
}

impl<'a> Lifecycle<'a> {
    /// A lifecycle with the command line's pace: 10 nodes at once, power polled every 500 ms.
    pub fn new(inv: &'a Inventory, media: &'a MediaServer, progress: ProgressFn) -> Lifecycle<'a> {
        Lifecycle {
            inv,
            media,
            max_parallel: 10,
            poll: Duration::from_millis(500),
            progress,
        }
    }
}

impl Lifecycle<'_> {
    fn say(&self, node: &str, msg: &str) {
        tracing::info!(node, "{msg}");
        (self.progress)(node, msg);
    }

    /// [`Lifecycle::leased`] on the host's node.
    async fn leased_on_its_node<T>(
        &self,
        host: &HostRecord,
        limit: Duration,
        op: impl std::future::Future<Output = Result<T, HostError>>,
    ) -> Result<T, HostError> {
        let node = node_of(host, "")?;
        self.leased(host, &[&node], limit, op).await
    }

    /// Runs `op` holding the leases on `nodes` (each node's and its BMC's), as `host P/N@host:pid`,
    /// so no apply or other operation works on them meanwhile, across every step (virtual media
    /// included), not only the converge runs within. The converge runs take their leases under the
    /// same holder and leave them held. Re-entrant: an operation inside another (a migration's
    /// deployment) runs under the outer one's leases. Refused with the holder named when someone
    /// else's lease is live; a holder that died on this machine is taken over.
    async fn leased<T>(
        &self,
        host: &HostRecord,
        nodes: &[&str],
        limit: Duration,
        op: impl std::future::Future<Output = Result<T, HostError>>,
    ) -> Result<T, HostError> {
        if HOLDER.try_with(|_| ()).is_ok() {
            return op.await;
        }
        let holder = crate::apply::lease_holder(&format!("host {}/{}", host.project, host.name));
        // Held past what the operation may take (a deployment that fails is cleaned within as
        // long again), so a lease never lapses under a live operation.
        let ttl = limit * 2 + Duration::from_secs(600);
        let mut taken: Vec<(String, String)> = Vec::new();
        for node in nodes {
            let rec = self.inv.node(node).await?;
            let device = crate::apply::device_key(&rec.bmc_url, Some(&rec.system_id));
            let r = crate::apply::take_leases(
                self.inv,
                &device,
                node,
                &holder,
                &format!("host {}/{}", host.project, host.name),
                ttl,
                false,
            )
            .await;
            if let Err(e) = r {
                for (d, n) in &taken {
                    crate::apply::release_leases(self.inv, d, n, &holder).await;
                }
                return Err(e.into());
            }
            taken.push((device, node.to_string()));
        }
        let r = HOLDER.scope(holder.clone(), op).await;
        for (d, n) in &taken {
            crate::apply::release_leases(self.inv, d, n, &holder).await;
        }
        r
    }

    async fn bmc(&self, node: &str) -> Result<(Box<dyn Bmc>, String), String> {
        bmc_of(self.inv, node).await
    }

    async fn converge(&self, node: &str, limit: Duration) -> Result<(), String> {
        let opts = ApplyOptions {
            max_parallel: self.max_parallel.max(1),
            wait_timeout: limit,
            power_timeout: limit,
            held_lease: HOLDER.try_with(Clone::clone).ok(),
            ..Default::default()
        };
        match tokio::time::timeout(
            limit,
            Session::new(self.inv).converge(&[node.to_string()], opts),
        )
        .await
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(EngineError::Device(errs))) => Err(errs
                .iter()
                .map(|e| e.to_string())
                .collect::<Vec<_>>()
                .join("; ")),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("not converged within {}s", limit.as_secs())),
        }
    }

    /// Refuses names of networks the catalog does not have.
    async fn check_networks(&self, networks: &[String]) -> Result<(), HostError> {
        let known = self.inv.networks().await?;
        match networks
            .iter()
            .find(|n| !known.iter().any(|x| &x.name == *n))
        {
            Some(n) => Err(HostError::Invalid(format!("no network named {n:?}"))),
            None => Ok(()),
        }
    }

    /// The network of `role` in the catalog, if any (the first by name).
    async fn network_of_role(&self, role: &str) -> Result<Option<String>, InventoryError> {
        Ok(self
            .inv
            .networks()
            .await?
            .into_iter()
            .find(|n| n.role == role)
            .map(|n| n.name))
    }

    /// Puts the host's layer over the node's configuration (`None` takes it off: the node's own
    /// profile and networks again), and converges the node.
    async fn reconfigure(
        &self,
        node: &str,
        over: Option<HostOverride>,
        limit: Duration,
    ) -> Result<(), String> {
        let mut config = self
            .inv
            .node_config(node)
            .await
            .map_err(|e| e.to_string())?;
        let over = over.map(|mut o| {
            if config.ports.is_empty() {
                o.networks = None;
            }
            o
        });
        let over = over.filter(|o| o.networks.is_some() || o.profile.is_some());
        if config.host_override == over {
            // Already there: converging still repairs drift, and costs one observation.
            return self.converge(node, limit).await;
        }
        config.host_override = over;
        self.inv
            .set_node_config(node, &config)
            .await
            .map_err(|e| e.to_string())?;
        self.converge(node, limit).await
    }

    /// Deploys `req` onto the host's node (a rebuild when the host is active). On failure the node
    /// is cleaned and released, and the error says what failed.
    pub async fn deploy(
        &self,
        host: &HostRecord,
        req: &DeployRequest,
    ) -> Result<HostRecord, HostError> {
        let node = node_of(host, " to deploy onto")?;
        self.leased(host, &[&node], req.timeout, self.deploy_held(host, req))
            .await
    }

    async fn deploy_held(
        &self,
        host: &HostRecord,
        req: &DeployRequest,
    ) -> Result<HostRecord, HostError> {
        let node = node_of(host, " to deploy onto")?;
        let started = Instant::now();
        // 0. How the node boots the deploy agent (virtual media or PXE, and from which MAC):
        // a node that cannot be booted is refused before anything.
        let boot = agent::AgentBoot::for_node(self.inv, &node)
            .await
            .map_err(|e| {
                HostError::Invalid(format!(
                    "host {} cannot be deployed: {e}; nothing was touched",
                    host.name
                ))
            })?;
        // An installer ISO needs virtual media: refused before the image is read when its
        // format is known from the request.
        if let (agent::AgentBoot::Pxe { .. }, Some(f)) = (
            &boot,
            req.image_format
                .or_else(|| ImageFormat::detect(&req.image_url)),
        ) {
            if !f.by_agent() {
                return Err(pxe_needs_a_disk_image(host, &node));
            }
        }
        // 1. The image, before anything else. An image the deploy agent writes is fetched into
        // the engine's cache once (verified as it streams) and served to the agent from the
        // deployment endpoint; an installer ISO is verified, and the BMC reads it from its origin.
        self.say(
            &node,
            &format!("verifying {}", image::shown(&req.image_url)),
        );
        let known = req
            .image_format
            .or_else(|| ImageFormat::detect(&req.image_url));
        let image_error =
            |e: image::ImageError| HostError::Image(crate::bmc::redfish::client::error_chain(&e));
        let (sniffed, cached) = if known.is_some_and(|f| !f.by_agent()) {
            let v = image::verify(&req.image_url, &req.image_checksum, req.timeout)
                .await
                .map_err(image_error)?;
            (v.sniffed, None)
        } else {
            let c = self
                .media
                .cache()
                .get(&req.image_url, &req.image_checksum, req.timeout)
                .await
                .map_err(image_error)?;
            self.say(
                &node,
                &format!(
                    "image {} ({} bytes): {}",
                    req.image_checksum,
                    c.bytes,
                    if c.fetched {
                        "fetched from its origin into the image cache"
                    } else {
                        "served from the image cache"
                    }
                ),
            );
            if let Some(name) = &req.image {
                let _ = self
                    .inv
                    .image_fetched(name, &req.image_checksum.to_string(), c.bytes)
                    .await;
            }
            (c.sniffed, Some(c))
        };
        let format = known.or(sniffed).ok_or_else(|| {
            HostError::Image(format!(
                "the format of {} cannot be told from its name or its first bytes: set image_format (raw, qcow2, raw.gz, raw.xz, raw.zst or iso)",
                image::shown(&req.image_url)
            ))
        })?;
        match (&boot, format.by_agent()) {
            (_, true) => boot
                .check_configured()
                .map_err(|e| HostError::Invalid(e.to_string()))?,
            (agent::AgentBoot::Pxe { .. }, false) => {
                return Err(pxe_needs_a_disk_image(host, &node));
            }
            (agent::AgentBoot::VirtualMedia, false) => {}
        }
        self.check_networks(&req.networks).await?;
        let prior = Deployment::of(host);
        let node_state = self.inv.node(&node).await?.state;
        if node_state == crate::lifecycle::ProvisionState::Deploying {
            // A deployment that stopped midway (its process killed): it failed, and resumes now.
            self.inv
                .transition(
                    &node,
                    Event::Fail,
                    Some("the deployment stopped midway; resumed"),
                )
                .await?;
        }
        let rebuild = node_state == crate::lifecycle::ProvisionState::Active;
        let config = self.inv.node_config(&node).await?;
        // An image URL with credentials is kept sealed, and shown masked.
        let shown_url = image::shown(&req.image_url);
        let image_url_sealed = if shown_url == req.image_url {
            None
        } else {
            self.inv
                .seal_text(&sealed_image_owner(host), &req.image_url)
                .ok()
        };
        let dep = Deployment {
            image_url: shown_url,
            image_url_sealed,
            image_checksum: req.image_checksum.to_string(),
            image: req.image.clone(),
            deployment_plan: req.deployment_plan.clone(),
            hostname: req.hostname.clone(),
            wait: req.wait,
            networks: req.networks.clone(),
            addresses: req.addresses.clone(),
            ssh_keys: req.ssh_keys.clone(),
            user_data_sha256: req
                .user_data
                .as_ref()
                .map(|u| hex::encode(Sha256::digest(u.as_bytes()))),
            profile: req.profile.clone(),
            generation: prior.as_ref().map(|p| p.generation).unwrap_or(0) + 1,
            baseline_profile: match &prior {
                Some(p) => p.baseline_profile.clone(),
                None => config.profile.clone(),
            },
            failover: prior.as_ref().and_then(|p| p.failover.clone()),
            unreachable_since: None,
            // Sealed when there is a credentials key; without one an import cannot read it back.
            user_data_sealed: req
                .user_data
                .as_ref()
                .and_then(|u| self.inv.seal_text(&sealed_owner(host), u).ok()),
            user_data_write_only: req.user_data_write_only,
            adopted: false,
            image_format: Some(format.as_str().to_string()),
            root_device: req.root_device.clone(),
        };
        let event = if rebuild {
            Event::Rebuild
        } else {
            Event::Deploy
        };
        self.inv.transition(&node, event, None).await?;
        let dep_json = serde_json::to_value(&dep).unwrap_or_default();
        self.inv
            .set_host_state(
                &host.project,
                &host.name,
                "deploying",
                Some(&dep_json),
                None,
            )
            .await?;
        // The node's serial console, where its BMC has one, is kept with the host meanwhile.
        let recorder = self.record_console(host, &node, dep.generation).await;
        if let Some(name) = &req.image {
            let _ = self
                .inv
                .image_used(name, &host.project, &host.name, Some(&node), dep.generation)
                .await;
        }
        // The agent reads a cached image from the deployment endpoint, withdrawn when done.
        let served: Result<Option<DeployRequest>, String> =
            match cached.filter(|_| format.by_agent()) {
                Some(c) => self
                    .media
                    .publish_file(
                        &format!("{}.{}", req.image_checksum.hex, format.as_str()),
                        &c.path,
                        c.bytes,
                    )
                    .map(|url| {
                        let mut r = req.clone();
                        r.image_url = url;
                        Some(r)
                    })
                    .map_err(|e| format!("the image cache's copy cannot be opened: {e}")),
                None => Ok(None),
            };
        let outcome = match &served {
            Ok(s) => {
                self.run_deploy(
                    host,
                    &node,
                    s.as_ref().unwrap_or(req),
                    &dep,
                    format,
                    started,
                )
                .await
            }
            Err(e) => Err(e.clone()),
        };
        if let Ok(Some(s)) = &served {
            self.media.withdraw(&s.image_url);
        }
        if let Some(r) = recorder {
            r.stop().await;
        }
        match outcome {
            Ok(()) => {
                self.inv.transition(&node, Event::Deployed, None).await?;
                self.say(&node, "active");
                Ok(self
                    .inv
                    .set_host_state(&host.project, &host.name, "active", None, None)
                    .await?)
            }
            Err(what) => {
                self.say(&node, &format!("deploy failed: {what}"));
                self.inv.transition(&node, Event::Fail, Some(&what)).await?;
                self.inv
                    .set_host_state(
                        &host.project,
                        &host.name,
                        "deploy failed",
                        None,
                        Some(&what),
                    )
                    .await?;
                // A BMC that does not answer cannot be cleaned through: the node stays in deploy
                // failed, held by the host, and the next deployment resumes on it.
                if !self.answers(&node).await {
                    return Err(failed(
                        host,
                        &node,
                        format!(
                            "deploy failed: {what}; the BMC does not answer, so nothing was cleaned: node {node} \
                             stays in deploy failed and the next deployment of host {} resumes on it",
                            host.name
                        ),
                    ));
                }
                // Not leaked: the node is cleaned and goes back to the pool.
                let cleaned = self
                    .teardown(host, &node, &dep, req.timeout)
                    .await
                    .map(|()| "the node was cleaned and is available again".to_string())
                    .unwrap_or_else(|e| format!("cleaning it failed too: {e}"));
                Err(failed(
                    host,
                    &node,
                    format!("deploy failed: {what}; {cleaned}"),
                ))
            }
        }
    }

    /// Starts keeping the node's serial console with the host, when its BMC offers one.
    async fn record_console(
        &self,
        host: &HostRecord,
        node: &str,
        generation: u32,
    ) -> Option<serial::Recorder> {
        let (bmc, sys) = self.bmc(node).await.ok()?;
        serial::Recorder::start(
            self.inv,
            bmc.as_ref(),
            &sys,
            (&host.project, &host.name, generation),
        )
        .await
    }

    /// The protocol of the node's BMC (Redfish when its endpoint cannot be read: the calls that
    /// follow say why).
    async fn protocol(&self, node: &str) -> crate::hardware::Protocol {
        match self.inv.node_endpoint(node).await {
            Ok((ep, _)) => crate::hardware::Protocol::of(&ep.url),
            Err(_) => crate::hardware::Protocol::Redfish,
        }
    }

    /// Whether the node's BMC answers a power read (within 20 s, retries included).
    async fn answers(&self, node: &str) -> bool {
        match self.bmc(node).await {
            Ok((bmc, sys)) => tokio::time::timeout(Duration::from_secs(20), bmc.power_state(&sys))
                .await
                .is_ok_and(|r| r.is_ok()),
            Err(_) => false,
        }
    }

    async fn run_deploy(
        &self,
        host: &HostRecord,
        node: &str,
        req: &DeployRequest,
        dep: &Deployment,
        format: ImageFormat,
        started: Instant,
    ) -> Result<(), String> {
        let left = |what: &str| {
            req.timeout
                .checked_sub(started.elapsed())
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    format!(
                        "{what}: the deployment ran out of its {}s",
                        req.timeout.as_secs()
                    )
                })
        };
        // 2–3. Provisioning network, profile staged with one reset.
        let provisioning = self
            .network_of_role("provisioning")
            .await
            .map_err(|e| e.to_string())?;
        let profile = req.profile.clone();
        self.say(
            node,
            &format!(
                "ports to {}, profile {}",
                provisioning
                    .as_deref()
                    .unwrap_or("(no provisioning network: unchanged)"),
                profile
                    .as_deref()
                    .or(dep.baseline_profile.as_deref())
                    .unwrap_or("(none)")
            ),
        );
        self.reconfigure(
            node,
            Some(HostOverride {
                networks: provisioning.map(|p| vec![p]),
                profile: profile.clone(),
            }),
            left("staging the profile")?,
        )
        .await
        .map_err(|e| step("staging the profile and the provisioning network", e))?;
        // 5–6. The config drive, served from the media endpoint.
        let mut callback = (req.wait == Wait::Callback).then(|| self.media.callback());
        let seed = configdrive::Seed {
            instance_id: format!("{}-{}-g{}", host.project, host.name, dep.generation),
            hostname: req.hostname.clone().unwrap_or_else(|| host.name.clone()),
            ssh_keys: req.ssh_keys.clone(),
            user_data: req.user_data.clone(),
            phone_home: callback.as_ref().map(|c| c.url.clone()),
            network: Some(self.tenant_network_config(host, node, req).await?),
        };
        let result = if format.by_agent() {
            self.write_by_agent(
                host,
                node,
                req,
                format,
                seed,
                dep.generation,
                callback.as_mut(),
                &left,
            )
            .await
        } else {
            let iso = configdrive::build(&seed).map_err(|e| e.to_string())?;
            let drive_url = self
                .media
                .publish(&format!("{}-config.iso", host.name), iso);
            let r = self
                .boot_installer(node, req, &drive_url, callback.as_mut(), &left)
                .await;
            self.media.withdraw(&drive_url);
            r
        };
        result?;
        // 9. Ports to the host's networks.
        let tenant = if req.networks.is_empty() {
            None
        } else {
            Some(req.networks.clone())
        };
        self.say(node, "ports to the host's networks");
        self.reconfigure(
            node,
            Some(HostOverride {
                networks: tenant,
                profile,
            }),
            left("moving the ports to the host's networks")?,
        )
        .await
        .map_err(|e| step("moving the ports to the host's networks", e))
    }

    /// The host's network configuration: the node's ports on the host's networks, with the
    /// static addresses the inventory allocates (or keeps) for it on their subnets.
    async fn tenant_network_config(
        &self,
        host: &HostRecord,
        node: &str,
        req: &DeployRequest,
    ) -> Result<serde_json::Value, String> {
        let catalog = Catalog::read(self.inv).await.map_err(|e| e.to_string())?;
        let (ports, on) = catalog.host_ports(node, &req.networks);
        // Without a MAC, the addresses would be allocated and never configured.
        if let Some(n) = catalog.unaddressable(&ports, &on) {
            return Err(format!(
                "network {n:?} has static subnets, but no port of node {node} on it has a `mac`: \
                 the host's addresses could not be configured; set the port's mac (nothing was allocated)"
            ));
        }
        let addresses = self
            .inv
            .allocate_addresses(&host.project, &host.name, &on, &req.addresses)
            .await
            .map_err(|e| format!("allocating the host's addresses: {e}"))?;
        if !addresses.is_empty() {
            self.say(
                node,
                &format!(
                    "addresses {}",
                    addresses
                        .iter()
                        .map(|a| format!("{} on {}", a.address, a.network))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        Ok(configdrive::network_config(
            &ports,
            &catalog.networks,
            &addresses,
        ))
    }

    /// 7–8: media in, boot once from CD, power on, wait by the strategy; then media out and the
    /// next boot from disk.
    async fn boot_installer(
        &self,
        node: &str,
        req: &DeployRequest,
        drive_url: &str,
        callback: Option<&mut media::Callback>,
        left: &(dyn Fn(&str) -> Result<Duration, String> + Sync),
    ) -> Result<(), String> {
        let (bmc, sys) = self.bmc(node).await?;
        let power_limit = left("powering off")?.min(Duration::from_secs(600));
        bmc.power(&sys, PowerAction::ForceOff, power_limit)
            .await
            .map_err(|e| step("powering off", e))?;
        bmc.eject_media(&sys)
            .await
            .map_err(|e| step("ejecting media", e))?;
        bmc.insert_media(&sys, &req.image_url)
            .await
            .map_err(|e| image::masked(&step("inserting the image", e), &req.image_url))?;
        bmc.insert_removable_media(&sys, drive_url)
            .await
            .map_err(|e| step("inserting the config drive", e))?;
        bmc.set_boot_override(&sys, BootTarget::Cd, BootPersistence::Once, None)
            .await
            .map_err(|e| step("setting a one-time boot from CD", e))?;
        // Started is enough: the wait below confirms the installer ran, and a quick one may power
        // the server off again before a poll would see it on.
        bmc.power_on_started(&sys, left("powering on")?.min(Duration::from_secs(600)))
            .await
            .map_err(|e| step("powering on", e))?;
        self.say(
            node,
            &format!("installer booted; waiting ({})", req.wait.as_str()),
        );
        let limit = left("waiting for the installation")?;
        let done = self
            .wait_by(req.wait, bmc.as_ref(), &sys, callback, limit)
            .await;
        if !done {
            let what = match req.wait {
                Wait::PowerOff => "the installer to power the server off",
                Wait::BootProgress => "BootProgress to reach OSRunning",
                Wait::Callback => "the installed system's callback",
            };
            return Err(format!(
                "timed out after {}s waiting for {what}",
                limit.as_secs()
            ));
        }
        self.say(node, "installed; ejecting media");
        bmc.eject_media(&sys)
            .await
            .map_err(|e| step("ejecting media", e))?;
        // The next boot is from disk (some BMCs keep a CD override whatever was asked).
        bmc.set_boot_override(&sys, BootTarget::Hdd, BootPersistence::Once, None)
            .await
            .map_err(|e| step("setting a one-time boot from disk", e))?;
        if req.wait == Wait::PowerOff {
            bmc.power(
                &sys,
                PowerAction::On,
                left("powering on the installed system")?.min(Duration::from_secs(600)),
            )
            .await
            .map_err(|e| step("powering on the installed system", e))?;
        }
        Ok(())
    }

    /// Keeps lines with the host's record (what a failed deployment shows).
    async fn keep_log(
        &self,
        host: &HostRecord,
        generation: u32,
        lines: Vec<(&'static str, String)>,
    ) {
        let mut by_source: Vec<(&'static str, Vec<String>)> = Vec::new();
        for (src, line) in lines {
            match by_source.last_mut() {
                Some((s, v)) if *s == src => v.push(line),
                _ => by_source.push((src, vec![line])),
            }
        }
        for (src, lines) in by_source {
            if let Err(e) = self
                .inv
                .append_host_log(&host.project, &host.name, generation, src, &lines)
                .await
            {
                tracing::warn!(host = %host.name, "keeping the deployment log: {e}");
            }
        }
    }

    /// Boots the agent's ISO once by virtual media and waits for its first heartbeat.
    async fn boot_agent(
        &self,
        bmc: &dyn Bmc,
        sys: &str,
        node: &str,
        project: &str,
        agent: &mut agent::Agent,
        limit: Duration,
    ) -> Result<agent_proto::Inventory, String> {
        self.say(
            node,
            &format!("deploy agent booting by {}", agent.boot.describe()),
        );
        let inv = agent::boot(bmc, sys, agent, limit).await?;
        self.say(node, &format!("deploy agent up: {}", agent::summary(&inv)));
        agent::record(self.inv, node, project, &inv).await;
        Ok(inv)
    }

    /// Runs an agent command, saying its progress and keeping what the agent printed (taken
    /// into the host's log every 5 s while it runs, so nothing piles up in memory).
    async fn agent_command(
        &self,
        host: &HostRecord,
        node: &str,
        generation: u32,
        agent: &mut agent::Agent,
        kind: agent_proto::CommandKind,
        limit: Duration,
    ) -> Result<agent_proto::CommandResult, String> {
        let state = agent.session.state.clone();
        let mut said = String::new();
        let run = agent.run(kind, limit, |p| {
            if let Some(p) = p {
                let pct = p
                    .total
                    .filter(|t| *t > 0)
                    .map(|t| format!(" {}%", (p.done.min(t) as u128 * 100 / t as u128)))
                    .unwrap_or_default();
                let now = format!("{}{pct}", p.step);
                if now != said {
                    (self.progress)(node, &now);
                    said = now;
                }
            }
        });
        tokio::pin!(run);
        let r = loop {
            tokio::select! {
                r = &mut run => break r,
                _ = tokio::time::sleep(Duration::from_secs(5)) => {
                    let lines = media::take_log(&state);
                    self.keep_log(host, generation, lines).await;
                }
            }
        };
        let mut lines = media::take_log(&state);
        match &r {
            Ok(res) => lines.push(("engine", format!("{}: {}", res.id, res.message))),
            Err(e) => lines.push(("engine", format!("failed: {e}"))),
        }
        self.keep_log(host, generation, lines).await;
        r.map_err(String::from)
    }

    /// The agent path of a deployment: boot the agent, write the image and the config drive to
    /// the root disk, then boot the server from its disk and wait by the strategy.
    #[allow(clippy::too_many_arguments)]
    async fn write_by_agent(
        &self,
        host: &HostRecord,
        node: &str,
        req: &DeployRequest,
        format: ImageFormat,
        mut seed: configdrive::Seed,
        generation: u32,
        callback: Option<&mut media::Callback>,
        left: &(dyn Fn(&str) -> Result<Duration, String> + Sync),
    ) -> Result<(), String> {
        let (bmc, sys) = self.bmc(node).await?;
        let boot = agent::AgentBoot::for_node(self.inv, node).await?;
        let mut agent = agent::Agent::start(self.media, &host.name, &boot)?;
        let mut drive: Option<String> = None;
        let written = async {
            let inv = self
                .boot_agent(
                    bmc.as_ref(),
                    &sys,
                    node,
                    &host.project,
                    &mut agent,
                    left("booting the deploy agent")?,
                )
                .await?;
            let mut heard = agent.session.take_log();
            heard.push((
                "engine",
                format!("in-band inspection: {}", agent::summary(&inv)),
            ));
            self.keep_log(host, generation, heard).await;
            // Without switch ports to say which NIC is which, the NICs the agent saw take DHCP.
            if seed.network.as_ref().is_none_or(configdrive::is_empty) {
                seed.network = Some(configdrive::dhcp_on(&inv.nics));
            }
            let iso = configdrive::build(&seed).map_err(|e| e.to_string())?;
            let drive_url = self
                .media
                .publish(&format!("{}-config.iso", host.name), iso);
            drive.replace(drive_url.clone());
            self.say(node, &format!("writing the {} image", format.as_str()));
            let cmd = agent_proto::CommandKind::WriteImage(agent_proto::WriteImage {
                url: req.image_url.clone(),
                checksum: req.image_checksum.to_string(),
                format,
                config_drive_url: Some(drive_url),
                root_device: req.root_device.clone(),
                ca_pem: None,
            });
            let res = self
                .agent_command(
                    host,
                    node,
                    generation,
                    &mut agent,
                    cmd,
                    left("writing the image")?,
                )
                .await?;
            self.say(node, &res.message);
            Ok::<_, String>(())
        }
        .await;
        let tail = self.session_tail(&agent);
        agent.withdraw(self.media);
        if let Some(d) = drive {
            self.media.withdraw(&d);
        }
        self.keep_log(host, generation, tail).await;
        written.map_err(|e| step("the deploy agent", e))?;
        // The server boots its disk from now on.
        let power_limit = left("rebooting from disk")?.min(Duration::from_secs(600));
        bmc.power(&sys, PowerAction::ForceOff, power_limit)
            .await
            .map_err(|e| step("powering off", e))?;
        if boot == agent::AgentBoot::VirtualMedia {
            bmc.eject_media(&sys)
                .await
                .map_err(|e| step("ejecting media", e))?;
        }
        bmc.set_boot_override(&sys, BootTarget::Hdd, BootPersistence::Continuous, None)
            .await
            .map_err(|e| step("setting boot from disk", e))?;
        bmc.power(&sys, PowerAction::On, power_limit)
            .await
            .map_err(|e| step("powering on from disk", e))?;
        self.say(
            node,
            &format!("booting from disk; waiting ({})", req.wait.as_str()),
        );
        let limit = left("waiting for the deployed system")?;
        // `power_off` waits for an installer; a written image has none: it is done here.
        let done = req.wait == Wait::PowerOff
            || self
                .wait_by(req.wait, bmc.as_ref(), &sys, callback, limit)
                .await;
        if !done {
            return Err(format!(
                "timed out after {}s waiting for the deployed system ({})",
                limit.as_secs(),
                req.wait.as_str()
            ));
        }
        Ok(())
    }

    /// What the agent said that no command took yet.
    fn session_tail(&self, agent: &agent::Agent) -> Vec<(&'static str, String)> {
        agent.session.take_log()
    }

    /// Erases every disk through the deploy agent; each disk's method is kept in the host's log.
    async fn wipe_by_agent(
        &self,
        host: &HostRecord,
        node: &str,
        bmc: &dyn Bmc,
        sys: &str,
        generation: u32,
        limit: Duration,
    ) -> Result<(), String> {
        let started = Instant::now();
        let left = || {
            limit
                .saturating_sub(started.elapsed())
                .max(Duration::from_secs(1))
        };
        let boot = agent::AgentBoot::for_node(self.inv, node).await?;
        let mut agent = agent::Agent::start(self.media, &host.name, &boot)?;
        let r = async {
            self.boot_agent(bmc, sys, node, &host.project, &mut agent, left())
                .await?;
            let res = self
                .agent_command(
                    host,
                    node,
                    generation,
                    &mut agent,
                    agent_proto::CommandKind::Wipe {
                        mode: agent_proto::WipeMode::Full,
                    },
                    left(),
                )
                .await?;
            let methods: Vec<String> = res.detail["disks"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|d| {
                            format!(
                                "{}: {}",
                                d["disk"].as_str().unwrap_or("?"),
                                d["method"].as_str().unwrap_or("?")
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            self.say(node, &format!("disks erased ({})", methods.join("; ")));
            let _ = self
                .inv
                .record_node_operation("node.wipe", node, Some(&host.project), &methods.join("; "))
                .await;
            Ok::<_, String>(())
        }
        .await;
        let tail = self.session_tail(&agent);
        agent.withdraw(self.media);
        self.keep_log(host, generation, tail).await;
        if boot == agent::AgentBoot::VirtualMedia {
            let _ = bmc.eject_media(sys).await;
        }
        r.map_err(|e| step("erasing the disks with the deploy agent", e))
    }

    /// Waits, `limit` at most, for what `wait` says ends a deployment: the server powered off,
    /// BootProgress at OSRunning, or the deployed system's callback. Whether it came.
    async fn wait_by(
        &self,
        wait: Wait,
        bmc: &dyn Bmc,
        sys: &str,
        callback: Option<&mut media::Callback>,
        limit: Duration,
    ) -> bool {
        match wait {
            Wait::PowerOff => {
                self.poll_until(limit, || async {
                    matches!(bmc.power_state(sys).await, Ok(PowerState::Off))
                })
                .await
            }
            Wait::BootProgress => {
                self.poll_until(limit, || async {
                    matches!(bmc.boot_progress(sys).await, Ok(Some(s)) if s == "OSRunning")
                })
                .await
            }
            Wait::Callback => match callback {
                Some(cb) => self.media.wait(cb, limit).await.is_some(),
                None => false,
            },
        }
    }

    async fn poll_until<F, Fut>(&self, limit: Duration, mut f: F) -> bool
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let end = Instant::now() + limit;
        loop {
            if f().await {
                return true;
            }
            if Instant::now() + self.poll > end {
                return false;
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Deletes a deployed host: the node is cleaned and given back. A clean that fails leaves it
    /// in `clean failed`, in maintenance, and the host kept, with the reason.
    pub async fn delete(&self, host: &HostRecord, timeout: Duration) -> Result<(), HostError> {
        match host.node.clone() {
            Some(node) => {
                self.leased(host, &[&node], timeout, self.delete_held(host, timeout))
                    .await
            }
            None => self.delete_held(host, timeout).await,
        }
    }

    async fn delete_held(&self, host: &HostRecord, timeout: Duration) -> Result<(), HostError> {
        let Some(node) = host.node.clone() else {
            self.inv.delete_host(&host.project, &host.name).await?;
            return Ok(());
        };
        let node_state = self.inv.node(&node).await?.state;
        if node_state == crate::lifecycle::ProvisionState::Available {
            // Allocated, never deployed: the host goes, and its profile (if it gave one) comes
            // off the node, which converges back to its own.
            let mut config = self.inv.node_config(&node).await?;
            let had = config.host_override.take().is_some();
            if had {
                self.inv.set_node_config(&node, &config).await?;
            }
            self.inv.delete_host(&host.project, &host.name).await?;
            if had {
                self.converge(&node, timeout).await.map_err(|what| {
                    failed(host, &node, step("restoring the node's own profile", what))
                })?;
            }
            return Ok(());
        }
        let dep = match Deployment::of(host) {
            Some(d) if !d.adopted => d,
            // Adopted: the node's own configuration is its baseline.
            _ => {
                let config = self.inv.node_config(&node).await?;
                Deployment {
                    baseline_profile: config.profile,
                    profile: config.host_override.and_then(|o| o.profile),
                    ..Deployment::default()
                }
            }
        };
        self.inv
            .set_host_state(&host.project, &host.name, "deleting", None, None)
            .await?;
        self.teardown(host, &node, &dep, timeout)
            .await
            .map_err(|what| failed(host, &node, what))
    }

    /// From `active` or `deploy failed` to `available`: delete, clean, baseline, release.
    async fn teardown(
        &self,
        host: &HostRecord,
        node: &str,
        dep: &Deployment,
        timeout: Duration,
    ) -> Result<(), String> {
        let started = Instant::now();
        let left = || {
            timeout
                .checked_sub(started.elapsed())
                .unwrap_or(Duration::from_secs(1))
        };
        self.inv
            .transition(node, Event::Delete, None)
            .await
            .map_err(|e| e.to_string())?;
        let cleaning = self
            .network_of_role("cleaning")
            .await
            .map_err(|e| e.to_string())?;
        // IPMI has no virtual media, volumes or drive erase: the deploy agent wipes the disks.
        let ipmi = self.protocol(node).await == crate::hardware::Protocol::Ipmi;
        let result = async {
            let (bmc, sys) = self.bmc(node).await?;
            bmc.power(
                &sys,
                PowerAction::ForceOff,
                left().min(Duration::from_secs(600)),
            )
            .await
            .map_err(|e| step("powering off", e))?;
            if !ipmi {
                bmc.eject_media(&sys)
                    .await
                    .map_err(|e| step("ejecting media", e))?;
            }
            if let Some(c) = &cleaning {
                self.say(node, &format!("ports to {c}"));
                let over = HostOverride {
                    networks: Some(vec![c.clone()]),
                    profile: dep.profile.clone(),
                };
                self.reconfigure(node, Some(over), left())
                    .await
                    .map_err(|e| step("moving the ports to the cleaning network", e))?;
            }
            Ok::<_, String>((bmc, sys))
        }
        .await;
        let (bmc, sys) = match result {
            Ok(x) => x,
            Err(e) => return self.clean_failed(host, node, e).await,
        };
        self.inv
            .transition(node, Event::Deleted, None)
            .await
            .map_err(|e| e.to_string())?;
        if ipmi {
            self.say(
                node,
                "cleaning: the deploy agent erases the disks (IPMI has no volumes or drive erase)",
            );
        } else {
            self.say(node, "cleaning: deleting volumes, erasing drives");
            if let Err(e) = self.clean(bmc.as_ref(), &sys, left()).await {
                return self.clean_failed(host, node, e).await;
            }
        }
        // Every disk, whatever the BMC offers, when the deploy agent is configured; an agent ISO
        // configured but unusable fails the clean (never a silent skip of the wipe). Over IPMI the
        // agent is the only way to erase anything, so it must be configured.
        match agent::AgentIso::configured() {
            Err(agent::AgentError::NotConfigured) if ipmi => {
                return self
                    .clean_failed(
                        host,
                        node,
                        step(
                            "erasing the disks",
                            "a node managed over IPMI is erased by the deploy agent only, and it is not configured (set BAREMETAL_AGENT_ISO)",
                        ),
                    )
                    .await
            }
            Err(agent::AgentError::NotConfigured) => {}
            Err(e) => {
                return self
                    .clean_failed(
                        host,
                        node,
                        step("erasing the disks with the deploy agent", e),
                    )
                    .await
            }
            Ok(_) => {
                let recorder = self.record_console(host, node, dep.generation).await;
                let wiped = self
                    .wipe_by_agent(host, node, bmc.as_ref(), &sys, dep.generation, left())
                    .await;
                if let Some(r) = recorder {
                    r.stop().await;
                }
                if let Err(e) = wiped {
                    return self.clean_failed(host, node, e).await;
                }
            }
        }
        // BIOS and RAID back to the node's own profile; ports back to its configuration.
        self.say(
            node,
            &format!(
                "back to the baseline profile {}",
                dep.baseline_profile.as_deref().unwrap_or("(none)")
            ),
        );
        if let Err(e) = self.reconfigure(node, None, left()).await {
            return self
                .clean_failed(host, node, step("restoring the baseline profile", e))
                .await;
        }
        if let Err(e) = bmc
            .power(
                &sys,
                PowerAction::ForceOff,
                left().min(Duration::from_secs(600)),
            )
            .await
        {
            return self
                .clean_failed(host, node, step("powering off after cleaning", e))
                .await;
        }
        self.inv
            .transition(node, Event::Cleaned, None)
            .await
            .map_err(|e| e.to_string())?;
        self.inv
            .delete_host(&host.project, &host.name)
            .await
            .map_err(|e| e.to_string())?;
        self.say(node, "available");
        Ok(())
    }

    /// Deletes every volume now and secure-erases every drive that offers it.
    async fn clean(&self, bmc: &dyn Bmc, sys: &str, limit: Duration) -> Result<(), String> {
        let volumes = bmc
            .volumes(sys)
            .await
            .map_err(|e| step("reading volumes", e))?;
        for v in &volumes {
            if let Some(task) = bmc
                .delete_volume(sys, &v.id, ApplyTime::Immediate)
                .await
                .map_err(|e| step(&format!("deleting volume {}", v.id), e))?
            {
                bmc.wait_task(&task, limit)
                    .await
                    .map_err(|e| step(&format!("deleting volume {}", v.id), e))?;
            }
        }
        let tasks = bmc
            .erase_drives(sys)
            .await
            .map_err(|e| step("secure erase", e))?;
        for t in &tasks {
            bmc.wait_task(t, limit)
                .await
                .map_err(|e: BmcError| step("secure erase", e))?;
        }
        Ok(())
    }

    async fn clean_failed(&self, host: &HostRecord, node: &str, why: String) -> Result<(), String> {
        let reason = format!("clean failed: {why}");
        self.say(node, &reason);
        // From deleting or cleaning: the failure is recorded on the node, never hidden.
        let _ = self.inv.transition(node, Event::Fail, Some(&reason)).await;
        let _ = self.inv.set_maintenance(node, true, Some(&reason)).await;
        let _ = self
            .inv
            .set_host_state(
                &host.project,
                &host.name,
                "clean failed",
                None,
                Some(&reason),
            )
            .await;
        Err(format!(
            "{reason}; node {node} is in clean failed, in maintenance"
        ))
    }

    /// Gives the host's node the host's profile (over the node's own), keeping where its ports
    /// are, and converges it: one reset if the profile needs one.
    pub async fn set_profile(
        &self,
        host: &HostRecord,
        profile: Option<String>,
        limit: Duration,
    ) -> Result<(), HostError> {
        self.leased_on_its_node(host, limit, self.set_profile_held(host, profile, limit))
            .await
    }

    async fn set_profile_held(
        &self,
        host: &HostRecord,
        profile: Option<String>,
        limit: Duration,
    ) -> Result<(), HostError> {
        // Read again under the lease: what the record says now is what is written back.
        let host = &self.inv.host(&host.project, &host.name).await?;
        let node = node_of(host, "")?;
        let current = self.inv.node_config(&node).await?.host_override;
        let over = HostOverride {
            networks: current.and_then(|o| o.networks),
            profile: profile.clone(),
        };
        self.reconfigure(&node, Some(over), limit)
            .await
            .map_err(|what| failed(host, &node, step("applying the profile", what)))?;
        // A deployed host's record says which profile it runs with (what bmplan compares).
        let profile = serde_json::json!(profile);
        self.inv
            .update_host_deployment(&host.project, &host.name, "profile changed", |d| {
                if d.is_empty() || d.get("profile").unwrap_or(&serde_json::Value::Null) == &profile
                {
                    return false;
                }
                d.insert("profile".into(), profile);
                true
            })
            .await?;
        Ok(())
    }

    /// Moves a host to `to`: the node it leaves goes into maintenance (and, if it ran the host,
    /// to `clean failed`: nobody cleaned it), the host's profile goes to the new node with one
    /// reset, and a host with an image is deployed there (`req`).
    pub async fn migrate(
        &self,
        host: &HostRecord,
        to: &str,
        reason: &str,
        req: Option<&DeployRequest>,
        limit: Duration,
    ) -> Result<HostRecord, HostError> {
        let from = node_of(host, " to move from")?;
        let ttl = limit + req.map_or(Duration::ZERO, |r| r.timeout);
        self.leased(
            host,
            &[&from, to],
            ttl,
            self.migrate_held(host, to, reason, req, limit),
        )
        .await
    }

    async fn migrate_held(
        &self,
        host: &HostRecord,
        to: &str,
        reason: &str,
        req: Option<&DeployRequest>,
        limit: Duration,
    ) -> Result<HostRecord, HostError> {
        let from = node_of(host, " to move from")?;
        let reason = format!("host {} moves from {from} to {to}: {reason}", host.name);
        self.say(&from, &reason);
        let moved = self
            .inv
            .move_host(&host.project, &host.name, to, &reason)
            .await?;
        // The node left behind: out of the pool until someone looks at it.
        let mut config = self.inv.node_config(&from).await?;
        let over = config.host_override.take();
        if over.is_some() {
            self.inv.set_node_config(&from, &config).await?;
        }
        let left = self.inv.node(&from).await?;
        if left.state == crate::lifecycle::ProvisionState::Active {
            self.inv.transition(&from, Event::Delete, None).await?;
            self.inv
                .transition(&from, Event::Fail, Some(&format!("not cleaned: {reason}")))
                .await?;
        }
        self.inv.set_maintenance(&from, true, Some(&reason)).await?;
        // The host on its new node.
        let mut dep = Deployment::of(host).unwrap_or_default();
        dep.unreachable_since = None;
        let v = serde_json::to_value(&dep).unwrap_or_default();
        let moved = self
            .inv
            .set_host_state(&moved.project, &moved.name, "migrating", Some(&v), None)
            .await?;
        match req {
            Some(req) => {
                let mut moved = moved;
                // A fresh deployment on the standby (its generation continues).
                moved.state = "allocated".into();
                self.deploy(&moved, req).await
            }
            None => {
                let profile = over.and_then(|o| o.profile);
                self.set_profile(&moved, profile, limit).await?;
                Ok(self
                    .inv
                    .set_host_state(
                        &moved.project,
                        &moved.name,
                        "allocated",
                        None,
                        Some("migrated"),
                    )
                    .await?)
            }
        }
    }

    /// The host's node's power, read from its BMC.
    pub async fn power_state(&self, host: &HostRecord) -> Result<PowerState, HostError> {
        host_power(self.inv, host).await
    }

    /// Moves a deployed host's ports to `networks` (empty: the node's own), without redeploying.
    pub async fn move_ports(
        &self,
        host: &HostRecord,
        networks: &[String],
        limit: Duration,
    ) -> Result<(), HostError> {
        self.leased_on_its_node(host, limit, self.move_ports_held(host, networks, limit))
            .await
    }

    async fn move_ports_held(
        &self,
        host: &HostRecord,
        networks: &[String],
        limit: Duration,
    ) -> Result<(), HostError> {
        // Read again under the lease: what the record says now is what is written back.
        let host = &self.inv.host(&host.project, &host.name).await?;
        let node = node_of(host, "")?;
        self.check_networks(networks).await?;
        let dep = Deployment::of(host).unwrap_or_default();
        let target = if networks.is_empty() {
            None
        } else {
            Some(networks.to_vec())
        };
        // The profile the host's layer has now (set in place, or by the deployment).
        let current = self.inv.node_config(&node).await?.host_override;
        let over = HostOverride {
            networks: target,
            profile: match current {
                Some(o) => o.profile,
                None => dep.profile.clone(),
            },
        };
        self.reconfigure(&node, Some(over), limit)
            .await
            .map_err(|what| failed(host, &node, step("moving the ports", what)))?;
        // Only the networks are written, into the deployment as it is now (a host with none gets
        // one, as before).
        self.inv
            .update_host_deployment(&host.project, &host.name, "networks changed", |d| {
                if d.is_empty() {
                    if let Ok(serde_json::Value::Object(m)) = serde_json::to_value(&dep) {
                        *d = m;
                    }
                }
                d.insert("networks".into(), serde_json::json!(networks));
                true
            })
            .await?;
        Ok(())
    }

    /// Powers the host's node on or off (or reboots it).
    pub async fn power(
        &self,
        host: &HostRecord,
        action: PowerAction,
        limit: Duration,
    ) -> Result<(), HostError> {
        self.leased_on_its_node(host, limit, self.power_held(host, action, limit))
            .await
    }

    async fn power_held(
        &self,
        host: &HostRecord,
        action: PowerAction,
        limit: Duration,
    ) -> Result<(), HostError> {
        let node = node_of(host, "")?;
        let (bmc, sys) = self.bmc(&node).await.map_err(|w| failed(host, &node, w))?;
        bmc.power(&sys, action, limit)
            .await
            .map_err(|e| failed(host, &node, step("power", e)))?;
        self.inv
            .record_node_operation(
                "node.power",
                &node,
                Some(&host.project),
                &format!("{action:?} for host {}", host.name),
            )
            .await?;
        Ok(())
    }
}

/// A node's BMC and system id, from the inventory.
async fn bmc_of(inv: &Inventory, node: &str) -> Result<(Box<dyn Bmc>, String), String> {
    let (ep, system) = inv.node_endpoint(node).await.map_err(|e| e.to_string())?;
    let bmc = crate::bmc::open(ep, crate::bmc::Purpose::Change).map_err(|e| e.to_string())?;
    Ok((bmc, system))
}

/// The power of a host's node, read from its BMC (no deployment endpoint needed: `bmplan plan`).
pub async fn host_power(inv: &Inventory, host: &HostRecord) -> Result<PowerState, HostError> {
    let node = node_of(host, "")?;
    let (bmc, system) = bmc_of(inv, &node)
        .await
        .map_err(|e| failed(host, &node, e))?;
    bmc.power_state(&system)
        .await
        .map_err(|e| failed(host, &node, step("reading power", e)))
}

// Failover reads need only the inventory and the BMCs: `bmplan plan` and the provider's reads call
// them without starting a deployment endpoint.

/// Whether the host's node has failed: its health is Critical, or its BMC has not answered
/// for longer than the policy allows (the first silence is recorded, and cleared on an
/// answer). `Ok(None)`: healthy, or not failed long enough.
/// Also returns the health as read: `OK`/`Warning`/`Critical`, `unreachable` once past the
/// threshold, `unreachable for Ns` before it.
pub async fn check_failure(
    inv: &Inventory,
    host: &HostRecord,
) -> Result<(String, Option<NodeFailure>), HostError> {
    let Some(node) = host.node.clone() else {
        return Ok(("unknown".into(), None));
    };
    let dep = Deployment::of(host).unwrap_or_default();
    let Some(policy) = dep.failover.clone() else {
        return Ok(("unknown".into(), None));
    };
    let probe = async {
        let (bmc, sys) = bmc_of(inv, &node).await?;
        tokio::time::timeout(Duration::from_secs(30), bmc.power_and_health(&sys))
            .await
            .map_err(|_| "no answer within 30s".to_string())?
            .map_err(|e| e.to_string())
    };
    let now = crate::inventory::now_ms();
    let (health, failure, since) = match probe.await {
        Ok((_, Some(h))) if h == "Critical" => (
            h,
            Some(format!("node {node} reports health Critical")),
            None,
        ),
        Ok((_, h)) => (h.unwrap_or_else(|| "OK".into()), None, None),
        Err(why) => {
            let since = dep.unreachable_since.unwrap_or(now);
            let after = Duration::from_secs(policy.unreachable_after_s);
            let silent = Duration::from_millis((now - since).max(0) as u64);
            let failure = (silent >= after).then(|| {
                format!(
                    "node {node}'s BMC has not answered for {}s (more than {}s): {why}",
                    silent.as_secs(),
                    after.as_secs()
                )
            });
            let health = if failure.is_some() {
                "unreachable".to_string()
            } else {
                format!("unreachable for {}s", silent.as_secs())
            };
            (health, failure, Some(since))
        }
    };
    if since != dep.unreachable_since {
        let detail = match since {
            Some(_) => "its node's BMC does not answer",
            None => "its node's BMC answers again",
        };
        inv.update_host_deployment(&host.project, &host.name, detail, |d| {
            let now = d
                .get("unreachable_since")
                .and_then(serde_json::Value::as_i64);
            if d.is_empty() || now == since {
                return false;
            }
            d.insert("unreachable_since".into(), serde_json::json!(since));
            true
        })
        .await?;
    }
    Ok((health, failure.map(|reason| NodeFailure { node, reason })))
}

/// The first free node of the standby pool that `project` may use (unowned, or owned by it):
/// the named nodes in order, then the flavor's best fit. `None` when the pool is empty.
pub async fn pick_standby(
    inv: &Inventory,
    policy: &Failover,
    project: &str,
    not: &str,
) -> Result<Option<String>, HostError> {
    let nodes = inv.nodes(&crate::inventory::NodeFilter::default()).await?;
    let free = |n: &crate::inventory::NodeRecord| {
        n.name != not
            && crate::inventory::is_free(n)
            && n.owner_project.as_deref().is_none_or(|p| p == project)
    };
    for want in &policy.standby_nodes {
        if nodes.iter().any(|n| &n.name == want && free(n)) {
            return Ok(Some(want.clone()));
        }
    }
    if let Some(f) = &policy.standby_flavor {
        let caps = inv.flavors().await?;
        if let Some(c) = caps.iter().find(|c| &c.flavor.name == f) {
            let candidates: Vec<_> = nodes
                .iter()
                .filter(|n| free(n))
                .map(|n| n.specs())
                .collect();
            if let Some(best) = c.flavor.rank(&candidates).into_iter().next() {
                return Ok(Some(best.name.clone()));
            }
        }
    }
    Ok(None)
}
