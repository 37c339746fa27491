//! What the server is, read from inside: disks, NICs (MAC, link, speed), CPU and memory from the
//! kernel, and for each NIC the LLDP neighbour heard on it. Also the kernel's console, forwarded
//! with the heartbeats so a failed deployment says why.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use planner_core::deploy::agent::{Inventory, LldpNeighbour, Nic};

use crate::Report;

fn read(p: &Path) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
}

/// Physical NICs under `root` (`/sys/class/net`): those with a device behind them.
pub fn nics_under(root: &Path) -> Vec<Nic> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(root) else {
        return out;
    };
    for e in rd.flatten() {
        let dir = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if !dir.join("device").exists() {
            continue;
        }
        let Some(mac) = read(&dir.join("address")) else {
            continue;
        };
        out.push(Nic {
            link_up: read(&dir.join("carrier")).as_deref() == Some("1"),
            speed_mbps: read(&dir.join("speed"))
                .and_then(|s| s.parse::<i64>().ok())
                .filter(|s| *s > 0)
                .map(|s| s as u32),
            mac: mac.to_ascii_lowercase(),
            name,
            lldp: None,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn cpu(cpuinfo: &str) -> (u32, Option<String>) {
    let count = cpuinfo
        .lines()
        .filter(|l| l.starts_with("processor"))
        .count() as u32;
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string());
    (count, model)
}

/// Listens on every NIC for up to `seconds` (LLDP's default interval is 30 s) and returns what
/// was heard, by interface name.
fn listen_lldp(nics: &[Nic], seconds: u64, report: &Report) -> BTreeMap<String, LldpNeighbour> {
    let mut socks = Vec::new();
    for n in nics {
        let idx = read(&Path::new("/sys/class/net").join(&n.name).join("ifindex"))
            .and_then(|s| s.parse::<i32>().ok());
        let Some(idx) = idx else { continue };
        match crate::sys::PacketSocket::open(idx, crate::lldp::ETHERTYPE) {
            Ok(s) => socks.push((n.name.clone(), s)),
            Err(e) => report.log(format!("LLDP on {}: {e}", n.name)),
        }
    }
    let mut heard = BTreeMap::new();
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut buf = vec![0u8; 9000];
    while Instant::now() < end && heard.len() < socks.len() {
        for (name, s) in &socks {
            if heard.contains_key(name) {
                continue;
            }
            if let Ok(Some(n)) = s.recv(&mut buf, 100) {
                if let Some(nb) = crate::lldp::parse(&buf[..n]) {
                    report.log(format!(
                        "LLDP on {name}: {} port {}",
                        nb.switch(),
                        nb.port_id
                    ));
                    heard.insert(name.clone(), nb);
                }
            }
        }
    }
    heard
}

/// The LLDP neighbour heard on one interface within `seconds`, if any.
pub fn listen_on(name: &str, seconds: u64, report: &Report) -> Option<LldpNeighbour> {
    let nic = Nic {
        name: name.to_string(),
        ..Nic::default()
    };
    listen_lldp(&[nic], seconds, report).remove(name)
}

pub fn inventory(report: &Report, lldp_seconds: u64) -> Inventory {
    let (cpu_count, cpu_model) = cpu(&std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default());
    let memory_bytes = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024;
    let mut nics = nics_under(Path::new("/sys/class/net"));
    if lldp_seconds > 0 {
        let heard = listen_lldp(&nics, lldp_seconds, report);
        for n in &mut nics {
            n.lldp = heard.get(&n.name).cloned();
        }
    }
    Inventory {
        disks: crate::disk::disks(),
        nics,
        cpu_count,
        cpu_model,
        memory_bytes,
        boot_mode: if Path::new("/sys/firmware/efi").exists() {
            "uefi".into()
        } else {
            "bios".into()
        },
    }
}

/// The kernel's log (`/dev/kmsg`), read without blocking.
pub struct Console {
    f: Option<File>,
}

impl Console {
    pub fn open() -> Console {
        Console {
            f: std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open("/dev/kmsg")
                .ok(),
        }
    }

    /// The lines logged since the last call (at most 500 at a time).
    pub fn read(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        let Some(f) = &mut self.f else { return out };
        let mut buf = vec![0u8; 8192];
        while out.len() < 500 {
            match f.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let rec = String::from_utf8_lossy(&buf[..n]);
                    let msg = rec.split_once(';').map(|(_, m)| m).unwrap_or(&rec);
                    out.push(redact(msg.lines().next().unwrap_or("")));
                }
                // EPIPE: records were overwritten before they were read; go on.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(_) => break,
            }
        }
        out
    }
}

/// A console line with the agent's endpoint (its token) cut: the kernel prints its command line.
pub fn redact(line: &str) -> String {
    match line.find("bm.url=") {
        Some(i) => {
            let end = line[i..]
                .find(char::is_whitespace)
                .map_or(line.len(), |e| i + e);
            format!("{}bm.url=…{}", &line[..i], &line[end..])
        }
        None => line.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_endpoint_on_the_kernel_command_line_is_cut_from_the_console() {
        assert_eq!(
            redact("Command line: BOOT_IMAGE=/boot/vmlinuz console=ttyS0 bm.url=http://10.0.0.1:9/agent/s3cr3t panic=10"),
            "Command line: BOOT_IMAGE=/boot/vmlinuz console=ttyS0 bm.url=… panic=10"
        );
        assert_eq!(redact("no token here"), "no token here");
    }

    #[test]
    fn cpus_are_counted_and_the_model_named() {
        let info = "processor\t: 0\nmodel name\t: QEMU Virtual CPU version 2.5+\n\nprocessor\t: 1\nmodel name\t: QEMU Virtual CPU version 2.5+\n";
        assert_eq!(cpu(info), (2, Some("QEMU Virtual CPU version 2.5+".into())));
    }

    #[test]
    fn nics_with_a_device_are_read_with_mac_and_link() {
        let t = tempfile::tempdir().unwrap();
        let mk = |name: &str, device: bool, files: &[(&str, &str)]| {
            let d = t.path().join(name);
            std::fs::create_dir_all(&d).unwrap();
            if device {
                std::fs::create_dir_all(d.join("device")).unwrap();
            }
            for (f, v) in files {
                std::fs::write(d.join(f), v).unwrap();
            }
        };
        mk(
            "eth0",
            true,
            &[
                ("address", "52:54:00:AA:00:01\n"),
                ("carrier", "1\n"),
                ("speed", "-1\n"),
            ],
        );
        mk(
            "eth1",
            true,
            &[
                ("address", "52:54:00:aa:00:02\n"),
                ("carrier", "0\n"),
                ("speed", "10000\n"),
            ],
        );
        mk("lo", false, &[("address", "00:00:00:00:00:00")]);
        let n = nics_under(t.path());
        assert_eq!(n.len(), 2);
        assert_eq!(
            (n[0].mac.as_str(), n[0].link_up, n[0].speed_mbps),
            ("52:54:00:aa:00:01", true, None)
        );
        assert_eq!((n[1].link_up, n[1].speed_mbps), (false, Some(10000)));
    }
}
