//! Independent Redfish peers for tests: sushy-emulator (fake driver, HTTPS with a test CA, basic auth)
//! and badfish's iDRAC emulator (HTTPS, session auth), started from the `.venv` that
//! `scripts/test.sh` installs, on loopback ports.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn venv_bin(name: &str) -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../.venv/bin")
        .join(name);
    assert!(
        p.exists(),
        "{} is missing: run scripts/test.sh, which installs the test peers into .venv",
        p.display()
    );
    p
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Peer {
    child: Child,
    pub url: String,
    pub ca: PathBuf,
    pub username: String,
    pub password: String,
    _dir: tempfile::TempDir,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A CA and a server certificate for 127.0.0.1 in `dir`: (ca, cert, key).
fn tls_files(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let tls = lab::tls::LabTls::generate().unwrap();
    let (ca, cert, key) = (
        dir.join("ca.pem"),
        dir.join("server.crt"),
        dir.join("server.key"),
    );
    std::fs::write(&ca, &tls.ca_pem).unwrap();
    std::fs::write(&cert, &tls.cert_pem).unwrap();
    std::fs::write(&key, &tls.key_pem).unwrap();
    (ca, cert, key)
}

async fn wait_ready(child: &mut Child, url: &str, ca: &Path, log: &Path) {
    let pem = std::fs::read(ca).unwrap();
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "peer exited with {status}: {}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        if let Ok(r) = client.get(format!("{url}/redfish/v1")).send().await {
            if r.status().is_success() {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "peer at {url} did not start: {}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Not sushy's default UUID: badfish's emulator reports that one too, and enrollment would (rightly) call
/// the two the same machine.
pub const SUSHY_UUID: &str = "6e1c5a0d-3f2b-4c8e-9a71-2b5d8f0e4c13";
pub const SUSHY_UUID_2: &str = "48295ed6-4a2d-4d8a-b0b1-0e6d2e3c4b51";

/// sushy-emulator with two fake systems (the first with storage and drives), over HTTPS with basic auth.
pub async fn sushy() -> Peer {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = tls_files(dir.path());
    let (user, pass) = ("admin", "sushy-secret");
    // bcrypt at cost 4: sushy checks the hash on every request, and cost 12 takes ~250 ms each.
    let hash = Command::new(venv_bin("python"))
        .args([
            "-c",
            &format!("import bcrypt; print(bcrypt.hashpw(b'{pass}', bcrypt.gensalt(4)).decode())"),
        ])
        .output()
        .unwrap();
    assert!(
        hash.status.success(),
        "bcrypt: {}",
        String::from_utf8_lossy(&hash.stderr)
    );
    let htpasswd = dir.path().join("htpasswd");
    std::fs::write(
        &htpasswd,
        format!("{user}:{}", String::from_utf8(hash.stdout).unwrap().trim()),
    )
    .unwrap();
    let state = dir.path().join("state");
    std::fs::create_dir(&state).unwrap();
    let port = free_port();
    let config = format!(
        r#"SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'
SUSHY_EMULATOR_LISTEN_PORT = {port}
SUSHY_EMULATOR_SSL_CERT = {cert:?}
SUSHY_EMULATOR_SSL_KEY = {key:?}
SUSHY_EMULATOR_AUTH_FILE = {htpasswd:?}
SUSHY_EMULATOR_STATE_DIR = {state:?}
SUSHY_EMULATOR_FAKE_DRIVER = True
SUSHY_EMULATOR_FAKE_SYSTEMS = [
    {{'uuid': '{SUSHY_UUID}', 'name': 'node-a', 'power_state': 'On', 'external_notifier': False,
      'nics': [{{'mac': '52:54:ee:00:00:01', 'ip': '127.0.0.1'}}, {{'mac': '52:54:ee:00:00:02', 'ip': '127.0.0.1'}}]}},
    {{'uuid': '{SUSHY_UUID_2}', 'name': 'node-b', 'power_state': 'Off', 'external_notifier': False,
      'nics': [{{'mac': '52:54:ee:00:01:01', 'ip': '127.0.0.1'}}]}},
]
SUSHY_EMULATOR_STORAGE = {{'{SUSHY_UUID}': [{{'Id': '1', 'Name': 'Local Storage Controller',
    'StorageControllers': [{{'MemberId': '0', 'Name': 'RAID controller', 'SpeedGbps': 12}}],
    'Drives': ['drive-0', 'drive-1']}}]}}
SUSHY_EMULATOR_DRIVES = {{('{SUSHY_UUID}', '1'): [
    {{'Id': 'drive-0', 'Name': 'Drive 0', 'CapacityBytes': 899527000000, 'Protocol': 'SAS'}},
    {{'Id': 'drive-1', 'Name': 'Drive 1', 'CapacityBytes': 899527000000, 'Protocol': 'SAS'}}]}}
"#,
        cert = cert.display().to_string(),
        key = key.display().to_string(),
        htpasswd = htpasswd.display().to_string(),
        state = state.display().to_string(),
    );
    let conf = dir.path().join("sushy.conf");
    std::fs::write(&conf, config).unwrap();
    let log = dir.path().join("sushy.log");
    let mut child = Command::new(venv_bin("sushy-emulator"))
        .arg("--config")
        .arg(&conf)
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::from(
            std::fs::File::create(dir.path().join("sushy.err")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let url = format!("https://127.0.0.1:{port}");
    wait_ready(&mut child, &url, &ca, &dir.path().join("sushy.err")).await;
    Peer {
        child,
        url,
        ca,
        username: user.into(),
        password: pass.into(),
        _dir: dir,
    }
}

/// badfish's iDRAC-shaped emulator over HTTPS (with our test CA), session auth.
pub async fn badfish() -> Peer {
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = tls_files(dir.path());
    let certs = dir.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    std::fs::copy(&cert, certs.join("emulator.crt")).unwrap();
    std::fs::copy(&key, certs.join("emulator.key")).unwrap();
    let port = free_port();
    let log = dir.path().join("badfish.log");
    let (user, pass) = ("operator", "badfish-secret");
    let mut child = Command::new(venv_bin("badfish"))
        .args([
            "--redfish-emulator",
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
        ])
        .env("BADFISH_EMULATOR_CERTS", &certs)
        .env("BADFISH_EMULATOR_USERS", dir.path().join("users.json"))
        .env("BADFISH_EMULATOR_USER", user)
        .env("BADFISH_EMULATOR_PASSWORD", pass)
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::from(
            std::fs::File::create(dir.path().join("badfish.err")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let url = format!("https://127.0.0.1:{port}");
    wait_ready(&mut child, &url, &ca, &dir.path().join("badfish.err")).await;
    Peer {
        child,
        url,
        ca,
        username: user.into(),
        password: pass.into(),
        _dir: dir,
    }
}

/// A loopback HTTP server that serves `body` for any path, until dropped: the image a BMC downloads.
pub struct ImageServer {
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ImageServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn image_server(body: Vec<u8>) -> ImageServer {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/images/boot.iso", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                continue;
            };
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let head_only = buf[..n].starts_with(b"HEAD");
                let header = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(header.as_bytes()).await;
                if !head_only {
                    let _ = s.write_all(&body).await;
                }
            });
        }
    });
    ImageServer { url, task }
}

/// A fake-switches process, killed when dropped.
pub struct FakeSwitch(Child);

impl Drop for FakeSwitch {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts fake-switches `model` through the project's launcher (`acceptance-tests/peers/fake_switch.py`)
/// with login `admin`/`pw` and enable password `en`. Returns the SSH address and, with `eapi`, the
/// eAPI address; waits until the one the test will use accepts connections.
pub fn fake_switch(
    model: &str,
    extra: &[&str],
    eapi: bool,
) -> (FakeSwitch, String, Option<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let ssh = free_port();
    let http = eapi.then(free_port);
    let mut cmd = Command::new(venv_bin("python"));
    cmd.args([
        "-m",
        "peers.fake_switch",
        "--model",
        model,
        "--port",
        &ssh.to_string(),
        "--hostname",
        "fake0",
    ])
    .args([
        "--username",
        "admin",
        "--password",
        "pw",
        "--enable-password",
        "en",
    ])
    .args(extra);
    if let Some(h) = http {
        cmd.args(["--http-port", &h.to_string()]);
    }
    let child = cmd
        .current_dir(root.join("acceptance-tests"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let wait_for = http.unwrap_or(ssh);
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", wait_for)).is_err() {
        assert!(
            Instant::now() < deadline,
            "fake-switches {model} did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (
        FakeSwitch(child),
        format!("127.0.0.1:{ssh}"),
        http.map(|h| format!("127.0.0.1:{h}")),
    )
}

/// A throwaway inventory database: a SQLite file, or a fresh database on the PostgreSQL server the
/// README's test command starts (`BAREMETAL_TEST_POSTGRES_URL`).
pub struct TestDb {
    pub url: String,
    pub backend: &'static str,
    _dir: Option<tempfile::TempDir>,
}

pub fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    TestDb {
        url: format!("sqlite://{}", dir.path().join("inventory.db").display()),
        backend: "sqlite",
        _dir: Some(dir),
    }
}

/// A new, empty PostgreSQL database. `None` (with a message) outside CI when no server is configured;
/// in CI a missing server fails the test.
pub async fn postgres_db() -> Option<TestDb> {
    use sqlx::Connection as _;
    let Ok(admin) = std::env::var("BAREMETAL_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "BAREMETAL_TEST_POSTGRES_URL is not set: run the tests through scripts/test.sh"
        );
        eprintln!(
            "skipping PostgreSQL: BAREMETAL_TEST_POSTGRES_URL is not set (scripts/test.sh sets it)"
        );
        return None;
    };
    sqlx::any::install_default_drivers();
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let name = format!(
        "inv_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let mut conn = sqlx::AnyConnection::connect(&admin).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.ok();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap();
    Some(TestDb {
        url: format!("{base}/{name}"),
        backend: "postgres",
        _dir: None,
    })
}

/// Both backends (PostgreSQL only when available, see [`postgres_db`]).
pub async fn backends() -> Vec<TestDb> {
    let mut v = vec![sqlite_db()];
    v.extend(postgres_db().await);
    v
}

/// Hardware facts as an inspection would report them, for inventory tests that need no BMC.
pub fn hw(
    uuid: &str,
    serial: &str,
    maker: &str,
    arch: &str,
    cpus: u64,
    mem: f64,
) -> planner::bmc::Inventory {
    planner::bmc::Inventory {
        system_id: "1".into(),
        manufacturer: Some(maker.into()),
        model: Some("Model X".into()),
        serial: Some(serial.into()),
        uuid: Some(uuid.into()),
        sku: None,
        power_state: planner::bmc::PowerState::On,
        health: Some("OK".into()),
        bios_version: None,
        slot: None,
        cpu: planner::bmc::CpuSummary {
            sockets: Some(2),
            cores: Some(cpus / 2),
            threads: Some(cpus),
            model: None,
            arch: Some(arch.into()),
        },
        accelerators: vec![],
        memory_gib: Some(mem),
        nics: vec![],
        controllers: vec![],
        drives: vec![planner::bmc::DriveInfo {
            id: "d0".into(),
            model: None,
            serial: None,
            capacity_bytes: Some(960 << 30),
            media: None,
            protocol: None,
        }],
        volumes: vec![],
        firmware: vec![],
        sensors: Default::default(),
        bios: Default::default(),
        unavailable: vec![],
    }
}

/// A command's standard output then standard error, for assertions on what a user sees.
pub fn text(o: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A Redfish mockup tree of `tests/fixtures/mockups` served over HTTP by sushy-tools'
/// `sushy-static` (read-only, no authentication), until dropped.
pub async fn mockup(name: &str) -> Peer {
    let tree = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mockups")
        .join(name);
    assert!(tree.is_dir(), "no mockup {}", tree.display());
    mockup_at(&tree).await
}

/// A copy of mockup `name` in a temporary directory, for a test to make hostile.
pub fn mockup_copy(name: &str) -> tempfile::TempDir {
    let from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/mockups")
        .join(name);
    let to = tempfile::tempdir().unwrap();
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            let target = to.join(e.file_name());
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &target);
            } else {
                std::fs::copy(e.path(), target).unwrap();
            }
        }
    }
    copy(&from, to.path());
    to
}

/// A Redfish mockup tree at `tree` served by `sushy-static`, until dropped.
pub async fn mockup_at(tree: &Path) -> Peer {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let log = dir.path().join("sushy-static.log");
    let mut child = Command::new(venv_bin("sushy-static"))
        .args(["-i", "127.0.0.1", "-p", &port.to_string(), "-m"])
        .arg(tree)
        .stdout(Stdio::from(std::fs::File::create(&log).unwrap()))
        .stderr(Stdio::from(
            std::fs::File::create(dir.path().join("err")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("sushy-static exited with {status}");
        }
        if let Ok(r) = reqwest::get(format!("{url}/redfish/v1/")).await {
            if r.status().is_success() {
                break;
            }
        }
        assert!(Instant::now() < deadline, "sushy-static did not start");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Peer {
        child,
        url,
        ca: PathBuf::new(),
        username: "root".into(),
        password: "mockup".into(),
        _dir: dir,
    }
}

/// Reads one HTTP request's head from a raw socket (for servers written in a test to misbehave on
/// purpose) and returns its path without query or trailing slash; `None` when the peer went away.
pub async fn read_request_path(sock: &mut tokio::net::TcpStream) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 65536 {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => req.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&req).to_string();
    Some(
        head.split_whitespace()
            .nth(1)
            .unwrap_or("/")
            .split('?')
            .next()
            .unwrap_or("/")
            .trim_end_matches('/')
            .to_string(),
    )
}

/// The lab's counters (`GET {control_url}/stats`): requests, resets and applied changes per node,
/// commands per switch.
pub async fn lab_stats(control_url: &str) -> serde_json::Value {
    reqwest::get(format!("{control_url}/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Runs `bmplan ARGS` on a SQLite inventory in `dir`, with a fresh credentials key and `envs`.
pub fn bmplan_in(dir: &Path, args: &[&str], envs: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_bmplan"));
    c.args(args)
        .env(
            "BAREMETAL_INVENTORY",
            format!("sqlite://{}", dir.join("inv.db").display()),
        )
        .env(
            "BAREMETAL_CREDENTIALS_KEY",
            planner::credentials::CredentialsKey::generate().unwrap(),
        )
        .stdin(Stdio::null());
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().unwrap()
}
