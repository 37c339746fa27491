//! Capture: a deployed host's disk becomes a new golden image (`baremetal_image` with origin
//! `captured from host H at generation N`), and the host goes back to its OS unchanged.
//!
//! The host is shut down (gracefully, then forced), its node boots the deploy agent, and the
//! agent generalises a snapshot of the root device and streams it, zstd-compressed, to this
//! endpoint (`/agent/<token>/capture`), which writes it into the image store, hashing it as it
//! comes. The agent's digest and the endpoint's must agree. The node then boots its disk again,
//! and the image is registered in the inventory, audited as `image.capture`.

use std::time::{Duration, Instant};

use planner_core::deploy::agent as agent_proto;
use planner_core::deploy::capture::{Capture, Captured, Generalise};
use planner_core::golden::{GoldenImage, ImageOrigin};

use super::*;

/// What to capture a host as.
#[derive(Debug, Clone)]
pub struct CaptureRequest {
    /// The new image's name.
    pub name: String,
    /// A shell script run chrooted in the generalised system, after the standard steps.
    pub script: Option<String>,
    /// The image's OS family; unset: the captured system's `/etc/os-release` `ID`.
    pub os_family: Option<String>,
    /// zstd level, 1–19.
    pub level: i32,
    pub timeout: Duration,
    /// How long the OS has to shut down (ACPI) before the power is cut.
    pub shutdown: Duration,
}

impl CaptureRequest {
    pub fn new(name: &str, timeout: Duration) -> CaptureRequest {
        CaptureRequest {
            name: name.to_string(),
            script: None,
            os_family: None,
            level: 3,
            timeout,
            shutdown: Duration::from_secs(300),
        }
    }
}

/// What a capture made.
#[derive(Debug, Clone)]
pub struct CaptureOutcome {
    pub image: GoldenImage,
    pub captured: Captured,
    pub seconds: f64,
}

impl Lifecycle<'_> {
    /// Captures `host` (active) as a new image `req.name`. Refused before anything is touched
    /// when the host is not active, the name is taken, or the actor may not register images.
    pub async fn capture(
        &self,
        host: &HostRecord,
        req: &CaptureRequest,
    ) -> Result<CaptureOutcome, HostError> {
        if host.state != "active" {
            let why = format!(
                "host {}/{} is {}, not active: only an active host is captured; nothing was touched",
                host.project, host.name, host.state
            );
            self.inv
                .record_denied(
                    planner_core::project::Object::Image,
                    "image.capture",
                    &req.name,
                    Some(&host.project),
                    &why,
                )
                .await?;
            return Err(HostError::Invalid(why));
        }
        let node = node_of(host, " to capture from")?;
        let dep = Deployment::of(host).ok_or_else(|| {
            HostError::Invalid(format!(
                "host {}/{} has no deployment to capture; nothing was touched",
                host.project, host.name
            ))
        })?;
        if !(1..=19).contains(&req.level) {
            return Err(HostError::Invalid(format!(
                "zstd level {} is not within 1–19; nothing was touched",
                req.level
            )));
        }
        self.inv.may_capture(&req.name, &host.project).await?;
        let boot = agent::AgentBoot::for_node(self.inv, &node)
            .await
            .map_err(|e| {
                HostError::Invalid(format!(
                    "host {} cannot be captured: {e}; nothing was touched",
                    host.name
                ))
            })?;
        boot.check_configured()
            .map_err(|e| HostError::Invalid(e.to_string()))?;
        self.leased_on_its_node(host, req.timeout, self.capture_held(host, &node, &dep, req))
            .await
    }

    async fn capture_held(
        &self,
        host: &HostRecord,
        node: &str,
        dep: &Deployment,
        req: &CaptureRequest,
    ) -> Result<CaptureOutcome, HostError> {
        let started = Instant::now();
        let left = |what: &str| {
            req.timeout
                .checked_sub(started.elapsed())
                .filter(|d| !d.is_zero())
                .ok_or_else(|| {
                    format!(
                        "{what}: the capture ran out of its {}s",
                        req.timeout.as_secs()
                    )
                })
        };
        let (bmc, sys) = self.bmc(node).await.map_err(|e| failed(host, node, e))?;
        let store = store::dir();
        let part = store.join(format!(".capture-{}-{}.part", req.name, std::process::id()));
        // 1. Captured, whatever then happens; 2. the host back on its OS, always.
        let captured = self
            .capture_by_agent(host, node, dep, req, bmc.as_ref(), &sys, &part, &left)
            .await;
        let back = self.back_to_os(host, node, dep, bmc.as_ref(), &sys).await;
        let (captured, uploaded) = match (captured, back) {
            (Ok(c), Ok(())) => c,
            (Err(e), back) => {
                let _ = std::fs::remove_file(&part);
                let back = match back {
                    Ok(()) => "the host was booted from its disk again".to_string(),
                    Err(b) => format!("booting the host from its disk again failed too: {b}"),
                };
                let _ = self
                    .inv
                    .record_node_failure("image.capture", node, Some(&host.project), &e)
                    .await;
                return Err(failed(host, node, format!("capture failed: {e}; {back}")));
            }
            (Ok(_), Err(b)) => {
                let _ = std::fs::remove_file(&part);
                return Err(failed(
                    host,
                    node,
                    format!("the image was captured, but booting the host from its disk again failed: {b}; nothing was registered"),
                ));
            }
        };
        // 3. Into the store under its name and digest, and into the cache (a hard link: the
        // first deployment of the image then fetches nothing).
        let hex = uploaded.sha256.clone();
        let file = store.join(format!("{}-{}.raw.zst", req.name, &hex[..12]));
        std::fs::rename(&uploaded.path, &file).map_err(|e| {
            failed(
                host,
                node,
                format!("keeping the captured image in {}: {e}", store.display()),
            )
        })?;
        let cached = self.media.cache().dir().join(format!("sha256-{hex}"));
        if std::fs::create_dir_all(self.media.cache().dir()).is_ok() && !cached.exists() {
            let _ = std::fs::hard_link(&file, &cached);
        }
        let url = store::url_of(&file);
        let image = GoldenImage {
            name: req.name.clone(),
            url: url.clone(),
            url_sealed: None,
            checksum: format!("sha256:{hex}"),
            format: Some(ImageFormat::RawZstd.as_str().to_string()),
            size_bytes: Some(uploaded.bytes),
            os_family: req.os_family.clone().or_else(|| captured.os_id.clone()),
            origin: ImageOrigin::Captured {
                host: format!("{}/{}", host.project, host.name),
                generation: dep.generation,
            },
        };
        let image = self.inv.put_image(&image, &url).await?;
        self.say(
            node,
            &format!(
                "captured as image {} ({}, {} bytes)",
                image.name, image.checksum, uploaded.bytes
            ),
        );
        Ok(CaptureOutcome {
            image,
            captured,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Shuts the host down, boots the agent on the provisioning network, and has it capture.
    #[allow(clippy::too_many_arguments)]
    async fn capture_by_agent(
        &self,
        host: &HostRecord,
        node: &str,
        dep: &Deployment,
        req: &CaptureRequest,
        bmc: &dyn Bmc,
        sys: &str,
        part: &std::path::Path,
        left: &(dyn Fn(&str) -> Result<Duration, String> + Sync),
    ) -> Result<(Captured, media::Uploaded), String> {
        self.say(node, "shutting the host down");
        // The BMC's graceful shutdown has half the limit, then the power is cut.
        bmc.power(
            sys,
            PowerAction::Off,
            left("shutting down")?.min(req.shutdown * 2),
        )
        .await
        .map_err(|e| step("shutting the host down", e))?;
        let provisioning = self
            .network_of_role("provisioning")
            .await
            .map_err(|e| e.to_string())?;
        if provisioning.is_some() {
            self.say(node, "ports to the provisioning network");
            self.reconfigure(
                node,
                Some(HostOverride {
                    networks: provisioning.map(|p| vec![p]),
                    profile: dep.profile.clone(),
                }),
                left("moving the ports to the provisioning network")?,
            )
            .await
            .map_err(|e| step("moving the ports to the provisioning network", e))?;
        }
        let boot = agent::AgentBoot::for_node(self.inv, node).await?;
        let mut agent = agent::Agent::start(self.media, &host.name, &boot)?;
        let r = async {
            self.boot_agent(
                bmc,
                sys,
                node,
                &host.project,
                &mut agent,
                left("booting the deploy agent")?,
            )
            .await?;
            agent.session.lock().upload = Some(media::UploadTo {
                part: part.to_path_buf(),
                limit: self.media.cache().limit(),
            });
            self.say(node, "capturing: generalising a snapshot and streaming it");
            let cmd = agent_proto::CommandKind::Capture(Capture {
                upload_url: format!("{}/capture", agent.session.url),
                root_device: dep.root_device.clone(),
                generalise: Generalise::standard(),
                script: req.script.clone(),
                level: req.level,
            });
            let res = self
                .agent_command(
                    host,
                    node,
                    dep.generation,
                    &mut agent,
                    cmd,
                    left("capturing")?,
                )
                .await?;
            self.say(node, &res.message);
            let captured: Captured = serde_json::from_value(res.detail.clone())
                .map_err(|e| format!("the agent's capture report: {e}"))?;
            let uploaded = match agent.session.lock().uploaded.clone() {
                Some(Ok(u)) => u,
                Some(Err(e)) => return Err(format!("the upload failed: {e}")),
                None => {
                    return Err("the agent reported a capture, but no image was uploaded".into())
                }
            };
            if captured.checksum != format!("sha256:{}", uploaded.sha256) {
                return Err(format!(
                    "the agent sent an image with {}, and the endpoint received one with sha256:{}",
                    captured.checksum, uploaded.sha256
                ));
            }
            Ok::<_, String>((captured, uploaded))
        }
        .await;
        let tail = self.session_tail(&agent);
        agent.withdraw(self.media);
        self.keep_log(host, dep.generation, tail).await;
        r
    }

    /// The host boots its disk again, on its own networks.
    async fn back_to_os(
        &self,
        host: &HostRecord,
        node: &str,
        dep: &Deployment,
        bmc: &dyn Bmc,
        sys: &str,
    ) -> Result<(), String> {
        let limit = Duration::from_secs(600);
        bmc.power(sys, PowerAction::ForceOff, limit)
            .await
            .map_err(|e| step("powering off", e))?;
        let _ = bmc.eject_media(sys).await;
        let tenant = (!dep.networks.is_empty()).then(|| dep.networks.clone());
        self.reconfigure(
            node,
            Some(HostOverride {
                networks: tenant,
                profile: dep.profile.clone(),
            }),
            limit,
        )
        .await
        .map_err(|e| step("moving the ports back to the host's networks", e))?;
        bmc.set_boot_override(sys, BootTarget::Hdd, BootPersistence::Continuous, None)
            .await
            .map_err(|e| step("setting boot from disk", e))?;
        bmc.power(sys, PowerAction::On, limit)
            .await
            .map_err(|e| step("powering on from disk", e))?;
        self.say(node, &format!("host {} booting its disk again", host.name));
        Ok(())
    }
}
