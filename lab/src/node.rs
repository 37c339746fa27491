//! A simulated server: its hardware, its mutable BMC-visible state, and the rules that change it
//! (power transitions, settings staged until the next reset, tasks).
//!
//! Time is handled lazily: every access calls [`NodeState::settle`], which completes whatever
//! transition or task has reached its deadline. No background task per node is needed, so a
//! thousand nodes cost nothing while idle.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::bios::Registry;
use crate::hardware::Hardware;
use crate::install::{read_seed, Effect, Fetch, Install, InstalledOs};

/// Timings of simulated operations.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// How long a power transition (on, graceful off, restart) takes.
    pub power_delay: Duration,
    /// How long an immediate task (a firmware update applied now) runs.
    pub task_delay: Duration,
}

/// Per-node injected faults, set through the control endpoint.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct NodeFaults {
    /// The server is not installed yet: its BMC closes every connection at once, as if nothing
    /// were there. Clearing it is the server being racked and cabled.
    pub absent: bool,
    /// Accept connections but never answer.
    pub unresponsive: bool,
    /// Every task finishing on this node ends in `Exception`, and its change is not applied.
    pub task_fail: bool,
    /// Latency added to each request of this node, on top of the run-wide latency.
    pub latency_ms: u64,
    /// Answers 200 with a body that is not JSON.
    pub garbage: bool,
    /// Answers 200 with a JSON body this many MiB long (streamed, so the lab does not hold it).
    pub huge_body_mib: u64,
    /// Sends every answer one byte a second.
    pub trickle: bool,
    /// Serves another certificate from the lab CA than the manifest's fingerprint names: a
    /// replaced BMC, or someone in the middle. A CA bundle still trusts it; a pin does not.
    pub other_certificate: bool,
    /// The installer booted from the virtual CD never finishes (a deploy that times out).
    pub install_hang: bool,
    /// The installer reboots into the installed system instead of powering off when it is done.
    pub installer_reboots: bool,
    /// How long the installer runs, in milliseconds (default 300).
    pub install_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Power {
    On,
    Off,
    PoweringOn,
    PoweringOff,
}

impl Power {
    pub fn as_str(self) -> &'static str {
        match self {
            Power::On => "On",
            Power::Off => "Off",
            Power::PoweringOn => "PoweringOn",
            Power::PoweringOff => "PoweringOff",
        }
    }
}

#[derive(Debug, Clone)]
struct Transition {
    target: Power,
    at: Instant,
    /// The transition ends in a boot, which applies staged settings.
    boot: bool,
}

#[derive(Debug, Clone)]
pub struct Boot {
    pub target: String,
    pub enabled: String,
    pub mode: String,
    pub order: Vec<String>,
}

/// The boot options every simulated system offers: (reference, display name, boot target).
pub const BOOT_OPTIONS: [(&str, &str, &str); 3] = [
    ("Boot0001", "Integrated RAID Disk", "Hdd"),
    ("Boot0002", "PXE NIC 1", "Pxe"),
    ("Boot0003", "Virtual CD", "Cd"),
];

#[derive(Debug, Clone)]
pub struct Volume {
    pub id: String,
    pub name: String,
    pub raid: String,
    pub drives: Vec<String>,
    pub capacity_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct Firmware {
    pub id: String,
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone)]
pub struct VirtualMedia {
    pub id: String,
    pub media_types: Vec<&'static str>,
    pub image: Option<String>,
    pub inserted: bool,
    pub write_protected: bool,
    pub transfer_protocol: Option<String>,
    /// The image as the BMC fetched it.
    pub fetch: Fetch,
}

#[derive(Debug, Clone)]
pub struct Task {
    pub id: u32,
    pub name: String,
    pub state: &'static str,
    pub status: &'static str,
    pub messages: Vec<String>,
    pub start: String,
    pub end: Option<String>,
    /// When a running (immediate) task completes.
    deadline: Option<Instant>,
    /// The request that created the task (Redfish `Task.Payload`): how a client tells what is
    /// staged for the next reset.
    pub payload: Option<serde_json::Value>,
}

impl Task {
    pub fn finished(&self) -> bool {
        matches!(
            self.state,
            "Completed" | "Exception" | "Killed" | "Cancelled"
        )
    }
}

/// A change staged until the next boot.
#[derive(Debug, Clone)]
pub enum Staged {
    CreateVolume {
        task: u32,
        volume: Volume,
    },
    DeleteVolume {
        task: u32,
        id: String,
    },
    Firmware {
        task: u32,
        target: String,
        version: String,
    },
    /// A drive's secure erase, running now.
    Erase {
        task: u32,
        drive: String,
    },
}

impl Staged {
    fn task(&self) -> u32 {
        match self {
            Staged::CreateVolume { task, .. }
            | Staged::DeleteVolume { task, .. }
            | Staged::Firmware { task, .. }
            | Staged::Erase { task, .. } => *task,
        }
    }
}

#[derive(Debug)]
pub struct NodeState {
    pub power: Power,
    transition: Option<Transition>,
    pub resets: u64,
    /// BMC restarts (`Manager.Reset`).
    pub manager_resets: u64,
    pub nmis: u64,
    pub boot: Boot,
    pub secure_boot_enable: bool,
    pub secure_boot_current: bool,
    pub bios: Map<String, Value>,
    pub bios_pending: Map<String, Value>,
    pub bios_reset_pending: bool,
    pub volumes: Vec<Volume>,
    pub next_volume: u32,
    pub firmware: Vec<Firmware>,
    pub vmedia: Vec<VirtualMedia>,
    pub tasks: BTreeMap<u32, Task>,
    next_task: u32,
    pub staged: Vec<Staged>,
    pub sessions: HashMap<String, u32>,
    next_session: u32,
    pub health: String,
    pub faults: NodeFaults,
    pub boot_progress: &'static str,
    pub last_boot_source: Option<String>,
    /// What each boot applied, newest last: the evidence for "one reboot per node".
    pub applied: Vec<Value>,
    /// What is on the disks: a factory OS at first, the image an installer wrote, nothing after a wipe.
    pub os: Option<InstalledOs>,
    pub install: Option<Install>,
    /// HTTP work the last request caused (media fetches, phone-home posts).
    pub outbox: Vec<Effect>,
    /// When the node has something to do without a request (an installer's deadline).
    pub wake_at: Option<Instant>,
    /// When the wake already scheduled fires (a new one is scheduled only if it is earlier).
    pub wake_scheduled: Option<Instant>,
    pub phone_home_sent: u64,
    pub phone_home_error: Option<String>,
}

/// One simulated server and its BMC.
#[derive(Debug)]
pub struct NodeSim {
    pub name: String,
    pub index: usize,
    pub rack: String,
    pub hw: Hardware,
    pub registry: Arc<Registry>,
    pub username: String,
    pub password: String,
    pub timing: Timing,
    pub requests: AtomicU64,
    state: Mutex<NodeState>,
}

impl NodeSim {
    #[allow(clippy::too_many_arguments)] // a constructor of plain fields, called in one place
    pub fn new(
        name: String,
        index: usize,
        rack: String,
        hw: Hardware,
        registry: Arc<Registry>,
        username: String,
        password: String,
        timing: Timing,
    ) -> NodeSim {
        let ctl = hw.vendor.storage_controller_id();
        let os_volume = Volume {
            id: hw.vendor.volume_id(ctl, 0),
            name: "OS".into(),
            raid: "RAID1".into(),
            drives: hw.drives.iter().take(2).map(|d| d.id.clone()).collect(),
            capacity_bytes: hw.drives[0].capacity_bytes,
        };
        let firmware = vec![
            Firmware {
                id: "BIOS".into(),
                name: "System BIOS".into(),
                version: hw.bios_version.into(),
            },
            Firmware {
                id: "BMC".into(),
                name: hw.vendor.manager_model().into(),
                version: hw.bmc_version.into(),
            },
            Firmware {
                id: "NIC1".into(),
                name: "Ethernet Adapter".into(),
                version: hw.nic_fw_version.into(),
            },
            Firmware {
                id: "RAID".into(),
                name: "RAID Controller".into(),
                version: hw.raid_fw_version.into(),
            },
        ];
        let [cd, usb] = hw.vendor.virtual_media_ids();
        let vmedia = vec![
            VirtualMedia {
                id: cd.into(),
                media_types: vec!["CD", "DVD"],
                image: None,
                inserted: false,
                write_protected: true,
                transfer_protocol: None,
                fetch: Fetch::None,
            },
            VirtualMedia {
                id: usb.into(),
                media_types: vec!["USBStick", "Floppy"],
                image: None,
                inserted: false,
                write_protected: true,
                transfer_protocol: None,
                fetch: Fetch::None,
            },
        ];
        let state = NodeState {
            power: Power::On,
            transition: None,
            resets: 0,
            manager_resets: 0,
            nmis: 0,
            boot: Boot {
                target: "None".into(),
                enabled: "Disabled".into(),
                mode: "UEFI".into(),
                order: BOOT_OPTIONS.iter().map(|b| b.0.to_string()).collect(),
            },
            secure_boot_enable: false,
            secure_boot_current: false,
            bios: registry.defaults(&hw),
            bios_pending: Map::new(),
            bios_reset_pending: false,
            volumes: vec![os_volume],
            next_volume: 1,
            firmware,
            vmedia,
            tasks: BTreeMap::new(),
            next_task: 1,
            staged: Vec::new(),
            sessions: HashMap::new(),
            next_session: 1,
            health: "OK".into(),
            faults: NodeFaults::default(),
            boot_progress: "OSRunning",
            last_boot_source: Some("Hdd".into()),
            applied: Vec::new(),
            os: Some(InstalledOs {
                image: "factory".into(),
                image_sha256: String::new(),
                seed: None,
                first_boot_done: true,
                installed_at: now_iso(),
            }),
            install: None,
            outbox: Vec::new(),
            wake_at: None,
            wake_scheduled: None,
            phone_home_sent: 0,
            phone_home_error: None,
        };
        NodeSim {
            name,
            index,
            rack,
            hw,
            registry,
            username,
            password,
            timing,
            requests: AtomicU64::new(0),
            state: Mutex::new(state),
        }
    }

    /// Locks the state, first completing whatever has reached its deadline.
    pub fn state(&self) -> MutexGuard<'_, NodeState> {
        let mut guard = self.state.lock().unwrap_or_else(|p| p.into_inner());
        guard.settle(Instant::now(), &self.registry, &self.hw);
        guard
    }

    pub fn count_request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    /// Creates a session and returns (id, token).
    pub fn new_session(&self) -> (u32, String) {
        let mut st = self.state();
        let id = st.next_session;
        st.next_session += 1;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let digest = Sha256::digest(format!("{}:{}:{}:{}", self.name, id, nanos, self.password));
        let token = hex::encode(&digest[..16]);
        st.sessions.insert(token.clone(), id);
        (id, token)
    }
}

pub fn now_iso() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    // Civil date from days since the epoch (Howard Hinnant's algorithm), to avoid a time crate.
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+00:00",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Why a reset request was refused.
#[derive(Debug)]
pub struct ResetRefused(pub String);

impl NodeState {
    pub fn settle(&mut self, now: Instant, registry: &Registry, hw: &Hardware) {
        if let Some(t) = &self.transition {
            if t.at <= now {
                let t = self.transition.take().expect("checked above");
                if self.wake_at.is_some_and(|w| w <= now) {
                    self.wake_at = None;
                }
                self.power = t.target;
                if t.boot {
                    self.boot_up(registry, hw);
                } else if t.target == Power::Off {
                    self.boot_progress = "None";
                }
            }
        }
        if self.install.as_ref().is_some_and(|i| i.deadline <= now) {
            self.installer_due(now, registry, hw);
        }
        // Whatever the installer did with the wake, a power transition still under way needs one.
        if let Some(t) = &self.transition {
            self.wake_at = Some(self.wake_at.map_or(t.at, |w| w.min(t.at)));
        }
        let mut done = Vec::new();
        for task in self.tasks.values() {
            if task.state == "Running" && task.deadline.is_some_and(|d| d <= now) {
                done.push(task.id);
            }
        }
        for id in done {
            let staged: Vec<Staged> = self
                .staged
                .iter()
                .filter(|s| s.task() == id)
                .cloned()
                .collect();
            self.staged.retain(|s| s.task() != id);
            for s in staged {
                self.finish_staged(s, hw);
            }
        }
    }

    /// Records the request behind a task as its `Payload`.
    pub fn set_payload(&mut self, task: u32, method: &str, target: String, body: &[u8]) {
        if let Some(t) = self.tasks.get_mut(&task) {
            t.payload = Some(serde_json::json!({
                "HttpOperation": method,
                "TargetUri": target,
                "JsonBody": String::from_utf8_lossy(body),
            }));
        }
    }

    pub fn new_task(
        &mut self,
        name: String,
        state: &'static str,
        deadline: Option<Instant>,
    ) -> u32 {
        let id = self.next_task;
        self.next_task += 1;
        self.tasks.insert(
            id,
            Task {
                id,
                name,
                state,
                status: "OK",
                messages: Vec::new(),
                start: now_iso(),
                end: None,
                deadline,
                payload: None,
            },
        );
        id
    }

    /// Handles `ComputerSystem.Reset`.
    pub fn reset(&mut self, kind: &str, delay: Duration) -> Result<(), ResetRefused> {
        if self.transition.is_some() {
            return Err(ResetRefused(format!(
                "A power transition to {} is in progress; retry when it completes.",
                self.transition
                    .as_ref()
                    .map(|t| t.target.as_str())
                    .unwrap_or("?")
            )));
        }
        let at = Instant::now() + delay;
        let on = self.power == Power::On;
        match kind {
            "On" if !on => self.start(Power::PoweringOn, Power::On, at, true),
            "On" => {}
            "ForceOff" => {
                self.power = Power::Off;
                self.boot_progress = "None";
            }
            "GracefulShutdown" if on => self.start(Power::PoweringOff, Power::Off, at, false),
            "GracefulShutdown" => {}
            "GracefulRestart" if !on => {
                return Err(ResetRefused(
                    "The system is powered off; a graceful restart needs it on.".into(),
                ))
            }
            "GracefulRestart" | "ForceRestart" | "PowerCycle" => {
                self.start(Power::PoweringOn, Power::On, at, true)
            }
            "PushPowerButton" if on => self.start(Power::PoweringOff, Power::Off, at, false),
            "PushPowerButton" => self.start(Power::PoweringOn, Power::On, at, true),
            "Nmi" if on => self.nmis += 1,
            "Nmi" => {
                return Err(ResetRefused(
                    "The system is powered off; an NMI needs it on.".into(),
                ))
            }
            other => return Err(ResetRefused(format!("Unknown ResetType {other}."))),
        }
        Ok(())
    }

    fn start(&mut self, now_state: Power, target: Power, at: Instant, boot: bool) {
        self.power = now_state;
        if boot {
            self.boot_progress = "None";
        }
        self.transition = Some(Transition { target, at, boot });
        // A BMC finishes a power transition whether or not anyone asks: wake the node then.
        self.wake_at = Some(self.wake_at.map_or(at, |w| w.min(at)));
    }

    /// A boot: count the reset and apply everything staged for it.
    fn boot_up(&mut self, registry: &Registry, hw: &Hardware) {
        self.resets += 1;
        let mut record = Map::new();
        record.insert("reset".into(), json!(self.resets));
        record.insert("at".into(), json!(now_iso()));
        if self.bios_reset_pending {
            self.bios = registry.defaults(hw);
            self.bios_reset_pending = false;
            record.insert("bios_reset_to_defaults".into(), json!(true));
        }
        if !self.bios_pending.is_empty() {
            let pending = std::mem::take(&mut self.bios_pending);
            for (k, v) in &pending {
                self.bios.insert(k.clone(), v.clone());
            }
            record.insert("bios".into(), Value::Object(pending));
        }
        if self.secure_boot_current != self.secure_boot_enable {
            self.secure_boot_current = self.secure_boot_enable;
            record.insert("secure_boot".into(), json!(self.secure_boot_enable));
        }
        let staged = std::mem::take(&mut self.staged);
        let mut ops = Vec::new();
        for s in staged {
            ops.push(self.finish_staged(s, hw));
        }
        if !ops.is_empty() {
            record.insert("tasks".into(), Value::Array(ops));
        }
        // Boot source: an enabled override wins, then the boot order.
        let source = if self.boot.enabled != "Disabled" && self.boot.target != "None" {
            let t = self.boot.target.clone();
            if self.boot.enabled == "Once" {
                self.boot.enabled = "Disabled".into();
                self.boot.target = "None".into();
            }
            t
        } else {
            let first = self.boot.order.first().cloned().unwrap_or_default();
            BOOT_OPTIONS
                .iter()
                .find(|b| b.0 == first)
                .map(|b| b.2.to_string())
                .unwrap_or("Hdd".into())
        };
        let source = if source == "Cd" || source == "UsbCd" {
            match self
                .vmedia
                .iter()
                .find(|m| m.media_types.contains(&"CD") && m.inserted)
            {
                Some(m) => format!("Cd:{}", m.image.clone().unwrap_or_default()),
                None => "Cd:no-media".into(),
            }
        } else {
            source
        };
        self.boot_progress = if source == "Hdd" {
            self.boot_disk()
        } else {
            "OSBootStarted"
        };
        if source.starts_with("Cd:") && source != "Cd:no-media" {
            let ms = if self.faults.install_ms == 0 {
                300
            } else {
                self.faults.install_ms
            };
            let deadline = Instant::now() + Duration::from_millis(ms);
            self.install = Some(Install {
                deadline,
                image: source[3..].to_string(),
            });
            self.wake_at = Some(deadline);
        }
        record.insert("boot_source".into(), json!(source));
        self.last_boot_source = Some(source);
        self.applied.push(Value::Object(record));
        // Keep the record bounded: a long-running lab boots many times.
        if self.applied.len() > 64 {
            self.applied.remove(0);
        }
    }

    /// A boot from the disks: the installed system runs (phoning home on its first boot), or
    /// there is nothing to boot.
    fn boot_disk(&mut self) -> &'static str {
        let Some(os) = self.os.as_mut() else {
            return "SystemHardwareInitializationComplete";
        };
        if !os.first_boot_done {
            os.first_boot_done = true;
            if let Some(seed) = &os.seed {
                if let Some(url) = &seed.phone_home {
                    self.outbox.push(Effect::Post {
                        url: url.clone(),
                        body: json!({
                            "instance_id": seed.instance_id,
                            "hostname": seed.hostname,
                            "image_sha256": os.image_sha256,
                        }),
                    });
                }
            }
        }
        "OSRunning"
    }

    /// The installer's time is up: it writes the image and the config drive's seed to the disks,
    /// then powers off (or reboots into the new system). Media it cannot read keeps it waiting.
    fn installer_due(&mut self, now: Instant, registry: &Registry, hw: &Hardware) {
        if self.faults.install_hang || self.power != Power::On {
            if self.power != Power::On {
                self.install = None;
            }
            self.wake_at = None;
            return;
        }
        let Some(install) = self.install.clone() else {
            return;
        };
        let cd = self
            .vmedia
            .iter()
            .find(|m| {
                m.media_types.contains(&"CD") && m.image.as_deref() == Some(install.image.as_str())
            })
            .map(|m| m.fetch.clone());
        let sha = match cd {
            Some(Fetch::Done { sha256, .. }) => sha256,
            Some(Fetch::Pending) => {
                let next = now + Duration::from_millis(100);
                if let Some(i) = self.install.as_mut() {
                    i.deadline = next;
                }
                self.wake_at = Some(next);
                return;
            }
            // The image could not be read: the installer sits at its error screen.
            _ => {
                self.wake_at = None;
                return;
            }
        };
        let seed = self
            .vmedia
            .iter()
            .filter(|m| !m.media_types.contains(&"CD") && m.inserted)
            .find_map(|m| match &m.fetch {
                Fetch::Done { data: Some(d), .. } => read_seed(d).ok(),
                _ => None,
            });
        self.os = Some(InstalledOs {
            image: install.image.clone(),
            image_sha256: sha,
            seed,
            first_boot_done: false,
            installed_at: now_iso(),
        });
        self.install = None;
        self.wake_at = None;
        if self.faults.installer_reboots {
            self.boot_up(registry, hw);
        } else {
            self.power = Power::Off;
            self.boot_progress = "None";
        }
    }

    /// A virtual media fetch finished.
    pub fn media_fetched(&mut self, media: &str, url: &str, result: Fetch) {
        if let Some(m) = self
            .vmedia
            .iter_mut()
            .find(|m| m.id == media && m.image.as_deref() == Some(url))
        {
            m.fetch = result;
        }
    }

    /// Completes one staged change and its task; returns a record of what happened.
    fn finish_staged(&mut self, s: Staged, _hw: &Hardware) -> Value {
        let id = s.task();
        let fail = self.faults.task_fail;
        let (what, result) = match (&s, fail) {
            (_, true) => (
                format!("{s:?}"),
                Err("The operation failed: injected task fault.".to_string()),
            ),
            (Staged::CreateVolume { volume, .. }, false) => {
                self.volumes.push(volume.clone());
                (
                    format!("create volume {} ({})", volume.id, volume.raid),
                    Ok(()),
                )
            }
            (Staged::DeleteVolume { id: vid, .. }, false) => {
                self.volumes.retain(|v| &v.id != vid);
                self.os = None;
                (format!("delete volume {vid}"), Ok(()))
            }
            (Staged::Erase { drive, .. }, false) => {
                self.os = None;
                (format!("secure erase of drive {drive}"), Ok(()))
            }
            (
                Staged::Firmware {
                    target, version, ..
                },
                false,
            ) => {
                let mut result = Ok(());
                match self.firmware.iter_mut().find(|f| &f.id == target) {
                    Some(f) => f.version = version.clone(),
                    None => result = Err(format!("Firmware component {target} is gone.")),
                }
                (format!("update {target} to {version}"), result)
            }
        };
        if let Some(task) = self.tasks.get_mut(&id) {
            task.end = Some(now_iso());
            task.deadline = None;
            match &result {
                Ok(()) => {
                    task.state = "Completed";
                    task.status = "OK";
                    task.messages
                        .push(format!("Job completed successfully: {what}."));
                }
                Err(e) => {
                    task.state = "Exception";
                    task.status = "Critical";
                    task.messages.push(e.clone());
                }
            }
        }
        json!({"task": id, "what": what, "ok": result.is_ok()})
    }
}

/// Does the node's queued HTTP work, then arranges to wake the node when its installer is due.
pub fn run_effects(node: Arc<NodeSim>) {
    let (effects, wake) = {
        let mut st = node.state();
        let effects = std::mem::take(&mut st.outbox);
        // A wake is scheduled unless one is already due no later.
        let wake = st
            .wake_at
            .filter(|w| st.wake_scheduled.is_none_or(|s| *w < s));
        if wake.is_some() {
            st.wake_scheduled = wake;
        }
        (effects, wake)
    };
    if effects.is_empty() && wake.is_none() {
        return;
    }
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    for e in effects {
        let node = node.clone();
        rt.spawn(async move {
            match e {
                Effect::Fetch { media, url } => {
                    let result = crate::install::fetch(&url).await;
                    node.state().media_fetched(&media, &url, result);
                    run_effects(node);
                }
                Effect::Post { url, body } => {
                    if let Err(e) = crate::install::post(&url, &body).await {
                        tracing::warn!(node = %node.name, %url, error = %e, "phone home failed");
                        node.state().phone_home_error = Some(e);
                    } else {
                        node.state().phone_home_sent += 1;
                    }
                }
            }
        });
    }
    if let Some(at) = wake {
        let node = node.clone();
        rt.spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await;
            {
                let mut st = node.state();
                if st.wake_scheduled == Some(at) {
                    st.wake_scheduled = None;
                }
            }
            run_effects(node);
        });
    }
}
