//! What a simulated server does with an operating system: virtual media fetched over HTTP, an
//! installer booted from the virtual CD that writes the image to disk, the NoCloud seed it finds on
//! the config drive, and the installed system's first boot (cloud-init's `phone_home`).
//!
//! Redfish handlers are synchronous, so the HTTP work they cause is queued as [`Effect`]s on the
//! node and carried out by `node::run_effects` after the request, and a node with an installer running
//! wakes itself at the installer's deadline instead of waiting for the next request.

use std::io::Cursor;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hadris_iso::read::IsoImage;
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The largest image the lab fetches: enough for any test image, bounded against a runaway server.
pub const MAX_IMAGE: u64 = 1 << 30;
/// Config drives are kept in memory to be read; they are a few KiB.
pub const MAX_SEED: usize = 16 << 20;

/// What became of an image a virtual media device was given.
#[derive(Debug, Clone, Default)]
pub enum Fetch {
    #[default]
    None,
    Pending,
    Done {
        sha256: String,
        bytes: u64,
        /// The content, when small enough to be a config drive.
        data: Option<Arc<Vec<u8>>>,
    },
    Failed(String),
}

/// HTTP work a request caused, done after it.
#[derive(Debug, Clone)]
pub enum Effect {
    Fetch { media: String, url: String },
    Post { url: String, body: Value },
}

/// The NoCloud seed an installer found on the config drive.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Seed {
    pub instance_id: Option<String>,
    pub hostname: Option<String>,
    pub public_keys: Vec<String>,
    pub phone_home: Option<String>,
    pub has_user_data: bool,
    /// The `user-data` file's SHA-256 (hex), to compare with what the deployment rendered.
    pub user_data_sha256: Option<String>,
    pub has_network_config: bool,
    /// The `network-config` file as read (JSON is YAML; other YAML is kept out: `None`).
    pub network_config: Option<Value>,
}

/// What is on the server's disks.
#[derive(Debug, Clone, Serialize)]
pub struct InstalledOs {
    pub image: String,
    pub image_sha256: String,
    pub seed: Option<Seed>,
    /// cloud-init's first boot has run (it phones home once per instance).
    pub first_boot_done: bool,
    pub installed_at: String,
}

/// An installer running from the virtual CD.
#[derive(Debug, Clone)]
pub struct Install {
    pub deadline: Instant,
    pub image: String,
}

/// Reads the NoCloud files off a config-drive ISO (Rock Ridge or Joliet names).
pub fn read_seed(iso: &[u8]) -> Result<Seed, String> {
    let image = IsoImage::open(Cursor::new(iso.to_vec()))
        .map_err(|e| format!("the config drive is not an ISO 9660 image: {e:?}"))?;
    let mut files: std::collections::BTreeMap<String, Vec<u8>> = Default::default();
    let root = image.root_dir();
    let mut raw = Cursor::new(iso);
    for entry in root.iter(&image).entries() {
        let entry = entry.map_err(|e| format!("reading the config drive: {e:?}"))?;
        if entry.is_special() || !entry.is_file() {
            continue;
        }
        let name = entry.display_name().to_string();
        let Some(extent) = entry.extents().next() else {
            continue;
        };
        let start = extent.sector.0 * 2048;
        let len = extent.length as usize;
        let body = raw
            .get_ref()
            .get(start..start + len)
            .ok_or("a config-drive file lies past the image's end")?
            .to_vec();
        raw.set_position(0);
        files.insert(name, body);
    }
    let meta = files
        .get("meta-data")
        .ok_or("the config drive has no meta-data file")?;
    let meta: Value = parse_yaml_json(meta).map_err(|e| format!("meta-data: {e}"))?;
    let vendor = files
        .get("vendor-data")
        .and_then(|v| parse_yaml_json(v).ok());
    let s = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    Ok(Seed {
        instance_id: s(&meta, "instance-id"),
        hostname: s(&meta, "local-hostname"),
        public_keys: meta
            .get("public-keys")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        phone_home: vendor
            .as_ref()
            .and_then(|v| v.pointer("/phone_home/url"))
            .and_then(Value::as_str)
            .map(str::to_string),
        has_user_data: files.contains_key("user-data"),
        user_data_sha256: files.get("user-data").map(|u| {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(u))
        }),
        has_network_config: files.contains_key("network-config"),
        network_config: files
            .get("network-config")
            .and_then(|v| parse_yaml_json(v).ok()),
    })
}

/// The seed files this lab reads are JSON (a subset of YAML), after an optional `#cloud-config`.
fn parse_yaml_json(body: &[u8]) -> Result<Value, String> {
    let text = String::from_utf8_lossy(body);
    let text = text
        .strip_prefix("#cloud-config")
        .map(str::to_string)
        .unwrap_or_else(|| text.to_string());
    serde_json::from_str(&text).map_err(|e| format!("not JSON-shaped YAML this lab reads: {e}"))
}

/// The `Authorization` header line for credentials in `url`'s userinfo, or nothing.
fn basic_auth(url: &str) -> String {
    use base64::Engine;
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or_default();
    match authority.rsplit_once('@') {
        Some((userinfo, _)) => format!(
            "Authorization: Basic {}\r\n",
            base64::engine::general_purpose::STANDARD.encode(userinfo)
        ),
        None => String::new(),
    }
}

/// Splits `http://host:port/path` (the lab fetches plain HTTP only: images sit on loopback).
fn split_http(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: the lab's virtual media fetches http:// URLs only"))?;
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    // Credentials in the URL (`user:password@host`) are sent as basic auth, not as the host.
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    Ok((host, path.to_string()))
}

async fn exchange(url: &str, request: Vec<u8>) -> Result<(u16, Vec<u8>, u64, String), String> {
    let (host, _) = split_http(url)?;
    let mut s = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect(&host),
    )
    .await
    .map_err(|_| format!("{url}: connection timed out"))?
    .map_err(|e| format!("{url}: {e}"))?;
    s.write_all(&request)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    // Headers first, then the body hashed as it streams; only a small body is kept.
    let mut head = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let body_start;
    loop {
        let n = s.read(&mut buf).await.map_err(|e| format!("{url}: {e}"))?;
        if n == 0 {
            return Err(format!("{url}: the server closed before answering"));
        }
        head.extend_from_slice(&buf[..n]);
        if let Some(i) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            body_start = i + 4;
            break;
        }
        if head.len() > 64 * 1024 {
            return Err(format!("{url}: the answer's headers are too long"));
        }
    }
    let status_line =
        String::from_utf8_lossy(&head[..head.iter().position(|b| *b == b'\r').unwrap_or(0)])
            .to_string();
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{url}: not an HTTP answer"))?;
    let mut hasher = Sha256::new();
    let mut kept = Vec::new();
    let mut total = 0u64;
    let mut take = |chunk: &[u8], total: &mut u64| -> Result<(), String> {
        *total += chunk.len() as u64;
        if *total > MAX_IMAGE {
            return Err(format!("{url}: the image is larger than the lab fetches"));
        }
        hasher.update(chunk);
        if kept.len() + chunk.len() <= MAX_SEED {
            kept.extend_from_slice(chunk);
        }
        Ok(())
    };
    take(&head[body_start..], &mut total)?;
    loop {
        let n = s.read(&mut buf).await.map_err(|e| format!("{url}: {e}"))?;
        if n == 0 {
            break;
        }
        take(&buf[..n], &mut total)?;
    }
    Ok((status, kept, total, hex::encode(hasher.finalize())))
}

/// Downloads an image the way a BMC's virtual media does, hashing it.
pub async fn fetch(url: &str) -> Fetch {
    let (host, path) = match split_http(url) {
        Ok(x) => x,
        Err(e) => return Fetch::Failed(e),
    };
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nUser-Agent: lab-bmc\r\n{}\r\n",
        basic_auth(url)
    );
    match exchange(url, req.into_bytes()).await {
        Ok((200, kept, total, sha)) => Fetch::Done {
            sha256: sha,
            bytes: total,
            data: (total as usize == kept.len()).then(|| Arc::new(kept)),
        },
        Ok((status, ..)) => Fetch::Failed(format!("{url}: HTTP {status}")),
        Err(e) => Fetch::Failed(e),
    }
}

/// POSTs JSON, as cloud-init's `phone_home` does (it sends a form; JSON keeps the lab simple).
pub async fn post(url: &str, body: &Value) -> Result<(), String> {
    let (host, path) = split_http(url)?;
    let body = body.to_string();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    match exchange(url, req.into_bytes()).await? {
        (s, ..) if (200..300).contains(&s) => Ok(()),
        (s, ..) => Err(format!("{url}: HTTP {s}")),
    }
}
