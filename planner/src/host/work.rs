//! Host work in an engine session (methods of [`Session`]): what the configuration's
//! `baremetal_host` blocks need against the inventory's hosts ([`Session::host_work`]), which hosts
//! move because their node failed ([`Session::failovers`]), and doing it after the node waves
//! ([`Session::perform_hosts`]), through one deployment endpoint started only when there is work.
//! Each deployment, rebuild, move and power change is a journaled host lifecycle operation
//! (`crate::host::Lifecycle`): its node transitions and its audit rows are the inventory's.

use std::time::Duration;

use futures_util::StreamExt;

use crate::bmc::PowerAction;
use crate::deploy::work::same_work;
use crate::deploy::{DeployRequest, Deployment, HostChange, HostMove, HostSpec, HostWork};
use crate::engine::Session;
use crate::golden::{image_change, ImageChange, ImageWork};
use crate::host::{self, HostError, Lifecycle, MediaServer, ProgressFn};
use crate::inventory::{HostRecord, InventoryError, NewHost};
use crate::model::Desired;

/// The host part of a planning pass.
#[derive(Debug, Clone, Default)]
pub struct HostPass {
    pub moves: Vec<HostMove>,
    /// The configuration's images to register or change, before any host deploys them.
    pub images: Vec<ImageWork>,
    pub work: Vec<HostWork>,
}

impl HostPass {
    pub fn any_to_do(&self) -> bool {
        !self.images.is_empty() || crate::deploy::work::any_to_do(&self.moves, &self.work)
    }

    /// The images to register, then the hosts' work, as `bmplan plan` and `apply` print them.
    pub fn work_text(&self) -> String {
        let mut s = String::new();
        if !self.images.is_empty() {
            s.push_str("\nImages:\n");
            for w in &self.images {
                s.push_str(&w.line());
                s.push('\n');
            }
        }
        s + &crate::report::host_work_text(&self.work)
    }

    /// `bmplan plan --json`: the plan, the hosts' work and the images to register.
    pub fn plan_json(&self, p: &crate::plan::Prepared) -> serde_json::Value {
        let mut doc = crate::report::plan_json(p, &self.moves, &self.work);
        doc["images"] = serde_json::Value::Array(
            self.images
                .iter()
                .map(|w| {
                    serde_json::json!({
                        "image": w.image.name, "url": w.image.url, "checksum": w.image.checksum,
                        "change": match &w.change {
                            ImageChange::Register => vec!["register"],
                            ImageChange::Update(c) => c.clone(),
                        },
                    })
                })
                .collect(),
        );
        if !self.images.is_empty() {
            doc["changes"] = serde_json::Value::Bool(true);
        }
        doc
    }
}

/// What happened to one host: `project/name`, and the host as it ended or why it failed.
pub type HostOutcome = (String, Result<HostRecord, HostError>);

/// What [`Session::perform_hosts`] did: the failovers in order (a failed one ends the list: the
/// hosts after it may need the standby it would have freed or taken), then the host changes in
/// the order they ended.
#[derive(Debug, Default)]
pub struct HostResults {
    pub moved: Vec<HostOutcome>,
    pub changed: Vec<HostOutcome>,
}

impl HostResults {
    /// The hosts whose change failed.
    pub fn failed(&self) -> Vec<&str> {
        self.changed
            .iter()
            .filter(|(_, r)| r.is_err())
            .map(|(who, _)| who.as_str())
            .collect()
    }

    /// What became of each host, a line each, as `bmplan apply` prints it: the failovers up to
    /// the first that failed (whose error is returned: the host changes did not run), then the
    /// host changes.
    pub fn lines(self) -> (Vec<String>, Option<HostError>) {
        let mut out = Vec::new();
        for (who, r) in self.moved {
            match r {
                Ok(h) => out.push(format!(
                    "host {who}: moved to {} ({})",
                    h.node.as_deref().unwrap_or("-"),
                    h.state
                )),
                Err(e) => return (out, Some(e)),
            }
        }
        for (who, r) in &self.changed {
            out.push(match r {
                Ok(h) => format!(
                    "host {who}: {} on node {}",
                    h.state,
                    h.node.as_deref().unwrap_or("-")
                ),
                Err(e) => format!(
                    "host {who}: failed: {}",
                    crate::bmc::redfish::client::error_chain(e)
                ),
            });
        }
        (out, None)
    }
}

impl Session<'_> {
    /// The failovers and the host work of `desired`, as `bmplan plan` shows them. Nothing is
    /// deployed or moved; the failover check records since when a node's BMC has not answered.
    pub async fn host_pass(&self, desired: &Desired) -> Result<HostPass, HostError> {
        Ok(HostPass {
            moves: self.failovers().await?,
            images: self.image_work(desired).await?,
            work: self.host_work(desired).await?,
        })
    }

    /// The configuration's `baremetal_image` blocks that the inventory lacks or holds otherwise.
    pub async fn image_work(&self, desired: &Desired) -> Result<Vec<ImageWork>, HostError> {
        let mut out = Vec::new();
        for (name, (img, url)) in &desired.images {
            let have = match self.inv.image(name).await {
                Ok(i) => Some(i),
                Err(InventoryError::NotFound { .. }) => None,
                Err(e) => return Err(e.into()),
            };
            let mut change = image_change(img, have.as_ref());
            // The same URL as shown, with new credentials: registered again (sealed anew).
            if change.is_none() {
                if let Some(h) = &have {
                    if self.inv.image_source(h).ok().as_deref() != Some(url.expose()) {
                        change = Some(ImageChange::Update(vec!["url (credentials)"]));
                    }
                }
            }
            if let Some(change) = change {
                out.push(ImageWork {
                    image: img.clone(),
                    url: url.clone(),
                    change,
                });
            }
        }
        Ok(out)
    }

    /// A host block that names an image not declared in the configuration: the inventory's
    /// image's URL, checksum and format (an unknown image is an error at the block).
    async fn with_inventory_image(&self, spec: &HostSpec) -> Result<HostSpec, HostError> {
        let (Some(name), None) = (&spec.image, &spec.image_url) else {
            return Ok(spec.clone());
        };
        let img = match self.inv.image(name).await {
            Ok(i) => i,
            Err(InventoryError::NotFound { .. }) => {
                return Err(HostError::Invalid(format!(
                    "baremetal_host.{}: image: no image named {name:?} in the configuration or the inventory",
                    spec.name
                )))
            }
            Err(e) => return Err(e.into()),
        };
        if let Some(pin) = spec.image_checksum.as_ref().filter(|p| **p != img.checksum) {
            return Err(HostError::Invalid(format!(
                "baremetal_host.{}: image: image {name:?} is at checksum {}, and the host asks for {pin}",
                spec.name, img.checksum
            )));
        }
        let mut out = spec.clone();
        out.image_url = Some(self.inv.image_source(&img)?);
        out.image_checksum = Some(img.checksum.clone());
        if out.image_format.is_none() {
            out.image_format = img.format.clone();
        }
        Ok(out)
    }

    /// Hosts with a failover policy whose node is Critical or unreachable past its threshold, and
    /// where each goes. Reads each such node's BMC, and records since when one does not answer
    /// (the threshold counts from there).
    pub async fn failovers(&self) -> Result<Vec<HostMove>, HostError> {
        let inv = self.inv;
        let with_policy: Vec<HostRecord> = inv
            .hosts(None)
            .await?
            .into_iter()
            .filter(|h| Deployment::of(h).is_some_and(|d| d.failover.is_some()))
            .collect();
        let mut out = Vec::new();
        for h in with_policy {
            let (_, failure) = host::check_failure(inv, &h).await?;
            let Some(failure) = failure else { continue };
            let policy = Deployment::of(&h)
                .and_then(|d| d.failover)
                .unwrap_or_default();
            let to = host::pick_standby(inv, &policy, &h.project, &failure.node).await?;
            out.push(HostMove {
                host: h,
                failure,
                to,
            });
        }
        Ok(out)
    }

    /// Compares the configuration's `baremetal_host` blocks with the inventory's hosts (reads only:
    /// the inventory, and the power of active hosts whose block sets it).
    pub async fn host_work(&self, desired: &Desired) -> Result<Vec<HostWork>, HostError> {
        let inv = self.inv;
        if desired.hosts.is_empty() {
            return Ok(Vec::new());
        }
        let Some(project) = desired
            .project
            .clone()
            .or_else(|| inv.actor().default_project().map(str::to_string))
        else {
            return Err(HostError::Invalid("the configuration has hosts: name their project with `project` in the provider block, or BAREMETAL_PROJECT".into()));
        };
        let mut out = Vec::new();
        let mut catalog: Option<crate::engine::Catalog> = None;
        for spec in desired.hosts.values() {
            let spec = &self.with_inventory_image(spec).await?;
            let existing = match inv.host(&project, &spec.name).await {
                Ok(h) => Some(h),
                Err(InventoryError::NotFound { .. }) => None,
                Err(e) => return Err(e.into()),
            };
            let mut notes = host::not_applied(spec, existing.as_ref());
            let mut change = host::change_for(spec, existing.as_ref());
            // A move only to a node that can take the host; otherwise it stays, and says why.
            if let Some(HostChange::Migrate { to }) = &change {
                if let Some(why) = self.cannot_take(to, &project).await {
                    notes.push(format!(
                        "pinned to {to}, which cannot take it ({why}): it stays where it is"
                    ));
                    change = None;
                }
            }
            // Power is read live, and only asked of a host with nothing else to do.
            if let (None, Some(_), Some(h)) = (&change, &spec.power, &existing) {
                if h.state == "active" && h.node.is_some() {
                    match host::host_power(inv, h).await {
                        Ok(p)
                            if matches!(
                                p.as_str(),
                                "On" | "Off" | "PoweringOn" | "PoweringOff"
                            ) =>
                        {
                            change = host::power_change(spec, Some(h), p.as_str())
                        }
                        Ok(p) => notes.push(format!(
                            "power reads {:?}, neither on nor off: not changed",
                            p.as_str()
                        )),
                        Err(e) => notes.push(format!("power could not be read: {e}")),
                    }
                }
            }
            // Addresses, as the deployment will allocate them: refused now, not half-way.
            let deploys = matches!(
                change,
                Some(HostChange::Create { deploy: true })
                    | Some(HostChange::Deploy)
                    | Some(HostChange::Rebuild { .. })
                    | Some(HostChange::Migrate { .. })
            );
            if deploys {
                let c = match catalog.take() {
                    Some(c) => c,
                    None => crate::engine::Catalog::read(inv).await?,
                };
                let node = match &change {
                    Some(HostChange::Migrate { to }) => Some(to.clone()),
                    _ => existing
                        .as_ref()
                        .and_then(|h| h.node.clone())
                        .or_else(|| spec.node.clone()),
                };
                let (ports, on) = match &node {
                    Some(n) => {
                        let (p, on) = c.host_ports(n, &spec.networks);
                        (Some(p), on)
                    }
                    None => (None, spec.networks.clone()),
                };
                let problems = c
                    .address_problems(
                        inv,
                        &project,
                        &spec.name,
                        &on,
                        ports.as_deref(),
                        &spec.addresses,
                    )
                    .await?;
                catalog = Some(c);
                if let Some((path, m)) = problems.into_iter().next() {
                    return Err(HostError::Invalid(format!(
                        "baremetal_host.{}: {path}: {m}",
                        spec.name
                    )));
                }
            }
            out.push(HostWork {
                change,
                notes,
                spec: spec.clone(),
                project: project.clone(),
                existing,
            });
        }
        Ok(out)
    }

    /// Why node `to` cannot take a host of `project`, if it cannot.
    async fn cannot_take(&self, to: &str, project: &str) -> Option<String> {
        match self.inv.node(to).await {
            Ok(n) if n.owner_project.as_deref().is_some_and(|p| p != project) => {
                Some("reserved for another project".to_string())
            }
            Ok(n) if crate::inventory::is_free(&n) => None,
            Ok(n) => Some(format!(
                "{}{}{}",
                n.state.as_str(),
                if n.maintenance {
                    ", in maintenance"
                } else {
                    ""
                },
                n.host
                    .as_deref()
                    .map(|h| format!(", carrying host {h}"))
                    .unwrap_or_default()
            )),
            Err(e) => Some(e.to_string()),
        }
    }

    /// Carries out a pass's host work after the node waves: the failovers, then the hosts'
    /// changes, `max_parallel` at a time, through one deployment endpoint (started only when there
    /// is something to do). Every host change is tried; each outcome is returned.
    pub async fn perform_hosts(
        &self,
        pass: &HostPass,
        max_parallel: usize,
        timeout: Duration,
        progress: ProgressFn,
    ) -> Result<HostResults, HostError> {
        let mut out = HostResults::default();
        if !pass.any_to_do() {
            return Ok(out);
        }
        let media = MediaServer::start("127.0.0.1:0", None)
            .await
            .map_err(|e| HostError::Invalid(crate::bmc::redfish::client::error_chain(&e)))?;
        let life = Lifecycle::new(self.inv, &media, progress);
        // The images first: the hosts after deploy them.
        for w in &pass.images {
            let mut img = w.image.clone();
            if let Ok(before) = self.inv.image(&img.name).await {
                img.origin = before.origin;
            }
            self.inv.put_image(&img, w.url.expose()).await?;
        }
        for m in &pass.moves {
            let Some(to) = &m.to else { continue };
            let who = format!("{}/{}", m.host.project, m.host.name);
            let moved = async {
                let req = host::request_from_record(self.inv, &m.host, timeout)?;
                life.migrate(&m.host, to, &m.failure.reason, req.as_ref(), timeout)
                    .await
            };
            // A failed move stops here: the hosts after it may depend on the standby it took.
            let r: Result<HostRecord, HostError> = moved.await;
            let failed = r.is_err();
            out.moved.push((who, r));
            if failed {
                return Ok(out);
            }
        }
        let todo: Vec<&HostWork> = pass.work.iter().filter(|w| w.change.is_some()).collect();
        let life = &life;
        let done: Vec<HostOutcome> = futures_util::stream::iter(todo)
            .map(|w| async move {
                let who = format!("{}/{}", w.project, w.spec.name);
                (who, self.deploy_one(life, w, timeout).await)
            })
            .buffer_unordered(max_parallel.max(1))
            .collect()
            .await;
        out.changed = done;
        Ok(out)
    }

    /// Does what one host needs, read again first: the node waves ran since the plan, and another
    /// run may have got there first. What it needs now must be what the plan showed (a planned
    /// move of ports must not turn into a reinstall); nothing left means another run did it.
    async fn deploy_one(
        &self,
        life: &Lifecycle<'_>,
        w: &HostWork,
        timeout: Duration,
    ) -> Result<HostRecord, HostError> {
        let inv = self.inv;
        let spec = &w.spec;
        let request = DeployRequest::for_spec(spec, timeout).map_err(|errs| {
            HostError::Invalid(
                errs.iter()
                    .map(|e| format!("{}: {}", e.attribute, e.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })?;
        if let Some(HostChange::Power { .. }) = &w.change {
            let h = inv.host(&w.project, &spec.name).await?;
            // Still active, and still not as the block says (read again).
            let live = host::host_power(inv, &h).await?;
            if host::power_change(spec, Some(&h), live.as_str()).is_some() {
                power_as_written(life, &h, spec, timeout).await?;
            }
            return Ok(inv.host(&w.project, &spec.name).await?);
        }
        let host = match inv.host(&w.project, &spec.name).await {
            Ok(h) => match host::change_for(spec, Some(&h)) {
                None => return Ok(h),
                Some(now) if !same_work(w.change.as_ref(), &now) => {
                    return Err(HostError::Invalid(format!(
                        "the plan said {:?}, but it now needs {:?}: run bmplan plan again",
                        w.change.as_ref().map(|c| c.describe()).unwrap_or_default(),
                        now.describe()
                    )))
                }
                Some(HostChange::Migrate { to }) => {
                    let h = life
                        .migrate(
                            &h,
                            &to,
                            "pinned there by the configuration",
                            request.as_ref(),
                            timeout,
                        )
                        .await?;
                    if spec.power.as_deref() == Some("off") {
                        power_as_written(life, &h, spec, timeout).await?;
                    }
                    return Ok(inv.host(&w.project, &spec.name).await?);
                }
                Some(HostChange::Reconfigure { networks, profile }) => {
                    if let Some(n) = networks {
                        life.move_ports(&h, &n, timeout).await?;
                    }
                    let h = inv.host(&w.project, &spec.name).await?;
                    if let Some(p) = profile {
                        life.set_profile(&h, Some(p), timeout).await?;
                    }
                    return Ok(inv.host(&w.project, &spec.name).await?);
                }
                Some(_) => h,
            },
            Err(InventoryError::NotFound { .. }) => {
                inv.create_host(&NewHost {
                    name: spec.name.clone(),
                    project: Some(w.project.clone()),
                    flavor: spec.flavor.clone(),
                    node: spec.node.clone(),
                })
                .await?
            }
            Err(e) => return Err(e.into()),
        };
        let host = match (&request, &host.node) {
            (Some(req), Some(_)) => life.deploy(&host, req).await?,
            (Some(_), None) => {
                return Err(HostError::Invalid(
                    "the host has no node to deploy onto".into(),
                ))
            }
            (None, _) => return Ok(host),
        };
        // A deployment ends powered on: a block that says off is obeyed in the same apply.
        if spec.power.as_deref() == Some("off") {
            power_as_written(life, &host, spec, timeout).await?;
        }
        Ok(host)
    }
}

/// Sets the host's power as its block says.
async fn power_as_written(
    life: &Lifecycle<'_>,
    h: &HostRecord,
    spec: &HostSpec,
    timeout: Duration,
) -> Result<(), HostError> {
    let action = match spec.power.as_deref() {
        Some("off") => PowerAction::Off,
        Some("on") => PowerAction::On,
        _ => return Ok(()),
    };
    life.power(h, action, timeout).await?;
    Ok(())
}
