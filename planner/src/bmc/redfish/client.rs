//! The HTTP side of Redfish, with the behaviours real BMCs need: session login with a re-login on 401
//! and basic auth as the fallback, retries with backoff (GET, PATCH and DELETE on transport errors and
//! 5xx; POST only when nothing reached the BMC or it said "not ready"), `If-Match` with the 412
//! fallbacks, task monitors, and a bound on concurrent requests per BMC.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::{
    HeaderMap, HeaderValue, ACCEPT, ACCEPT_ENCODING, ETAG, IF_MATCH, LOCATION, RETRY_AFTER,
};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::{Mutex, OnceCell, Semaphore};

use super::super::tls::http_client;
use super::super::{BmcError, Endpoint, Secret, TaskOutcome, TaskRef};

#[derive(Debug, Clone)]
enum Auth {
    /// Not logged in yet.
    Unknown,
    Token {
        token: Secret,
        location: Option<String>,
    },
    /// The BMC has no usable session service: send basic auth with every request.
    Basic,
}

/// A successful response.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Response {
    pub fn location(&self) -> Option<String> {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    }
}

pub struct Client {
    ep: Endpoint,
    base: String,
    http: reqwest::Client,
    auth: Mutex<Auth>,
    permits: Semaphore,
    root: OnceCell<Value>,
    /// Set when the service advertised `$expand` but refused it: ask plainly from then on.
    expand_refused: AtomicBool,
    /// Answers read so far, and their bytes: what a walk's budget is measured against.
    documents: AtomicU64,
    bytes: AtomicU64,
    /// Set for read-only passes: once a request has used its whole deadline, later requests fail
    /// at once (`timed_out` records that one did).
    give_up_after_timeout: bool,
    timed_out: AtomicBool,
}

/// How many levels of subordinate resources the service inlines in one answer with
/// `$expand=.($levels=N)`, from the service root's `ProtocolFeaturesSupported.ExpandQuery`; 0 when it
/// does not expand (sushy-emulator, older BMCs).
pub fn expand_levels(root: &Value) -> u32 {
    let Some(q) = root.pointer("/ProtocolFeaturesSupported/ExpandQuery") else {
        return 0;
    };
    if q.get("NoLinks").and_then(Value::as_bool) != Some(true) {
        return 0;
    }
    if q.get("Levels").and_then(Value::as_bool) == Some(true) {
        q.get("MaxLevels")
            .and_then(Value::as_u64)
            .unwrap_or(1)
            .clamp(1, 6) as u32
    } else {
        1
    }
}

/// Whether an attempt may be repeated without risking doing the change twice.
fn idempotent(method: &Method) -> bool {
    *method != Method::POST
}

impl Client {
    pub fn new(ep: Endpoint) -> Result<Client, BmcError> {
        let parsed = reqwest::Url::parse(&ep.url).map_err(|e| BmcError::BadEndpoint {
            bmc: ep.url.clone(),
            detail: format!("not a URL ({e}); expected https://host[:port]"),
        })?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(BmcError::BadEndpoint {
                bmc: ep.url.clone(),
                detail: "expected an http or https URL with a host".into(),
            });
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(BmcError::BadEndpoint {
                bmc: crate::rules::redacted(&ep.url),
                detail: "the URL carries a user or password; give them as the username and password, never in the URL".into(),
            });
        }
        let base = parsed.origin().ascii_serialization();
        let http = http_client(&ep)?;
        let permits = Semaphore::new(ep.limits.max_connections.max(1));
        Ok(Client {
            ep,
            base,
            http,
            auth: Mutex::new(Auth::Unknown),
            permits,
            root: OnceCell::new(),
            expand_refused: AtomicBool::new(false),
            documents: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            give_up_after_timeout: false,
            timed_out: AtomicBool::new(false),
        })
    }

    pub fn address(&self) -> &str {
        &self.base
    }

    /// For a read-only pass: after one request has used its whole deadline, the others fail at once
    /// (a BMC that did not answer in the timeout is not waited for again by the same pass).
    pub fn give_up_after_a_timeout(&mut self) {
        self.give_up_after_timeout = true;
    }

    /// The bounds this client was made with.
    pub fn limits(&self) -> &super::super::Limits {
        &self.ep.limits
    }

    /// Answers read by this client so far, and their bytes.
    pub fn read_so_far(&self) -> (u64, u64) {
        (
            self.documents.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
        )
    }

    /// The URL of a path (`/redfish/v1/...`) or of a link the BMC returned, on the BMC's own origin
    /// only: a link to another scheme, host or port (HTTPS to HTTP included) is refused, so the
    /// session token and the password never leave the BMC they belong to. A path without its
    /// leading slash is taken from the root (`@evil/x` cannot become userinfo).
    pub fn url_for(&self, path: &str, operation: &str) -> Result<String, BmcError> {
        let lower = path.trim_start().to_ascii_lowercase();
        if lower.starts_with("http://") || lower.starts_with("https://") || lower.starts_with("//")
        {
            let same = reqwest::Url::parse(path.trim())
                .or_else(|_| reqwest::Url::parse(&format!("{}:{}", self.scheme(), path.trim())))
                .ok()
                .filter(|u| u.origin().ascii_serialization() == self.base);
            return match same {
                Some(u) => Ok(u.to_string()),
                None => Err(BmcError::CrossOrigin {
                    bmc: self.base.clone(),
                    operation: operation.into(),
                    link: without_userinfo(path),
                }),
            };
        }
        if path.starts_with('/') {
            Ok(format!("{}{}", self.base, path))
        } else {
            Ok(format!("{}/{}", self.base, path))
        }
    }

    fn scheme(&self) -> &str {
        self.base.split(':').next().unwrap_or("https")
    }

    fn transport(&self, operation: &str, e: reqwest::Error) -> BmcError {
        let mut untrusted = false;
        let hint = if e.is_timeout() {
            Some(format!(
                "no complete answer within {}s",
                self.ep.limits.request_timeout.as_secs()
            ))
        } else if e.is_connect() {
            let chain = error_chain(&e);
            if chain.contains("certificate")
                || chain.contains("Certificate")
                || chain.contains("fingerprint")
            {
                untrusted = true;
                Some(tls_hint(&chain))
            } else {
                Some(format!("connection failed: {chain}"))
            }
        } else {
            Some(error_chain(&e))
        };
        BmcError::Transport {
            bmc: self.base.clone(),
            operation: operation.into(),
            hint,
            untrusted,
            error: e,
        }
    }

    /// An answer's body, read up to `limits.max_body`: a longer one is refused as soon as its
    /// length is announced or exceeded, so a hostile or broken BMC costs bounded memory.
    async fn body(&self, mut resp: reqwest::Response, operation: &str) -> Result<String, BmcError> {
        let max = self.ep.limits.max_body;
        let too_large = |what: String| BmcError::Decode {
            bmc: self.base.clone(),
            operation: operation.into(),
            detail: format!(
                "{what}, more than the {} MiB this client reads; not read",
                max >> 20
            ),
        };
        if let Some(len) = resp.content_length().filter(|l| *l > max as u64) {
            return Err(too_large(format!("the answer announces {len} bytes")));
        }
        let mut buf: Vec<u8> = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| self.transport(operation, e))?
        {
            if buf.len() + chunk.len() > max {
                return Err(too_large("the answer kept coming".into()));
            }
            buf.extend_from_slice(&chunk);
        }
        self.documents.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    /// The service root when it has been read already.
    pub fn cached_root(&self) -> Option<&Value> {
        self.root.get()
    }

    /// The service root (unauthenticated, cached).
    pub async fn root(&self) -> Result<&Value, BmcError> {
        self.root
            .get_or_try_init(|| async {
                let r = self
                    .request(
                        Method::GET,
                        "/redfish/v1/",
                        None,
                        None,
                        "read the service root",
                    )
                    .await?;
                Ok(r.body)
            })
            .await
    }

    async fn login(&self) -> Result<Auth, BmcError> {
        let root = self.root().await?;
        let sessions = root
            .pointer("/Links/Sessions/@odata.id")
            .and_then(Value::as_str)
            .unwrap_or("/redfish/v1/SessionService/Sessions")
            .to_string();
        // A session service on another origin is not ours to give the password to: basic auth
        // to the BMC itself is what is left.
        let Ok(url) = self.url_for(&sessions, "log in") else {
            tracing::warn!(bmc = %self.base, "the service root links its sessions to another origin; not logging in there");
            return Ok(Auth::Basic);
        };
        let body = json!({"UserName": self.ep.username, "Password": self.ep.password.expose()});
        let sent = self
            .with_headers(self.http.post(url))
            .json(&body)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            // No session service reachable: basic auth may still work.
            Err(_) => return Ok(Auth::Basic),
        };
        match resp.status() {
            // Some BMCs (sushy-emulator with an auth file) guard the session service itself with
            // basic auth: fall back to basic, and let the real request decide about the credentials.
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Ok(Auth::Basic),
            s if s.is_success() => {
                let token = resp
                    .headers()
                    .get("X-Auth-Token")
                    .and_then(|v| v.to_str().ok())
                    .map(String::from);
                let location = resp
                    .headers()
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .map(String::from);
                Ok(match token {
                    Some(t) => Auth::Token {
                        token: Secret::new(t),
                        location,
                    },
                    None => Auth::Basic,
                })
            }
            _ => Ok(Auth::Basic),
        }
    }

    fn with_headers(&self, b: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        b.header("OData-Version", "4.0")
            .header(ACCEPT, "application/json")
            .header(ACCEPT_ENCODING, "identity")
    }

    async fn current_auth(&self, needs_auth: bool) -> Result<Auth, BmcError> {
        if !needs_auth {
            return Ok(Auth::Unknown);
        }
        let mut auth = self.auth.lock().await;
        if matches!(*auth, Auth::Unknown) {
            // Boxed: logging in reads the service root through `request`, which comes back here.
            *auth = Box::pin(self.login()).await?;
        }
        Ok(auth.clone())
    }

    /// Sends a request with auth, retries and backoff. Non-2xx answers become errors; 202 and other
    /// 2xx are returned. One deadline, `request_timeout` from the call, bounds everything: the
    /// login, connecting, headers, the body, every retry and every backoff.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
        operation: &str,
    ) -> Result<Response, BmcError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .expect("the semaphore is never closed");
        let limits = self.ep.limits;
        if self.give_up_after_timeout && self.timed_out.load(Ordering::Relaxed) {
            return Err(BmcError::Timeout {
                bmc: self.base.clone(),
                operation: format!("{operation} (not asked: an earlier request of this pass got no answer in time)"),
                after: limits.request_timeout,
            });
        }
        let result = self
            .request_within(method, path, body, if_match, operation)
            .await;
        if let Err(e) = &result {
            if e.is_timeout() {
                self.timed_out.store(true, Ordering::Relaxed);
            }
        }
        result
    }

    async fn request_within(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        if_match: Option<&str>,
        operation: &str,
    ) -> Result<Response, BmcError> {
        let needs_auth = !matches!(path.trim_end_matches('/'), "/redfish/v1" | "/redfish");
        let limits = self.ep.limits;
        let deadline = Instant::now() + limits.request_timeout;
        let left = || deadline.saturating_duration_since(Instant::now());
        let out_of_time = || BmcError::Timeout {
            bmc: self.base.clone(),
            operation: operation.into(),
            after: limits.request_timeout,
        };
        let mut relogged = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let auth = tokio::time::timeout(left(), self.current_auth(needs_auth))
                .await
                .map_err(|_| out_of_time())??;
            if left().is_zero() {
                return Err(out_of_time());
            }
            let url = self.url_for(path, operation)?;
            let mut b = self
                .with_headers(self.http.request(method.clone(), url))
                .timeout(left());
            b = match &auth {
                Auth::Token { token, .. } => b.header("X-Auth-Token", token.expose()),
                Auth::Basic => b.basic_auth(&self.ep.username, Some(self.ep.password.expose())),
                Auth::Unknown => b,
            };
            if let Some(tag) = if_match {
                b = b.header(IF_MATCH, tag);
            }
            if let Some(v) = body {
                b = b.json(v);
            }
            tracing::trace!(bmc = %self.base, %method, path, attempt, "request");
            let backoff = limits
                .backoff
                .checked_mul(2u32.saturating_pow(attempt - 1))
                .unwrap_or(limits.max_backoff)
                .min(limits.max_backoff);
            let resp = match b.send().await {
                Ok(r) => r,
                Err(e) => {
                    // A connection that never opened carried nothing: safe to retry any method. TLS
                    // failures are never retried: they will not heal.
                    let tls = error_chain(&e).to_ascii_lowercase().contains("certificate");
                    let retry = !tls
                        && (idempotent(&method) || e.is_connect())
                        && attempt < limits.attempts
                        && backoff < left();
                    if retry {
                        tracing::debug!(bmc = %self.base, operation, attempt, error = %e, "retrying after a transport error");
                        tokio::time::sleep(backoff).await;
                        continue;
                    }
                    return Err(self.transport(operation, e));
                }
            };
            let status = resp.status();
            let headers = resp.headers().clone();
            if status == StatusCode::UNAUTHORIZED && needs_auth {
                if matches!(auth, Auth::Token { .. }) && !relogged {
                    // The session expired or was dropped: log in again, once.
                    relogged = true;
                    *self.auth.lock().await = Auth::Unknown;
                    continue;
                }
                return Err(BmcError::Unauthorized {
                    bmc: self.base.clone(),
                    operation: operation.into(),
                    username: self.ep.username.clone(),
                });
            }
            let text = tokio::time::timeout(left(), self.body(resp, operation))
                .await
                .map_err(|_| out_of_time())??;
            let parsed: Option<Value> = if text.trim().is_empty() {
                Some(Value::Null)
            } else {
                serde_json::from_str(&text).ok()
            };
            if status.is_server_error() {
                // 503 means the BMC did not take the request: "not ready", retryable even for POST.
                let not_ready = status == StatusCode::SERVICE_UNAVAILABLE;
                let wait = retry_after(&headers)
                    .map(|d| d.min(limits.max_backoff))
                    .unwrap_or(backoff);
                if (idempotent(&method) || not_ready) && attempt < limits.attempts && wait < left()
                {
                    tracing::debug!(bmc = %self.base, operation, attempt, status = status.as_u16(), "retrying after a server error");
                    tokio::time::sleep(wait).await;
                    continue;
                }
            }
            if status.is_redirection() {
                let location = headers
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .map(crate::rules::redacted)
                    .unwrap_or_else(|| "nowhere (no Location)".into());
                return Err(BmcError::Redirect {
                    bmc: self.base.clone(),
                    operation: operation.into(),
                    status: status.as_u16(),
                    location,
                });
            }
            if !status.is_success() {
                return Err(BmcError::Status {
                    bmc: self.base.clone(),
                    operation: operation.into(),
                    status: status.as_u16(),
                    messages: parsed.as_ref().map(extended_info).unwrap_or_default(),
                });
            }
            let body = parsed.ok_or_else(|| BmcError::Decode {
                bmc: self.base.clone(),
                operation: operation.into(),
                detail: format!("{} bytes that do not parse as JSON", text.len()),
            })?;
            return Ok(Response {
                status: status.as_u16(),
                headers,
                body,
            });
        }
    }

    pub async fn get(&self, path: &str, operation: &str) -> Result<Value, BmcError> {
        Ok(self
            .request(Method::GET, path, None, None, operation)
            .await?
            .body)
    }

    /// GET with subordinate resources up to `levels` deep inlined, when the service supports
    /// `$expand`; a plain GET otherwise. Readers follow links with [`super::RedfishBmc`]'s `follow`,
    /// which uses an inlined document and reads a bare link, so both answers work.
    pub async fn get_expanded(
        &self,
        path: &str,
        levels: u32,
        operation: &str,
    ) -> Result<Value, BmcError> {
        let max = if self.expand_refused.load(Ordering::Relaxed) {
            0
        } else {
            expand_levels(self.root().await?)
        };
        let n = levels.min(max);
        if n == 0 || path.contains('?') {
            return self.get(path, operation).await;
        }
        match self
            .get(&format!("{path}?$expand=.($levels={n})"), operation)
            .await
        {
            // Advertised but refused (some firmware does): fall back for the rest of the client.
            Err(e) if matches!(e.status(), Some(400 | 405 | 501)) => {
                self.expand_refused.store(true, Ordering::Relaxed);
                self.get(path, operation).await
            }
            // Some services (static mockup servers, some firmware) answer 404 to any query: the
            // plain path decides whether the resource exists, and whether expansion is refused.
            Err(e) if e.status() == Some(404) => {
                let plain = self.get(path, operation).await?;
                self.expand_refused.store(true, Ordering::Relaxed);
                Ok(plain)
            }
            other => other,
        }
    }

    pub async fn post(
        &self,
        path: &str,
        body: &Value,
        operation: &str,
    ) -> Result<Response, BmcError> {
        self.request(Method::POST, path, Some(body), None, operation)
            .await
    }

    pub async fn delete(
        &self,
        path: &str,
        body: Option<&Value>,
        operation: &str,
    ) -> Result<Response, BmcError> {
        self.request(Method::DELETE, path, body, None, operation)
            .await
    }

    /// PATCH guarded by the resource's ETag. On 412 a weak tag is retried as strong, then the PATCH is
    /// sent without `If-Match`, as BMCs with broken ETag handling need.
    pub async fn patch(
        &self,
        path: &str,
        body: &Value,
        operation: &str,
    ) -> Result<Response, BmcError> {
        let current = self
            .request(Method::GET, path, None, None, operation)
            .await?;
        let Some(tag) = current
            .headers
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
        else {
            return self
                .request(Method::PATCH, path, Some(body), None, operation)
                .await;
        };
        let mut tags = vec![Some(tag.clone())];
        if let Some(strong) = tag.strip_prefix("W/") {
            tags.push(Some(strong.to_string()));
        }
        tags.push(None);
        let mut last = None;
        for t in tags {
            match self
                .request(Method::PATCH, path, Some(body), t.as_deref(), operation)
                .await
            {
                Err(e) if e.status() == Some(412) => last = Some(e),
                other => return other,
            }
        }
        Err(last.expect("at least one attempt"))
    }

    /// Follows a task monitor (or a task URI) until the task ends.
    pub async fn wait_task(
        &self,
        task: &TaskRef,
        timeout: Duration,
        operation: &str,
    ) -> Result<TaskOutcome, BmcError> {
        let deadline = Instant::now() + timeout;
        loop {
            let r = self
                .request(Method::GET, &task.monitor, None, None, operation)
                .await?;
            let state = r
                .body
                .get("TaskState")
                .and_then(Value::as_str)
                .map(String::from);
            let messages = r
                .body
                .get("Messages")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|m| m.get("Message").and_then(Value::as_str).map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            let running = r.status == 202
                || matches!(
                    state.as_deref(),
                    Some(
                        "New"
                            | "Starting"
                            | "Running"
                            | "Pending"
                            | "Stopping"
                            | "Suspended"
                            | "Interrupted"
                    )
                );
            if !running {
                return match state.as_deref() {
                    // A monitor that answers without a task body means the work is done.
                    None | Some("Completed") => Ok(TaskOutcome {
                        state: state.unwrap_or_else(|| "Completed".into()),
                        messages,
                    }),
                    Some(s) => Err(BmcError::TaskFailed {
                        bmc: self.base.clone(),
                        operation: operation.into(),
                        state: s.into(),
                        messages,
                    }),
                };
            }
            if Instant::now() >= deadline {
                return Err(BmcError::Timeout {
                    bmc: self.base.clone(),
                    operation: operation.into(),
                    after: timeout,
                });
            }
            let wait = retry_after(&r.headers)
                .unwrap_or(Duration::from_secs(1))
                .clamp(Duration::from_millis(100), Duration::from_secs(10));
            tokio::time::sleep(wait.min(deadline.saturating_duration_since(Instant::now()))).await;
        }
    }

    /// A session of its own, for someone else to use for a while (the provider's ephemeral
    /// `baremetal_bmc_session`): its token and its resource. Refused where the BMC gives no token
    /// (reached with basic authentication only).
    pub async fn open_session(&self) -> Result<(Secret, String), BmcError> {
        match self.login().await? {
            Auth::Token {
                token,
                location: Some(location),
            } => Ok((token, location)),
            _ => Err(BmcError::NotSupported {
                bmc: self.base.clone(),
                operation: "open a session".into(),
                detail: "its session service gave no token and session resource (it is reached with basic authentication only)".into(),
            }),
        }
    }

    /// Reads a session's own resource with its token: it is alive, and kept from idling out.
    pub async fn touch_session(&self, token: &Secret, location: &str) -> Result<(), BmcError> {
        let operation = "renew the session";
        let url = self.url_for(location, operation)?;
        let sent = self
            .with_headers(self.http.get(url))
            .header("X-Auth-Token", token.expose())
            .send()
            .await
            .map_err(|e| self.transport(operation, e))?;
        match sent.status() {
            s if s.is_success() => Ok(()),
            s => Err(BmcError::Status {
                bmc: self.base.clone(),
                operation: operation.into(),
                status: s.as_u16(),
                messages: vec!["the session has ended on the BMC".into()],
            }),
        }
    }

    /// Whether the BMC answers its service root now (one unauthenticated request, no retry):
    /// for waiting out a BMC restart.
    pub async fn answers(&self) -> bool {
        let Ok(url) = self.url_for("/redfish/v1/", "read the service root") else {
            return false;
        };
        matches!(
            self.with_headers(self.http.get(url)).send().await,
            Ok(r) if r.status().is_success()
        )
    }

    /// This client's own session, when it has one (token and resource).
    pub async fn current_session(&self) -> Option<(Secret, String)> {
        match &*self.auth.lock().await {
            Auth::Token {
                token,
                location: Some(l),
            } => Some((token.clone(), l.clone())),
            _ => None,
        }
    }

    /// Forgets this client's session without ending it (the BMC restarted: it ended with it).
    pub async fn forget_session(&self) {
        *self.auth.lock().await = Auth::Unknown;
    }

    /// Deletes a session given out by [`Client::open_session`]. Never fails: a session that
    /// cannot be deleted expires on the BMC.
    pub async fn close_session(&self, token: &Secret, location: &str) {
        let Ok(url) = self.url_for(location, "close the session") else {
            return;
        };
        let _ = self
            .with_headers(self.http.delete(url))
            .header("X-Auth-Token", token.expose())
            .send()
            .await;
    }

    /// Ends the session, if one was opened.
    pub async fn logout(&self) {
        let auth = std::mem::replace(&mut *self.auth.lock().await, Auth::Unknown);
        if let Auth::Token {
            token,
            location: Some(loc),
        } = auth
        {
            let Ok(url) = self.url_for(&loc, "log out") else {
                return;
            };
            let _ = self
                .with_headers(self.http.delete(url))
                .header("X-Auth-Token", token.expose())
                .send()
                .await;
        }
    }
}

/// What a failed TLS handshake means, in words, with what to do: rustls/webpki name the reason
/// (`CaUsedAsEndEntity`, `UnknownIssuer`…), which is kept at the end for search.
fn tls_hint(chain: &str) -> String {
    let fix = "pass the CA bundle that issued it with --ca-cert (ca_cert), pin the certificate's SHA-256 with --fingerprint (fingerprint), or, for a lab only, --insecure";
    let reason = [
        (
            "CaUsedAsEndEntity",
            "the server's certificate is a CA certificate used as an end-entity (self-signed)",
        ),
        (
            "UnknownIssuer",
            "the server's certificate was issued by a CA that is not trusted",
        ),
        (
            "NotValidForName",
            "the server's certificate is not valid for this address",
        ),
        ("Expired", "the server's certificate has expired"),
        (
            "NotValidYet",
            "the server's certificate is not valid yet (check the clocks)",
        ),
        (
            "BadSignature",
            "the server's certificate has a bad signature",
        ),
        (
            "does not match the pinned",
            "the server's certificate does not match the pinned fingerprint",
        ),
    ]
    .iter()
    .find(|(needle, _)| chain.contains(needle))
    .map(|(_, words)| *words)
    .unwrap_or("the server's certificate was not accepted");
    format!("TLS: {reason}; {fix} [{chain}]")
}

/// A link as it may be shown: any user name and password in it replaced by `***`.
fn without_userinfo(link: &str) -> String {
    match reqwest::Url::parse(link.trim()) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("***");
            let _ = u.set_password(None);
            u.to_string()
        }
        Ok(u) => u.to_string(),
        Err(_) => "a link that is not a URL".into(),
    }
}

fn retry_after(h: &HeaderMap) -> Option<Duration> {
    h.get(RETRY_AFTER)
        .and_then(|v: &HeaderValue| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// The messages of a Redfish error body (`@Message.ExtendedInfo`, else `error.message`).
pub fn extended_info(body: &Value) -> Vec<String> {
    let mut out: Vec<String> = body
        .pointer("/error/@Message.ExtendedInfo")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|m| m.get("Message").and_then(Value::as_str).map(String::from))
                .collect()
        })
        .unwrap_or_default();
    if out.is_empty() {
        if let Some(m) = body.pointer("/error/message").and_then(Value::as_str) {
            out.push(m.to_string());
        }
    }
    out
}

/// An error and its sources, each said once: what a transport failure really was.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = Some(e);
    while let Some(s) = cur {
        let t = s.to_string();
        // reqwest's outer layer names the request URL, which the error's prefix already says.
        if !t.starts_with("error sending request for url") && !parts.iter().any(|p| p.contains(&t))
        {
            parts.push(t);
        }
        cur = s.source();
    }
    if parts.is_empty() {
        parts.push(e.to_string());
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_followed_on_the_bmcs_own_origin_only() {
        let ep = Endpoint::new(
            "https://10.1.0.21:8443",
            "root",
            "secret",
            crate::bmc::TlsTrust::Insecure,
        );
        let c = Client::new(ep).unwrap();
        let op = "read";
        assert_eq!(
            c.url_for("/redfish/v1/Systems", op).unwrap(),
            "https://10.1.0.21:8443/redfish/v1/Systems"
        );
        // An absolute link to the same origin is fine, whatever its case.
        assert_eq!(
            c.url_for("HTTPS://10.1.0.21:8443/redfish/v1/Systems/1", op)
                .unwrap(),
            "https://10.1.0.21:8443/redfish/v1/Systems/1"
        );
        // Another host, another port, a downgrade to HTTP, a protocol-relative link: refused.
        for link in [
            "https://capture.example/steal/Sessions",
            "https://10.1.0.21:9443/redfish/v1",
            "http://10.1.0.21:8443/redfish/v1/Systems",
            "//capture.example/steal",
        ] {
            let e = c.url_for(link, op).unwrap_err();
            assert!(matches!(e, BmcError::CrossOrigin { .. }), "{link}: {e}");
        }
        // A path without its slash cannot turn the host into userinfo.
        assert_eq!(
            c.url_for("@capture.example/x", op).unwrap(),
            "https://10.1.0.21:8443/@capture.example/x"
        );
        // Credentials in a refused link are not repeated in the error.
        let e = c
            .url_for("https://admin:hunter2@capture.example/x", op)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("hunter2") && !e.contains("admin"), "{e}");
    }

    #[test]
    fn extended_info_prefers_message_entries() {
        let body = json!({"error": {"message": "general", "@Message.ExtendedInfo": [{"Message": "one"}, {"Message": "two"}]}});
        assert_eq!(extended_info(&body), ["one", "two"]);
        assert_eq!(
            extended_info(&json!({"error": {"message": "general"}})),
            ["general"]
        );
        assert!(extended_info(&json!({})).is_empty());
    }

    #[test]
    fn only_post_is_treated_as_non_idempotent() {
        assert!(!idempotent(&Method::POST));
        assert!(
            idempotent(&Method::PATCH) && idempotent(&Method::DELETE) && idempotent(&Method::GET)
        );
    }
}
