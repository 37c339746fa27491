//! The Redfish implementation of [`Bmc`]: a thin typed layer over [`client::Client`] that finds
//! resources by following links (never by assuming vendor ids) and absorbs vendor quirks: virtual
//! media under Managers or Systems, `UsbCd` for the CD, a System without a `Bios` link, InsertMedia
//! that wants `TransferProtocolType`, settings objects and apply times.

pub mod client;
pub mod inventory;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{json, Map, Value};

use self::client::Client;
use self::inventory::{last_segment, link, members, nav, strings, text};
use super::{
    ApplyTime, BiosRegistry, BiosState, Bmc, BmcError, BootMode, BootPersistence, BootSettings,
    BootTarget, Endpoint, Inventory, MediaInfo, PowerAction, PowerState, SecureBoot, Sensors,
    TaskOutcome, TaskRef, VolumeInfo, VolumeSpec,
};

/// A Redfish BMC.
pub struct RedfishBmc {
    client: Client,
    /// For one read-only pass: each system document is read once and shared by every read of the
    /// pass (power, boot, BIOS, storage…). `None` for clients that change things and poll.
    snapshot: Option<
        std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::OnceCell<Value>>>>,
    >,
}

impl RedfishBmc {
    /// Made by [`crate::bmc::open`], the one place a BMC driver is made.
    pub(crate) fn new(ep: Endpoint) -> Result<RedfishBmc, BmcError> {
        Ok(RedfishBmc {
            client: Client::new(ep)?,
            snapshot: None,
        })
    }

    /// A client for one observation: system documents are read once per client (so the answers of
    /// one pass are consistent, and a fleet-wide read costs fewer requests). Not for applying.
    pub(crate) fn snapshot(ep: Endpoint) -> Result<RedfishBmc, BmcError> {
        let mut b = RedfishBmc::new(ep)?;
        b.snapshot = Some(Default::default());
        // One read-only pass waits for a silent BMC once: after a request that used its whole
        // deadline, the pass's other reads fail at once instead of each waiting as long again.
        b.client.give_up_after_a_timeout();
        Ok(b)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn bmc(&self) -> String {
        self.client.address().to_string()
    }

    async fn collection_path(&self, key: &str) -> Result<String, BmcError> {
        let root = self.client.root().await?;
        link(root, &format!("/{key}")).ok_or_else(|| BmcError::NotSupported {
            bmc: self.bmc(),
            operation: format!("find {key}"),
            detail: format!("the service root has no {key} link"),
        })
    }

    async fn system_path(&self, system: &str) -> Result<String, BmcError> {
        Ok(format!(
            "{}/{system}",
            self.collection_path("Systems").await?.trim_end_matches('/')
        ))
    }

    async fn system_doc(&self, system: &str, operation: &str) -> Result<(String, Value), BmcError> {
        let path = self.system_path(system).await?;
        let Some(cache) = &self.snapshot else {
            let doc = self.client.get(&path, operation).await?;
            return Ok((path, doc));
        };
        let cell = {
            let mut m = cache.lock().unwrap_or_else(|e| e.into_inner());
            m.entry(path.clone()).or_default().clone()
        };
        let doc = cell
            .get_or_try_init(|| self.client.get(&path, operation))
            .await?
            .clone();
        Ok((path, doc))
    }

    async fn reset(
        &self,
        path: &str,
        doc: &Value,
        kind: &str,
        deadline: Instant,
    ) -> Result<(), BmcError> {
        let target = doc
            .pointer("/Actions/#ComputerSystem.Reset/target")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| format!("{path}/Actions/ComputerSystem.Reset"));
        let op = format!("power action {kind}");
        loop {
            match self
                .client
                .post(&target, &json!({"ResetType": kind}), &op)
                .await
            {
                // 409: a transition is under way; the BMC will take the action once it settles.
                Err(e) if e.status() == Some(409) && Instant::now() < deadline => {
                    tokio::time::sleep(self.client.limits().poll).await
                }
                other => return other.map(|_| ()),
            }
        }
    }

    async fn wait_power(
        &self,
        path: &str,
        want: PowerState,
        deadline: Instant,
        op: &str,
    ) -> Result<bool, BmcError> {
        self.wait_power_in(path, &[want], deadline, op).await
    }

    /// Polls until the power state is one of `wanted`; `false` when the deadline passed first.
    async fn wait_power_in(
        &self,
        path: &str,
        wanted: &[PowerState],
        deadline: Instant,
        op: &str,
    ) -> Result<bool, BmcError> {
        loop {
            let doc = self.client.get(path, op).await?;
            if wanted.contains(&PowerState::parse(
                &text(&doc, "/PowerState").unwrap_or_default(),
            )) {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(self.client.limits().poll).await;
        }
    }

    fn allowed_resets(doc: &Value) -> Vec<String> {
        strings(
            doc,
            "/Actions/#ComputerSystem.Reset/ResetType@Redfish.AllowableValues",
        )
    }

    /// A linked resource as (its path, its document): the document inline when the service
    /// expanded the link, else read.
    async fn follow(&self, link: &Value, op: &str) -> Result<(String, Value), BmcError> {
        let uri = link
            .get("@odata.id")
            .and_then(Value::as_str)
            .ok_or_else(|| BmcError::Decode {
                bmc: self.bmc(),
                operation: op.into(),
                detail: format!("a link without @odata.id: {link}"),
            })?
            .to_string();
        if inventory::expanded(link) {
            return Ok((uri, link.clone()));
        }
        self.within_budget(&uri, op)?;
        let doc = self.client.get(&uri, op).await?;
        Ok((uri, doc))
    }

    /// The member links of the collection document `coll` read at `path`, refused (what and where)
    /// when there are more than `max_members` or when one is the collection itself or one of its
    /// parents: a cycle that would be read again and again.
    fn checked_links(&self, path: &str, coll: &Value, op: &str) -> Result<Vec<Value>, BmcError> {
        let links = inventory::member_links(coll);
        let max = self.client.limits().max_members;
        if links.len() > max {
            return Err(self.over_budget(
                op,
                format!(
                    "the collection {} lists {} members, more than the {max} a collection may hold; not followed",
                    crate::report::printable(path, false),
                    links.len()
                ),
            ));
        }
        let own = path.trim_end_matches('/');
        let cyclic = links
            .iter()
            .filter_map(|l| l.get("@odata.id").and_then(Value::as_str))
            .find(|u| {
                let u = u
                    .split(['?', '#'])
                    .next()
                    .unwrap_or(u)
                    .trim_end_matches('/');
                u == own || own.starts_with(&format!("{u}/"))
            });
        if let Some(l) = cyclic {
            return Err(self.over_budget(
                op,
                format!(
                    "the collection {} lists {} as its own member: a cycle, not followed",
                    crate::report::printable(path, false),
                    crate::report::printable(l, false)
                ),
            ));
        }
        Ok(links)
    }

    fn over_budget(&self, op: &str, detail: String) -> BmcError {
        BmcError::OverBudget {
            bmc: self.bmc(),
            operation: op.into(),
            detail,
        }
    }

    /// Whether the walk may read one more document: a BMC that has already sent `max_documents`
    /// answers or `max_read_bytes` bytes in this operation is stopped and reported, at `next`.
    fn within_budget(&self, next: &str, op: &str) -> Result<(), BmcError> {
        let limits = self.client.limits();
        let (documents, bytes) = self.client.read_so_far();
        let over = if documents >= limits.max_documents {
            Some(format!(
                "{documents} documents read, the most one operation reads from a BMC ({})",
                limits.max_documents
            ))
        } else if bytes >= limits.max_read_bytes {
            Some(format!(
                "{} MiB read, the most one operation reads from a BMC ({} MiB)",
                bytes >> 20,
                limits.max_read_bytes >> 20
            ))
        } else {
            None
        };
        match over {
            Some(what) => Err(self.over_budget(
                op,
                format!(
                    "{what}; the next link was {}",
                    crate::report::printable(next, false)
                ),
            )),
            None => Ok(()),
        }
    }

    /// Every link of `links` followed once (a link listed twice is one resource), the reads
    /// concurrent (within the client's connection bound).
    async fn follow_all(
        &self,
        links: &[Value],
        op: &str,
    ) -> Result<Vec<(String, Value)>, BmcError> {
        let max = self.client.limits().max_members;
        if links.len() > max {
            return Err(self.over_budget(
                op,
                format!(
                    "a list of {} links, more than the {max} one resource may list; not followed",
                    links.len()
                ),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        futures_util::future::try_join_all(
            links
                .iter()
                .filter(|l| {
                    l.get("@odata.id")
                        .and_then(Value::as_str)
                        .is_some_and(|u| seen.insert(u.trim_end_matches('/').to_string()))
                })
                .map(|l| self.follow(l, op)),
        )
        .await
    }

    /// The members of the collection a link names, each as (path, document).
    async fn members_of(&self, path: &str, op: &str) -> Result<Vec<(String, Value)>, BmcError> {
        self.collection(path, 1, op).await
    }

    /// The members of the collection at `path`, each as (path, document): one request where the
    /// service expands, one per member (concurrent) where it does not. `levels` asks the service to
    /// inline that much of what lies below the collection as well.
    async fn collection(
        &self,
        path: &str,
        levels: u32,
        op: &str,
    ) -> Result<Vec<(String, Value)>, BmcError> {
        self.within_budget(path, op)?;
        let coll = self.client.get_expanded(path, levels, op).await?;
        let links = self.checked_links(path, &coll, op)?;
        self.follow_all(&links, op).await
    }

    /// Storage controllers of a system: (controller path, document). Asked with three levels of
    /// expansion: controllers, their drives and volume collections, the volumes.
    async fn controllers(
        &self,
        system_doc: &Value,
        op: &str,
    ) -> Result<Vec<(String, Value)>, BmcError> {
        let Some(storage) = nav(system_doc, "Storage") else {
            return Ok(Vec::new());
        };
        self.collection(&storage, 3, op).await
    }

    async fn volumes_of(
        &self,
        ctl_path: &str,
        ctl: &Value,
        op: &str,
    ) -> Result<Vec<VolumeInfo>, BmcError> {
        let Some(vols) = inventory::nav_value(ctl, "Volumes") else {
            return Ok(Vec::new());
        };
        let id = text(ctl, "/Id").unwrap_or_else(|| last_segment(ctl_path));
        let (_, coll) = self.follow(vols, op).await?;
        Ok(self
            .follow_all(&inventory::member_links(&coll), op)
            .await?
            .iter()
            .map(|(_, v)| inventory::volume(v, &id))
            .collect())
    }

    /// Virtual media resources, under the system's managers and under the system itself.
    async fn media(&self, system: &str, op: &str) -> Result<Vec<(String, Value)>, BmcError> {
        let (_, sys) = self.system_doc(system, op).await?;
        let mut managers: Vec<String> = sys
            .pointer("/Links/ManagedBy")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|m| m.get("@odata.id").and_then(Value::as_str).map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if managers.is_empty() {
            // No ManagedBy link (badfish): every manager of the service is a candidate.
            if let Ok(path) = self.collection_path("Managers").await {
                managers = members(&self.client.get(&path, op).await?);
            }
        }
        let mut collections = Vec::new();
        for mgr in managers {
            if let Ok(doc) = self.client.get(&mgr, op).await {
                collections.extend(nav(&doc, "VirtualMedia"));
            }
        }
        collections.extend(nav(&sys, "VirtualMedia"));
        let mut out = Vec::new();
        for c in collections {
            // A link that leads nowhere (some BMCs advertise one) is skipped, not fatal.
            let Ok(coll) = self.client.get_expanded(&c, 1, op).await else {
                continue;
            };
            out.extend(self.follow_all(&inventory::member_links(&coll), op).await?);
        }
        Ok(out)
    }

    fn cd_slot(media: &[(String, Value)]) -> Option<&(String, Value)> {
        media.iter().find(|(_, d)| {
            d.get("MediaTypes")
                .and_then(Value::as_array)
                .is_some_and(|t| t.iter().any(|t| matches!(t.as_str(), Some("CD" | "DVD"))))
        })
    }

    /// The insertion itself, through the action or a PATCH, with the bodies real BMCs accept.
    async fn insert_into(
        &self,
        uri: &str,
        doc: &Value,
        image: &str,
        op: &str,
    ) -> Result<(), BmcError> {
        let action = doc
            .pointer("/Actions/#VirtualMedia.InsertMedia/target")
            .and_then(Value::as_str)
            .map(String::from);
        let protocol = if image.starts_with("https") {
            "HTTPS"
        } else {
            "HTTP"
        };
        // The bodies real BMCs accept, most portable first: on 400 add TransferProtocolType, then
        // TransferMethod.
        let bodies = [
            json!({"Image": image, "Inserted": true, "WriteProtected": true}),
            json!({"Image": image, "Inserted": true, "WriteProtected": true, "TransferProtocolType": protocol}),
            json!({"Image": image, "Inserted": true, "WriteProtected": true, "TransferProtocolType": protocol, "TransferMethod": "Stream"}),
        ];
        let mut last = None;
        for body in &bodies {
            let r = match &action {
                Some(target) => self.client.post(target, body, op).await,
                None => self.client.patch(uri, body, op).await,
            };
            match r {
                Err(e) if e.status() == Some(400) => last = Some(e),
                other => return other.map(|_| ()),
            }
        }
        Err(last.expect("three attempts were made"))
    }

    fn task_from(resp: &client::Response) -> Option<TaskRef> {
        resp.location()
            .or_else(|| {
                resp.body
                    .get("@odata.id")
                    .and_then(Value::as_str)
                    .filter(|s| s.contains("Task"))
                    .map(String::from)
            })
            .map(|monitor| TaskRef { monitor })
    }
}

#[async_trait]
impl Bmc for RedfishBmc {
    fn address(&self) -> &str {
        self.client.address()
    }

    async fn probe(&self) -> Result<(), BmcError> {
        let root = self.client.root().await?;
        if root.get("RedfishVersion").is_none() && root.get("Systems").is_none() {
            return Err(BmcError::Decode {
                bmc: self.bmc(),
                operation: "read the service root".into(),
                detail:
                    "answered, but not with a Redfish service root (no RedfishVersion, no Systems)"
                        .into(),
            });
        }
        Ok(())
    }

    async fn logout(&self) {
        self.client.logout().await
    }

    async fn reset_manager(&self, system: &str, timeout: Duration) -> Result<(), BmcError> {
        let op = "reset the BMC";
        let (_, sys) = self.system_doc(system, op).await?;
        let linked = sys
            .pointer("/Links/ManagedBy/0/@odata.id")
            .and_then(Value::as_str)
            .map(String::from);
        let manager = match linked {
            Some(m) => m,
            // No ManagedBy link (badfish): the service's only manager, if it has one.
            None => {
                let path = self.collection_path("Managers").await?;
                match members(&self.client.get(&path, op).await?).as_slice() {
                    [one] => one.clone(),
                    found => {
                        return Err(BmcError::Ambiguous {
                            bmc: self.bmc(),
                            detail: format!(
                                "{op}: the system names no manager and the service has {}",
                                found.len()
                            ),
                        })
                    }
                }
            }
        };
        let doc = self.client.get(&manager, op).await?;
        let action = doc.pointer("/Actions/#Manager.Reset");
        let Some(target) = action.and_then(|a| a.get("target")).and_then(Value::as_str) else {
            return Err(BmcError::NotSupported {
                bmc: self.bmc(),
                operation: op.into(),
                detail: format!("{manager} offers no Manager.Reset action"),
            });
        };
        let allowed: Vec<&str> = action
            .and_then(|a| a.get("ResetType@Redfish.AllowableValues"))
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let kind = manager_reset_type(&allowed);
        self.client
            .post(target, &serde_json::json!({"ResetType": kind}), op)
            .await?;
        // The BMC restarts: it stops answering, or (restarting fast) the session it had before
        // is refused; then it answers again. An answer before either is the old BMC, not the new.
        let before = self.client.current_session().await;
        self.client.forget_session().await;
        let deadline = tokio::time::Instant::now() + timeout;
        let timed_out = |what: &str| BmcError::Timeout {
            bmc: self.bmc(),
            operation: format!("{op} ({what})"),
            after: timeout,
        };
        loop {
            if !self.client.answers().await {
                break;
            }
            match &before {
                Some((token, uri)) => {
                    if self.client.touch_session(token, uri).await.is_err() {
                        break;
                    }
                }
                // Basic authentication only: nothing to tell the restart by but a pause.
                None => {
                    tokio::time::sleep(Duration::from_secs(5).min(timeout)).await;
                    break;
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(timed_out("it accepted the reset but showed no restart"));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        loop {
            if self.client.answers().await {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(timed_out("waiting for it to answer again"));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    async fn open_session(&self) -> Result<super::BmcSession, BmcError> {
        let (token, uri) = self.client.open_session().await?;
        Ok(super::BmcSession { token, uri })
    }

    async fn renew_session(&self, s: &super::BmcSession) -> Result<(), BmcError> {
        self.client.touch_session(&s.token, &s.uri).await
    }

    async fn close_session(&self, s: &super::BmcSession) {
        self.client.close_session(&s.token, &s.uri).await
    }

    async fn staged_tasks(&self) -> Result<Vec<super::StagedTask>, BmcError> {
        self.queued_tasks().await
    }

    async fn registry_for(&self, state: &BiosState) -> Result<BiosRegistry, BmcError> {
        self.registry_of(state).await
    }

    async fn systems(&self) -> Result<Vec<String>, BmcError> {
        let path = self.collection_path("Systems").await?;
        let coll = self.client.get(&path, "list systems").await?;
        self.checked_links(&path, &coll, "list systems")?;
        let listed = members(&coll);
        Ok(listed.iter().map(|m| last_segment(m)).collect())
    }

    async fn inspect(&self, system: &str) -> Result<Inventory, BmcError> {
        let op = "inspect";
        let (path, sys) = self.system_doc(system, op).await?;
        let mut unavailable = Vec::new();
        let processors = match nav(&sys, "Processors") {
            Some(procs) => match self.members_of(&procs, op).await {
                Ok(m) => m.into_iter().map(|(_, d)| d).collect(),
                Err(e) => {
                    unavailable.push(format!("processors ({procs}): {e}"));
                    Vec::new()
                }
            },
            None => Vec::new(),
        };
        let (cpu, accelerators) = inventory::cpus(&sys, &processors);
        // Each chassis document is read once, for its adapters and its sensors both.
        let docs = self.chassis_docs(&sys, op).await;
        // Where the server sits: the first chassis' place, kept even when its sensors fail.
        let slot = docs
            .first()
            .and_then(|(_, d)| d.as_ref().ok())
            .and_then(inventory::slot);
        let mut chassis = Vec::new();
        for (uri, doc) in docs {
            match doc {
                Ok(d) => chassis.push((uri, d)),
                Err(e) => unavailable.push(format!("chassis ({uri}): {e}")),
            }
        }
        let (nics, storage, firmware, bios, sensors) = tokio::join!(
            self.nics(&sys, &chassis, op),
            self.storage_of(&sys, op),
            self.firmware(op),
            self.bios(system),
            self.sensors(&chassis, op)
        );
        let (nics, nic_problems) = nics;
        unavailable.extend(nic_problems);
        let (controllers, drives, volumes, storage_problems) = storage.unwrap_or_else(|e| {
            unavailable.push(format!("storage: {e}"));
            Default::default()
        });
        unavailable.extend(storage_problems);
        let firmware = firmware.unwrap_or_else(|e| {
            let service = self
                .client
                .cached_root()
                .and_then(|r| link(r, "/UpdateService"))
                .unwrap_or_else(|| "the service root has no UpdateService link".into());
            unavailable.push(format!("firmware inventory ({service}): {e}"));
            Vec::new()
        });
        let bios_link = nav(&sys, "Bios");
        let bios = match bios {
            Ok(b) => b.current.into_iter().collect(),
            Err(e) => {
                unavailable.push(match bios_link {
                    Some(l) => format!("BIOS ({l}): {e}"),
                    None => format!("BIOS (the System has no Bios link): {e}"),
                });
                Default::default()
            }
        };
        let (sensors, sensor_problems) = sensors;
        unavailable.extend(sensor_problems);
        let _ = path;
        Ok(Inventory {
            system_id: system.to_string(),
            manufacturer: text(&sys, "/Manufacturer"),
            model: text(&sys, "/Model"),
            serial: text(&sys, "/SerialNumber"),
            uuid: text(&sys, "/UUID"),
            sku: text(&sys, "/SKU"),
            power_state: PowerState::parse(&text(&sys, "/PowerState").unwrap_or_default()),
            health: text(&sys, "/Status/HealthRollup").or_else(|| text(&sys, "/Status/Health")),
            bios_version: text(&sys, "/BiosVersion"),
            cpu,
            accelerators,
            memory_gib: sys
                .pointer("/MemorySummary/TotalSystemMemoryGiB")
                .and_then(Value::as_f64),
            nics,
            controllers,
            drives,
            volumes,
            firmware,
            sensors,
            bios,
            slot,
            unavailable,
        })
    }

    async fn power_state(&self, system: &str) -> Result<PowerState, BmcError> {
        let (_, doc) = self.system_doc(system, "read power state").await?;
        Ok(PowerState::parse(
            &text(&doc, "/PowerState").unwrap_or_default(),
        ))
    }

    async fn power_and_health(
        &self,
        system: &str,
    ) -> Result<(PowerState, Option<String>), BmcError> {
        let (_, doc) = self
            .system_doc(system, "read power state and health")
            .await?;
        Ok((
            PowerState::parse(&text(&doc, "/PowerState").unwrap_or_default()),
            text(&doc, "/Status/HealthRollup").or_else(|| text(&doc, "/Status/Health")),
        ))
    }

    async fn power(
        &self,
        system: &str,
        action: PowerAction,
        timeout: Duration,
    ) -> Result<(), BmcError> {
        let deadline = Instant::now() + timeout;
        let op = format!("power {action:?}");
        let (path, doc) = self.system_doc(system, &op).await?;
        let allowed = Self::allowed_resets(&doc);
        let allows = |k: &str| allowed.is_empty() || allowed.iter().any(|a| a == k);
        let state = PowerState::parse(&text(&doc, "/PowerState").unwrap_or_default());
        let timed_out = || BmcError::Timeout {
            bmc: self.bmc(),
            operation: op.clone(),
            after: timeout,
        };
        let (kind, want) = match action {
            PowerAction::On if state == PowerState::On => return Ok(()),
            PowerAction::On => ("On", PowerState::On),
            PowerAction::ForceOff if state == PowerState::Off => return Ok(()),
            PowerAction::ForceOff => ("ForceOff", PowerState::Off),
            PowerAction::Off if state == PowerState::Off => return Ok(()),
            PowerAction::Off if allows("GracefulShutdown") => {
                // Give the OS half the time to stop, then force it.
                let half = Instant::now() + timeout / 2;
                self.reset(&path, &doc, "GracefulShutdown", half).await?;
                if self.wait_power(&path, PowerState::Off, half, &op).await? {
                    return Ok(());
                }
                tracing::info!(bmc = %self.bmc(), system, "graceful shutdown timed out; forcing power off");
                ("ForceOff", PowerState::Off)
            }
            PowerAction::Off => ("ForceOff", PowerState::Off),
            PowerAction::Reboot if state != PowerState::On => ("On", PowerState::On),
            PowerAction::Reboot if allows("GracefulRestart") => ("GracefulRestart", PowerState::On),
            PowerAction::Reboot | PowerAction::ForceReboot if allows("ForceRestart") => {
                ("ForceRestart", PowerState::On)
            }
            PowerAction::Reboot | PowerAction::ForceReboot => ("PowerCycle", PowerState::On),
            PowerAction::Nmi => {
                if !allows("Nmi") {
                    return Err(BmcError::NotSupported {
                        bmc: self.bmc(),
                        operation: op,
                        detail: "ResetType Nmi is not offered".into(),
                    });
                }
                return self.reset(&path, &doc, "Nmi", deadline).await;
            }
        };
        self.reset(&path, &doc, kind, deadline).await?;
        if self.wait_power(&path, want, deadline, &op).await? {
            Ok(())
        } else {
            Err(timed_out())
        }
    }

    async fn power_on_started(&self, system: &str, timeout: Duration) -> Result<(), BmcError> {
        let deadline = Instant::now() + timeout;
        let op = "power On";
        let (path, doc) = self.system_doc(system, op).await?;
        let started = [PowerState::On, PowerState::PoweringOn];
        if started.contains(&PowerState::parse(
            &text(&doc, "/PowerState").unwrap_or_default(),
        )) {
            return Ok(());
        }
        self.reset(&path, &doc, "On", deadline).await?;
        if self.wait_power_in(&path, &started, deadline, op).await? {
            Ok(())
        } else {
            Err(BmcError::Timeout {
                bmc: self.bmc(),
                operation: op.into(),
                after: timeout,
            })
        }
    }

    async fn boot(&self, system: &str) -> Result<BootSettings, BmcError> {
        let (_, doc) = self.system_doc(system, "read boot settings").await?;
        let boot = doc.get("Boot").cloned().unwrap_or(Value::Null);
        Ok(BootSettings {
            target: text(&boot, "/BootSourceOverrideTarget").unwrap_or_else(|| "None".into()),
            enabled: text(&boot, "/BootSourceOverrideEnabled").unwrap_or_else(|| "Disabled".into()),
            mode: text(&boot, "/BootSourceOverrideMode"),
            order: strings(&boot, "/BootOrder"),
            allowed_targets: strings(&boot, "/BootSourceOverrideTarget@Redfish.AllowableValues"),
        })
    }

    async fn set_boot_override(
        &self,
        system: &str,
        target: BootTarget,
        persistence: BootPersistence,
        mode: Option<BootMode>,
    ) -> Result<(), BmcError> {
        let op = "set boot override";
        let current = self.boot(system).await?;
        let allowed = &current.allowed_targets;
        let spelled = match target {
            // Supermicro (and others) say UsbCd for the virtual CD.
            BootTarget::Cd
                if !allowed.is_empty()
                    && !allowed.iter().any(|a| a == "Cd")
                    && allowed.iter().any(|a| a == "UsbCd") =>
            {
                "UsbCd"
            }
            t => t.redfish(),
        };
        if !allowed.is_empty() && !allowed.iter().any(|a| a == spelled) {
            return Err(BmcError::NotSupported {
                bmc: self.bmc(),
                operation: op.into(),
                detail: format!("boot target {spelled} is not among {}", allowed.join(", ")),
            });
        }
        let enabled = match (target, persistence) {
            (BootTarget::None, _) => "Disabled",
            (_, BootPersistence::Once) => "Once",
            (_, BootPersistence::Continuous) => "Continuous",
        };
        let mut boot =
            json!({"BootSourceOverrideTarget": spelled, "BootSourceOverrideEnabled": enabled});
        if let Some(m) = mode {
            boot["BootSourceOverrideMode"] = json!(m.redfish());
        }
        let path = self.system_path(system).await?;
        self.client
            .patch(&path, &json!({"Boot": boot}), op)
            .await
            .map(|_| ())
    }

    async fn secure_boot(&self, system: &str) -> Result<SecureBoot, BmcError> {
        let op = "read secure boot";
        let (path, doc) = self.system_doc(system, op).await?;
        let sb_path = nav(&doc, "SecureBoot").unwrap_or_else(|| format!("{path}/SecureBoot"));
        let sb = self.client.get(&sb_path, op).await?;
        Ok(SecureBoot {
            enabled: sb
                .get("SecureBootEnable")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            current: text(&sb, "/SecureBootCurrentBoot").map(|s| s == "Enabled"),
        })
    }

    async fn set_secure_boot(&self, system: &str, enabled: bool) -> Result<(), BmcError> {
        let op = "set secure boot";
        let (path, doc) = self.system_doc(system, op).await?;
        let sb_path = nav(&doc, "SecureBoot").unwrap_or_else(|| format!("{path}/SecureBoot"));
        match self
            .client
            .patch(&sb_path, &json!({"SecureBootEnable": enabled}), op)
            .await
        {
            Err(e) if e.status() == Some(404) => Err(BmcError::NotSupported {
                bmc: self.bmc(),
                operation: op.into(),
                detail: "no SecureBoot resource".into(),
            }),
            other => other.map(|_| ()),
        }
    }

    async fn bios(&self, system: &str) -> Result<BiosState, BmcError> {
        let (bios_path, bios) = self.bios_doc(system, "read BIOS").await?;
        let current = bios
            .get("Attributes")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        // Without an advertised settings object, try the conventional `Bios/Settings` (badfish and
        // older iDRACs); a BMC without one simply has nothing pending.
        let settings = link(&bios, "/@Redfish.Settings/SettingsObject")
            .unwrap_or_else(|| format!("{bios_path}/Settings"));
        let pending = match self
            .client
            .get(&settings, "read pending BIOS settings")
            .await
        {
            Ok(doc) => doc
                .get("Attributes")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            Err(e) if matches!(e.status(), Some(404 | 405 | 501)) => Map::new(),
            Err(e) => return Err(e),
        };
        // A settings object echoing current values is not a pending change.
        let pending = pending
            .into_iter()
            .filter(|(k, v)| current.get(k) != Some(v))
            .collect();
        let apply_times = strings(&bios, "/@Redfish.Settings/SupportedApplyTimes");
        Ok(BiosState {
            current,
            pending,
            registry: text(&bios, "/AttributeRegistry"),
            apply_times,
            uri: bios_path,
            settings_uri: settings,
        })
    }

    async fn bios_registry(&self, system: &str) -> Result<BiosRegistry, BmcError> {
        let state = self.bios(system).await?;
        self.registry_for(&state).await
    }

    async fn stage_bios(&self, system: &str, changes: &Map<String, Value>) -> Result<(), BmcError> {
        let op = "stage BIOS settings";
        let state = self.bios(system).await?;
        let problems = self.registry_for(&state).await?.validate(changes);
        if !problems.is_empty() {
            return Err(BmcError::Invalid {
                bmc: self.bmc(),
                operation: op.into(),
                problems,
            });
        }
        let mut body = json!({"Attributes": changes});
        if state.apply_times.iter().any(|t| t == "OnReset") {
            body["@Redfish.SettingsApplyTime"] = json!({"ApplyTime": "OnReset"});
        }
        self.client
            .patch(&state.settings_uri, &body, op)
            .await
            .map(|_| ())
    }

    async fn reset_bios(&self, system: &str) -> Result<(), BmcError> {
        let op = "reset BIOS to defaults";
        let (bios_path, bios) = self.bios_doc(system, op).await?;
        let target = bios
            .pointer("/Actions/#Bios.ResetBios/target")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| format!("{bios_path}/Actions/Bios.ResetBios"));
        self.client.post(&target, &json!({}), op).await.map(|_| ())
    }

    async fn storage(&self, system: &str) -> Result<super::StorageInfo, BmcError> {
        let op = "read storage";
        let (_, sys) = self.system_doc(system, op).await?;
        let (controllers, drives, volumes, unavailable) = self.storage_of(&sys, op).await?;
        Ok(super::StorageInfo {
            controllers,
            drives,
            volumes,
            unavailable,
        })
    }

    async fn volumes(&self, system: &str) -> Result<Vec<VolumeInfo>, BmcError> {
        let op = "list volumes";
        let (_, sys) = self.system_doc(system, op).await?;
        let mut out = Vec::new();
        for (p, ctl) in self.controllers(&sys, op).await? {
            out.extend(self.volumes_of(&p, &ctl, op).await?);
        }
        Ok(out)
    }

    async fn create_volume(
        &self,
        system: &str,
        spec: &VolumeSpec,
        when: ApplyTime,
    ) -> Result<Option<TaskRef>, BmcError> {
        let op = format!("create {} volume {}", spec.raid, spec.name);
        let (_, sys) = self.system_doc(system, &op).await?;
        let controllers = self.controllers(&sys, &op).await?;
        // The controller that owns the named drives.
        let found = controllers.iter().find_map(|(_, ctl)| {
            let drives: Vec<String> = ctl
                .get("Drives")
                .and_then(Value::as_array)?
                .iter()
                .filter_map(|d| d.get("@odata.id").and_then(Value::as_str).map(String::from))
                .collect();
            let picked: Vec<String> = spec
                .drives
                .iter()
                .filter_map(|id| drives.iter().find(|d| last_segment(d) == *id).cloned())
                .collect();
            (picked.len() == spec.drives.len()).then(|| (nav(ctl, "Volumes"), picked))
        });
        let Some((Some(volumes), drive_links)) = found else {
            return Err(BmcError::Invalid {
                bmc: self.bmc(),
                operation: op,
                problems: vec![format!(
                    "no storage controller with volumes holds all of the drives {}",
                    spec.drives.join(", ")
                )],
            });
        };
        let mut body = json!({
            "Name": spec.name,
            "RAIDType": spec.raid,
            "Links": {"Drives": drive_links.iter().map(|d| json!({"@odata.id": d})).collect::<Vec<_>>()},
            "@Redfish.OperationApplyTime": when.redfish(),
        });
        if let Some(c) = spec.capacity_bytes {
            body["CapacityBytes"] = json!(c);
        }
        let r = self.client.post(&volumes, &body, &op).await?;
        Ok(if r.status == 202 {
            Self::task_from(&r)
        } else {
            None
        })
    }

    async fn delete_volume(
        &self,
        system: &str,
        volume: &str,
        when: ApplyTime,
    ) -> Result<Option<TaskRef>, BmcError> {
        let op = format!("delete volume {volume}");
        let (_, sys) = self.system_doc(system, &op).await?;
        for (_, ctl) in self.controllers(&sys, &op).await? {
            let Some(vols) = nav(&ctl, "Volumes") else {
                continue;
            };
            let coll = self.client.get(&vols, &op).await?;
            if let Some(uri) = members(&coll)
                .into_iter()
                .find(|m| last_segment(m) == volume)
            {
                let r = self
                    .client
                    .delete(
                        &uri,
                        Some(&json!({"@Redfish.OperationApplyTime": when.redfish()})),
                        &op,
                    )
                    .await?;
                return Ok(if r.status == 202 {
                    Self::task_from(&r)
                } else {
                    None
                });
            }
        }
        Err(BmcError::Invalid {
            bmc: self.bmc(),
            operation: op,
            problems: vec![format!("no volume {volume}")],
        })
    }

    async fn virtual_media(&self, system: &str) -> Result<Vec<MediaInfo>, BmcError> {
        Ok(self
            .media(system, "list virtual media")
            .await?
            .into_iter()
            .map(|(uri, d)| MediaInfo {
                uri,
                media_types: strings(&d, "/MediaTypes"),
                image: text(&d, "/Image"),
                inserted: d.get("Inserted").and_then(Value::as_bool).unwrap_or(false),
            })
            .collect())
    }

    async fn insert_media(&self, system: &str, image: &str) -> Result<(), BmcError> {
        let op = "insert virtual media";
        let media = self.media(system, op).await?;
        let Some((uri, doc)) = Self::cd_slot(&media) else {
            return Err(BmcError::NotSupported {
                bmc: self.bmc(),
                operation: op.into(),
                detail: "no virtual CD under the managers or the system".into(),
            });
        };
        if doc.get("Inserted").and_then(Value::as_bool) == Some(true) {
            if text(doc, "/Image").as_deref() == Some(image) {
                return Ok(());
            }
            self.eject_media(system).await?;
        }
        self.insert_into(uri, doc, image, op).await
    }

    async fn insert_removable_media(&self, system: &str, image: &str) -> Result<(), BmcError> {
        let op = "insert removable virtual media";
        let media = self.media(system, op).await?;
        let has = |d: &Value, kinds: &[&str]| {
            d.get("MediaTypes")
                .and_then(Value::as_array)
                .is_some_and(|t| {
                    t.iter()
                        .any(|t| t.as_str().is_some_and(|t| kinds.contains(&t)))
                })
        };
        let cd = Self::cd_slot(&media).map(|(u, _)| u.clone());
        let slot = media
            .iter()
            .find(|(_, d)| has(d, &["USBStick", "Floppy"]))
            .or_else(|| {
                media
                    .iter()
                    .find(|(u, d)| has(d, &["CD", "DVD"]) && Some(u) != cd.as_ref())
            });
        let Some((uri, doc)) = slot else {
            return Err(BmcError::NotSupported {
                bmc: self.bmc(),
                operation: op.into(),
                detail: "no virtual USB stick, floppy or second CD beside the CD".into(),
            });
        };
        if doc.get("Inserted").and_then(Value::as_bool) == Some(true) {
            if text(doc, "/Image").as_deref() == Some(image) {
                return Ok(());
            }
            return Err(BmcError::Status {
                bmc: self.bmc(),
                operation: op.into(),
                status: 409,
                messages: vec![format!(
                    "{} already holds {}; eject it first",
                    last_segment(uri),
                    text(doc, "/Image").unwrap_or_default()
                )],
            });
        }
        self.insert_into(uri, doc, image, op).await
    }

    async fn boot_progress(&self, system: &str) -> Result<Option<String>, BmcError> {
        let (_, doc) = self.system_doc(system, "read boot progress").await?;
        Ok(text(&doc, "/BootProgress/LastState"))
    }

    async fn erase_drives(&self, system: &str) -> Result<Vec<TaskRef>, BmcError> {
        let op = "secure erase";
        let (_, sys) = self.system_doc(system, op).await?;
        let mut tasks = Vec::new();
        for (_, ctl) in self.controllers(&sys, op).await? {
            let links = ctl
                .get("Drives")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for (_, d) in self.follow_all(&links, op).await? {
                let Some(target) = d
                    .pointer("/Actions/#Drive.SecureErase/target")
                    .and_then(Value::as_str)
                else {
                    continue;
                };
                let resp = self.client.post(target, &json!({}), op).await?;
                if let Some(t) = Self::task_from(&resp) {
                    tasks.push(t);
                }
            }
        }
        Ok(tasks)
    }

    async fn eject_media(&self, system: &str) -> Result<(), BmcError> {
        let op = "eject virtual media";
        for (uri, doc) in self.media(system, op).await? {
            if doc.get("Inserted").and_then(Value::as_bool) != Some(true) {
                continue;
            }
            match doc
                .pointer("/Actions/#VirtualMedia.EjectMedia/target")
                .and_then(Value::as_str)
            {
                // Some BMCs insist on a JSON body, even an empty one.
                Some(target) => self.client.post(target, &json!({}), op).await?,
                None => {
                    self.client
                        .patch(&uri, &json!({"Image": null, "Inserted": false}), op)
                        .await?
                }
            };
        }
        Ok(())
    }

    async fn firmware_inventory(&self) -> Result<Vec<super::FirmwareInfo>, BmcError> {
        self.firmware("read the firmware inventory").await
    }

    async fn update_firmware(
        &self,
        image_uri: &str,
        targets: &[String],
        when: ApplyTime,
    ) -> Result<TaskRef, BmcError> {
        let op = "firmware update";
        let service = self.collection_path("UpdateService").await?;
        let doc = self.client.get(&service, op).await?;
        let target = doc
            .pointer("/Actions/#UpdateService.SimpleUpdate/target")
            .and_then(Value::as_str)
            .ok_or_else(|| BmcError::NotSupported {
                bmc: self.bmc(),
                operation: op.into(),
                detail: "UpdateService offers no SimpleUpdate".into(),
            })?
            .to_string();
        let mut body =
            json!({"ImageURI": image_uri, "@Redfish.OperationApplyTime": when.redfish()});
        if !targets.is_empty() {
            body["Targets"] = json!(targets);
        }
        if let Some(p) = image_uri
            .split(':')
            .next()
            .filter(|p| *p == "http" || *p == "https")
        {
            body["TransferProtocol"] = json!(p.to_ascii_uppercase());
        }
        let r = self.client.post(&target, &body, op).await?;
        Self::task_from(&r).ok_or_else(|| BmcError::Decode {
            bmc: self.bmc(),
            operation: op.into(),
            detail: "the BMC accepted the update but named no task to follow".into(),
        })
    }

    async fn wait_task(&self, task: &TaskRef, timeout: Duration) -> Result<TaskOutcome, BmcError> {
        self.client.wait_task(task, timeout, "wait for task").await
    }
}

impl RedfishBmc {
    /// The Bios resource of a system: (its path, its document).
    async fn bios_doc(&self, system: &str, op: &str) -> Result<(String, Value), BmcError> {
        let (path, doc) = self.system_doc(system, op).await?;
        // Some BMCs (badfish's iDRAC emulator) serve Bios without linking it from the System.
        let bios_path = nav(&doc, "Bios").unwrap_or_else(|| format!("{path}/Bios"));
        let bios = self.client.get(&bios_path, op).await?;
        Ok((bios_path, bios))
    }

    /// Work the BMC holds that has not run to its end, most often for the next reset: the open
    /// tasks of the task service (where the service root's `Tasks` property points, the DMTF
    /// schema's name for it and the one every real BMC sends; its collection where the task
    /// service's `Tasks` points), then the jobs of vendor job queues (Dell iDRAC's `Jobs` under
    /// its manager). A service without either has none.
    async fn queued_tasks(&self) -> Result<Vec<super::StagedTask>, BmcError> {
        let op = "list queued tasks and jobs";
        let root = self.client.root().await?.clone();
        let mut out = Vec::new();
        if let Some(service) = link(&root, "/Tasks") {
            // One request where the service expands: the task service, its collection and tasks.
            let doc = self.client.get_expanded(&service, 2, op).await?;
            if let Some(tasks) = inventory::nav_value(&doc, "Tasks") {
                let (_, coll) = self.follow(tasks, op).await?;
                for (uri, t) in self.follow_all(&inventory::member_links(&coll), op).await? {
                    out.extend(inventory::open_task(&uri, &t));
                }
            }
        }
        out.extend(self.vendor_jobs(&root, op).await?);
        Ok(out)
    }

    /// Dell's job queue, on a service whose root says it is Dell's: linked from the manager
    /// (`Links.Jobs`, `Links.Oem.Dell.Jobs`), else where iDRAC 9 and iDRAC 10 serve it
    /// (`{manager}/Jobs`, `{manager}/Oem/Dell/Jobs`). Other services have none.
    async fn vendor_jobs(
        &self,
        root: &Value,
        op: &str,
    ) -> Result<Vec<super::StagedTask>, BmcError> {
        // Only a Dell service has one (its root says `Vendor: Dell` or carries `Oem.Dell`).
        let dell = text(root, "/Vendor")
            .is_some_and(|v| v.to_ascii_lowercase().starts_with("dell"))
            || root.pointer("/Oem/Dell").is_some();
        let Some(managers) = link(root, "/Managers").filter(|_| dell) else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        for (mgr, doc) in self.collection(&managers, 1, op).await? {
            let linked = link(&doc, "/Links/Jobs").or_else(|| link(&doc, "/Links/Oem/Dell/Jobs"));
            let candidates: Vec<String> = match linked {
                Some(l) => vec![l],
                None => vec![format!("{mgr}/Jobs"), format!("{mgr}/Oem/Dell/Jobs")],
            };
            for jobs in candidates {
                match self.collection(&jobs, 1, op).await {
                    Ok(found) => {
                        for (uri, j) in found {
                            out.extend(inventory::open_job(&uri, &j));
                        }
                        break;
                    }
                    Err(e) if matches!(e.status(), Some(404 | 405 | 501)) => continue,
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(out)
    }

    /// The attribute registry a Bios resource names: through the service's Registries collection
    /// (the standard place), else beside the Bios resource, where Dell iDRAC and badfish serve it.
    async fn registry_of(&self, state: &BiosState) -> Result<BiosRegistry, BmcError> {
        match self.registry_from_registries(state).await {
            Ok(r) => Ok(r),
            Err(first) => {
                let op = "read the BIOS attribute registry";
                match self
                    .client
                    .get(&format!("{}/BiosRegistry", state.uri), op)
                    .await
                {
                    Ok(doc) if doc.pointer("/RegistryEntries/Attributes").is_some() => {
                        Ok(BiosRegistry::from_redfish(&doc))
                    }
                    _ => Err(first),
                }
            }
        }
    }

    async fn registry_from_registries(&self, state: &BiosState) -> Result<BiosRegistry, BmcError> {
        let op = "read the BIOS attribute registry";
        let name = state
            .registry
            .clone()
            .ok_or_else(|| BmcError::NotSupported {
                bmc: self.bmc(),
                operation: op.into(),
                detail: "the Bios resource names no AttributeRegistry".into(),
            })?;
        let registries = self.collection_path("Registries").await?;
        let coll = self.client.get(&registries, op).await?;
        let file = members(&coll)
            .into_iter()
            .find(|m| {
                let id = last_segment(m);
                id == name
                    || name.starts_with(&id)
                    || id.starts_with(name.split('.').next().unwrap_or(&name))
            })
            .unwrap_or_else(|| format!("{}/{name}", registries.trim_end_matches('/')));
        let file_doc = self.client.get(&file, op).await?;
        // A MessageRegistryFile points at the registry; some BMCs serve the registry directly.
        let doc = if file_doc.get("RegistryEntries").is_some() {
            file_doc
        } else {
            let locations = file_doc
                .get("Location")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let uri = locations
                .iter()
                .find(|l| {
                    l.get("Language")
                        .and_then(Value::as_str)
                        .is_none_or(|lang| lang.starts_with("en"))
                })
                .or(locations.first())
                .and_then(|l| l.get("Uri").and_then(Value::as_str))
                .ok_or_else(|| BmcError::NotSupported {
                    bmc: self.bmc(),
                    operation: op.into(),
                    detail: format!("registry file {file} has no Location"),
                })?
                .to_string();
            self.client.get(&uri, op).await?
        };
        Ok(BiosRegistry::from_redfish(&doc))
    }

    /// The chassis a system lives in, as linked from it (every one, not only the first), each
    /// read once, concurrently: (its path, its document or why not).
    async fn chassis_docs(&self, sys: &Value, op: &str) -> Vec<(String, Result<Value, BmcError>)> {
        let mut links: Vec<String> = sys
            .pointer("/Links/Chassis")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("@odata.id").and_then(Value::as_str).map(String::from))
            .collect();
        links.dedup();
        futures_util::future::join_all(links.into_iter().map(|uri| async move {
            let doc = self.client.get(&uri, op).await;
            (uri, doc)
        }))
        .await
    }

    /// The server's NICs: the system's `EthernetInterfaces` (physical ones), then the MACs of
    /// every network adapter of its chassis (`NetworkDeviceFunctions`, `Ports`, vendor OEM
    /// sections), merged by MAC; with their LLDP neighbours. What could not be read is reported
    /// with its URL, never dropped silently.
    async fn nics(
        &self,
        sys: &Value,
        chassis: &[(String, Value)],
        op: &str,
    ) -> (Vec<super::NicInfo>, Vec<String>) {
        let mut problems = Vec::new();
        let mut found = Vec::new();
        if let Some(eth) = nav(sys, "EthernetInterfaces") {
            match self.members_of(&eth, op).await {
                Ok(m) => found.extend(m.iter().filter_map(|(_, d)| {
                    inventory::not_a_resource(d)
                        .is_none()
                        .then(|| inventory::ethernet_interface(d))
                        .flatten()
                })),
                Err(e) => problems.push(format!("network interfaces ({eth}): {e}")),
            }
        }
        let mut lldp = Vec::new();
        for (uri, doc) in chassis {
            match self.adapters(doc, op).await {
                Ok((nics, neighbours)) => {
                    found.extend(nics);
                    lldp.extend(neighbours);
                }
                Err(e) => problems.push(format!("network adapters of {uri}: {e}")),
            }
        }
        let mut nics = inventory::merge_nics(found);
        for n in &mut nics {
            n.lldp = lldp
                .iter()
                .find(|(macs, _)| macs.contains(&n.mac))
                .map(|(_, l): &(Vec<String>, super::Lldp)| l.clone());
        }
        (nics, problems)
    }

    /// The NICs and LLDP neighbours of a chassis' network adapters.
    #[allow(clippy::type_complexity)]
    async fn adapters(
        &self,
        doc: &Value,
        op: &str,
    ) -> Result<(Vec<super::NicInfo>, Vec<(Vec<String>, super::Lldp)>), BmcError> {
        let mut nics = Vec::new();
        let mut lldp = Vec::new();
        let Some(adapters) = nav(doc, "NetworkAdapters") else {
            return Ok((nics, lldp));
        };
        for (a, adapter) in self.members_of(&adapters, op).await? {
            if inventory::not_a_resource(&adapter).is_some() || inventory::absent(&adapter) {
                continue;
            }
            let name = text(&adapter, "/Id").unwrap_or_else(|| last_segment(&a));
            if let Some(f) = nav(&adapter, "NetworkDeviceFunctions") {
                for (_, func) in self.members_of(&f, op).await? {
                    nics.extend(inventory::device_function(&name, &func));
                }
            }
            for ports in [nav(&adapter, "Ports"), nav(&adapter, "NetworkPorts")]
                .into_iter()
                .flatten()
            {
                for (_, port) in self.members_of(&ports, op).await? {
                    nics.extend(inventory::port_macs(&name, &port));
                    lldp.extend(inventory::port_lldp(&port));
                }
            }
            nics.extend(inventory::adapter_oem_macs(&name, &adapter));
        }
        Ok((nics, lldp))
    }

    /// Controllers, drives and volumes. A volumes collection that fails (sushy's fake driver answers
    /// 500 when none are configured) is reported in the last element instead of hiding the drives.
    #[allow(clippy::type_complexity)]
    async fn storage_of(
        &self,
        sys: &Value,
        op: &str,
    ) -> Result<
        (
            Vec<super::ControllerInfo>,
            Vec<super::DriveInfo>,
            Vec<VolumeInfo>,
            Vec<String>,
        ),
        BmcError,
    > {
        let mut controllers = Vec::new();
        let mut drives = Vec::new();
        let mut volumes = Vec::new();
        let mut problems = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (p, ctl) in self.controllers(sys, op).await? {
            if let Some(why) = inventory::not_a_resource(&ctl) {
                problems.push(format!("storage controller ({p}): {why}"));
                continue;
            }
            controllers.push(inventory::controller(&ctl));
            let links = ctl
                .get("Drives")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let (found, vols) =
                tokio::join!(self.follow_all(&links, op), self.volumes_of(&p, &ctl, op));
            for (uri, d) in found? {
                // A drive listed by two controllers (or twice by one) is one drive.
                if !seen.insert(uri.trim_end_matches('/').to_string()) {
                    continue;
                }
                match inventory::not_a_resource(&d) {
                    Some(why) => problems.push(format!("drive ({uri}): {why}")),
                    None if inventory::absent(&d) => {}
                    None => drives.push(inventory::drive(&d)),
                }
            }
            match vols {
                Ok(v) => volumes.extend(v),
                Err(e) => problems.push(format!("volumes of {} ({p}): {e}", last_segment(&p))),
            }
        }
        // BMCs without the Storage model (and some beside it) publish SimpleStorage.
        if let Some(simple) = nav(sys, "SimpleStorage") {
            match self.members_of(&simple, op).await {
                Ok(m) => {
                    for (p, ctl) in m {
                        match inventory::not_a_resource(&ctl) {
                            Some(why) => problems.push(format!("simple storage ({p}): {why}")),
                            None => {
                                controllers.push(inventory::controller(&ctl));
                                drives.extend(inventory::simple_storage(&ctl));
                            }
                        }
                    }
                }
                Err(e) => problems.push(format!("simple storage ({simple}): {e}")),
            }
        }
        Ok((controllers, drives, volumes, problems))
    }

    async fn firmware(&self, op: &str) -> Result<Vec<super::FirmwareInfo>, BmcError> {
        let service = self.collection_path("UpdateService").await?;
        let doc = self.client.get_expanded(&service, 2, op).await?;
        // badfish (like some iDRAC firmware) puts the link under Links.
        let Some(inv) = inventory::nav_value(&doc, "FirmwareInventory") else {
            return Ok(Vec::new());
        };
        let (_, coll) = self.follow(inv, op).await?;
        Ok(self
            .follow_all(&inventory::member_links(&coll), op)
            .await?
            .iter()
            .map(|(_, m)| inventory::firmware(m))
            .collect())
    }

    /// The sensors of every chassis of the system (each from its most complete source, see
    /// `chassis_sensors`); what could not be read is reported with its URL.
    async fn sensors(&self, chassis: &[(String, Value)], op: &str) -> (Sensors, Vec<String>) {
        let mut s = Sensors::default();
        let mut problems = Vec::new();
        for (uri, doc) in chassis {
            if let Err(e) = self.chassis_sensors(doc, &mut s, op).await {
                problems.push(format!("sensors of {uri}: {e}"));
            }
        }
        (s, problems)
    }

    /// One chassis' readings from its most complete source: the `Sensors` collection, the
    /// `ThermalSubsystem`'s fans, or the deprecated `Thermal`/`Power` (temperatures, fans,
    /// voltages), the newer winning a tie. Real BMCs publish partial collections (a Supermicro
    /// with one member in `Sensors` and 56 readings in `Thermal`/`Power`), so no source is taken
    /// on trust alone. Power supplies come from the `PowerSubsystem`, else from `Power`.
    async fn chassis_sensors(
        &self,
        doc: &Value,
        s: &mut Sensors,
        op: &str,
    ) -> Result<(), BmcError> {
        let id = text(doc, "/Id").unwrap_or_default();
        let mut listed = Sensors::default();
        if let Some(sensors) = nav(doc, "Sensors") {
            for (_, m) in self.members_of(&sensors, op).await? {
                inventory::sensor(&m, &mut listed);
            }
        }
        let mut sub = Sensors::default();
        if let Some(t) = nav(doc, "ThermalSubsystem") {
            let thermal = self.client.get(&t, op).await?;
            if let Some(fans) = nav(&thermal, "Fans") {
                for (_, f) in self.members_of(&fans, op).await? {
                    inventory::subsystem_fan(&f, &mut sub);
                }
            }
        }
        let mut legacy = Sensors::default();
        if let Some(t) = nav(doc, "Thermal") {
            inventory::thermal(&self.client.get(&t, op).await?, &mut legacy);
        }
        if let Some(p) = nav(doc, "Power") {
            inventory::power(&self.client.get(&p, op).await?, &mut legacy);
        }
        let mut supplies = Sensors::default();
        match nav(doc, "PowerSubsystem") {
            Some(p) => self.power_subsystem(&p, &mut supplies, op).await?,
            None => supplies.power_supplies = std::mem::take(&mut legacy.power_supplies),
        }
        s.power_supplies.extend(supplies.power_supplies);
        s.power_watts = s.power_watts.or(legacy.power_watts);
        let sources = [
            (listed, "Sensors"),
            (sub, "ThermalSubsystem"),
            (legacy, "Thermal/Power"),
        ];
        let best = sources.iter().map(|(x, _)| x.count()).max().unwrap_or(0);
        if best == 0 {
            return Ok(());
        }
        let (chosen, name) = sources
            .into_iter()
            .find(|(x, _)| x.count() == best)
            .expect("the best count is one of the sources'");
        s.temperatures.extend(chosen.temperatures);
        s.fans.extend(chosen.fans);
        s.other.extend(chosen.other);
        s.sources.push(format!("{id}: {name}"));
        Ok(())
    }

    async fn power_subsystem(&self, path: &str, s: &mut Sensors, op: &str) -> Result<(), BmcError> {
        let sub = self.client.get(path, op).await?;
        if let Some(psus) = nav(&sub, "PowerSupplies") {
            for (_, p) in self.members_of(&psus, op).await? {
                if !inventory::absent(&p) {
                    inventory::subsystem_supply(&p, s);
                }
            }
        }
        Ok(())
    }
}

/// The `ResetType` for a manager reset: a graceful restart where the BMC offers it (or says
/// nothing of what it offers), else a forced one, else the first it offers.
fn manager_reset_type<'a>(allowed: &[&'a str]) -> &'a str {
    if allowed.is_empty() || allowed.contains(&"GracefulRestart") {
        "GracefulRestart"
    } else if allowed.contains(&"ForceRestart") {
        "ForceRestart"
    } else {
        allowed[0]
    }
}

#[cfg(test)]
mod tests {
    use super::manager_reset_type;

    #[test]
    fn a_manager_reset_is_graceful_where_the_bmc_offers_it() {
        // The allowable values of the dumps under planner/tests/fixtures/mockups: iDRAC offers
        // only GracefulRestart, several offer both, the Cray EX425 dump ForceRestart and
        // StatefulReset.
        assert_eq!(manager_reset_type(&["GracefulRestart"]), "GracefulRestart");
        assert_eq!(
            manager_reset_type(&["ForceRestart", "GracefulRestart"]),
            "GracefulRestart"
        );
        assert_eq!(
            manager_reset_type(&["ForceRestart", "StatefulReset"]),
            "ForceRestart"
        );
        assert_eq!(manager_reset_type(&[]), "GracefulRestart");
        assert_eq!(manager_reset_type(&["PowerCycle"]), "PowerCycle");
    }
}
