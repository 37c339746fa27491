//! Baseboard management controllers: the [`Bmc`] trait the rest of the planner uses, [`open`], the
//! one place a BMC driver is made, and its implementations: Redfish ([`redfish`]) and IPMI
//! ([`ipmi`]). The plain data it speaks in lives in the core (`planner_core::hardware`,
//! re-exported here).
//!
//! The observer, the executor and the provider only see this trait. Everything HTTP (sessions, ETags,
//! retries, task monitors, vendor quirks) stays inside `redfish`; everything RMCP+ inside `ipmi`.

pub mod ipmi;
pub mod redfish;
mod tls;

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{Map, Value};

pub use planner_core::hardware::*;

/// Errors from a BMC. Every variant names the BMC; those about a request name the operation. The
/// password never appears in any of them.
#[derive(Debug, thiserror::Error)]
pub enum BmcError {
    #[error("{bmc}: cannot read the CA bundle {path}")]
    CaBundle {
        bmc: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{bmc}: the CA bundle {path} holds no usable certificate")]
    CaBundleEmpty { bmc: String, path: PathBuf },
    #[error("{bmc}: {detail}")]
    BadEndpoint { bmc: String, detail: String },
    /// The endpoint's trust settings cannot be used (a fingerprint that is not one, a TLS setup
    /// that fails): nothing was sent.
    #[error("{bmc}: {detail}")]
    BadTrust { bmc: String, detail: String },
    #[error("{bmc}: could not set up the HTTP client")]
    Client {
        bmc: String,
        #[source]
        source: reqwest::Error,
    },
    /// The hint carries the transport error's chain (without the request URL), so the error is
    /// not also given as the source: printed with its causes, it would say everything twice.
    #[error("{bmc}: {operation} failed: could not reach the BMC{}", hint_suffix(.hint))]
    Transport {
        bmc: String,
        operation: String,
        hint: Option<String>,
        /// The TLS handshake failed on the BMC's certificate (untrusted issuer, wrong name, a
        /// pin that does not match…): the endpoint's trust settings are the part to look at.
        untrusted: bool,
        error: reqwest::Error,
    },
    #[error("{bmc}: {operation} refused: the BMC links to {link}, which is not the BMC's own origin (scheme, host and port); credentials are sent to the BMC only, so the link is not followed")]
    CrossOrigin {
        bmc: String,
        operation: String,
        link: String,
    },
    #[error("{bmc}: {operation} failed: the BMC refused the credentials for user {username:?} (HTTP 401)")]
    Unauthorized {
        bmc: String,
        operation: String,
        username: String,
    },
    #[error("{bmc}: {operation} failed: HTTP {status}{}", messages_suffix(.messages))]
    Status {
        bmc: String,
        operation: String,
        status: u16,
        messages: Vec<String>,
    },
    #[error("{bmc}: {operation} failed: the BMC redirects to {location} (HTTP {status}); redirects are not followed, so credentials never leave the BMC's own address")]
    Redirect {
        bmc: String,
        operation: String,
        status: u16,
        location: String,
    },
    #[error("{bmc}: {operation} returned a body that is not the expected JSON: {detail}")]
    Decode {
        bmc: String,
        operation: String,
        detail: String,
    },
    /// A walk over the BMC's documents went over one of its bounds ([`Limits`]): what, and where.
    #[error("{bmc}: {operation} stopped: {detail}")]
    OverBudget {
        bmc: String,
        operation: String,
        detail: String,
    },
    #[error("{bmc}: {operation} did not finish within {}s", .after.as_secs())]
    Timeout {
        bmc: String,
        operation: String,
        after: Duration,
    },
    #[error("{bmc}: {operation} failed: the BMC task ended in {state}{}", messages_suffix(.messages))]
    TaskFailed {
        bmc: String,
        operation: String,
        state: String,
        messages: Vec<String>,
    },
    #[error("{bmc}: {operation} is not supported by this BMC: {detail}")]
    NotSupported {
        bmc: String,
        operation: String,
        detail: String,
    },
    #[error("{bmc}: {operation} refused before sending anything:{}", problems_list(.problems))]
    Invalid {
        bmc: String,
        operation: String,
        problems: Vec<String>,
    },
    #[error("{bmc}: {detail}")]
    Ambiguous { bmc: String, detail: String },
    /// No answer from a BMC reached by another transport than HTTP (IPMI over UDP): what the
    /// client said. Treated as [`BmcError::Transport`] is: transient, exit code 4.
    #[error("{bmc}: {operation} failed: could not reach the BMC ({detail})")]
    Unreachable {
        bmc: String,
        operation: String,
        detail: String,
    },
    /// The BMC answered the request with an error (an IPMI completion code): what it said.
    #[error("{bmc}: {operation} refused by the BMC: {detail}")]
    Refused {
        bmc: String,
        operation: String,
        detail: String,
    },
}

fn hint_suffix(h: &Option<String>) -> String {
    h.as_ref().map(|h| format!(" ({h})")).unwrap_or_default()
}

fn messages_suffix(m: &[String]) -> String {
    if m.is_empty() {
        String::new()
    } else {
        format!(": {}", m.join("; "))
    }
}

fn problems_list(p: &[String]) -> String {
    p.iter().map(|p| format!("\n  - {p}")).collect()
}

impl BmcError {
    /// Whether nothing answered: the BMC may answer next time (HTTP transport errors, IPMI
    /// sessions that could not be opened).
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self,
            BmcError::Transport { .. } | BmcError::Unreachable { .. }
        )
    }

    /// Whether the BMC did not answer within the request's deadline.
    pub fn is_timeout(&self) -> bool {
        match self {
            BmcError::Timeout { .. } => true,
            BmcError::Transport { error, .. } => error.is_timeout(),
            _ => false,
        }
    }

    /// Which part of the endpoint an error points at: its credentials, how its certificate is
    /// trusted, the system named on it, or else its address.
    pub fn part(&self) -> EndpointPart {
        match self {
            BmcError::Unauthorized { .. } => EndpointPart::Credentials,
            BmcError::CaBundle { .. }
            | BmcError::CaBundleEmpty { .. }
            | BmcError::BadTrust { .. } => EndpointPart::Trust,
            BmcError::Transport {
                untrusted: true, ..
            } => EndpointPart::Trust,
            BmcError::Ambiguous { .. } => EndpointPart::System,
            _ => EndpointPart::Address,
        }
    }

    /// The HTTP status, for errors that carry one.
    pub fn status(&self) -> Option<u16> {
        match self {
            BmcError::Status { status, .. } | BmcError::Redirect { status, .. } => Some(*status),
            BmcError::Unauthorized { .. } => Some(401),
            _ => None,
        }
    }
}

/// How a BMC client will be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// Changing the BMC: every read is fresh, transitions are polled.
    Change,
    /// One read-only pass (plan, drift): each system document is read once and shared by the
    /// pass's reads, and after a request that used its whole deadline the pass's other reads of
    /// that BMC fail at once.
    Observe,
}

/// The one place a BMC driver is made: the endpoint's scheme names the protocol. Redfish over
/// `https://` (or `http://`), IPMI 2.0 (lanplus) over `ipmi://`. Everything else reaches a driver
/// through this function (or through the engine's `Drivers` seam, whose wired implementation
/// calls it).
pub fn open(ep: Endpoint, purpose: Purpose) -> Result<Box<dyn Bmc>, BmcError> {
    if Protocol::of(&ep.url) == Protocol::Ipmi {
        return Ok(Box::new(ipmi::IpmiBmc::new(ep)?));
    }
    Ok(match purpose {
        Purpose::Change => Box::new(redfish::RedfishBmc::new(ep)?),
        Purpose::Observe => Box::new(redfish::RedfishBmc::snapshot(ep)?),
    })
}

/// The hardware of `system` at `ep` (or of the one system the BMC manages, when `system` is not
/// given), read with one session that is closed after: `bmplan inspect`. Returns the BMC's address
/// with it.
pub async fn inspect_at(
    ep: Endpoint,
    system: Option<String>,
) -> Result<(String, crate::hardware::Inventory), BmcError> {
    let bmc = open(ep, Purpose::Change)?;
    let system = match system {
        Some(s) => s,
        None => match bmc.systems().await?.as_slice() {
            [one] => one.clone(),
            many => {
                return Err(BmcError::Ambiguous {
                    bmc: bmc.address().to_string(),
                    detail: match many.len() {
                        0 => "the BMC lists no systems".into(),
                        n => format!(
                            "the BMC manages {n} systems ({}); choose one with --system",
                            crate::report::few(many)
                        ),
                    },
                })
            }
        },
    };
    let inventory = bmc.inspect(&system).await;
    bmc.logout().await;
    Ok((bmc.address().to_string(), inventory?))
}

/// A session on a BMC given out for someone else to use: its token (a secret, sent only to the
/// BMC's own origin) and its resource on the BMC.
#[derive(Debug, Clone)]
pub struct BmcSession {
    pub token: Secret,
    pub uri: String,
}

/// A server's serial console, attached: what the server prints, and a way to type to it.
#[async_trait]
pub trait Console: Send {
    /// The next bytes the server printed; `Ok(0)` once the console has ended.
    async fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize>;

    /// Sends keystrokes to the server.
    async fn write(&mut self, bytes: &[u8]) -> std::io::Result<()>;

    /// Ends the console on the BMC (IPMI: deactivates serial-over-LAN). Never fails.
    async fn close(self: Box<Self>);
}

/// Everything the planner does to a server's BMC. One implementation per protocol: Redfish and
/// IPMI.
#[async_trait]
pub trait Bmc: Send + Sync {
    /// The endpoint's base URL, for messages.
    fn address(&self) -> &str;

    /// Checks that the BMC answers (Redfish: its service root). The first read of a pass, so a
    /// BMC that cannot answer fails once instead of once per concurrent read.
    async fn probe(&self) -> Result<(), BmcError>;

    /// Ends the session, where the protocol keeps one. Never fails: a session that cannot be
    /// closed expires on the BMC.
    async fn logout(&self) {}

    /// A session of its own for someone else to use (its token and its resource on the BMC),
    /// where the protocol has sessions.
    async fn open_session(&self) -> Result<BmcSession, BmcError> {
        Err(BmcError::NotSupported {
            bmc: self.address().to_string(),
            operation: "open a session".into(),
            detail: "this BMC's protocol has no sessions".into(),
        })
    }

    /// Keeps a session from [`Bmc::open_session`] alive; an error when it has ended.
    async fn renew_session(&self, session: &BmcSession) -> Result<(), BmcError> {
        let _ = session;
        Ok(())
    }

    /// Ends a session from [`Bmc::open_session`]. Never fails: one that cannot be ended expires.
    async fn close_session(&self, session: &BmcSession) {
        let _ = session;
    }

    /// Restarts the BMC that manages `system` (Redfish `Manager.Reset`, gracefully where it
    /// offers that) and waits, within `timeout`, until it answers again. The server itself keeps
    /// running.
    async fn reset_manager(&self, system: &str, timeout: Duration) -> Result<(), BmcError> {
        let _ = (system, timeout);
        Err(BmcError::NotSupported {
            bmc: self.address().to_string(),
            operation: "reset the BMC".into(),
            detail: "this BMC's protocol has no manager reset".into(),
        })
    }

    /// Work staged for the next reset (volume creations and deletions, firmware updates) and
    /// open tasks; none where the BMC keeps no such list.
    async fn staged_tasks(&self) -> Result<Vec<StagedTask>, BmcError>;

    /// The attribute registry a BIOS state names, for validating BIOS changes.
    async fn registry_for(&self, bios: &BiosState) -> Result<BiosRegistry, BmcError>;

    /// Ids of the computer systems this BMC manages (a node is BMC endpoint + system id).
    async fn systems(&self) -> Result<Vec<String>, BmcError>;

    /// Hardware inventory, health, firmware and BIOS values of one system.
    async fn inspect(&self, system: &str) -> Result<Inventory, BmcError>;

    async fn power_state(&self, system: &str) -> Result<PowerState, BmcError>;

    /// Power state and rolled-up health (`OK`, `Warning`, `Critical`) in one read.
    async fn power_and_health(
        &self,
        system: &str,
    ) -> Result<(PowerState, Option<String>), BmcError>;

    /// Performs a power action and waits until the system reaches the resulting state, within `timeout`.
    /// `Off` shuts down gracefully and forces the power off if the OS has not stopped halfway through.
    async fn power(
        &self,
        system: &str,
        action: PowerAction,
        timeout: Duration,
    ) -> Result<(), BmcError>;

    /// Powers a system on and returns once the BMC reports it powering on or on, within `timeout`.
    /// For booting an installer: one that finishes and powers the server off again before a
    /// poll would see `On` must not read as a power-on that never happened.
    async fn power_on_started(&self, system: &str, timeout: Duration) -> Result<(), BmcError>;

    async fn boot(&self, system: &str) -> Result<BootSettings, BmcError>;

    /// Sets a boot source override (`None` clears it) and, optionally, the boot mode.
    async fn set_boot_override(
        &self,
        system: &str,
        target: BootTarget,
        persistence: BootPersistence,
        mode: Option<BootMode>,
    ) -> Result<(), BmcError>;

    /// Enables or disables UEFI secure boot (effective at the next boot).
    async fn set_secure_boot(&self, system: &str, enabled: bool) -> Result<(), BmcError>;

    async fn secure_boot(&self, system: &str) -> Result<SecureBoot, BmcError>;

    /// Current and pending BIOS values.
    async fn bios(&self, system: &str) -> Result<BiosState, BmcError>;

    /// The BIOS attribute registry, for validation.
    async fn bios_registry(&self, system: &str) -> Result<BiosRegistry, BmcError>;

    /// Validates `changes` against the registry, then stages them for the next reset.
    async fn stage_bios(&self, system: &str, changes: &Map<String, Value>) -> Result<(), BmcError>;

    /// Stages a reset of the BIOS to its defaults at the next reset.
    async fn reset_bios(&self, system: &str) -> Result<(), BmcError>;

    async fn volumes(&self, system: &str) -> Result<Vec<VolumeInfo>, BmcError>;

    /// Storage controllers, drives and volumes: what RAID planning needs, without a full inspection.
    async fn storage(&self, system: &str) -> Result<StorageInfo, BmcError>;

    /// Creates a RAID volume; with `OnReset` it happens at the next reset and a task is returned.
    async fn create_volume(
        &self,
        system: &str,
        spec: &VolumeSpec,
        when: ApplyTime,
    ) -> Result<Option<TaskRef>, BmcError>;

    async fn delete_volume(
        &self,
        system: &str,
        volume: &str,
        when: ApplyTime,
    ) -> Result<Option<TaskRef>, BmcError>;

    /// Inserts an image into the virtual CD (found under the Manager or the System).
    async fn insert_media(&self, system: &str, image: &str) -> Result<(), BmcError>;

    /// Inserts an image into the virtual removable drive (USB stick or floppy, else a second CD):
    /// where a config drive goes while the CD carries the installer.
    async fn insert_removable_media(&self, system: &str, image: &str) -> Result<(), BmcError>;

    /// Redfish `BootProgress.LastState` (`OSRunning`, `OSBootStarted`…), when the BMC reports it.
    async fn boot_progress(&self, system: &str) -> Result<Option<String>, BmcError>;

    /// Starts a secure erase of every drive that offers one; returns their tasks (none when no
    /// drive offers the action).
    async fn erase_drives(&self, system: &str) -> Result<Vec<TaskRef>, BmcError>;

    async fn eject_media(&self, system: &str) -> Result<(), BmcError>;

    async fn virtual_media(&self, system: &str) -> Result<Vec<MediaInfo>, BmcError>;

    /// The firmware inventory: components, versions.
    async fn firmware_inventory(&self) -> Result<Vec<FirmwareInfo>, BmcError>;

    /// Starts a SimpleUpdate from an image URI; returns its task.
    async fn update_firmware(
        &self,
        image_uri: &str,
        targets: &[String],
        when: ApplyTime,
    ) -> Result<TaskRef, BmcError>;

    /// Follows a task monitor until the task ends, within `timeout`. A failed task is an error.
    async fn wait_task(&self, task: &TaskRef, timeout: Duration) -> Result<TaskOutcome, BmcError>;

    /// The system event log of `system`, oldest first: its newest `max` entries.
    async fn event_log(&self, system: &str, max: usize) -> Result<Vec<EventEntry>, BmcError> {
        let _ = (system, max);
        Err(BmcError::NotSupported {
            bmc: self.address().to_string(),
            operation: "read the system event log".into(),
            detail: "this driver does not read event logs".into(),
        })
    }

    /// Attaches to the serial console of `system` (IPMI serial-over-LAN).
    async fn console(&self, system: &str) -> Result<Box<dyn Console>, BmcError> {
        let _ = system;
        Err(BmcError::NotSupported {
            bmc: self.address().to_string(),
            operation: "attach to the serial console".into(),
            detail: "this driver has no serial console yet (Redfish SerialConsole is not built)"
                .into(),
        })
    }

    /// Lights the chassis identify LED: for `seconds` (`Some(0)` turns it off), or until turned
    /// off (`None`).
    async fn identify(&self, system: &str, seconds: Option<u32>) -> Result<(), BmcError> {
        let _ = (system, seconds);
        Err(BmcError::NotSupported {
            bmc: self.address().to_string(),
            operation: "identify the chassis".into(),
            detail: "this driver has no identify LED".into(),
        })
    }
}
