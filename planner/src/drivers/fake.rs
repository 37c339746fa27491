//! In-memory drivers for the engine's tests: a [`FakeBmc`] that keeps one system's power, BIOS
//! (current, staged and its registry), boot, secure boot and firmware, and applies staged BIOS
//! values at a reset as a BMC does; a [`FakeSwitch`] that keeps VLANs and ports and applies
//! changes with the same pure rules the planner judges them by. Each counts what was done to it.
//!
//! What a fake does not model is either empty where a real BMC may have none (volumes, virtual
//! media slots, queued tasks: a server without them) or refused with [`BmcError::NotSupported`]
//! where it would be a change (creating or deleting volumes, inserting media, firmware updates,
//! erasing drives, waiting for tasks), never pretended.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};

use super::Drivers;
use crate::bmc::{
    ApplyTime, AttrType, BiosAttribute, BiosRegistry, BiosState, Bmc, BmcError, BootMode,
    BootPersistence, BootSettings, BootTarget, Endpoint, FirmwareInfo, Inventory, MediaInfo,
    PowerAction, PowerState, Purpose, SecureBoot, StagedTask, StorageInfo, TaskOutcome, TaskRef,
    VolumeInfo, VolumeSpec,
};
use crate::switch::{self, BatchReport, Change, Switch, SwitchEndpoint, SwitchError, SwitchState};

/// One server as its fake BMC keeps it.
#[derive(Debug, Clone)]
pub struct Server {
    pub system_id: String,
    pub power: PowerState,
    pub health: Option<String>,
    pub bios: Map<String, Value>,
    pub pending: Map<String, Value>,
    pub boot_mode: String,
    pub secure_boot: bool,
    pub firmware: Vec<FirmwareInfo>,
    /// Resets (and power-ons from off) done to it.
    pub resets: usize,
    /// Every change asked of it, in order (`stage_bios`, `power Reboot`…).
    pub log: Vec<String>,
}

impl Server {
    /// A powered-on, healthy server with these BIOS values.
    pub fn new(system_id: &str, bios: &[(&str, Value)]) -> Server {
        Server {
            system_id: system_id.into(),
            power: PowerState::On,
            health: Some("OK".into()),
            bios: bios
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            pending: Map::new(),
            boot_mode: "UEFI".into(),
            secure_boot: false,
            firmware: Vec::new(),
            resets: 0,
            log: Vec::new(),
        }
    }

    /// A reset: staged BIOS values take effect and the server runs.
    fn reset(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        self.bios.extend(pending);
        self.power = PowerState::On;
        self.resets += 1;
    }
}

/// A fake BMC: a handle on one [`Server`], cheap to clone, shared with the test that made it.
#[derive(Debug, Clone)]
pub struct FakeBmc {
    url: String,
    server: Arc<Mutex<Server>>,
}

impl FakeBmc {
    pub fn new(url: &str, server: Server) -> FakeBmc {
        FakeBmc {
            url: url.into(),
            server: Arc::new(Mutex::new(server)),
        }
    }

    /// The server as it is now.
    pub fn server(&self) -> Server {
        self.lock().clone()
    }

    fn lock(&self) -> MutexGuard<'_, Server> {
        self.server.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn system(&self, system: &str, operation: &str) -> Result<MutexGuard<'_, Server>, BmcError> {
        let s = self.lock();
        if s.system_id != system {
            return Err(BmcError::Status {
                bmc: self.url.clone(),
                operation: operation.into(),
                status: 404,
                messages: vec![format!("no system {system}")],
            });
        }
        Ok(s)
    }

    fn unsupported<T>(&self, operation: &str) -> Result<T, BmcError> {
        Err(BmcError::NotSupported {
            bmc: self.url.clone(),
            operation: operation.into(),
            detail: "the fake BMC does not model it".into(),
        })
    }
}

fn attr_type(v: &Value) -> AttrType {
    match v {
        Value::Bool(_) => AttrType::Boolean,
        Value::Number(_) => AttrType::Integer {
            lower: None,
            upper: None,
        },
        _ => AttrType::String { max_len: None },
    }
}

#[async_trait]
impl Bmc for FakeBmc {
    fn address(&self) -> &str {
        &self.url
    }

    async fn probe(&self) -> Result<(), BmcError> {
        Ok(())
    }

    async fn staged_tasks(&self) -> Result<Vec<StagedTask>, BmcError> {
        Ok(Vec::new())
    }

    async fn registry_for(&self, bios: &BiosState) -> Result<BiosRegistry, BmcError> {
        Ok(BiosRegistry {
            name: bios
                .registry
                .clone()
                .unwrap_or_else(|| "FakeRegistry.1.0".into()),
            attributes: bios
                .current
                .iter()
                .map(|(k, v)| {
                    let a = BiosAttribute {
                        name: k.clone(),
                        kind: attr_type(v),
                        read_only: false,
                    };
                    (k.clone(), a)
                })
                .collect(),
        })
    }

    async fn systems(&self) -> Result<Vec<String>, BmcError> {
        Ok(vec![self.lock().system_id.clone()])
    }

    async fn inspect(&self, system: &str) -> Result<Inventory, BmcError> {
        let s = self.system(system, "inspect")?;
        Ok(Inventory {
            system_id: s.system_id.clone(),
            manufacturer: Some("Fake".into()),
            model: None,
            serial: None,
            uuid: None,
            sku: None,
            power_state: s.power.clone(),
            health: s.health.clone(),
            bios_version: None,
            cpu: Default::default(),
            accelerators: Vec::new(),
            memory_gib: None,
            nics: Vec::new(),
            controllers: Vec::new(),
            drives: Vec::new(),
            volumes: Vec::new(),
            firmware: s.firmware.clone(),
            sensors: Default::default(),
            bios: s.bios.clone().into_iter().collect::<BTreeMap<_, _>>(),
            slot: None,
            unavailable: vec!["storage, NICs and sensors: the fake BMC does not model them".into()],
        })
    }

    async fn power_state(&self, system: &str) -> Result<PowerState, BmcError> {
        Ok(self.system(system, "read power")?.power.clone())
    }

    async fn power_and_health(
        &self,
        system: &str,
    ) -> Result<(PowerState, Option<String>), BmcError> {
        let s = self.system(system, "read power")?;
        Ok((s.power.clone(), s.health.clone()))
    }

    async fn power(
        &self,
        system: &str,
        action: PowerAction,
        _timeout: Duration,
    ) -> Result<(), BmcError> {
        let mut s = self.system(system, "power")?;
        s.log.push(format!("power {action:?}"));
        match action {
            PowerAction::On if s.power == PowerState::Off => s.reset(),
            PowerAction::On | PowerAction::Nmi => {}
            PowerAction::Off | PowerAction::ForceOff => s.power = PowerState::Off,
            PowerAction::Reboot | PowerAction::ForceReboot => s.reset(),
        }
        Ok(())
    }

    async fn power_on_started(&self, system: &str, timeout: Duration) -> Result<(), BmcError> {
        self.power(system, PowerAction::On, timeout).await
    }

    async fn boot(&self, system: &str) -> Result<BootSettings, BmcError> {
        let s = self.system(system, "read boot")?;
        Ok(BootSettings {
            target: "None".into(),
            enabled: "Disabled".into(),
            mode: Some(s.boot_mode.clone()),
            order: Vec::new(),
            allowed_targets: vec!["None".into(), "Pxe".into(), "Hdd".into(), "Cd".into()],
        })
    }

    async fn set_boot_override(
        &self,
        system: &str,
        _target: BootTarget,
        _persistence: BootPersistence,
        mode: Option<BootMode>,
    ) -> Result<(), BmcError> {
        let mut s = self.system(system, "set boot")?;
        s.log.push(format!("set boot mode {mode:?}"));
        if let Some(m) = mode {
            s.boot_mode = if m == BootMode::Legacy {
                "Legacy"
            } else {
                "UEFI"
            }
            .into();
        }
        Ok(())
    }

    async fn set_secure_boot(&self, system: &str, enabled: bool) -> Result<(), BmcError> {
        let mut s = self.system(system, "set secure boot")?;
        s.log.push(format!("secure boot {enabled}"));
        s.secure_boot = enabled;
        Ok(())
    }

    async fn secure_boot(&self, system: &str) -> Result<SecureBoot, BmcError> {
        let s = self.system(system, "read secure boot")?;
        Ok(SecureBoot {
            enabled: s.secure_boot,
            current: Some(s.secure_boot),
        })
    }

    async fn bios(&self, system: &str) -> Result<BiosState, BmcError> {
        let s = self.system(system, "read BIOS")?;
        Ok(BiosState {
            current: s.bios.clone(),
            pending: s.pending.clone(),
            registry: Some("FakeRegistry.1.0".into()),
            apply_times: vec!["OnReset".into()],
            uri: format!("/fake/{system}/Bios"),
            settings_uri: format!("/fake/{system}/Bios/Settings"),
        })
    }

    async fn bios_registry(&self, system: &str) -> Result<BiosRegistry, BmcError> {
        let bios = self.bios(system).await?;
        self.registry_for(&bios).await
    }

    async fn stage_bios(&self, system: &str, changes: &Map<String, Value>) -> Result<(), BmcError> {
        let mut s = self.system(system, "stage BIOS")?;
        let unknown: Vec<String> = changes
            .keys()
            .filter(|k| !s.bios.contains_key(*k))
            .map(|k| format!("{k} is not an attribute of this BIOS"))
            .collect();
        if !unknown.is_empty() {
            return Err(BmcError::Invalid {
                bmc: self.url.clone(),
                operation: "stage BIOS".into(),
                problems: unknown,
            });
        }
        s.log.push(format!(
            "stage_bios {}",
            changes.keys().cloned().collect::<Vec<_>>().join(",")
        ));
        s.pending.extend(changes.clone());
        Ok(())
    }

    async fn reset_bios(&self, system: &str) -> Result<(), BmcError> {
        drop(self.system(system, "reset BIOS")?);
        self.unsupported("reset BIOS")
    }

    async fn volumes(&self, system: &str) -> Result<Vec<VolumeInfo>, BmcError> {
        drop(self.system(system, "list volumes")?);
        Ok(Vec::new())
    }

    async fn storage(&self, system: &str) -> Result<StorageInfo, BmcError> {
        drop(self.system(system, "read storage")?);
        Ok(StorageInfo::default())
    }

    async fn create_volume(
        &self,
        _system: &str,
        _spec: &VolumeSpec,
        _when: ApplyTime,
    ) -> Result<Option<TaskRef>, BmcError> {
        self.unsupported("create a volume")
    }

    async fn delete_volume(
        &self,
        _system: &str,
        _volume: &str,
        _when: ApplyTime,
    ) -> Result<Option<TaskRef>, BmcError> {
        self.unsupported("delete a volume")
    }

    async fn insert_media(&self, _system: &str, _image: &str) -> Result<(), BmcError> {
        self.unsupported("insert virtual media")
    }

    async fn insert_removable_media(&self, _system: &str, _image: &str) -> Result<(), BmcError> {
        self.unsupported("insert virtual media")
    }

    async fn boot_progress(&self, _system: &str) -> Result<Option<String>, BmcError> {
        Ok(None)
    }

    async fn erase_drives(&self, _system: &str) -> Result<Vec<TaskRef>, BmcError> {
        self.unsupported("erase drives")
    }

    async fn eject_media(&self, _system: &str) -> Result<(), BmcError> {
        self.unsupported("eject virtual media")
    }

    async fn virtual_media(&self, _system: &str) -> Result<Vec<MediaInfo>, BmcError> {
        Ok(Vec::new())
    }

    async fn firmware_inventory(&self) -> Result<Vec<FirmwareInfo>, BmcError> {
        Ok(self.lock().firmware.clone())
    }

    async fn update_firmware(
        &self,
        _image_uri: &str,
        _targets: &[String],
        _when: ApplyTime,
    ) -> Result<TaskRef, BmcError> {
        self.unsupported("update firmware")
    }

    async fn wait_task(
        &self,
        _task: &TaskRef,
        _timeout: Duration,
    ) -> Result<TaskOutcome, BmcError> {
        self.unsupported("wait for a task")
    }
}

/// A fake switch: VLANs and ports in memory, shared with the test that made it.
#[derive(Debug, Clone)]
pub struct FakeSwitch {
    address: String,
    driver: String,
    state: Arc<Mutex<SwitchState>>,
    batches: Arc<Mutex<Vec<Vec<Change>>>>,
    /// Commands the switch refuses: a change whose text contains one fails the batch.
    refuse: Arc<Mutex<Option<String>>>,
}

impl FakeSwitch {
    /// A switch speaking `driver` (its port names are canonicalised as that driver's are).
    pub fn new(address: &str, driver: &str, state: SwitchState) -> FakeSwitch {
        FakeSwitch {
            address: address.into(),
            driver: driver.into(),
            state: Arc::new(Mutex::new(state)),
            batches: Arc::default(),
            refuse: Arc::default(),
        }
    }

    pub fn state(&self) -> SwitchState {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The batches applied, each the changes it sent.
    pub fn batches(&self) -> Vec<Vec<Change>> {
        self.batches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// From now on, a change whose debug text contains `pattern` is rejected.
    pub fn refuse(&self, pattern: &str) {
        *self.refuse.lock().unwrap_or_else(|e| e.into_inner()) = Some(pattern.into());
    }
}

#[async_trait]
impl Switch for FakeSwitch {
    fn address(&self) -> &str {
        &self.address
    }

    async fn read(&self) -> Result<SwitchState, SwitchError> {
        Ok(self.state())
    }

    async fn apply(&self, changes: &[Change]) -> Result<BatchReport, SwitchError> {
        switch::validate_all(changes, &self.address)?;
        let canonical = switch::canonical_for(&self.driver);
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let todo = switch::pending(&state, changes, canonical);
        let refused = self
            .refuse
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(c) =
            refused.and_then(|p| todo.iter().find(|c| format!("{c:?}").contains(&p)).cloned())
        {
            return Err(SwitchError::Rejected {
                switch: self.address.clone(),
                port: None,
                command: format!("{c:?}"),
                output: "% refused by the fake switch".into(),
            });
        }
        *state = switch::simulated(&state, &todo, canonical);
        self.batches
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(todo.clone());
        Ok(BatchReport {
            commands: todo.iter().map(|c| format!("{c:?}")).collect(),
            applied: todo,
            saved: true,
        })
    }
}

/// A fleet of fakes, found by BMC URL and switch address: what the engine's tests give it as its
/// [`Drivers`]. An endpoint it does not hold is unreachable, as a dead address would be.
#[derive(Debug, Clone, Default)]
pub struct FakeFleet {
    pub bmcs: BTreeMap<String, FakeBmc>,
    pub switches: BTreeMap<String, FakeSwitch>,
}

impl FakeFleet {
    pub fn with_bmc(mut self, bmc: FakeBmc) -> FakeFleet {
        self.bmcs.insert(bmc.url.clone(), bmc);
        self
    }

    pub fn with_switch(mut self, sw: FakeSwitch) -> FakeFleet {
        self.switches.insert(sw.address.clone(), sw);
        self
    }
}

impl Drivers for FakeFleet {
    fn bmc(&self, ep: Endpoint, _purpose: Purpose) -> Result<Box<dyn Bmc>, BmcError> {
        match self.bmcs.get(&ep.url) {
            Some(b) => Ok(Box::new(b.clone())),
            None => Err(BmcError::Timeout {
                bmc: ep.url,
                operation: "connect".into(),
                after: ep.limits.connect_timeout,
            }),
        }
    }

    fn switch(&self, driver: &str, ep: SwitchEndpoint) -> Result<Box<dyn Switch>, SwitchError> {
        match self.switches.get(&ep.address) {
            Some(s) if s.driver == driver => Ok(Box::new(s.clone())),
            Some(s) => Err(SwitchError::Invalid {
                switch: ep.address,
                detail: format!("the fake switch speaks {}, not {driver}", s.driver),
            }),
            None => Err(SwitchError::Connect {
                switch: ep.address,
                detail: "no such fake switch".into(),
            }),
        }
    }
}
