//! What `ipmitool` prints, read into the planner's types. Pure functions over text; the samples
//! in the tests are what ipmitool 1.8.19 (Debian 12) printed against virtualbmc and OpenIPMI's
//! `ipmi_sim`.

use super::super::{BootSettings, EventEntry, FirmwareInfo, PowerState, Reading, Sensors};

/// `Key : value` lines (FRU, `mc info`, `chassis status`): the first line whose key is `key`.
pub fn field(out: &str, key: &str) -> Option<String> {
    out.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

/// `mc info`: the BMC's own firmware, the one firmware IPMI reports (it cannot update it).
pub fn bmc_firmware(out: &str) -> Option<FirmwareInfo> {
    let version = field(out, "Firmware Revision")?;
    Some(FirmwareInfo {
        id: "BMC".into(),
        name: Some("BMC firmware".into()),
        version: Some(version),
        updateable: Some(false),
    })
}

/// `Chassis Power is on|off`.
pub fn power(out: &str) -> Option<PowerState> {
    let l = out.lines().find(|l| l.starts_with("Chassis Power is"))?;
    match l.trim_start_matches("Chassis Power is").trim() {
        "on" => Some(PowerState::On),
        "off" => Some(PowerState::Off),
        _ => None,
    }
}

/// `chassis status`: the power and the faults the chassis reports.
#[derive(Debug, Clone, PartialEq)]
pub struct ChassisStatus {
    pub power: PowerState,
    /// The faults that are true, by name (`Main Power Fault`, `Cooling/Fan Fault`…).
    pub faults: Vec<String>,
}

impl ChassisStatus {
    /// Health as Redfish words it: a power fault is critical, another fault a warning.
    pub fn health(&self) -> &'static str {
        if self.faults.iter().any(|f| f.contains("Power")) {
            "Critical"
        } else if self.faults.is_empty() {
            "OK"
        } else {
            "Warning"
        }
    }
}

pub fn chassis_status(out: &str) -> Option<ChassisStatus> {
    let power = match field(out, "System Power")?.as_str() {
        "on" => PowerState::On,
        "off" => PowerState::Off,
        _ => return None,
    };
    let faults = out
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, v)| (k.contains("Fault") || k.contains("Overload")) && v.trim() == "true")
        .map(|(k, _)| k.trim().to_string())
        .collect();
    Some(ChassisStatus { power, faults })
}

/// The boot flags (boot parameter 5), from the data bytes `chassis bootparam get 5` prints.
#[derive(Debug, Clone, PartialEq)]
pub struct BootFlags {
    /// Whether the flags are valid (an override is set).
    pub valid: bool,
    pub persistent: bool,
    pub uefi: bool,
    /// The device selector: `None`, `Pxe`, `Hdd`, `Cd`, `BiosSetup`, or what else it says.
    pub target: String,
}

impl BootFlags {
    /// As the engine reads boot settings: the override's target and whether it is once or kept.
    pub fn settings(&self) -> BootSettings {
        let enabled = if !self.valid || self.target == "None" {
            "Disabled"
        } else if self.persistent {
            "Continuous"
        } else {
            "Once"
        };
        BootSettings {
            target: self.target.clone(),
            enabled: enabled.into(),
            mode: Some(if self.uefi { "UEFI" } else { "Legacy" }.into()),
            order: vec![],
            allowed_targets: ["None", "Pxe", "Hdd", "Cd", "BiosSetup"]
                .map(String::from)
                .to_vec(),
        }
    }
}

pub fn boot_flags(out: &str) -> Option<BootFlags> {
    let data = field(out, "Boot parameter data")?;
    let bytes = hex(&data)?;
    let (b1, b2) = (*bytes.first()?, *bytes.get(1)?);
    // IPMI 2.0, table 28-14, boot option parameter 5: data 1 bit 7 valid, bit 6 persistent,
    // bit 5 EFI; data 2 bits 5:2 the boot device selector.
    let target = match (b2 >> 2) & 0x0f {
        0x0 => "None".to_string(),
        0x1 => "Pxe".into(),
        0x2 | 0x3 => "Hdd".into(),
        0x4 => "Diagnostics".into(),
        0x5 => "Cd".into(),
        0x6 => "BiosSetup".into(),
        0x7 => "RemoteFloppy".into(),
        0x8 => "RemoteCd".into(),
        0x9 => "RemoteMedia".into(),
        0xb => "RemoteHdd".into(),
        0xf => "Floppy".into(),
        other => format!("device selector {other:#x}"),
    };
    Some(BootFlags {
        valid: b1 & 0x80 != 0,
        persistent: b1 & 0x40 != 0,
        uefi: b1 & 0x20 != 0,
        target,
    })
}

fn hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim();
    if s.len() % 2 != 0 || s.is_empty() {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// What FRU 0 says of the system.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fru {
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub serial: Option<String>,
    pub part_number: Option<String>,
}

/// `fru print 0`: the product area first, then the board's and the chassis's.
pub fn fru(out: &str) -> Fru {
    let first = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| field(out, k).filter(|v| !v.is_empty()))
            .map(|v| planner_core::text::printable(&v, false).into_owned())
    };
    Fru {
        manufacturer: first(&["Product Manufacturer", "Board Mfg"]),
        model: first(&["Product Name", "Board Product"]),
        serial: first(&["Product Serial", "Board Serial", "Chassis Serial"]),
        part_number: first(&[
            "Product Part Number",
            "Board Part Number",
            "Chassis Part Number",
        ]),
    }
}

/// `sensor list`: `name | value | units | status | thresholds…`. Discrete sensors (no number)
/// are left out; the units sort readings into temperatures, fans and the rest.
pub fn sensors(out: &str) -> Sensors {
    let mut s = Sensors {
        sources: vec!["IPMI SDR".into()],
        ..Sensors::default()
    };
    for line in out.lines() {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        if cols.len() < 4 || cols[2] == "discrete" {
            continue;
        }
        let value = cols[1].parse::<f64>().ok();
        let health = match cols[3] {
            "ok" => Some("OK".to_string()),
            "nc" => Some("Warning".into()),
            "cr" | "nr" => Some("Critical".into()),
            _ => None,
        };
        let r = Reading {
            name: planner_core::text::printable(cols[0], false).into_owned(),
            value,
            units: match cols[2] {
                "degrees C" => "Cel".into(),
                "RPM" => "RPM".into(),
                "Volts" => "V".into(),
                "Watts" => "W".into(),
                "Amps" => "A".into(),
                other => planner_core::text::printable(other, false).into_owned(),
            },
            health,
        };
        match cols[2] {
            "degrees C" => s.temperatures.push(r),
            "RPM" => s.fans.push(r),
            _ => s.other.push(r),
        }
    }
    s
}

/// `sel elist`: `id | date | time | sensor | event | direction`, oldest first.
pub fn sel(out: &str) -> Vec<EventEntry> {
    out.lines()
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('|').map(str::trim).collect();
            if cols.len() < 5 || cols[0].is_empty() {
                return None;
            }
            let shown = |t: &str| planner_core::text::printable(t, false).into_owned();
            let when = format!("{} {}", cols[1], cols[2]);
            let mut message = shown(cols[4]);
            if let Some(dir) = cols.get(5).filter(|d| !d.is_empty()) {
                message = format!("{message} ({})", shown(dir));
            }
            if let Some(more) = cols.get(6).filter(|d| !d.is_empty()) {
                message = format!("{message}: {}", shown(more));
            }
            Some(EventEntry {
                id: shown(cols[0]),
                created: Some(shown(when.trim())).filter(|w| !w.is_empty()),
                source: Some(shown(cols[3])).filter(|s| !s.is_empty()),
                message,
                severity: None,
            })
        })
        .collect()
}

/// Why an `ipmitool` call failed, from its standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The BMC refused the user name or password (RAKP).
    Credentials,
    /// No session could be opened: nothing answered, or not IPMI 2.0.
    NoAnswer,
    /// The BMC does not implement the command.
    Unsupported,
    /// The BMC answered with an error.
    Refused,
}

pub fn classify(stderr: &str) -> Failure {
    let e = stderr.to_ascii_lowercase();
    if e.contains("unauthorized name")
        || e.contains("rakp 2 hmac is invalid")
        || e.contains("invalid user name")
        || e.contains("rakp 2 message indicates an error")
        || e.contains("password")
    {
        Failure::Credentials
    } else if e.contains("in present state") {
        Failure::Refused
    } else if e.contains("invalid command")
        || e.contains("not supported")
        || e.contains("device not present")
    {
        Failure::Unsupported
    } else if e.contains("unable to establish")
        || e.contains("no response")
        || e.contains("timeout")
        || e.contains("connection refused")
        || e.contains("address lookup")
    {
        Failure::NoAnswer
    } else {
        Failure::Refused
    }
}

/// A request the BMC refused, as ipmitool reports it on standard error even when it exits 0
/// (`Set Chassis Boot Parameter 5 failed: Invalid data field in request`): the first such line.
pub fn refusal(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .map(str::trim)
        .find(|l| l.to_ascii_lowercase().contains(" failed"))
        .map(str::to_string)
}

/// Whether no session could be opened (a silent address and a refused login read alike).
pub fn no_session(stderr: &str) -> bool {
    stderr
        .to_ascii_lowercase()
        .contains("unable to establish ipmi v2 / rmcp+ session")
}

/// The last line that says something, for a message: ipmitool's notes that are not the error
/// (its cipher suite probe on BMCs that lack the command) left out.
pub fn last_error_line(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with("Unable to Get Channel Cipher Suites"))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    // What ipmitool 1.8.19 printed against virtualbmc 3.3.0.
    const VBMC_STATUS: &str = "System Power         : on
Power Overload       : false
Power Interlock      : inactive
Main Power Fault     : false
Power Control Fault  : false
Power Restore Policy : always-off
Last Power Event     : 
Chassis Intrusion    : inactive
Front-Panel Lockout  : inactive
Drive Fault          : false
Cooling/Fan Fault    : false
";

    const VBMC_BOOTPARAM: &str = "Boot parameter version: 1
Boot parameter 5 is valid/unlocked
Boot parameter data: 8000000000
 Boot Flags :
   - Boot Flag Valid
   - Options apply to only next boot
   - BIOS PC Compatible (legacy) boot 
   - Boot Device Selector : No override
";

    #[test]
    fn power_and_chassis_status_read_as_printed() {
        assert_eq!(power("Chassis Power is on\n"), Some(PowerState::On));
        assert_eq!(power("Chassis Power is off\n"), Some(PowerState::Off));
        assert_eq!(power("Chassis Power is weird\n"), None);
        let s = chassis_status(VBMC_STATUS).unwrap();
        assert_eq!((s.power.clone(), s.health()), (PowerState::On, "OK"));
        let faulty = VBMC_STATUS.replace(
            "Cooling/Fan Fault    : false",
            "Cooling/Fan Fault    : true",
        );
        let s = chassis_status(&faulty).unwrap();
        assert_eq!(
            (s.faults.clone(), s.health()),
            (vec!["Cooling/Fan Fault".to_string()], "Warning")
        );
        let dead = VBMC_STATUS.replace(
            "Main Power Fault     : false",
            "Main Power Fault     : true",
        );
        assert_eq!(chassis_status(&dead).unwrap().health(), "Critical");
        assert_eq!(chassis_status("System Power : maybe\n"), None);
    }

    #[test]
    fn boot_flags_are_read_from_the_data_bytes() {
        let f = boot_flags(VBMC_BOOTPARAM).unwrap();
        assert_eq!(
            (f.valid, f.persistent, f.uefi, f.target.as_str()),
            (true, false, false, "None")
        );
        assert_eq!(f.settings().enabled, "Disabled");
        // PXE, persistent, EFI: 0xe0, selector 1 << 2.
        let f = boot_flags("Boot parameter data: e004000000\n").unwrap();
        assert_eq!(
            (f.persistent, f.uefi, f.target.as_str()),
            (true, true, "Pxe")
        );
        let s = f.settings();
        assert_eq!(
            (s.target.as_str(), s.enabled.as_str(), s.mode.as_deref()),
            ("Pxe", "Continuous", Some("UEFI"))
        );
        // Disk once, legacy.
        let f = boot_flags("Boot parameter data: 8008000000\n").unwrap();
        assert_eq!(
            (f.target.as_str(), f.settings().enabled.as_str()),
            ("Hdd", "Once")
        );
        assert_eq!(boot_flags("Boot parameter data: zz\n"), None);
        assert_eq!(boot_flags("nothing\n"), None);
    }

    #[test]
    fn fru_prefers_the_product_area() {
        let out = " FRU Device Description : Builtin FRU Device (ID 0)
 Board Mfg             : Board Co
 Board Product         : X11
 Board Serial          : B123
 Product Manufacturer  : Rig Systems
 Product Name          : RS-1
 Product Part Number   : PN-9
 Product Serial        : S-42
";
        let f = fru(out);
        assert_eq!(f.manufacturer.as_deref(), Some("Rig Systems"));
        assert_eq!(f.model.as_deref(), Some("RS-1"));
        assert_eq!(f.serial.as_deref(), Some("S-42"));
        assert_eq!(f.part_number.as_deref(), Some("PN-9"));
        let board_only = fru(" Board Mfg : Board Co\n Board Serial : B1\x1b[2J\n");
        assert_eq!(board_only.manufacturer.as_deref(), Some("Board Co"));
        assert_eq!(board_only.serial.as_deref(), Some("B1\\u{1b}[2J"));
        assert_eq!(fru(""), Fru::default());
    }

    #[test]
    fn sensors_are_sorted_by_unit_and_discrete_ones_left_out() {
        let out = "CPU Temp         | 45.000     | degrees C  | ok    | na        | na        | na        | 85.000    | 90.000    | na
FAN1             | 3000.000   | RPM        | nc    | 300.000   | 500.000   | na        | na        | na        | na
12V              | 12.100     | Volts      | cr    | 10.000    | na        | na        | na        | na        | 13.000
Watchdog         | 0x0        | discrete   | 0x0080| na        | na        | na        | na        | na        | na
PSU Power        | na         | Watts      | na    | na        | na        | na        | na        | na        | na
";
        let s = sensors(out);
        assert_eq!(s.temperatures.len(), 1);
        assert_eq!(s.temperatures[0].value, Some(45.0));
        assert_eq!(s.temperatures[0].units, "Cel");
        assert_eq!(s.fans[0].health.as_deref(), Some("Warning"));
        assert_eq!(
            s.other
                .iter()
                .map(|r| (r.name.as_str(), r.health.clone()))
                .collect::<Vec<_>>(),
            vec![("12V", Some("Critical".to_string())), ("PSU Power", None)]
        );
        assert_eq!(s.other[1].value, None);
    }

    #[test]
    fn sel_entries_keep_their_order_and_direction() {
        let out = "   1 | 12/07/2026 | 10:00:01 | Temperature #0x01 | Upper Non-critical going high | Asserted
   2 | 12/07/2026 | 10:00:05 | Power Unit #0x02 | Power off/down | Deasserted
";
        let e = sel(out);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].id, "1");
        assert_eq!(e[0].created.as_deref(), Some("12/07/2026 10:00:01"));
        assert_eq!(e[0].source.as_deref(), Some("Temperature #0x01"));
        assert_eq!(e[0].message, "Upper Non-critical going high (Asserted)");
        assert_eq!(e[1].message, "Power off/down (Deasserted)");
        assert!(sel("SEL has no entries\n").is_empty());
        // ipmi_sim's: a time before the BMC's clock was set, and the reading that crossed.
        let e = sel("   1 |  Pre-Init  |0000022330| Temperature CPU Temp | Upper Critical going high | Asserted | Reading 91 > Threshold 90 degrees C\n");
        assert_eq!(
            e[0].message,
            "Upper Critical going high (Asserted): Reading 91 > Threshold 90 degrees C"
        );
        assert_eq!(e[0].created.as_deref(), Some("Pre-Init 0000022330"));
    }

    #[test]
    fn failures_are_told_apart_by_what_ipmitool_said() {
        assert_eq!(
            classify("Error: Unable to establish IPMI v2 / RMCP+ session\n"),
            Failure::NoAnswer
        );
        assert_eq!(
            classify(
                "RAKP 2 HMAC is invalid\nError: Unable to establish IPMI v2 / RMCP+ session\n"
            ),
            Failure::Credentials
        );
        assert_eq!(
            classify("> RAKP 2 message indicates an error : unauthorized name\nError: Unable to establish IPMI v2 / RMCP+ session\n"),
            Failure::Credentials
        );
        assert_eq!(
            classify("Get SEL Info command failed: Invalid command\n"),
            Failure::Unsupported
        );
        assert_eq!(
            classify(" Device not present (Invalid command)\n"),
            Failure::Unsupported
        );
        assert_eq!(classify("Set Chassis Power Control to Cycle failed: Command not supported in present state\n"), Failure::Refused);
        assert_eq!(
            classify("Set Boot Device failed: Node busy\n"),
            Failure::Refused
        );
        assert_eq!(
            last_error_line("a\nError: b\n\n").as_deref(),
            Some("Error: b")
        );
        // What ipmi_sim made ipmitool print, exiting 0, for a boot device it could not take.
        let said = " Unable to Get Channel Cipher Suites\nSet Chassis Boot Parameter 4 failed: Invalid data field in request\nSet Chassis Boot Parameter 5 failed: Invalid data field in request\n";
        assert_eq!(
            refusal(said).as_deref(),
            Some("Set Chassis Boot Parameter 4 failed: Invalid data field in request")
        );
        assert_eq!(refusal(" Unable to Get Channel Cipher Suites\n"), None);
    }
}
