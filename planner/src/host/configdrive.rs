//! Config drives: a cloud-init NoCloud seed (volume label `cidata`: `meta-data`, `user-data`,
//! `vendor-data`, `network-config`) as an ISO 9660 image with Rock Ridge and Joliet names, written
//! with `hadris-iso`.
//!
//! The seed files are JSON, which is YAML too, so nothing needs quoting by hand. The user's
//! `user-data` is passed through untouched; what the deployment itself needs (phoning home when the
//! installed system first boots) goes in `vendor-data`, which cloud-init merges under it.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::sync::Arc;

use hadris_iso::read::PathSeparator;
use hadris_iso::write::options::{CreationFeatures, IsoFormatOptions};
use hadris_iso::write::{File as IsoFile, InputFiles, IsoImageWriter};
use serde_json::{json, Map, Value};

use crate::model::{NetworkSpec, PortWant};
use planner_core::ports::HostBond;
use planner_core::subnet::{AddressMode, Allocation};

/// What goes on a host's config drive.
#[derive(Debug, Clone, Default)]
pub struct Seed {
    /// Changes with every deployment, so cloud-init runs again after a rebuild.
    pub instance_id: String,
    pub hostname: String,
    pub ssh_keys: Vec<String>,
    pub user_data: Option<String>,
    /// Where the installed system reports its first boot (the `callback` wait strategy).
    pub phone_home: Option<String>,
    /// A netplan-style version 2 network configuration.
    pub network: Option<Value>,
}

/// A bond group as it is gathered: member interfaces, mode, networks.
type Bond = (Vec<String>, Option<HostBond>, Vec<String>);

/// The network configuration (version 2) for a node's ports, once their networks are resolved and
/// the host's addresses allocated:
/// - each port with a MAC is an ethernet matched by it; ports of one bond group form a bond in the
///   mode the profile asked for (the same value the switch side is built from);
/// - one network is an untagged link, several a trunk whose first network is native and whose
///   others are VLAN interfaces;
/// - a network without subnets takes DHCP; one with subnets takes its static addresses (on the
///   first interface that carries it), its DNS servers, DHCP where a subnet says `dhcp`, and router
///   advertisements where one says `slaac`;
/// - the default route of each family goes through the gateway of the first network (in the
///   host's order) whose static subnet has one: one default route per family, as `gateway4` and
///   `gateway6`, which every renderer cloud-init has takes (Debian 12's cloud-init writes a
///   `routes:` default for IPv6 as `::/64`, and through `route`, which the image lacks).
pub fn network_config(
    ports: &[PortWant],
    networks: &BTreeMap<String, NetworkSpec>,
    addresses: &[Allocation],
) -> Value {
    let mut ethernets = Map::new();
    let mut bonds: BTreeMap<String, Bond> = BTreeMap::new();
    let mut links: Vec<(String, Vec<String>)> = Vec::new();
    for (k, p) in ports.iter().enumerate() {
        let Some(mac) = &p.mac else { continue };
        let name = format!("nic{k}");
        let mut eth = json!({"match": {"macaddress": mac.to_ascii_lowercase()}, "set-name": name});
        match &p.bond {
            Some(b) => {
                let e = bonds.entry(b.clone()).or_default();
                e.0.push(name.clone());
                e.1 = p.bond_mode;
                e.2 = p.networks.clone();
                eth["dhcp4"] = json!(false);
                eth["dhcp6"] = json!(false);
                eth["accept-ra"] = json!(false);
            }
            None => links.push((name.clone(), p.networks.clone())),
        }
        ethernets.insert(name, eth);
    }
    let mut out_bonds = Map::new();
    for (b, (ifaces, mode, nets)) in &bonds {
        let mode = mode.unwrap_or(HostBond::Lacp);
        let mut parameters = json!({"mode": mode.as_str(), "mii-monitor-interval": 100});
        if mode == HostBond::ActiveBackup {
            if let Some(first) = ifaces.first() {
                parameters["primary"] = json!(first);
            }
        }
        out_bonds.insert(
            b.clone(),
            json!({"interfaces": ifaces, "parameters": parameters}),
        );
        links.push((b.clone(), nets.clone()));
    }
    let mut vlans = Map::new();
    // A network's addresses go on the first interface that carries it, and its gateways' routes
    // once.
    let mut placed: Vec<String> = Vec::new();
    let mut gateways = [false; 2];
    let mut addressing = |net: &str| -> Map<String, Value> {
        let first = !placed.iter().any(|n| n == net);
        placed.push(net.to_string());
        ip_settings(networks.get(net), addresses, first, &mut gateways)
    };
    for (link, nets) in &links {
        let mtu = |n: &str| networks.get(n).and_then(|s| s.mtu);
        let target = if ethernets.contains_key(link) {
            &mut ethernets
        } else {
            &mut out_bonds
        };
        if let Some(l) = target.get_mut(link) {
            match nets.first() {
                Some(n) => {
                    for (k, v) in addressing(n) {
                        l[k] = v;
                    }
                }
                None => l["dhcp4"] = json!(false),
            }
            if let Some(m) = nets.first().and_then(|n| mtu(n)) {
                l["mtu"] = json!(m);
            }
        }
        for n in nets.iter().skip(1) {
            if let Some(spec) = networks.get(n) {
                let mut v = json!({"id": spec.vlan, "link": link});
                for (k, val) in addressing(n) {
                    v[k] = val;
                }
                if let Some(m) = spec.mtu {
                    v["mtu"] = json!(m);
                }
                vlans.insert(format!("{link}.{}", spec.vlan), v);
            }
        }
    }
    let mut cfg = json!({"version": 2, "ethernets": ethernets});
    if !out_bonds.is_empty() {
        cfg["bonds"] = Value::Object(out_bonds);
    }
    if !vlans.is_empty() {
        cfg["vlans"] = Value::Object(vlans);
    }
    cfg
}

/// An interface's IP settings for one network: DHCP without subnets; else its addresses (when
/// `first` carries it), its default gateways (each family's first: `gateways` says which families
/// have one already), DNS, and DHCP or router advertisements by the subnets' modes.
fn ip_settings(
    net: Option<&NetworkSpec>,
    addresses: &[Allocation],
    first: bool,
    gateways: &mut [bool; 2],
) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(net) = net.filter(|n| !n.subnets.is_empty()) else {
        out.insert("dhcp4".into(), json!(true));
        return out;
    };
    let has = |v6: bool, mode: AddressMode| {
        net.subnets
            .iter()
            .any(|s| s.is_v6() == v6 && s.mode == mode)
    };
    out.insert("dhcp4".into(), json!(has(false, AddressMode::Dhcp)));
    out.insert("dhcp6".into(), json!(has(true, AddressMode::Dhcp)));
    out.insert(
        "accept-ra".into(),
        json!(has(true, AddressMode::Slaac) || has(true, AddressMode::Dhcp)),
    );
    if !first {
        return out;
    }
    let mine: Vec<&Allocation> = addresses.iter().filter(|a| a.network == net.name).collect();
    if !mine.is_empty() {
        out.insert(
            "addresses".into(),
            json!(mine.iter().map(|a| a.with_prefix()).collect::<Vec<_>>()),
        );
    }
    for s in &net.subnets {
        // A static subnet's gateway is set here; a DHCP or SLAAC one's comes from its server.
        let Some(gw) = s.gateway.filter(|_| s.allocates()) else {
            continue;
        };
        let family = usize::from(s.is_v6());
        if gateways[family] || !mine.iter().any(|a| a.subnet == s.cidr) {
            continue;
        }
        gateways[family] = true;
        let key = if s.is_v6() { "gateway6" } else { "gateway4" };
        out.insert(key.into(), json!(gw.to_string()));
    }
    let mut dns: Vec<String> = Vec::new();
    for a in net.subnets.iter().flat_map(|s| &s.dns_servers) {
        if !dns.contains(&a.to_string()) {
            dns.push(a.to_string());
        }
    }
    if !dns.is_empty() {
        out.insert("nameservers".into(), json!({"addresses": dns}));
    }
    out
}

/// Whether a network configuration configures no interface.
pub fn is_empty(cfg: &Value) -> bool {
    ["ethernets", "bonds", "vlans"].iter().all(|k| {
        cfg.get(k)
            .and_then(Value::as_object)
            .is_none_or(Map::is_empty)
    })
}

/// DHCP on each NIC the deploy agent saw with its link up (all of them when none is up),
/// matched by MAC: a node without switch ports still gets its network configured.
pub fn dhcp_on(nics: &[planner_core::deploy::agent::Nic]) -> Value {
    let up: Vec<_> = nics.iter().filter(|n| n.link_up).collect();
    let chosen: Vec<_> = if up.is_empty() {
        nics.iter().collect()
    } else {
        up
    };
    let mut ethernets = Map::new();
    for (k, n) in chosen.iter().enumerate() {
        ethernets.insert(
            format!("nic{k}"),
            json!({"match": {"macaddress": n.mac.to_ascii_lowercase()}, "set-name": format!("nic{k}"), "dhcp4": true}),
        );
    }
    json!({"version": 2, "ethernets": ethernets})
}

/// The seed's files, by name, as they go on the drive.
pub fn files(seed: &Seed) -> BTreeMap<&'static str, Vec<u8>> {
    let mut out = BTreeMap::new();
    let meta = json!({
        "instance-id": seed.instance_id,
        "local-hostname": seed.hostname,
        "public-keys": seed.ssh_keys,
    });
    out.insert("meta-data", pretty(&meta));
    out.insert(
        "user-data",
        seed.user_data
            .clone()
            .unwrap_or_else(|| "#cloud-config\n{}\n".into())
            .into_bytes(),
    );
    let mut vendor = Map::new();
    if let Some(url) = &seed.phone_home {
        vendor.insert(
            "phone_home".into(),
            json!({"url": url, "post": ["instance_id", "hostname"], "tries": 10}),
        );
    }
    let mut v = b"#cloud-config\n".to_vec();
    v.extend(pretty(&Value::Object(vendor)));
    out.insert("vendor-data", v);
    if let Some(n) = &seed.network {
        out.insert("network-config", pretty(n));
    }
    out
}

fn pretty(v: &Value) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).unwrap_or_default();
    b.push(b'\n');
    b
}

/// The config drive as an ISO image (label `cidata`).
/// The ISO writer refused the config drive (its error has no `Display`: its debug text is kept).
#[derive(Debug, thiserror::Error)]
#[error("building the config drive: {0}")]
pub struct ConfigDriveError(String);

pub fn build(seed: &Seed) -> Result<Vec<u8>, ConfigDriveError> {
    let files = InputFiles {
        path_separator: PathSeparator::ForwardSlash,
        files: files(seed)
            .into_iter()
            .map(|(name, contents)| IsoFile::File {
                name: Arc::new(name.to_string()),
                contents,
            })
            .collect(),
    };
    let options = IsoFormatOptions {
        volume_name: "cidata".into(),
        system_id: None,
        volume_set_id: None,
        publisher_id: None,
        preparer_id: None,
        application_id: Some("bmplan config drive".into()),
        sector_size: 2048,
        path_separator: PathSeparator::ForwardSlash,
        features: CreationFeatures::extensions(),
        strict_charset: false,
    };
    let mut out = Cursor::new(Vec::new());
    IsoImageWriter::create(&mut out, files, options)
        .map_err(|e| ConfigDriveError(format!("{e:?}")))?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_reads_back_from_its_iso_by_its_nocloud_names() {
        let seed = Seed {
            instance_id: "web-1-g2".into(),
            hostname: "web-1".into(),
            ssh_keys: vec!["ssh-ed25519 AAAA test@x".into()],
            user_data: Some("#cloud-config\n{\"packages\": [\"nginx\"]}\n".into()),
            phone_home: Some("http://127.0.0.1:9/callback/t".into()),
            network: None,
        };
        let iso = build(&seed).unwrap();
        // Read back with the lab's reader, which knows only the NoCloud file names.
        let back = lab::install::read_seed(&iso).unwrap();
        assert_eq!(back.instance_id.as_deref(), Some("web-1-g2"));
        assert_eq!(back.hostname.as_deref(), Some("web-1"));
        assert_eq!(
            back.public_keys,
            vec!["ssh-ed25519 AAAA test@x".to_string()]
        );
        assert_eq!(
            back.phone_home.as_deref(),
            Some("http://127.0.0.1:9/callback/t")
        );
        assert!(back.has_user_data);
        assert!(!back.has_network_config);
        assert_eq!(&iso[0x8001..0x8006], b"CD001");
    }

    #[test]
    fn ports_become_a_bond_with_a_trunk_and_an_access_link() {
        let nets: BTreeMap<String, NetworkSpec> = [("prod", 100, Some(9000)), ("stor", 200, None)]
            .into_iter()
            .map(|(n, v, m)| {
                (
                    n.to_string(),
                    NetworkSpec {
                        name: n.into(),
                        vlan: v,
                        mtu: m,
                        role: "tenant".into(),
                        subnets: vec![],
                    },
                )
            })
            .collect();
        let port = |mac: &str, bond: Option<&str>, nets: &[&str]| PortWant {
            switch: "tor".into(),
            port: "Gi0/1".into(),
            networks: nets.iter().map(|s| s.to_string()).collect(),
            vlans: vec![],
            mac: Some(mac.into()),
            pxe: false,
            bond: bond.map(str::to_string),
            bond_mode: bond.map(|_| HostBond::Lacp),
        };
        let cfg = network_config(
            &[
                port("AA:00:00:00:00:01", Some("bond0"), &["prod", "stor"]),
                port("aa:00:00:00:00:02", Some("bond0"), &["prod", "stor"]),
                port("aa:00:00:00:00:03", None, &["stor"]),
            ],
            &nets,
            &[],
        );
        assert_eq!(
            cfg["ethernets"]["nic0"]["match"]["macaddress"],
            "aa:00:00:00:00:01"
        );
        assert_eq!(cfg["bonds"]["bond0"]["interfaces"], json!(["nic0", "nic1"]));
        assert_eq!(cfg["bonds"]["bond0"]["parameters"]["mode"], "802.3ad");
        assert_eq!(cfg["bonds"]["bond0"]["mtu"], 9000);
        assert_eq!(cfg["vlans"]["bond0.200"]["id"], 200);
        assert_eq!(cfg["ethernets"]["nic2"]["dhcp4"], true);
        assert!(cfg["vlans"].get("nic2.200").is_none());
    }

    fn nets(subnets: Value) -> BTreeMap<String, NetworkSpec> {
        let (subnets, errs) = planner_core::subnet::subnets_from_attrs(
            json!({ "subnet": subnets }).as_object().unwrap(),
        );
        assert!(errs.is_empty(), "{errs:?}");
        [("prod", 100, subnets), ("stor", 200, vec![])]
            .into_iter()
            .map(|(n, v, s)| {
                (
                    n.to_string(),
                    NetworkSpec {
                        name: n.into(),
                        vlan: v,
                        mtu: None,
                        role: "tenant".into(),
                        subnets: s,
                    },
                )
            })
            .collect()
    }

    fn port(mac: &str, bond: Option<&str>, mode: HostBond, nets: &[&str]) -> PortWant {
        PortWant {
            switch: "tor".into(),
            port: "Gi0/1".into(),
            networks: nets.iter().map(|s| s.to_string()).collect(),
            vlans: vec![],
            mac: Some(mac.into()),
            pxe: false,
            bond: bond.map(str::to_string),
            bond_mode: bond.map(|_| mode),
        }
    }

    fn alloc(net: &str, subnet: &str, a: &str) -> Allocation {
        Allocation {
            network: net.into(),
            subnet: subnet.into(),
            address: a.parse().unwrap(),
        }
    }

    #[test]
    fn an_active_backup_bond_carries_static_addresses_routes_dns_and_slaac() {
        let n = nets(json!([
            {"cidr": "10.0.0.0/24", "gateway": "10.0.0.1", "dns_servers": ["10.0.0.53", "fd00::53"]},
            {"cidr": "fd00::/64", "gateway": "fd00::1"},
            {"cidr": "fd01::/64", "mode": "slaac"}
        ]));
        let cfg = network_config(
            &[
                port(
                    "aa:00:00:00:00:01",
                    Some("bond0"),
                    HostBond::ActiveBackup,
                    &["prod", "stor"],
                ),
                port(
                    "aa:00:00:00:00:02",
                    Some("bond0"),
                    HostBond::ActiveBackup,
                    &["prod", "stor"],
                ),
            ],
            &n,
            &[
                alloc("prod", "10.0.0.0/24", "10.0.0.7"),
                alloc("prod", "fd00::/64", "fd00::7"),
            ],
        );
        let bond = &cfg["bonds"]["bond0"];
        assert_eq!(
            bond["parameters"],
            json!({"mode": "active-backup", "mii-monitor-interval": 100, "primary": "nic0"})
        );
        assert_eq!(bond["addresses"], json!(["10.0.0.7/24", "fd00::7/64"]));
        assert_eq!(bond["dhcp4"], false);
        assert_eq!(bond["dhcp6"], false);
        assert_eq!(bond["accept-ra"], true, "the slaac subnet");
        assert_eq!(bond["gateway4"], "10.0.0.1");
        assert_eq!(bond["gateway6"], "fd00::1");
        assert_eq!(
            bond["nameservers"]["addresses"],
            json!(["10.0.0.53", "fd00::53"])
        );
        // The network without subnets keeps DHCP, on its VLAN interface.
        assert_eq!(cfg["vlans"]["bond0.200"]["dhcp4"], true);
        assert!(cfg["vlans"]["bond0.200"].get("addresses").is_none());
        // Members carry nothing themselves.
        assert_eq!(cfg["ethernets"]["nic1"]["dhcp4"], false);
        assert_eq!(cfg["ethernets"]["nic1"]["accept-ra"], false);
    }

    #[test]
    fn a_network_on_two_links_gets_its_address_once_and_bond_modes_are_spelled_for_linux() {
        let n = nets(json!([{"cidr": "10.0.0.0/24", "gateway": "10.0.0.1"}]));
        let cfg = network_config(
            &[
                port("aa:00:00:00:00:01", None, HostBond::Lacp, &["prod"]),
                port("aa:00:00:00:00:02", None, HostBond::Lacp, &["prod"]),
                port(
                    "aa:00:00:00:00:03",
                    Some("b1"),
                    HostBond::BalanceXor,
                    &["stor"],
                ),
                port(
                    "aa:00:00:00:00:04",
                    Some("b1"),
                    HostBond::BalanceXor,
                    &["stor"],
                ),
            ],
            &n,
            &[alloc("prod", "10.0.0.0/24", "10.0.0.9")],
        );
        assert_eq!(
            cfg["ethernets"]["nic0"]["addresses"],
            json!(["10.0.0.9/24"])
        );
        assert!(cfg["ethernets"]["nic1"].get("addresses").is_none());
        assert!(cfg["ethernets"]["nic1"].get("gateway4").is_none());
        assert_eq!(cfg["ethernets"]["nic1"]["dhcp4"], false);
        assert_eq!(cfg["bonds"]["b1"]["parameters"]["mode"], "balance-xor");
        assert!(cfg["bonds"]["b1"]["parameters"].get("primary").is_none());
    }
}
