//! Image checksums (parsed here; `planner::host::image` reads and hashes an image before any node is
//! touched) and the masking of credentials in image URLs.

use sha2::{Digest, Sha256, Sha512};

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
    pub fn parse(s: &str) -> Result<Checksum, crate::rules::Invalid> {
        let (algo, hex) = s.trim().split_once(':').ok_or_else(|| {
            format!(
                "{s:?} is not a checksum: write sha256:<64 hex digits> or sha512:<128 hex digits>"
            )
        })?;
        let (algorithm, len) = match algo.to_ascii_lowercase().as_str() {
            "sha256" => (Algorithm::Sha256, 64),
            "sha512" => (Algorithm::Sha512, 128),
            other => {
                return Err(crate::rules::Invalid(format!(
                    "checksum algorithm {other:?} is not supported: use sha256 or sha512"
                )))
            }
        };
        if hex.len() != len || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(crate::rules::Invalid(format!(
                "a {} checksum is {len} hex digits; {:?} has {}",
                algorithm.as_str(),
                hex,
                hex.len()
            )));
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

/// A running digest of an image as it streams by.
pub enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    pub fn new(algorithm: Algorithm) -> Hasher {
        match algorithm {
            Algorithm::Sha256 => Hasher::Sha256(Sha256::new()),
            Algorithm::Sha512 => Hasher::Sha512(Sha512::new()),
        }
    }

    pub fn update(&mut self, b: &[u8]) {
        match self {
            Hasher::Sha256(h) => h.update(b),
            Hasher::Sha512(h) => h.update(b),
        }
    }

    /// The digest, lowercase hex.
    pub fn finish(self) -> String {
        match self {
            Hasher::Sha256(h) => hex::encode(h.finalize()),
            Hasher::Sha512(h) => hex::encode(h.finalize()),
        }
    }
}

pub use crate::text::{masked, shown};
