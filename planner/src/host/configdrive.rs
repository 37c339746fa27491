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
use crate::switch::BondMode;

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
type Bond = (Vec<String>, Option<BondMode>, Vec<String>);

/// The network configuration (version 2) for a node's ports, once their networks are resolved:
/// each port with a MAC is an ethernet matched by it; ports of one bond group form a bond (LACP is
/// 802.3ad, a static port-channel balance-xor); one network is an untagged link with DHCP, several
/// a trunk whose first network is native and whose others are VLAN interfaces.
pub fn network_config(ports: &[PortWant], networks: &BTreeMap<String, NetworkSpec>) -> Value {
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
            }
            None => links.push((name.clone(), p.networks.clone())),
        }
        ethernets.insert(name, eth);
    }
    let mut out_bonds = Map::new();
    for (b, (ifaces, mode, nets)) in &bonds {
        let mode = match mode {
            Some(BondMode::Static) => "balance-xor",
            _ => "802.3ad",
        };
        out_bonds.insert(
            b.clone(),
            json!({"interfaces": ifaces, "parameters": {"mode": mode}}),
        );
        links.push((b.clone(), nets.clone()));
    }
    let mut vlans = Map::new();
    for (link, nets) in &links {
        let mtu = |n: &str| networks.get(n).and_then(|s| s.mtu);
        let target = if ethernets.contains_key(link) {
            &mut ethernets
        } else {
            &mut out_bonds
        };
        if let Some(l) = target.get_mut(link) {
            l["dhcp4"] = json!(!nets.is_empty());
            if let Some(m) = nets.first().and_then(|n| mtu(n)) {
                l["mtu"] = json!(m);
            }
        }
        for n in nets.iter().skip(1) {
            if let Some(spec) = networks.get(n) {
                let mut v = json!({"id": spec.vlan, "link": link, "dhcp4": true});
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
            bond_mode: bond.map(|_| BondMode::Lacp),
        };
        let cfg = network_config(
            &[
                port("AA:00:00:00:00:01", Some("bond0"), &["prod", "stor"]),
                port("aa:00:00:00:00:02", Some("bond0"), &["prod", "stor"]),
                port("aa:00:00:00:00:03", None, &["stor"]),
            ],
            &nets,
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
}
