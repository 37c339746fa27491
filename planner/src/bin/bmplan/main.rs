//! `bmplan`: the bare-metal planner's command line. Thin: parsing and exit codes; the work is in the
//! `planner` and `lab` libraries.

mod fleet;
mod planning;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lab::faults::{FaultConfig, FaultKind};
use lab::{Lab, LabConfig};

#[derive(Parser)]
#[command(
    name = "bmplan",
    version,
    about = "Plan and apply bare-metal server configuration against live BMCs and switches"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    inventory: fleet::InventoryArgs,
}

#[derive(Subcommand)]
enum Command {
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
    /// Print a node's inventory read from its BMC over Redfish.
    Inspect(InspectArgs),
    /// Top-of-rack switches.
    #[command(subcommand)]
    Switch(SwitchCommand),
    /// Nodes in the inventory: enrollment, discovery, lifecycle, listing.
    #[command(subcommand)]
    Nodes(fleet::NodesCommand),
    /// Flavors: hardware classes hosts are scheduled by.
    #[command(subcommand)]
    Flavors(fleet::FlavorsCommand),
    /// Projects and their quotas.
    #[command(subcommand)]
    Projects(fleet::ProjectsCommand),
    /// Hosts: nodes allocated to projects.
    #[command(subcommand)]
    Hosts(fleet::HostsCommand),
    /// Check a configuration directory without touching any device.
    Validate(planning::ValidateArgs),
    /// Diff the configuration against live BMC and switch state and show the ordered plan.
    Plan(planning::PlanArgs),
    /// Apply a configuration (or a saved plan) in waves, journaled; resumes an unfinished run.
    Apply(planning::ApplyArgs),
    /// Report drift per node and switch port: in sync, drifted (desired, pending, out of band), unreachable.
    Drift(planning::DriftArgs),
    /// The audit log.
    Audit(fleet::AuditArgs),
    /// The key that seals BMC and switch passwords in the inventory.
    #[command(subcommand)]
    Credentials(fleet::CredentialsCommand),
    /// The inventory itself: init, check, leases.
    #[command(subcommand)]
    Inventory(fleet::InventoryCommand),
}

#[derive(Subcommand)]
enum SwitchCommand {
    /// Print the live VLAN and port table of a switch.
    Show(SwitchShowArgs),
}

#[derive(clap::Args)]
struct SwitchShowArgs {
    /// Switch driver: cisco_ios (SSH CLI), juniper_netconf or juniper_netconf_qfx (NETCONF), arista_eapi
    /// (JSON-RPC; --address HOST:PORT or a command-api URL).
    #[arg(long)]
    driver: String,
    /// HOST:PORT of the switch's SSH service.
    #[arg(long)]
    address: String,
    #[arg(long)]
    username: String,
    /// Name of the environment variable holding the login password.
    #[arg(long, value_name = "VAR")]
    password_env: String,
    /// Name of the environment variable holding the enable password, if the switch asks for one.
    #[arg(long, value_name = "VAR")]
    enable_password_env: Option<String>,
    /// Seconds to wait for the switch at each step.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// One JSON document instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct InspectArgs {
    /// BMC base URL, e.g. https://10.0.0.5 or https://bmc.r1u01.example:8443.
    url: String,
    /// System id on the BMC; required when the BMC manages several systems.
    #[arg(long)]
    system: Option<String>,
    #[arg(long)]
    username: String,
    /// Name of the environment variable that holds the password (never the password itself).
    #[arg(long, value_name = "VAR")]
    password_env: String,
    /// PEM bundle of the CA that issued the BMC's certificate.
    #[arg(long, group = "trust")]
    ca_cert: Option<PathBuf>,
    /// SHA-256 fingerprint of the BMC's certificate to pin (hex, colons allowed).
    #[arg(long, group = "trust", value_name = "SHA256")]
    fingerprint: Option<String>,
    /// Do not verify the BMC's certificate. An explicit opt-in, for labs.
    #[arg(long, group = "trust")]
    insecure: bool,
    /// Seconds before one request gives up.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
    /// One JSON document instead of text.
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
struct LabArgs {
    /// Number of simulated servers, each with its own BMC port.
    #[arg(long, default_value_t = 8)]
    nodes: usize,
    /// Number of top-of-rack switches; nodes are split evenly between them.
    #[arg(long, default_value_t = 1)]
    switches: usize,
    /// Latency added to every Redfish request, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Fraction of Redfish requests that fail, split evenly over --fault-kinds.
    #[arg(long, default_value_t = 0.0)]
    fault_rate: f64,
    /// Which failures to inject: 5xx, timeout, reset (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "5xx,timeout,reset")]
    fault_kinds: Vec<FaultKind>,
    /// How long a "timeout" fault holds the request before closing the connection, in milliseconds.
    #[arg(long, default_value_t = 30_000)]
    hang_ms: u64,
    /// Serve HTTPS with a generated lab CA (plain HTTP keeps working on the same ports).
    #[arg(long)]
    tls: bool,
    /// Where to write the JSON manifest describing the fleet.
    #[arg(long)]
    manifest: PathBuf,
    /// Seed for hardware, credentials and fault draws.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// How long power transitions take, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    power_delay_ms: u64,
    /// How long immediate tasks (firmware updates applied now) run, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    task_delay_ms: u64,
}

/// Output piped into a command that stops reading (`bmplan nodes list | head -1`) ends bmplan
/// quietly with the status a SIGPIPE would give (141), instead of `println!`'s panic. SIGPIPE itself
/// stays ignored, as Rust sets it: a BMC or switch closing its socket must never kill the process.
fn quiet_on_a_closed_stdout() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if msg.starts_with("failed printing to stdout") && msg.contains("Broken pipe") {
            std::process::exit(141);
        }
        default(info);
    }));
}

fn main() -> ExitCode {
    quiet_on_a_closed_stdout();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("BMPLAN_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse_from(planning::terraform_flags(std::env::args()));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli));
    if std::env::var_os("BMPLAN_REPORT_PEAK_RSS").is_some() {
        // For benchmarks: the process's peak resident set, read before it exits.
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        if let Some(l) = status.lines().find(|l| l.starts_with("VmHWM:")) {
            eprintln!(
                "peak-rss-kib {}",
                l.split_whitespace().nth(1).unwrap_or("0")
            );
        }
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<planning::ChangesPresent>().is_some() => ExitCode::from(2),
        Err(e) => {
            // What a BMC or a switch said can be in the error: shown escaped, never raw.
            eprintln!(
                "error: {}",
                planner::report::printable(&format!("{e:#}"), true)
            );
            exit_code(&e)
        }
    }
}

/// Exit codes pipelines can branch on: 1 any other error, 2 usage (clap), 3 credentials refused,
/// 4 BMC or switch unreachable (connection, TLS or timeout), 5 not found, 6 conflict (illegal
/// transition, no capacity, quota, lease held, duplicate), 7 permission denied, 8 a bulk command
/// finished with some items failed.
fn exit_code(e: &anyhow::Error) -> ExitCode {
    use planner::bmc::BmcError;
    use planner::inventory::InventoryError as I;
    if e.downcast_ref::<fleet::Partial>().is_some() {
        return ExitCode::from(8);
    }
    if let Some(ie) = inventory_cause(e) {
        return match ie {
            I::NotFound { .. } => ExitCode::from(5),
            I::Illegal(_)
            | I::NoCapacity { .. }
            | I::Quota { .. }
            | I::Conflict { .. }
            | I::LeaseHeld { .. }
            | I::AlreadyExists { .. } => ExitCode::from(6),
            I::Forbidden { .. } => ExitCode::from(7),
            _ => ExitCode::FAILURE,
        };
    }
    if let Some(planner::enroll::EnrollError::Inventory(ie)) =
        e.downcast_ref::<planner::enroll::EnrollError>()
    {
        if matches!(ie, I::Forbidden { .. }) {
            return ExitCode::from(7);
        }
    }
    match e.downcast_ref::<BmcError>() {
        Some(BmcError::Unauthorized { .. }) => ExitCode::from(3),
        Some(BmcError::Transport { .. } | BmcError::Timeout { .. }) => ExitCode::from(4),
        _ => match e.downcast_ref::<planner::switch::SwitchError>() {
            Some(
                planner::switch::SwitchError::Login { .. }
                | planner::switch::SwitchError::Enable { .. },
            ) => ExitCode::from(3),
            Some(
                planner::switch::SwitchError::Connect { .. }
                | planner::switch::SwitchError::Timeout { .. },
            ) => ExitCode::from(4),
            _ => ExitCode::FAILURE,
        },
    }
}

/// The inventory's refusal behind an error, where there is one: a host operation's or the
/// engine's refusals (a lease held, a node taken, a permission) count as the inventory's.
fn inventory_cause(e: &anyhow::Error) -> Option<&planner::inventory::InventoryError> {
    use planner::engine::EngineError as E;
    use planner::host::HostError as H;
    fn of_engine(e: &E) -> Option<&planner::inventory::InventoryError> {
        match e {
            E::Inventory(i) => Some(i),
            _ => None,
        }
    }
    fn of_host(h: &H) -> Option<&planner::inventory::InventoryError> {
        match h {
            H::Inventory(i) => Some(i),
            H::Engine(e) => of_engine(e),
            _ => None,
        }
    }
    if let Some(i) = e.downcast_ref::<planner::inventory::InventoryError>() {
        return Some(i);
    }
    if let Some(h) = e.downcast_ref::<H>() {
        return of_host(h);
    }
    of_engine(e.downcast_ref::<E>()?)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo { nodes, dir } => {
            let mut out = std::io::stdout();
            planner::demo::run(planner::demo::DemoOptions { nodes, dir }, &mut out).await
        }
        Command::Lab(args) => serve_lab(args).await,
        Command::Inspect(args) => inspect(args).await,
        Command::Switch(SwitchCommand::Show(args)) => switch_show(args).await,
        Command::Nodes(c) => fleet::nodes(&cli.inventory, c).await,
        Command::Flavors(c) => fleet::flavors(&cli.inventory, c).await,
        Command::Projects(c) => fleet::projects(&cli.inventory, c).await,
        Command::Hosts(c) => fleet::hosts(&cli.inventory, c).await,
        Command::Audit(a) => fleet::audit(&cli.inventory, a).await,
        Command::Validate(a) => planning::validate(a),
        Command::Plan(a) => planning::plan(&cli.inventory, a).await,
        Command::Apply(a) => planning::apply_cmd(&cli.inventory, a).await,
        Command::Drift(a) => planning::drift(&cli.inventory, a).await,
        Command::Credentials(c) => fleet::credentials(&cli.inventory, c).await,
        Command::Inventory(c) => fleet::inventory(&cli.inventory, c).await,
    }
}

async fn switch_show(args: SwitchShowArgs) -> anyhow::Result<()> {
    use planner::switch::{Switch, SwitchEndpoint};
    let secret = |var: &str| {
        std::env::var(var)
            .with_context(|| format!("the environment variable {var} is not set"))
            .map(planner::bmc::Secret::new)
    };
    let ep = SwitchEndpoint {
        address: args.address.clone(),
        username: args.username,
        password: secret(&args.password_env)?,
        enable_password: args
            .enable_password_env
            .as_deref()
            .map(secret)
            .transpose()?,
        timeout: Duration::from_secs(args.timeout),
    };
    // The one factory the planner and the provider use: every driver the help text offers.
    let switch: Box<dyn Switch> = planner::switch::open(&args.driver, ep)?;
    let state = switch.read().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&state)?);
    } else {
        print!(
            "{}",
            planner::report::printable(&planner::report::switch_text(&args.address, &state), true)
        );
    }
    Ok(())
}

async fn inspect(args: InspectArgs) -> anyhow::Result<()> {
    use planner::bmc::{BmcError, Endpoint, Limits, TlsTrust};
    let password = std::env::var(&args.password_env).with_context(|| {
        format!(
            "the environment variable {} (from --password-env) is not set",
            args.password_env
        )
    })?;
    if (args.ca_cert.is_some() || args.fingerprint.is_some())
        && args.url.trim().to_ascii_lowercase().starts_with("http://")
    {
        anyhow::bail!(
            "{}: --ca-cert and --fingerprint verify TLS, but the URL is http://: the BMC would be reached in clear, unverified; use https://",
            planner::rules::redacted(&args.url)
        );
    }
    let tls = match (args.ca_cert, args.fingerprint, args.insecure) {
        (Some(ca), _, _) => TlsTrust::CaBundle(ca),
        (_, Some(fp), _) => TlsTrust::Fingerprint(fp),
        (_, _, true) => TlsTrust::Insecure,
        _ => TlsTrust::NoExtraRoots,
    };
    let mut ep = Endpoint::new(args.url.clone(), args.username, password, tls);
    ep.limits = Limits {
        request_timeout: Duration::from_secs(args.timeout),
        ..Limits::default()
    };
    let bmc = planner::bmc::open(ep, planner::bmc::Purpose::Change)?;
    let system = match args.system {
        Some(s) => s,
        None => {
            let systems = bmc.systems().await?;
            match systems.as_slice() {
                [one] => one.clone(),
                [] => anyhow::bail!("{}: the BMC lists no systems", bmc.address()),
                many => {
                    return Err(BmcError::Ambiguous {
                        bmc: bmc.address().to_string(),
                        detail: format!(
                            "the BMC manages {} systems ({}); choose one with --system",
                            many.len(),
                            planner::report::few(many)
                        ),
                    }
                    .into())
                }
            }
        }
    };
    let inv = bmc.inspect(&system).await?;
    bmc.logout().await;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&planner::report::inventory_json(bmc.address(), &inv))?
        );
    } else {
        // Everything in it comes from the BMC: control characters are shown escaped.
        print!(
            "{}",
            planner::report::printable(&planner::report::inventory_text(bmc.address(), &inv), true)
        );
    }
    Ok(())
}

async fn serve_lab(args: LabArgs) -> anyhow::Result<()> {
    let dir = args
        .manifest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let cfg = LabConfig {
        nodes: args.nodes,
        switches: args.switches,
        tls: args.tls,
        faults: FaultConfig::from_rate(
            args.latency_ms,
            args.fault_rate,
            &args.fault_kinds,
            args.hang_ms,
        ),
        seed: args.seed,
        power_delay: Duration::from_millis(args.power_delay_ms),
        task_delay: Duration::from_millis(args.task_delay_ms),
        dir,
    };
    let lab = Lab::start(cfg).await.context("starting the lab")?;
    lab.manifest()
        .write(&args.manifest)
        .with_context(|| format!("writing the manifest {}", args.manifest.display()))?;
    eprintln!(
        "lab: {} nodes, {} switches; manifest {}; control {}",
        args.nodes,
        args.switches,
        args.manifest.display(),
        lab.manifest().control_url
    );
    wait_for_signal().await?;
    eprintln!("lab: shutting down");
    lab.shutdown().await;
    Ok(())
}

async fn wait_for_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("installing the SIGTERM handler")?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
        _ = term.recv() => {}
    }
    Ok(())
}
