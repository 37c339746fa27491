//! The deployment's own HTTP endpoint: it serves config drives to BMCs (virtual media fetches them)
//! and takes the installed system's first-boot callback. It listens where it is told (loopback by
//! default) and hands out unguessable paths, one per deployment, withdrawn when the deployment ends.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;

use planner_core::deploy::agent;

/// What a published path serves: bytes held, or a file read on each request (an image in the
/// cache: never held in memory). The file is held open from its publication, so an image the
/// cache evicts meanwhile is still served whole.
#[derive(Clone)]
enum Blob {
    Bytes(Bytes),
    File { file: Arc<std::fs::File>, len: u64 },
}

impl Blob {
    fn len(&self) -> u64 {
        match self {
            Blob::Bytes(b) => b.len() as u64,
            Blob::File { len, .. } => *len,
        }
    }
}

#[derive(Default)]
struct Shared {
    blobs: HashMap<String, Blob>,
    callbacks: HashMap<String, watch::Sender<Option<Value>>>,
    agents: HashMap<String, (Arc<Mutex<AgentState>>, watch::Sender<u64>)>,
    /// Network boot scripts by MAC (normalised): the token of the entry that put it, the script.
    pxe: HashMap<String, (String, String)>,
}

/// What the engine knows of one agent session: filled by its heartbeats.
#[derive(Default)]
pub struct AgentState {
    pub inventory: Option<agent::Inventory>,
    pub last_seen: Option<std::time::Instant>,
    pub heartbeats: u64,
    pub running: Option<agent::Progress>,
    pub results: Vec<agent::CommandResult>,
    /// The command to hand out, until the agent runs it or has its result.
    pub pending: Option<agent::Command>,
    /// Lines not yet taken into the host's record: (source, line).
    pub log: Vec<(&'static str, String)>,
    pub dropped: u64,
    /// Where the session's one capture upload goes, once the engine asks for a capture.
    pub upload: Option<UploadTo>,
    /// What the capture upload gave.
    pub uploaded: Option<Result<Uploaded, String>>,
}

/// Where an agent's capture upload is written, and the most it may be.
#[derive(Debug, Clone)]
pub struct UploadTo {
    pub part: std::path::PathBuf,
    pub limit: u64,
}

/// A capture upload received whole.
#[derive(Debug, Clone, PartialEq)]
pub struct Uploaded {
    pub path: std::path::PathBuf,
    pub sha256: String,
    pub bytes: u64,
}

/// Lines an agent session holds before the lifecycle takes them; older ones are dropped (and
/// counted) past it.
const AGENT_LOG_BOUND: usize = 20_000;

/// One agent's session: its URL (the agent's `bm.url`), and what it said.
pub struct AgentSession {
    pub url: String,
    token: String,
    pub state: Arc<Mutex<AgentState>>,
    changed: watch::Receiver<u64>,
    shared: Arc<Mutex<Shared>>,
}

impl Drop for AgentSession {
    fn drop(&mut self) {
        self.shared
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .agents
            .remove(&self.token);
    }
}

impl AgentSession {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, AgentState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until `done` holds for the state, or `limit` passes (`false`).
    pub async fn wait_until(
        &mut self,
        limit: Duration,
        mut done: impl FnMut(&AgentState) -> bool,
    ) -> bool {
        let end = tokio::time::Instant::now() + limit;
        loop {
            if done(&self.lock()) {
                return true;
            }
            // Woken by a heartbeat, or every second to check the clock.
            let tick = tokio::time::Instant::now() + Duration::from_secs(1);
            let _ = tokio::time::timeout_at(tick.min(end), self.changed.changed()).await;
            if tokio::time::Instant::now() >= end {
                return done(&self.lock());
            }
        }
    }

    /// The lines heard since the last call.
    pub fn take_log(&self) -> Vec<(&'static str, String)> {
        take_log(&self.state)
    }
}

/// The lines an agent session heard since the last call (see [`AgentSession::take_log`]).
pub fn take_log(state: &Mutex<AgentState>) -> Vec<(&'static str, String)> {
    let mut s = state.lock().unwrap_or_else(|p| p.into_inner());
    let mut out = std::mem::take(&mut s.log);
    if s.dropped > 0 {
        out.insert(
            0,
            (
                "engine",
                format!("({} agent lines were dropped: too many at once)", s.dropped),
            ),
        );
        s.dropped = 0;
    }
    out
}

/// The longest agent line kept; longer ones are cut on receipt.
const AGENT_LINE_BOUND: usize = 2000;

/// An agent's line as the engine keeps it: cut to [`AGENT_LINE_BOUND`], the session's token
/// (which an agent's console may print) masked.
fn kept_line(line: String, token: &str) -> String {
    let mut line = if line.len() > AGENT_LINE_BOUND {
        let mut cut = AGENT_LINE_BOUND;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}…", &line[..cut])
    } else {
        line
    };
    if line.contains(token) {
        line = line.replace(token, "…");
    }
    line
}

/// A running endpoint. Dropping it stops it.
pub struct MediaServer {
    base: String,
    cache: Arc<super::cache::ImageCache>,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MediaServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A network boot script served for one MAC; withdrawn when dropped (unless a later entry has
/// replaced it).
pub struct PxeEntry {
    pub mac: String,
    token: String,
    shared: Arc<Mutex<Shared>>,
}

impl Drop for PxeEntry {
    fn drop(&mut self) {
        let mut s = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        if s.pxe.get(&self.mac).is_some_and(|(t, _)| *t == self.token) {
            s.pxe.remove(&self.mac);
        }
    }
}

/// A callback a deployment waits on.
pub struct Callback {
    pub url: String,
    token: String,
    rx: watch::Receiver<Option<Value>>,
}

fn token() -> String {
    let mut b = [0u8; 16];
    let _ = SystemRandom::new().fill(&mut b);
    hex::encode(b)
}

/// Why the deployment endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("media endpoint address {listen:?}")]
    Address {
        listen: String,
        #[source]
        source: std::net::AddrParseError,
    },
    #[error(transparent)]
    Cache(#[from] super::cache::CacheError),
    #[error("media endpoint: cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl MediaServer {
    /// Listens on `listen` (`127.0.0.1:0` picks a port). `advertise` is the base URL BMCs and
    /// installed systems are given, when they reach this endpoint through another address.
    pub async fn start(listen: &str, advertise: Option<&str>) -> Result<MediaServer, MediaError> {
        let addr: SocketAddr = listen.parse().map_err(|source| MediaError::Address {
            listen: listen.to_string(),
            source,
        })?;
        let cache = Arc::new(super::cache::ImageCache::configured()?);
        let listen_failed = |source| MediaError::Listen { addr, source };
        let listener = TcpListener::bind(addr).await.map_err(listen_failed)?;
        let bound = listener.local_addr().map_err(listen_failed)?;
        let base = advertise
            .map(|a| a.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("http://{bound}"));
        let shared = Arc::new(Mutex::new(Shared::default()));
        let s2 = shared.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                };
                let shared = s2.clone();
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, std::convert::Infallible>(serve(req, &shared).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        tracing::info!(%bound, %base, "media endpoint listening");
        Ok(MediaServer {
            base,
            cache,
            shared,
            task,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The image cache this endpoint serves images from.
    pub fn cache(&self) -> &super::cache::ImageCache {
        &self.cache
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Serves `data` as `name` under a fresh path; returns its URL.
    pub fn publish(&self, name: &str, data: Vec<u8>) -> String {
        let path = format!("/media/{}/{name}", token());
        let url = format!("{}{path}", self.base);
        self.lock()
            .blobs
            .insert(path, Blob::Bytes(Bytes::from(data)));
        url
    }

    /// Serves `data` (shared, not copied) as `name` under a fresh path; returns its URL.
    pub fn publish_shared(&self, name: &str, data: Bytes) -> String {
        let path = format!("/media/{}/{name}", token());
        let url = format!("{}{path}", self.base);
        self.lock().blobs.insert(path, Blob::Bytes(data));
        url
    }

    /// Serves the file at `path` (`len` bytes, read on each request, with HTTP range requests)
    /// as `name` under a fresh path; returns its URL. The file is opened now and held open until
    /// withdrawn; it must not change meanwhile.
    pub fn publish_file(
        &self,
        name: &str,
        path: &std::path::Path,
        len: u64,
    ) -> std::io::Result<String> {
        let file = Arc::new(std::fs::File::open(path)?);
        let at = format!("/media/{}/{name}", token());
        let url = format!("{}{at}", self.base);
        self.lock().blobs.insert(at, Blob::File { file, len });
        Ok(url)
    }

    /// The iPXE script every network-booting node is pointed to (DHCP's boot file name for iPXE
    /// clients): it asks for the script of the MAC it booted from.
    pub fn pxe_entry_url(&self) -> String {
        format!("{}/pxe/boot.ipxe", self.base)
    }

    /// Serves `script` to the node that network-boots from `mac` (normalised) until the entry is
    /// dropped; a later entry for the same MAC replaces it.
    pub fn pxe_script(&self, mac: &str, script: String) -> PxeEntry {
        let t = token();
        self.lock().pxe.insert(mac.to_string(), (t.clone(), script));
        PxeEntry {
            mac: mac.to_string(),
            token: t,
            shared: self.shared.clone(),
        }
    }

    /// A fresh agent session: its URL goes on the agent's kernel command line.
    pub fn agent_session(&self) -> AgentSession {
        let t = token();
        let (tx, rx) = watch::channel(0);
        let state = Arc::new(Mutex::new(AgentState::default()));
        self.lock().agents.insert(t.clone(), (state.clone(), tx));
        AgentSession {
            url: format!("{}/agent/{t}", self.base),
            token: t,
            state,
            changed: rx,
            shared: self.shared.clone(),
        }
    }

    /// Stops serving what `publish` returned this URL for.
    pub fn withdraw(&self, url: &str) {
        if let Some(path) = url.strip_prefix(&self.base) {
            self.lock().blobs.remove(path);
        }
    }

    /// A fresh callback URL, and the handle to wait on it.
    pub fn callback(&self) -> Callback {
        let t = token();
        let (tx, rx) = watch::channel(None);
        self.lock().callbacks.insert(t.clone(), tx);
        Callback {
            url: format!("{}/callback/{t}", self.base),
            token: t,
            rx,
        }
    }

    /// Waits for the callback, within `timeout`; returns what was posted.
    pub async fn wait(&self, cb: &mut Callback, timeout: Duration) -> Option<Value> {
        let got = tokio::time::timeout(timeout, async {
            loop {
                if let Some(v) = cb.rx.borrow_and_update().clone() {
                    return Some(v);
                }
                if cb.rx.changed().await.is_err() {
                    return None;
                }
            }
        })
        .await
        .ok()
        .flatten();
        self.lock().callbacks.remove(&cb.token);
        got
    }
}

type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;
type Resp = Response<Body>;

fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into()).map_err(|never| match never {}).boxed()
}

fn status(code: StatusCode) -> Resp {
    let mut r = Response::new(full(Bytes::new()));
    *r.status_mut() = code;
    r
}

/// Takes a heartbeat into the session's state; the reply acknowledges a result and hands out the
/// pending command unless the agent runs it or has finished it.
fn heartbeat(state: &mut AgentState, token: &str, hb: agent::Heartbeat) -> agent::Reply {
    state.last_seen = Some(std::time::Instant::now());
    state.heartbeats += 1;
    if hb.inventory.is_some() {
        state.inventory = hb.inventory;
    }
    state.running = hb.running;
    for l in hb.log {
        state.log.push(("agent", kept_line(l, token)));
    }
    for l in hb.console {
        state.log.push(("console", kept_line(l, token)));
    }
    if state.log.len() > AGENT_LOG_BOUND {
        let cut = state.log.len() - AGENT_LOG_BOUND;
        state.log.drain(..cut);
        state.dropped += cut as u64;
    }
    // Only the result of the command handed out is kept (an agent cannot grow the list).
    let pending = state.pending.as_ref().map(|c| c.id);
    let ack = hb.result.map(|mut r| {
        let id = r.id;
        if Some(id) == pending && !state.results.iter().any(|x| x.id == id) {
            r.message = kept_line(r.message, token);
            state.results.push(r);
        }
        id
    });
    let command = match &state.pending {
        Some(c) if state.results.iter().any(|r| r.id == c.id) => {
            state.pending = None;
            None
        }
        Some(c) if state.running.as_ref().is_some_and(|r| r.id == c.id) => None,
        Some(c) => Some(c.clone()),
        None => None,
    };
    agent::Reply { ack, command }
}

/// The base URL a request came in by (its `Host`), for the entry script's link to itself: a node
/// reaches the endpoint by the address DHCP gave it.
fn base_of(req: &Request<Incoming>) -> String {
    let host = req
        .headers()
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c))
        })
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

/// What `/pxe/REST` answers: the entry script, a MAC's script, or the script that boots the next
/// device. Every fetch is logged with the MAC.
fn pxe_script(rest: &str, base: &str, shared: &Mutex<Shared>) -> String {
    use planner_core::deploy::netboot;
    if rest == "boot.ipxe" {
        tracing::info!("network boot: a node fetched the entry script");
        return netboot::entry_script(base);
    }
    let Some(mac) = rest
        .strip_prefix("mac/")
        .and_then(|m| netboot::normalize_mac(m).ok())
    else {
        return netboot::nothing_planned_script("an unknown MAC");
    };
    let found = shared
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .pxe
        .get(&mac)
        .map(|(_, s)| s.clone());
    match found {
        Some(script) => {
            tracing::info!(%mac, "network boot: the deploy agent's script served");
            script
        }
        None => {
            tracing::info!(%mac, "network boot: nothing planned for this MAC");
            netboot::nothing_planned_script(&mac)
        }
    }
}

fn text_response(text: &str) -> Resp {
    let mut r = Response::new(full(text.to_string()));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("text/plain"),
    );
    r
}

fn json_response(v: &impl serde::Serialize) -> Resp {
    let mut r = Response::new(full(serde_json::to_vec(v).unwrap_or_default()));
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

async fn serve(req: Request<Incoming>, shared: &Mutex<Shared>) -> Resp {
    let path = req.uri().path().to_string();
    let lock = || shared.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(rest) = path.strip_prefix("/agent/") {
        if let Some(t) = rest.strip_suffix("/capture") {
            if req.method() != Method::POST {
                return status(StatusCode::METHOD_NOT_ALLOWED);
            }
            let Some((state, tx)) = lock().agents.get(t).map(|(s, tx)| (s.clone(), tx.clone()))
            else {
                return status(StatusCode::NOT_FOUND);
            };
            let r = upload(req.into_body(), &state).await;
            tx.send_modify(|n| *n += 1);
            return r;
        }
        let Some(t) = rest.strip_suffix("/heartbeat") else {
            return status(StatusCode::NOT_FOUND);
        };
        if req.method() != Method::POST {
            return status(StatusCode::METHOD_NOT_ALLOWED);
        }
        let Some((state, tx)) = lock().agents.get(t).map(|(s, tx)| (s.clone(), tx.clone())) else {
            return status(StatusCode::NOT_FOUND);
        };
        let body = match Limited::new(req.into_body(), 8 << 20).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => return status(StatusCode::PAYLOAD_TOO_LARGE),
        };
        let Ok(hb) = serde_json::from_slice::<agent::Heartbeat>(&body) else {
            return status(StatusCode::BAD_REQUEST);
        };
        let reply = heartbeat(&mut state.lock().unwrap_or_else(|p| p.into_inner()), t, hb);
        tx.send_modify(|n| *n += 1);
        return json_response(&reply);
    }
    if let Some(rest) = path.strip_prefix("/pxe/") {
        if !matches!(*req.method(), Method::GET | Method::HEAD) {
            return status(StatusCode::METHOD_NOT_ALLOWED);
        }
        let base = base_of(&req);
        return text_response(&pxe_script(rest, &base, shared));
    }
    match (req.method().clone(), path.strip_prefix("/callback/")) {
        (Method::POST, Some(t)) => {
            let body = match Limited::new(req.into_body(), 64 * 1024).collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return status(StatusCode::PAYLOAD_TOO_LARGE),
            };
            // cloud-init's phone_home posts a form; anything posted is kept as text or JSON.
            let v = serde_json::from_slice(&body)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&body).into_owned()));
            match lock().callbacks.get(t) {
                Some(tx) => {
                    let _ = tx.send(Some(v));
                    status(StatusCode::NO_CONTENT)
                }
                None => status(StatusCode::NOT_FOUND),
            }
        }
        (m @ (Method::GET | Method::HEAD), None) => {
            let Some(blob) = lock().blobs.get(&path).cloned() else {
                return status(StatusCode::NOT_FOUND);
            };
            // Only a GET takes a range (RFC 9110 §14.2).
            let range = req
                .headers()
                .get(hyper::header::RANGE)
                .and_then(|v| v.to_str().ok())
                .filter(|_| m == Method::GET);
            blob_response(&blob, range, m == Method::HEAD).await
        }
        _ => status(StatusCode::NOT_FOUND),
    }
}

fn json_status(code: StatusCode, v: &impl serde::Serialize) -> Resp {
    let mut r = json_response(v);
    *r.status_mut() = code;
    r
}

/// Takes an agent's capture upload into the file the engine named, hashing it as it streams;
/// more than the limit is refused as soon as it arrives. Only one upload per capture asked.
async fn upload(mut body: Incoming, state: &Mutex<AgentState>) -> Resp {
    use sha2::Digest;
    use tokio::io::AsyncWriteExt;
    let lock = || state.lock().unwrap_or_else(|p| p.into_inner());
    let Some(to) = lock().upload.take() else {
        return json_status(
            StatusCode::CONFLICT,
            &serde_json::json!({"error": "no capture is asked of this session (or its image was taken already)"}),
        );
    };
    let outcome: Result<Uploaded, (StatusCode, String)> = async {
        let io = |e: std::io::Error| {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the image store: {e}"),
            )
        };
        if let Some(d) = to.part.parent() {
            tokio::fs::create_dir_all(d).await.map_err(io)?;
        }
        let mut f = tokio::fs::File::create(&to.part).await.map_err(io)?;
        let mut h = sha2::Sha256::new();
        let mut bytes = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| {
                (
                    StatusCode::BAD_REQUEST,
                    format!("the upload broke off after {bytes} bytes: {e}"),
                )
            })?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            bytes += data.len() as u64;
            if bytes > to.limit {
                return Err((
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "the image passes the image store's limit ({} bytes)",
                        to.limit
                    ),
                ));
            }
            h.update(&data);
            f.write_all(&data).await.map_err(io)?;
        }
        f.sync_all().await.map_err(io)?;
        Ok(Uploaded {
            path: to.part.clone(),
            sha256: hex::encode(h.finalize()),
            bytes,
        })
    }
    .await;
    match outcome {
        Ok(u) => {
            let reply = serde_json::json!({"sha256": u.sha256, "bytes": u.bytes});
            lock().uploaded = Some(Ok(u));
            json_response(&reply)
        }
        Err((code, why)) => {
            let _ = tokio::fs::remove_file(&to.part).await;
            lock().uploaded = Some(Err(why.clone()));
            json_status(code, &serde_json::json!({"error": why}))
        }
    }
}

/// A `Range` header's one range over `len` bytes: `Ok(None)` serves the whole (no header, or one
/// this endpoint does not take, such as several ranges: a server may ignore a range), `Err(())`
/// is unsatisfiable (416).
fn byte_range(header: Option<&str>, len: u64) -> Result<Option<(u64, u64)>, ()> {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return Ok(None);
    };
    if spec.contains(',') {
        return Ok(None);
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Ok(None);
    };
    let num = |t: &str| t.trim().parse::<u64>().ok();
    let (start, end) = match (a.trim().is_empty(), b.trim().is_empty()) {
        // The last N bytes.
        // A suffix of an empty file: nothing to satisfy it, so the whole (empty) file is served.
        (true, false) if len == 0 => return Ok(None),
        (true, false) => match num(b) {
            Some(0) => return Err(()),
            Some(n) => (len.saturating_sub(n), len.checked_sub(1).ok_or(())?),
            None => return Ok(None),
        },
        (false, true) => match num(a) {
            Some(s) => (s, len.checked_sub(1).ok_or(())?),
            None => return Ok(None),
        },
        (false, false) => match (num(a), num(b)) {
            (Some(s), Some(e)) if s <= e => (s, e.min(len.saturating_sub(1))),
            _ => return Ok(None),
        },
        (true, true) => return Ok(None),
    };
    if start >= len {
        return Err(());
    }
    Ok(Some((start, end)))
}

/// Serves a published blob: whole, or the one range asked for (206), or 416.
async fn blob_response(blob: &Blob, range: Option<&str>, head: bool) -> Resp {
    use hyper::header::{HeaderValue, ACCEPT_RANGES, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE};
    let len = blob.len();
    let (start, end, partial) = match byte_range(range, len) {
        Ok(Some((s, e))) => (s, e, true),
        Ok(None) => (0, len.saturating_sub(1), false),
        Err(()) => {
            let mut r = status(StatusCode::RANGE_NOT_SATISFIABLE);
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(CONTENT_RANGE, v);
            }
            return r;
        }
    };
    let count = if len == 0 { 0 } else { end - start + 1 };
    let body = if head || count == 0 {
        full(Bytes::new())
    } else {
        match blob {
            Blob::Bytes(b) => full(b.slice(start as usize..=end as usize)),
            Blob::File { file, .. } => file_body(file.clone(), start, count),
        }
    };
    let mut r = Response::new(body);
    if partial {
        *r.status_mut() = StatusCode::PARTIAL_CONTENT;
    }
    let h = r.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(CONTENT_LENGTH, count.into());
    if partial {
        if let Ok(v) = HeaderValue::from_str(&format!("bytes {start}-{end}/{len}")) {
            h.insert(CONTENT_RANGE, v);
        }
    }
    r
}

/// `count` bytes of `file` from `start`, read as they are sent (256 KiB at a time, by position:
/// concurrent readers of one file do not share a cursor).
fn file_body(file: Arc<std::fs::File>, start: u64, count: u64) -> Body {
    let stream =
        futures_util::stream::unfold((file, start, count), |(file, at, left)| async move {
            if left == 0 {
                return None;
            }
            let want = (256 * 1024).min(left as usize);
            let f = file.clone();
            let read = tokio::task::spawn_blocking(move || {
                use std::os::unix::fs::FileExt;
                let mut buf = vec![0u8; want];
                let n = f.read_at(&mut buf, at)?;
                buf.truncate(n);
                Ok::<_, std::io::Error>(buf)
            })
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
            match read {
                Ok(buf) if buf.is_empty() => Some((
                    Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the published file is shorter than it was",
                    )),
                    (file, at, 0),
                )),
                Ok(buf) => {
                    let n = buf.len() as u64;
                    Some((
                        Ok(hyper::body::Frame::data(Bytes::from(buf))),
                        (file, at + n, left - n),
                    ))
                }
                Err(e) => Some((Err(e), (file, at, 0))),
            }
        });
    http_body_util::StreamBody::new(stream).boxed()
}
