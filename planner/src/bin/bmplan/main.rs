//! `bmplan`: the bare-metal planner's command line. Thin: parsing and exit codes; the work is in the
//! `planner` and `lab` libraries.

mod fleet;
mod planning;

use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use lab::Lab;
use planner::cli::args::*;

fn main() -> ExitCode {
    planner::cli::exit::quiet_on_a_closed_stdout();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("BMPLAN_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse_from(terraform_flags(std::env::args()));
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
        eprintln!("peak-rss-kib {}", planner::cli::exit::peak_rss_kib());
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<planner::cli::ChangesPresent>() => ExitCode::from(2),
        Err(e) => {
            // What a BMC or a switch said can be in the error: shown escaped, never raw.
            let shown = format!("{e:#}");
            eprintln!("error: {}", planner::report::printable(&shown, true));
            ExitCode::from(planner::cli::exit_code(e.chain()))
        }
    }
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
        Command::Images(c) => fleet::images(&cli.inventory, c).await,
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
    let ep = args.endpoint()?;
    // The one factory the planner and the provider use: every driver the help text offers.
    let switch: Box<dyn planner::switch::Switch> = planner::switch::open(&args.driver, ep)?;
    let state = switch.read().await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&state)?);
    } else {
        let text = planner::report::switch_text(&args.address, &state);
        print!("{}", planner::report::printable(&text, true));
    }
    Ok(())
}

async fn inspect(args: InspectArgs) -> anyhow::Result<()> {
    let ep = args.endpoint(planner::cli::output::env_password(&args.password_env)?)?;
    let (address, inv) = planner::bmc::inspect_at(ep, args.system).await?;
    if args.json {
        let doc = planner::report::inventory_json(&address, &inv);
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        // Everything in it comes from the BMC: control characters are shown escaped.
        let text = planner::report::inventory_text(&address, &inv);
        print!("{}", planner::report::printable(&text, true));
    }
    Ok(())
}

async fn serve_lab(args: LabArgs) -> anyhow::Result<()> {
    let config = args.config();
    let lab = Lab::start(config).await.context("starting the lab")?;
    let manifest = &args.manifest;
    lab.manifest()
        .write(manifest)
        .with_context(|| format!("writing the manifest {}", manifest.display()))?;
    let (nodes, switches, control) = (args.nodes, args.switches, &lab.manifest().control_url);
    let manifest = manifest.display();
    eprintln!("lab: {nodes} nodes, {switches} switches; manifest {manifest}; control {control}");
    planner::cli::terminal::wait_for_signal().await?;
    eprintln!("lab: shutting down");
    lab.shutdown().await;
    Ok(())
}
