//! Renderers for what the planner shows people and pipelines: text for terminals, JSON for tools.
//! Today: the inventory of one node (`bmplan inspect`).

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::bmc::Inventory;
use crate::switch::{PortMode, SwitchState, VlanSet};

/// One JSON document with the inventory and its totals.
pub fn inventory_json(bmc: &str, inv: &Inventory) -> Value {
    let mut v = serde_json::to_value(inv).unwrap_or(Value::Null);
    v["bmc"] = json!(bmc);
    v["power_state"] = json!(inv.power_state.as_str());
    v["macs"] = json!(inv.macs());
    v["totals"] = json!({
        "cpu_sockets": inv.cpu.sockets,
        "cpu_cores": inv.cpu.cores,
        "cpu_threads": inv.cpu.threads,
        "memory_gib": inv.memory_gib,
        "disk_bytes": inv.disk_bytes(),
        "drives": inv.drives.len(),
        "nics": inv.nics.len(),
    });
    v
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map(|x| x.to_string())
        .unwrap_or_else(|| "-".into())
}

/// Human-readable inventory.
pub fn inventory_text(bmc: &str, inv: &Inventory) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{} {} (serial {}) at {bmc}, system {}",
        opt(&inv.manufacturer),
        opt(&inv.model),
        opt(&inv.serial),
        inv.system_id
    );
    let _ = writeln!(s, "  uuid      {}", opt(&inv.uuid));
    let _ = writeln!(
        s,
        "  power     {}    health {}",
        inv.power_state.as_str(),
        opt(&inv.health)
    );
    let _ = writeln!(
        s,
        "  cpu       {} socket(s), {} cores, {} threads, {} ({})",
        opt(&inv.cpu.sockets),
        opt(&inv.cpu.cores),
        opt(&inv.cpu.threads),
        opt(&inv.cpu.model),
        opt(&inv.cpu.arch)
    );
    let _ = writeln!(
        s,
        "  memory    {} GiB",
        inv.memory_gib
            .map(|m| format!("{m:.0}"))
            .unwrap_or_else(|| "-".into())
    );
    let _ = writeln!(
        s,
        "  disks     {} drive(s), {:.2} TB",
        inv.drives.len(),
        inv.disk_bytes() as f64 / 1e12
    );
    for d in &inv.drives {
        let _ = writeln!(
            s,
            "    {:<48} {:>8} {:<4} {:<5} {}",
            d.id,
            d.capacity_bytes
                .map(|c| format!("{:.0} GB", c as f64 / 1e9))
                .unwrap_or_else(|| "-".into()),
            opt(&d.media),
            opt(&d.protocol),
            opt(&d.model)
        );
    }
    for v in &inv.volumes {
        let _ = writeln!(
            s,
            "  volume    {} {} on {} ({})",
            v.id,
            opt(&v.raid),
            v.drives.join(", "),
            opt(&v.name)
        );
    }
    for n in &inv.nics {
        let lldp = n
            .lldp
            .as_ref()
            .map(|l| format!("  -> {} {}", opt(&l.switch), opt(&l.port)))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "  nic       {:<22} {} {}{lldp}",
            n.id,
            n.mac,
            opt(&n.link)
        );
    }
    for f in &inv.firmware {
        let _ = writeln!(s, "  firmware  {:<22} {}", f.id, opt(&f.version));
    }
    if let Some(w) = inv.sensors.power_watts {
        let _ = writeln!(s, "  power use {w:.0} W");
    }
    let hot = inv
        .sensors
        .temperatures
        .iter()
        .filter_map(|t| t.value)
        .fold(f64::NAN, f64::max);
    if !hot.is_nan() {
        let _ = writeln!(s, "  hottest   {hot:.0} °C");
    }
    let _ = writeln!(
        s,
        "  bios      {} attribute(s), version {}",
        inv.bios.len(),
        opt(&inv.bios_version)
    );
    for u in &inv.unavailable {
        let _ = writeln!(s, "  unavailable: {u}");
    }
    s
}

/// The VLAN and port table of a switch.
pub fn switch_text(address: &str, st: &SwitchState) -> String {
    let mut s = format!(
        "switch {address}: {} VLANs, {} ports\n\nVLAN  NAME\n",
        st.vlans.len(),
        st.ports.len()
    );
    for (id, name) in &st.vlans {
        let _ = writeln!(s, "{id:<5} {name}");
    }
    let _ = writeln!(
        s,
        "\n{:<22} {:<6} {:<6} {:<16} {:<6} {:<5} {:<8} DESCRIPTION",
        "PORT", "MODE", "ACCESS", "TRUNK ALLOWED", "NATIVE", "ADMIN", "BUNDLE"
    );
    for p in st.ports.values() {
        let allowed = match &p.trunk_allowed {
            VlanSet::All => "all".to_string(),
            VlanSet::Only(v) => crate::switch::ios::format_list(v),
        };
        let _ = writeln!(
            s,
            "{:<22} {:<6} {:<6} {:<16} {:<6} {:<5} {:<8} {}",
            p.name,
            if p.mode == PortMode::Trunk {
                "trunk"
            } else {
                "access"
            },
            p.access_vlan,
            allowed,
            p.native_vlan,
            if p.admin_up { "up" } else { "down" },
            p.channel_group
                .map(|(n, _)| format!("Po{n}"))
                .unwrap_or_default(),
            p.description.as_deref().unwrap_or("")
        );
    }
    s
}

/// Rows of one listing: a header and cells, rendered as an aligned table or CSV.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub header: Vec<&'static str>,
    pub cells: Vec<Vec<String>>,
}

impl Rows {
    /// Columns padded to their widest cell; the last column is not padded.
    pub fn table(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.cells {
            for (i, c) in row.iter().enumerate() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
        let line = |cells: Vec<&str>| {
            let mut s = String::new();
            let last = cells.len().saturating_sub(1);
            for (i, c) in cells.iter().enumerate() {
                if i == last {
                    s.push_str(c);
                } else {
                    let _ = write!(s, "{c:<w$}  ", w = widths[i]);
                }
            }
            s.trim_end().to_string() + "\n"
        };
        let mut out = line(self.header.clone());
        for row in &self.cells {
            out.push_str(&line(row.iter().map(String::as_str).collect()));
        }
        out
    }

    pub fn csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        let _ = w.write_record(&self.header);
        for row in &self.cells {
            let _ = w.write_record(row);
        }
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }
}

fn dash(v: Option<&str>) -> String {
    v.filter(|s| !s.is_empty()).unwrap_or("-").to_string()
}

/// The node listing: what an operator needs at a glance.
pub fn node_rows(nodes: &[crate::inventory::NodeRecord]) -> Rows {
    Rows {
        header: vec![
            "NAME", "STATE", "POWER", "MAINT", "MODEL", "SERIAL", "CPUS", "MEM_GIB", "DISK_GIB",
            "ARCH", "BMC", "HOST", "PROJECT",
        ],
        cells: nodes
            .iter()
            .map(|n| {
                vec![
                    n.name.clone(),
                    n.state.to_string(),
                    dash(n.power.as_deref()),
                    if n.maintenance {
                        format!("yes: {}", n.maintenance_reason.as_deref().unwrap_or(""))
                    } else {
                        "no".into()
                    },
                    dash(n.model.as_deref()),
                    dash(n.serial.as_deref()),
                    n.cpus.to_string(),
                    n.memory_gib.to_string(),
                    n.disk_gib.to_string(),
                    dash(n.arch.as_deref()),
                    n.bmc_url.clone(),
                    dash(n.host.as_deref()),
                    dash(n.project.as_deref().or(n.owner_project.as_deref())),
                ]
            })
            .collect(),
    }
}

pub fn host_rows(hosts: &[crate::inventory::HostRecord]) -> Rows {
    Rows {
        header: vec![
            "PROJECT",
            "NAME",
            "STATE",
            "FLAVOR",
            "NODE",
            "NODE_STATE",
            "POWER",
            "ARCH",
            "CREATED_BY",
            "CREATED",
        ],
        cells: hosts
            .iter()
            .map(|h| {
                vec![
                    h.project.clone(),
                    h.name.clone(),
                    h.state.clone(),
                    dash(h.flavor.as_deref()),
                    dash(h.node.as_deref()),
                    h.node_state
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "-".into()),
                    dash(h.power.as_deref()),
                    dash(h.arch.as_deref()),
                    h.created_by.clone(),
                    crate::inventory::format_time(h.created_at),
                ]
            })
            .collect(),
    }
}

pub fn audit_rows(entries: &[crate::inventory::AuditEntry]) -> Rows {
    let compact = |v: &Option<Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
    Rows {
        header: vec![
            "AT", "ACTOR", "ROLE", "PROJECT", "ACTION", "OBJECT", "OUTCOME", "BEFORE", "AFTER",
            "DETAIL",
        ],
        cells: entries
            .iter()
            .map(|e| {
                vec![
                    e.at.clone(),
                    e.actor.clone(),
                    e.role.clone(),
                    dash(e.project.as_deref()),
                    e.action.clone(),
                    format!("{} {}", e.object_kind, e.object),
                    e.outcome.clone(),
                    compact(&e.before),
                    compact(&e.after),
                    e.detail.clone().unwrap_or_default(),
                ]
            })
            .collect(),
    }
}
