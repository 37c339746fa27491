//! The inventory commands: nodes, flavors, projects, hosts, audit, credentials, leases, check.
//! Parsing and printing only; the work is in `planner::inventory` and `planner::enroll`.

use std::time::Duration;

use anyhow::{bail, Context};
use planner::bmc::Limits;
use planner::cli::args::*;
use planner::cli::operation::{host_at, life, project_of};
use planner::cli::output::{emit, env_password, export, json, show};
use planner::cli::Partial;
use planner::credentials::CredentialsKey;
use planner::enroll;
use planner::inventory::{EnrollResult, NodeFilter};
use planner::lifecycle::Event;
use planner::operation;
use planner::report;

pub async fn nodes(args: &InventoryArgs, cmd: NodesCommand) -> anyhow::Result<()> {
    let inv = args.open().await?;
    let wide = args.wide;
    match cmd {
        NodesCommand::Enroll(a) => {
            let regs = enroll::read_bmc_list(&a.file)?;
            let (total, quiet) = (regs.len(), a.json);
            let progress = move |o: &planner::inventory::EnrollOutcome| {
                (!quiet).then(|| eprintln!("{}", o.line()));
            };
            let limits = Limits {
                request_timeout: Duration::from_secs(a.timeout),
                ..Limits::default()
            };
            let outcomes = enroll::enroll_all(&inv, regs, a.concurrency, limits, progress).await?;
            finish_bulk(&outcomes, total, a.json)
        }
        NodesCommand::Discover(a) => {
            let login = a.login(env_password(&a.password_env)?)?;
            let mut urls = Vec::new();
            for r in &a.ranges {
                urls.extend(enroll::expand_range(r)?);
            }
            let timeout = Duration::from_secs(a.probe_timeout);
            let probes = enroll::discover(urls, &login, a.concurrency, timeout).await;
            let found: Vec<_> = probes.iter().filter(|p| p.found != "absent").collect();
            for p in &found {
                eprintln!("{}", p.line());
            }
            eprintln!("{}", enroll::Probe::summary(&probes));
            if a.dry_run {
                return if a.json {
                    emit(&None, &json(&found)?)
                } else {
                    Ok(())
                };
            }
            let regs = enroll::registrations(&probes, &login, &a.name_prefix);
            let total = regs.len();
            let concurrency = a.concurrency.min(16);
            let outcomes =
                enroll::enroll_all(&inv, regs, concurrency, Limits::default(), |_| {}).await?;
            finish_bulk(&outcomes, total, a.json)
        }
        NodesCommand::List(a) => {
            let filter = a.filter()?;
            let nodes = inv.nodes(&filter).await?;
            show(a.json, &nodes, |n| report::node_rows(n).render(wide))
        }
        NodesCommand::Show { name, json } => {
            show(json, &inv.node(&name).await?, report::node_detail)
        }
        NodesCommand::History { name, json } => {
            // The node must exist (a clear error otherwise); a removed node's entries stay readable
            // through `bmplan audit --node`.
            inv.node(&name).await?;
            let h = inv.node_history(&name).await?;
            show(json, &h, |h| {
                format!(
                    "{name}: {}\n\n{}",
                    h.sequence,
                    report::history_rows(h).render(wide)
                )
            })
        }
        NodesCommand::Export(a) => {
            let nodes = inv.nodes(&NodeFilter::default()).await?;
            export(&a, &nodes, report::node_rows(&nodes))
        }
        NodesCommand::Set(a) => {
            let (traits, owner, rack, arch) = (a.trait_set(), a.owner_change(), a.rack, a.arch);
            let n = inv
                .set_node_attributes(&a.name, traits, rack, arch, owner)
                .await?;
            println!("{}: updated", n.name);
            Ok(())
        }
        NodesCommand::Manage { name } => {
            report_state(&enroll::manage(&inv, &name, Limits::default()).await?)
        }
        NodesCommand::Inspect {
            name,
            in_band: false,
            ..
        } => report_state(&enroll::inspect(&inv, &name, Limits::default()).await?),
        NodesCommand::Inspect {
            name,
            lldp_seconds,
            life: l,
            json,
            ..
        } => {
            let media =
                planner::host::MediaServer::start(&l.media_listen, l.media_url.as_deref()).await?;
            let say = |m: String| eprintln!("{name}: {m}");
            let found = planner::operation::inspect_in_band(
                &inv,
                &media,
                &name,
                lldp_seconds,
                l.duration()?,
                "bmplan",
                &say,
            )
            .await?;
            show(json, &found, |f| {
                format!("{name}: {}\n", planner::host::agent::summary(f))
            })
        }
        NodesCommand::Power(a) => {
            let say = |m: String| println!("{m}");
            let (change, limit) = (a.action.into(), seconds(a.timeout));
            Ok(operation::set_power(&inv, &a.name, change, limit, "bmplan", &say).await?)
        }
        NodesCommand::Boot(a) => {
            let say = |m: String| println!("{m}");
            let (device, limit) = (a.device(), seconds(a.timeout));
            Ok(operation::set_boot_device(&inv, &a.name, device, limit, "bmplan", &say).await?)
        }
        NodesCommand::Netboot(a) => {
            let said = operation::set_netboot(&inv, &a.name, a.interface(), a.mac()).await?;
            emit(&None, &format!("{said}\n"))
        }
        NodesCommand::Events(a) => {
            let entries = operation::event_log(&inv, &a.name, a.max, seconds(a.timeout)).await?;
            show(a.json, &entries, |e| report::event_rows(e).render(wide))
        }
        NodesCommand::Identify(a) => {
            operation::identify(&inv, &a.name, a.seconds(), seconds(a.timeout), "bmplan").await?;
            let said = format!("{}: identify light {}\n", a.name, a.state());
            emit(&None, &said)
        }
        NodesCommand::Console { name } => {
            let console = operation::console(&inv, &name, "bmplan").await?;
            planner::cli::terminal::attach(&name, console).await?;
            Ok(())
        }
        NodesCommand::Provide { name } => {
            report_state(&inv.transition(&name, Event::Provide, None).await?)
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
            let mode = match n.maintenance {
                true => format!("on ({})", n.maintenance_reason.unwrap_or_default()),
                false => "off".into(),
            };
            println!("{}: maintenance {mode}", n.name);
            Ok(())
        }
        NodesCommand::Event { name, event } => {
            let e = Event::parse(&event).with_context(|| {
                let all = planner::lifecycle::ALL_EVENTS.map(|e| e.as_str());
                format!("unknown event {event:?}; events: {}", all.join(", "))
            })?;
            report_state(&inv.transition(&name, e, None).await?)
        }
        NodesCommand::Remove { name } => {
            inv.remove_node(&name).await?;
            println!("{name}: removed");
            Ok(())
        }
    }
}

fn report_state(n: &planner::inventory::NodeRecord) -> anyhow::Result<()> {
    if let (Some(e), true) = (&n.last_error, n.state.is_failure()) {
        bail!("{}: {}: {e}", n.name, n.state);
    }
    println!("{}: {}", n.name, n.state);
    Ok(())
}

/// Prints what became of each BMC of a bulk command; some not enrolled is exit 8.
fn finish_bulk(
    outcomes: &[planner::inventory::EnrollOutcome],
    total: usize,
    as_json: bool,
) -> anyhow::Result<()> {
    let table = |o: &&[_]| planner::inventory::outcome_rows(o).table();
    show(as_json, &outcomes, table)?;
    let ok = outcomes
        .iter()
        .filter(|o| matches!(o.result, EnrollResult::Enrolled | EnrollResult::Updated))
        .count();
    eprintln!("{ok} of {total} BMCs enrolled or up to date");
    if enroll::all_succeeded(outcomes) {
        return Ok(());
    }
    let failed = total - ok;
    Err(Partial(format!(
        "{failed} of {total} BMCs were not enrolled (see the table)"
    ))
    .into())
}

pub async fn flavors(args: &InventoryArgs, cmd: FlavorsCommand) -> anyhow::Result<()> {
    let inv = args.open().await?;
    match cmd {
        FlavorsCommand::Create(a) => {
            let f = a.flavor();
            inv.put_flavor(&f).await?;
            println!("flavor {}: saved", f.name);
            Ok(())
        }
        FlavorsCommand::List { json } => show(json, &inv.flavors().await?, |f| {
            planner::inventory::flavor_rows(f).render(args.wide)
        }),
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
        ProjectsCommand::List { json } => show(json, &inv.projects().await?, |p| {
            planner::inventory::project_rows(p).render(args.wide)
        }),
    }
}

pub async fn hosts(args: &InventoryArgs, cmd: HostsCommand) -> anyhow::Result<()> {
    let inv = args.open().await?;
    match cmd {
        HostsCommand::Create(a) => {
            let h = inv.create_host(&a.new_host()).await?;
            show(a.json, &h, |h| {
                let node = h.node.as_deref().unwrap_or("-");
                format!("host {}/{}: allocated node {node}\n", h.project, h.name)
            })
        }
        HostsCommand::List { in_project, json } => {
            let hosts = inv.hosts(in_project.as_deref()).await?;
            show(json, &hosts, |h| report::host_rows(h).render(args.wide))
        }
        HostsCommand::Export(a) => {
            let hosts = inv.hosts(None).await?;
            export(&a, &hosts, report::host_rows(&hosts))
        }
        HostsCommand::Delete {
            name,
            in_project,
            life: l,
        } => {
            let (h, media, timeout) = host_at(&inv, &name, in_project, &l).await?;
            life(&inv, &media).delete(&h, timeout).await?;
            println!("host {}/{name}: deleted", h.project);
            Ok(())
        }
        HostsCommand::Log {
            name,
            in_project,
            lines,
            json,
        } => {
            let log = inv
                .host_log(&project_of(&inv, in_project)?, &name, lines)
                .await?;
            show(json, &log, |l| planner::host::log_text(l))
        }
        HostsCommand::Deploy(a) => {
            let req = a.request()?;
            let (h, media, _) = host_at(&inv, &a.name, a.in_project, &a.life).await?;
            println!(
                "{}",
                planner::host::host_line(&life(&inv, &media).deploy(&h, &req).await?)
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
            let (h, media, timeout) = host_at(&inv, &name, in_project, &l).await?;
            let req = planner::host::request_from_record(&inv, &h, timeout)?;
            let life = life(&inv, &media);
            let h = life
                .migrate(&h, &to, &reason, req.as_ref(), timeout)
                .await?;
            println!("{}", planner::host::host_line(&h));
            Ok(())
        }
        HostsCommand::Power {
            name,
            action,
            in_project,
            life: l,
        } => {
            let (h, media, timeout) = host_at(&inv, &name, in_project, &l).await?;
            let action = action.into();
            life(&inv, &media).power(&h, action, timeout).await?;
            println!("host {}/{name}: power {action:?}", h.project);
            Ok(())
        }
    }
}

pub async fn images(args: &InventoryArgs, cmd: ImagesCommand) -> anyhow::Result<()> {
    let inv = args.open().await?;
    match cmd {
        ImagesCommand::List { json } => show(json, &inv.images().await?, |i| {
            report::image_rows(i).render(args.wide)
        }),
        ImagesCommand::Capture(a) => {
            let req = a.request(a.life.duration()?)?;
            let (h, media, _) = host_at(&inv, &a.host, a.in_project, &a.life).await?;
            let out = life(&inv, &media).capture(&h, &req).await?;
            let doc = serde_json::json!({"image": out.image, "captured": out.captured, "seconds": out.seconds});
            show(a.json, &doc, |_| {
                report::capture_text(&out.image, &out.captured, out.seconds)
            })
        }
    }
}

pub async fn audit(args: &InventoryArgs, a: AuditArgs) -> anyhow::Result<()> {
    let inv = args.open().await?;
    let filter = a.filter(planner::inventory::now_ms())?;
    let entries = inv.audit_log(&filter).await?;
    let text = match a.format {
        AuditFormat::Table => report::audit_rows(&entries).render(args.wide),
        AuditFormat::Csv => report::audit_rows(&entries).csv(),
        AuditFormat::Json => json(&entries)?,
    };
    emit(&a.output, &text)
}

pub async fn credentials(args: &InventoryArgs, cmd: CredentialsCommand) -> anyhow::Result<()> {
    match cmd {
        CredentialsCommand::Keygen { out: None } => {
            println!("{}", CredentialsKey::generate()?);
            Ok(())
        }
        CredentialsCommand::Keygen { out: Some(path) } => {
            CredentialsKey::write_file(&path, &CredentialsKey::generate()?, false)?;
            eprintln!("credentials key written to {} (mode 0600)", path.display());
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
            let backend = inv.backend().as_str();
            println!("inventory {} ({backend}) is ready", inv.url());
            Ok(())
        }
        InventoryCommand::Check { json } => {
            let v = inv.check().await?;
            show(json, &v, |v| match v.is_empty() {
                true => format!("inventory {}: consistent\n", inv.url()),
                false => v
                    .iter()
                    .map(|x| format!("{}: {}\n", x.object, x.problem))
                    .collect(),
            })?;
            if !v.is_empty() {
                bail!("{} invariants are broken", v.len())
            }
            Ok(())
        }
        InventoryCommand::Leases { json } => show(json, &inv.leases().await?, |l| {
            planner::inventory::lease_rows(l).render(args.wide)
        }),
    }
}
