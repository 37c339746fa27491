//! Bulk enrollment: BMC lists from CSV or JSON, and discovery over address ranges. Each BMC is verified
//! (credentials) and inspected over Redfish with bounded concurrency, then written to the inventory,
//! which recognises duplicates by system UUID and serial whatever the address.

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::bmc::{EndpointPart, Limits, Secret};
use crate::inventory::{
    EnrollOutcome, EnrollResult, Inventory, InventoryError, NodeRegistration, NodeTls, Verification,
};

/// The most addresses one discovery may expand to.
pub const MAX_ADDRESSES: usize = 65_536;

#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("{file}: {detail}")]
    File { file: String, detail: String },
    /// Problems of a BMC list's cells, each with its row and column (all of them, one per line).
    #[error("{shown}")]
    Rows {
        file: String,
        problems: Vec<CellProblem>,
        shown: String,
    },
    #[error("an enrollment task failed")]
    Task(#[source] tokio::task::JoinError),
    /// An address range for discovery that cannot be expanded.
    #[error("{spec}: {detail}")]
    Range { spec: String, detail: String },
    #[error(transparent)]
    Inventory(#[from] InventoryError),
}

/// One entry of a BMC list as written: every cell as text (JSON booleans allowed for `insecure`),
/// judged by [`check_entry`] so that nothing is read as a default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    bmc_url: Option<String>,
    #[serde(default)]
    system_id: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
    #[serde(default)]
    ca_cert: Option<String>,
    #[serde(default)]
    fingerprint: Option<String>,
    #[serde(default)]
    insecure: Option<Flag>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    Number(f64),
    Text(String),
}

/// The columns of a BMC list, in their documented order.
const COLUMNS: [&str; 8] = [
    "name",
    "bmc_url",
    "system_id",
    "username",
    "password",
    "ca_cert",
    "fingerprint",
    "insecure",
];

/// The largest BMC list read, in bytes.
pub const MAX_LIST: u64 = 16 << 20;

fn nonempty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// A password value: literal text, or `env:NAME` to read it from the environment (so a BMC list can
/// live in a repository without its secrets).
fn password_value(v: &str) -> Result<Secret, String> {
    match v.strip_prefix("env:") {
        Some(var) => match std::env::var(var) {
            Ok(p) if !p.is_empty() => Ok(Secret::new(p)),
            Ok(_) => Err(format!(
                "the password names the environment variable {var}, which is empty"
            )),
            Err(_) => Err(format!(
                "the password names the environment variable {var}, which is not set"
            )),
        },
        None => Ok(Secret::new(v)),
    }
}

/// What is wrong with one cell: its row (the file's line for CSV, the element's number for JSON),
/// its column, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellProblem {
    pub row: usize,
    pub column: String,
    pub detail: String,
}

impl std::fmt::Display for CellProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "row {}, column {}: {}",
            self.row, self.column, self.detail
        )
    }
}

fn show_problems(file: &str, problems: &[CellProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("{file}: {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads a BMC list: CSV (header `name,bmc_url,system_id,username,password` and optionally
/// `ca_cert,fingerprint,insecure`) or JSON (an array of objects with those keys), chosen by the file's
/// extension (or its first character). `ca_cert` is a PEM file, relative to the list's directory.
///
/// Strict: `insecure` is `true` or `false` (or empty); names, users and passwords are not empty; a
/// URL carrying `user:password@` is refused; every problem of every row is reported with its row
/// and column, and nothing is enrolled from a list that has one.
pub fn read_bmc_list(path: &Path) -> Result<Vec<NodeRegistration>, EnrollError> {
    use std::io::Read;
    let file = path.display().to_string();
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_LIST + 1).read_to_end(&mut bytes))
        .map_err(|e| EnrollError::File {
            file: file.clone(),
            detail: e.to_string(),
        })?;
    if bytes.len() as u64 > MAX_LIST {
        return Err(EnrollError::File {
            file,
            detail: format!("the list is larger than {MAX_LIST} bytes"),
        });
    }
    let text = String::from_utf8(bytes).map_err(|e| EnrollError::File {
        file: file.clone(),
        detail: format!(
            "not UTF-8 (byte {} is not valid text)",
            e.utf8_error().valid_up_to()
        ),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || text.trim_start().starts_with('[');
    let mut problems: Vec<CellProblem> = Vec::new();
    let entries: Vec<(usize, Entry)> = if is_json {
        let v: Vec<serde_json::Value> =
            serde_json::from_str(text).map_err(|e| EnrollError::File {
                file: file.clone(),
                detail: format!("not a JSON list of BMCs: {e}"),
            })?;
        let mut out = Vec::new();
        for (i, item) in v.into_iter().enumerate() {
            match serde_json::from_value::<Entry>(item) {
                Ok(e) => out.push((i + 1, e)),
                Err(e) => problems.push(CellProblem {
                    row: i + 1,
                    column: column_of(&e.to_string()),
                    detail: format!("{e}; the keys are {}", COLUMNS.join(", ")),
                }),
            }
        }
        out
    } else {
        let mut rdr = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .comment(Some(b'#'))
            .flexible(true)
            .from_reader(text.as_bytes());
        let headers = rdr
            .headers()
            .map_err(|e| EnrollError::File {
                file: file.clone(),
                detail: e.to_string(),
            })?
            .clone();
        for required in ["name", "bmc_url", "username", "password"] {
            if !headers.iter().any(|h| h == required) {
                return Err(EnrollError::File {
                    file,
                    detail: format!(
                        "the CSV header lacks {required:?}; it must start name,bmc_url,system_id,username,password \
                         (optional: ca_cert,fingerprint,insecure)"
                    ),
                });
            }
        }
        if let Some(h) = headers.iter().find(|h| !COLUMNS.contains(h)) {
            return Err(EnrollError::File {
                file,
                detail: format!(
                    "unknown CSV column {:?}{} (known: {})",
                    crate::report::printable(h, false),
                    did_you_mean(h),
                    COLUMNS.join(", ")
                ),
            });
        }
        let mut seen_cols = std::collections::BTreeSet::new();
        if let Some(h) = headers.iter().find(|h| !seen_cols.insert(*h)) {
            return Err(EnrollError::File {
                file,
                detail: format!("the CSV header names the column {h:?} twice"),
            });
        }
        let mut out = Vec::new();
        for rec in rdr.records() {
            let rec = match rec {
                Ok(r) => r,
                Err(e) => {
                    problems.push(CellProblem {
                        row: e.position().map_or(0, |p| p.line() as usize),
                        column: "-".into(),
                        detail: e.to_string(),
                    });
                    continue;
                }
            };
            let row = rec.position().map_or(0, |p| p.line() as usize);
            if rec.len() != headers.len() {
                problems.push(CellProblem {
                    row,
                    column: "-".into(),
                    detail: format!(
                        "the row has {} fields and the header {}",
                        rec.len(),
                        headers.len()
                    ),
                });
                continue;
            }
            match rec.deserialize::<Entry>(Some(&headers)) {
                Ok(e) => out.push((row, e)),
                Err(e) => problems.push(CellProblem {
                    row,
                    column: column_of(&e.to_string()),
                    detail: e.to_string(),
                }),
            }
        }
        out
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let mut regs = Vec::new();
    let mut names: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for (row, e) in entries {
        let before = problems.len();
        let Some(reg) = check_entry(row, e, base, &mut problems) else {
            continue;
        };
        if problems.len() > before {
            continue;
        }
        if let Some(first) = names.insert(reg.name.clone(), row) {
            problems.push(CellProblem {
                row,
                column: "name".into(),
                detail: format!("the name {} is also on row {first}", reg.name),
            });
            continue;
        }
        regs.push(reg);
    }
    if !problems.is_empty() {
        problems.sort_by_key(|p| p.row);
        return Err(EnrollError::Rows {
            file: file.clone(),
            shown: show_problems(&file, &problems),
            problems,
        });
    }
    Ok(regs)
}

fn did_you_mean(column: &str) -> String {
    COLUMNS
        .iter()
        .find(|c| {
            let (a, b) = (column.to_ascii_lowercase(), c.to_string());
            a.len().abs_diff(b.len()) <= 2
                && a.chars().zip(b.chars()).filter(|(x, y)| x != y).count() <= 2
        })
        .map(|c| format!(" (did you mean {c:?}?)"))
        .unwrap_or_default()
}

/// The column a serde message names (`unknown field `x``, `missing field `x``), else `-`.
fn column_of(message: &str) -> String {
    message
        .split('`')
        .nth(1)
        .map(|c| crate::report::printable(c, false).into_owned())
        .unwrap_or_else(|| "-".into())
}

/// Judges one entry, cell by cell; `None` (with its problems recorded) when it cannot be read.
fn check_entry(
    row: usize,
    e: Entry,
    base: &Path,
    problems: &mut Vec<CellProblem>,
) -> Option<NodeRegistration> {
    let mut bad = |column: &str, detail: String| {
        problems.push(CellProblem {
            row,
            column: column.into(),
            detail,
        })
    };
    let name = e.name.unwrap_or_default().trim().to_string();
    if let Err(m) = crate::rules::name_ok(&name) {
        bad("name", m.0);
    }
    let raw_url = e.bmc_url.unwrap_or_default();
    let url = match crate::rules::url_ok(raw_url.trim(), crate::rules::BMC_SCHEMES) {
        Ok(u) => Some(u),
        Err(m) => {
            bad("bmc_url", m.0);
            None
        }
    };
    let username = e.username.unwrap_or_default().trim().to_string();
    if username.is_empty() {
        bad("username", "the user is empty".into());
    }
    let password = match e.password.as_deref().map(str::trim) {
        None | Some("") => {
            bad("password", "the password is empty".into());
            None
        }
        Some(p) => match password_value(p) {
            Ok(s) => Some(s),
            Err(m) => {
                bad("password", m);
                None
            }
        },
    };
    let insecure = match e.insecure {
        None => false,
        Some(Flag::Bool(b)) => b,
        Some(Flag::Number(n)) => {
            bad("insecure", format!("{n} is not true or false"));
            false
        }
        Some(Flag::Text(t)) => match t.trim() {
            "" | "false" => false,
            "true" => true,
            other => {
                bad(
                    "insecure",
                    format!(
                        "{} is not true or false",
                        crate::report::printable(&format!("{other:?}"), false)
                    ),
                );
                false
            }
        },
    };
    let ca_cert_pem = match nonempty(e.ca_cert) {
        Some(p) => {
            let p = base.join(p);
            match std::fs::read_to_string(&p) {
                Ok(pem) if pem.contains("BEGIN CERTIFICATE") => Some(pem),
                Ok(_) => {
                    bad(
                        "ca_cert",
                        format!("{} holds no PEM certificate", p.display()),
                    );
                    None
                }
                Err(x) => {
                    bad("ca_cert", format!("{}: {x}", p.display()));
                    None
                }
            }
        }
        None => None,
    };
    let fingerprint = nonempty(e.fingerprint);
    if let Some(fp) = &fingerprint {
        if crate::bmc::parse_fingerprint(fp).is_none() {
            bad(
                "fingerprint",
                "not a SHA-256 fingerprint (64 hex digits, colons allowed)".into(),
            );
        }
    }
    let trusts = [
        ("ca_cert", ca_cert_pem.is_some()),
        ("fingerprint", fingerprint.is_some()),
        ("insecure", insecure),
    ];
    let set: Vec<&str> = trusts.iter().filter(|t| t.1).map(|t| t.0).collect();
    if set.len() > 1 {
        bad(
            set[1],
            format!("{} contradict each other: choose one", set.join(" and ")),
        );
    }
    if let (Some(u), Some(k)) = (&url, set.iter().find(|k| **k != "insecure")) {
        if u.scheme() == "http" {
            bad(
                k,
                "set on an http:// BMC, which would be reached in clear; use https://".into(),
            );
        }
    }
    let system_id = nonempty(e.system_id).unwrap_or_default();
    if system_id.chars().any(char::is_control) {
        bad(
            "system_id",
            "the system id holds a control character".into(),
        );
    }
    Some(NodeRegistration {
        name,
        bmc_url: url.map(|_| raw_url.trim().trim_end_matches('/').to_string())?,
        system_id,
        username,
        password: password?,
        tls: NodeTls {
            ca_cert_pem,
            fingerprint,
            insecure,
        },
    })
}

/// Talks to one BMC: verifies the credentials, picks the system, inspects it.
pub async fn verify(reg: &mut NodeRegistration, limits: Limits) -> Verification {
    let refused = |part, message| Verification::VerifyFailed { part, message };
    let mut ep = reg.endpoint();
    ep.limits = limits;
    let bmc = match crate::bmc::open(ep, crate::bmc::Purpose::Change) {
        Ok(b) => b,
        Err(e) => return refused(e.part(), e.to_string()),
    };
    let systems = match bmc.systems().await {
        Ok(s) => s,
        Err(e) => return refused(e.part(), e.to_string()),
    };
    if reg.system_id.is_empty() {
        match systems.as_slice() {
            [one] => reg.system_id = one.clone(),
            [] => {
                return refused(
                    EndpointPart::System,
                    format!("{}: the BMC lists no systems", reg.bmc_url),
                )
            }
            many => {
                return refused(
                    EndpointPart::System,
                    format!(
                        "{}: the BMC manages {} systems ({}); give system_id",
                        reg.bmc_url,
                        many.len(),
                        crate::report::few(many)
                    ),
                )
            }
        }
    } else if !systems.contains(&reg.system_id) {
        return refused(
            EndpointPart::System,
            format!(
                "{}: no system {:?} (it has {})",
                reg.bmc_url,
                reg.system_id,
                systems.join(", ")
            ),
        );
    }
    let v = match bmc.inspect(&reg.system_id).await {
        Ok(inv) => Verification::Inspected(Box::new(inv)),
        Err(e) => Verification::InspectFailed(e.to_string()),
    };
    bmc.logout().await;
    v
}

/// Verifies, inspects and enrolls every registration. The BMCs are talked to `concurrency` at a time;
/// the results are then written in the list's order, so when two rows are the same machine the first
/// one is enrolled and the later one is the duplicate, whatever answered first. One BMC's failure does
/// not stop the others.
pub async fn enroll_all(
    inventory: &Inventory,
    regs: Vec<NodeRegistration>,
    concurrency: usize,
    limits: Limits,
    on_done: impl Fn(&EnrollOutcome) + Send + Sync + 'static,
) -> Result<Vec<EnrollOutcome>, EnrollError> {
    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, mut reg) in regs.into_iter().enumerate() {
        let sem = sem.clone();
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await;
            let v = verify(&mut reg, limits).await;
            (i, reg, v)
        });
    }
    let mut verified = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        verified.push(joined.map_err(EnrollError::Task)?);
    }
    verified.sort_by_key(|(i, _, _)| *i);
    let mut out = Vec::with_capacity(verified.len());
    for (_, reg, v) in verified {
        let o = inventory.enroll(&reg, &v).await?;
        on_done(&o);
        out.push(o);
    }
    Ok(out)
}

/// Whether every outcome left a usable node (enrolled or refreshed).
pub fn all_succeeded(outcomes: &[EnrollOutcome]) -> bool {
    outcomes
        .iter()
        .all(|o| matches!(o.result, EnrollResult::Enrolled | EnrollResult::Updated))
}

/// Expands one discovery range into BMC base URLs. Forms (scheme optional, `https` by default;
/// `ipmi://` probes IPMI): `10.0.0.5`, `10.0.0.5-40` (last octet), `10.0.0.0/28`, `bmc.example`,
/// each with an optional `:PORT` or `:PORT-PORT`.
pub fn expand_range(spec: &str) -> Result<Vec<String>, EnrollError> {
    let spec = spec.trim();
    let bad = |detail: String| EnrollError::Range {
        spec: spec.to_string(),
        detail,
    };
    let (scheme, rest) = match spec.split_once("://") {
        Some((s @ ("http" | "https" | "ipmi"), r)) => (s, r),
        Some((s, _)) => return Err(bad(format!("scheme {s:?} is not http, https or ipmi"))),
        None => ("https", spec),
    };
    // An IPMI range may name the cipher suite (`?cipher_suite=3`): every address gets it.
    let (rest, query) = match rest.split_once('?') {
        Some((r, q)) if scheme == "ipmi" => (r, format!("?{q}")),
        Some(_) => {
            return Err(bad(
                "only an ipmi:// range takes a query (cipher_suite)".into()
            ))
        }
        None => (rest, String::new()),
    };
    let rest = rest.trim_end_matches('/');
    let (host, ports) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.contains(']') || h.ends_with(']') => {
            let (a, b) = match p.split_once('-') {
                Some((a, b)) => (a, b),
                None => (p, p),
            };
            let a: u16 = a.parse().map_err(|_| bad(format!("bad port {a:?}")))?;
            let b: u16 = b.parse().map_err(|_| bad(format!("bad port {b:?}")))?;
            if a > b || a == 0 {
                return Err(bad(format!("the port range {a}-{b} is empty")));
            }
            (h, Some((a, b)))
        }
        _ => (rest, None),
    };
    let hosts: Vec<String> = if let Some((net, prefix)) = host.split_once('/') {
        let ip: Ipv4Addr = net
            .parse()
            .map_err(|_| bad(format!("{net:?} is not an IPv4 network")))?;
        let prefix: u32 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| bad(format!("bad prefix length {prefix:?}")))?;
        let size = 1u64 << (32 - prefix);
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        };
        let base = u32::from(ip) & mask;
        let (first, last) = if prefix >= 31 {
            (base as u64, base as u64 + size - 1)
        } else {
            (base as u64 + 1, base as u64 + size - 2)
        };
        if last - first + 1 > MAX_ADDRESSES as u64 {
            return Err(bad(format!("more than {MAX_ADDRESSES} addresses")));
        }
        (first..=last)
            .map(|a| Ipv4Addr::from(a as u32).to_string())
            .collect()
    } else if let Some((start, end)) = host
        .rsplit_once('-')
        .filter(|(s, _)| s.parse::<Ipv4Addr>().is_ok())
    {
        let ip: Ipv4Addr = start.parse().map_err(|_| bad("bad address".to_string()))?;
        let o = ip.octets();
        let end: u8 = end
            .parse()
            .map_err(|_| bad(format!("{end:?} is not a last octet")))?;
        if end < o[3] {
            return Err(bad("the address range is empty".to_string()));
        }
        (o[3]..=end)
            .map(|x| Ipv4Addr::new(o[0], o[1], o[2], x).to_string())
            .collect()
    } else if host.is_empty() {
        return Err(bad("no host".to_string()));
    } else {
        vec![host.to_string()]
    };
    let mut out = Vec::new();
    for h in hosts {
        match ports {
            Some((a, b)) => {
                for p in a..=b {
                    out.push(format!("{scheme}://{h}:{p}{query}"));
                }
            }
            None => out.push(format!("{scheme}://{h}{query}")),
        }
        if out.len() > MAX_ADDRESSES {
            return Err(bad(format!("more than {MAX_ADDRESSES} addresses")));
        }
    }
    Ok(out)
}

/// What a discovery probe found at one address.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub url: String,
    /// `redfish` (a service root answered), `ipmi` (an IPMI BMC opened a session), `absent`
    /// (nothing listens), or `error` (something answered, but not as a BMC of its scheme: TLS
    /// refused, not JSON, credentials refused…).
    pub found: String,
    pub detail: Option<String>,
    pub systems: Vec<String>,
}

impl Probe {
    /// One line of `bmplan nodes discover`'s progress: the address, what answered, its systems.
    pub fn line(&self) -> String {
        let systems = if self.systems.is_empty() {
            String::new()
        } else {
            format!(" (systems {})", self.systems.join(", "))
        };
        let detail = self
            .detail
            .as_deref()
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        format!("{}: {}{systems}{detail}", self.url, self.found)
    }

    /// The summary of a discovery: how many addresses, Redfish services, IPMI BMCs and other
    /// answers.
    pub fn summary(probes: &[Probe]) -> String {
        let count = |what: &str| probes.iter().filter(|p| p.found == what).count();
        let ipmi = match count("ipmi") {
            0 => String::new(),
            n => format!(", {n} IPMI BMCs"),
        };
        format!(
            "probed {} addresses: {} Redfish services{ipmi}, {} other answers",
            probes.len(),
            count("redfish"),
            count("error")
        )
    }
}

/// Credentials and trust for discovered BMCs: the same for the whole range.
#[derive(Debug, Clone)]
pub struct DiscoveryLogin {
    pub username: String,
    pub password: Secret,
    pub tls: NodeTls,
}

/// Probes every address, `concurrency` at a time, and lists the systems of those that answer:
/// Redfish's service root (unauthenticated), or for `ipmi://` addresses the BMC's device id
/// (IPMI opens no session without the credentials). `timeout` bounds each probe.
pub async fn discover(
    urls: Vec<String>,
    login: &DiscoveryLogin,
    concurrency: usize,
    timeout: Duration,
) -> Vec<Probe> {
    let sem = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, url) in urls.into_iter().enumerate() {
        let sem = sem.clone();
        let login = login.clone();
        tasks.spawn(async move {
            let _permit = sem.acquire_owned().await;
            (i, probe(url, &login, timeout).await)
        });
    }
    let mut out: Vec<(usize, Probe)> = Vec::new();
    while let Some(Ok(r)) = tasks.join_next().await {
        out.push(r);
    }
    out.sort_by_key(|(i, _)| *i);
    out.into_iter().map(|(_, p)| p).collect()
}

async fn probe(url: String, login: &DiscoveryLogin, timeout: Duration) -> Probe {
    let reg = NodeRegistration {
        name: String::new(),
        bmc_url: url.clone(),
        system_id: String::new(),
        username: login.username.clone(),
        password: login.password.clone(),
        tls: login.tls.clone(),
    };
    let mut ep = reg.endpoint();
    ep.limits = Limits {
        request_timeout: timeout,
        connect_timeout: timeout,
        attempts: 1,
        ..Limits::default()
    };
    let fail = |found: &str, detail: String| Probe {
        url: url.clone(),
        found: found.into(),
        detail: Some(detail),
        systems: vec![],
    };
    let bmc = match crate::bmc::open(ep, crate::bmc::Purpose::Change) {
        Ok(b) => b,
        Err(e) => return fail("error", e.to_string()),
    };
    match bmc.probe().await {
        Ok(()) => {}
        Err(crate::bmc::BmcError::Transport { hint, .. })
            if hint
                .as_deref()
                .is_some_and(|h| h.starts_with("connection failed")) =>
        {
            return fail("absent", hint.unwrap_or_default())
        }
        Err(crate::bmc::BmcError::Timeout { .. }) => {
            return fail("absent", "no answer in time".into())
        }
        Err(crate::bmc::BmcError::Unreachable { detail, .. }) => return fail("absent", detail),
        Err(e) => return fail("error", e.to_string()),
    }
    let found = crate::hardware::Protocol::of(&url)
        .name()
        .to_ascii_lowercase();
    match bmc.systems().await {
        Ok(systems) => {
            bmc.logout().await;
            Probe {
                url,
                found,
                detail: None,
                systems,
            }
        }
        Err(e) => Probe {
            url,
            found,
            detail: Some(e.to_string()),
            systems: vec![],
        },
    }
}

/// The registrations discovery found: one per system. Names are `<prefix><host>-<port>[-<system>]`
/// until inspection gives better facts; operators rename nothing, the name is stable per address.
pub fn registrations(
    probes: &[Probe],
    login: &DiscoveryLogin,
    prefix: &str,
) -> Vec<NodeRegistration> {
    let mut out = Vec::new();
    for p in probes
        .iter()
        .filter(|p| matches!(p.found.as_str(), "redfish" | "ipmi"))
    {
        let addr = p
            .url
            .split_once("://")
            .map(|(_, r)| r)
            .unwrap_or(&p.url)
            .replace([':', '.', '[', ']'], "-");
        for s in &p.systems {
            let name = if p.systems.len() == 1 {
                format!("{prefix}{addr}")
            } else {
                format!("{prefix}{addr}-{}", s.to_ascii_lowercase())
            };
            out.push(NodeRegistration {
                name,
                bmc_url: p.url.clone(),
                system_id: s.clone(),
                username: login.username.clone(),
                password: login.password.clone(),
                tls: login.tls.clone(),
            });
        }
    }
    out
}

/// `bmplan nodes manage`: applies `manage`; when that starts a verification (from enroll or verify
/// failed), checks the stored credentials against the BMC and records verified or fail.
pub async fn manage(
    inventory: &Inventory,
    name: &str,
    limits: Limits,
) -> Result<crate::inventory::NodeRecord, InventoryError> {
    use crate::lifecycle::{Event, ProvisionState};
    let n = inventory.transition(name, Event::Manage, None).await?;
    if n.state != ProvisionState::Verifying {
        return Ok(n);
    }
    let (mut ep, system) = inventory.node_endpoint(name).await?;
    ep.limits = limits;
    let outcome = match crate::bmc::open(ep, crate::bmc::Purpose::Change) {
        Ok(bmc) => {
            let r = bmc.systems().await;
            bmc.logout().await;
            match r {
                Ok(s) if s.contains(&system) => Ok(()),
                Ok(s) => Err(format!("no system {system:?} (it has {})", s.join(", "))),
                Err(e) => Err(e.to_string()),
            }
        }
        Err(e) => Err(e.to_string()),
    };
    match outcome {
        Ok(()) => inventory.transition(name, Event::Verified, None).await,
        Err(e) => inventory.transition(name, Event::Fail, Some(&e)).await,
    }
}

/// `bmplan nodes inspect`: manageable (or inspect failed) → inspecting → available, with the
/// hardware facts refreshed from the BMC; inspect failed with the reason when the BMC fails.
pub async fn inspect(
    inventory: &Inventory,
    name: &str,
    limits: Limits,
) -> Result<crate::inventory::NodeRecord, InventoryError> {
    use crate::lifecycle::Event;
    inventory.transition(name, Event::Inspect, None).await?;
    let (mut ep, system) = inventory.node_endpoint(name).await?;
    ep.limits = limits;
    let result = match crate::bmc::open(ep, crate::bmc::Purpose::Change) {
        Ok(bmc) => {
            let r = bmc.inspect(&system).await;
            bmc.logout().await;
            r.map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    match result {
        Ok(inv) => {
            inventory.record_inspection(name, &inv).await?;
            inventory.transition(name, Event::Inspected, None).await
        }
        Err(e) => inventory.transition(name, Event::Fail, Some(&e)).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_expand_in_every_form() {
        assert_eq!(
            expand_range("127.0.0.1:8000-8002").unwrap(),
            vec![
                "https://127.0.0.1:8000",
                "https://127.0.0.1:8001",
                "https://127.0.0.1:8002"
            ]
        );
        assert_eq!(
            expand_range("http://10.1.2.3-5").unwrap(),
            vec!["http://10.1.2.3", "http://10.1.2.4", "http://10.1.2.5"]
        );
        let cidr = expand_range("10.0.0.0/29:443").unwrap();
        assert_eq!(cidr.len(), 6);
        assert_eq!(cidr[0], "https://10.0.0.1:443");
        assert_eq!(
            expand_range("bmc.example").unwrap(),
            vec!["https://bmc.example"]
        );
        assert!(expand_range("10.0.0.0/8")
            .unwrap_err()
            .to_string()
            .contains("more than"));
        assert!(expand_range("ftp://x").is_err());
        assert!(expand_range("127.0.0.1:9-1").is_err());
        assert_eq!(
            expand_range("ipmi://10.0.0.1-2?cipher_suite=3").unwrap(),
            vec![
                "ipmi://10.0.0.1?cipher_suite=3",
                "ipmi://10.0.0.2?cipher_suite=3"
            ]
        );
        assert!(expand_range("https://10.0.0.1?x=1").is_err());
    }

    #[test]
    fn a_csv_list_reads_with_its_optional_columns_and_bad_rows_name_their_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("ca.pem"),
            "-----BEGIN CERTIFICATE-----\nx\n",
        )
        .unwrap();
        let csv = "name,bmc_url,system_id,username,password,ca_cert,fingerprint,insecure\n\
                   r1u01,https://10.0.0.1/,,root,calvin,ca.pem,,\n\
                   r1u02,https://10.0.0.2,System.Embedded.1,root,calvin,,,true\n";
        let p = dir.path().join("bmcs.csv");
        std::fs::write(&p, csv).unwrap();
        let regs = read_bmc_list(&p).unwrap();
        assert_eq!(regs.len(), 2);
        assert_eq!(regs[0].bmc_url, "https://10.0.0.1");
        assert!(regs[0].tls.ca_cert_pem.is_some());
        assert!(regs[1].tls.insecure);
        assert_eq!(regs[1].system_id, "System.Embedded.1");

        std::fs::write(&p, "name,bmc_url,username,password\nr1,ftp://x,root,pw\n").unwrap();
        let e = read_bmc_list(&p).unwrap_err().to_string();
        assert!(e.contains("row 2") && e.contains("https://"), "{e}");

        std::fs::write(&p, "name,url,username,password\n").unwrap();
        let e = read_bmc_list(&p).unwrap_err().to_string();
        assert!(e.contains("lacks \"bmc_url\""), "{e}");
    }

    #[test]
    fn the_example_bmc_list_reads() {
        let dir = tempfile::tempdir().unwrap();
        let src = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../examples/inventory/bmcs.csv"
        );
        std::fs::copy(src, dir.path().join("bmcs.csv")).unwrap();
        std::fs::write(
            dir.path().join("bmc-ca.pem"),
            "-----BEGIN CERTIFICATE-----\n",
        )
        .unwrap();
        std::env::set_var("R1_BMC_PASSWORD", "from-env");
        let regs = read_bmc_list(&dir.path().join("bmcs.csv")).unwrap();
        assert_eq!(regs.len(), 3);
        assert_eq!(regs[2].password.expose(), "from-env");
        assert!(regs[2].tls.fingerprint.is_some());
        assert_eq!(regs[2].system_id, "");
    }

    #[test]
    fn a_json_list_reads_and_env_passwords_resolve() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("bmcs.json");
        std::fs::write(
            &p,
            r#"[{"name":"a","bmc_url":"https://h:1","username":"u","password":"env:BMPLAN_TEST_NO_SUCH_VAR"}]"#,
        )
        .unwrap();
        let e = read_bmc_list(&p).unwrap_err().to_string();
        assert!(e.contains("BMPLAN_TEST_NO_SUCH_VAR"), "{e}");
        std::fs::write(
            &p,
            r#"[{"name":"a","bmc_url":"https://h:1","username":"u","password":"pw","insecure":true}]"#,
        )
        .unwrap();
        let regs = read_bmc_list(&p).unwrap();
        assert_eq!(regs[0].password.expose(), "pw");
        assert!(regs[0].tls.insecure);
    }
}
