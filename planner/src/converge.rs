//! Converging nodes to what the inventory says they should be: the Terraform provider's path through
//! the same engine `bmplan` uses. The desired state of a set of nodes is built from the inventory
//! (each node's BMC, profile with its template chain, ports with their VLANs, and the switches those
//! ports are on), then observed, diffed, planned and applied as one journaled run.

use std::collections::BTreeMap;

use crate::apply::{self, ApplyOptions, ApplyReport};
use crate::diff::{self, Diff, DiffError};
use crate::inventory::{Inventory, InventoryError, NodeConfig};
use crate::model::{resolve_profile, Desired, NodeSpec, ProfileLayer, SwitchSpec};
use crate::observe::{self, ObserveOptions, Observed};
use crate::plan::{self, Plan};

#[derive(Debug, thiserror::Error)]
pub enum ConvergeError {
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    /// A reference the inventory cannot resolve (a profile, network or switch that does not exist).
    #[error("{0}")]
    Reference(String),
    /// Values the devices cannot take, by node and attribute path.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    Device(Vec<DiffError>),
    #[error(transparent)]
    Apply(#[from] apply::ApplyError),
    /// A device that could not be read, or steps that failed or were skipped.
    #[error("{0}")]
    Incomplete(String),
}

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
) -> Result<Desired, ConvergeError> {
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
                    .map_err(|(_, m)| ConvergeError::Reference(format!("node {name}: {m}")))?,
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
            return Err(ConvergeError::Reference(format!(
                "node {name}: {path}: {m}"
            )));
        }
        for p in &ports {
            if !d.switches.contains_key(&p.switch) {
                let sw = inv.switch(&p.switch).await.map_err(|e| match e {
                    InventoryError::NotFound { .. } => ConvergeError::Reference(format!(
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

/// One planning pass over a desired state built from the inventory.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub observed: Observed,
    pub diff: Diff,
    pub plan: Plan,
}

/// Observes, diffs and plans `desired`. Values a device cannot take are an error, by node and path.
pub async fn prepare(
    inv: &Inventory,
    desired: &Desired,
    opts: ObserveOptions,
) -> Result<Prepared, ConvergeError> {
    let observed = observe::observe(desired, opts).await;
    prepare_observed(inv, desired, observed).await
}

/// [`prepare`] from an observation already made (a provider's fleet snapshot).
pub async fn prepare_observed(
    inv: &Inventory,
    desired: &Desired,
    observed: Observed,
) -> Result<Prepared, ConvergeError> {
    let applied = inv.applied_state().await?;
    let diff = diff::diff(desired, &observed, &applied);
    if !diff.errors.is_empty() {
        return Err(ConvergeError::Device(diff.errors.clone()));
    }
    let plan = plan::plan(desired, &diff);
    Ok(Prepared {
        observed,
        diff,
        plan,
    })
}

/// Applies a plan as one journaled run (resets, leases and retries as `bmplan apply` does them).
/// Unreachable devices and failed steps are errors.
pub async fn apply(
    inv: &Inventory,
    desired: &Desired,
    prepared: &Prepared,
    opts: ApplyOptions,
) -> Result<ApplyReport, ConvergeError> {
    if let Some((dev, why)) = prepared.diff.unreachable.iter().next() {
        return Err(ConvergeError::Incomplete(format!(
            "{dev} could not be read, so nothing was changed: {why}"
        )));
    }
    if prepared.plan.is_empty() {
        return Ok(ApplyReport::default());
    }
    // Unique across the concurrent runs of one process (Terraform creates resources in parallel).
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let run_id = format!(
        "tf-{}-{}-{}",
        crate::inventory::now_ms(),
        std::process::id(),
        SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let desired_fp = crate::run::desired_fingerprint(desired);
    inv.start_run(
        &run_id,
        &desired_fp,
        &serde_json::to_string(&prepared.plan).unwrap_or_default(),
    )
    .await?;
    let report = apply::apply(inv, desired, &prepared.plan, &run_id, opts).await?;
    let status = if report.ok() { "succeeded" } else { "failed" };
    let summary = format!(
        "{} steps succeeded, {} failed, {} skipped",
        report.succeeded.len(),
        report.failed.len(),
        report.skipped.len()
    );
    inv.finish_run(&run_id, status, &summary).await?;
    if let Some((step, e)) = report.failed.first() {
        return Err(ConvergeError::Incomplete(format!(
            "step {step} failed: {e} ({summary})"
        )));
    }
    if let Some((step, why)) = report.skipped.first() {
        return Err(ConvergeError::Incomplete(format!(
            "step {step} was skipped: {why} ({summary})"
        )));
    }
    Ok(report)
}

/// The number of resets a plan makes, by node.
pub fn resets_by_node(plan: &Plan) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for s in plan.steps.iter().filter(|s| s.action.disruptive()) {
        if let Some(n) = &s.node {
            *out.entry(n.clone()).or_insert(0) += 1;
        }
    }
    out
}

/// Brings `nodes` to what the inventory says (profile, ports) through observe → diff → plan →
/// apply, as one journaled run: what the provider's resources and the host lifecycle both use.
pub async fn converge_nodes(
    inv: &Inventory,
    nodes: &[String],
    opts: ApplyOptions,
) -> Result<ApplyReport, ConvergeError> {
    if nodes.is_empty() {
        return Ok(ApplyReport::default());
    }
    let catalog = Catalog::read(inv).await?;
    let desired = desired_for(inv, &catalog, nodes, opts.max_parallel).await?;
    let prepared = prepare(inv, &desired, crate::observe::ObserveOptions::default()).await?;
    tracing::info!(
        nodes = nodes.len(),
        steps = prepared.plan.steps.len(),
        "converging"
    );
    apply(inv, &desired, &prepared, opts).await
}
