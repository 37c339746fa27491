//! Hardware of simulated servers: vendor profiles and a deterministic generator of varied fleets.
//!
//! Each vendor profile carries the identifiers and spellings its real BMCs use (Dell's
//! `System.Embedded.1`, HPE's numeric ids, Supermicro's `UsbCd` boot target), so that drivers meet the
//! same variety in the lab that they meet in a real rack.

use crate::rng::SplitMix;

/// A server vendor as the lab models it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    Dell,
    Hpe,
    Lenovo,
    Supermicro,
}

impl Vendor {
    pub const ALL: [Vendor; 4] = [
        Vendor::Dell,
        Vendor::Hpe,
        Vendor::Lenovo,
        Vendor::Supermicro,
    ];

    pub fn manufacturer(self) -> &'static str {
        match self {
            Vendor::Dell => "Dell Inc.",
            Vendor::Hpe => "HPE",
            Vendor::Lenovo => "Lenovo",
            Vendor::Supermicro => "Supermicro",
        }
    }

    /// Short lowercase name, used in registry names and the manifest.
    pub fn key(self) -> &'static str {
        match self {
            Vendor::Dell => "dell",
            Vendor::Hpe => "hpe",
            Vendor::Lenovo => "lenovo",
            Vendor::Supermicro => "supermicro",
        }
    }

    pub fn system_id(self) -> &'static str {
        match self {
            Vendor::Dell => "System.Embedded.1",
            Vendor::Hpe | Vendor::Lenovo | Vendor::Supermicro => "1",
        }
    }

    pub fn manager_id(self) -> &'static str {
        match self {
            Vendor::Dell => "iDRAC.Embedded.1",
            Vendor::Hpe | Vendor::Lenovo | Vendor::Supermicro => "1",
        }
    }

    pub fn chassis_id(self) -> &'static str {
        match self {
            Vendor::Dell => "System.Embedded.1",
            Vendor::Hpe | Vendor::Lenovo | Vendor::Supermicro => "1",
        }
    }

    pub fn manager_model(self) -> &'static str {
        match self {
            Vendor::Dell => "iDRAC9",
            Vendor::Hpe => "iLO 5",
            Vendor::Lenovo => "XClarity Controller",
            Vendor::Supermicro => "BMC",
        }
    }

    pub fn storage_controller_id(self) -> &'static str {
        match self {
            Vendor::Dell => "RAID.Integrated.1-1",
            Vendor::Hpe => "DE00A000",
            Vendor::Lenovo => "RAID_Slot3",
            Vendor::Supermicro => "HA-RAID",
        }
    }

    pub fn default_username(self) -> &'static str {
        match self {
            Vendor::Dell => "root",
            Vendor::Hpe => "Administrator",
            Vendor::Lenovo => "USERID",
            Vendor::Supermicro => "ADMIN",
        }
    }

    /// Virtual media slot ids under the manager, CD first.
    pub fn virtual_media_ids(self) -> [&'static str; 2] {
        match self {
            Vendor::Dell => ["CD", "RemovableDisk"],
            Vendor::Hpe => ["2", "1"],
            Vendor::Lenovo => ["EXT1", "EXT2"],
            Vendor::Supermicro => ["CD1", "USB1"],
        }
    }

    /// Which counts the vendor's BMCs put in the system's `ProcessorSummary`: (`CoreCount`,
    /// `LogicalProcessorCount`), as seen in dumps of real machines (iDRAC 9 on an R750: both;
    /// XClarity on an SR670 V2: threads only; iLO 5 on a DL385 Gen10 Plus v2 and a Supermicro
    /// SYS-821GE: neither).
    pub fn summary_counts(self) -> (bool, bool) {
        match self {
            Vendor::Dell => (true, true),
            Vendor::Lenovo => (false, true),
            Vendor::Hpe | Vendor::Supermicro => (false, false),
        }
    }

    /// The boot override spelling for the virtual CD (Supermicro says `UsbCd`).
    pub fn cd_boot_target(self) -> &'static str {
        match self {
            Vendor::Supermicro => "UsbCd",
            _ => "Cd",
        }
    }

    /// Whether the System lists the host's side of the Redfish host interface (the in-band path to the
    /// BMC) among its EthernetInterfaces, as XClarity does (`ToManager`, linked to the manager's
    /// HostInterface): a client must not take it for a NIC the server is cabled with.
    pub fn host_interface_nic(self) -> bool {
        matches!(self, Vendor::Lenovo)
    }

    /// Whether InsertMedia insists on `TransferProtocolType` (answering 400 without it), as some
    /// XClarity firmware does.
    pub fn insert_requires_protocol(self) -> bool {
        matches!(self, Vendor::Lenovo)
    }

    pub fn drive_id(self, ctl: &str, bay: usize) -> String {
        match self {
            Vendor::Dell => format!("Disk.Bay.{bay}:Enclosure.Internal.0-1:{ctl}"),
            Vendor::Hpe => format!("{bay}"),
            Vendor::Lenovo => format!("Disk_{bay}"),
            Vendor::Supermicro => format!("Disk.Bay.{bay}"),
        }
    }

    pub fn volume_id(self, ctl: &str, n: u32) -> String {
        match self {
            Vendor::Dell => format!("Disk.Virtual.{n}:{ctl}"),
            _ => format!("{n}"),
        }
    }

    pub fn nic_id(self, n: usize) -> String {
        match self {
            Vendor::Dell => format!("NIC.Integrated.1-{}-1", n + 1),
            Vendor::Hpe => format!("{}", n + 1),
            Vendor::Lenovo => format!("NIC{}", n + 1),
            Vendor::Supermicro => format!("{}", n + 1),
        }
    }
}

/// CPU architecture, as Redfish's `ProcessorArchitecture`/`InstructionSet` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Aarch64 => "aarch64",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Cpu {
    pub model: &'static str,
    pub cores: u32,
    pub threads: u32,
    pub max_mhz: u32,
}

#[derive(Debug, Clone)]
pub struct Drive {
    pub id: String,
    pub model: &'static str,
    pub serial: String,
    pub capacity_bytes: u64,
    /// `SSD` or `HDD`.
    pub media: &'static str,
    /// `SAS`, `SATA` or `NVMe`.
    pub protocol: &'static str,
}

#[derive(Debug, Clone)]
pub struct Nic {
    pub id: String,
    pub mac: String,
    pub speed_mbps: u32,
    /// The switch and port this NIC is cabled to, if any.
    pub cable: Option<(String, String)>,
}

/// Everything about a simulated server that does not change while it runs.
#[derive(Debug, Clone)]
pub struct Hardware {
    pub vendor: Vendor,
    pub model: &'static str,
    pub serial: String,
    pub sku: String,
    pub uuid: String,
    pub arch: Arch,
    pub sockets: u32,
    pub cpu: Cpu,
    pub memory_gib: u32,
    pub dimm_gib: u32,
    pub drives: Vec<Drive>,
    pub nics: Vec<Nic>,
    pub bios_version: &'static str,
    pub bmc_version: &'static str,
    pub nic_fw_version: &'static str,
    pub raid_fw_version: &'static str,
}

const X86_CPUS: [Cpu; 4] = [
    Cpu {
        model: "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz",
        cores: 32,
        threads: 64,
        max_mhz: 3200,
    },
    Cpu {
        model: "Intel(R) Xeon(R) Silver 4314 CPU @ 2.40GHz",
        cores: 16,
        threads: 32,
        max_mhz: 3400,
    },
    Cpu {
        model: "AMD EPYC 7543 32-Core Processor",
        cores: 32,
        threads: 64,
        max_mhz: 3700,
    },
    Cpu {
        model: "Intel(R) Xeon(R) Gold 6430",
        cores: 32,
        threads: 64,
        max_mhz: 3400,
    },
];

const ARM_CPU: Cpu = Cpu {
    model: "Ampere(R) Altra(R) Q80-30",
    cores: 80,
    threads: 80,
    max_mhz: 3000,
};

fn models(vendor: Vendor) -> &'static [&'static str] {
    match vendor {
        Vendor::Dell => &["PowerEdge R650", "PowerEdge R750", "PowerEdge R6525"],
        Vendor::Hpe => &["ProLiant DL360 Gen10 Plus", "ProLiant DL380 Gen11"],
        Vendor::Lenovo => &["ThinkSystem SR650 V2", "ThinkSystem SR630 V3"],
        Vendor::Supermicro => &["SYS-620U-TNR", "ARS-110M-NR"],
    }
}

fn versions(vendor: Vendor) -> (&'static str, &'static str) {
    match vendor {
        Vendor::Dell => ("2.19.1", "7.00.00.172"),
        Vendor::Hpe => ("U46 v2.80", "2.81"),
        Vendor::Lenovo => ("AFE124K-3.30", "AFBT40O-5.10"),
        Vendor::Supermicro => ("1.4a", "01.01.26"),
    }
}

const DRIVES: [(&str, u64, &str, &str); 5] = [
    ("MZ7L3480HCHQ-00A07", 480_103_981_056, "SSD", "SATA"),
    ("KPM6XRUG960G", 960_197_124_096, "SSD", "SAS"),
    (
        "Dell Ent NVMe P5600 MU U.2 1.6TB",
        1_600_321_314_816,
        "SSD",
        "NVMe",
    ),
    ("ST2000NM003A", 2_000_398_934_016, "HDD", "SAS"),
    ("MZQL27T6HBLA-00A07", 7_681_501_126_656, "SSD", "NVMe"),
];

/// Deterministically generates the hardware of node `index` of a fleet built from `seed`.
pub fn generate(seed: u64, index: usize) -> Hardware {
    let mut rng = SplitMix::for_stream(seed, index as u64);
    let vendor = Vendor::ALL[index % Vendor::ALL.len()];
    let model_list = models(vendor);
    let model = model_list[rng.below(model_list.len() as u64) as usize];
    // The Supermicro ARS line is Ampere Altra: the fleet always holds some aarch64 nodes.
    let arch = if model.starts_with("ARS") {
        Arch::Aarch64
    } else {
        Arch::X86_64
    };
    let cpu = match arch {
        Arch::Aarch64 => ARM_CPU,
        Arch::X86_64 => X86_CPUS[rng.below(X86_CPUS.len() as u64) as usize].clone(),
    };
    let sockets = if arch == Arch::Aarch64 {
        1
    } else {
        1 + rng.below(2) as u32
    };
    let memory_gib = [128, 256, 384, 512, 768][rng.below(5) as usize];
    let dimm_gib = if memory_gib % 64 == 0 && memory_gib >= 512 {
        64
    } else {
        32
    };
    let ctl = vendor.storage_controller_id();
    let drive_count = 3 + rng.below(6) as usize;
    let drive_kind = DRIVES[rng.below(DRIVES.len() as u64) as usize];
    let drives = (0..drive_count)
        .map(|bay| Drive {
            id: vendor.drive_id(ctl, bay),
            model: drive_kind.0,
            serial: format!("S{:08X}{bay}", rng.next_u64() as u32),
            capacity_bytes: drive_kind.1,
            media: drive_kind.2,
            protocol: drive_kind.3,
        })
        .collect();
    let nic_count = 2 + rng.below(3) as usize;
    let nics = (0..nic_count)
        .map(|n| Nic {
            id: vendor.nic_id(n),
            mac: format!(
                "52:54:{:02x}:{:02x}:{:02x}:{:02x}",
                n,
                (index >> 16) & 0xff,
                (index >> 8) & 0xff,
                index & 0xff
            ),
            speed_mbps: if n < 2 { 25_000 } else { 10_000 },
            cable: None,
        })
        .collect();
    let raw = rng.next_u64();
    let serial = match vendor {
        Vendor::Dell => service_tag(raw),
        Vendor::Hpe => format!("CZJ{:07}", raw % 10_000_000),
        Vendor::Lenovo => format!("J3{:06X}", raw & 0xFF_FFFF),
        Vendor::Supermicro => format!("S{:06}X{:07}", raw % 1_000_000, (raw >> 20) % 10_000_000),
    };
    let sku = match vendor {
        Vendor::Dell => serial.clone(),
        Vendor::Hpe => "P19766-B21".to_string(),
        Vendor::Lenovo => "7Z73CTO1WW".to_string(),
        Vendor::Supermicro => "Default string".to_string(),
    };
    let u = (rng.next_u64(), rng.next_u64());
    let uuid = format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        (u.0 >> 32) as u32,
        (u.0 >> 16) as u16,
        (u.0 as u16) & 0x0fff,
        ((u.1 >> 48) as u16 & 0x3fff) | 0x8000,
        u.1 & 0xffff_ffff_ffff
    );
    let (bios_version, bmc_version) = versions(vendor);
    Hardware {
        vendor,
        model,
        serial,
        sku,
        uuid,
        arch,
        sockets,
        cpu,
        memory_gib,
        dimm_gib,
        drives,
        nics,
        bios_version,
        bmc_version,
        nic_fw_version: "22.31.6",
        raid_fw_version: "52.16.1-4405",
    }
}

/// A Dell-style seven-character service tag.
fn service_tag(mut raw: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789BCDFGHJKLMNPQRSTVWXYZ";
    let mut s = String::with_capacity(7);
    for _ in 0..7 {
        s.push(ALPHABET[(raw % ALPHABET.len() as u64) as usize] as char);
        raw /= ALPHABET.len() as u64;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic_per_seed_and_index() {
        let a = generate(7, 3);
        let b = generate(7, 3);
        assert_eq!(a.serial, b.serial);
        assert_eq!(a.uuid, b.uuid);
        assert_ne!(generate(8, 3).uuid, a.uuid);
    }

    #[test]
    fn fleet_is_varied_and_macs_are_unique() {
        let fleet: Vec<_> = (0..1000).map(|i| generate(1, i)).collect();
        let vendors: std::collections::HashSet<_> = fleet.iter().map(|h| h.vendor.key()).collect();
        assert_eq!(vendors.len(), 4);
        assert!(fleet.iter().any(|h| h.arch == Arch::Aarch64));
        assert!(fleet.iter().any(|h| h.arch == Arch::X86_64));
        let mut macs = std::collections::HashSet::new();
        for h in &fleet {
            assert!((2..=4).contains(&h.nics.len()));
            for n in &h.nics {
                assert!(macs.insert(n.mac.clone()), "duplicate MAC {}", n.mac);
            }
        }
        let uuids: std::collections::HashSet<_> = fleet.iter().map(|h| h.uuid.clone()).collect();
        assert_eq!(uuids.len(), 1000);
        let serials: std::collections::HashSet<_> =
            fleet.iter().map(|h| h.serial.clone()).collect();
        assert_eq!(serials.len(), 1000);
    }
}
