//! The deploy agent's protocol, as plain data both sides share: the engine (`planner::host::agent`)
//! and the agent in its ramdisk (`bm-agent`).
//!
//! The agent starts every exchange. It is booted with `bm.url=<endpoint>/agent/<token>` on its
//! kernel command line (the token is per operation and unguessable), and then:
//!
//! ```text
//! POST <url>/heartbeat   {Heartbeat}  →  {Reply}     every 2 s, and at once after a command ends
//! ```
//!
//! The first heartbeat carries the inventory the agent read from the kernel. Each heartbeat carries
//! what happened since the last one (log and console lines, the progress of the running command,
//! the result of a finished one); each reply may carry the next command. A command is done once:
//! the agent sends its result until a reply acknowledges its id.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What the agent sends.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Heartbeat {
    /// Sent with the first heartbeat (and again after an `inspect` command).
    pub inventory: Option<Inventory>,
    /// The command running now, if any, and how far it is.
    pub running: Option<Progress>,
    /// A finished command's result, until acknowledged.
    pub result: Option<CommandResult>,
    /// The agent's log lines since the last heartbeat.
    pub log: Vec<String>,
    /// Kernel console lines (`/dev/kmsg`) since the last heartbeat.
    pub console: Vec<String>,
}

/// What the engine answers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Reply {
    /// The id of the result the engine has recorded: the agent stops sending it.
    pub ack: Option<u64>,
    pub command: Option<Command>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub id: u64,
    pub step: String,
    pub done: u64,
    pub total: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommandResult {
    pub id: u64,
    pub ok: bool,
    /// Why it failed, or a one-line summary of what it did.
    pub message: String,
    /// What the command found or did, as data (disks written, wipe methods per disk).
    #[serde(default)]
    pub detail: Value,
}

/// A command to the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Command {
    pub id: u64,
    #[serde(flatten)]
    pub kind: CommandKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CommandKind {
    /// Fetch the image, verify it, and only then write it to the root device; then write the
    /// config drive as a partition at the end of that disk.
    WriteImage(WriteImage),
    /// Erase every disk.
    Wipe { mode: WipeMode },
    /// Read the hardware again (LLDP included) and send it as the next heartbeat's inventory.
    Inspect { lldp_seconds: u64 },
    /// Flush and stop: the engine powers the server off or reboots it through the BMC.
    Finish,
    /// Generalise a snapshot of the root device and upload it as a zstd-compressed raw image
    /// (`super::capture`); the disk itself is not changed.
    Capture(super::capture::Capture),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WriteImage {
    pub url: String,
    /// `sha256:<hex>` or `sha512:<hex>` of the file as fetched.
    pub checksum: String,
    pub format: ImageFormat,
    /// Where the config drive (an ISO 9660 image) is fetched from.
    pub config_drive_url: Option<String>,
    #[serde(default)]
    pub root_device: RootDeviceHints,
    /// PEM certificates the agent trusts for `https` image URLs besides none: with no
    /// certificates given, an `https` image is refused.
    #[serde(default)]
    pub ca_pem: Option<String>,
}

/// The image formats the agent writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageFormat {
    /// A disk image as it is.
    Raw,
    /// QEMU's copy-on-write format (uncompressed, zlib or zstd clusters; no backing file).
    Qcow2,
    RawGzip,
    RawXz,
    RawZstd,
    /// A bootable installer ISO: not written by the agent, booted by virtual media instead.
    Iso,
}

impl ImageFormat {
    pub fn parse(s: &str) -> Result<ImageFormat, crate::rules::Invalid> {
        Ok(match s {
            "raw" => ImageFormat::Raw,
            "qcow2" => ImageFormat::Qcow2,
            "raw.gz" | "raw+gzip" => ImageFormat::RawGzip,
            "raw.xz" | "raw+xz" => ImageFormat::RawXz,
            "raw.zst" | "raw+zstd" => ImageFormat::RawZstd,
            "iso" => ImageFormat::Iso,
            other => {
                return Err(crate::rules::Invalid(format!(
                    "image format {other:?}: use raw, qcow2, raw.gz, raw.xz, raw.zst or iso"
                )))
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Raw => "raw",
            ImageFormat::Qcow2 => "qcow2",
            ImageFormat::RawGzip => "raw.gz",
            ImageFormat::RawXz => "raw.xz",
            ImageFormat::RawZstd => "raw.zst",
            ImageFormat::Iso => "iso",
        }
    }

    /// The format an image URL's name says (its path, the query left out): `.iso` an installer,
    /// `.qcow2`/`.img` qcow2… `None` when the name says nothing: the user names the format.
    pub fn detect(url: &str) -> Option<ImageFormat> {
        let path = url
            .split(['?', '#'])
            .next()
            .unwrap_or(url)
            .to_ascii_lowercase();
        let name = path.rsplit('/').next().unwrap_or(&path);
        let ends = |s: &str| name.ends_with(s);
        Some(if ends(".iso") {
            ImageFormat::Iso
        } else if ends(".qcow2") {
            ImageFormat::Qcow2
        } else if ends(".raw.gz") || ends(".img.gz") {
            ImageFormat::RawGzip
        } else if ends(".raw.xz") || ends(".img.xz") {
            ImageFormat::RawXz
        } else if ends(".raw.zst") || ends(".img.zst") {
            ImageFormat::RawZstd
        } else if ends(".raw") {
            ImageFormat::Raw
        } else {
            return None;
        })
    }

    /// The format an image's first bytes say (64 KiB are enough): qcow2, gzip, xz and zstd by
    /// their magic numbers, an ISO 9660 installer by its volume descriptor, a raw disk by its
    /// partition table's boot signature. `None`: none of them.
    pub fn sniff(head: &[u8]) -> Option<ImageFormat> {
        let starts = |m: &[u8]| head.starts_with(m);
        if starts(b"QFI\xfb") {
            return Some(ImageFormat::Qcow2);
        }
        if starts(&[0x1f, 0x8b]) {
            return Some(ImageFormat::RawGzip);
        }
        if starts(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            return Some(ImageFormat::RawXz);
        }
        if starts(&[0x28, 0xb5, 0x2f, 0xfd]) {
            return Some(ImageFormat::RawZstd);
        }
        // A hybrid ISO has an MBR too: the volume descriptor decides first.
        if head.len() >= 32774 && &head[32769..32774] == b"CD001" {
            return Some(ImageFormat::Iso);
        }
        if head.len() >= 512 && head[510] == 0x55 && head[511] == 0xaa {
            return Some(ImageFormat::Raw);
        }
        None
    }

    /// Whether the agent writes it (everything but an installer ISO).
    pub fn by_agent(self) -> bool {
        self != ImageFormat::Iso
    }
}

/// Which disk the image goes to, as users name it (Ironic's root device hints). Every hint given
/// must match; with none, the smallest disk of at least 4 GiB.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RootDeviceHints {
    /// The kernel's name (`vda`, `/dev/sda`) or a `/dev/disk/by-path/…` name.
    pub name: Option<String>,
    pub serial: Option<String>,
    /// Size in GiB, exactly as the disk rounds down.
    pub size_gib: Option<u64>,
    pub rotational: Option<bool>,
}

impl RootDeviceHints {
    /// The `root_device` block of a host's attributes (a list of one object, as blocks are
    /// given), or why it cannot be taken.
    pub fn from_attrs(attrs: &serde_json::Map<String, Value>) -> Result<RootDeviceHints, String> {
        let Some(b) = attrs
            .get("root_device")
            .and_then(|v| match v {
                Value::Array(a) => a.first(),
                v => Some(v),
            })
            .and_then(Value::as_object)
        else {
            return Ok(RootDeviceHints::default());
        };
        let text = |k: &str| b.get(k).and_then(Value::as_str).map(str::to_string);
        let size_gib = match b.get("size_gib") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(n) if n > 0 => Some(n),
                _ => {
                    return Err(format!(
                        "size_gib is a whole number of GiB above 0, not {v}"
                    ))
                }
            },
        };
        let h = RootDeviceHints {
            name: text("name"),
            serial: text("serial"),
            size_gib,
            rotational: b.get("rotational").and_then(Value::as_bool),
        };
        if h.is_empty() {
            return Err(
                "the root_device block gives no hint: name, serial, size_gib or rotational".into(),
            );
        }
        Ok(h)
    }

    pub fn is_empty(&self) -> bool {
        self == &RootDeviceHints::default()
    }

    /// The disk these hints pick among `disks`, or why none.
    pub fn pick<'a>(&self, disks: &'a [Disk]) -> Result<&'a Disk, String> {
        const MIN: u64 = 4 << 30;
        let matches = |d: &Disk| {
            let name = self.name.as_deref().map(|n| n.trim_start_matches("/dev/"));
            name.is_none_or(|n| {
                n == d.name
                    || d.by_path
                        .as_deref()
                        .is_some_and(|p| n == format!("disk/by-path/{p}"))
            }) && self
                .serial
                .as_deref()
                .is_none_or(|s| d.serial.as_deref() == Some(s))
                && self.size_gib.is_none_or(|g| d.size_bytes >> 30 == g)
                && self.rotational.is_none_or(|r| d.rotational == r)
        };
        let mut fit: Vec<&Disk> = disks
            .iter()
            .filter(|d| matches(d) && (!self.is_empty() || d.size_bytes >= MIN))
            .collect();
        fit.sort_by_key(|d| (d.size_bytes, d.name.clone()));
        fit.first().copied().ok_or_else(|| {
            if self.is_empty() {
                format!("no disk of at least 4 GiB among {}", describe(disks))
            } else {
                format!(
                    "no disk matches the root device hints {} among {}",
                    serde_json::to_string(self).unwrap_or_default(),
                    describe(disks)
                )
            }
        })
    }
}

fn describe(disks: &[Disk]) -> String {
    if disks.is_empty() {
        return "no disks".into();
    }
    disks
        .iter()
        .map(|d| {
            format!(
                "{} ({} bytes, serial {})",
                d.name,
                d.size_bytes,
                d.serial.as_deref().unwrap_or("-")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WipeMode {
    /// Partition tables and filesystem signatures at both ends of each disk.
    Metadata,
    /// Every byte: hardware secure erase where the disk offers it, else a zeroing the disk
    /// guarantees (write-zeroes), else zeros written.
    Full,
}

/// What the agent read from the kernel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Inventory {
    pub disks: Vec<Disk>,
    pub nics: Vec<Nic>,
    pub cpu_count: u32,
    pub cpu_model: Option<String>,
    pub memory_bytes: u64,
    /// `bios` or `uefi`: how the agent itself was booted.
    pub boot_mode: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Disk {
    pub name: String,
    pub size_bytes: u64,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub rotational: bool,
    /// The `/dev/disk/by-path/` name, as udev would make it (`pci-0000:00:04.0`).
    pub by_path: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Nic {
    pub name: String,
    pub mac: String,
    pub link_up: bool,
    pub speed_mbps: Option<u32>,
    /// What the switch port at the other end says of itself over LLDP.
    pub lldp: Option<LldpNeighbour>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LldpNeighbour {
    pub chassis_id: String,
    pub port_id: String,
    pub system_name: Option<String>,
    pub port_description: Option<String>,
}

impl LldpNeighbour {
    /// The switch as the catalog names it: the system name, else the chassis id.
    pub fn switch(&self) -> &str {
        self.system_name.as_deref().unwrap_or(&self.chassis_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disk(name: &str, gib: u64, serial: &str, rot: bool) -> Disk {
        Disk {
            name: name.into(),
            size_bytes: gib << 30,
            serial: Some(serial.into()),
            rotational: rot,
            by_path: Some(format!("pci-0000:00:0{}.0", name.len())),
            ..Disk::default()
        }
    }

    #[test]
    fn the_default_root_device_is_the_smallest_disk_of_at_least_4_gib() {
        let disks = [
            disk("vda", 8, "a", false),
            disk("vdb", 2, "b", false),
            disk("vdc", 5, "c", true),
        ];
        assert_eq!(RootDeviceHints::default().pick(&disks).unwrap().name, "vdc");
        let small = [disk("vdb", 2, "b", false)];
        let e = RootDeviceHints::default().pick(&small).unwrap_err();
        assert!(e.contains("no disk of at least 4 GiB among vdb"), "{e}");
    }

    #[test]
    fn every_root_device_hint_given_must_match() {
        let disks = [disk("vda", 8, "a", false), disk("vdb", 2, "b", true)];
        let h = |f: fn(&mut RootDeviceHints)| {
            let mut h = RootDeviceHints::default();
            f(&mut h);
            h.pick(&disks).map(|d| d.name.clone())
        };
        assert_eq!(h(|h| h.serial = Some("b".into())).unwrap(), "vdb");
        assert_eq!(h(|h| h.name = Some("/dev/vda".into())).unwrap(), "vda");
        assert_eq!(h(|h| h.size_gib = Some(2)).unwrap(), "vdb");
        assert_eq!(h(|h| h.rotational = Some(true)).unwrap(), "vdb");
        let e = h(|h| {
            h.serial = Some("a".into());
            h.rotational = Some(true)
        })
        .unwrap_err();
        assert!(e.contains("no disk matches the root device hints"), "{e}");
    }

    #[test]
    fn formats_are_detected_from_the_name_and_refused_when_unknown() {
        assert_eq!(
            ImageFormat::detect("http://x/a/debian.qcow2?sig=1"),
            Some(ImageFormat::Qcow2)
        );
        assert_eq!(
            ImageFormat::detect("http://x/d.raw.zst"),
            Some(ImageFormat::RawZstd)
        );
        assert_eq!(
            ImageFormat::detect("http://x/d.img.gz"),
            Some(ImageFormat::RawGzip)
        );
        assert_eq!(
            ImageFormat::detect("http://x/installer.ISO"),
            Some(ImageFormat::Iso)
        );
        assert_eq!(ImageFormat::detect("http://x/download?id=3"), None);
        assert!(ImageFormat::parse("vmdk")
            .unwrap_err()
            .0
            .contains("use raw, qcow2"));
        for f in ["raw", "qcow2", "raw.gz", "raw.xz", "raw.zst", "iso"] {
            assert_eq!(ImageFormat::parse(f).unwrap().as_str(), f);
        }
    }

    #[test]
    fn formats_are_sniffed_from_their_first_bytes() {
        let mut mbr = vec![0u8; 1024];
        mbr[510] = 0x55;
        mbr[511] = 0xaa;
        assert_eq!(ImageFormat::sniff(&mbr), Some(ImageFormat::Raw));
        let mut iso = mbr.clone();
        iso.resize(40000, 0);
        iso[32769..32774].copy_from_slice(b"CD001");
        assert_eq!(ImageFormat::sniff(&iso), Some(ImageFormat::Iso));
        assert_eq!(
            ImageFormat::sniff(b"QFI\xfb\0\0\0\x03"),
            Some(ImageFormat::Qcow2)
        );
        assert_eq!(
            ImageFormat::sniff(&[0x28, 0xb5, 0x2f, 0xfd, 4]),
            Some(ImageFormat::RawZstd)
        );
        assert_eq!(
            ImageFormat::sniff(&[0x1f, 0x8b, 8]),
            Some(ImageFormat::RawGzip)
        );
        assert_eq!(
            ImageFormat::sniff(b"\xfd7zXZ\0\0"),
            Some(ImageFormat::RawXz)
        );
        assert_eq!(ImageFormat::sniff(b"installer bytes"), None);
    }

    #[test]
    fn the_root_device_block_is_read_and_an_empty_or_bad_one_refused() {
        let m = |v: Value| v.as_object().unwrap().clone();
        let h = RootDeviceHints::from_attrs(&m(serde_json::json!({"root_device": [{"serial": "S1", "size_gib": 8, "rotational": false}]}))).unwrap();
        assert_eq!(
            (h.serial.as_deref(), h.size_gib, h.rotational),
            (Some("S1"), Some(8), Some(false))
        );
        assert!(RootDeviceHints::from_attrs(&m(serde_json::json!({})))
            .unwrap()
            .is_empty());
        let e =
            RootDeviceHints::from_attrs(&m(serde_json::json!({"root_device": [{"name": null}]})))
                .unwrap_err();
        assert!(e.contains("gives no hint"), "{e}");
        let e =
            RootDeviceHints::from_attrs(&m(serde_json::json!({"root_device": [{"size_gib": 0}]})))
                .unwrap_err();
        assert!(e.contains("above 0"), "{e}");
    }

    #[test]
    fn commands_travel_as_tagged_json() {
        let c = Command {
            id: 3,
            kind: CommandKind::Wipe {
                mode: WipeMode::Full,
            },
        };
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"id": 3, "kind": "wipe", "mode": "full"})
        );
        assert_eq!(serde_json::from_value::<Command>(v).unwrap(), c);
    }
}
