//! Image checksums: a deployment's image is read and hashed before any node is touched.

use std::time::Duration;

use sha2::{Digest, Sha256, Sha512};

use crate::bmc::redfish::client::error_chain;

/// `sha256:<64 hex>` or `sha512:<128 hex>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checksum {
    pub algorithm: Algorithm,
    pub hex: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Sha256,
    Sha512,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }
}

impl Checksum {
    pub fn parse(s: &str) -> Result<Checksum, String> {
        let (algo, hex) = s.trim().split_once(':').ok_or_else(|| {
            format!(
                "{s:?} is not a checksum: write sha256:<64 hex digits> or sha512:<128 hex digits>"
            )
        })?;
        let (algorithm, len) = match algo.to_ascii_lowercase().as_str() {
            "sha256" => (Algorithm::Sha256, 64),
            "sha512" => (Algorithm::Sha512, 128),
            other => {
                return Err(format!(
                    "checksum algorithm {other:?} is not supported: use sha256 or sha512"
                ))
            }
        };
        if hex.len() != len || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "a {} checksum is {len} hex digits; {:?} has {}",
                algorithm.as_str(),
                hex,
                hex.len()
            ));
        }
        Ok(Checksum {
            algorithm,
            hex: hex.to_ascii_lowercase(),
        })
    }
}

impl std::fmt::Display for Checksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.algorithm.as_str(), self.hex)
    }
}

enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    fn update(&mut self, b: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(b),
            Hasher::Sha512(h) => h.update(b),
        }
    }

    fn finish(self) -> String {
        match self {
            Hasher::Sha256(h) => hex::encode(h.finalize()),
            Hasher::Sha512(h) => hex::encode(h.finalize()),
        }
    }
}

/// Downloads `url` (streamed, never held) and compares its digest with `want`. Returns the
/// image's size. Every failure says what it read and from where; none touches a node.
pub async fn verify(url: &str, want: &Checksum, timeout: Duration) -> Result<u64, String> {
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .build()
        .map_err(|e| format!("cannot set up an HTTP client: {e}"))?;
    let mut resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("cannot read the image {url}: {}", error_chain(&e)))?;
    if !resp.status().is_success() {
        return Err(format!(
            "cannot read the image {url}: HTTP {}",
            resp.status().as_u16()
        ));
    }
    let mut h = match want.algorithm {
        Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
        Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
    };
    let mut bytes = 0u64;
    while let Some(chunk) = resp.chunk().await.map_err(|e| {
        format!(
            "reading the image {url} after {bytes} bytes: {}",
            error_chain(&e)
        )
    })? {
        bytes += chunk.len() as u64;
        h.update(&chunk);
    }
    let got = h.finish();
    if got != want.hex {
        return Err(format!(
            "the image {url} does not match its checksum: {} expected {}, the {bytes} bytes read give {}",
            want.algorithm.as_str(),
            want.hex,
            got
        ));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_name_their_algorithm_and_length() {
        let c = Checksum::parse(&format!("sha256:{}", "AB".repeat(32))).unwrap();
        assert_eq!(c.algorithm, Algorithm::Sha256);
        assert_eq!(c.hex, "ab".repeat(32));
        assert!(Checksum::parse(&format!("sha512:{}", "0".repeat(128))).is_ok());
        let e = Checksum::parse("md5:d41d8cd98f00b204e9800998ecf8427e").unwrap_err();
        assert!(e.contains("not supported"), "{e}");
        let e = Checksum::parse("sha256:abc").unwrap_err();
        assert!(e.contains("64 hex digits"), "{e}");
        assert!(Checksum::parse("deadbeef").is_err());
    }
}
