//! Renderers for what the planner shows people and pipelines: text for terminals, JSON for tools.
//! Today: the inventory of one node (`bmplan inspect`).

use std::fmt::Write as _;

use serde_json::{json, Value};

use crate::hardware::Inventory;
use crate::ports::{PortMode, SwitchState, VlanSet};
pub use crate::text::{few, printable, shortened, MAX_CELL};

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
        "accelerators": inv.accelerators.iter().map(|a| a.count).sum::<u64>(),
        "sensors": inv.sensors.count(),
        "firmware": inv.firmware.len(),
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
    for a in &inv.accelerators {
        let _ = writeln!(
            s,
            "  {:<9} {} × {}{}",
            a.kind,
            a.count,
            opt(&a.model),
            a.manufacturer
                .as_deref()
                .map(|m| format!(" ({m})"))
                .unwrap_or_default()
        );
    }
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
        // The name where the BMC gives one: HPE's ids are bare numbers, Dell's long keys.
        let _ = writeln!(
            s,
            "  firmware  {:<40} {}",
            f.name.as_deref().unwrap_or(&f.id),
            opt(&f.version)
        );
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
        "  sensors   {} reading(s): {} temperature, {} fan, {} other; {} power supply(ies){}",
        inv.sensors.count(),
        inv.sensors.temperatures.len(),
        inv.sensors.fans.len(),
        inv.sensors.other.len(),
        inv.sensors.power_supplies.len(),
        if inv.sensors.sources.is_empty() {
            String::new()
        } else {
            format!(" (from {})", inv.sensors.sources.join(", "))
        }
    );
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
            VlanSet::Only(v) => crate::ports::vlan_list(v),
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
    /// Columns padded to their widest cell, cells over [`MAX_CELL`] characters cut with `…` (the
    /// last column is neither padded nor cut); every cell made [`printable`].
    pub fn table(&self) -> String {
        self.render(false)
    }

    /// As [`Rows::table`]; `wide` shows every cell whole.
    pub fn render(&self, wide: bool) -> String {
        let last = self.header.len().saturating_sub(1);
        let shown = |i: usize, c: &str| -> String {
            let c = printable(c, false);
            if wide || i == last {
                c.into_owned()
            } else {
                shortened(&c, MAX_CELL)
            }
        };
        let header: Vec<String> = self.header.iter().map(|h| h.to_string()).collect();
        let rows: Vec<Vec<String>> = self
            .cells
            .iter()
            .map(|r| r.iter().enumerate().map(|(i, c)| shown(i, c)).collect())
            .collect();
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for row in &rows {
            for (i, c) in row.iter().enumerate() {
                if i < widths.len() {
                    widths[i] = widths[i].max(c.chars().count());
                }
            }
        }
        // Padded by hand: a format width is limited to 65535 and a cell is not.
        let line = |cells: &[String]| {
            let mut s = String::new();
            let end = cells.len().saturating_sub(1);
            for (i, c) in cells.iter().enumerate() {
                s.push_str(c);
                if i != end {
                    let w = widths.get(i).copied().unwrap_or(0);
                    s.extend(std::iter::repeat_n(
                        ' ',
                        w.saturating_sub(c.chars().count()) + 2,
                    ));
                }
            }
            s.trim_end().to_string() + "\n"
        };
        let mut out = line(&header);
        for row in &rows {
            out.push_str(&line(row));
        }
        out
    }

    /// The rows as CSV, each cell [`printable`] (a CSV is read in terminals too).
    pub fn csv(&self) -> String {
        let mut w = csv::Writer::from_writer(Vec::new());
        let _ = w.write_record(&self.header);
        for row in &self.cells {
            let _ = w.write_record(row.iter().map(|c| printable(c, false).into_owned()));
        }
        String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
    }
}

fn dash(v: Option<&str>) -> String {
    v.filter(|s| !s.is_empty()).unwrap_or("-").to_string()
}

/// `bmplan validate`'s verdict on a valid configuration: what it holds.
pub fn validate_summary(d: &crate::model::Desired) -> String {
    let unplanned = match d.unplanned.len() {
        0 => String::new(),
        n => format!(" ({n} resources not planned by bmplan yet)"),
    };
    format!(
        "Success! The configuration is valid: {} nodes, {} hosts, {} profiles, {} networks, {} switches{unplanned}.",
        d.nodes.len(),
        d.hosts.len(),
        d.profiles.len(),
        d.networks.len(),
        d.switches.len(),
    )
}

/// The node listing: what an operator needs at a glance.
pub fn node_rows(nodes: &[crate::records::NodeRecord]) -> Rows {
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

/// `bmplan nodes show`: one node, a line per column of the listing, then its traits, TLS mode
/// and last error.
pub fn node_detail(n: &crate::records::NodeRecord) -> String {
    let rows = node_rows(std::slice::from_ref(n));
    let mut s = String::new();
    for (h, c) in rows.header.iter().zip(&rows.cells[0]) {
        s.push_str(&format!("{h:<10} {c}\n"));
    }
    let traits = n.traits.iter().cloned().collect::<Vec<_>>().join(",");
    s.push_str(&format!("{:<10} {traits}\n", "TRAITS"));
    s.push_str(&format!("{:<10} {}\n", "TLS", n.tls_mode));
    if let Some(e) = &n.last_error {
        s.push_str(&format!("{:<10} {e}\n", "ERROR"));
    }
    s
}

/// `bmplan images list`.
pub fn image_rows(images: &[crate::golden::GoldenImage]) -> Rows {
    Rows {
        header: vec!["NAME", "FORMAT", "SIZE", "OS", "CHECKSUM", "ORIGIN", "URL"],
        cells: images
            .iter()
            .map(|i| {
                vec![
                    i.name.clone(),
                    dash(i.format.as_deref()),
                    i.size_bytes
                        .map(|b| b.to_string())
                        .unwrap_or_else(|| "-".into()),
                    dash(i.os_family.as_deref()),
                    i.checksum.clone(),
                    i.origin.describe(),
                    i.url.clone(),
                ]
            })
            .collect(),
    }
}

/// What `bmplan images capture` prints when it is done.
pub fn capture_text(
    image: &crate::golden::GoldenImage,
    captured: &crate::deploy::capture::Captured,
    seconds: f64,
) -> String {
    let mut s = format!(
        "image {}: {} ({}), {} bytes holding {} bytes of disk, in {seconds:.0} s\n",
        image.name,
        image.origin.describe(),
        image.checksum,
        captured.bytes,
        captured.disk_bytes
    );
    s.push_str(&format!("  url {}\n", image.url));
    if let Some(n) = captured.config_drive_dropped {
        s.push_str(&format!(
            "  {} table; the config drive (partition {n}) left out\n",
            captured.table
        ));
    }
    for g in &captured.generalised {
        s.push_str(&format!("  {g}\n"));
    }
    s
}

pub fn host_rows(hosts: &[crate::records::HostRecord]) -> Rows {
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
            "ADDRESSES",
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
                    crate::records::format_time(h.created_at),
                    if h.addresses.is_empty() {
                        "-".into()
                    } else {
                        h.addresses
                            .iter()
                            .map(|(n, a)| format!("{n}={}", a.join(",")))
                            .collect::<Vec<_>>()
                            .join(" ")
                    },
                ]
            })
            .collect(),
    }
}

pub fn audit_rows(entries: &[crate::records::AuditEntry]) -> Rows {
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

/// A node's life, a line per event.
/// A system event log: `bmplan nodes events`.
pub fn event_rows(entries: &[crate::hardware::EventEntry]) -> Rows {
    Rows {
        header: vec!["ID", "WHEN", "SOURCE", "SEVERITY", "EVENT"],
        cells: entries
            .iter()
            .map(|e| {
                vec![
                    e.id.clone(),
                    dash(e.created.as_deref()),
                    dash(e.source.as_deref()),
                    dash(e.severity.as_deref()),
                    e.message.clone(),
                ]
            })
            .collect(),
    }
}

pub fn history_rows(h: &crate::history::NodeHistory) -> Rows {
    Rows {
        header: vec!["AT", "ACTOR", "ACTION", "STATE", "WHAT"],
        cells: h
            .events
            .iter()
            .map(|e| {
                vec![
                    e.at.clone(),
                    e.actor.clone(),
                    e.action.clone(),
                    dash(e.state.as_deref()),
                    e.what.clone(),
                ]
            })
            .collect(),
    }
}

/// ANSI colours, only when writing to a terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    /// Colour is marked with private-use characters here and made escape sequences by
    /// [`terminal_text`] only after everything else in the text has been made [`printable`]: the
    /// only escapes that reach a terminal are these colours, never a BMC's or a file's.
    fn paint(&self, code: &str, s: &str) -> String {
        if self.color {
            format!("{MARK_OPEN}{code}{MARK_CLOSE}{s}{MARK_OPEN}0{MARK_CLOSE}")
        } else {
            s.to_string()
        }
    }
    fn green(&self, s: &str) -> String {
        self.paint("32", s)
    }
    fn yellow(&self, s: &str) -> String {
        self.paint("33", s)
    }
    fn red(&self, s: &str) -> String {
        self.paint("31", s)
    }
    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
}

fn value_text(v: &Option<Value>) -> String {
    match v {
        None => "(none)".into(),
        Some(Value::String(s)) => format!("{s:?}"),
        Some(other) => other.to_string(),
    }
}

const MARK_OPEN: char = '\u{E000}';
const MARK_CLOSE: char = '\u{E001}';
/// The SGR codes [`Style`] paints with: reset, bold, red, green, yellow.
const COLOURS: [&str; 5] = ["0", "1", "31", "32", "33"];

/// A rendered text made safe for a terminal: every control character in it escaped (line breaks
/// kept), then [`Style`]'s colour marks turned into their escape sequences.
fn terminal_text(text: &str) -> String {
    let safe = printable(text, true);
    if !safe.contains(MARK_OPEN) {
        return safe.into_owned();
    }
    let mut out = String::with_capacity(safe.len());
    let mut rest: &str = &safe;
    while let Some(i) = rest.find(MARK_OPEN) {
        out.push_str(&rest[..i]);
        let after = &rest[i + MARK_OPEN.len_utf8()..];
        match after.find(MARK_CLOSE) {
            Some(j) if COLOURS.contains(&&after[..j]) => {
                out.push_str(&format!("\x1b[{}m", &after[..j]));
                rest = &after[j + MARK_CLOSE.len_utf8()..];
            }
            _ => {
                out.push_str("\\u{e000}");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `old → new`; long values are shown as a word diff (`similar`), so the change stands out. Colour
/// is marked, not sent: the text goes through [`plan_text`].
fn change_text(old: &str, new: &str, style: Style) -> String {
    if old.len() + new.len() <= 80 {
        return format!("{old} → {new}");
    }
    let diff = similar::TextDiff::from_words(old, new);
    let mut out = String::new();
    for c in diff.iter_all_changes() {
        let t = c.value();
        match c.tag() {
            similar::ChangeTag::Equal => out.push_str(t),
            similar::ChangeTag::Delete => out.push_str(&style.red(&format!("[-{t}-]"))),
            similar::ChangeTag::Insert => out.push_str(&style.green(&format!("{{+{t}+}}"))),
        }
    }
    out
}

/// The plan as an operator reads it before approving: every disruption, wave by wave. Safe for a
/// terminal: what BMCs, switches and files said is escaped; only its own colours are sent.
pub fn plan_text(p: &crate::plan::Prepared, style: Style) -> String {
    terminal_text(&plan_text_marked(p, style))
}

fn plan_text_marked(p: &crate::plan::Prepared, style: Style) -> String {
    use crate::plan::Action;
    let mut s = String::new();
    let plan = &p.plan;
    let _ = writeln!(
        s,
        "{} nodes and {} switches observed in {:.1}s",
        p.observed.nodes.len(),
        p.observed.switches.len(),
        p.observe_seconds
    );
    for (what, why) in &p.diff.unreachable {
        let _ = writeln!(s, "{} {what}: {why}", style.red("unreachable"));
    }
    for note in &p.desired.notes {
        let _ = writeln!(s, "note: {note}");
    }
    for c in &p.diff.cabling {
        let _ = writeln!(s, "{} cabling: {c}", style.yellow("warning:"));
    }
    if !p.desired.unplanned.is_empty() {
        let _ = writeln!(
            s,
            "note: not planned by bmplan yet: {}",
            p.desired.unplanned.join(", ")
        );
    }
    for (node, nd) in p.diff.nodes.iter().filter(|(_, d)| !d.queued.is_empty()) {
        for q in &nd.queued {
            let _ = writeln!(
                s,
                "{} {node}: queued on its BMC for the next reset, not by this configuration: {q}",
                style.yellow("note:")
            );
        }
    }
    if plan.is_empty() && p.diff.unreachable.is_empty() {
        let _ = writeln!(
            s,
            "\n{} The live state matches the configuration.",
            style.green("No changes.")
        );
        return s;
    }
    if plan.is_empty() {
        let _ = writeln!(
            s,
            "\n{} for the devices that answered; {} could not be read, so their state is unknown.",
            style.yellow("No changes"),
            p.diff.unreachable.len()
        );
        return s;
    }
    for w in &plan.waves {
        for node in &w.nodes {
            if let Some(h) = p.diff.nodes.get(node).and_then(|d| d.health.as_deref()) {
                if h == "Critical" {
                    let _ = writeln!(
                        s,
                        "{} {node}: health is Critical: its wait after the reset will fail and what depends on it will be skipped",
                        style.yellow("warning:")
                    );
                }
            }
        }
    }
    for w in &plan.waves {
        let _ = writeln!(
            s,
            "\n{}",
            style.bold(&format!(
                "Wave {}/{} ({}: {} nodes)",
                w.index,
                plan.waves.len(),
                w.domain,
                w.nodes.len()
            ))
        );
        for node in &w.nodes {
            if let Some(line) = plan
                .disruptions
                .iter()
                .find(|l| l.starts_with(&format!("{node}:")))
            {
                let _ = writeln!(s, "  {} {line}", style.yellow("~"));
            }
            if let Some(nd) = p.diff.nodes.get(node) {
                for i in &nd.items {
                    let mut tags = Vec::new();
                    if i.state == crate::diff::ItemState::Pending {
                        tags.push("pending");
                    }
                    if i.out_of_band {
                        tags.push("changed out of band");
                    }
                    let tag = if tags.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", tags.join(", "))
                    };
                    let _ = writeln!(
                        s,
                        "      {}: {}{tag}",
                        i.path,
                        change_text(&value_text(&i.live), &value_text(&i.want), style)
                    );
                }
            }
        }
        for st in plan
            .steps
            .iter()
            .filter(|x| x.wave == w.index && x.switch.is_some())
        {
            if let Action::SwitchBatch { changes } = &st.action {
                let (mark, after) = if w.nodes.is_empty() {
                    (style.red("-"), "after every other wave")
                } else {
                    (style.yellow("~"), "after the wave's nodes")
                };
                let _ = writeln!(
                    s,
                    "  {mark} switch {}: one batch of {} changes {after}",
                    st.switch.as_deref().unwrap_or("?"),
                    changes.len()
                );
                for c in changes {
                    let _ = writeln!(s, "      {}", change_line(c));
                }
            }
        }
    }
    for (sw, sd) in &p.diff.switches {
        for (vlan, ports) in &sd.kept_vlans {
            let _ = writeln!(
                s,
                "note: VLAN {vlan} on {sw} is no longer configured but kept: {} still carry it",
                ports.join(", ")
            );
        }
    }
    s.push_str(&by_profile(p, style));
    let switch_batches = plan.steps.iter().filter(|x| x.switch.is_some()).count();
    let _ = writeln!(
        s,
        "\n{} {} nodes to change ({} reboots) in {} waves, {} switch batches; about {} min by the estimates.",
        style.bold("Plan:"),
        plan.waves.iter().map(|w| w.nodes.len()).sum::<usize>(),
        plan.resets(),
        plan.waves.len(),
        switch_batches,
        plan.estimate_s().div_ceil(60)
    );
    s
}

/// Template compliance: the nodes with pending changes, grouped by the profile they take on and
/// the templates it inherits, so a change made at a template shows on every node it reaches.
fn by_profile(p: &crate::plan::Prepared, style: Style) -> String {
    let mut groups: std::collections::BTreeMap<String, Vec<(String, usize)>> =
        std::collections::BTreeMap::new();
    for (node, d) in &p.diff.nodes {
        let Some(spec) = p.desired.nodes.get(node).and_then(|n| n.profile.as_ref()) else {
            continue;
        };
        let settings = d.items.len();
        if settings == 0 {
            continue;
        }
        let key = if spec.inherits.is_empty() {
            format!("profile {}", spec.name)
        } else {
            format!(
                "profile {} (template {})",
                spec.name,
                spec.inherits.join(" → ")
            )
        };
        groups
            .entry(key)
            .or_default()
            .push((node.clone(), settings));
    }
    let mut s = String::new();
    if groups.is_empty() {
        return s;
    }
    let _ = writeln!(s, "\n{}", style.bold("By profile:"));
    for (key, nodes) in groups {
        let list: Vec<String> = nodes.iter().map(|(n, c)| format!("{n} ({c})")).collect();
        let _ = writeln!(
            s,
            "  {key}: {} node(s) to bring back to it: {}",
            nodes.len(),
            list.join(", ")
        );
    }
    s
}

/// What the BMC says about a node beyond its configuration: a health other than OK, inserted media.
fn state_note(n: &crate::drift::NodeDrift) -> String {
    let mut parts = Vec::new();
    if let Some(h) = n.health.as_deref().filter(|h| *h != "OK") {
        parts.push(format!("health {h}"));
    }
    if !n.media.is_empty() {
        parts.push(format!("virtual media {} inserted", n.media.join(", ")));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!(" ({})", parts.join("; "))
    }
}

fn change_line(c: &crate::ports::Change) -> String {
    use crate::ports::Change;
    match c {
        Change::CreateVlan { id, name } => format!("create VLAN {id} ({name})"),
        Change::DeleteVlan { id } => format!("delete VLAN {id}"),
        Change::Access { port, vlan } => format!("{port}: access VLAN {vlan}"),
        Change::DeletePortChannel { id } => format!("delete Port-channel{id}"),
        Change::Trunk {
            port,
            allowed,
            native,
        } => format!(
            "{port}: trunk {}, native {native}",
            match allowed {
                VlanSet::All => "all".to_string(),
                VlanSet::Only(s) => s.iter().map(u16::to_string).collect::<Vec<_>>().join(","),
            }
        ),
        other => format!("{other:?}"),
    }
}

fn status_text(status: crate::drift::Status, style: Style) -> String {
    use crate::drift::Status;
    match status {
        Status::InSync => style.green(status.as_str()),
        Status::Drifted => style.yellow(status.as_str()),
        Status::Unreachable => style.red(status.as_str()),
    }
}

/// The drift report for a terminal.
/// The drift report as text, safe for a terminal as [`plan_text`] is.
pub fn drift_text(r: &crate::drift::DriftReport, style: Style) -> String {
    terminal_text(&drift_text_marked(r, style))
}

fn drift_text_marked(r: &crate::drift::DriftReport, style: Style) -> String {
    use crate::drift::Status;
    let mut s = String::new();
    let m = &r.summary;
    let _ = writeln!(
        s,
        "Drift: {} of {} nodes drifted, {} unreachable; {} of {} switch ports drifted, {} unreachable; {} values changed out of band, {} pending a reset.",
        m.nodes_drifted, m.nodes, m.nodes_unreachable, m.ports_drifted, m.ports, m.ports_unreachable, m.out_of_band, m.pending
    );
    for n in &r.nodes {
        let status = status_text(n.status, style);
        let _ = writeln!(
            s,
            "node {}: {status}{}{}",
            n.node,
            n.reason
                .as_deref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default(),
            state_note(n)
        );
        for i in &n.items {
            let _ = writeln!(
                s,
                "    {} [{}]: live {}, desired {}",
                i.path,
                i.cause.as_str(),
                value_text(&i.live),
                value_text(&i.desired)
            );
        }
    }
    for p in &r.ports {
        let status = status_text(p.status, style);
        let _ = writeln!(
            s,
            "port {} {} ({}): {status}{}",
            p.switch,
            p.port,
            p.node,
            match (p.status, &p.live, p.cause) {
                (Status::Drifted, Some(l), Some(c)) =>
                    format!(" [{}]: live {l}, desired {}", c.as_str(), p.desired),
                (Status::Unreachable, _, _) =>
                    format!(": {}", p.reason.clone().unwrap_or_default()),
                _ => String::new(),
            }
        );
    }
    s
}

/// The drift report for a change ticket.
pub fn drift_markdown(r: &crate::drift::DriftReport) -> String {
    printable(&drift_markdown_raw(r), true).into_owned()
}

fn drift_markdown_raw(r: &crate::drift::DriftReport) -> String {
    let mut s = String::new();
    let m = &r.summary;
    let _ = writeln!(s, "# Drift report\n");
    let _ = writeln!(
        s,
        "| | in sync | drifted | unreachable |\n|---|---|---|---|"
    );
    let _ = writeln!(
        s,
        "| nodes ({}) | {} | {} | {} |",
        m.nodes, m.nodes_in_sync, m.nodes_drifted, m.nodes_unreachable
    );
    let _ = writeln!(
        s,
        "| switch ports ({}) | {} | {} | {} |",
        m.ports, m.ports_in_sync, m.ports_drifted, m.ports_unreachable
    );
    let _ = writeln!(
        s,
        "\n{} values changed out of band; {} pending a reset.\n",
        m.out_of_band, m.pending
    );
    let _ = writeln!(s, "## Nodes\n\n| node | status | attribute | cause | live | desired |\n|---|---|---|---|---|---|");
    for n in &r.nodes {
        if n.items.is_empty() {
            let _ = writeln!(
                s,
                "| {} | {} | | | | {} |",
                n.node,
                n.status.as_str(),
                n.reason.clone().unwrap_or_default()
            );
        }
        for i in &n.items {
            let _ = writeln!(
                s,
                "| {} | {} | `{}` | {} | `{}` | `{}` |",
                n.node,
                n.status.as_str(),
                i.path,
                i.cause.as_str(),
                value_text(&i.live),
                value_text(&i.desired)
            );
        }
    }
    let _ = writeln!(s, "\n## Switch ports\n\n| switch | port | node | status | live | desired |\n|---|---|---|---|---|---|");
    for p in &r.ports {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} |",
            p.switch,
            p.port,
            p.node,
            p.status.as_str(),
            p.live
                .clone()
                .or_else(|| p.reason.clone())
                .unwrap_or_default(),
            p.desired
        );
    }
    s
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The drift report as JUnit XML: one test case per node and per port; drift is a failure and an
/// unreachable device an error, so a CI pipeline fails on either.
/// JUnit XML, which cannot hold control characters: they are escaped as text.
pub fn drift_junit(r: &crate::drift::DriftReport) -> String {
    printable(&drift_junit_raw(r), true).into_owned()
}

fn drift_junit_raw(r: &crate::drift::DriftReport) -> String {
    use crate::drift::Status;
    let m = &r.summary;
    let tests = m.nodes + m.ports;
    let failures = m.nodes_drifted + m.ports_drifted;
    let errors = m.nodes_unreachable + m.ports_unreachable;
    let mut s = String::new();
    let _ = writeln!(s, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    let _ = writeln!(s, "<testsuites name=\"bmplan drift\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\">");
    let _ = writeln!(
        s,
        "  <testsuite name=\"nodes\" tests=\"{}\" failures=\"{}\" errors=\"{}\">",
        m.nodes, m.nodes_drifted, m.nodes_unreachable
    );
    for n in &r.nodes {
        let _ = write!(
            s,
            "    <testcase classname=\"node\" name=\"{}\"",
            xml(&n.node)
        );
        match n.status {
            Status::InSync => {
                let _ = writeln!(s, "/>");
            }
            Status::Drifted => {
                let detail: Vec<String> = n
                    .items
                    .iter()
                    .map(|i| {
                        format!(
                            "{} [{}]: live {}, desired {}",
                            i.path,
                            i.cause.as_str(),
                            value_text(&i.live),
                            value_text(&i.desired)
                        )
                    })
                    .collect();
                let _ = writeln!(
                    s,
                    ">\n      <failure message=\"{} values drifted\">{}</failure>\n    </testcase>",
                    n.items.len(),
                    xml(&detail.join("\n"))
                );
            }
            Status::Unreachable => {
                let _ = writeln!(
                    s,
                    ">\n      <error message=\"unreachable\">{}</error>\n    </testcase>",
                    xml(n.reason.as_deref().unwrap_or_default())
                );
            }
        }
    }
    let _ = writeln!(s, "  </testsuite>");
    let _ = writeln!(
        s,
        "  <testsuite name=\"switch ports\" tests=\"{}\" failures=\"{}\" errors=\"{}\">",
        m.ports, m.ports_drifted, m.ports_unreachable
    );
    for p in &r.ports {
        let _ = write!(
            s,
            "    <testcase classname=\"port.{}\" name=\"{}\"",
            xml(&p.switch),
            xml(&p.port)
        );
        match p.status {
            Status::InSync => {
                let _ = writeln!(s, "/>");
            }
            Status::Drifted => {
                let _ = writeln!(
                    s,
                    ">\n      <failure message=\"drifted\">live {}, desired {}</failure>\n    </testcase>",
                    xml(p.live.as_deref().unwrap_or_default()),
                    xml(&p.desired)
                );
            }
            Status::Unreachable => {
                let _ = writeln!(
                    s,
                    ">\n      <error message=\"unreachable\">{}</error>\n    </testcase>",
                    xml(p.reason.as_deref().unwrap_or_default())
                );
            }
        }
    }
    let _ = writeln!(s, "  </testsuite>\n</testsuites>");
    s
}

/// The host failovers of a pass, as `bmplan plan` and `apply` show them after the node waves.
pub fn moves_text(moves: &[crate::deploy::HostMove]) -> String {
    let mut s = String::new();
    if moves.is_empty() {
        return s;
    }
    s.push_str("\nHost failovers:\n");
    for m in moves {
        let h = &m.host;
        match &m.to {
            Some(to) => s.push_str(&format!(
                "  host {}/{}: {} → moves to standby {to}; {} goes into maintenance\n",
                h.project, h.name, m.failure.reason, m.failure.node
            )),
            None => s.push_str(&format!(
                "  host {}/{}: {}, and no standby node is free: it stays\n",
                h.project, h.name, m.failure.reason
            )),
        }
    }
    s
}

/// The host changes of a pass (`+` new, `~` changed) and the notes on what is not done.
pub fn host_work_text(work: &[crate::deploy::HostWork]) -> String {
    let mut s = String::new();
    if work
        .iter()
        .all(|w| w.change.is_none() && w.notes.is_empty())
    {
        return s;
    }
    s.push_str("\nHosts:\n");
    for w in work {
        let on = match w.existing.as_ref().and_then(|h| h.node.as_deref()) {
            Some(n) => format!("on {n}"),
            None => match (&w.spec.flavor, &w.spec.node) {
                (_, Some(n)) => format!("node {n}"),
                (Some(f), None) => format!("flavor {f}"),
                (None, None) => String::new(),
            },
        };
        if let Some(c) = &w.change {
            let mark = if w.existing.is_none() { "+" } else { "~" };
            s.push_str(&format!(
                "  {mark} host {}/{} ({on}): {}\n",
                w.project,
                w.spec.name,
                c.describe()
            ));
        }
        for n in &w.notes {
            s.push_str(&format!("  ! host {}/{}: {n}\n", w.project, w.spec.name));
        }
    }
    s
}

/// `bmplan plan --json`: the plan, the diff, what could not be read, and the host work.
pub fn plan_json(
    p: &crate::plan::Prepared,
    moves: &[crate::deploy::HostMove],
    hosts: &[crate::deploy::HostWork],
) -> serde_json::Value {
    serde_json::json!({
        "changes": !p.plan.is_empty() || crate::deploy::work::any_to_do(moves, hosts),
        "plan": p.plan,
        "diff": p.diff,
        "unreachable": p.diff.unreachable,
        "failovers": moves.iter().map(|m| serde_json::json!({
            "host": m.host.name, "project": m.host.project, "node": m.failure.node,
            "reason": m.failure.reason, "to": m.to,
        })).collect::<Vec<_>>(),
        "hosts": hosts.iter().map(|w| serde_json::json!({
            "host": w.spec.name, "project": w.project,
            "node": w.existing.as_ref().and_then(|h| h.node.clone()),
            "change": w.change.as_ref().map(|c| c.describe()), "notes": w.notes,
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod table_tests {
    use super::*;

    #[test]
    fn terminal_text_escapes_what_it_was_given_and_sends_only_its_own_colours() {
        let style = Style { color: true };
        let hostile = "model \u{1b}]0;owned\u{7}\u{1b}[2J";
        let t = terminal_text(&format!("{} {hostile}\n", style.red("-")));
        assert_eq!(
            t,
            "\u{1b}[31m-\u{1b}[0m model \\u{1b}]0;owned\\u{7}\\u{1b}[2J\n"
        );
        // A mark that is not one of ours is shown, not obeyed.
        let t = terminal_text("\u{E000}8\u{E001}hidden");
        assert!(!t.contains('\u{1b}') && t.contains("hidden"), "{t:?}");
    }

    #[test]
    fn a_70_kb_cell_is_cut_and_an_escape_sequence_is_shown_escaped() {
        let rows = Rows {
            header: vec!["NAME", "MODEL", "STATE"],
            cells: vec![
                vec!["r1u01".into(), "X".repeat(70_000), "available".into()],
                vec![
                    "r1u02".into(),
                    "\u{1b}[2J\u{1b}[31mPowerEdge".into(),
                    "active\r\n".into(),
                ],
            ],
        };
        let t = rows.table();
        assert!(t.len() < 500, "{} bytes", t.len());
        assert!(t.contains(&format!("{}…", "X".repeat(MAX_CELL - 1))));
        assert!(!t.contains('\u{1b}') && !t.contains('\r'), "{t:?}");
        assert!(t.contains("\\u{1b}[2J\\u{1b}[31mPowerEdge"), "{t}");
        assert_eq!(t.lines().count(), 3);
        // Wide: whole, and still no panic past the format width limit.
        let w = rows.render(true);
        assert!(w.contains(&"X".repeat(70_000)));
        assert!(w.lines().all(|l| !l.contains('\u{1b}')));
    }
}
