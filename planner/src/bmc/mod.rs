//! Baseboard management controllers: how the planner reaches a node's BMC, and the Redfish client.
//!
//! This module starts small (service root, systems, BIOS reads) and grows into the full `Bmc` trait:
//! power, boot, BIOS staging, RAID, virtual media and firmware.

pub mod redfish;

use std::path::PathBuf;

/// How to trust a BMC's TLS certificate. Verification is on unless `insecure` is chosen explicitly.
#[derive(Debug, Clone, Default)]
pub enum TlsTrust {
    /// The platform's usual roots are not loaded: BMC certificates are private, so a CA bundle is
    /// the normal case.
    #[default]
    NoExtraRoots,
    /// Trust certificates issued by the CAs in this PEM file.
    CaBundle(PathBuf),
    /// Skip verification. Only on explicit request.
    Insecure,
}

/// Where a node's BMC is and how to log in to it.
#[derive(Clone)]
pub struct Endpoint {
    pub url: String,
    pub username: String,
    pub password: String,
    pub tls: TlsTrust,
}

impl std::fmt::Debug for Endpoint {
    // The password never reaches a log line, even through Debug.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("tls", &self.tls)
            .finish()
    }
}

/// Errors from a BMC, naming the BMC and the operation.
#[derive(Debug, thiserror::Error)]
pub enum BmcError {
    #[error("{bmc}: cannot read the CA bundle {path}")]
    CaBundle {
        bmc: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{bmc}: the CA bundle {path} holds no usable certificate")]
    CaBundleEmpty { bmc: String, path: PathBuf },
    #[error("{bmc}: could not set up the HTTP client")]
    Client {
        bmc: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{bmc}: {operation} failed: could not reach the BMC")]
    Transport {
        bmc: String,
        operation: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{bmc}: {operation} failed: HTTP {status}{}", messages_suffix(.messages))]
    Status {
        bmc: String,
        operation: String,
        status: u16,
        messages: Vec<String>,
    },
    #[error("{bmc}: {operation} returned a body that is not the expected JSON")]
    Decode {
        bmc: String,
        operation: String,
        #[source]
        source: reqwest::Error,
    },
}

fn messages_suffix(m: &[String]) -> String {
    if m.is_empty() {
        String::new()
    } else {
        format!(": {}", m.join("; "))
    }
}
