//! The desired state: what the configuration asks of every node, profile, network and switch, as
//! plain data checked for consistency (references resolve, VLANs are in range, templates do not loop).
//! Built from the loader's evaluated instances; every error points at the attribute that caused it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::deploy::host_from_attrs;
pub use crate::deploy::HostSpec;
use crate::hardware::{Secret, TlsTrust};
use crate::load::{scalar_text, text_of, texts_of, Instance, LoadError, LoadErrors, Loaded};
use crate::ports::{HostBond, VLAN_MAX, VLAN_MIN};
use crate::rules::AttrError;
use crate::schema::secret_text;

#[derive(Debug, Clone)]
pub struct SwitchSpec {
    pub name: String,
    pub driver: String,
    pub address: String,
    pub username: String,
    pub password: Secret,
    pub enable_password: Option<Secret>,
    pub rack: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkSpec {
    pub name: String,
    pub vlan: u16,
    pub mtu: Option<u32>,
    pub role: String,
    /// IPv4 and IPv6 subnets; hosts on a network without any take DHCP.
    #[serde(default)]
    pub subnets: Vec<crate::subnet::Subnet>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeWant {
    pub name: String,
    pub level: String,
    pub drives: Option<u32>,
    pub controller: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirmwareWant {
    pub component: String,
    pub version: String,
    pub image_url: String,
}

/// A profile with its template chain applied.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct ProfileSpec {
    pub name: String,
    /// Templates, nearest first.
    pub inherits: Vec<String>,
    pub bios: BTreeMap<String, String>,
    pub boot_mode: Option<String>,
    pub secure_boot: Option<bool>,
    /// `None` leaves RAID alone; `Some` is the complete volume list.
    pub raid: Option<Vec<VolumeWant>>,
    /// Components by id; a profile's list overrides its template's entries of the same component.
    pub firmware: Vec<FirmwareWant>,
    /// Networks of the node's ports that list none (the profile's network connection).
    pub connection_networks: Vec<String>,
    /// `active-backup`, `802.3ad` (`lacp`) or `balance-xor`, for bonded ports.
    pub bond_mode: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortWant {
    pub switch: String,
    pub port: String,
    /// Network names; VLANs resolved: one is an access port, several a trunk whose first is native.
    pub networks: Vec<String>,
    pub vlans: Vec<u16>,
    pub mac: Option<String>,
    pub pxe: bool,
    /// Bond group: the node's ports with the same bond form one port-channel on their switch, and
    /// the networks go on the port-channel.
    #[serde(default)]
    pub bond: Option<String>,
    /// The bond's mode, host and switch side (from the profile's network connection; LACP by
    /// default).
    #[serde(default)]
    pub bond_mode: Option<HostBond>,
}

#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub name: String,
    pub address: String,
    pub bmc_url: String,
    pub system_id: Option<String>,
    pub username: String,
    pub password: Secret,
    pub tls: TlsTrust,
    pub profile: Option<ProfileSpec>,
    pub rack: Option<String>,
    pub maintenance: bool,
    pub ports: Vec<PortWant>,
    /// How the deploy agent reaches the node, and the MAC it network-boots from.
    pub boot: crate::deploy::netboot::NodeBoot,
}

impl NodeSpec {
    /// The failure domain of rolling waves: the rack, else the first port's switch.
    pub fn failure_domain(&self) -> String {
        self.rack
            .clone()
            .or_else(|| self.ports.first().map(|p| format!("switch {}", p.switch)))
            .unwrap_or_else(|| "default".into())
    }
}

/// The whole desired state.
#[derive(Debug, Clone, Default)]
pub struct Desired {
    pub switches: BTreeMap<String, SwitchSpec>,
    pub networks: BTreeMap<String, NetworkSpec>,
    pub profiles: BTreeMap<String, ProfileSpec>,
    pub nodes: BTreeMap<String, NodeSpec>,
    /// `baremetal_image` blocks by name, with their URL as written: registered by `bmplan apply`
    /// before the hosts.
    pub images: BTreeMap<String, (crate::golden::GoldenImage, crate::hardware::Secret)>,
    /// `baremetal_host` blocks by name: allocated and deployed by `bmplan apply`.
    pub hosts: BTreeMap<String, HostSpec>,
    /// The provider block's `project`: whose hosts those are.
    pub project: Option<String>,
    pub max_parallel: usize,
    /// Resources the planner does not act on yet, by address.
    pub unplanned: Vec<String>,
    pub notes: Vec<String>,
    /// The whole configuration (a `bmplan` directory), so what the planner applied before and this
    /// lacks was removed and is undone. `false` for the provider's convergence of a few nodes,
    /// which must never release what other nodes use.
    pub complete: bool,
}

fn s(i: &Instance, k: &str) -> Option<String> {
    match i.attrs.get(k) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    }
}

fn b(i: &Instance, k: &str) -> Option<bool> {
    match i.attrs.get(k) {
        Some(Value::Bool(b)) => Some(*b),
        Some(Value::String(s)) => Some(s == "true"),
        _ => None,
    }
}

fn n(v: Option<&Value>) -> Option<f64> {
    match v {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
}

fn blocks<'a>(i: &'a Instance, k: &str) -> Vec<&'a serde_json::Map<String, Value>> {
    i.attrs
        .get(k)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default()
}

fn attr_error(path: impl Into<String>, message: impl Into<String>) -> AttrError {
    (path.into(), message.into())
}

/// One profile as written (its own settings, before its template's are merged in): what the loader
/// reads from a `baremetal_profile` block and what the inventory keeps for the provider.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProfileLayer {
    pub template: Option<String>,
    pub bios: BTreeMap<String, String>,
    pub boot_mode: Option<String>,
    pub secure_boot: Option<bool>,
    pub raid: Option<Vec<VolumeWant>>,
    pub firmware: Vec<FirmwareWant>,
    #[serde(default)]
    pub connection_networks: Vec<String>,
    #[serde(default)]
    pub bond_mode: Option<String>,
    /// Offline configuration: servers, by serial number, that take this profile when they are
    /// enrolled, before they are installed.
    #[serde(default)]
    pub serials: Vec<String>,
    /// Offline configuration by place: chassis slots (`RACK/U`, or a blade's slot label as the
    /// BMC names it) whose server takes this profile when it is enrolled.
    #[serde(default)]
    pub slots: Vec<String>,
}

fn block_list<'a>(attrs: &'a Map<String, Value>, k: &str) -> Vec<&'a Map<String, Value>> {
    attrs
        .get(k)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_object).collect())
        .unwrap_or_default()
}

impl ProfileLayer {
    /// Reads a `baremetal_profile`'s attributes (nested blocks as lists of objects).
    pub fn from_attrs(attrs: &Map<String, Value>) -> (ProfileLayer, Vec<AttrError>) {
        let mut errors = Vec::new();
        let bios = attrs
            .get("bios")
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), scalar_text(v))).collect())
            .unwrap_or_default();
        let boot = block_list(attrs, "boot");
        let raid: Option<Vec<VolumeWant>> = block_list(attrs, "raid").first().map(|r| {
            block_list(r, "volume")
                .iter()
                .map(|v| VolumeWant {
                    name: text_of(v, "name").unwrap_or_default(),
                    level: text_of(v, "level").unwrap_or_default().to_ascii_uppercase(),
                    drives: n(v.get("drives")).map(|d| d as u32),
                    controller: text_of(v, "controller"),
                })
                .collect()
        });
        for (k, v) in raid.iter().flatten().enumerate() {
            if !["RAID0", "RAID1", "RAID5", "RAID6", "RAID10"].contains(&v.level.as_str()) {
                errors.push(attr_error(
                    format!("raid.0.volume.{k}.level"),
                    format!(
                        "RAID level {:?} is not one of RAID0, RAID1, RAID5, RAID6, RAID10",
                        v.level
                    ),
                ));
            }
        }
        let boot_mode = boot.first().and_then(|b| text_of(b, "mode"));
        if let Some(m) = &boot_mode {
            if m != "UEFI" && m != "Legacy" {
                errors.push(attr_error(
                    "boot.0.mode",
                    format!("boot mode {m:?} is not UEFI or Legacy"),
                ));
            }
        }
        let firmware: Vec<FirmwareWant> = block_list(attrs, "firmware")
            .iter()
            .map(|f| FirmwareWant {
                component: text_of(f, "component").unwrap_or_default(),
                version: text_of(f, "version").unwrap_or_default(),
                image_url: text_of(f, "image_url").unwrap_or_default(),
            })
            .collect();
        for (k, f) in firmware.iter().enumerate() {
            if !(f.image_url.starts_with("http://") || f.image_url.starts_with("https://")) {
                errors.push(attr_error(
                    format!("firmware.{k}.image_url"),
                    format!(
                        "image_url {:?} must be an http(s) URL the BMC can fetch",
                        f.image_url
                    ),
                ));
            }
        }
        let secure_boot = boot
            .first()
            .and_then(|b| b.get("secure_boot"))
            .and_then(|v| match v {
                Value::Bool(b) => Some(*b),
                Value::String(s) => Some(s == "true"),
                _ => None,
            });
        let connection = block_list(attrs, "network_connection");
        let connection_networks: Vec<String> = connection
            .first()
            .and_then(|c| c.get("networks"))
            .and_then(Value::as_array)
            .map(|a| a.iter().map(scalar_text).collect())
            .unwrap_or_default();
        let bond_mode = connection.first().and_then(|c| text_of(c, "bond_mode"));
        if let Some(Err(m)) = bond_mode.as_deref().map(HostBond::parse) {
            errors.push(attr_error("network_connection.0.bond_mode", m));
        }
        let layer = ProfileLayer {
            template: text_of(attrs, "template"),
            bios,
            boot_mode,
            secure_boot,
            raid,
            firmware,
            connection_networks,
            bond_mode,
            serials: texts_of(attrs, "serials"),
            slots: texts_of(attrs, "slots"),
        };
        (layer, errors)
    }
}

/// Merges every profile with its template chain (the profile's own settings win). `Err` is the
/// profile whose template is missing or loops, and why (reported at its `template` attribute).
pub fn resolve_profile(
    name: &str,
    layers: &BTreeMap<String, ProfileLayer>,
) -> Result<ProfileSpec, (String, String)> {
    let mut chain = vec![name.to_string()];
    let mut cur = layers
        .get(name)
        .ok_or_else(|| (name.to_string(), format!("no profile named {name:?}")))?;
    while let Some(t) = &cur.template {
        if chain.contains(t) {
            return Err((
                name.to_string(),
                format!("template cycle: {} → {t}", chain.join(" → ")),
            ));
        }
        let owner = chain.last().cloned().unwrap_or_default();
        cur = layers
            .get(t)
            .ok_or_else(|| (owner, format!("no profile named {t:?}")))?;
        chain.push(t.clone());
    }
    let mut p = ProfileSpec {
        name: name.to_string(),
        inherits: chain[1..].to_vec(),
        ..ProfileSpec::default()
    };
    for layer in chain.iter().rev() {
        let r = &layers[layer];
        p.bios.extend(r.bios.clone());
        if r.boot_mode.is_some() {
            p.boot_mode = r.boot_mode.clone();
        }
        if r.secure_boot.is_some() {
            p.secure_boot = r.secure_boot;
        }
        if r.raid.is_some() {
            p.raid = r.raid.clone();
        }
        for f in &r.firmware {
            p.firmware.retain(|x| x.component != f.component);
            p.firmware.push(f.clone());
        }
        if !r.connection_networks.is_empty() {
            p.connection_networks = r.connection_networks.clone();
        }
        if r.bond_mode.is_some() {
            p.bond_mode = r.bond_mode.clone();
        }
    }
    Ok(p)
}

/// Completes a node's ports: networks from the profile's network connection where a port lists
/// none, VLANs resolved, the bond mode set on bonded ports. Errors are at `port.N…`; a bond must
/// stay on one switch.
pub fn finish_ports(
    ports: &mut [PortWant],
    profile: Option<&ProfileSpec>,
    networks: &BTreeMap<String, NetworkSpec>,
) -> Vec<AttrError> {
    let mut errors = Vec::new();
    // Checked where the profile was read. A profile stored before `static` was refused keeps what
    // it built then on both sides: a static port-channel and a balance-xor host bond.
    let mode = match profile.and_then(|p| p.bond_mode.as_deref()) {
        None => HostBond::Lacp,
        Some("static") => HostBond::BalanceXor,
        Some(m) => HostBond::parse(m).unwrap_or(HostBond::Lacp),
    };
    let mut bond_switch: BTreeMap<String, String> = BTreeMap::new();
    for (k, p) in ports.iter_mut().enumerate() {
        if p.networks.is_empty() {
            if let Some(pr) = profile {
                p.networks = pr.connection_networks.clone();
            }
        }
        p.vlans.clear();
        for net in &p.networks {
            match networks.get(net) {
                Some(nw) => p.vlans.push(nw.vlan),
                None => errors.push(attr_error(
                    format!("port.{k}.networks"),
                    format!("no network named {net:?}"),
                )),
            }
        }
        if let Some(b) = &p.bond {
            p.bond_mode = Some(mode);
            if let Some(sw) = bond_switch.insert(b.clone(), p.switch.clone()) {
                if sw != p.switch {
                    errors.push(attr_error(
                        format!("port.{k}.bond"),
                        format!("bond {b:?} spans switches {sw} and {}: a port-channel lives on one switch", p.switch),
                    ));
                }
            }
        }
    }
    errors
}

/// Reads a `baremetal_network`'s attributes.
pub fn network_from_attrs(attrs: &Map<String, Value>) -> Result<NetworkSpec, Vec<AttrError>> {
    let mut errors = Vec::new();
    let vlan = n(attrs.get("vlan_id")).unwrap_or(0.0);
    if vlan.fract() != 0.0 || vlan < VLAN_MIN as f64 || vlan > VLAN_MAX as f64 {
        errors.push(attr_error(
            "vlan_id",
            format!("vlan_id {vlan} is out of range: VLANs are {VLAN_MIN} to {VLAN_MAX}"),
        ));
    }
    let role = text_of(attrs, "role").unwrap_or_else(|| "tenant".into());
    if !["tenant", "provisioning", "cleaning"].contains(&role.as_str()) {
        errors.push(attr_error(
            "role",
            format!("role {role:?} is not one of tenant, provisioning, cleaning"),
        ));
    }
    if let Some(m) = n(attrs.get("mtu")) {
        if !(576.0..=9216.0).contains(&m) {
            errors.push(attr_error(
                "mtu",
                format!("mtu {m} is out of range: 576 to 9216"),
            ));
        }
    }
    let (subnets, subnet_errors) = crate::subnet::subnets_from_attrs(attrs);
    errors.extend(subnet_errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(NetworkSpec {
        name: text_of(attrs, "name").unwrap_or_default(),
        vlan: vlan as u16,
        mtu: n(attrs.get("mtu")).map(|m| m as u32),
        role,
        subnets,
    })
}

/// Reads a `baremetal_switch`'s attributes.
pub fn switch_from_attrs(attrs: &Map<String, Value>) -> Result<SwitchSpec, Vec<AttrError>> {
    let driver = text_of(attrs, "driver").unwrap_or_default();
    if !crate::ports::DRIVERS.contains(&driver.as_str()) {
        return Err(vec![attr_error(
            "driver",
            format!(
                "driver {driver:?} is not one of {}",
                crate::ports::DRIVERS.join(", ")
            ),
        )]);
    }
    Ok(SwitchSpec {
        name: text_of(attrs, "name").unwrap_or_default(),
        driver,
        address: text_of(attrs, "address").unwrap_or_default(),
        username: text_of(attrs, "username").unwrap_or_default(),
        password: Secret::new(secret_text(attrs, "password").unwrap_or_default()),
        enable_password: secret_text(attrs, "enable_password").map(Secret::new),
        rack: text_of(attrs, "rack"),
    })
}

impl Desired {
    /// The desired state's fingerprint (secrets left out): a resumed apply continues the run of
    /// the same desired state, and a saved plan is refused for another one.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let nodes: Vec<_> = self
            .nodes
            .values()
            .map(|n| {
                (
                    &n.name,
                    &n.bmc_url,
                    &n.system_id,
                    &n.profile,
                    &n.ports,
                    n.maintenance,
                )
            })
            .collect();
        let switches: Vec<_> = self
            .switches
            .values()
            .map(|s| (&s.name, &s.driver, &s.address))
            .collect();
        let text = serde_json::to_string(&(nodes, switches, &self.networks, self.max_parallel))
            .unwrap_or_default();
        hex::encode(&Sha256::digest(text.as_bytes())[..12])
    }

    /// Builds the desired state; `Err` lists every problem with its location.
    pub fn from_loaded(l: &Loaded) -> Result<Desired, LoadErrors> {
        let mut errors: Vec<LoadError> = Vec::new();
        let mut d = Desired {
            max_parallel: n(l.provider.get("max_parallel"))
                .map(|v| v.max(1.0) as usize)
                .unwrap_or(10),
            notes: l.notes.clone(),
            project: l
                .provider
                .get("project")
                .and_then(Value::as_str)
                .map(str::to_string),
            complete: true,
            ..Desired::default()
        };
        let provider_tls = if l.provider.get("insecure") == Some(&Value::Bool(true)) {
            TlsTrust::Insecure
        } else if let Some(ca) = l.provider.get("ca_cert").and_then(Value::as_str) {
            TlsTrust::CaBundle(PathBuf::from(ca))
        } else {
            TlsTrust::NoExtraRoots
        };
        let mut layers: BTreeMap<String, ProfileLayer> = BTreeMap::new();
        let mut profile_insts: BTreeMap<String, &Instance> = BTreeMap::new();
        let mut names: BTreeMap<(&str, String), &Instance> = BTreeMap::new();
        let located = |i: &Instance, errs: Vec<AttrError>| -> Vec<LoadError> {
            errs.into_iter()
                .map(|(path, m)| i.error(&path, m))
                .collect()
        };
        for i in &l.instances {
            let name = s(i, "name").unwrap_or_default();
            if let Some(prev) = names.insert((i.kind.as_str(), name.clone()), i) {
                errors.push(i.error(
                    "name",
                    format!("the name {name:?} is also used by {}", prev.address),
                ));
                errors.push(prev.error(
                    "name",
                    format!("the name {name:?} is also used by {}", i.address),
                ));
                continue;
            }
            match i.kind.as_str() {
                "baremetal_switch" => match switch_from_attrs(&i.attrs) {
                    Ok(sw) => {
                        d.switches.insert(name, sw);
                    }
                    Err(e) => errors.extend(located(i, e)),
                },
                "baremetal_network" => match network_from_attrs(&i.attrs) {
                    Ok(nw) => {
                        // One address space: a subnet of another network may not overlap.
                        let others = d
                            .networks
                            .values()
                            .map(|o| (o.name.as_str(), o.subnets.as_slice()));
                        for (k, m) in crate::subnet::overlap_with(&nw.subnets, others) {
                            errors.push(i.error(&format!("subnet.{k}.cidr"), m));
                        }
                        d.networks.insert(name, nw);
                    }
                    Err(e) => errors.extend(located(i, e)),
                },
                "baremetal_profile" => {
                    let (layer, errs) = ProfileLayer::from_attrs(&i.attrs);
                    errors.extend(located(i, errs));
                    layers.insert(name.clone(), layer);
                    profile_insts.insert(name, i);
                }
                "baremetal_node" => {}
                "baremetal_image" => match crate::golden::GoldenImage::from_attrs(&i.attrs) {
                    Ok(img) => {
                        let url = crate::hardware::Secret::new(s(i, "url").unwrap_or_default());
                        d.images.insert(name, (img, url));
                    }
                    Err(e) => errors.extend(located(i, e)),
                },
                "baremetal_host" => match host_from_attrs(&name, &i.attrs) {
                    Ok(h) => {
                        d.hosts.insert(name, h);
                    }
                    Err(e) => errors.extend(located(i, e)),
                },
                _ => d.unplanned.push(i.address.clone()),
            }
        }
        // Hosts that name an image of this configuration deploy its URL, checksum and format
        // (an image not declared here is looked up in the inventory at plan time).
        for i in l.instances.iter().filter(|i| i.kind == "baremetal_host") {
            let Some(h) = s(i, "name").and_then(|n| d.hosts.get_mut(&n)) else {
                continue;
            };
            if let (Some((img, url)), None) =
                (h.image.as_ref().and_then(|n| d.images.get(n)), &h.image_url)
            {
                // A ref pins the checksum: the image of this configuration must be at it.
                if let Some(pin) = h.image_checksum.as_ref().filter(|p| **p != img.checksum) {
                    errors.push(i.error(
                        "image",
                        format!(
                            "image {:?} is at checksum {}, and the host asks for {pin}",
                            img.name, img.checksum
                        ),
                    ));
                    continue;
                }
                h.image_url = Some(url.expose().to_string());
                h.image_checksum = Some(img.checksum.clone());
                if h.image_format.is_none() {
                    h.image_format = img.format.clone();
                }
            }
        }
        // Profiles with their templates applied.
        for name in layers.keys() {
            match resolve_profile(name, &layers) {
                Ok(p) => {
                    d.profiles.insert(name.clone(), p);
                }
                Err((owner, m)) => {
                    let i = profile_insts.get(&owner).unwrap_or(&profile_insts[name]);
                    let e = i.error("template", m);
                    if !errors.contains(&e) {
                        errors.push(e);
                    }
                }
            }
        }
        // Nodes, with their references checked.
        for i in l.instances.iter().filter(|i| i.kind == "baremetal_node") {
            let name = s(i, "name").unwrap_or_default();
            let profile = match s(i, "profile") {
                Some(p) => match d.profiles.get(&p) {
                    Some(spec) => Some(spec.clone()),
                    None => {
                        errors.push(i.error("profile", format!("no profile named {p:?}")));
                        continue;
                    }
                },
                None => None,
            };
            let tls = if let Some(ca) = s(i, "ca_cert") {
                TlsTrust::CaBundle(PathBuf::from(ca))
            } else if let Some(fp) = s(i, "fingerprint") {
                if crate::hardware::parse_fingerprint(&fp).is_none() {
                    errors.push(i.error(
                        "fingerprint",
                        "not a SHA-256 fingerprint (64 hex digits, colons allowed)",
                    ));
                }
                TlsTrust::Fingerprint(fp)
            } else if b(i, "insecure") == Some(true) {
                TlsTrust::Insecure
            } else {
                provider_tls.clone()
            };
            let url = s(i, "bmc_url").unwrap_or_default();
            if !(url.starts_with("https://")
                || url.starts_with("http://")
                || url.starts_with("ipmi://"))
            {
                errors.push(i.error(
                    "bmc_url",
                    format!("{url:?} must start with https:// (Redfish; http:// for a lab) or ipmi:// (IPMI 2.0)"),
                ));
            }
            let mut ports = Vec::new();
            let mut seen = BTreeSet::new();
            for (k, p) in blocks(i, "port").iter().enumerate() {
                let sw = p.get("switch").map(scalar_text).unwrap_or_default();
                let port = p.get("port").map(scalar_text).unwrap_or_default();
                if !d.switches.contains_key(&sw) {
                    errors.push(i.error(&format!("port.{k}"), format!("no switch named {sw:?}")));
                    continue;
                }
                if !seen.insert((sw.clone(), port.clone())) {
                    errors.push(
                        i.error(&format!("port.{k}"), format!("{sw} {port} is listed twice")),
                    );
                }
                let networks: Vec<String> = p
                    .get("networks")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().map(scalar_text).collect())
                    .unwrap_or_default();
                ports.push(PortWant {
                    switch: sw,
                    port,
                    networks,
                    vlans: Vec::new(),
                    mac: p.get("mac").map(scalar_text),
                    pxe: p.get("pxe") == Some(&Value::Bool(true)),
                    bond: p.get("bond").filter(|v| !v.is_null()).map(scalar_text),
                    bond_mode: None,
                });
            }
            for (path, m) in finish_ports(&mut ports, profile.as_ref(), &d.networks) {
                errors.push(i.error(&path, m));
            }
            let boot = crate::deploy::netboot::NodeBoot::from_attrs(
                &name,
                &url,
                s(i, "boot_interface").as_deref(),
                s(i, "pxe_mac").as_deref(),
            )
            .unwrap_or_else(|es| {
                for (attr, m) in es {
                    errors.push(i.error(attr, m));
                }
                Default::default()
            });
            d.nodes.insert(
                name.clone(),
                NodeSpec {
                    name,
                    address: i.address.clone(),
                    bmc_url: url.trim_end_matches('/').to_string(),
                    system_id: s(i, "system_id").filter(|x| !x.is_empty()),
                    username: s(i, "username").unwrap_or_default(),
                    password: Secret::new(
                        secret_text(&i.attrs, "password")
                            .unwrap_or_default()
                            .to_string(),
                    ),
                    tls,
                    profile,
                    rack: s(i, "rack"),
                    maintenance: b(i, "maintenance").unwrap_or(false),
                    ports,
                    boot,
                },
            );
        }
        // A switch port belongs to one node: both claims are reported, each at its port block.
        let mut owners: BTreeMap<(String, String), (&NodeSpec, usize)> = BTreeMap::new();
        let instance = |n: &NodeSpec| l.instances.iter().find(|i| i.address == n.address);
        for n in d.nodes.values() {
            for (k, p) in n.ports.iter().enumerate() {
                let key = (p.switch.clone(), p.port.clone());
                if let Some((other, j)) = owners.get(&key).copied() {
                    if let Some(i) = instance(n) {
                        errors.push(i.error(
                            &format!("port.{k}"),
                            format!(
                                "{} {} is also cabled to node {}",
                                p.switch, p.port, other.name
                            ),
                        ));
                    }
                    if let Some(i) = instance(other) {
                        errors.push(i.error(
                            &format!("port.{j}"),
                            format!("{} {} is also cabled to node {}", p.switch, p.port, n.name),
                        ));
                    }
                } else {
                    owners.insert(key, (n, k));
                }
            }
        }
        if errors.is_empty() {
            Ok(d)
        } else {
            Err(LoadErrors(errors))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(template: Option<&str>, bios: &[(&str, &str)]) -> ProfileLayer {
        ProfileLayer {
            template: template.map(str::to_string),
            bios: bios
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..ProfileLayer::default()
        }
    }

    #[test]
    fn a_profile_takes_its_template_chain_with_its_own_values_winning() {
        let layers: BTreeMap<String, ProfileLayer> = [
            ("base".to_string(), layer(None, &[("A", "1"), ("B", "1")])),
            ("mid".to_string(), layer(Some("base"), &[("B", "2")])),
            ("top".to_string(), layer(Some("mid"), &[("C", "3")])),
        ]
        .into_iter()
        .collect();
        let p = resolve_profile("top", &layers).unwrap();
        assert_eq!(p.inherits, vec!["mid", "base"]);
        assert_eq!(
            p.bios.into_iter().collect::<Vec<_>>(),
            vec![
                ("A".into(), "1".into()),
                ("B".into(), "2".into()),
                ("C".into(), "3".into())
            ]
        );
    }

    #[test]
    fn missing_and_looping_templates_name_the_profile_that_refers() {
        let mut layers: BTreeMap<String, ProfileLayer> = BTreeMap::new();
        layers.insert("a".into(), layer(Some("b"), &[]));
        layers.insert("b".into(), layer(Some("nope"), &[]));
        assert_eq!(
            resolve_profile("a", &layers).unwrap_err(),
            ("b".to_string(), "no profile named \"nope\"".to_string())
        );
        layers.insert("b".into(), layer(Some("a"), &[]));
        let (owner, why) = resolve_profile("a", &layers).unwrap_err();
        assert_eq!(owner, "a");
        assert!(why.contains("template cycle: a → b → a"), "{why}");
    }

    #[test]
    fn attribute_parsers_locate_their_errors() {
        let j = serde_json::json!({"name": "n", "vlan_id": 5000, "role": "dmz"});
        let errs = network_from_attrs(j.as_object().unwrap()).unwrap_err();
        let paths: Vec<&str> = errs.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, vec!["vlan_id", "role"]);
        let j = serde_json::json!({"boot": [{"mode": "BIOS"}], "raid": [{"volume": [{"name": "os", "level": "raid7"}]}]});
        let (_, errs) = ProfileLayer::from_attrs(j.as_object().unwrap());
        let paths: Vec<&str> = errs.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, vec!["raid.0.volume.0.level", "boot.0.mode"]);
        let j = serde_json::json!({"name": "s", "driver": "telnet"});
        assert_eq!(
            switch_from_attrs(j.as_object().unwrap()).unwrap_err()[0].0,
            "driver"
        );
    }
}
