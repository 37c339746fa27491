//! Hostile BMCs: an answer that is not JSON, a 50 MB body, an answer trickling one byte a second, and
//! a certificate replaced behind a pin. `bmplan plan` reports each with its reason, in bounded time
//! and memory (the 50 MB body is refused from its announced length, not read), and still plans the
//! healthy node.

mod common;

use common::text;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use lab::{Lab, LabConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_bmcs_are_reported_with_their_reason_in_bounded_time_and_the_rest_is_planned() {
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::start(LabConfig {
        nodes: 5,
        switches: 1,
        tls: true,
        dir: dir.path().to_path_buf(),
        ..LabConfig::default()
    })
    .await
    .unwrap();
    let manifest = dir.path().join("lab.json");
    lab.manifest().write(&manifest).unwrap();
    let node = |name: &str| lab.fleet.node(name).unwrap().clone();
    node("r1u01").state().faults.garbage = true;
    node("r1u02").state().faults.huge_body_mib = 50;
    node("r1u03").state().faults.trickle = true;
    node("r1u04").state().faults.other_certificate = true;

    // Every node pinned to the lab's certificate; r1u04 now shows another one from the same CA.
    let cfg = dir.path().join("cfg");
    std::fs::create_dir(&cfg).unwrap();
    std::fs::write(
        cfg.join("main.tf"),
        r#"
variable "lab_manifest" { type = string }
locals {
  lab   = jsondecode(file(var.lab_manifest))
  nodes = { for n in local.lab.nodes : n.name => n }
}
resource "baremetal_profile" "p" {
  name = "p"
  bios = { ProcTurboMode = "Disabled" }
}
resource "baremetal_node" "n" {
  for_each    = local.nodes
  name        = each.key
  bmc_url     = each.value.bmc_url
  system_id   = each.value.system_id
  username    = each.value.username
  password    = each.value.password
  fingerprint = local.lab.tls_fingerprint
  profile     = baremetal_profile.p.name
}
"#,
    )
    .unwrap();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_bmplan"))
        .arg("plan")
        .arg(&cfg)
        .arg("-var")
        .arg(format!("lab_manifest={}", manifest.display()))
        .args(["--bmc-timeout", "2"])
        .env(
            "BAREMETAL_INVENTORY",
            format!("sqlite://{}", dir.path().join("inv.db").display()),
        )
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let took = started.elapsed();
    let shown = text(&out);
    // Unreachable devices make the plan exit 1, so a pipeline never reads a partial view as done.
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(took < Duration::from_secs(60), "took {took:?}\n{shown}");
    let line = |name: &str| {
        shown
            .lines()
            .find(|l| l.starts_with(&format!("unreachable node {name}:")))
            .unwrap_or_else(|| panic!("no unreachable line for {name}:\n{shown}"))
            .to_string()
    };
    assert!(
        line("r1u01").contains("returned a body that is not the expected JSON"),
        "{shown}"
    );
    assert!(
        line("r1u02").contains("more than the 16 MiB this client reads; not read"),
        "{shown}"
    );
    // A slow BMC is cut at its deadline: by the request's timeout ("no complete answer within
    // 2s") or, on a loaded machine, by the read's deadline around it ("did not finish within 2s").
    assert!(line("r1u03").contains("within 2s"), "{shown}");
    assert!(
        line("r1u04").contains("does not match the pinned"),
        "{shown}"
    );
    // The healthy node is planned as if nothing happened around it.
    assert!(shown.contains("r1u05: 1 reboot, BIOS 1 changes"), "{shown}");
    // A refused body is not asked for again and again.
    let asked = node("r1u02")
        .requests
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(asked <= 2, "r1u02 was asked {asked} times");
    for n in &lab.manifest().nodes {
        assert!(
            !shown.contains(&n.password),
            "a password reached the output"
        );
    }
    lab.shutdown().await;
}

/// A loopback HTTP server answering every request with `body` (JSON), counting the connections it
/// gets: a hostile BMC, or a capture server that must never hear from the client.
async fn canned_server(
    body: impl Fn(u16) -> String + Send + Sync + 'static,
) -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = hits.clone();
    let body = std::sync::Arc::new(body);
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let body = body.clone();
            tokio::spawn(async move {
                if common::read_request_path(&mut sock).await.is_none() {
                    return;
                }
                let b = body(port);
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{b}",
                    b.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    (port, hits)
}

/// A BMC whose service root links its sessions and systems to another origin (over plain HTTP):
/// `bmplan inspect` refuses the links with an error naming them, and the other origin never gets
/// a connection, so neither the password nor a session token leaves the BMC.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_to_another_origin_are_refused_and_get_no_credentials() {
    let (capture, captured) = canned_server(|_| "{}".to_string()).await;
    let (bmc, _) = canned_server(move |_| {
        format!(
            r#"{{"@odata.id": "/redfish/v1/", "RedfishVersion": "1.15.0",
                "Systems": {{"@odata.id": "http://127.0.0.1:{capture}/steal/Systems"}},
                "Links": {{"Sessions": {{"@odata.id": "http://127.0.0.1:{capture}/steal/Sessions"}}}}}}"#
        )
    })
    .await;
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_bmplan"))
        .args([
            "inspect",
            &format!("http://127.0.0.1:{bmc}"),
            "--username",
            "root",
            "--password-env",
            "HOSTILE_BMC_PASSWORD",
            "--timeout",
            "5",
        ])
        .env("HOSTILE_BMC_PASSWORD", "calvin-secret")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let all = text(&out);
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(
        all.contains(&format!(
            "the BMC links to http://127.0.0.1:{capture}/steal/Systems, which is not the BMC's own origin"
        )),
        "{all}"
    );
    assert!(!all.contains("calvin-secret"), "{all}");
    assert_eq!(
        captured.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "the other origin was contacted"
    );
    assert!(started.elapsed() < Duration::from_secs(30));
}

/// A BMC whose Model is 70 kB with terminal escape sequences in it, and whose serial carries a
/// carriage return: enrolled, then listed. The table cuts the cell with `…` and shows the escapes
/// escaped (it used to panic on every `nodes list`); `--wide` shows the cell whole; `inspect` shows
/// no raw escape either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_70_kb_model_with_escape_sequences_is_listed_cut_and_escaped() {
    let tree = common::mockup_copy("dmtf-rackmount1");
    let sys = tree.path().join("Systems/437XR1138R2/index.json");
    let mut doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sys).unwrap()).unwrap();
    doc["Model"] = serde_json::json!(format!("\u{1b}[2J\u{1b}[31m{}", "M".repeat(70_000)));
    doc["SerialNumber"] = serde_json::json!("437XR1138R2\rOWNED");
    std::fs::write(&sys, doc.to_string()).unwrap();
    let peer = common::mockup_at(tree.path()).await;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| common::bmplan_in(dir.path(), args, &[("HOSTILE_PW", "pw")]);
    let csv = dir.path().join("bmcs.csv");
    std::fs::write(
        &csv,
        format!(
            "name,bmc_url,username,password\nhostile,{},root,pw\n",
            peer.url
        ),
    )
    .unwrap();
    let out = run(&["nodes", "enroll", csv.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let out = run(&["nodes", "list"]);
    let shown = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !shown.contains('\u{1b}') && !shown.contains('\r'),
        "{shown:?}"
    );
    assert!(shown.contains("\\u{1b}[2J"), "{shown}");
    assert!(
        shown.contains('…') && shown.len() < 2000,
        "{} bytes",
        shown.len()
    );
    let out = run(&["nodes", "list", "--wide"]);
    let wide = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}", text(&out));
    assert!(wide.contains(&"M".repeat(70_000)) && !wide.contains('\u{1b}'));
    let out = run(&[
        "inspect",
        &peer.url,
        "--username",
        "root",
        "--password-env",
        "HOSTILE_PW",
    ]);
    let inspected = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{}", text(&out));
    assert!(!inspected.contains('\u{1b}') && !inspected.contains('\r'));
    assert!(
        inspected.contains("437XR1138R2\\u{d}OWNED"),
        "{inspected:.300}"
    );
}

/// What a hostile BMC of [`hostile_bmc`] does.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Hostility {
    /// `Systems` lists 20,000 members, each of which is that same 20,000-member collection.
    SelfReferencing,
    /// `Systems` lists itself (and the service root) as its members.
    CycleOfLinks,
    /// `Systems` answers a 200 MB body, chunked (no length announced), as fast as it can.
    HugeChunked,
    /// `Systems` answers a chunked body that never ends, as fast as it can.
    EndlessChunked,
    /// Every answer sends its headers one byte every 300 ms, never finishing them.
    Slowloris,
    /// `Systems` answers a chunked body that never ends, a small chunk every 200 ms.
    Dribble,
    /// Every answer is a 302 back to the same path.
    RedirectLoop,
}

/// A BMC speaking plain HTTP on loopback that behaves as `how` says once the service root is read
/// (the root itself is honest, except for the slowloris and the redirect loop). Written here, byte by
/// byte, because no well-behaved server would do any of it.
async fn hostile_bmc(how: Hostility) -> String {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let Some(path) = common::read_request_path(&mut sock).await else {
                    return;
                };
                let json = |body: String| {
                    format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    )
                };
                let root = r##"{"@odata.id":"/redfish/v1","@odata.type":"#ServiceRoot.v1_5_0.ServiceRoot","Id":"RootService","Name":"Root Service","RedfishVersion":"1.6.0","Systems":{"@odata.id":"/redfish/v1/Systems"}}"##;
                match how {
                    Hostility::Slowloris => {
                        for b in b"HTTP/1.1 200 OK\r\nX-Slow: "
                            .iter()
                            .chain(std::iter::repeat(&b'a'))
                        {
                            if sock.write_all(&[*b]).await.is_err() {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(300)).await;
                        }
                    }
                    Hostility::RedirectLoop => {
                        let _ = sock
                            .write_all(format!("HTTP/1.1 302 Found\r\nLocation: {path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes())
                            .await;
                    }
                    _ if path == "/redfish/v1" || path == "/redfish" => {
                        let _ = sock.write_all(json(root.to_string()).as_bytes()).await;
                    }
                    Hostility::SelfReferencing if path.starts_with("/redfish/v1/Systems") => {
                        let members: Vec<String> = (0..20_000)
                            .map(|i| format!(r#"{{"@odata.id":"/redfish/v1/Systems/{i}"}}"#))
                            .collect();
                        let body = format!(
                            r#"{{"@odata.id":"{path}","Name":"Systems","Members@odata.count":20000,"Members":[{}]}}"#,
                            members.join(",")
                        );
                        let _ = sock.write_all(json(body).as_bytes()).await;
                    }
                    Hostility::CycleOfLinks if path == "/redfish/v1/Systems" => {
                        let body = r#"{"@odata.id":"/redfish/v1/Systems","Name":"Systems","Members@odata.count":2,"Members":[{"@odata.id":"/redfish/v1/Systems"},{"@odata.id":"/redfish/v1"}]}"#;
                        let _ = sock.write_all(json(body.to_string()).as_bytes()).await;
                    }
                    Hostility::HugeChunked | Hostility::EndlessChunked | Hostility::Dribble
                        if path.starts_with("/redfish/v1/Systems") =>
                    {
                        let _ = sock
                            .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
                            .await;
                        let chunk = vec![b' '; 1 << 20];
                        let mut sent = 0usize;
                        loop {
                            let piece: &[u8] = if how == Hostility::Dribble {
                                b"          "
                            } else {
                                &chunk
                            };
                            let mut frame = format!("{:x}\r\n", piece.len()).into_bytes();
                            frame.extend_from_slice(piece);
                            frame.extend_from_slice(b"\r\n");
                            if sock.write_all(&frame).await.is_err() {
                                return;
                            }
                            sent += piece.len();
                            if how == Hostility::HugeChunked && sent >= 200 << 20 {
                                let _ = sock.write_all(b"0\r\n\r\n").await;
                                return;
                            }
                            if how == Hostility::Dribble {
                                tokio::time::sleep(Duration::from_millis(200)).await;
                            }
                        }
                    }
                    _ => {
                        let _ = sock
                            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                            .await;
                    }
                }
            });
        }
    });
    url
}

/// Peak resident memory of a finished child, in KiB, from `/usr/bin/time -f %M` (installed by the
/// test command), and its output.
fn run_measured(args: &[&str], envs: &[(&str, String)]) -> (std::process::Output, u64, Duration) {
    let started = Instant::now();
    let mut cmd = Command::new("/usr/bin/time");
    cmd.args(["-f", "PEAK_RSS_KIB=%M", env!("CARGO_BIN_EXE_bmplan")])
        .args(args)
        .stdin(Stdio::null());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    let peak = err
        .lines()
        .filter_map(|l| l.strip_prefix("PEAK_RSS_KIB="))
        .next_back()
        .and_then(|v| v.trim().parse().ok())
        .expect("/usr/bin/time reports the peak");
    (out, peak, took)
}

/// Seven hostile BMCs enrolled in one list with two healthy lab nodes: each hostile one is reported
/// with what it did and where, within one `--timeout` (3 s) of its own, in bounded memory, and the
/// two healthy nodes are enrolled. Before: the self-referencing collection alone grew `bmplan` to
/// 7.6 GB and aborted the whole run with 0 of 5 enrolled; a slowloris cost 5 × the timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hostile_bmcs_in_an_enrollment_are_bounded_and_the_healthy_ones_are_enrolled() {
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::start(LabConfig {
        nodes: 2,
        switches: 1,
        tls: false,
        dir: dir.path().to_path_buf(),
        ..LabConfig::default()
    })
    .await
    .unwrap();
    let m = lab.manifest().clone();
    let kinds = [
        (
            "selfref",
            Hostility::SelfReferencing,
            "lists 20000 members, more than the 1024",
        ),
        (
            "cycle",
            Hostility::CycleOfLinks,
            "as its own member: a cycle",
        ),
        (
            "huge",
            Hostility::HugeChunked,
            "more than the 16 MiB this client reads",
        ),
        (
            "endless",
            Hostility::EndlessChunked,
            "more than the 16 MiB this client reads",
        ),
        ("slowloris", Hostility::Slowloris, "within 3s"),
        ("dribble", Hostility::Dribble, "within 3s"),
        (
            "redirect",
            Hostility::RedirectLoop,
            "redirects to /redfish/v1",
        ),
    ];
    let mut csv = String::from("name,bmc_url,system_id,username,password\n");
    for n in &m.nodes {
        csv += &format!(
            "{},{},{},{},{}\n",
            n.name, n.bmc_http_url, n.system_id, n.username, n.password
        );
    }
    for (name, how, _) in &kinds {
        csv += &format!("{name},{},,root,pw\n", hostile_bmc(*how).await);
    }
    let list = dir.path().join("bmcs.csv");
    std::fs::write(&list, csv).unwrap();
    let envs = [
        (
            "BAREMETAL_INVENTORY",
            format!("sqlite://{}", dir.path().join("inv.db").display()),
        ),
        (
            "BAREMETAL_CREDENTIALS_KEY",
            planner::credentials::CredentialsKey::generate().unwrap(),
        ),
    ];
    let (out, peak_kib, took) = run_measured(
        &[
            "nodes",
            "enroll",
            list.to_str().unwrap(),
            "--timeout",
            "3",
            "--json",
        ],
        &envs,
    );
    let shown = text(&out);
    eprintln!(
        "enrollment of 2 healthy + 7 hostile BMCs: {took:?}, peak RSS {} MiB",
        peak_kib / 1024
    );
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {shown}"));
    let rows = report
        .as_array()
        .or_else(|| report["results"].as_array())
        .unwrap_or_else(|| panic!("{report}"));
    let row = |name: &str| {
        rows.iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("{name} missing: {report}"))
            .to_string()
    };
    for n in &m.nodes {
        let r = row(&n.name);
        assert!(r.contains("enrolled") || r.contains("created"), "{r}");
    }
    for (name, _, says) in &kinds {
        let r = row(name);
        assert!(r.contains(says), "{name}: wanted {says:?} in {r}");
    }
    // One timeout (3 s) per hostile BMC at most, all concurrent, plus start-up: never 5 × 3 s.
    assert!(took < Duration::from_secs(12), "{took:?}");
    // Bodies are cut at 16 MiB each; the 20,000-member collection is refused whole.
    assert!(peak_kib < 400 * 1024, "peak RSS {peak_kib} KiB");

    // Each on its own, with `inspect`: its time and memory.
    let mut table = String::from("| BMC | exit | seconds | peak RSS MiB |\n|---|---|---|---|\n");
    for (name, how, says) in &kinds {
        let url = hostile_bmc(*how).await;
        let (out, peak_kib, took) = run_measured(
            &[
                "inspect",
                &url,
                "--username",
                "root",
                "--password-env",
                "HOSTILE_PW",
                "--timeout",
                "3",
            ],
            &[("HOSTILE_PW", "pw".to_string())],
        );
        let shown = text(&out);
        assert_ne!(out.status.code(), Some(0), "{name}: {shown}");
        assert!(shown.contains(says), "{name}: wanted {says:?} in {shown}");
        assert!(took < Duration::from_secs(8), "{name}: {took:?}");
        assert!(peak_kib < 200 * 1024, "{name}: peak RSS {peak_kib} KiB");
        table += &format!(
            "| {name} | {} | {:.2} | {} |\n",
            out.status.code().unwrap_or(-1),
            took.as_secs_f64(),
            peak_kib / 1024
        );
    }
    eprintln!("bmplan inspect --timeout 3, one hostile BMC each:\n{table}");

    // And `plan` over the same: every hostile node is reported unreachable with its reason, the
    // healthy one is planned, in one timeout.
    let cfg = dir.path().join("cfg");
    std::fs::create_dir(&cfg).unwrap();
    let mut tf = String::from(
        "resource \"baremetal_profile\" \"p\" {\n  name = \"p\"\n  bios = { ProcTurboMode = \"Disabled\" }\n}\n",
    );
    let good = &m.nodes[0];
    let node = |name: &str, url: &str, system: &str, user: &str, pw: &str| {
        format!(
            "resource \"baremetal_node\" \"{name}\" {{\n  name      = \"{name}\"\n  bmc_url   = \"{url}\"\n  system_id = \"{system}\"\n  username  = \"{user}\"\n  password  = \"{pw}\"\n  profile   = baremetal_profile.p.name\n}}\n"
        )
    };
    tf += &node(
        "healthy",
        &good.bmc_http_url,
        &good.system_id,
        &good.username,
        &good.password,
    );
    for (name, how, _) in &kinds {
        tf += &node(name, &hostile_bmc(*how).await, "1", "root", "pw");
    }
    std::fs::write(cfg.join("main.tf"), tf).unwrap();
    let (out, peak_kib, took) = run_measured(
        &["plan", cfg.to_str().unwrap(), "--bmc-timeout", "3"],
        &[envs[0].clone()],
    );
    let shown = text(&out);
    eprintln!(
        "plan of 1 healthy + 7 hostile nodes: {took:?}, peak RSS {} MiB",
        peak_kib / 1024
    );
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(
        shown.contains("healthy") && shown.contains("ProcTurboMode"),
        "{shown}"
    );
    for (name, how, says) in &kinds {
        // A plan reads the system it is given (`/Systems/1`) without listing the collection: the
        // self-referencing and cyclic collections are not on its path, the rest are.
        let says = match how {
            Hostility::SelfReferencing | Hostility::CycleOfLinks => "",
            _ => says,
        };
        assert!(
            shown
                .lines()
                .any(|l| l.contains(&format!("unreachable node {name}:")) && l.contains(says)),
            "{name} not reported with {says:?}: {shown}"
        );
    }
    assert!(took < Duration::from_secs(12), "{took:?}");
    assert!(peak_kib < 400 * 1024, "peak RSS {peak_kib} KiB");
    lab.shutdown().await;
}

/// `inspect` refuses what would leak or mislead before any connection: TLS trust given for an
/// http:// URL (it used to be ignored and the BMC read in clear), and a URL carrying a password.
#[test]
fn inspect_refuses_tls_flags_on_http_and_credentials_in_the_url() {
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_bmplan"))
            .args(args)
            .env("HOSTILE_PW", "pw")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let fp = "ab".repeat(32);
    let closed = format!("127.0.0.1:{}", common::free_port());
    for flags in [
        vec!["--fingerprint", fp.as_str()],
        vec!["--ca-cert", "/etc/hostname"],
    ] {
        let url = format!("http://{closed}");
        let mut args = vec![
            "inspect",
            url.as_str(),
            "--username",
            "root",
            "--password-env",
            "HOSTILE_PW",
        ];
        args.extend(flags.iter().copied());
        let out = run(&args);
        let shown = text(&out);
        assert_eq!(out.status.code(), Some(1), "{shown}");
        assert!(shown.contains("the URL is http://"), "{shown}");
    }
    let url = format!("https://root:hunter2@{closed}");
    let out = run(&[
        "inspect",
        &url,
        "--username",
        "root",
        "--password-env",
        "HOSTILE_PW",
    ]);
    let shown = text(&out);
    assert_eq!(out.status.code(), Some(1), "{shown}");
    assert!(shown.contains("carries a user or password"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
}
