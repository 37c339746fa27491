//! The lab manifest: the JSON document that tells other tools and tests where every simulated BMC
//! and switch listens and how to log in. It holds the lab's passwords, so it is written mode 0600.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Plain-HTTP control endpoint: `/stats`, fault injection, node health. See `docs/guides/lab.md`.
    pub control_url: String,
    /// PEM file of the lab CA, present when the lab serves TLS.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ca_cert: Option<String>,
    /// SHA-256 fingerprint of the BMCs' server certificate, for pinning.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub tls_fingerprint: Option<String>,
    pub seed: u64,
    pub nodes: Vec<ManifestNode>,
    pub switches: Vec<ManifestSwitch>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManifestNode {
    pub name: String,
    pub rack: String,
    /// `https://…` with TLS, `http://…` without.
    pub bmc_url: String,
    /// The same BMC over plain HTTP (every lab BMC answers both on one port).
    pub bmc_http_url: String,
    pub system_id: String,
    pub manager_id: String,
    pub vendor: String,
    pub model: String,
    pub serial: String,
    pub uuid: String,
    pub arch: String,
    pub username: String,
    pub password: String,
    pub macs: Vec<String>,
    pub switch: String,
    pub switch_ports: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManifestSwitch {
    pub name: String,
    /// Which switch driver speaks to it: `cisco_ios` (SSH CLI).
    pub driver: String,
    pub address: String,
    pub username: String,
    pub password: String,
    pub enable_password: String,
    pub ports: usize,
}

impl Manifest {
    /// Writes the manifest, readable by its owner only.
    pub fn write(&self, path: &std::path::Path) -> std::io::Result<()> {
        let text = serde_json::to_string_pretty(self).map_err(std::io::Error::other)?;
        let tmp = path.with_extension("tmp");
        std::fs::write(&tmp, text)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        }
        // Rename last, so a reader polling for the file never sees half of it.
        std::fs::rename(&tmp, path)
    }

    pub fn read(path: &std::path::Path) -> std::io::Result<Manifest> {
        let text = std::fs::read_to_string(path)?;
        serde_json::from_str(&text).map_err(std::io::Error::other)
    }
}
