//! The inventory commands: nodes, flavors, projects, hosts, audit, credentials, leases, check.
//! Parsing and printing only; the work is in `planner::inventory` and `planner::enroll`.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::{Args, Subcommand, ValueEnum};
use planner::bmc::{Limits, Secret};
use planner::credentials::CredentialsKey;
use planner::enroll;
use planner::flavor::Flavor;
use planner::inventory::{AuditFilter, EnrollResult, Inventory, NewHost, NodeFilter, NodeTls};
use planner::lifecycle::{Event, ProvisionState};
use planner::project::Actor;
use planner::report::{self, Rows};

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
    pub async fn open(&self) -> anyhow::Result<Inventory> {
        let actor = Actor::configured(
            self.user.clone(),
            self.role.clone(),
            self.as_project.clone(),
        )?;
        let key = CredentialsKey::from_env()?;
        let url = planner::inventory::resolve_url(self.inventory.as_deref());
        Ok(Inventory::open(&url, actor, key).await?)
    }
}

#[derive(Subcommand)]
pub enum NodesCommand {
    /// Enroll the BMCs of a CSV or JSON list: verify credentials, inspect, record. Idempotent.
    Enroll(EnrollArgs),
    /// Find BMCs over address ranges (Redfish service root probe) and enroll their systems.
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
    /// manageable → inspecting → available, with the hardware facts read again from the BMC.
    Inspect { name: String },
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
    file: PathBuf,
    /// BMCs talked to at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Seconds before one BMC request gives up.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct DiscoverArgs {
    /// Address ranges: 10.0.0.5, 10.0.0.5-40, 10.0.0.0/28, with :PORT or :PORT-PORT, scheme optional.
    #[arg(required = true)]
    ranges: Vec<String>,
    #[arg(long)]
    username: String,
    /// Name of the environment variable holding the BMC password.
    #[arg(long, value_name = "VAR")]
    password_env: String,
    /// PEM bundle of the CA that issued the BMCs' certificates.
    #[arg(long, group = "trust")]
    ca_cert: Option<PathBuf>,
    /// Do not verify certificates (labs only).
    #[arg(long, group = "trust")]
    insecure: bool,
    /// Probes at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Seconds one probe may take.
    #[arg(long, default_value_t = 3)]
    probe_timeout: u64,
    /// Prefix of the generated node names.
    #[arg(long, default_value = "")]
    name_prefix: String,
    /// Only list what answers; enroll nothing.
    #[arg(long)]
    dry_run: bool,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ListNodesArgs {
    /// Only nodes in this state (e.g. available, "clean failed").
    #[arg(long)]
    state: Option<String>,
    /// Only nodes that match this flavor.
    #[arg(long)]
    flavor: Option<String>,
    /// Only nodes used by this project (its hosts, or reserved for it).
    #[arg(long = "project", value_name = "PROJECT")]
    of_project: Option<String>,
    #[arg(long)]
    json: bool,
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
    format: Format,
    /// Write here instead of standard output.
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
}

#[derive(Args)]
pub struct SetNodeArgs {
    name: String,
    /// Traits, comma-separated (replaces the list; empty clears it).
    #[arg(long)]
    traits: Option<String>,
    #[arg(long)]
    rack: Option<String>,
    /// x86_64 or aarch64, when the BMC does not say.
    #[arg(long)]
    arch: Option<String>,
    /// Reserve the node for a project.
    #[arg(long, conflicts_with = "no_owner")]
    owner: Option<String>,
    /// Clear the reservation.
    #[arg(long)]
    no_owner: bool,
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
    name: String,
    #[arg(long, default_value_t = 0)]
    cpus: u64,
    #[arg(long, default_value_t = 0)]
    memory_gib: u64,
    #[arg(long, default_value_t = 0)]
    disk_gib: u64,
    #[arg(long)]
    arch: Option<String>,
    #[arg(long)]
    vendor: Option<String>,
    #[arg(long)]
    model: Option<String>,
    /// Required traits, comma-separated.
    #[arg(long, value_delimiter = ',')]
    traits: Vec<String>,
    /// Minimum GPUs (of --gpu-model when given).
    #[arg(long, default_value_t = 0)]
    gpus: u64,
    /// A GPU model every counted GPU names (case-insensitive substring: A100, MI250X).
    #[arg(long)]
    gpu_model: Option<String>,
    #[arg(long)]
    description: Option<String>,
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
    Create {
        name: String,
        /// The host's project (default: the acting member's only project).
        #[arg(long = "project", value_name = "PROJECT")]
        in_project: Option<String>,
        #[arg(long, required_unless_present = "node")]
        flavor: Option<String>,
        #[arg(long)]
        node: Option<String>,
        #[arg(long)]
        json: bool,
    },
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
    /// Deploy an image onto an allocated host through virtual media (or rebuild an active one in
    /// place); a host whose deployment stopped resumes on its node.
    Deploy {
        name: String,
        #[arg(long = "project", value_name = "PROJECT")]
        in_project: Option<String>,
        #[arg(long)]
        image_url: String,
        /// sha256:<hex> or sha512:<hex>; checked before the node is touched.
        #[arg(long)]
        image_checksum: String,
        /// power_off, boot_progress or callback.
        #[arg(long, default_value = "power_off")]
        wait: String,
        /// A network for the host's ports (repeatable).
        #[arg(long = "network")]
        networks: Vec<String>,
        /// An SSH public key (repeatable).
        #[arg(long = "ssh-key")]
        ssh_keys: Vec<String>,
        /// cloud-init user data, from a file.
        #[arg(long)]
        user_data_file: Option<PathBuf>,
        #[arg(long)]
        profile: Option<String>,
        #[command(flatten)]
        life: LifeArgs,
    },
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
    timeout: String,
    /// Where the deployment endpoint (config drives, callbacks) listens.
    #[arg(long, env = "BAREMETAL_MEDIA_LISTEN", default_value = "127.0.0.1:0")]
    media_listen: String,
    /// The endpoint's URL as BMCs reach it, when not the listening address.
    #[arg(long, env = "BAREMETAL_MEDIA_URL")]
    media_url: Option<String>,
}

impl LifeArgs {
    async fn start(&self) -> anyhow::Result<(planner::host::MediaServer, Duration)> {
        let media =
            planner::host::MediaServer::start(&self.media_listen, self.media_url.as_deref())
                .await?;
        let timeout = planner::schema::parse_duration(&self.timeout).map_err(anyhow::Error::msg)?;
        Ok((media, timeout))
    }
}

/// Host lifecycle progress as the command line shows it: one line on stderr per node event.
pub fn stderr_progress() -> planner::host::ProgressFn {
    std::sync::Arc::new(|node: &str, msg: &str| eprintln!("{node}: {msg}"))
}

/// The host lifecycle as the command line runs it: progress lines on stderr.
pub fn life<'a>(
    inv: &'a Inventory,
    media: &'a planner::host::MediaServer,
) -> planner::host::Lifecycle<'a> {
    planner::host::Lifecycle::new(inv, media, stderr_progress())
}

#[derive(Args)]
pub struct AuditArgs {
    /// From this time: 2026-11-23, 2026-11-23T04:00:00Z, or a duration back (90m, 24h, 7d).
    #[arg(long)]
    since: Option<String>,
    #[arg(long)]
    node: Option<String>,
    #[arg(long = "project", value_name = "PROJECT")]
    of_project: Option<String>,
    /// ok, denied or failed.
    #[arg(long)]
    outcome: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    format: AuditFormat,
    #[arg(short = 'o', long)]
    output: Option<PathBuf>,
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

/// A bulk command in which some items failed: exit 8.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Partial(pub String);

fn emit(output: &Option<PathBuf>, text: &str) -> anyhow::Result<()> {
    match output {
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display())),
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            Ok(())
        }
    }
}

fn json<T: serde::Serialize>(v: &T) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(v)? + "\n")
}

fn limits(timeout: u64) -> Limits {
    Limits {
        request_timeout: Duration::from_secs(timeout),
        ..Limits::default()
    }
}

pub async fn nodes(args: &InventoryArgs, cmd: NodesCommand) -> anyhow::Result<()> {
    let inv = args.open().await?;
    match cmd {
        NodesCommand::Enroll(a) => {
            let regs = enroll::read_bmc_list(&a.file)?;
            let total = regs.len();
            let quiet = a.json;
            let outcomes =
                enroll::enroll_all(&inv, regs, a.concurrency, limits(a.timeout), move |o| {
                    if !quiet {
                        eprintln!(
                            "{}: {:?}{}",
                            o.name,
                            o.result,
                            o.detail
                                .as_deref()
                                .map(|d| format!(": {d}"))
                                .unwrap_or_default()
                        );
                    }
                })
                .await?;
            print_outcomes(&outcomes, a.json)?;
            finish_bulk(&outcomes, total)
        }
        NodesCommand::Discover(a) => {
            let password = std::env::var(&a.password_env).with_context(|| {
                format!(
                    "the environment variable {} (from --password-env) is not set",
                    a.password_env
                )
            })?;
            let tls = NodeTls {
                ca_cert_pem: match &a.ca_cert {
                    Some(p) => Some(
                        std::fs::read_to_string(p)
                            .with_context(|| format!("reading {}", p.display()))?,
                    ),
                    None => None,
                },
                fingerprint: None,
                insecure: a.insecure,
            };
            let login = enroll::DiscoveryLogin {
                username: a.username.clone(),
                password: Secret::new(password),
                tls,
            };
            let mut urls = Vec::new();
            for r in &a.ranges {
                urls.extend(enroll::expand_range(r)?);
            }
            let probes = enroll::discover(
                urls,
                &login,
                a.concurrency,
                Duration::from_secs(a.probe_timeout),
            )
            .await;
            let found: Vec<_> = probes.iter().filter(|p| p.found != "absent").collect();
            for p in &found {
                eprintln!(
                    "{}: {}{}{}",
                    p.url,
                    p.found,
                    if p.systems.is_empty() {
                        String::new()
                    } else {
                        format!(" (systems {})", p.systems.join(", "))
                    },
                    p.detail
                        .as_deref()
                        .map(|d| format!(": {d}"))
                        .unwrap_or_default()
                );
            }
            eprintln!(
                "probed {} addresses: {} Redfish services, {} other answers",
                probes.len(),
                probes.iter().filter(|p| p.found == "redfish").count(),
                probes.iter().filter(|p| p.found == "error").count()
            );
            if a.dry_run {
                if a.json {
                    emit(&None, &json(&found)?)?;
                }
                return Ok(());
            }
            let regs = enroll::registrations(&probes, &login, &a.name_prefix);
            let total = regs.len();
            let outcomes =
                enroll::enroll_all(&inv, regs, a.concurrency.min(16), Limits::default(), |_| {})
                    .await?;
            print_outcomes(&outcomes, a.json)?;
            finish_bulk(&outcomes, total)
        }
        NodesCommand::List(a) => {
            let state = match &a.state {
                Some(s) => Some(ProvisionState::parse(s).with_context(|| {
                    format!(
                        "unknown state {s:?}; states: {}",
                        planner::lifecycle::ALL_STATES
                            .map(|s| s.as_str())
                            .join(", ")
                    )
                })?),
                None => None,
            };
            let nodes = inv
                .nodes(&NodeFilter {
                    state,
                    flavor: a.flavor.clone(),
                    project: a.of_project.clone(),
                    name: None,
                })
                .await?;
            if a.json {
                emit(&None, &json(&nodes)?)
            } else {
                emit(&None, &report::node_rows(&nodes).render(args.wide))
            }
        }
        NodesCommand::Show {
            name,
            json: as_json,
        } => {
            let n = inv.node(&name).await?;
            if as_json {
                emit(&None, &json(&n)?)
            } else {
                let rows = report::node_rows(std::slice::from_ref(&n));
                let mut s = String::new();
                for (h, c) in rows.header.iter().zip(&rows.cells[0]) {
                    s.push_str(&format!("{h:<10} {c}\n"));
                }
                s.push_str(&format!(
                    "{:<10} {}\n",
                    "TRAITS",
                    n.traits.iter().cloned().collect::<Vec<_>>().join(",")
                ));
                s.push_str(&format!("{:<10} {}\n", "TLS", n.tls_mode));
                if let Some(e) = &n.last_error {
                    s.push_str(&format!("{:<10} {e}\n", "ERROR"));
                }
                emit(&None, &s)
            }
        }
        NodesCommand::History {
            name,
            json: as_json,
        } => {
            // The node must exist (a clear error otherwise); a removed node's entries stay readable
            // through `bmplan audit --node`.
            inv.node(&name).await?;
            let h = inv.node_history(&name).await?;
            if as_json {
                emit(&None, &json(&h)?)
            } else {
                emit(
                    &None,
                    &format!(
                        "{name}: {}\n\n{}",
                        h.sequence,
                        report::history_rows(&h).render(args.wide)
                    ),
                )
            }
        }
        NodesCommand::Export(a) => {
            let nodes = inv.nodes(&NodeFilter::default()).await?;
            let text = match a.format {
                Format::Csv => report::node_rows(&nodes).csv(),
                Format::Json => json(&nodes)?,
            };
            emit(&a.output, &text)
        }
        NodesCommand::Set(a) => {
            let traits = a.traits.as_ref().map(|t| {
                t.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect::<BTreeSet<_>>()
            });
            let owner = if a.no_owner {
                Some(None)
            } else {
                a.owner.clone().map(Some)
            };
            let n = inv
                .set_node_attributes(&a.name, traits, a.rack.clone(), a.arch.clone(), owner)
                .await?;
            println!("{}: updated", n.name);
            Ok(())
        }
        NodesCommand::Manage { name } => {
            let n = enroll::manage(&inv, &name, Limits::default()).await?;
            report_state(&n)
        }
        NodesCommand::Inspect { name } => {
            let n = enroll::inspect(&inv, &name, Limits::default()).await?;
            report_state(&n)
        }
        NodesCommand::Provide { name } => {
            let n = inv.transition(&name, Event::Provide, None).await?;
            report_state(&n)
        }
        NodesCommand::Adopt {
            name,
            host,
            host_project,
        } => {
            let h = inv.adopt(&name, &host, &host_project).await?;
            println!("{name}: active, adopted as host {}/{}", h.project, h.name);
            Ok(())
        }
        NodesCommand::Maintenance { name, mode, reason } => {
            let n = inv
                .set_maintenance(&name, mode == "on", reason.as_deref())
                .await?;
            println!(
                "{}: maintenance {}",
                n.name,
                if n.maintenance {
                    format!("on ({})", n.maintenance_reason.unwrap_or_default())
                } else {
                    "off".into()
                }
            );
            Ok(())
        }
        NodesCommand::Event { name, event } => {
            let e = Event::parse(&event).with_context(|| {
                format!(
                    "unknown event {event:?}; events: {}",
                    planner::lifecycle::ALL_EVENTS
                        .map(|e| e.as_str())
                        .join(", ")
                )
            })?;
            let n = inv.transition(&name, e, None).await?;
            report_state(&n)
        }
        NodesCommand::Remove { name } => {
            inv.remove_node(&name).await?;
            println!("{name}: removed");
            Ok(())
        }
    }
}

fn report_state(n: &planner::inventory::NodeRecord) -> anyhow::Result<()> {
    match (&n.last_error, n.state.is_failure()) {
        (Some(e), true) => bail!("{}: {}: {e}", n.name, n.state),
        _ => {
            println!("{}: {}", n.name, n.state);
            Ok(())
        }
    }
}

fn print_outcomes(
    outcomes: &[planner::inventory::EnrollOutcome],
    as_json: bool,
) -> anyhow::Result<()> {
    if as_json {
        return emit(&None, &json(&outcomes)?);
    }
    let rows = Rows {
        header: vec!["NAME", "RESULT", "STATE", "DETAIL"],
        cells: outcomes
            .iter()
            .map(|o| {
                vec![
                    o.name.clone(),
                    o.result.as_str().to_string(),
                    o.state.map(|s| s.to_string()).unwrap_or_else(|| "-".into()),
                    o.detail.clone().unwrap_or_default(),
                ]
            })
            .collect(),
    };
    emit(&None, &rows.table())
}

fn finish_bulk(outcomes: &[planner::inventory::EnrollOutcome], total: usize) -> anyhow::Result<()> {
    let ok = outcomes
        .iter()
        .filter(|o| matches!(o.result, EnrollResult::Enrolled | EnrollResult::Updated))
        .count();
    eprintln!("{ok} of {total} BMCs enrolled or up to date");
    if enroll::all_succeeded(outcomes) {
        Ok(())
    } else {
        Err(Partial(format!(
            "{} of {total} BMCs were not enrolled (see the table)",
            total - ok
        ))
        .into())
    }
}

pub async fn flavors(args: &InventoryArgs, cmd: FlavorsCommand) -> anyhow::Result<()> {
    let inv = args.open().await?;
    match cmd {
        FlavorsCommand::Create(a) => {
            let f = Flavor {
                name: a.name.clone(),
                cpus: a.cpus,
                memory_gib: a.memory_gib,
                disk_gib: a.disk_gib,
                arch: a.arch,
                vendor: a.vendor,
                model: a.model,
                traits: a.traits.into_iter().filter(|t| !t.is_empty()).collect(),
                description: a.description,
                gpus: a.gpus,
                gpu_model: a.gpu_model,
            };
            inv.put_flavor(&f).await?;
            println!("flavor {}: saved", f.name);
            Ok(())
        }
        FlavorsCommand::List { json: as_json } => {
            let all = inv.flavors().await?;
            if as_json {
                return emit(&None, &json(&all)?);
            }
            let rows = Rows {
                header: vec![
                    "NAME", "CPUS", "MEM_GIB", "DISK_GIB", "ARCH", "VENDOR", "TRAITS", "MATCHING",
                    "FREE",
                ],
                cells: all
                    .iter()
                    .map(|c| {
                        let f = &c.flavor;
                        vec![
                            f.name.clone(),
                            f.cpus.to_string(),
                            f.memory_gib.to_string(),
                            f.disk_gib.to_string(),
                            f.arch.clone().unwrap_or_else(|| "any".into()),
                            f.vendor.clone().unwrap_or_else(|| "any".into()),
                            f.traits.iter().cloned().collect::<Vec<_>>().join(","),
                            c.matching.to_string(),
                            c.free.to_string(),
                        ]
                    })
                    .collect(),
            };
            emit(&None, &rows.render(args.wide))
        }
        FlavorsCommand::Delete { name } => {
            inv.delete_flavor(&name).await?;
            println!("flavor {name}: deleted");
            Ok(())
        }
    }
}

pub async fn projects(args: &InventoryArgs, cmd: ProjectsCommand) -> anyhow::Result<()> {
    let inv = args.open().await?;
    match cmd {
        ProjectsCommand::Create {
            name,
            max_hosts,
            max_nodes,
        } => {
            let p = inv.put_project(&name, max_hosts, max_nodes).await?;
            println!("project {}: saved", p.name);
            Ok(())
        }
        ProjectsCommand::List { json: as_json } => {
            let all = inv.projects().await?;
            if as_json {
                return emit(&None, &json(&all)?);
            }
            let lim = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
            let rows = Rows {
                header: vec!["NAME", "HOSTS", "MAX_HOSTS", "NODES", "MAX_NODES"],
                cells: all
                    .iter()
                    .map(|p| {
                        vec![
                            p.name.clone(),
                            p.hosts.to_string(),
                            lim(p.max_hosts),
                            p.nodes.to_string(),
                            lim(p.max_nodes),
                        ]
                    })
                    .collect(),
            };
            emit(&None, &rows.render(args.wide))
        }
    }
}

fn host_project(inv: &Inventory, explicit: Option<String>) -> anyhow::Result<String> {
    match explicit.or_else(|| inv.actor().default_project().map(str::to_string)) {
        Some(p) => Ok(p),
        None => bail!("name the host's project with --project"),
    }
}

pub async fn hosts(args: &InventoryArgs, cmd: HostsCommand) -> anyhow::Result<()> {
    let inv = args.open().await?;
    match cmd {
        HostsCommand::Create {
            name,
            in_project,
            flavor,
            node,
            json: as_json,
        } => {
            let h = inv
                .create_host(&NewHost {
                    name,
                    project: in_project,
                    flavor,
                    node,
                })
                .await?;
            if as_json {
                emit(&None, &json(&h)?)
            } else {
                println!(
                    "host {}/{}: allocated node {}",
                    h.project,
                    h.name,
                    h.node.as_deref().unwrap_or("-")
                );
                Ok(())
            }
        }
        HostsCommand::List {
            in_project,
            json: as_json,
        } => {
            let hosts = inv.hosts(in_project.as_deref()).await?;
            if as_json {
                emit(&None, &json(&hosts)?)
            } else {
                emit(&None, &report::host_rows(&hosts).render(args.wide))
            }
        }
        HostsCommand::Export(a) => {
            let hosts = inv.hosts(None).await?;
            let text = match a.format {
                Format::Csv => report::host_rows(&hosts).csv(),
                Format::Json => json(&hosts)?,
            };
            emit(&a.output, &text)
        }
        HostsCommand::Delete {
            name,
            in_project,
            life: l,
        } => {
            let project = host_project(&inv, in_project)?;
            let h = inv.host(&project, &name).await?;
            let (media, timeout) = l.start().await?;
            life(&inv, &media).delete(&h, timeout).await?;
            println!("host {project}/{name}: deleted");
            Ok(())
        }
        HostsCommand::Deploy {
            name,
            in_project,
            image_url,
            image_checksum,
            wait,
            networks,
            ssh_keys,
            user_data_file,
            profile,
            life: l,
        } => {
            let project = host_project(&inv, in_project)?;
            let h = inv.host(&project, &name).await?;
            let user_data = match &user_data_file {
                Some(p) => Some(
                    std::fs::read_to_string(p)
                        .with_context(|| format!("reading {}", p.display()))?,
                ),
                None => None,
            };
            let (media, timeout) = l.start().await?;
            let req = planner::host::DeployRequest {
                image_url,
                image_checksum: planner::host::Checksum::parse(&image_checksum)
                    .map_err(anyhow::Error::msg)?,
                user_data,
                user_data_write_only: false,
                ssh_keys,
                networks,
                wait: planner::host::Wait::parse(&wait).map_err(anyhow::Error::msg)?,
                profile,
                timeout,
            };
            let h = life(&inv, &media).deploy(&h, &req).await?;
            println!(
                "host {project}/{name}: {} on node {}",
                h.state,
                h.node.as_deref().unwrap_or("-")
            );
            Ok(())
        }
        HostsCommand::Migrate {
            name,
            in_project,
            to,
            reason,
            life: l,
        } => {
            let project = host_project(&inv, in_project)?;
            let h = inv.host(&project, &name).await?;
            let (media, timeout) = l.start().await?;
            let req = planner::host::request_from_record(&inv, &h, timeout)?;
            let h = life(&inv, &media)
                .migrate(&h, &to, &reason, req.as_ref(), timeout)
                .await?;
            println!(
                "host {project}/{name}: {} on node {}",
                h.state,
                h.node.as_deref().unwrap_or("-")
            );
            Ok(())
        }
        HostsCommand::Power {
            name,
            action,
            in_project,
            life: l,
        } => {
            let project = host_project(&inv, in_project)?;
            let h = inv.host(&project, &name).await?;
            let (media, timeout) = l.start().await?;
            let a = match action {
                PowerArg::On => planner::bmc::PowerAction::On,
                PowerArg::Off => planner::bmc::PowerAction::Off,
                PowerArg::Reboot => planner::bmc::PowerAction::Reboot,
            };
            life(&inv, &media).power(&h, a, timeout).await?;
            println!("host {project}/{name}: power {a:?}");
            Ok(())
        }
    }
}

pub async fn audit(args: &InventoryArgs, a: AuditArgs) -> anyhow::Result<()> {
    let inv = args.open().await?;
    let since_ms = match &a.since {
        Some(s) => Some(
            planner::inventory::parse_since(s, planner::inventory::now_ms()).with_context(
                || {
                    format!(
                        "--since {s:?}: use 2026-11-23, 2026-11-23T04:00:00Z, or 90m / 24h / 7d"
                    )
                },
            )?,
        ),
        None => None,
    };
    let entries = inv
        .audit_log(&AuditFilter {
            since_ms,
            node: a.node,
            project: a.of_project,
            outcome: a.outcome,
            limit: None,
        })
        .await?;
    let text = match a.format {
        AuditFormat::Table => report::audit_rows(&entries).render(args.wide),
        AuditFormat::Csv => report::audit_rows(&entries).csv(),
        AuditFormat::Json => json(&entries)?,
    };
    emit(&a.output, &text)
}

pub async fn credentials(args: &InventoryArgs, cmd: CredentialsCommand) -> anyhow::Result<()> {
    match cmd {
        CredentialsCommand::Keygen { out } => {
            let key = CredentialsKey::generate()?;
            match out {
                Some(path) => {
                    CredentialsKey::write_file(&path, &key, false)?;
                    eprintln!("credentials key written to {} (mode 0600)", path.display());
                }
                None => println!("{key}"),
            }
            Ok(())
        }
        CredentialsCommand::Rotate { new_key_file } => {
            let inv = args.open().await?;
            let new = CredentialsKey::from_file(&new_key_file)?;
            let n = inv.rotate_credentials(&new).await?;
            println!(
                "re-sealed {n} stored secrets (passwords, hosts' user data and image URLs) under key {}; use the new key from now on",
                new.id()
            );
            Ok(())
        }
    }
}

pub async fn inventory(args: &InventoryArgs, cmd: InventoryCommand) -> anyhow::Result<()> {
    let inv = args.open().await?;
    match cmd {
        InventoryCommand::Init => {
            println!(
                "inventory {} ({}) is ready",
                inv.url(),
                inv.backend().as_str()
            );
            Ok(())
        }
        InventoryCommand::Check { json: as_json } => {
            let v = inv.check().await?;
            if as_json {
                emit(&None, &json(&v)?)?;
            } else if v.is_empty() {
                println!("inventory {}: consistent", inv.url());
            } else {
                for x in &v {
                    println!("{}: {}", x.object, x.problem);
                }
            }
            if v.is_empty() {
                Ok(())
            } else {
                bail!("{} invariants are broken", v.len())
            }
        }
        InventoryCommand::Leases { json: as_json } => {
            let leases = inv.leases().await?;
            if as_json {
                return emit(&None, &json(&leases)?);
            }
            let rows = Rows {
                header: vec!["NODE", "HOLDER", "PURPOSE", "EXPIRES"],
                cells: leases
                    .iter()
                    .map(|l| {
                        vec![
                            l.node.clone(),
                            l.holder.clone(),
                            l.purpose.clone(),
                            planner::inventory::format_time(l.expires_at),
                        ]
                    })
                    .collect(),
            };
            emit(&None, &rows.render(args.wide))
        }
    }
}
