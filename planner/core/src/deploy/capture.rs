//! Capture, the reverse of a deployment: the deploy agent turns a deployed host's disk into a new
//! golden image. This module is the plan as data: what the agent is asked to do
//! ([`Capture`]), and what generalising a root filesystem removes ([`Generalise`]), so a copy
//! booted elsewhere is a new machine (its own machine-id, SSH host keys and cloud-init instance).
//!
//! The agent never changes the host's disk: it generalises a copy-on-write snapshot of each root
//! filesystem (device-mapper, its changes kept in the agent's memory), and streams the disk with
//! the snapshot's blocks in place of the originals, the config drive's partition left out.

use serde::{Deserialize, Serialize};

use super::agent::RootDeviceHints;

/// The `capture` command: generalise a snapshot of the root device and upload it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Capture {
    /// Where the agent POSTs the image (the session's own upload path on the deployment
    /// endpoint).
    pub upload_url: String,
    #[serde(default)]
    pub root_device: RootDeviceHints,
    pub generalise: Generalise,
    /// A shell script run (by `/bin/sh -c`, chrooted into the snapshot's root filesystem) after
    /// the standard steps: what a site removes besides them.
    #[serde(default)]
    pub script: Option<String>,
    /// zstd level (1–19).
    #[serde(default = "default_level")]
    pub level: i32,
}

fn default_level() -> i32 {
    3
}

/// One generalisation step, on a path relative to the root filesystem. A path's last component
/// may end with `*` (every entry starting with what precedes it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", content = "path", rename_all = "snake_case")]
pub enum Step {
    /// Emptied to zero bytes (kept: `/etc/machine-id` empty means "first boot" to systemd).
    Empty(String),
    /// Removed (a file, a link, or a directory with what it holds).
    Remove(String),
    /// What the directory holds removed; the directory stays.
    RemoveContents(String),
    /// Every regular file under the directory emptied, rotated ones (`.1`, `.gz`…) removed.
    Logs(String),
}

impl Step {
    pub fn path(&self) -> &str {
        match self {
            Step::Empty(p) | Step::Remove(p) | Step::RemoveContents(p) | Step::Logs(p) => p,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Step::Empty(p) => format!("emptied {p}"),
            Step::Remove(p) => format!("removed {p}"),
            Step::RemoveContents(p) => format!("emptied directory {p}"),
            Step::Logs(p) => format!("logs under {p} emptied"),
        }
    }
}

/// What generalising removes, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Generalise {
    pub steps: Vec<Step>,
}

impl Generalise {
    /// The standard plan: machine identity, SSH host keys, cloud-init's state (so it runs again,
    /// as a new instance), persistent network rules (so NICs with other MACs get their names),
    /// logs, and temporary files.
    pub fn standard() -> Generalise {
        let s = |x: &str| x.to_string();
        Generalise {
            steps: vec![
                Step::Empty(s("/etc/machine-id")),
                // A regular file there (not the usual link to /etc/machine-id) is a second copy.
                Step::Remove(s("/var/lib/dbus/machine-id")),
                Step::Remove(s("/etc/ssh/ssh_host_*")),
                Step::RemoveContents(s("/var/lib/cloud")),
                Step::Remove(s("/etc/udev/rules.d/70-persistent-net.rules")),
                Step::Remove(s("/var/lib/dhcp/*.leases")),
                Step::Remove(s("/var/lib/systemd/random-seed")),
                Step::Logs(s("/var/log")),
                Step::Remove(s("/root/.bash_history")),
                Step::RemoveContents(s("/tmp")),
                Step::RemoveContents(s("/var/tmp")),
            ],
        }
    }

    /// Refuses paths that are not absolute, climb with `..`, or glob anywhere but at the end.
    pub fn check(&self) -> Result<(), String> {
        for st in &self.steps {
            let p = st.path();
            if !p.starts_with('/') || p == "/" {
                return Err(format!(
                    "generalisation path {p:?}: must be absolute, below /"
                ));
            }
            if p.split('/').any(|c| c == "..") {
                return Err(format!("generalisation path {p:?}: `..` is not allowed"));
            }
            let (dir, last) = p.rsplit_once('/').unwrap_or(("", p));
            let stars = last.matches('*').count();
            if dir.contains('*')
                || stars > 1
                || (stars == 1 && !last.starts_with('*') && !last.ends_with('*'))
            {
                return Err(format!(
                    "generalisation path {p:?}: `*` is allowed once, in the last component, at its start or end"
                ));
            }
        }
        Ok(())
    }
}

/// Whether a file name matches a last component with at most one `*` at its start or end.
pub fn matches(pattern: &str, name: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix('*') {
        name.starts_with(prefix)
    } else if let Some(suffix) = pattern.strip_prefix('*') {
        name.ends_with(suffix)
    } else {
        pattern == name
    }
}

/// What a rotated or compressed log file is named like (removed, not emptied).
pub fn rotated_log(name: &str) -> bool {
    let ends = [".gz", ".xz", ".zst", ".bz2", ".old"];
    ends.iter().any(|e| name.ends_with(e))
        || name
            .rsplit_once('.')
            .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        || name
            .rsplit_once('-')
            .is_some_and(|(_, d)| d.len() == 8 && d.bytes().all(|b| b.is_ascii_digit()))
}

/// What the agent reports when a capture is done (the command result's `detail`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Captured {
    /// `sha256:<hex>` of the uploaded (compressed) image.
    pub checksum: String,
    /// Bytes uploaded.
    pub bytes: u64,
    /// Bytes of disk the image holds once written.
    pub disk_bytes: u64,
    /// `ID` of the captured system's `/etc/os-release`, when it has one.
    pub os_id: Option<String>,
    /// What generalising did, a line per step that found something.
    pub generalised: Vec<String>,
    /// The partition table kind (`gpt`, `mbr`).
    pub table: String,
    /// The config drive's partition number, when one was left out.
    pub config_drive_dropped: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_plan_passes_its_own_check_and_bad_paths_are_refused() {
        Generalise::standard().check().unwrap();
        let bad = |p: &str| {
            Generalise {
                steps: vec![Step::Remove(p.into())],
            }
            .check()
            .unwrap_err()
        };
        assert!(bad("etc/x").contains("absolute"));
        assert!(bad("/").contains("absolute"));
        assert!(bad("/etc/../root").contains(".."));
        assert!(bad("/etc/*/x").contains("last component"));
        assert!(bad("/etc/a*b").contains("last component"));
        Generalise {
            steps: vec![Step::Remove("/var/lib/dhcp/*.leases".into())],
        }
        .check()
        .unwrap();
    }

    #[test]
    fn patterns_and_rotated_logs() {
        assert!(matches("ssh_host_*", "ssh_host_rsa_key.pub"));
        assert!(!matches("ssh_host_*", "sshd_config"));
        assert!(matches("*.leases", "dhclient.eth0.leases"));
        assert!(matches("machine-id", "machine-id"));
        for n in [
            "syslog.1",
            "syslog.2.gz",
            "dpkg.log.old",
            "messages-20261201",
        ] {
            assert!(rotated_log(n), "{n}");
        }
        for n in ["syslog", "cloud-init.log", "wtmp", "kern.log"] {
            assert!(!rotated_log(n), "{n}");
        }
    }

    #[test]
    fn the_command_round_trips_with_defaults() {
        let c: Capture = serde_json::from_value(serde_json::json!({
            "upload_url": "http://e/agent/t/capture",
            "generalise": {"steps": [{"op": "empty", "path": "/etc/machine-id"}]},
        }))
        .unwrap();
        assert_eq!(c.level, 3);
        assert_eq!(c.script, None);
        assert_eq!(c.generalise.steps[0], Step::Empty("/etc/machine-id".into()));
    }
}
