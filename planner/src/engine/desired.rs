//! The desired state of enrolled nodes as the inventory describes them (each node's BMC, profile
//! with its template chain, ports with their VLANs, and the switches those ports are on): the
//! source the Terraform provider plans from, where `bmplan` reads a configuration.

use std::collections::BTreeMap;

use super::EngineError;
use crate::inventory::{Inventory, InventoryError, NodeConfig};
use crate::model::{resolve_profile, Desired, NodeSpec, ProfileLayer, SwitchSpec};

/// Everything the catalog holds that nodes refer to, read once.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub profiles: BTreeMap<String, ProfileLayer>,
    pub networks: BTreeMap<String, crate::model::NetworkSpec>,
    pub configs: BTreeMap<String, NodeConfig>,
}

impl Catalog {
    pub async fn read(inv: &Inventory) -> Result<Catalog, InventoryError> {
        Ok(Catalog {
            profiles: inv.profile_layers().await?,
            networks: inv
                .networks()
                .await?
                .into_iter()
                .map(|n| (n.name.clone(), n))
                .collect(),
            configs: inv.node_configs().await?.into_iter().collect(),
        })
    }

    /// A host's ports on `node`: the node's ports, on the host's networks where it names some,
    /// completed by the node's profile (networks, bond mode); and the networks they carry, in
    /// order, each once. What the host's network configuration and its addresses are made from.
    pub fn host_ports(
        &self,
        node: &str,
        host_networks: &[String],
    ) -> (Vec<crate::model::PortWant>, Vec<String>) {
        let config = self.configs.get(node).cloned().unwrap_or_default();
        let mut ports = config.ports.clone();
        if !host_networks.is_empty() {
            for p in &mut ports {
                p.networks = host_networks.to_vec();
            }
        }
        let profile = config
            .profile
            .as_deref()
            .and_then(|p| resolve_profile(p, &self.profiles).ok());
        let _ = crate::model::finish_ports(&mut ports, profile.as_ref(), &self.networks);
        let mut on: Vec<String> = Vec::new();
        for n in ports.iter().flat_map(|p| &p.networks) {
            if !on.contains(n) {
                on.push(n.clone());
            }
        }
        (ports, on)
    }

    /// The first of `networks` with static subnets on which none of `ports` has a MAC: static
    /// addresses go on an interface matched by its MAC, so there they could not be configured.
    pub fn unaddressable<'a>(
        &self,
        ports: &[crate::model::PortWant],
        networks: &'a [String],
    ) -> Option<&'a str> {
        networks
            .iter()
            .find(|n| {
                self.networks
                    .get(n.as_str())
                    .is_some_and(|s| s.subnets.iter().any(|s| s.allocates()))
                    && !ports
                        .iter()
                        .any(|p| p.mac.is_some() && p.networks.contains(n))
            })
            .map(String::as_str)
    }

    /// Why a host cannot get its addresses, checked before anything is done (at plan time), as
    /// `(attribute path, message)`: a pin outside its network's static subnets, on its gateway or
    /// a reserved address, or held by another host; a subnet with no free address for a host that
    /// holds none there yet.
    pub async fn address_problems(
        &self,
        inv: &Inventory,
        project: &str,
        host: &str,
        networks: &[String],
        ports: Option<&[crate::model::PortWant]>,
        pins: &[crate::subnet::AddressPin],
    ) -> Result<Vec<(String, String)>, InventoryError> {
        // A pin on a network the inventory does not know yet (created in the same apply) is
        // checked when the deployment allocates it.
        let mut out: Vec<(String, String)> =
            crate::subnet::pin_problems(pins, |n| self.networks.get(n).map(|s| s.subnets.clone()))
                .into_iter()
                .filter(|(k, _)| self.networks.contains_key(&pins[*k].network))
                .map(|(k, m)| (format!("address.{k}.address"), m))
                .collect();
        let held = inv.addresses(None).await?;
        for (k, p) in pins.iter().enumerate() {
            if let Some(r) = held.iter().find(|r| {
                r.address == p.address.to_string() && !(r.project == project && r.host == host)
            }) {
                out.push((
                    format!("address.{k}.address"),
                    format!(
                        "{} on network {:?} is held by {}",
                        p.address,
                        p.network,
                        crate::subnet::holder(project, &r.project, &r.host)
                    ),
                ));
            }
            if !networks.contains(&p.network) && !networks.is_empty() {
                out.push((
                    format!("address.{k}.network"),
                    format!(
                        "the host is not on network {:?} (its networks: {})",
                        p.network,
                        networks.join(", ")
                    ),
                ));
            }
        }
        for name in networks {
            let Some(net) = self.networks.get(name) else {
                continue;
            };
            if let Some(n) = ports.and_then(|p| self.unaddressable(p, std::slice::from_ref(name))) {
                out.push((
                    "networks".into(),
                    format!(
                        "network {n:?} has static subnets, but no port of the host's node on it has a `mac`: \
                         its addresses could not be configured; set the port's mac"
                    ),
                ));
            }
            for u in crate::inventory::subnet_use(net, &held) {
                let mine = held.iter().any(|r| {
                    r.network == *name
                        && r.subnet == u.subnet
                        && r.project == project
                        && r.host == host
                });
                let pinned = pins.iter().any(|p| {
                    p.network == *name
                        && crate::subnet::Cidr::parse(&u.subnet)
                            .is_ok_and(|c| c.contains(p.address))
                });
                if u.free == 0 && !mine && !pinned {
                    out.push((
                        "networks".into(),
                        format!(
                            "network {name:?} subnet {} is exhausted: all {} allocatable addresses are held; widen its ranges or release a host",
                            u.subnet, u.allocated
                        ),
                    ));
                }
            }
        }
        Ok(out)
    }

    /// Nodes whose profile is `profile` or inherits from it.
    pub fn nodes_using(&self, profile: &str) -> Vec<String> {
        self.configs
            .iter()
            .filter(|(_, c)| {
                // The profile in effect: a host's over the node's own.
                let effective = c
                    .host_override
                    .as_ref()
                    .and_then(|o| o.profile.as_deref())
                    .or(c.profile.as_deref());
                effective.is_some_and(|p| {
                    p == profile
                        || resolve_profile(p, &self.profiles)
                            .map(|s| s.inherits.iter().any(|t| t == profile))
                            .unwrap_or(false)
                })
            })
            .map(|(n, _)| n.clone())
            .collect()
    }
}

/// The desired state of `nodes` (enrolled in the inventory) as the catalog describes them.
pub async fn desired_for(
    inv: &Inventory,
    catalog: &Catalog,
    nodes: &[String],
    max_parallel: usize,
) -> Result<Desired, EngineError> {
    let mut d = Desired {
        max_parallel: max_parallel.max(1),
        ..Desired::default()
    };
    for name in nodes {
        let record = inv.node(name).await?;
        let (ep, system_id) = inv.node_endpoint(name).await?;
        let config = catalog.configs.get(name).cloned().unwrap_or_default();
        let over = config.host_override.clone().unwrap_or_default();
        let profile = match over.profile.as_ref().or(config.profile.as_ref()) {
            Some(p) => Some(
                resolve_profile(p, &catalog.profiles)
                    .map_err(|(_, m)| EngineError::Reference(format!("node {name}: {m}")))?,
            ),
            None => None,
        };
        let mut ports = config.ports.clone();
        // The host lifecycle's networks win while it holds the node (provisioning, cleaning, a
        // host's own networks).
        if let Some(nets) = over.networks.as_ref().filter(|o| !o.is_empty()) {
            for p in &mut ports {
                p.networks = nets.clone();
            }
        }
        if let Some((path, m)) =
            crate::model::finish_ports(&mut ports, profile.as_ref(), &catalog.networks)
                .into_iter()
                .next()
        {
            return Err(EngineError::Reference(format!("node {name}: {path}: {m}")));
        }
        for p in &ports {
            if !d.switches.contains_key(&p.switch) {
                let sw = inv.switch(&p.switch).await.map_err(|e| match e {
                    InventoryError::NotFound { .. } => EngineError::Reference(format!(
                        "node {name}: port {} names switch {:?}, which does not exist",
                        p.port, p.switch
                    )),
                    other => other.into(),
                })?;
                let (password, enable_password) = inv.switch_secrets(&p.switch).await?;
                d.switches.insert(
                    sw.name.clone(),
                    SwitchSpec {
                        name: sw.name,
                        driver: sw.driver,
                        address: sw.address,
                        username: sw.username,
                        password,
                        enable_password,
                        rack: sw.rack,
                    },
                );
            }
        }
        for n in ports.iter().flat_map(|p| p.networks.iter()) {
            if let Some(nw) = catalog.networks.get(n) {
                d.networks.insert(n.clone(), nw.clone());
            }
        }
        if let Some(p) = &profile {
            d.profiles.insert(p.name.clone(), p.clone());
        }
        d.nodes.insert(
            name.clone(),
            NodeSpec {
                name: name.clone(),
                address: format!("baremetal_node.{name}"),
                bmc_url: ep.url.clone(),
                system_id: Some(system_id),
                username: ep.username.clone(),
                password: ep.password.clone(),
                tls: ep.tls.clone(),
                profile,
                rack: record.rack.clone(),
                maintenance: record.maintenance,
                ports,
                boot: config.boot.clone(),
            },
        );
    }
    // The host lifecycle's networks are on every switch of the fleet, as `bmplan` plans them.
    for (name, nw) in &catalog.networks {
        if matches!(nw.role.as_str(), "provisioning" | "cleaning") {
            d.networks.insert(name.clone(), nw.clone());
        }
    }
    Ok(d)
}

/// Puts what hosts hold over a desired state loaded from HCL (`bmplan plan/apply/drift`): a node
/// a host runs on keeps the host's profile and networks, exactly as the provider's engine sees it,
/// so the two tools never undo each other. Returns the nodes layered.
pub async fn layer_over(
    inv: &Inventory,
    desired: &mut crate::model::Desired,
) -> Result<Vec<String>, InventoryError> {
    let configs = inv.node_configs().await?;
    let mut layered = Vec::new();
    let mut catalog: Option<Catalog> = None;
    for (name, config) in configs {
        let (Some(over), Some(node)) = (config.host_override, desired.nodes.get_mut(&name)) else {
            continue;
        };
        if catalog.is_none() {
            catalog = Some(Catalog::read(inv).await?);
        }
        let cat = catalog.as_ref().expect("read above");
        if let Some(p) = &over.profile {
            let spec = desired
                .profiles
                .get(p)
                .cloned()
                .or_else(|| crate::model::resolve_profile(p, &cat.profiles).ok());
            if let Some(spec) = spec {
                node.profile = Some(spec);
            }
        }
        if let Some(nets) = over.networks.as_ref().filter(|n| !n.is_empty()) {
            for n in nets {
                if let Some(spec) = desired.networks.get(n).or(cat.networks.get(n)).cloned() {
                    desired.networks.insert(n.clone(), spec);
                }
            }
            for p in &mut node.ports {
                p.networks = nets.clone();
            }
            let _ = crate::model::finish_ports(
                &mut node.ports,
                node.profile.as_ref(),
                &desired.networks,
            );
        }
        layered.push(name);
    }
    Ok(layered)
}
