//! `bm-agent`: the in-band deploy agent. It runs as the last step of the ramdisk's `/init`, reads
//! `bm.url=` from the kernel command line, and then heartbeats to the engine's deployment endpoint,
//! taking commands: write an image, wipe the disks, inspect, capture (the protocol is
//! `planner_core::deploy::agent`, documented in `docs/guides/hosts.md`).
//!
//! - `disk`: the disks the kernel sees, and writing to them;
//! - `image`: fetching, verifying and decoding an image onto the root device;
//! - `qcow2`: reading a qcow2 file as the disk it describes;
//! - `configdrive`: the config drive as a partition at the end of the root device;
//! - `partitions`: reading MBR and GPT tables, and the table a captured image carries;
//! - `capture`: a generalised snapshot of the root device, streamed to the engine as an image;
//! - `wipe`: erasing disks, each with the strongest method it offers;
//! - `inspect`: disks, NICs, CPU and memory from the kernel, LLDP neighbours from the wire;
//! - `sys`: the few system calls std does not offer (the only unsafe code).

mod capture;
mod configdrive;
mod disk;
mod image;
mod inspect;
mod lldp;
mod partitions;
mod qcow2;
mod sys;
mod wipe;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use planner_core::deploy::agent::{
    Command, CommandKind, CommandResult, Heartbeat, Progress, Reply,
};

/// What the running command shares with the heartbeat loop.
#[derive(Default)]
pub struct Shared {
    pub running: Option<Progress>,
    pub result: Option<CommandResult>,
    pub log: Vec<String>,
    pub inventory: Option<planner_core::deploy::agent::Inventory>,
}

/// A handle a command reports through.
#[derive(Clone)]
pub struct Report {
    shared: Arc<Mutex<Shared>>,
    id: u64,
}

/// Log lines kept between heartbeats at most (older ones are dropped, and that is said).
const MAX_LOG: usize = 2000;

impl Report {
    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn log(&self, line: impl Into<String>) {
        let line = line.into();
        eprintln!("bm-agent: {line}");
        let mut s = self.lock();
        if s.log.len() >= MAX_LOG {
            s.log.drain(..MAX_LOG / 2);
            s.log
                .push("(log lines dropped: the endpoint did not take them)".into());
        }
        s.log.push(line);
    }

    pub fn progress(&self, step: &str, done: u64, total: Option<u64>) {
        self.lock().running = Some(Progress {
            id: self.id,
            step: step.to_string(),
            done,
            total,
        });
    }
}

#[cfg(test)]
impl Report {
    pub fn for_tests() -> Report {
        Report {
            shared: Arc::new(Mutex::new(Shared::default())),
            id: 0,
        }
    }
}

fn kernel_arg(cmdline: &str, key: &str) -> Option<String> {
    cmdline
        .split_whitespace()
        .find_map(|a| a.strip_prefix(key).map(str::to_string))
}

fn main() {
    // `bm-agent --lldp IFACE SECONDS`: listens for LLDP on one interface and prints what it
    // heard (a diagnostic for the rig and for racks: what does this cable say?).
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--lldp") && args.len() == 4 {
        let secs = args[3].parse().unwrap_or(30);
        let report = Report {
            shared: Arc::new(Mutex::new(Shared::default())),
            id: 0,
        };
        let heard = inspect::listen_on(&args[2], secs, &report);
        println!(
            "{}",
            serde_json::to_string_pretty(&heard).unwrap_or_default()
        );
        std::process::exit(if heard.is_some() { 0 } else { 1 });
    }
    let cmdline = std::fs::read_to_string("/proc/cmdline").unwrap_or_default();
    let url = std::env::args()
        .nth(1)
        .or_else(|| kernel_arg(&cmdline, "bm.url="));
    let Some(url) = url else {
        eprintln!("bm-agent: no bm.url= on the kernel command line and no URL argument: nothing to call back");
        std::process::exit(2);
    };
    let url = url.trim_end_matches('/').to_string();
    let shared = Arc::new(Mutex::new(Shared::default()));
    let report = Report {
        shared: shared.clone(),
        id: 0,
    };
    report.log(format!(
        "agent {} starting; endpoint {}",
        env!("CARGO_PKG_VERSION"),
        shown(&url)
    ));
    let console = inspect::Console::open();
    let inv = inspect::inventory(&report, 0);
    report.log(format!(
        "{} disks, {} NICs, {} CPUs, {} MiB",
        inv.disks.len(),
        inv.nics.len(),
        inv.cpu_count,
        inv.memory_bytes >> 20
    ));
    shared.lock().unwrap_or_else(|p| p.into_inner()).inventory = Some(inv);
    run(&url, shared, console);
}

/// The URL with its token cut: what the console may show.
fn shown(url: &str) -> String {
    match url.rfind("/agent/") {
        Some(i) => format!("{}/agent/…", &url[..i]),
        None => url.to_string(),
    }
}

fn run(url: &str, shared: Arc<Mutex<Shared>>, mut console: inspect::Console) {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client without TLS settings builds");
    let lock = || shared.lock().unwrap_or_else(|p| p.into_inner());
    let mut busy: Option<std::thread::JoinHandle<()>> = None;
    // A command is run once: the engine hands it out again until it sees it running.
    let mut last_started = 0u64;
    let mut failures = 0u32;
    loop {
        let beat = {
            let mut s = lock();
            Heartbeat {
                inventory: s.inventory.take(),
                running: s.running.clone(),
                result: s.result.clone(),
                log: std::mem::take(&mut s.log),
                console: console.read(),
            }
        };
        let sent = client
            .post(format!("{url}/heartbeat"))
            .json(&beat)
            .send()
            .and_then(|r| r.error_for_status())
            .and_then(|r| r.json::<Reply>());
        let reply = match sent {
            Ok(r) => {
                failures = 0;
                r
            }
            Err(e) => {
                failures += 1;
                eprintln!(
                    "bm-agent: heartbeat failed ({failures}): {}",
                    e.without_url()
                );
                // What was not delivered is sent again.
                let mut s = lock();
                if s.inventory.is_none() {
                    s.inventory = beat.inventory;
                }
                let mut log = beat.log;
                log.extend(beat.console.into_iter().map(|c| format!("console: {c}")));
                log.append(&mut s.log);
                if log.len() > MAX_LOG {
                    let cut = log.len() - MAX_LOG;
                    log.drain(..cut);
                    log.insert(
                        0,
                        format!("({cut} log lines dropped: the endpoint did not take them)"),
                    );
                }
                s.log = log;
                drop(s);
                std::thread::sleep(Duration::from_secs(2));
                continue;
            }
        };
        {
            let mut s = lock();
            if reply.ack.is_some() && s.result.as_ref().map(|r| r.id) == reply.ack {
                s.result = None;
            }
        }
        if busy.as_ref().is_some_and(|b| b.is_finished()) {
            busy = None;
        }
        if let Some(cmd) = reply.command.filter(|c| c.id > last_started) {
            if busy.is_some() {
                eprintln!("bm-agent: command {} refused: another is running", cmd.id);
            } else if matches!(cmd.kind, CommandKind::Finish) {
                let _ = std::process::Command::new("sync").status();
                lock().result = Some(CommandResult {
                    id: cmd.id,
                    ok: true,
                    message: "disks flushed; the agent stops".into(),
                    detail: serde_json::Value::Null,
                });
                // One more heartbeat delivers the result; then the agent waits for the BMC.
                let _ = client
                    .post(format!("{url}/heartbeat"))
                    .json(&Heartbeat {
                        result: lock().result.clone(),
                        ..Heartbeat::default()
                    })
                    .send();
                loop {
                    std::thread::sleep(Duration::from_secs(3600));
                }
            } else {
                last_started = cmd.id;
                lock().running = Some(Progress {
                    id: cmd.id,
                    step: kind_name(&cmd.kind).into(),
                    done: 0,
                    total: None,
                });
                busy = Some(start(cmd, shared.clone()));
                continue;
            }
        }
        let idle_and_done = busy.is_none() && lock().result.is_none();
        std::thread::sleep(if idle_and_done {
            Duration::from_secs(2)
        } else {
            Duration::from_millis(500)
        });
    }
}

/// Runs a command on its own thread; its result goes with the next heartbeat.
fn start(cmd: Command, shared: Arc<Mutex<Shared>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let report = Report {
            shared: shared.clone(),
            id: cmd.id,
        };
        report.progress(kind_name(&cmd.kind), 0, None);
        let run = std::panic::AssertUnwindSafe(|| match &cmd.kind {
            CommandKind::WriteImage(w) => image::write(w, &report),
            CommandKind::Wipe { mode } => wipe::wipe(*mode, &report),
            CommandKind::Inspect { lldp_seconds } => {
                let inv = inspect::inventory(&report, *lldp_seconds);
                let n = inv.nics.iter().filter(|n| n.lldp.is_some()).count();
                let msg = format!(
                    "{} disks, {} NICs, {n} with an LLDP neighbour",
                    inv.disks.len(),
                    inv.nics.len()
                );
                report.lock().inventory = Some(inv);
                Ok((msg, serde_json::Value::Null))
            }
            CommandKind::Finish => Ok(("finished".into(), serde_json::Value::Null)),
            CommandKind::Capture(c) => capture::capture(c, &report),
        });
        // A bug must not leave the engine waiting on a command that will never end.
        let outcome = std::panic::catch_unwind(run).unwrap_or_else(|p| {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(format!("the agent failed inside: {what}"))
        });
        let result = match outcome {
            Ok((message, detail)) => CommandResult {
                id: cmd.id,
                ok: true,
                message,
                detail,
            },
            Err(message) => CommandResult {
                id: cmd.id,
                ok: false,
                message,
                detail: serde_json::Value::Null,
            },
        };
        report.log(format!(
            "command {} ({}) {}: {}",
            cmd.id,
            kind_name(&cmd.kind),
            if result.ok { "done" } else { "failed" },
            result.message
        ));
        let mut s = report.lock();
        s.running = None;
        s.result = Some(result);
    })
}

fn kind_name(k: &CommandKind) -> &'static str {
    match k {
        CommandKind::WriteImage(_) => "write_image",
        CommandKind::Wipe { .. } => "wipe",
        CommandKind::Inspect { .. } => "inspect",
        CommandKind::Finish => "finish",
        CommandKind::Capture(_) => "capture",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_endpoint_comes_from_the_kernel_command_line() {
        let c = "BOOT_IMAGE=/vmlinuz console=ttyS0 bm.url=http://10.0.0.1:8080/agent/abc quiet";
        assert_eq!(
            super::kernel_arg(c, "bm.url=").as_deref(),
            Some("http://10.0.0.1:8080/agent/abc")
        );
        assert_eq!(super::kernel_arg("quiet", "bm.url="), None);
        assert_eq!(
            super::shown("http://h:1/agent/secret"),
            "http://h:1/agent/…"
        );
    }
}
