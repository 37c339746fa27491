//! The grammar of `bmplan`'s command line: every command, argument and flag, with the help text
//! `--help` prints and [`super::reference`] renders into `docs/reference/bmplan.md`. Data only:
//! the binary parses with it, calls the engine and prints.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use lab::faults::FaultKind;

#[derive(Parser)]
#[command(
    name = "bmplan",
    version,
    about = "Plan and apply bare-metal server configuration against live BMCs and switches"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    #[command(flatten)]
    pub inventory: InventoryArgs,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the main job on the embedded lab: no hardware needed.
    Demo {
        /// Number of simulated servers.
        #[arg(long, default_value_t = 8)]
        nodes: usize,
        /// Keep the lab's files (CA, manifest) in this directory instead of a temporary one.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Serve a simulated fleet (Redfish BMCs and switches) on loopback until killed.
    Lab(LabArgs),
    /// Print a node's inventory read from its BMC (Redfish, or IPMI for ipmi:// URLs).
    Inspect(InspectArgs),
    /// Top-of-rack switches.
    #[command(subcommand)]
    Switch(SwitchCommand),
    /// Nodes in the inventory: enrollment, discovery, lifecycle, listing.
    #[command(subcommand)]
    Nodes(NodesCommand),
    /// Flavors: hardware classes hosts are scheduled by.
    #[command(subcommand)]
    Flavors(FlavorsCommand),
    /// Projects and their quotas.
    #[command(subcommand)]
    Projects(ProjectsCommand),
    /// Hosts: nodes allocated to projects.
    #[command(subcommand)]
    Hosts(HostsCommand),
    /// Golden images: list them, or capture a deployed host into a new one.
    #[command(subcommand)]
    Images(ImagesCommand),
    /// Check a configuration directory without touching any device.
    Validate(ValidateArgs),
    /// Diff the configuration against live BMC and switch state and show the ordered plan.
    Plan(PlanArgs),
    /// Apply a configuration (or a saved plan) in waves, journaled; resumes an unfinished run.
    Apply(ApplyArgs),
    /// Report drift per node and switch port: in sync, drifted (desired, pending, out of band), unreachable.
    Drift(DriftArgs),
    /// The audit log.
    Audit(AuditArgs),
    /// The key that seals BMC and switch passwords in the inventory.
    #[command(subcommand)]
    Credentials(CredentialsCommand),
    /// The inventory itself: init, check, leases.
    #[command(subcommand)]
    Inventory(InventoryCommand),
}

#[derive(Subcommand)]
pub enum SwitchCommand {
    /// Print the live VLAN and port table of a switch.
    Show(SwitchShowArgs),
}

#[derive(Args)]
pub struct SwitchShowArgs {
    /// Switch driver: cisco_ios (SSH CLI), juniper_netconf or juniper_netconf_qfx (NETCONF), arista_eapi
    /// (JSON-RPC; --address HOST:PORT or a command-api URL).
    #[arg(long)]
    pub driver: String,
    /// HOST:PORT of the switch's SSH service.
    #[arg(long)]
    pub address: String,
    #[arg(long)]
    pub username: String,
    /// Name of the environment variable holding the login password.
    #[arg(long, value_name = "VAR")]
    pub password_env: String,
    /// Name of the environment variable holding the enable password, if the switch asks for one.
    #[arg(long, value_name = "VAR")]
    pub enable_password_env: Option<String>,
    /// Seconds to wait for the switch at each step.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// One JSON document instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct InspectArgs {
    /// BMC base URL, e.g. https://10.0.0.5, https://bmc.r1u01.example:8443 or ipmi://10.0.0.5[:623].
    pub url: String,
    /// System id on the BMC; required when the BMC manages several systems.
    #[arg(long)]
    pub system: Option<String>,
    #[arg(long)]
    pub username: String,
    /// Name of the environment variable that holds the password (never the password itself).
    #[arg(long, value_name = "VAR")]
    pub password_env: String,
    /// PEM bundle of the CA that issued the BMC's certificate.
    #[arg(long, group = "trust")]
    pub ca_cert: Option<PathBuf>,
    /// SHA-256 fingerprint of the BMC's certificate to pin (hex, colons allowed).
    #[arg(long, group = "trust", value_name = "SHA256")]
    pub fingerprint: Option<String>,
    /// Do not verify the BMC's certificate. An explicit opt-in, for labs.
    #[arg(long, group = "trust")]
    pub insecure: bool,
    /// Seconds before one request gives up.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// One JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct LabArgs {
    /// Number of simulated servers, each with its own BMC port.
    #[arg(long, default_value_t = 8)]
    pub nodes: usize,
    /// Number of top-of-rack switches; nodes are split evenly between them.
    #[arg(long, default_value_t = 1)]
    pub switches: usize,
    /// Latency added to every Redfish request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Fraction of Redfish requests that fail, split evenly over --fault-kinds.
    #[arg(long, default_value_t = 0.0)]
    pub fault_rate: f64,
    /// Which failures to inject: 5xx, timeout, reset (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "5xx,timeout,reset")]
    pub fault_kinds: Vec<FaultKind>,
    /// How long a "timeout" fault holds the request before closing the connection, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    pub hang_ms: u64,
    /// Serve HTTPS with a generated lab CA (plain HTTP keeps working on the same ports).
    #[arg(long)]
    pub tls: bool,
    /// Where to write the JSON manifest describing the fleet.
    #[arg(long)]
    pub manifest: PathBuf,
    /// Seed for hardware, credentials and fault draws.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How long power transitions take, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub power_delay_ms: u64,
    /// How long immediate tasks (firmware updates applied now) run, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub task_delay_ms: u64,
}

/// Where the inventory is and who acts on it; every inventory command takes these.
#[derive(Args, Clone, Debug)]
pub struct InventoryArgs {
    /// Inventory URL: sqlite:///path/inventory.db or postgres://user@host/db. Default:
    /// $BAREMETAL_INVENTORY, then ~/.local/share/bmplan/inventory.db.
    #[arg(long, global = true, value_name = "URL")]
    pub inventory: Option<String>,
    /// Who is acting, for the audit log (default: $BAREMETAL_USER, then $USER).
    #[arg(long, global = true)]
    pub user: Option<String>,
    /// admin or member (default: $BAREMETAL_ROLE, then admin).
    #[arg(long, global = true)]
    pub role: Option<String>,
    /// The project(s) the acting member belongs to, comma-separated (default: $BAREMETAL_PROJECT).
    #[arg(long = "as-project", global = true, value_name = "PROJECT")]
    pub as_project: Option<String>,
    /// Tables: show every cell whole (by default a cell over 60 characters ends with …).
    #[arg(long, global = true)]
    pub wide: bool,
}

impl InventoryArgs {
    /// The inventory these arguments name, opened as the acting user (with the credentials key
    /// from the environment, where there is one).
    pub async fn open(&self) -> anyhow::Result<crate::inventory::Inventory> {
        let actor = crate::project::Actor::configured(
            self.user.clone(),
            self.role.clone(),
            self.as_project.clone(),
        )?;
        let key = crate::credentials::CredentialsKey::from_env()?;
        let url = crate::inventory::resolve_url(self.inventory.as_deref());
        Ok(crate::inventory::Inventory::open(&url, actor, key).await?)
    }
}

#[derive(Subcommand)]
pub enum NodesCommand {
    /// Enroll the BMCs of a CSV or JSON list: verify credentials, inspect, record. Idempotent.
    Enroll(EnrollArgs),
    /// Find BMCs over address ranges (Redfish service root probe; IPMI for ipmi:// ranges) and
    /// enroll their systems.
    Discover(DiscoverArgs),
    /// List nodes.
    List(ListNodesArgs),
    /// One node in detail.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// A node's life from the audit log: its states in order, with maintenance, power and hosts.
    History {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Export every node as CSV or JSON.
    Export(ExportArgs),
    /// Set a node's traits, rack, architecture or owning project.
    Set(SetNodeArgs),
    /// enroll/verify failed → verifying → manageable (checks the BMC), or available → manageable.
    Manage { name: String },
    /// manageable → inspecting → available, with the hardware facts read again from the BMC; or,
    /// with --in-band, the deploy agent booted on the node reads it from inside (disks, NICs and
    /// their LLDP neighbours, CPU, memory), recorded with the node.
    Inspect {
        name: String,
        /// Boot the deploy agent (BAREMETAL_AGENT_ISO) and inspect from inside.
        #[arg(long)]
        in_band: bool,
        /// How long the agent listens for LLDP on each NIC (switches send every 30 s by default).
        #[arg(long, default_value_t = 35)]
        lldp_seconds: u64,
        #[command(flatten)]
        life: LifeArgs,
        #[arg(long)]
        json: bool,
    },
    /// Power a node on or off, power-cycle or reboot it, and wait until it is done. Audited.
    Power(NodePowerArgs),
    /// Set the device a node boots from, for the next boot or persistently. Audited.
    Boot(NodeBootArgs),
    /// Set how the deploy agent boots a node (virtual_media or pxe) and the MAC it network-boots
    /// from; what is not given stays. Audited.
    Netboot(NodeNetbootArgs),
    /// The system event log of a node's BMC (IPMI SEL), oldest first.
    Events(NodeEventsArgs),
    /// Light a node's chassis identify LED (until turned off, or for --seconds), or turn it off.
    Identify(NodeIdentifyArgs),
    /// Attach to a node's serial console (IPMI serial-over-LAN); Ctrl-] detaches. Audited.
    Console { name: String },
    /// manageable → available.
    Provide { name: String },
    /// A running server becomes an active host without a deployment: manageable → active.
    Adopt {
        name: String,
        /// Name of the host record to create.
        #[arg(long)]
        host: String,
        /// Project the host belongs to.
        #[arg(long = "project")]
        host_project: String,
    },
    /// Set or clear maintenance.
    Maintenance {
        name: String,
        /// on or off.
        #[arg(value_parser = ["on", "off"])]
        mode: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Apply a lifecycle event by name (for recovery: e.g. `fail`, `cleaned`).
    Event { name: String, event: String },
    /// Remove a node from the inventory.
    Remove { name: String },
}

#[derive(Args)]
pub struct EnrollArgs {
    /// CSV (name,bmc_url,system_id,username,password[,ca_cert,fingerprint,insecure]) or JSON list.
    pub file: PathBuf,
    /// BMCs talked to at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Seconds before one BMC request gives up.
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct DiscoverArgs {
    /// Address ranges: 10.0.0.5, 10.0.0.5-40, 10.0.0.0/28, with :PORT or :PORT-PORT; scheme
    /// https:// by default, ipmi:// for IPMI BMCs (which need the credentials to answer).
    #[arg(required = true)]
    pub ranges: Vec<String>,
    #[arg(long)]
    pub username: String,
    /// Name of the environment variable holding the BMC password.
    #[arg(long, value_name = "VAR")]
    pub password_env: String,
    /// PEM bundle of the CA that issued the BMCs' certificates.
    #[arg(long, group = "trust")]
    pub ca_cert: Option<PathBuf>,
    /// Do not verify certificates (labs only).
    #[arg(long, group = "trust")]
    pub insecure: bool,
    /// Probes at once.
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds one probe may take.
    #[arg(long, default_value_t = 3)]
    pub probe_timeout: u64,
    /// Prefix of the generated node names.
    #[arg(long, default_value = "")]
    pub name_prefix: String,
    /// Only list what answers; enroll nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct ListNodesArgs {
    /// Only nodes in this state (e.g. available, "clean failed").
    #[arg(long)]
    pub state: Option<String>,
    /// Only nodes that match this flavor.
    #[arg(long)]
    pub flavor: Option<String>,
    /// Only nodes used by this project (its hosts, or reserved for it).
    #[arg(long = "project", value_name = "PROJECT")]
    pub of_project: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Csv,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum AuditFormat {
    Table,
    Csv,
    Json,
}

#[derive(Args)]
pub struct ExportArgs {
    #[arg(long, value_enum)]
    pub format: Format,
    /// Write here instead of standard output.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
}

#[derive(Args)]
pub struct SetNodeArgs {
    pub name: String,
    /// Traits, comma-separated (replaces the list; empty clears it).
    #[arg(long)]
    pub traits: Option<String>,
    #[arg(long)]
    pub rack: Option<String>,
    /// x86_64 or aarch64, when the BMC does not say.
    #[arg(long)]
    pub arch: Option<String>,
    /// Reserve the node for a project.
    #[arg(long, conflicts_with = "no_owner")]
    pub owner: Option<String>,
    /// Clear the reservation.
    #[arg(long)]
    pub no_owner: bool,
}

#[derive(Subcommand)]
pub enum FlavorsCommand {
    /// Create or replace a flavor.
    Create(FlavorArgs),
    /// Flavors with how many nodes match each and how many are free.
    List {
        #[arg(long)]
        json: bool,
    },
    Delete {
        name: String,
    },
}

#[derive(Args)]
pub struct FlavorArgs {
    pub name: String,
    #[arg(long, default_value_t = 0)]
    pub cpus: u64,
    #[arg(long, default_value_t = 0)]
    pub memory_gib: u64,
    #[arg(long, default_value_t = 0)]
    pub disk_gib: u64,
    #[arg(long)]
    pub arch: Option<String>,
    #[arg(long)]
    pub vendor: Option<String>,
    #[arg(long)]
    pub model: Option<String>,
    /// Required traits, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub traits: Vec<String>,
    /// Minimum GPUs (of --gpu-model when given).
    #[arg(long, default_value_t = 0)]
    pub gpus: u64,
    /// A GPU model every counted GPU names (case-insensitive substring: A100, MI250X).
    #[arg(long)]
    pub gpu_model: Option<String>,
    #[arg(long)]
    pub description: Option<String>,
}

#[derive(Subcommand)]
pub enum ProjectsCommand {
    /// Create a project or change its quotas.
    Create {
        name: String,
        #[arg(long)]
        max_hosts: Option<i64>,
        #[arg(long)]
        max_nodes: Option<i64>,
    },
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum HostsCommand {
    /// Allocate a node to a new host, by flavor (best fit) or pinned to a node (admin).
    Create(CreateHostArgs),
    List {
        #[arg(long = "project", value_name = "PROJECT")]
        in_project: Option<String>,
        #[arg(long)]
        json: bool,
    },
    Export(ExportArgs),
    /// Delete a host: an allocation is released; a deployed host's node is cleaned (volumes
    /// deleted, drives erased, BIOS back to its own profile) and made available.
    Delete {
        name: String,
        #[arg(long = "project", value_name = "PROJECT")]
        in_project: Option<String>,
        #[command(flatten)]
        life: LifeArgs,
    },
    /// Deploy an image onto an allocated host through virtual media or network boot, as its node's
    /// boot_interface says (or rebuild an active one in place); a host whose deployment stopped
    /// resumes on its node.
    Deploy(DeployArgs),
    /// Move a host to another node: the node it leaves goes into maintenance; its profile and
    /// image are put on the new node.
    Migrate {
        name: String,
        #[arg(long = "project", value_name = "PROJECT")]
        in_project: Option<String>,
        #[arg(long)]
        to: String,
        #[arg(long, default_value = "moved by an operator")]
        reason: String,
        #[command(flatten)]
        life: LifeArgs,
    },
    /// What the host's deployments and cleans printed: the deploy agent's log, the console as the
    /// agent read it, and the engine's steps (the newest lines, oldest first).
    Log {
        name: String,
        #[arg(long = "project", value_name = "PROJECT")]
        in_project: Option<String>,
        /// How many lines, the newest.
        #[arg(long, default_value_t = 200)]
        lines: i64,
        #[arg(long)]
        json: bool,
    },
    /// Power a host's node on or off, or reboot it.
    Power {
        name: String,
        #[arg(value_enum)]
        action: PowerArg,
        #[arg(long = "project", value_name = "PROJECT")]
        in_project: Option<String>,
        #[command(flatten)]
        life: LifeArgs,
    },
}

#[derive(Subcommand)]
pub enum ImagesCommand {
    /// The golden images the inventory knows: checksum, format, size and origin.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Capture an active host into a new golden image: the host is shut down, the deploy agent
    /// generalises a snapshot of its disk (machine-id, SSH host keys, cloud-init state, logs)
    /// and streams it zstd-compressed into the image store, and the host boots its OS again,
    /// unchanged. The image is registered with origin "captured from host H at generation N".
    Capture(Box<CaptureArgs>),
}

#[derive(Args)]
pub struct CaptureArgs {
    /// The host to capture (active).
    pub host: String,
    /// The new image's name.
    #[arg(long)]
    pub name: String,
    /// The host's project (default: the acting member's only project).
    #[arg(long = "project", value_name = "PROJECT")]
    pub in_project: Option<String>,
    /// A shell script (a file) run chrooted in the generalised system after the standard steps.
    #[arg(long)]
    pub script: Option<PathBuf>,
    /// The image's OS family (default: the captured system's os-release ID).
    #[arg(long)]
    pub os_family: Option<String>,
    /// zstd compression level, 1 to 19.
    #[arg(long, default_value_t = 3)]
    pub level: i32,
    /// How long the OS has to shut down (ACPI) before the power is cut (a duration: 5m, 20s).
    #[arg(long, default_value = "5m")]
    pub shutdown_timeout: String,
    #[command(flatten)]
    pub life: LifeArgs,
    #[arg(long)]
    pub json: bool,
}

impl CaptureArgs {
    /// The engine's request; a script file that cannot be read is an error naming it.
    pub fn request(
        &self,
        timeout: std::time::Duration,
    ) -> anyhow::Result<crate::host::capture::CaptureRequest> {
        use anyhow::Context;
        let mut r = crate::host::capture::CaptureRequest::new(&self.name, timeout);
        r.script = match &self.script {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .with_context(|| format!("reading the capture script {}", p.display()))?,
            ),
            None => None,
        };
        r.os_family = self.os_family.clone();
        r.level = self.level;
        r.shutdown = crate::schema::parse_duration(&self.shutdown_timeout)
            .map_err(|e| anyhow::anyhow!("--shutdown-timeout {:?}: {e}", self.shutdown_timeout))?;
        Ok(r)
    }
}

#[derive(Args)]
pub struct CreateHostArgs {
    pub name: String,
    /// The host's project (default: the acting member's only project).
    #[arg(long = "project", value_name = "PROJECT")]
    pub in_project: Option<String>,
    #[arg(long, required_unless_present = "node")]
    pub flavor: Option<String>,
    #[arg(long)]
    pub node: Option<String>,
    #[arg(long)]
    pub json: bool,
}

impl CreateHostArgs {
    pub fn new_host(&self) -> crate::inventory::NewHost {
        crate::inventory::NewHost {
            name: self.name.clone(),
            project: self.in_project.clone(),
            flavor: self.flavor.clone(),
            node: self.node.clone(),
        }
    }
}

#[derive(Args)]
pub struct NodePowerArgs {
    pub name: String,
    #[arg(value_enum)]
    pub action: NodePowerArg,
    /// Seconds it may take.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}

#[derive(Args)]
pub struct NodeNetbootArgs {
    pub name: String,
    /// virtual_media (the BMC's virtual CD) or pxe (network boot; the default over IPMI).
    #[arg(long)]
    pub interface: Option<String>,
    /// The MAC of the NIC the node network-boots from.
    #[arg(long)]
    pub pxe_mac: Option<String>,
}

impl NodeNetbootArgs {
    pub fn interface(&self) -> Option<&str> {
        self.interface.as_deref()
    }

    pub fn mac(&self) -> Option<&str> {
        self.pxe_mac.as_deref()
    }
}

#[derive(Args)]
pub struct NodeBootArgs {
    pub name: String,
    #[arg(value_enum)]
    pub device: BootDeviceArg,
    /// Keep it for every boot (else only the next).
    #[arg(long)]
    pub persistent: bool,
    /// UEFI or legacy BIOS boot (else the mode stays as it is).
    #[arg(long, value_enum)]
    pub mode: Option<BootModeArg>,
    /// Seconds it may take.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
}

impl NodeBootArgs {
    pub fn device(&self) -> crate::operation::BootDevice {
        crate::operation::BootDevice {
            target: self.device.into(),
            persistence: match self.persistent {
                true => crate::bmc::BootPersistence::Continuous,
                false => crate::bmc::BootPersistence::Once,
            },
            mode: self.mode.map(Into::into),
        }
    }
}

#[derive(Args)]
pub struct NodeEventsArgs {
    pub name: String,
    /// The newest entries to show.
    #[arg(long, default_value_t = 100)]
    pub max: usize,
    /// Seconds the read may take.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args)]
pub struct NodeIdentifyArgs {
    pub name: String,
    /// Light it for this many seconds (at most 255), then the BMC turns it off.
    #[arg(long, conflicts_with = "off")]
    pub seconds: Option<u32>,
    /// Turn it off.
    #[arg(long)]
    pub off: bool,
    /// Seconds the request may take.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
}

impl NodeIdentifyArgs {
    /// The light's state after the command, in words.
    pub fn state(&self) -> &'static str {
        if self.off {
            "off"
        } else {
            "on"
        }
    }

    /// For how long: `Some(0)` turns it off, `None` lights it until turned off.
    pub fn seconds(&self) -> Option<u32> {
        if self.off {
            Some(0)
        } else {
            self.seconds
        }
    }
}

/// `--timeout SECONDS` of the node operations, as a duration.
pub fn seconds(s: u64) -> std::time::Duration {
    std::time::Duration::from_secs(s)
}

#[derive(Clone, Copy, ValueEnum)]
pub enum NodePowerArg {
    On,
    Off,
    Cycle,
    Reboot,
}

impl From<NodePowerArg> for crate::operation::PowerChange {
    fn from(a: NodePowerArg) -> Self {
        match a {
            NodePowerArg::On => crate::operation::PowerChange::On,
            NodePowerArg::Off => crate::operation::PowerChange::Off,
            NodePowerArg::Cycle => crate::operation::PowerChange::Cycle,
            NodePowerArg::Reboot => crate::operation::PowerChange::Reboot,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum BootDeviceArg {
    Pxe,
    Disk,
    Cd,
    Bios,
    /// Clear the override: the firmware's own boot order.
    None,
}

impl From<BootDeviceArg> for crate::bmc::BootTarget {
    fn from(a: BootDeviceArg) -> Self {
        match a {
            BootDeviceArg::Pxe => crate::bmc::BootTarget::Pxe,
            BootDeviceArg::Disk => crate::bmc::BootTarget::Hdd,
            BootDeviceArg::Cd => crate::bmc::BootTarget::Cd,
            BootDeviceArg::Bios => crate::bmc::BootTarget::BiosSetup,
            BootDeviceArg::None => crate::bmc::BootTarget::None,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum BootModeArg {
    Uefi,
    Legacy,
}

impl From<BootModeArg> for crate::bmc::BootMode {
    fn from(a: BootModeArg) -> Self {
        match a {
            BootModeArg::Uefi => crate::bmc::BootMode::Uefi,
            BootModeArg::Legacy => crate::bmc::BootMode::Legacy,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PowerArg {
    On,
    Off,
    Reboot,
}

/// What host lifecycle commands share: how long they may take and where the deployment endpoint
/// listens.
#[derive(Args)]
pub struct LifeArgs {
    /// How long the operation may take (a duration: 30m, 1h).
    #[arg(long, default_value = "30m")]
    pub timeout: String,
    /// Where the deployment endpoint (config drives, callbacks, network boot scripts) listens: a
    /// fixed address and port for network boot, the one the site's DHCP hands iPXE.
    #[arg(long, env = "BAREMETAL_MEDIA_LISTEN", default_value = "127.0.0.1:0")]
    pub media_listen: String,
    /// The endpoint's URL as BMCs reach it, when not the listening address.
    #[arg(long, env = "BAREMETAL_MEDIA_URL")]
    pub media_url: Option<String>,
}

#[derive(Args)]
pub struct AuditArgs {
    /// From this time: 2026-11-23, 2026-11-23T04:00:00Z, or a duration back (90m, 24h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    #[arg(long)]
    pub node: Option<String>,
    #[arg(long = "project", value_name = "PROJECT")]
    pub of_project: Option<String>,
    /// ok, denied or failed.
    #[arg(long)]
    pub outcome: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: AuditFormat,
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
}

#[derive(Subcommand)]
pub enum CredentialsCommand {
    /// Print a new random key (base64) for BAREMETAL_CREDENTIALS_KEY or a key file.
    Keygen {
        /// Write the key to this file, readable by its owner only (0600), instead of printing it.
        /// An existing file is refused.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Re-seal every stored password under a new key (the current key comes from the environment).
    Rotate {
        /// File holding the new key.
        #[arg(long)]
        new_key_file: PathBuf,
    },
}

#[derive(Subcommand)]
pub enum InventoryCommand {
    /// Check the inventory's invariants (exit 1 when one is broken).
    Check {
        #[arg(long)]
        json: bool,
    },
    /// Live leases on nodes.
    Leases {
        #[arg(long)]
        json: bool,
    },
    /// Create (or migrate) the inventory and print where it is.
    Init,
}

/// Variables, as `terraform` takes them.
#[derive(Args, Clone, Debug, Default)]
pub struct VarArgs {
    /// A variable value, NAME=VALUE (repeatable). `-var` works too.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// A .tfvars file (repeatable). `-var-file` works too.
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
}

#[derive(Args)]
pub struct ValidateArgs {
    /// The configuration directory.
    pub dir: PathBuf,
    #[command(flatten)]
    pub vars: VarArgs,
}

#[derive(Args)]
pub struct PlanArgs {
    /// The configuration directory.
    pub dir: PathBuf,
    #[command(flatten)]
    pub vars: VarArgs,
    /// Save the plan, to apply exactly it later (`-out` works too).
    #[arg(long = "out", value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 0 with no changes, 2 with changes, 1 on error (`-detailed-exitcode` works too).
    #[arg(long = "detailed-exitcode")]
    pub detailed_exitcode: bool,
    /// The plan, the diff and what was unreachable as one JSON document.
    #[arg(long)]
    pub json: bool,
    /// Nodes read at once.
    #[arg(long, default_value_t = crate::observe::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// Longest one BMC request may take, in seconds (retried requests get it each time).
    #[arg(long, default_value_t = 30)]
    pub bmc_timeout: u64,
}

#[derive(Args)]
pub struct ApplyArgs {
    /// A configuration directory, or a plan file saved with `plan -out`.
    pub target: PathBuf,
    #[command(flatten)]
    pub vars: VarArgs,
    /// Do not ask for confirmation (`-auto-approve` works too).
    #[arg(long = "auto-approve")]
    pub auto_approve: bool,
    /// Nodes changed at once per wave (overrides the provider's max_parallel).
    #[arg(long)]
    pub max_parallel: Option<usize>,
    /// Nodes that may fail before the rolling waves stop (default 0: the first failed node stops
    /// the waves after it). Within the budget, later waves start and switch batches leave out the
    /// failed nodes' ports; a failed switch batch always stops the waves. The exit code is still 1.
    #[arg(long, default_value_t = 0)]
    pub max_failures: usize,
    /// The maintenance window left, e.g. 2h or 45m: a disruptive wave that would not finish in it is
    /// not started.
    #[arg(long)]
    pub window: Option<String>,
    /// Longest wait for a node to come back with its settings applied.
    #[arg(long, default_value = "30m")]
    pub wait_timeout: String,
    /// How long to look for signs that a reset whose request got no answer happened, before
    /// sending it again (e.g. 10s).
    #[arg(long, default_value = "10s")]
    pub reset_grace: String,
    /// Nodes read at once.
    #[arg(long, default_value_t = crate::observe::DEFAULT_CONCURRENCY)]
    pub concurrency: usize,
    /// Longest one BMC request may take, in seconds (retried requests get it each time).
    #[arg(long, default_value_t = 30)]
    pub bmc_timeout: u64,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum DriftFormat {
    Text,
    Markdown,
    Json,
    Junit,
}

#[derive(Args)]
pub struct DriftArgs {
    /// The configuration directory.
    pub dir: PathBuf,
    #[command(flatten)]
    pub vars: VarArgs,
    #[arg(long, value_enum, default_value = "text")]
    pub format: DriftFormat,
    /// Write the report here.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// Exit 2 when something drifted or is unreachable.
    #[arg(long = "detailed-exitcode")]
    pub detailed_exitcode: bool,
    /// Longest one BMC request may take, in seconds (retried requests get it each time).
    #[arg(long, default_value_t = 30)]
    pub bmc_timeout: u64,
}

/// Terraform spells long flags with one dash (`-out`, `-var`, `-auto-approve`); clap wants two.
pub fn terraform_flags(args: impl Iterator<Item = String>) -> Vec<String> {
    const SINGLE: &[&str] = &[
        "-out",
        "-var",
        "-var-file",
        "-auto-approve",
        "-detailed-exitcode",
    ];
    args.map(|a| {
        let (flag, rest) = match a.split_once('=') {
            Some((f, r)) => (f.to_string(), Some(r.to_string())),
            None => (a.clone(), None),
        };
        if SINGLE.contains(&flag.as_str()) {
            match rest {
                Some(r) => format!("-{flag}={r}"),
                None => format!("-{flag}"),
            }
        } else {
            a
        }
    })
    .collect()
}

/// Arguments that parse but do not make sense together.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ArgError(pub String);

impl InspectArgs {
    /// The BMC endpoint the arguments name, with `password` (read from `--password-env`). TLS
    /// verification is on unless `--insecure`; asking to verify an http:// URL is an error.
    pub fn endpoint(&self, password: crate::bmc::Secret) -> Result<crate::bmc::Endpoint, ArgError> {
        use crate::bmc::TlsTrust;
        if (self.ca_cert.is_some() || self.fingerprint.is_some())
            && self.url.trim().to_ascii_lowercase().starts_with("http://")
        {
            return Err(ArgError(format!(
                "{}: --ca-cert and --fingerprint verify TLS, but the URL is http://: the BMC would be reached in clear, unverified; use https://",
                crate::rules::redacted(&self.url)
            )));
        }
        let tls = match (&self.ca_cert, &self.fingerprint, self.insecure) {
            (Some(ca), _, _) => TlsTrust::CaBundle(ca.clone()),
            (_, Some(fp), _) => TlsTrust::Fingerprint(fp.clone()),
            (_, _, true) => TlsTrust::Insecure,
            _ => TlsTrust::NoExtraRoots,
        };
        let mut ep =
            crate::bmc::Endpoint::new(self.url.clone(), self.username.clone(), password, tls);
        ep.limits.request_timeout = std::time::Duration::from_secs(self.timeout);
        Ok(ep)
    }
}

impl LabArgs {
    /// The simulated fleet the arguments describe; its files go beside the manifest.
    pub fn config(&self) -> lab::LabConfig {
        let dir = self
            .manifest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."));
        lab::LabConfig {
            nodes: self.nodes,
            switches: self.switches,
            tls: self.tls,
            faults: lab::faults::FaultConfig::from_rate(
                self.latency_ms,
                self.fault_rate,
                &self.fault_kinds,
                self.hang_ms,
            ),
            seed: self.seed,
            power_delay: std::time::Duration::from_millis(self.power_delay_ms),
            task_delay: std::time::Duration::from_millis(self.task_delay_ms),
            dir,
        }
    }
}

impl VarArgs {
    /// The variables as the loader takes them.
    pub fn options(&self) -> Result<crate::load::LoadOptions, ArgError> {
        let mut vars = Vec::new();
        for v in &self.vars {
            let (k, val) = v
                .split_once('=')
                .ok_or_else(|| ArgError(format!("-var {v:?}: use NAME=VALUE")))?;
            vars.push((k.trim().to_string(), val.to_string()));
        }
        Ok(crate::load::LoadOptions {
            vars,
            var_files: self.var_files.clone(),
            env: None,
        })
    }
}

impl FlavorArgs {
    pub fn flavor(&self) -> crate::flavor::Flavor {
        crate::flavor::Flavor {
            name: self.name.clone(),
            cpus: self.cpus,
            memory_gib: self.memory_gib,
            disk_gib: self.disk_gib,
            arch: self.arch.clone(),
            vendor: self.vendor.clone(),
            model: self.model.clone(),
            traits: self
                .traits
                .iter()
                .filter(|t| !t.is_empty())
                .cloned()
                .collect(),
            description: self.description.clone(),
            gpus: self.gpus,
            gpu_model: self.gpu_model.clone(),
        }
    }
}

impl ListNodesArgs {
    /// The listing's filter; an unknown state is an error that lists the states.
    pub fn filter(&self) -> Result<crate::inventory::NodeFilter, ArgError> {
        use crate::lifecycle::{ProvisionState, ALL_STATES};
        let state = match &self.state {
            Some(s) => Some(ProvisionState::parse(s).ok_or_else(|| {
                let all = ALL_STATES.map(|s| s.as_str());
                ArgError(format!("unknown state {s:?}; states: {}", all.join(", ")))
            })?),
            None => None,
        };
        Ok(crate::inventory::NodeFilter {
            state,
            flavor: self.flavor.clone(),
            project: self.of_project.clone(),
            name: None,
        })
    }
}

impl SetNodeArgs {
    /// The traits to set (comma-separated, blanks dropped), when given.
    pub fn trait_set(&self) -> Option<std::collections::BTreeSet<String>> {
        let t = self.traits.as_ref()?;
        Some(
            t.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        )
    }

    /// The owner to set: `Some(None)` clears it (`--no-owner`), `None` leaves it.
    pub fn owner_change(&self) -> Option<Option<String>> {
        if self.no_owner {
            Some(None)
        } else {
            self.owner.clone().map(Some)
        }
    }
}

impl AuditArgs {
    /// The audit log's filter; `--since` is a date, a time or a duration back from `now_ms`.
    pub fn filter(&self, now_ms: i64) -> Result<crate::inventory::AuditFilter, ArgError> {
        let since_ms = match &self.since {
            Some(s) => Some(crate::inventory::parse_since(s, now_ms).ok_or_else(|| {
                ArgError(format!(
                    "--since {s:?}: use 2026-11-23, 2026-11-23T04:00:00Z, or 90m / 24h / 7d"
                ))
            })?),
            None => None,
        };
        Ok(crate::inventory::AuditFilter {
            since_ms,
            node: self.node.clone(),
            project: self.of_project.clone(),
            outcome: self.outcome.clone(),
            limit: None,
        })
    }
}

impl DiscoverArgs {
    /// The login discovered BMCs are enrolled with: `password` (from `--password-env`), the CA
    /// bundle read from `--ca-cert`.
    pub fn login(
        &self,
        password: crate::bmc::Secret,
    ) -> Result<crate::enroll::DiscoveryLogin, ArgError> {
        let ca_cert_pem = match &self.ca_cert {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .map_err(|e| ArgError(format!("reading {}: {e}", p.display())))?,
            ),
            None => None,
        };
        Ok(crate::enroll::DiscoveryLogin {
            username: self.username.clone(),
            password,
            tls: crate::inventory::NodeTls {
                ca_cert_pem,
                fingerprint: None,
                insecure: self.insecure,
            },
        })
    }
}

/// `bmplan hosts deploy`.
#[derive(Args)]
pub struct DeployArgs {
    pub name: String,
    #[arg(long = "project", value_name = "PROJECT")]
    pub in_project: Option<String>,
    #[arg(long)]
    pub image_url: String,
    /// sha256:<hex> or sha512:<hex>; checked before the node is touched.
    #[arg(long)]
    pub image_checksum: String,
    /// power_off, boot_progress or callback.
    #[arg(long, default_value = "power_off")]
    pub wait: String,
    /// A network for the host's ports (repeatable).
    #[arg(long = "network")]
    pub networks: Vec<String>,
    /// An SSH public key (repeatable).
    #[arg(long = "ssh-key")]
    pub ssh_keys: Vec<String>,
    /// cloud-init user data, from a file.
    #[arg(long)]
    pub user_data_file: Option<PathBuf>,
    #[arg(long)]
    pub profile: Option<String>,
    /// raw, qcow2, raw.gz, raw.xz, raw.zst (written by the deploy agent) or iso (an installer);
    /// unset: told from the URL's name, else from the image's first bytes.
    #[arg(long)]
    pub image_format: Option<String>,
    /// The root disk by its kernel name (sda, nvme0n1).
    #[arg(long)]
    pub root_device_name: Option<String>,
    /// The root disk by its serial number.
    #[arg(long)]
    pub root_device_serial: Option<String>,
    #[command(flatten)]
    pub life: LifeArgs,
}

impl DeployArgs {
    /// The deployment asked for, judged as a `baremetal_host` block is (one rule for every
    /// front end); the user data is read from `--user-data-file`.
    pub fn request(&self) -> Result<crate::deploy::DeployRequest, ArgError> {
        let user_data = match &self.user_data_file {
            Some(p) => Some(
                std::fs::read_to_string(p)
                    .map_err(|e| ArgError(format!("reading {}: {e}", p.display())))?,
            ),
            None => None,
        };
        let spec = crate::deploy::HostSpec {
            name: self.name.clone(),
            image_url: Some(self.image_url.clone()),
            image_checksum: Some(self.image_checksum.clone()),
            wait: Some(self.wait.clone()),
            networks: self.networks.clone(),
            ssh_keys: self.ssh_keys.clone(),
            user_data: user_data.map(crate::bmc::Secret::new),
            profile: self.profile.clone(),
            image_format: self.image_format.clone(),
            root_device: crate::deploy::RootDeviceHints {
                name: self.root_device_name.clone(),
                serial: self.root_device_serial.clone(),
                ..Default::default()
            },
            ..Default::default()
        };
        let timeout = self.life.duration()?;
        match crate::deploy::DeployRequest::for_spec(&spec, timeout) {
            Ok(Some(req)) => Ok(req),
            Ok(None) => Err(ArgError("a deployment needs --image-url".into())),
            Err(e) => Err(ArgError(
                e.iter()
                    .map(|e| e.message.as_str())
                    .collect::<Vec<_>>()
                    .join("; "),
            )),
        }
    }
}

impl LifeArgs {
    /// How long the operation may take.
    pub fn duration(&self) -> Result<std::time::Duration, ArgError> {
        crate::schema::parse_duration(&self.timeout)
            .map_err(|e| ArgError(format!("--timeout {:?}: {e}", self.timeout)))
    }
}

impl From<PowerArg> for crate::bmc::PowerAction {
    fn from(a: PowerArg) -> Self {
        match a {
            PowerArg::On => crate::bmc::PowerAction::On,
            PowerArg::Off => crate::bmc::PowerAction::Off,
            PowerArg::Reboot => crate::bmc::PowerAction::Reboot,
        }
    }
}

impl ApplyArgs {
    /// The executor's options the arguments set (`max_parallel` from the desired state, the
    /// progress sink the caller's).
    pub fn apply_options(
        &self,
        max_parallel: usize,
    ) -> Result<crate::apply::ApplyOptions, ArgError> {
        let duration = |flag: &str, v: &str| {
            crate::schema::parse_duration(v).map_err(|e| ArgError(format!("--{flag} {v:?}: {e}")))
        };
        let window_end = match &self.window {
            Some(w) => Some(std::time::Instant::now() + duration("window", w)?),
            None => None,
        };
        Ok(crate::apply::ApplyOptions {
            max_parallel,
            wait_timeout: duration("wait-timeout", &self.wait_timeout)?,
            reset_grace: duration("reset-grace", &self.reset_grace)?,
            window_end,
            max_failures: self.max_failures,
            ..crate::apply::ApplyOptions::default()
        })
    }
}

impl SwitchShowArgs {
    /// The switch the arguments name, its passwords read from the environment variables named.
    pub fn endpoint(&self) -> Result<crate::switch::SwitchEndpoint, ArgError> {
        let secret = |var: &str| {
            std::env::var(var)
                .map(crate::bmc::Secret::new)
                .map_err(|_| ArgError(format!("the environment variable {var} is not set")))
        };
        Ok(crate::switch::SwitchEndpoint {
            address: self.address.clone(),
            username: self.username.clone(),
            password: secret(&self.password_env)?,
            enable_password: self
                .enable_password_env
                .as_deref()
                .map(secret)
                .transpose()?,
            timeout: std::time::Duration::from_secs(self.timeout),
        })
    }
}

impl DriftFormat {
    /// The drift report in this format.
    pub fn render(
        self,
        r: &crate::drift::DriftReport,
        style: crate::report::Style,
    ) -> Result<String, serde_json::Error> {
        use crate::report;
        Ok(match self {
            DriftFormat::Text => report::drift_text(r, style),
            DriftFormat::Markdown => report::drift_markdown(r),
            DriftFormat::Json => serde_json::to_string_pretty(r)? + "\n",
            DriftFormat::Junit => report::drift_junit(r),
        })
    }
}
