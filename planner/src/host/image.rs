//! Reading a deployment's image: it is fetched and hashed before any node is touched. The
//! checksum and the masking of credentials in URLs are plain data (`planner_core::deploy::image`).

use std::time::Duration;

use crate::bmc::redfish::client::error_chain;
pub use planner_core::deploy::image::*;

/// Why an image could not be verified. The URL in each is shown with its credentials masked,
/// and no variant carries the request (whose URL may hold them).
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot set up an HTTP client")]
    Client(#[source] reqwest::Error),
    /// The image could not be fetched; `detail` is the transport error's chain without its URL.
    #[error("cannot read the image {url}: {detail}")]
    Fetch { url: String, detail: String },
    #[error("cannot read the image {url}: HTTP {status}")]
    Status { url: String, status: u16 },
    #[error("reading the image {url} after {bytes} bytes: {detail}")]
    Read {
        url: String,
        bytes: u64,
        detail: String,
    },
    #[error("the image {url} does not match its checksum: {algorithm} expected {want}, the {bytes} bytes read give {got}")]
    Mismatch {
        url: String,
        algorithm: &'static str,
        want: String,
        bytes: u64,
        got: String,
    },
}

/// What verifying an image found besides its digest.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    pub bytes: u64,
    /// The format its first bytes say, if they say one.
    pub sniffed: Option<planner_core::deploy::ImageFormat>,
}

/// Downloads `url` (streamed, never held) and compares its digest with `want`. Returns the
/// image's size and the format its first bytes say. Every failure says what it read and from
/// where; none touches a node.
pub async fn verify(url: &str, want: &Checksum, timeout: Duration) -> Result<Verified, ImageError> {
    fetch_checked(url, want, timeout, None).await
}

/// Where an image is read from: an HTTP origin, or the engine's image store.
enum Origin {
    Http(reqwest::Response),
    File(tokio::fs::File),
}

/// Where [`fetch_checked`] writes what it reads, and the most it takes.
pub struct Sink<'a> {
    pub file: &'a mut tokio::fs::File,
    pub limit: u64,
    /// Said when the image passes `limit`.
    pub over_limit: String,
}

/// [`verify`], writing the image to `sink` as it streams (the image cache): the digest is of
/// the bytes written. More than the sink's limit is refused as soon as it is read.
pub async fn fetch_checked(
    url: &str,
    want: &Checksum,
    timeout: Duration,
    mut sink: Option<Sink<'_>>,
) -> Result<Verified, ImageError> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let fetch = url;
    let url = shown(fetch);
    // A captured image in the engine's image store is read from disk; no other local file is.
    let local = super::store::local_path(fetch).map_err(|detail| ImageError::Fetch {
        url: url.clone(),
        detail,
    })?;
    let mut origin = match local {
        Some(path) => {
            Origin::File(
                tokio::fs::File::open(&path)
                    .await
                    .map_err(|e| ImageError::Fetch {
                        url: url.clone(),
                        detail: e.to_string(),
                    })?,
            )
        }
        None => {
            let client = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .timeout(timeout)
                .build()
                .map_err(ImageError::Client)?;
            let resp = client
                .get(fetch)
                .send()
                .await
                .map_err(|e| ImageError::Fetch {
                    url: url.clone(),
                    detail: error_chain(&e.without_url()),
                })?;
            if !resp.status().is_success() {
                return Err(ImageError::Status {
                    url,
                    status: resp.status().as_u16(),
                });
            }
            Origin::Http(resp)
        }
    };
    let read_error = |bytes, detail| ImageError::Read {
        url: url.clone(),
        bytes,
        detail,
    };
    let mut h = Hasher::new(want.algorithm);
    let mut bytes = 0u64;
    let mut head: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let chunk: bytes::Bytes = match &mut origin {
            Origin::Http(resp) => match resp
                .chunk()
                .await
                .map_err(|e| read_error(bytes, error_chain(&e.without_url())))?
            {
                Some(c) => c,
                None => break,
            },
            Origin::File(f) => match f
                .read(&mut buf)
                .await
                .map_err(|e| read_error(bytes, e.to_string()))?
            {
                0 => break,
                n => bytes::Bytes::copy_from_slice(&buf[..n]),
            },
        };
        bytes += chunk.len() as u64;
        if head.len() < 65536 {
            let n = (65536 - head.len()).min(chunk.len());
            head.extend_from_slice(&chunk[..n]);
        }
        h.update(&chunk);
        if let Some(s) = sink.as_mut() {
            if bytes > s.limit {
                return Err(read_error(bytes, s.over_limit.clone()));
            }
            s.file
                .write_all(&chunk)
                .await
                .map_err(|e| read_error(bytes, format!("image cache: {e}")))?;
        }
    }
    if let Some(s) = sink.as_mut() {
        s.file
            .sync_all()
            .await
            .map_err(|e| read_error(bytes, format!("image cache: {e}")))?;
    }
    let got = h.finish();
    if got != want.hex {
        return Err(ImageError::Mismatch {
            url,
            algorithm: want.algorithm.as_str(),
            want: want.hex.clone(),
            bytes,
            got,
        });
    }
    Ok(Verified {
        bytes,
        sniffed: planner_core::deploy::ImageFormat::sniff(&head),
    })
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
        assert!(e.0.contains("not supported"), "{e}");
        let e = Checksum::parse("sha256:abc").unwrap_err();
        assert!(e.0.contains("64 hex digits"), "{e}");
        assert!(Checksum::parse("deadbeef").is_err());
    }
}
