//! `baremetal_node`: a server enrolled through its BMC (credentials checked, hardware inspected,
//! password sealed), configured with its profile and its switch ports in one convergence (one reset
//! when the profile needs one). A read reports the node's power and facts, and the VLANs its ports
//! are really on, so a port moved out of band shows in `terraform plan`.

use crate::value::ValueAny;
use async_trait::async_trait;
use planner::bmc::EndpointPart;
use planner::engine::Catalog;
use planner::enroll;
use planner::host::netboot::{normalize_mac, NodeBoot};
use planner::inventory::{
    EnrollResult, InventoryError, NodeConfig, NodeRegistration, Verification,
};
use planner::model::PortWant;
use planner::observe::Seen;
use planner::schema::{ResourceSpec, NODE};
use planner::switch::{PortMode, VlanSet};
use serde_json::{json, Value};

use super::{name_of, object};
use crate::engine::{Engine, Problem};
use crate::resource::{s, Handler, Json, PlanOut};
use crate::value::Obj;

pub struct NodeResource;

fn ports_of(j: &Json) -> Vec<PortWant> {
    j.get("port")
        .and_then(Value::as_array)
        .map(|ps| {
            ps.iter()
                .filter_map(Value::as_object)
                .map(|p| PortWant {
                    switch: s(p, "switch").unwrap_or_default(),
                    port: s(p, "port").unwrap_or_default(),
                    networks: planner::load::texts_of(p, "networks"),
                    vlans: Vec::new(),
                    mac: s(p, "mac"),
                    pxe: p.get("pxe") == Some(&Value::Bool(true)),
                    bond: s(p, "bond"),
                    bond_mode: None,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Where a BMC's refusal belongs: the password, the TLS settings, or the address.
fn bmc_problem(part: EndpointPart, msg: &str, attrs: &Json) -> Problem {
    let at = match part {
        EndpointPart::Credentials => "password",
        EndpointPart::Trust if attrs.contains_key("fingerprint") => "fingerprint",
        EndpointPart::Trust => "ca_cert",
        EndpointPart::System => "system_id",
        EndpointPart::Address => "bmc_url",
    };
    Problem::at(at, "BMC verification failed", msg.to_string())
}

/// Enrolls (or re-enrolls) the node: credentials and TLS checked, hardware inspected.
async fn enroll(e: &Engine, planned: &Json) -> Result<(), Problem> {
    let name = name_of(planned)?;
    let mut reg = NodeRegistration {
        name: name.clone(),
        bmc_url: s(planned, "bmc_url")
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_string(),
        system_id: s(planned, "system_id").unwrap_or_default(),
        username: s(planned, "username").unwrap_or_default(),
        password: planner::bmc::Secret::new(
            planner::schema::secret_text(planned, "password")
                .unwrap_or_default()
                .to_string(),
        ),
        tls: e.node_tls(planned)?,
    };
    let v = enroll::verify(&mut reg, e.limits()).await;
    match &v {
        Verification::VerifyFailed { part, message } => {
            return Err(bmc_problem(*part, message, planned))
        }
        Verification::InspectFailed(m) => {
            return Err(Problem::at("bmc_url", "BMC inspection failed", m.clone()))
        }
        Verification::Inspected(_) => {}
    }
    let outcome = e.inv.enroll(&reg, &v).await?;
    if outcome.result == EnrollResult::Duplicate {
        return Err(Problem::at(
            "bmc_url",
            "Already enrolled",
            outcome
                .detail
                .unwrap_or_else(|| "this system is already enrolled under another name".into()),
        ));
    }
    Ok(())
}

/// Records the node's settings and configuration, then converges it.
async fn configure(e: &Engine, planned: &Json, op: &str) -> Result<(), Problem> {
    let name = name_of(planned)?;
    let rec = e.inv.node(&name).await?;
    let rack = s(planned, "rack");
    if rack.is_some() && rack != rec.rack {
        e.inv
            .set_node_attributes(&name, None, rack, None, None)
            .await?;
    }
    if let Some(m) = planned.get("maintenance").and_then(Value::as_bool) {
        if m != rec.maintenance {
            let reason = m.then_some("set by Terraform");
            e.inv.set_maintenance(&name, m, reason).await?;
        }
    }
    let boot = node_boot(&name, planned).map_err(|mut ps| ps.remove(0))?;
    let config = NodeConfig {
        boot,
        profile: s(planned, "profile"),
        ports: ports_of(planned),
        ca_cert_path: s(planned, "ca_cert"),
        // Where a host's lifecycle has put the ports is the lifecycle's to change.
        host_override: e
            .inv
            .node_config(&name)
            .await
            .ok()
            .and_then(|c| c.host_override),
    };
    if let Some(p) = &config.profile {
        if let Err(InventoryError::NotFound { .. }) = e.inv.profile_layer(p).await {
            return Err(Problem::at(
                "profile",
                "Unknown profile",
                format!("no profile named {p:?}"),
            ));
        }
    }
    let networks = e.inv.networks().await?;
    for (i, p) in config.ports.iter().enumerate() {
        for n in &p.networks {
            if !networks.iter().any(|x| &x.name == n) {
                return Err(Problem::at(
                    format!("port.{i}.networks"),
                    "Unknown network",
                    format!("no network named {n:?}"),
                ));
            }
        }
        if let Err(InventoryError::NotFound { .. }) = e.inv.switch(&p.switch).await {
            return Err(Problem::at(
                format!("port.{i}.switch"),
                "Unknown switch",
                format!("no switch named {:?}", p.switch),
            ));
        }
    }
    e.inv.set_node_config(&name, &config).await?;
    e.converge(
        std::slice::from_ref(&name),
        e.timeout(planned, op)?,
        &|_| "profile".to_string(),
    )
    .await?;
    Ok(())
}

/// The VLANs a switch port is on, as network names (a VLAN no network names shows as `vlan-N`).
fn live_networks(port: &planner::switch::Port, catalog: &Catalog) -> Vec<String> {
    let name = |v: u16| {
        catalog
            .networks
            .values()
            .find(|n| n.vlan == v)
            .map(|n| n.name.clone())
            .unwrap_or_else(|| format!("vlan-{v}"))
    };
    match port.mode {
        PortMode::Access => vec![name(port.access_vlan)],
        PortMode::Trunk => {
            let mut out = vec![name(port.native_vlan)];
            if let VlanSet::Only(set) = &port.trunk_allowed {
                out.extend(
                    set.iter()
                        .filter(|v| **v != port.native_vlan)
                        .map(|v| name(*v)),
                );
            }
            out
        }
    }
}

async fn read(e: &Engine, name: &str, prior: &Json, live: bool) -> Result<Option<Json>, Problem> {
    // A refresh is served from the fleet snapshot (one observation and a few queries for the whole
    // fleet); right after a write, or for a node the snapshot lacks, from the inventory.
    let snap = if live {
        Some(e.snapshot().await?)
    } else {
        None
    };
    let cached = snap.as_ref().and_then(|sn| {
        let rec = sn.records.get(name)?;
        let spec = sn.desired.nodes.get(name)?;
        Some((
            rec.clone(),
            (spec.bmc_url.clone(), spec.username.clone()),
            spec.system_id.clone()?,
            sn.catalog.configs.get(name).cloned().unwrap_or_default(),
            sn.facts.get(name).cloned(),
        ))
    });
    let (rec, (url, username), system_id, config, facts) = match cached {
        Some(c) => c,
        None => {
            let rec = match e.inv.node(name).await {
                Ok(r) => r,
                Err(InventoryError::NotFound { .. }) => return Ok(None),
                Err(other) => return Err(other.into()),
            };
            let (ep, system_id) = e.inv.node_endpoint(name).await?;
            (
                rec,
                (ep.url, ep.username),
                system_id,
                e.inv.node_config(name).await?,
                e.inv.node_facts(name).await?,
            )
        }
    };
    let mut power = rec.power.clone();
    let mut ports: Vec<Value> = config
        .ports
        .iter()
        .map(|p| {
            json!({"switch": p.switch, "port": p.port, "networks": p.networks, "mac": p.mac,
                   "pxe": if p.pxe { Value::Bool(true) } else { Value::Null }, "bond": p.bond})
        })
        .collect();
    if let Some(snap) = &snap {
        if let Some(prep) = &snap.prepared {
            if let Some(Seen::Live(l)) = prep.observed.nodes.get(name) {
                power = Some(l.power.as_str().to_string());
            }
            for (i, p) in config.ports.iter().enumerate() {
                let drifted =
                    prep.diff.switches.get(&p.switch).is_some_and(|sd| {
                        sd.ports.iter().any(|d| d.node == name && d.port == p.port)
                    });
                if !drifted {
                    continue;
                }
                if let Some(Seen::Live(state)) = prep.observed.switches.get(&p.switch) {
                    let driver = snap
                        .desired
                        .switches
                        .get(&p.switch)
                        .map(|s| s.driver.clone())
                        .unwrap_or_default();
                    let canonical = planner::switch::canonical_for(&driver)(&p.port);
                    if let Some(live_port) = state.ports.get(&canonical) {
                        ports[i]["networks"] = json!(live_networks(live_port, &snap.catalog));
                    }
                }
            }
        }
    }
    let keep = |k: &str| prior.get(k).cloned().unwrap_or(Value::Null);
    let opt = |v: Option<String>| v.map(Value::String).unwrap_or(Value::Null);
    let (disks, macs, firmware) = match &facts {
        Some(f) => (
            json!(f
                .drives
                .iter()
                .map(|d| format!(
                    "{}: {} GiB {}",
                    d.id,
                    d.capacity_bytes.unwrap_or(0) >> 30,
                    d.media.clone().unwrap_or_default()
                ))
                .collect::<Vec<_>>()),
            json!(f.macs()),
            Value::Object(
                f.firmware
                    .iter()
                    .filter_map(|x| Some((x.id.clone(), Value::String(x.version.clone()?))))
                    .collect(),
            ),
        ),
        None => (Value::Null, Value::Null, Value::Null),
    };
    let ca_cert = prior
        .get("ca_cert")
        .cloned()
        .or_else(|| config.ca_cert_path.clone().map(Value::String))
        .unwrap_or(Value::Null);
    Ok(Some(object(vec![
        ("id", Value::String(name.to_string())),
        ("name", Value::String(name.to_string())),
        ("bmc_url", Value::String(url)),
        ("system_id", Value::String(system_id)),
        ("username", Value::String(username)),
        ("ca_cert", ca_cert),
        ("fingerprint", keep("fingerprint")),
        ("insecure", keep("insecure")),
        ("profile", opt(config.profile.clone())),
        ("rack", opt(rec.rack.clone())),
        ("maintenance", Value::Bool(rec.maintenance)),
        (
            "boot_interface",
            opt(config.boot.interface.map(|b| b.as_str().to_string())),
        ),
        // The MAC as configured when it is the one kept (the inventory keeps it lowercase).
        (
            "pxe_mac",
            match (
                &config.boot.pxe_mac,
                prior.get("pxe_mac").and_then(Value::as_str),
            ) {
                (Some(kept), Some(p)) if normalize_mac(p).as_ref() == Ok(kept) => json!(p),
                (kept, _) => opt(kept.clone()),
            },
        ),
        (
            "provision_state",
            Value::String(rec.state.as_str().to_string()),
        ),
        ("power", opt(power)),
        ("health", opt(rec.health.clone())),
        ("manufacturer", opt(rec.manufacturer.clone())),
        ("model", opt(rec.model.clone())),
        ("serial", opt(rec.serial.clone())),
        ("arch", opt(rec.arch.clone())),
        ("cpus", Value::from(rec.cpus)),
        ("memory_gib", Value::from(rec.memory_gib)),
        ("disk_gib", Value::from(rec.disk_gib)),
        ("disks", disks),
        ("macs", macs),
        ("firmware", firmware),
        ("traits", json!(rec.traits)),
        ("gpus", Value::from(rec.specs().gpus(None))),
        ("timeouts", keep("timeouts")),
        ("port", Value::Array(ports)),
    ])))
}

/// The node's `boot_interface` and `pxe_mac`, checked against its BMC (IPMI has no virtual
/// media); each problem at its attribute.
fn node_boot(name: &str, config: &Json) -> Result<NodeBoot, Vec<Problem>> {
    NodeBoot::from_attrs(
        name,
        &s(config, "bmc_url").unwrap_or_default(),
        s(config, "boot_interface").as_deref(),
        s(config, "pxe_mac").as_deref(),
    )
    .map_err(|es| {
        es.into_iter()
            .map(|(attr, m)| Problem::at(attr, "Invalid boot setting", m))
            .collect()
    })
}

fn bmc_changed(prior: &Json, planned: &Json) -> bool {
    [
        "bmc_url",
        "system_id",
        "username",
        "password",
        "password_wo_version",
        "ca_cert",
        "fingerprint",
        "insecure",
    ]
    .iter()
    .any(|k| prior.get(*k) != planned.get(*k))
}

#[async_trait]
impl Handler for NodeResource {
    fn spec(&self) -> &'static ResourceSpec {
        &NODE
    }

    fn validate(&self, config: &Json) -> Vec<Problem> {
        // URL, TLS and credential rules are `planner::rules`, applied to every resource.
        let mut out = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        for (i, p) in ports_of(config).iter().enumerate() {
            if !seen.insert((p.switch.clone(), p.port.clone())) {
                out.push(Problem::at(
                    format!("port.{i}"),
                    "Duplicate port",
                    format!("{} {} is listed twice", p.switch, p.port),
                ));
            }
        }
        if let Err(ps) = node_boot(&s(config, "name").unwrap_or_default(), config) {
            out.extend(ps);
        }
        out
    }

    async fn plan(
        &self,
        e: &Engine,
        prior: Option<&Json>,
        _config: &Obj,
        planned: &mut Obj,
    ) -> Result<PlanOut, Vec<Problem>> {
        protocol_limits(e, planned).await?;
        // A new profile may reset the node: its power is known after apply. Ports need no reset.
        if let Some(prior) = prior {
            let changed = ["profile", "maintenance"].iter().any(|k| {
                prior.get(*k).cloned().unwrap_or(Value::Null)
                    != planned
                        .get(*k)
                        .map(crate::value::to_json)
                        .unwrap_or(Value::Null)
            });
            if changed {
                planned.insert("power".into(), ValueAny::Unknown);
            }
        }
        Ok(PlanOut::default())
    }

    async fn read(&self, e: &Engine, state: &Json) -> Result<Option<Json>, Problem> {
        read(e, &name_of(state)?, state, true).await
    }

    // From the inventory alone: a plan does not observe the fleet to know a name is taken.
    async fn exists(&self, e: &Engine, name: &str) -> Result<bool, Problem> {
        match e.inv.node(name).await {
            Ok(_) => Ok(true),
            Err(InventoryError::NotFound { .. }) => Ok(false),
            Err(other) => Err(other.into()),
        }
    }

    async fn create(&self, e: &Engine, planned: &Json) -> Result<Json, Problem> {
        enroll(e, planned).await?;
        configure(e, planned, "create").await?;
        let name = name_of(planned)?;
        read(e, &name, planned, false)
            .await?
            .ok_or_else(|| Problem::root("Node vanished", format!("node {name} was not enrolled")))
    }

    async fn update(&self, e: &Engine, prior: &Json, planned: &Json) -> Result<Json, Problem> {
        if bmc_changed(prior, planned) {
            enroll(e, planned).await?;
        }
        configure(e, planned, "update").await?;
        let name = name_of(planned)?;
        read(e, &name, planned, false)
            .await?
            .ok_or_else(|| Problem::root("Node vanished", format!("node {name} is gone")))
    }

    async fn delete(&self, e: &Engine, prior: &Json) -> Result<(), Problem> {
        match e.inv.remove_node(&name_of(prior)?).await {
            Ok(()) | Err(InventoryError::NotFound { .. }) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }
}

/// A profile the node's BMC protocol cannot carry out (BIOS, RAID, firmware or secure boot on an
/// IPMI node) fails the plan at `profile`, naming the node and the protocol. Checked when the
/// profile is already in the inventory; one created in the same apply is checked by the engine
/// before the node's first change is sent.
async fn protocol_limits(e: &Engine, planned: &Obj) -> Result<(), Vec<Problem>> {
    let planned = crate::value::obj_to_json(planned);
    let (Some(url), Some(profile)) = (s(&planned, "bmc_url"), s(&planned, "profile")) else {
        return Ok(());
    };
    if planner::hardware::Protocol::of(&url) != planner::hardware::Protocol::Ipmi {
        return Ok(());
    }
    let name = s(&planned, "name").unwrap_or_default();
    let layers = e.inv.profile_layers().await.map_err(|e| vec![e.into()])?;
    let Ok(spec) = planner::model::resolve_profile(&profile, &layers) else {
        return Ok(());
    };
    let refused = planner::diff::node_protocol_limits(&name, &url, &spec);
    if refused.is_empty() {
        return Ok(());
    }
    Err(refused
        .into_iter()
        .map(|r| {
            Problem::at(
                "profile",
                "Not supported by the node's BMC protocol",
                r.message,
            )
        })
        .collect())
}
