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

/// `url` as it may be shown (progress, logs, errors, listings): a password in it, and the values
/// of query parameters that carry credentials (signatures, tokens, keys), are replaced by `***`.
/// The URL itself, credentials and all, still goes to the BMC that fetches the image.
pub fn shown(url: &str) -> String {
    let Ok(mut u) = reqwest::Url::parse(url) else {
        // Not a URL we can take apart: show only what precedes any userinfo or query.
        let head = url.split(['?', '#']).next().unwrap_or_default();
        return match head.rsplit_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => head.to_string(),
        };
    };
    if u.password().is_some() {
        let _ = u.set_password(Some("***"));
    } else if !u.username().is_empty() {
        // A user name alone is often a token (`https://TOKEN@store/…`).
        let _ = u.set_username("***");
    }
    if u.query().is_some() {
        let secret = |k: &str| {
            let k = k.to_ascii_lowercase();
            [
                "sig",
                "token",
                "key",
                "secret",
                "pass",
                "credential",
                "auth",
            ]
            .iter()
            .any(|s| k.contains(s))
        };
        let pairs: Vec<(String, String)> = u
            .query_pairs()
            .map(|(k, v)| {
                let v = if secret(&k) {
                    "***".to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        u.query_pairs_mut().clear().extend_pairs(pairs);
    }
    u.to_string()
}

/// `text` (a BMC's error, say) with `url`, and the secrets in it, replaced by [`shown`]'s form.
pub fn masked(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &shown(url));
    if let Ok(u) = reqwest::Url::parse(url) {
        let mut secrets: Vec<String> = Vec::new();
        if let Some(p) = u.password() {
            secrets.push(p.to_string());
        } else if !u.username().is_empty() {
            secrets.push(u.username().to_string());
        }
        for (k, v) in u.query_pairs() {
            if shown(&format!("http://h/?{k}=x")).ends_with("=***") && !v.is_empty() {
                secrets.push(v.into_owned());
            }
        }
        for s in secrets.iter().filter(|s| s.len() >= 4) {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

/// Downloads `url` (streamed, never held) and compares its digest with `want`. Returns the
/// image's size. Every failure says what it read and from where; none touches a node.
pub async fn verify(url: &str, want: &Checksum, timeout: Duration) -> Result<u64, String> {
    let fetch = url;
    let url = shown(fetch);
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .build()
        .map_err(|e| format!("cannot set up an HTTP client: {e}"))?;
    let mut resp = client.get(fetch).send().await.map_err(|e| {
        format!(
            "cannot read the image {url}: {}",
            error_chain(&e.without_url())
        )
    })?;
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
            error_chain(&e.without_url())
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
    fn an_image_url_is_shown_without_its_credentials() {
        assert_eq!(
            shown(
                "http://deploy:s3cret@images.example:8080/os.iso?X-Amz-Signature=abc&arch=x86_64"
            ),
            "http://deploy:***@images.example:8080/os.iso?X-Amz-Signature=***&arch=x86_64"
        );
        assert_eq!(
            shown("https://images.example/os.iso?token=t0p"),
            "https://images.example/os.iso?token=***"
        );
        assert_eq!(
            shown("http://images.example/os.iso"),
            "http://images.example/os.iso"
        );
        assert_eq!(shown("not a url:pw@host?token=x"), "***@host");
        assert_eq!(
            shown("https://ghp_T0KEN@store.example/os.iso"),
            "https://***@store.example/os.iso"
        );
        let url = "http://deploy:s3cret@store/os.iso?sig=abcd1234";
        assert_eq!(
            masked(&format!("BMC said: cannot fetch {url} (password s3cret refused, sig abcd1234)"), url),
            "BMC said: cannot fetch http://deploy:***@store/os.iso?sig=*** (password *** refused, sig ***)"
        );
    }

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
