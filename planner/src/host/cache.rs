//! The engine's image cache: an image is fetched from its origin once, verified against its
//! checksum while it streams to disk, and kept under its checksum; every deploy agent of the fleet
//! then reads it from the deployment endpoint (`MediaServer::publish_file`, with HTTP range
//! requests). Two deployments of one image at once fetch it once: the second waits for the first
//! (a lock per checksum in the process, and a file lock across processes sharing the directory).
//! A kept copy is hashed again each time it is handed out (a copy damaged on disk is fetched
//! again), and the deploy agent checks what it reads once more before it writes.
//! The cache keeps at most its size limit, evicting the least recently used images.
//!
//! Configured by `BAREMETAL_IMAGE_CACHE_DIR` (default `$XDG_CACHE_HOME/baremetal/images`, else
//! `~/.cache/baremetal/images`) and `BAREMETAL_IMAGE_CACHE_MAX_GIB` (default 50).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::image::{shown, Checksum, Hasher, ImageError};
use planner_core::deploy::ImageFormat;

pub const DIR_ENV: &str = "BAREMETAL_IMAGE_CACHE_DIR";
pub const MAX_ENV: &str = "BAREMETAL_IMAGE_CACHE_MAX_GIB";
const DEFAULT_MAX_GIB: u64 = 50;

/// An image in the cache.
#[derive(Debug, Clone, PartialEq)]
pub struct Cached {
    pub path: PathBuf,
    pub bytes: u64,
    /// The format its first bytes say, if they say one.
    pub sniffed: Option<ImageFormat>,
    /// Fetched from the origin by this call (not found in the cache).
    pub fetched: bool,
}

/// Why the cache could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("{MAX_ENV}={0:?} is not a whole number of GiB (at least 1)")]
    Limit(String),
    #[error("image cache {dir}: {detail}")]
    Dir { dir: String, detail: String },
}

pub struct ImageCache {
    dir: PathBuf,
    limit: u64,
    keys: tokio::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

fn default_dir() -> PathBuf {
    let env = |k: &str| {
        std::env::var_os(k)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    env("XDG_CACHE_HOME")
        .or_else(|| env("HOME").map(|h| h.join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("baremetal")
        .join("images")
}

impl ImageCache {
    /// The cache the environment configures (see the module's documentation).
    pub fn configured() -> Result<ImageCache, CacheError> {
        Self::configured_by(|k| std::env::var(k).ok())
    }

    /// The cache that `env` (a variable's value by name) configures.
    pub fn configured_by(env: impl Fn(&str) -> Option<String>) -> Result<ImageCache, CacheError> {
        let dir = env(DIR_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(default_dir);
        let limit = match env(MAX_ENV) {
            None => DEFAULT_MAX_GIB << 30,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(g) if g >= 1 => g.saturating_mul(1 << 30),
                _ => return Err(CacheError::Limit(v)),
            },
        };
        Ok(ImageCache::new(dir, limit))
    }

    /// A cache in `dir` keeping at most `limit` bytes (made when first used).
    pub fn new(dir: PathBuf, limit: u64) -> ImageCache {
        ImageCache {
            dir,
            limit,
            keys: Default::default(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    fn key(want: &Checksum) -> String {
        format!("{}-{}", want.algorithm.as_str(), want.hex)
    }

    /// The image with checksum `want`, fetched from `url` if the cache does not hold it. Only a
    /// verified image is ever in the cache; a failed fetch leaves nothing behind.
    pub async fn get(
        &self,
        url: &str,
        want: &Checksum,
        timeout: Duration,
    ) -> Result<Cached, ImageError> {
        let key = Self::key(want);
        let gate = self
            .keys
            .lock()
            .await
            .entry(key.clone())
            .or_default()
            .clone();
        let _held = gate.lock().await;
        let dir_error = |e: std::io::Error| ImageError::Read {
            url: shown(url),
            bytes: 0,
            detail: format!("image cache {}: {e}", self.dir.display()),
        };
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(dir_error)?;
        // Across processes: one fetch per image at a time; the lock goes with the file.
        let lock_path = self.dir.join(format!("{key}.lock"));
        let _file_lock = tokio::task::spawn_blocking(move || {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)?;
            nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
                .map_err(|(_, errno)| std::io::Error::from(errno))
        })
        .await
        .map_err(|e| dir_error(std::io::Error::other(e.to_string())))?
        .map_err(dir_error)?;
        let path = self.dir.join(&key);
        // A copy kept is hashed again before it is served: a damaged one is fetched again.
        if tokio::fs::metadata(&path).await.is_ok() && !self.intact(&path, want).await {
            tracing::warn!(image = %key, "image cache: the kept copy does not match its checksum (damaged on disk); fetched again");
            let _ = tokio::fs::remove_file(&path).await;
        }
        if let Ok(meta) = tokio::fs::metadata(&path).await {
            // Used now: the last to be evicted.
            let p = path.clone();
            let _ = tokio::task::spawn_blocking(move || {
                std::fs::File::options()
                    .write(true)
                    .open(&p)
                    .and_then(|f| f.set_modified(SystemTime::now()))
            })
            .await;
            tracing::info!(url = %shown(url), image = %key, "image cache: hit");
            return Ok(Cached {
                sniffed: sniff_file(&path),
                path,
                bytes: meta.len(),
                fetched: false,
            });
        }
        let part = self.dir.join(format!("{key}.part"));
        let fetched = self.fetch(url, want, timeout, &part).await;
        let (bytes, sniffed) = match fetched {
            Ok(v) => v,
            Err(e) => {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(e);
            }
        };
        tokio::fs::rename(&part, &path).await.map_err(dir_error)?;
        tracing::info!(url = %shown(url), image = %key, bytes, "image cache: fetched from the origin and verified");
        self.evict(&path);
        Ok(Cached {
            path,
            bytes,
            sniffed,
            fetched: true,
        })
    }

    /// Whether the file at `path` still has the digest `want`.
    async fn intact(&self, path: &Path, want: &Checksum) -> bool {
        let (path, want) = (path.to_path_buf(), want.clone());
        tokio::task::spawn_blocking(move || {
            let Ok(mut f) = std::fs::File::open(&path) else {
                return false;
            };
            let mut h = Hasher::new(want.algorithm);
            let mut buf = vec![0u8; 1 << 20];
            loop {
                match f.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => h.update(&buf[..n]),
                    Err(_) => return false,
                }
            }
            h.finish() == want.hex
        })
        .await
        .unwrap_or(false)
    }

    /// Streams `url` into `part`, hashing as it goes; refuses more than the cache's limit.
    async fn fetch(
        &self,
        fetch: &str,
        want: &Checksum,
        timeout: Duration,
        part: &Path,
    ) -> Result<(u64, Option<ImageFormat>), ImageError> {
        let mut file = tokio::fs::File::create(part)
            .await
            .map_err(|e| ImageError::Read {
                url: shown(fetch),
                bytes: 0,
                detail: format!("image cache: {e}"),
            })?;
        let sink = super::image::Sink {
            file: &mut file,
            limit: self.limit,
            over_limit: format!(
                "the image is larger than the image cache's limit ({} bytes; {MAX_ENV})",
                self.limit
            ),
        };
        let v = super::image::fetch_checked(fetch, want, timeout, Some(sink)).await?;
        Ok((v.bytes, v.sniffed))
    }

    /// Removes the least recently used images until the cache holds at most its limit; `keep`
    /// (the image just fetched) stays. An image being served stays readable: the deployment
    /// endpoint holds it open from its publication (it is unlinked, not overwritten).
    fn evict(&self, keep: &Path) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut images: Vec<(SystemTime, u64, PathBuf)> = entries
            .flatten()
            .filter(|e| {
                let n = e.file_name();
                let n = n.to_string_lossy();
                (n.starts_with("sha256-") || n.starts_with("sha512-"))
                    && !n.ends_with(".part")
                    && !n.ends_with(".lock")
            })
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                Some((m.modified().ok()?, m.len(), e.path()))
            })
            .collect();
        let mut total: u64 = images.iter().map(|(_, len, _)| *len).sum();
        images.sort();
        for (_, len, path) in images {
            if total <= self.limit {
                break;
            }
            if path == keep {
                continue;
            }
            // The lock file stays (it is empty): another process may hold it.
            if std::fs::remove_file(&path).is_ok() {
                total = total.saturating_sub(len);
                tracing::info!(image = %path.display(), bytes = len, "image cache: evicted (least recently used)");
            }
        }
    }
}

fn sniff_file(path: &Path) -> Option<ImageFormat> {
    let mut head = vec![0u8; 65536];
    let mut f = std::fs::File::open(path).ok()?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]) {
            Ok(0) | Err(_) => break,
            Ok(k) => n += k,
        }
    }
    ImageFormat::sniff(&head[..n])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_is_read_from_the_environment_and_a_bad_one_is_an_error() {
        let env = |dir: &'static str, max: Option<&'static str>| {
            move |k: &str| match k {
                DIR_ENV => Some(dir.to_string()),
                MAX_ENV => max.map(str::to_string),
                _ => None,
            }
        };
        let c = ImageCache::configured_by(env("/tmp/bm-cache", Some("3"))).unwrap();
        assert_eq!(c.dir(), Path::new("/tmp/bm-cache"));
        assert_eq!(c.limit(), 3 << 30);
        let c = ImageCache::configured_by(env("/tmp/bm-cache", None)).unwrap();
        assert_eq!(c.limit(), DEFAULT_MAX_GIB << 30);
        let e = ImageCache::configured_by(env("/x", Some("lots")))
            .err()
            .unwrap();
        assert!(e.to_string().contains("not a whole number"), "{e}");
        assert!(ImageCache::configured_by(env("/x", Some("0"))).is_err());
        let c = ImageCache::configured_by(env("", None)).unwrap();
        assert!(c.dir().ends_with("baremetal/images"), "{:?}", c.dir());
    }
}
