//! Bulk enrollment: BMC lists from CSV or JSON, and discovery over address ranges. Each BMC is verified
//! (credentials) and inspected over Redfish with bounded concurrency, then written to the inventory,
//! which recognises duplicates by system UUID and serial whatever the address.

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::bmc::redfish::RedfishBmc;
use crate::bmc::{Bmc, Limits, Secret};
use crate::inventory::{
    EnrollOutcome, EnrollResult, Inventory, InventoryError, NodeRegistration, NodeTls, Verification,
};

/// The most addresses one discovery may expand to.
pub const MAX_ADDRESSES: usize = 65_536;

#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("{file}: {detail}")]
    File { file: String, detail: String },
    #[error("{file}, row {row}: {detail}")]
    Row {
        file: String,
        row: usize,
        detail: String,
    },
    #[error("{0}")]
    Range(String),
    #[error(transparent)]
    Inventory(#[from] InventoryError),
}

#[derive(Debug, Deserialize)]
struct Entry {
    name: String,
    bmc_url: String,
    #[serde(default)]
    system_id: Option<String>,
    username: String,
    password: String,
    #[serde(default)]
    ca_cert: Option<String>,
    #[serde(default)]
    fingerprint: Option<String>,
    #[serde(default, deserialize_with = "flag")]
    insecure: bool,
}

fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum F {
        B(bool),
        S(String),
    }
    Ok(match Option::<F>::deserialize(d)? {
        None => false,
        Some(F::B(b)) => b,
        Some(F::S(s)) => matches!(s.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"),
    })
}

fn nonempty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_string()).filter(|s| !s.is_empty())
}

/// A password value: literal text, or `env:NAME` to read it from the environment (so a BMC list can
/// live in a repository without its secrets).
fn password_value(v: &str) -> Result<Secret, String> {
    match v.strip_prefix("env:") {
        Some(var) => std::env::var(var).map(Secret::new).map_err(|_| {
            format!("the password names the environment variable {var}, which is not set")
        }),
        None => Ok(Secret::new(v)),
    }
}

/// Reads a BMC list: CSV (header `name,bmc_url,system_id,username,password` and optionally
/// `ca_cert,fingerprint,insecure`) or JSON (an array of objects with those keys), chosen by the file's
/// extension (or its first character). `ca_cert` is a PEM file, relative to the list's directory.
pub fn read_bmc_list(path: &Path) -> Result<Vec<NodeRegistration>, EnrollError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| EnrollError::File {
        file: file.clone(),
        detail: e.to_string(),
    })?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || text.trim_start().starts_with('[');
    let entries: Vec<(usize, Entry)> = if is_json {
        let v: Vec<Entry> = serde_json::from_str(&text).map_err(|e| EnrollError::File {
            file: file.clone(),
            detail: format!("not a JSON list of BMCs: {e}"),
        })?;
        v.into_iter().enumerate().map(|(i, e)| (i + 1, e)).collect()
    } else {
        let mut rdr = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .comment(Some(b'#'))
            .from_reader(text.as_bytes());
        let headers = rdr.headers().map_err(|e| EnrollError::File {
            file: file.clone(),
            detail: e.to_string(),
        })?;
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
        let known = [
            "name",
            "bmc_url",
            "system_id",
            "username",
            "password",
            "ca_cert",
            "fingerprint",
            "insecure",
        ];
        if let Some(h) = headers.iter().find(|h| !known.contains(h)) {
            return Err(EnrollError::File {
                file,
                detail: format!("unknown CSV column {h:?} (known: {})", known.join(", ")),
            });
        }
        let mut out = Vec::new();
        for (i, rec) in rdr.deserialize::<Entry>().enumerate() {
            let row = i + 2;
            let e = rec.map_err(|e| EnrollError::Row {
                file: file.clone(),
                row,
                detail: e.to_string(),
            })?;
            out.push((row, e));
        }
        out
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let mut regs = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    for (row, e) in entries {
        let err = |detail: String| EnrollError::Row {
            file: file.clone(),
            row,
            detail,
        };
        let name = e.name.trim().to_string();
        if name.is_empty() {
            return Err(err("the name is empty".into()));
        }
        if !names.insert(name.clone()) {
            return Err(err(format!("the name {name} appears twice in the list")));
        }
        let url = e.bmc_url.trim().trim_end_matches('/').to_string();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(err(format!(
                "bmc_url {url:?} must start with https:// (or http:// for a lab)"
            )));
        }
        let ca_cert_pem = match nonempty(e.ca_cert) {
            Some(p) => {
                let p = base.join(p);
                let pem = std::fs::read_to_string(&p)
                    .map_err(|x| err(format!("ca_cert {}: {x}", p.display())))?;
                if !pem.contains("BEGIN CERTIFICATE") {
                    return Err(err(format!(
                        "ca_cert {} holds no PEM certificate",
                        p.display()
                    )));
                }
                Some(pem)
            }
            None => None,
        };
        let fingerprint = nonempty(e.fingerprint);
        if let Some(fp) = &fingerprint {
            if crate::bmc::parse_fingerprint(fp).is_none() {
                return Err(err(format!(
                    "fingerprint {fp:?} is not a SHA-256 fingerprint (64 hex digits, colons allowed)"
                )));
            }
        }
        if [ca_cert_pem.is_some(), fingerprint.is_some(), e.insecure]
            .iter()
            .filter(|b| **b)
            .count()
            > 1
        {
            return Err(err("choose one of ca_cert, fingerprint and insecure".into()));
        }
        regs.push(NodeRegistration {
            name,
            bmc_url: url,
            system_id: nonempty(e.system_id).unwrap_or_default(),
            username: e.username.trim().to_string(),
            password: password_value(&e.password).map_err(err)?,
            tls: NodeTls {
                ca_cert_pem,
                fingerprint,
                insecure: e.insecure,
            },
        });
    }
    Ok(regs)
}

/// Talks to one BMC: verifies the credentials, picks the system, inspects it.
pub async fn verify(reg: &mut NodeRegistration, limits: Limits) -> Verification {
    let mut ep = reg.endpoint();
    ep.limits = limits;
    let bmc = match RedfishBmc::new(ep) {
        Ok(b) => b,
        Err(e) => return Verification::VerifyFailed(e.to_string()),
    };
    let systems = match bmc.systems().await {
        Ok(s) => s,
        Err(e) => return Verification::VerifyFailed(e.to_string()),
    };
    if reg.system_id.is_empty() {
        match systems.as_slice() {
            [one] => reg.system_id = one.clone(),
            [] => {
                return Verification::VerifyFailed(format!(
                    "{}: the BMC lists no systems",
                    reg.bmc_url
                ))
            }
            many => {
                return Verification::VerifyFailed(format!(
                    "{}: the BMC manages {} systems ({}); give system_id",
                    reg.bmc_url,
                    many.len(),
                    many.join(", ")
                ))
            }
        }
    } else if !systems.contains(&reg.system_id) {
        return Verification::VerifyFailed(format!(
            "{}: no system {:?} (it has {})",
            reg.bmc_url,
            reg.system_id,
            systems.join(", ")
        ));
    }
    let v = match bmc.inspect(&reg.system_id).await {
        Ok(inv) => Verification::Inspected(Box::new(inv)),
        Err(e) => Verification::InspectFailed(e.to_string()),
    };
    bmc.client().logout().await;
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
        verified.push(
            joined.map_err(|e| EnrollError::Range(format!("an enrollment task failed: {e}")))?,
        );
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

/// Expands one discovery range into BMC base URLs. Forms (scheme optional, `https` by default):
/// `10.0.0.5`, `10.0.0.5-40` (last octet), `10.0.0.0/28`, `bmc.example`, each with an optional
/// `:PORT` or `:PORT-PORT`.
pub fn expand_range(spec: &str) -> Result<Vec<String>, String> {
    let spec = spec.trim();
    let (scheme, rest) = match spec.split_once("://") {
        Some((s @ ("http" | "https"), r)) => (s, r),
        Some((s, _)) => return Err(format!("{spec}: scheme {s:?} is not http or https")),
        None => ("https", spec),
    };
    let rest = rest.trim_end_matches('/');
    let (host, ports) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.contains(']') || h.ends_with(']') => {
            let (a, b) = match p.split_once('-') {
                Some((a, b)) => (a, b),
                None => (p, p),
            };
            let a: u16 = a.parse().map_err(|_| format!("{spec}: bad port {a:?}"))?;
            let b: u16 = b.parse().map_err(|_| format!("{spec}: bad port {b:?}"))?;
            if a > b || a == 0 {
                return Err(format!("{spec}: the port range {a}-{b} is empty"));
            }
            (h, Some((a, b)))
        }
        _ => (rest, None),
    };
    let hosts: Vec<String> = if let Some((net, prefix)) = host.split_once('/') {
        let ip: Ipv4Addr = net
            .parse()
            .map_err(|_| format!("{spec}: {net:?} is not an IPv4 network"))?;
        let prefix: u32 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= 32)
            .ok_or_else(|| format!("{spec}: bad prefix length {prefix:?}"))?;
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
            return Err(format!("{spec}: more than {MAX_ADDRESSES} addresses"));
        }
        (first..=last)
            .map(|a| Ipv4Addr::from(a as u32).to_string())
            .collect()
    } else if let Some((start, end)) = host
        .rsplit_once('-')
        .filter(|(s, _)| s.parse::<Ipv4Addr>().is_ok())
    {
        let ip: Ipv4Addr = start.parse().map_err(|_| format!("{spec}: bad address"))?;
        let o = ip.octets();
        let end: u8 = end
            .parse()
            .map_err(|_| format!("{spec}: {end:?} is not a last octet"))?;
        if end < o[3] {
            return Err(format!("{spec}: the address range is empty"));
        }
        (o[3]..=end)
            .map(|x| Ipv4Addr::new(o[0], o[1], o[2], x).to_string())
            .collect()
    } else if host.is_empty() {
        return Err(format!("{spec}: no host"));
    } else {
        vec![host.to_string()]
    };
    let mut out = Vec::new();
    for h in hosts {
        match ports {
            Some((a, b)) => {
                for p in a..=b {
                    out.push(format!("{scheme}://{h}:{p}"));
                }
            }
            None => out.push(format!("{scheme}://{h}")),
        }
        if out.len() > MAX_ADDRESSES {
            return Err(format!("{spec}: more than {MAX_ADDRESSES} addresses"));
        }
    }
    Ok(out)
}

/// What a discovery probe found at one address.
#[derive(Debug, Clone, Serialize)]
pub struct Probe {
    pub url: String,
    /// `redfish` (a service root answered), `absent` (nothing listens), or `error` (something
    /// answered, but not as a Redfish service: TLS refused, not JSON…).
    pub found: String,
    pub detail: Option<String>,
    pub systems: Vec<String>,
}

/// Credentials and trust for discovered BMCs: the same for the whole range.
#[derive(Debug, Clone)]
pub struct DiscoveryLogin {
    pub username: String,
    pub password: Secret,
    pub tls: NodeTls,
}

/// Probes every address's Redfish service root (unauthenticated), `concurrency` at a time, and lists
/// the systems of those that answer. `timeout` bounds each probe.
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
    let bmc = match RedfishBmc::new(ep) {
        Ok(b) => b,
        Err(e) => return fail("error", e.to_string()),
    };
    match bmc.client().root().await {
        Ok(root) if root.get("RedfishVersion").is_some() || root.get("Systems").is_some() => {}
        Ok(_) => {
            return fail(
                "error",
                "answered, but not with a Redfish service root".into(),
            )
        }
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
        Err(e) => return fail("error", e.to_string()),
    }
    match bmc.systems().await {
        Ok(systems) => {
            bmc.client().logout().await;
            Probe {
                url,
                found: "redfish".into(),
                detail: None,
                systems,
            }
        }
        Err(e) => Probe {
            url,
            found: "redfish".into(),
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
    for p in probes.iter().filter(|p| p.found == "redfish") {
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
    let outcome = match RedfishBmc::new(ep) {
        Ok(bmc) => {
            let r = bmc.systems().await;
            bmc.client().logout().await;
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
    let result = match RedfishBmc::new(ep) {
        Ok(bmc) => {
            let r = bmc.inspect(&system).await;
            bmc.client().logout().await;
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
            .contains("more than"));
        assert!(expand_range("ftp://x").is_err());
        assert!(expand_range("127.0.0.1:9-1").is_err());
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
