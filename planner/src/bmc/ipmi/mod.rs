//! IPMI 2.0 over RMCP+ (`lanplus`), for BMCs enrolled as `ipmi://host[:port]`.
//!
//! The protocol is spoken by Debian's `ipmitool`, run once per call as a subprocess (what Ironic's
//! `ipmitool` driver does). Why not a crate: no maintained Rust crate speaks RMCP+ with the cipher
//! suites (3 and 17) and the vendor quirks `ipmitool` has handled for twenty years, and a session
//! protocol with its own crypto is not something to write again here. The subprocess is bounded:
//! the password goes through its environment (`-E`, never its command line, which `ps` shows),
//! its output is read up to the endpoint's `max_body`, it is killed at the endpoint's deadline,
//! and at most `max_connections` run at once against one BMC (BMCs allow few sessions).
//!
//! What IPMI has: power, boot device (once or persistent, legacy or UEFI), FRU, sensors, the
//! system event log, chassis identify. What it has not (BIOS attributes, RAID, virtual media,
//! firmware updates, secure boot, tasks) is [`BmcError::NotSupported`] here, and refused at plan
//! time by the core (`diff::protocol_limits`) before anything is attempted.

mod parse;
mod sol;

use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Map, Value};
use tokio::io::AsyncReadExt;
use tokio::sync::Semaphore;

use super::{
    ApplyTime, BiosRegistry, BiosState, Bmc, BmcError, BootMode, BootPersistence, BootSettings,
    BootTarget, Endpoint, EventEntry, FirmwareInfo, Inventory, MediaInfo, PowerAction, PowerState,
    SecureBoot, StagedTask, StorageInfo, TaskOutcome, TaskRef, TlsTrust, VolumeInfo, VolumeSpec,
};

pub use parse::{BootFlags, ChassisStatus, Fru};

/// The port IPMI over LAN listens on.
pub const DEFAULT_PORT: u16 = 623;

/// The one system an IPMI BMC manages, as node records name it.
pub const SYSTEM: &str = "1";

/// Where the `ipmitool` binary is: `BAREMETAL_IPMITOOL`, else `ipmitool` on `PATH`.
fn tool() -> String {
    std::env::var("BAREMETAL_IPMITOOL")
        .ok()
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "ipmitool".into())
}

/// An IPMI BMC.
#[derive(Clone)]
pub struct IpmiBmc {
    /// `ipmi://host:port`, for messages.
    addr: String,
    host: String,
    port: u16,
    cipher_suite: Option<u8>,
    username: String,
    password: super::Secret,
    limits: super::Limits,
    /// Calls at once against this BMC.
    gate: Arc<Semaphore>,
}

/// An `ipmi://` endpoint: host (an IPv6 address without its brackets), port, and the RMCP+ cipher
/// suite when the URL names one (`?cipher_suite=17`). Without it, ipmitool asks the BMC for the
/// best it offers; a BMC that does not answer that question (OpenIPMI's simulator) costs a
/// timeout on every call, so naming the suite saves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpmiAddress {
    pub host: String,
    pub port: u16,
    pub cipher_suite: Option<u8>,
}

pub fn parse_url(url: &str) -> Result<IpmiAddress, String> {
    let shown = planner_core::text::redacted(url);
    let u = crate::rules::url_ok(url, &["ipmi"]).map_err(|e| e.to_string())?;
    let usage = || format!("{shown}: an IPMI endpoint is ipmi://host[:port][?cipher_suite=N]");
    if !matches!(u.path(), "" | "/") || u.fragment().is_some() {
        return Err(usage());
    }
    let mut cipher_suite = None;
    for (k, v) in u.query_pairs() {
        match (k.as_ref(), v.parse::<u8>()) {
            ("cipher_suite", Ok(n)) if n <= 17 => cipher_suite = Some(n),
            _ => return Err(usage()),
        }
    }
    // An IPv6 address is bracketed in a URL, and given bare to ipmitool.
    let host = match u.host_str() {
        Some(h) if !h.is_empty() => h.trim_start_matches('[').trim_end_matches(']').to_string(),
        _ => return Err(format!("{shown} has no host")),
    };
    Ok(IpmiAddress {
        host,
        port: u.port().unwrap_or(DEFAULT_PORT),
        cipher_suite,
    })
}

impl IpmiBmc {
    pub fn new(ep: Endpoint) -> Result<IpmiBmc, BmcError> {
        let addr = crate::rules::redacted(&ep.url);
        let IpmiAddress {
            host,
            port,
            cipher_suite,
        } = parse_url(&ep.url).map_err(|detail| BmcError::BadEndpoint {
            bmc: addr.clone(),
            detail,
        })?;
        if !matches!(ep.tls, TlsTrust::NoExtraRoots) {
            return Err(BmcError::BadTrust {
                bmc: addr,
                detail: "IPMI has no certificates: a CA, a fingerprint or insecure do not apply to an ipmi:// endpoint".into(),
            });
        }
        let gate = Arc::new(Semaphore::new(ep.limits.max_connections.max(1)));
        Ok(IpmiBmc {
            addr: format!(
                "ipmi://{}",
                planner_core::text::printable(&bracketed(&host, port), false)
            ),
            host,
            port,
            cipher_suite,
            username: ep.username,
            password: ep.password,
            limits: ep.limits,
            gate,
        })
    }

    fn bmc(&self) -> String {
        self.addr.clone()
    }

    fn not_supported(&self, operation: &str, detail: &str) -> BmcError {
        BmcError::NotSupported {
            bmc: self.bmc(),
            operation: operation.into(),
            detail: detail.into(),
        }
    }

    fn check_system(&self, system: &str, operation: &str) -> Result<(), BmcError> {
        if system == SYSTEM {
            return Ok(());
        }
        Err(BmcError::Ambiguous {
            bmc: self.bmc(),
            detail: format!(
                "{operation}: an IPMI BMC manages one system, {SYSTEM:?}; there is no system {:?}",
                planner_core::text::printable(system, false)
            ),
        })
    }

    /// Runs `ipmitool … ARGS` once and returns its standard output. Every failure names the
    /// operation; the password is in the child's environment only.
    async fn run(&self, operation: &str, args: &[&str]) -> Result<String, BmcError> {
        let (ok, stdout, stderr) = self.exec(operation, &[], args).await?;
        if ok {
            return Ok(stdout);
        }
        Err(self.diagnosed(operation, &stderr, &stdout).await)
    }

    /// ipmitool's own retries: -N seconds per attempt, -R attempts. A BMC on the LAN answers in
    /// milliseconds; an attempt waits half the connect or request timeout, 1 to 3 s.
    fn tries(&self) -> (u64, u32) {
        let wait = self.limits.connect_timeout.min(self.limits.request_timeout);
        (
            (wait.as_secs() / 2).clamp(1, 3),
            self.limits.attempts.clamp(1, 3),
        )
    }

    /// `ipmitool -I lanplus …` for this BMC: the session's options, `options`, then `args`. The
    /// password is in its environment only; it is killed when dropped.
    fn command(&self, options: &[&str], args: &[&str]) -> tokio::process::Command {
        let (per_try, tries) = self.tries();
        let mut cmd = tokio::process::Command::new(tool());
        cmd.args([
            "-I",
            "lanplus",
            "-H",
            &self.host,
            "-p",
            &self.port.to_string(),
            "-U",
        ])
        .arg(&self.username)
        .args(["-E", "-N", &per_try.to_string(), "-R", &tries.to_string()]);
        if let Some(c) = self.cipher_suite {
            cmd.args(["-C", &c.to_string()]);
        }
        cmd.args(options)
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("LC_ALL", "C")
            .env("IPMI_PASSWORD", self.password.expose())
            .kill_on_drop(true);
        cmd
    }

    /// Why ipmitool could not be started.
    fn spawn_error(&self, operation: &str, e: std::io::Error) -> BmcError {
        match e.kind() {
            std::io::ErrorKind::NotFound => self.not_supported(
                operation,
                &format!(
                    "{} is not installed: IPMI BMCs are driven through ipmitool (Debian package ipmitool), or set BAREMETAL_IPMITOOL",
                    tool()
                ),
            ),
            _ => BmcError::Unreachable {
                bmc: self.bmc(),
                operation: operation.into(),
                detail: format!("could not start ipmitool: {e}"),
            },
        }
    }

    /// What a failed call means (see [`IpmiBmc::failure`]), a refused login told from a silent
    /// address.
    async fn diagnosed(&self, operation: &str, stderr: &str, stdout: &str) -> BmcError {
        let mut kind = parse::classify(stderr);
        if kind == parse::Failure::NoAnswer && parse::no_session(stderr) {
            // ipmitool words a refused login like a silent address; its verbose mode tells them
            // apart (RAKP's answer), so one short verbose try says which it was.
            let diagnosis = self
                .exec(operation, &["-v", "-N", "1", "-R", "1"], &["mc", "info"])
                .await;
            if let Ok((_, _, said)) = diagnosis {
                if parse::classify(&said) == parse::Failure::Credentials {
                    kind = parse::Failure::Credentials;
                }
            }
        }
        self.failure(operation, kind, stderr, stdout)
    }

    /// A change: as [`IpmiBmc::run`], but a request the BMC refused is an error even when ipmitool
    /// exits 0 (`chassis bootdev` prints "Set Chassis Boot Parameter 5 failed: …" and succeeds).
    async fn change(&self, operation: &str, args: &[&str]) -> Result<String, BmcError> {
        let (ok, stdout, stderr) = self.exec(operation, &[], args).await?;
        if ok {
            if let Some(refused) = parse::refusal(&stderr) {
                return Err(self.failure(operation, parse::classify(&refused), &refused, ""));
            }
            return Ok(stdout);
        }
        // The same diagnosis as a read (a wrong password, a silent address); never sent again.
        Err(self.diagnosed(operation, &stderr, &stdout).await)
    }

    /// One `ipmitool` process: `options` after the session's own, then `args`. Whether it
    /// succeeded, its output (bounded) and its standard error.
    async fn exec(
        &self,
        operation: &str,
        options: &[&str],
        args: &[&str],
    ) -> Result<(bool, String, String), BmcError> {
        let _permit = self
            .gate
            .acquire()
            .await
            .map_err(|_| BmcError::Unreachable {
                bmc: self.bmc(),
                operation: operation.into(),
                detail: "the client is shutting down".into(),
            })?;
        let mut cmd = self.command(options, args);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| self.spawn_error(operation, e))?;
        let max = self.limits.max_body as u64;
        let (Some(out), Some(err)) = (child.stdout.take(), child.stderr.take()) else {
            return Err(BmcError::Unreachable {
                bmc: self.bmc(),
                operation: operation.into(),
                detail: "ipmitool's output could not be read".into(),
            });
        };
        let (mut out, mut err) = (out.take(max + 1), err.take(64 << 10));
        let (per_try, tries) = self.tries();
        // The whole call: the answer's time, and every attempt ipmitool may make at each step of
        // opening a session (its first message is the one a silent address times out on).
        // (ipmitool lengthens each retry's wait: -N 3 -R 3 gives up on a silent address after
        // 24 s, measured.)
        let after =
            self.limits.request_timeout + Duration::from_secs(4 * per_try * u64::from(tries) + 5);
        let work = async {
            let (mut o, mut e) = (Vec::new(), Vec::new());
            let (ro, re) = tokio::join!(out.read_to_end(&mut o), err.read_to_end(&mut e));
            ro.and(re)?;
            let status = child.wait().await?;
            Ok::<_, std::io::Error>((status, o, e))
        };
        let (status, stdout, stderr) = match tokio::time::timeout(after, work).await {
            Err(_) => {
                return Err(BmcError::Timeout {
                    bmc: self.bmc(),
                    operation: operation.into(),
                    after,
                })
            }
            Ok(Err(e)) => {
                return Err(BmcError::Unreachable {
                    bmc: self.bmc(),
                    operation: operation.into(),
                    detail: format!("reading ipmitool's answer failed: {e}"),
                })
            }
            Ok(Ok(r)) => r,
        };
        if stdout.len() as u64 > max {
            return Err(BmcError::OverBudget {
                bmc: self.bmc(),
                operation: operation.into(),
                detail: format!("the answer is larger than {max} bytes"),
            });
        }
        Ok((
            status.success(),
            String::from_utf8_lossy(&stdout).into_owned(),
            String::from_utf8_lossy(&stderr).into_owned(),
        ))
    }

    /// What a failed `ipmitool` call means: `kind`, with the last thing it printed.
    fn failure(
        &self,
        operation: &str,
        kind: parse::Failure,
        stderr: &str,
        stdout: &str,
    ) -> BmcError {
        let said = parse::last_error_line(stderr)
            .or_else(|| parse::last_error_line(stdout))
            .unwrap_or_else(|| "ipmitool failed without saying why".into());
        let said = planner_core::text::shortened(&planner_core::text::printable(&said, false), 300);
        match kind {
            parse::Failure::Credentials => BmcError::Unauthorized {
                bmc: self.bmc(),
                operation: operation.into(),
                username: planner_core::text::printable(&self.username, false).into_owned(),
            },
            parse::Failure::NoAnswer => BmcError::Unreachable {
                bmc: self.bmc(),
                operation: operation.into(),
                detail: said,
            },
            parse::Failure::Unsupported => self.not_supported(operation, &said),
            parse::Failure::Refused => BmcError::Refused {
                bmc: self.bmc(),
                operation: operation.into(),
                detail: said,
            },
        }
    }

    async fn power_now(&self, operation: &str) -> Result<PowerState, BmcError> {
        let out = self.run(operation, &["chassis", "power", "status"]).await?;
        parse::power(&out).ok_or_else(|| self.decode(operation, &out))
    }

    fn decode(&self, operation: &str, out: &str) -> BmcError {
        BmcError::Decode {
            bmc: self.bmc(),
            operation: operation.into(),
            detail: format!(
                "ipmitool printed {:?}",
                planner_core::text::shortened(
                    &planner_core::text::printable(out.trim(), false),
                    200
                )
            ),
        }
    }

    /// Polls the power state until it is `want` or `deadline` passes: whether it got there.
    async fn wait_power(
        &self,
        want: PowerState,
        deadline: Instant,
        operation: &str,
    ) -> Result<bool, BmcError> {
        loop {
            if self.power_now(operation).await? == want {
                return Ok(true);
            }
            if Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(self.limits.poll.min(deadline - Instant::now())).await;
        }
    }

    async fn chassis_power(&self, operation: &str, verb: &str) -> Result<(), BmcError> {
        self.change(operation, &["chassis", "power", verb])
            .await
            .map(drop)
    }

    /// FRU 0 (the system's), when the BMC has one.
    async fn fru(&self) -> Result<Fru, BmcError> {
        let out = self.run("read the FRU", &["fru", "print", "0"]).await?;
        Ok(parse::fru(&out))
    }

    async fn chassis_status(&self) -> Result<ChassisStatus, BmcError> {
        let op = "read the chassis status";
        let out = self.run(op, &["chassis", "status"]).await?;
        parse::chassis_status(&out).ok_or_else(|| self.decode(op, &out))
    }

    async fn boot_flags(&self) -> Result<BootFlags, BmcError> {
        let op = "read the boot flags";
        let out = self.run(op, &["chassis", "bootparam", "get", "5"]).await?;
        parse::boot_flags(&out).ok_or_else(|| self.decode(op, &out))
    }
}

fn bracketed(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

const NO_BIOS: &str = "IPMI has no BIOS attributes; manage them over Redfish (https://) or by hand";
const NO_STORAGE: &str = "IPMI has no storage or RAID management; use Redfish (https://)";
const NO_MEDIA: &str = "IPMI has no virtual media; boot this node over the network (PXE)";
const NO_FIRMWARE: &str =
    "IPMI has no firmware update; use Redfish (https://) or the vendor's tool";
const NO_SECURE_BOOT: &str = "IPMI has no secure boot settings; use Redfish (https://)";

#[async_trait]
impl Bmc for IpmiBmc {
    fn address(&self) -> &str {
        &self.addr
    }

    /// `mc info`: a session is opened with the credentials (a wrong password fails here), and the
    /// BMC says what it is.
    async fn probe(&self) -> Result<(), BmcError> {
        let op = "read the BMC's device id";
        let out = self.run(op, &["mc", "info"]).await?;
        if parse::field(&out, "IPMI Version").is_none() {
            return Err(self.decode(op, &out));
        }
        Ok(())
    }

    async fn staged_tasks(&self) -> Result<Vec<StagedTask>, BmcError> {
        // IPMI keeps no work for the next reset.
        Ok(vec![])
    }

    async fn registry_for(&self, _bios: &BiosState) -> Result<BiosRegistry, BmcError> {
        Err(self.not_supported("read the BIOS attribute registry", NO_BIOS))
    }

    async fn systems(&self) -> Result<Vec<String>, BmcError> {
        Ok(vec![SYSTEM.to_string()])
    }

    async fn inspect(&self, system: &str) -> Result<Inventory, BmcError> {
        self.check_system(system, "inspect")?;
        // The chassis first: a BMC that does not answer fails here once.
        let status = self.chassis_status().await?;
        let (info, fru, sensors, guid) = tokio::join!(
            self.run("read the BMC's device id", &["mc", "info"]),
            self.fru(),
            self.run("read the sensors", &["sensor", "list"]),
            self.run("read the system GUID", &["mc", "guid"]),
        );
        let mut unavailable = vec![
            "CPU, memory, NICs and drives: IPMI does not report them (inspect in band: bmplan nodes inspect NODE --in-band)".to_string(),
            format!("BIOS: {NO_BIOS}"),
        ];
        let fru = match fru {
            Ok(f) => f,
            Err(e) => {
                unavailable.push(format!("FRU: {e}"));
                Fru::default()
            }
        };
        let sensors = match sensors {
            Ok(out) => parse::sensors(&out),
            Err(e) => {
                unavailable.push(format!("sensors: {e}"));
                Default::default()
            }
        };
        let firmware = match info {
            Ok(out) => parse::bmc_firmware(&out).into_iter().collect(),
            Err(e) => {
                unavailable.push(format!("BMC firmware revision: {e}"));
                vec![]
            }
        };
        let uuid = guid
            .ok()
            .and_then(|out| parse::field(&out, "System GUID"))
            .filter(|g| !g.is_empty());
        Ok(Inventory {
            system_id: SYSTEM.into(),
            manufacturer: fru.manufacturer,
            model: fru.model,
            serial: fru.serial,
            uuid,
            sku: fru.part_number,
            power_state: status.power.clone(),
            health: Some(status.health().into()),
            bios_version: None,
            cpu: Default::default(),
            accelerators: vec![],
            memory_gib: None,
            nics: vec![],
            controllers: vec![],
            drives: vec![],
            volumes: vec![],
            firmware,
            sensors,
            bios: Default::default(),
            slot: None,
            unavailable,
        })
    }

    async fn power_state(&self, system: &str) -> Result<PowerState, BmcError> {
        self.check_system(system, "read the power state")?;
        self.power_now("read the power state").await
    }

    async fn power_and_health(
        &self,
        system: &str,
    ) -> Result<(PowerState, Option<String>), BmcError> {
        self.check_system(system, "read the power state")?;
        let s = self.chassis_status().await?;
        Ok((s.power.clone(), Some(s.health().into())))
    }

    async fn power(
        &self,
        system: &str,
        action: PowerAction,
        timeout: Duration,
    ) -> Result<(), BmcError> {
        let op = format!("power {action:?}");
        self.check_system(system, &op)?;
        let deadline = Instant::now() + timeout;
        let state = self.power_now(&op).await?;
        let timed_out = || BmcError::Timeout {
            bmc: self.bmc(),
            operation: op.clone(),
            after: timeout,
        };
        let (verb, want) = match action {
            PowerAction::On if state == PowerState::On => return Ok(()),
            PowerAction::On => ("on", PowerState::On),
            PowerAction::ForceOff | PowerAction::Off if state == PowerState::Off => return Ok(()),
            PowerAction::ForceOff => ("off", PowerState::Off),
            PowerAction::Off => {
                // ACPI soft off; the OS has half the time, then the power is cut.
                let half = Instant::now() + timeout / 2;
                self.chassis_power(&op, "soft").await?;
                if self.wait_power(PowerState::Off, half, &op).await? {
                    return Ok(());
                }
                tracing::info!(bmc = %self.bmc(), "soft off timed out; forcing power off");
                ("off", PowerState::Off)
            }
            // IPMI has no graceful restart: a reset where the system runs, else power on.
            PowerAction::Reboot | PowerAction::ForceReboot if state != PowerState::On => {
                ("on", PowerState::On)
            }
            PowerAction::Reboot | PowerAction::ForceReboot => ("reset", PowerState::On),
            PowerAction::Nmi => return self.chassis_power(&op, "diag").await,
        };
        self.chassis_power(&op, verb).await?;
        if self.wait_power(want, deadline, &op).await? {
            Ok(())
        } else {
            Err(timed_out())
        }
    }

    async fn power_on_started(&self, system: &str, timeout: Duration) -> Result<(), BmcError> {
        let op = "power on";
        self.check_system(system, op)?;
        if self.power_now(op).await? == PowerState::On {
            return Ok(());
        }
        self.chassis_power(op, "on").await?;
        // IPMI reports only on and off: the command was accepted; wait until the BMC says on
        // (an installer that powers off again before a poll cannot be told apart, so accepted
        // counts as started when the BMC answered the command).
        let deadline = Instant::now() + timeout;
        let _ = self.wait_power(PowerState::On, deadline, op).await?;
        Ok(())
    }

    async fn boot(&self, system: &str) -> Result<BootSettings, BmcError> {
        self.check_system(system, "read the boot settings")?;
        let f = self.boot_flags().await?;
        Ok(f.settings())
    }

    async fn set_boot_override(
        &self,
        system: &str,
        target: BootTarget,
        persistence: BootPersistence,
        mode: Option<BootMode>,
    ) -> Result<(), BmcError> {
        let op = format!("set the boot device to {target:?}");
        self.check_system(system, &op)?;
        let device = match target {
            BootTarget::None => "none",
            BootTarget::Pxe => "pxe",
            BootTarget::Cd => "cdrom",
            BootTarget::Hdd => "disk",
            BootTarget::BiosSetup => "bios",
        };
        let mut options = vec![];
        if persistence == BootPersistence::Continuous {
            options.push("persistent");
        }
        // Without a mode, keep the mode the flags already say (IPMI sets all of them at once).
        let uefi = match mode {
            Some(m) => m == BootMode::Uefi,
            None => self.boot_flags().await.map(|f| f.uefi).unwrap_or(false),
        };
        if uefi {
            options.push("efiboot");
        }
        let opts = format!("options={}", options.join(","));
        let mut args = vec!["chassis", "bootdev", device];
        if !options.is_empty() {
            args.push(&opts);
        }
        self.change(&op, &args).await.map(drop)
    }

    async fn set_secure_boot(&self, _system: &str, _enabled: bool) -> Result<(), BmcError> {
        Err(self.not_supported("set secure boot", NO_SECURE_BOOT))
    }

    async fn secure_boot(&self, _system: &str) -> Result<SecureBoot, BmcError> {
        Err(self.not_supported("read secure boot", NO_SECURE_BOOT))
    }

    async fn bios(&self, _system: &str) -> Result<BiosState, BmcError> {
        Err(self.not_supported("read the BIOS settings", NO_BIOS))
    }

    async fn bios_registry(&self, _system: &str) -> Result<BiosRegistry, BmcError> {
        Err(self.not_supported("read the BIOS attribute registry", NO_BIOS))
    }

    async fn stage_bios(&self, _system: &str, _c: &Map<String, Value>) -> Result<(), BmcError> {
        Err(self.not_supported("change BIOS settings", NO_BIOS))
    }

    async fn reset_bios(&self, _system: &str) -> Result<(), BmcError> {
        Err(self.not_supported("reset the BIOS to defaults", NO_BIOS))
    }

    async fn volumes(&self, _system: &str) -> Result<Vec<VolumeInfo>, BmcError> {
        Err(self.not_supported("read RAID volumes", NO_STORAGE))
    }

    async fn storage(&self, _system: &str) -> Result<StorageInfo, BmcError> {
        Err(self.not_supported("read storage", NO_STORAGE))
    }

    async fn create_volume(
        &self,
        _system: &str,
        _spec: &VolumeSpec,
        _when: ApplyTime,
    ) -> Result<Option<TaskRef>, BmcError> {
        Err(self.not_supported("create a RAID volume", NO_STORAGE))
    }

    async fn delete_volume(
        &self,
        _system: &str,
        _volume: &str,
        _when: ApplyTime,
    ) -> Result<Option<TaskRef>, BmcError> {
        Err(self.not_supported("delete a RAID volume", NO_STORAGE))
    }

    async fn insert_media(&self, _system: &str, _image: &str) -> Result<(), BmcError> {
        Err(self.not_supported("insert virtual media", NO_MEDIA))
    }

    async fn insert_removable_media(&self, _system: &str, _image: &str) -> Result<(), BmcError> {
        Err(self.not_supported("insert virtual media", NO_MEDIA))
    }

    async fn boot_progress(&self, _system: &str) -> Result<Option<String>, BmcError> {
        // IPMI reports no boot progress: callers wait another way (power off, a callback).
        Ok(None)
    }

    async fn erase_drives(&self, _system: &str) -> Result<Vec<TaskRef>, BmcError> {
        Err(self.not_supported(
            "erase drives",
            "IPMI has no drive erase; the deploy agent wipes disks in band",
        ))
    }

    async fn eject_media(&self, _system: &str) -> Result<(), BmcError> {
        Err(self.not_supported("eject virtual media", NO_MEDIA))
    }

    async fn virtual_media(&self, _system: &str) -> Result<Vec<MediaInfo>, BmcError> {
        // No virtual media: nothing is inserted.
        Ok(vec![])
    }

    async fn firmware_inventory(&self) -> Result<Vec<FirmwareInfo>, BmcError> {
        let op = "read the BMC's device id";
        let out = self.run(op, &["mc", "info"]).await?;
        let bmc = parse::bmc_firmware(&out).ok_or_else(|| self.decode(op, &out))?;
        Ok(vec![bmc])
    }

    async fn update_firmware(
        &self,
        _image_uri: &str,
        _targets: &[String],
        _when: ApplyTime,
    ) -> Result<TaskRef, BmcError> {
        Err(self.not_supported("update firmware", NO_FIRMWARE))
    }

    async fn wait_task(
        &self,
        _task: &TaskRef,
        _timeout: Duration,
    ) -> Result<TaskOutcome, BmcError> {
        Err(self.not_supported("follow a task", "IPMI has no tasks"))
    }

    async fn event_log(&self, system: &str, max: usize) -> Result<Vec<EventEntry>, BmcError> {
        self.check_system(system, "read the system event log")?;
        let out = self
            .run("read the system event log", &["sel", "elist"])
            .await?;
        let mut entries = parse::sel(&out);
        if entries.len() > max {
            entries.drain(..entries.len() - max);
        }
        Ok(entries)
    }

    /// Serial-over-LAN through `ipmitool sol activate`, in a pseudo-terminal of its own (ipmitool
    /// needs a terminal). A session left active by someone else is deactivated first.
    async fn console(&self, system: &str) -> Result<Box<dyn super::Console>, BmcError> {
        self.check_system(system, "attach to the serial console")?;
        let _ = self
            .run(
                "end a stale serial-over-LAN session",
                &["sol", "deactivate"],
            )
            .await;
        Ok(Box::new(sol::Sol::activate(self.clone())?))
    }

    async fn identify(&self, system: &str, seconds: Option<u32>) -> Result<(), BmcError> {
        self.check_system(system, "identify the chassis")?;
        // `chassis identify N` lights it for N seconds (0 turns it off), `force` until told.
        let arg = match seconds {
            None => "force".to_string(),
            Some(s) => s.min(255).to_string(),
        };
        self.change("identify the chassis", &["chassis", "identify", &arg])
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_name_host_port_and_cipher_suite() {
        let at = |u: &str| parse_url(u).map(|a| (a.host, a.port, a.cipher_suite));
        assert_eq!(at("ipmi://10.0.0.5"), Ok(("10.0.0.5".into(), 623, None)));
        assert_eq!(
            at("ipmi://bmc-7.example:6231"),
            Ok(("bmc-7.example".into(), 6231, None))
        );
        assert_eq!(
            at("ipmi://[fd00::5]:700"),
            Ok(("fd00::5".into(), 700, None))
        );
        assert_eq!(
            at("ipmi://10.0.0.5?cipher_suite=3"),
            Ok(("10.0.0.5".into(), 623, Some(3)))
        );
        assert!(at("ipmi://admin:pw@10.0.0.5")
            .unwrap_err()
            .contains("carries a user"));
        for bad in [
            "ipmi://10.0.0.5/redfish",
            "ipmi://10.0.0.5?cipher_suite=99",
            "ipmi://h?x=1",
        ] {
            let e = at(bad).unwrap_err();
            assert!(
                e.contains("ipmi://host[:port][?cipher_suite=N]"),
                "{bad}: {e}"
            );
        }
        assert!(at("https://10.0.0.5").is_err());
    }

    #[test]
    fn tls_settings_are_refused_on_ipmi() {
        let ep = Endpoint::new("ipmi://10.0.0.5", "admin", "pw", TlsTrust::Insecure);
        let e = IpmiBmc::new(ep).err().expect("refused").to_string();
        assert!(e.contains("IPMI has no certificates"), "{e}");
    }
}
