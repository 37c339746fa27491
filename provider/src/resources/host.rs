//! `baremetal_host`: a node allocated to the provider's project, picked by flavor (best fit) or
//! pinned, given a profile, and, with `image_url`, an operating system deployed through virtual
//! media by the planner's host lifecycle ([`planner::host`]). An image change (or the `rebuild`
//! trigger) redeploys in place on the same node; destroying a deployed host cleans its node and
//! gives it back to the pool. `adopt` takes over a server that already runs.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::value::ValueAny;
use async_trait::async_trait;
use planner::bmc::{PowerAction, PowerState};
use planner::deploy::{self, Deployment, HostChange};
use planner::host::{sealed_owner, Checksum, DeployRequest, Failover, HostError, Lifecycle, Wait};
use planner::inventory::{HostRecord, InventoryError, NewHost};
use planner::lifecycle::{Event, ProvisionState};
use planner::schema::{ResourceSpec, HOST};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::{deployment_plan, name_of, object};
use crate::engine::{Engine, Problem};
use crate::resource::{s, Handler, Json, PlanOut};
use crate::value::Obj;
use planner::deploy::template::Rendered;
use planner::load::texts_of;
use planner::model::HostSpec;

pub struct HostResource;

/// The deployment inputs a value known only at apply leaves undecided at plan (the user data too).
const TRIGGERS: [&str; 8] = [
    "image_url",
    "image",
    "deployment_plan",
    "plan_variables",
    "image_checksum",
    "ssh_keys",
    "wait",
    "rebuild",
];

/// What an update asks of a deployed host, decided as bmplan decides it
/// ([`deploy::deployed_change`]), with one rule of Terraform's own: the state keeps `image_url`
/// as written (bmplan's configurations cannot carry credentials in it), so new credentials in it
/// are a change, and the host is deployed again from the URL that now works.
///
/// `deployed_hostname`: the hostname the inventory's record says the config drive gave (the
/// state does not keep it).
fn change_of(
    spec: &HostSpec,
    prior: &Json,
    on: Option<&str>,
    deployed_hostname: Option<String>,
) -> Option<HostChange> {
    let mut dep = Deployment::from_attrs(prior);
    dep.hostname = deployed_hostname;
    if spec.image.is_some() && dep.image_format.is_none() {
        // The state keeps the host's own format only; the image's is the image's.
        dep.image_format = spec.image_format.clone();
    }
    let change = deploy::deployed_change(spec, &dep, on);
    // A golden image is its checksum: its URL is not the host's to compare.
    let url_differs = spec.image.is_none()
        && spec.image_url.is_some()
        && prior.get("image_url").and_then(Value::as_str) != spec.image_url.as_deref();
    match change {
        Some(HostChange::Rebuild { mut changed }) => {
            if url_differs && !changed.contains(&"image_url") {
                changed.insert(0, "image_url");
            }
            Some(HostChange::Rebuild { changed })
        }
        Some(HostChange::Migrate { .. }) => change,
        _ if url_differs => Some(HostChange::Rebuild {
            changed: vec!["image_url"],
        }),
        other => other,
    }
}

/// What a move to another node leaves unknown until it is done.
const MOVED: [&str; 4] = ["health", "generation", "node_state", "state"];

fn project(e: &Engine) -> Result<String, Problem> {
    e.project.clone().ok_or_else(|| {
        Problem::root(
            "No project",
            "hosts belong to a project: set the provider's project or BAREMETAL_PROJECT",
        )
    })
}

/// The host's attributes with the golden image it names resolved into `image_url`,
/// `image_checksum` and `image_format` (as bmplan resolves it); `Ok(None)` when the image is not
/// in the inventory yet (it is made in the same apply). Without `image`, the attributes as they
/// are.
///
/// At plan (`planning`), a host whose `image` pins a checksum (`NAME@CHECKSUM`, the image's
/// `ref`) deploys that checksum: the image's change is applied first, in the same apply. At apply
/// the image must be at it.
async fn with_image(e: &Engine, j: &Json, planning: bool) -> Result<Option<Json>, Problem> {
    let Some(written) = s(j, "image") else {
        return Ok(Some(j.clone()));
    };
    let (name, pinned) = planner::golden::parse_ref(&written)
        .map_err(|m| Problem::at("image", "Invalid image", m))?;
    let img = match e.inv.image(&name).await {
        Ok(i) => i,
        Err(planner::inventory::InventoryError::NotFound { .. }) => return Ok(None),
        Err(other) => return Err(other.into()),
    };
    let url = e.inv.image_source(&img)?;
    // The state's computed checksum (and no URL) are the image's: they are replaced.
    let mut own = j.clone();
    own.remove("image_url");
    own.remove("image_checksum");
    if planning {
        own.insert("image".into(), Value::String(name));
    }
    let mut out = planner::golden::host_attrs_with_image(&own, &img, &url)
        .map_err(|(at, m)| Problem::at(at, "Invalid image", m))?;
    if let (true, Some(p)) = (planning, pinned) {
        out.insert("image_checksum".into(), Value::String(p.to_string()));
    }
    Ok(Some(out))
}

/// [`with_image`] where the image must exist (create and update).
async fn resolved(e: &Engine, j: &Json) -> Result<Json, Problem> {
    let out = with_image(e, j, false).await?.ok_or_else(|| {
        Problem::at(
            "image",
            "Unknown image",
            format!(
                "no image named {:?} in the inventory: declare it as a baremetal_image and reference it (image = baremetal_image.NAME.ref), so it is registered first",
                s(j, "image").unwrap_or_default()
            ),
        )
    })?;
    let out = with_plan(e, &out, false)
        .await?
        .map(|(o, _)| o)
        .unwrap_or(out);
    // What the plan showed is what is applied: an image or deployment plan named by its bare
    // name that changed since the plan is refused, never deployed unseen.
    if let (Some(_), Some(planned), Some(now)) = (
        s(j, "image"),
        s(j, "image_checksum"),
        s(&out, "image_checksum"),
    ) {
        if planned != now {
            return Err(Problem::at(
                "image",
                "Image changed since the plan",
                format!("the plan deployed checksum {planned}, and the image is at {now} now: run terraform plan again (or reference the image's ref)"),
            ));
        }
    }
    if let (Some(_), Some(planned), Some(text)) = (
        s(j, "deployment_plan"),
        s(j, "user_data_sha256"),
        s(&out, "user_data"),
    ) {
        let now = hex::encode(Sha256::digest(text.as_bytes()));
        if planned != now {
            return Err(Problem::at(
                "deployment_plan",
                "Deployment plan changed since the plan",
                "the deployment plan renders other user data than the plan showed: run terraform plan again (or reference the plan's ref)".to_string(),
            ));
        }
    }
    Ok(out)
}

/// The host's values a deployment plan's template may use.
async fn template_values(e: &Engine, j: &Json) -> BTreeMap<String, String> {
    let mut v = BTreeMap::new();
    let mut put = |k: &str, x: String| {
        v.insert(k.to_string(), x);
    };
    put("host.name", s(j, "name").unwrap_or_default());
    put(
        "host.project",
        s(j, "project")
            .or_else(|| e.project.clone())
            .unwrap_or_default(),
    );
    put("host.profile", s(j, "profile").unwrap_or_default());
    put("host.networks", texts_of(j, "networks").join(","));
    put(
        "host.ssh_keys",
        serde_json::to_string(&texts_of(j, "ssh_keys")).unwrap_or_default(),
    );
    if let Some(i) = s(j, "image") {
        let name = i.split('@').next().unwrap_or_default().to_string();
        let os = e
            .inv
            .image(&name)
            .await
            .ok()
            .and_then(|img| img.os_family)
            .unwrap_or_default();
        put("image.name", name);
        put("image.os_family", os);
    }
    v
}

/// The host's attributes with its deployment plan rendered into `user_data`, and what rendered
/// (for the plan's diff). `Ok(None)`: the plan is not known yet (made or changed later in this
/// run, and not planned with its ref). Without `deployment_plan`, `j` as it is.
async fn with_plan(
    e: &Engine,
    j: &Json,
    planning: bool,
) -> Result<Option<(Json, Option<Rendered>)>, Problem> {
    let Some(written) = s(j, "deployment_plan") else {
        return Ok(Some((j.clone(), None)));
    };
    let Some(plan) = deployment_plan::for_host(e, &written, planning).await? else {
        return Ok(None);
    };
    let overrides: BTreeMap<String, String> = j
        .get("plan_variables")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|x| (k.clone(), x.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let values = template_values(e, j).await;
    let r = plan
        .render_for(&values, &overrides)
        .map_err(|(at, m)| Problem::at(at, "Deployment plan", m))?;
    let mut out = j.clone();
    out.insert("user_data".into(), Value::String(r.user_data.clone()));
    out.insert("hostname".into(), Value::String(r.hostname.clone()));
    Ok(Some((out, Some(r))))
}

/// The user data host `name` was last deployed with (opened from the inventory), and the secret
/// values of the deployment plan as the inventory holds it now, to mask in a diff.
async fn deployed_user_data(
    e: &Engine,
    project: &str,
    name: &str,
    plan: &str,
) -> (String, Vec<String>) {
    let text = match e.inv.host(project, name).await {
        // Write-only user data is never opened into a plan.
        Ok(h) => match Deployment::of(&h) {
            Some(d) if d.user_data_write_only => {
                "(the deployed user data was write-only: not shown)\n".to_string()
            }
            Some(d) => d
                .user_data_sealed
                .and_then(|sealed| e.inv.open_text(&sealed_owner(&h), &sealed).ok())
                .unwrap_or_default(),
            None => String::new(),
        },
        Err(_) => String::new(),
    };
    let (plan_name, _) = planner::deploy::template::parse_ref(plan);
    let secrets = e
        .inv
        .deployment_plan(&plan_name)
        .await
        .map(|p| p.sensitive.into_values().collect())
        .unwrap_or_default();
    (text, secrets)
}

/// The `failover` block, as the lifecycle keeps it.
fn failover_of(j: &Json) -> Result<Option<Failover>, Problem> {
    let Some(b) = j
        .get("failover")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_object)
    else {
        return Ok(None);
    };
    let after = match s(b, "unreachable_after") {
        Some(t) => planner::schema::parse_duration(&t)
            .map_err(|m| Problem::at("failover.0.unreachable_after", "Invalid duration", m))?,
        None => Duration::from_secs(300),
    };
    Ok(Some(Failover {
        standby_nodes: texts_of(b, "standby_nodes"),
        standby_flavor: s(b, "standby_flavor"),
        unreachable_after_s: after.as_secs(),
    }))
}

/// Keeps the policy with the host (the deployment record), so reads can check the node.
async fn record_failover(
    e: &Engine,
    h: &HostRecord,
    planned: &Json,
) -> Result<HostRecord, Problem> {
    let policy = failover_of(planned)?;
    let mut dep = Deployment::of(h).unwrap_or_default();
    if dep.failover == policy && (h.deployment.is_some() || policy.is_none()) {
        return Ok(h.clone());
    }
    dep.failover = policy;
    let v = serde_json::to_value(&dep).unwrap_or_default();
    Ok(e.inv
        .set_host_state(&h.project, &h.name, &h.state, Some(&v), None)
        .await?)
}

/// The host lifecycle over the engine's inventory and deployment endpoint (started on first use).
async fn life(e: &Engine) -> Result<Lifecycle<'_>, Problem> {
    Ok(Lifecycle {
        inv: &e.inv,
        media: e.media().await?,
        max_parallel: e.max_parallel,
        poll: Duration::from_millis(250),
        progress: Arc::new(|node: &str, msg: &str| tracing::info!(node, "host lifecycle: {msg}")),
    })
}

fn host_problem(e: HostError) -> Problem {
    match e {
        HostError::Image(m) => Problem::at("image_checksum", "Image check failed", m),
        HostError::Invalid(m) => Problem::root("Invalid host", m),
        HostError::Failed { .. } => Problem::root("Host lifecycle failed", e.to_string()),
        HostError::Inventory(i) | HostError::Engine(planner::engine::EngineError::Inventory(i)) => {
            i.into()
        }
        HostError::Engine(other) => Problem::root("Host lifecycle failed", other.to_string()),
    }
}

/// The state: what the inventory and the node say, with the configuration's own spelling kept
/// where the deployment cannot tell (an unset list or default strategy stays unset).
async fn state_of(e: &Engine, h: &HostRecord, prior: &Json) -> Json {
    let opt = |v: Option<String>| v.map(Value::String).unwrap_or(Value::Null);
    let dep = Deployment::of(h);
    let node_state = h.node_state.map(|s| s.as_str().to_string());
    let list = |k: &str, v: &[String]| {
        if v.is_empty() && prior.get(k).is_none_or(Value::is_null) {
            Value::Null
        } else {
            json!(v)
        }
    };
    let mut pairs = vec![
        ("id", Value::String(h.name.clone())),
        ("name", Value::String(h.name.clone())),
        ("flavor", opt(h.flavor.clone())),
        ("node", opt(h.node.clone())),
        ("project", Value::String(h.project.clone())),
        ("state", Value::String(h.state.clone())),
        ("node_state", opt(node_state)),
        ("power", prior.get("power").cloned().unwrap_or(Value::Null)),
        (
            "rebuild",
            prior.get("rebuild").cloned().unwrap_or(Value::Null),
        ),
        (
            "reboot",
            prior.get("reboot").cloned().unwrap_or(Value::Null),
        ),
        ("adopt", prior.get("adopt").cloned().unwrap_or(Value::Null)),
        (
            "timeouts",
            prior.get("timeouts").cloned().unwrap_or(Value::Null),
        ),
        (
            "failover",
            prior.get("failover").cloned().unwrap_or(Value::Null),
        ),
        (
            "health",
            prior.get("health").cloned().unwrap_or(Value::Null),
        ),
    ];
    match &dep {
        Some(d) if !d.adopted => {
            // The state holds only user data the configuration gave as `user_data`: user data
            // deployed write-only is never opened (the state keeps what it has, which is null
            // unless the configuration moved to `user_data` with the same text), nor is it once
            // the configuration moved to `user_data_wo` (the state's is then null). An import
            // (no generation yet) or a refresh of `user_data` reads it back.
            let imported = prior.get("generation").is_none();
            let keep = prior.get("user_data").cloned().unwrap_or(Value::Null);
            let user_data = match &d.user_data_sealed {
                Some(_) if d.user_data_write_only => Some(keep),
                Some(_) if !imported && keep.is_null() => Some(Value::Null),
                Some(sealed) => e
                    .inv
                    .open_text(&sealed_owner(h), sealed)
                    .ok()
                    .map(Value::String),
                None => None,
            };
            // As written (`NAME` or `NAME@CHECKSUM`) while it names the image deployed.
            let image = match (prior.get("image").and_then(Value::as_str), &d.image) {
                (Some(w), Some(n)) if w.split('@').next() == Some(n.as_str()) => json!(w),
                _ => json!(d.image),
            };
            pairs.push(("image", image));
            pairs.extend([
                (
                    "image_url",
                    // A URL with credentials is sealed in the inventory and never opened into
                    // the state: the state keeps the user's own text while it is still what was
                    // deployed, else the inventory's redacted form (a change made elsewhere shows
                    // as a diff, without its credentials).
                    Value::String(match (&d.image_url_sealed, prior.get("image_url")) {
                        (Some(_), Some(Value::String(p)))
                            if planner::host::image_url_for(d, &e.inv, h).ok().as_deref()
                                == Some(p.as_str()) =>
                        {
                            p.clone()
                        }
                        _ => d.image_url.clone(),
                    }),
                ),
                ("image_checksum", Value::String(d.image_checksum.clone())),
                ("networks", list("networks", &d.networks)),
                ("ssh_keys", list("ssh_keys", &d.ssh_keys)),
                ("wait", json!(d.wait.as_str())),
                (
                    "user_data",
                    user_data
                        .unwrap_or_else(|| prior.get("user_data").cloned().unwrap_or(Value::Null)),
                ),
                ("user_data_sha256", json!(d.user_data_sha256)),
                ("generation", json!(d.generation)),
            ]);
            // What the deployment was asked with that the state keeps as written: the prior's
            // text, or on an import (no generation yet) the deployment's record.
            let written = |k: &str, recorded: Value| match prior.get(k) {
                Some(v) if !v.is_null() => v.clone(),
                _ if imported => recorded,
                _ => Value::Null,
            };
            let hints = &d.root_device;
            pairs.extend([
                // The record does not say whether the format was given or told from the image,
                // so an import leaves it unset.
                ("image_format", written("image_format", Value::Null)),
                (
                    "root_device",
                    written(
                        "root_device",
                        if hints.is_empty() {
                            Value::Null
                        } else {
                            json!([{"name": hints.name, "serial": hints.serial,
                                    "size_gib": hints.size_gib, "rotational": hints.rotational}])
                        },
                    ),
                ),
                (
                    "address",
                    written(
                        "address",
                        if d.addresses.is_empty() {
                            Value::Null
                        } else {
                            Value::Array(
                                d.addresses
                                    .iter()
                                    .map(|p| json!({"network": p.network, "address": p.address.to_string()}))
                                    .collect(),
                            )
                        },
                    ),
                ),
            ]);
        }
        Some(_) => {
            pairs.push(("adopt", Value::Bool(true)));
            pairs.push(("generation", json!(0)));
        }
        None => pairs.push(("generation", json!(0))),
    }
    // The inventory's allocations, by network (null when it holds none).
    if let Ok(held) = e.inv.host_addresses(&h.project, &h.name).await {
        let mut by_net = serde_json::Map::new();
        for a in held {
            let list = by_net
                .entry(a.network.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(l) = list {
                l.push(Value::String(a.address.to_string()));
            }
        }
        if !by_net.is_empty() {
            pairs.push(("addresses", Value::Object(by_net)));
        }
    }
    // Later pairs win (adopt on an adopted import).
    let mut out = Json::new();
    for (k, v) in object(pairs) {
        out.insert(k, v);
    }
    // A golden image's URL is the image's, not the host's: the host's image_url stays unset.
    if dep.as_ref().is_some_and(|d| d.image.is_some()) {
        out.remove("image_url");
    }
    // A deployment plan's rendering is not the host's user data: it stays unset, and the plan
    // and its variables are kept as written.
    if let Some(p) = dep.as_ref().and_then(|d| d.deployment_plan.clone()) {
        out.remove("user_data");
        let written = prior
            .get("deployment_plan")
            .and_then(Value::as_str)
            .filter(|w| w.split('@').next() == Some(p.as_str()))
            .map(str::to_string)
            .unwrap_or(p);
        out.insert("deployment_plan".into(), Value::String(written));
        if let Some(v) = prior.get("plan_variables").filter(|v| !v.is_null()) {
            out.insert("plan_variables".into(), v.clone());
        }
    }
    out
}

/// The host's pinned addresses and its networks' free addresses, checked at plan time as the
/// deployment will allocate them: an error at the `address` block or at `networks`, before
/// anything is touched. A host scheduled by flavor without `networks` is on its node's networks,
/// known only at apply (where the same check refuses it, with nothing deployed).
async fn address_check(
    e: &Engine,
    prior: Option<&Json>,
    planned: &Obj,
) -> Result<(), Vec<Problem>> {
    let known = crate::value::obj_to_json(planned);
    let (pins, _) = planner::subnet::pins_from_attrs(&known);
    let networks: Vec<String> = match known.get("networks").and_then(Value::as_array) {
        Some(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        None => Vec::new(),
    };
    let node = known.get("node").and_then(Value::as_str);
    if pins.is_empty() && networks.is_empty() && node.is_none() {
        return Ok(());
    }
    let catalog = planner::engine::Catalog::read(&e.inv)
        .await
        .map_err(|x| vec![x.into()])?;
    let (ports, on) = match node {
        Some(n) => {
            let (p, on) = catalog.host_ports(n, &networks);
            (Some(p), on)
        }
        None => (None, networks),
    };
    let project = match prior.and_then(|p| p.get("project")).and_then(Value::as_str) {
        Some(p) => p.to_string(),
        None => project(e).map_err(|p| vec![p])?,
    };
    let host = known.get("name").and_then(Value::as_str).unwrap_or("?");
    let problems = catalog
        .address_problems(&e.inv, &project, host, &on, ports.as_deref(), &pins)
        .await
        .map_err(|x| vec![x.into()])?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems
            .into_iter()
            .map(|(path, m)| Problem::at(path, "Address not available", m))
            .collect())
    }
}

/// Gives the host's node the profile (over the node's own), and converges it (one reset if the
/// profile needs one).
async fn apply_profile(
    e: &Engine,
    h: &HostRecord,
    planned: &Json,
    op: &str,
) -> Result<(), Problem> {
    let profile = s(planned, "profile");
    let Some(node) = &h.node else { return Ok(()) };
    let current = e
        .inv
        .node_config(node)
        .await?
        .host_override
        .and_then(|o| o.profile);
    if current == profile {
        return Ok(());
    }
    if let Some(p) = &profile {
        if let Err(InventoryError::NotFound { .. }) = e.inv.profile_layer(p).await {
            return Err(Problem::at(
                "profile",
                "Unknown profile",
                format!("no profile named {p:?}"),
            ));
        }
    }
    life(e)
        .await?
        .set_profile(h, profile, e.timeout(planned, op)?)
        .await
        .map_err(|err| match err {
            HostError::Failed { what, .. } => {
                Problem::at("profile", "Value refused by the BMC", what)
            }
            other => host_problem(other),
        })
}

/// The deployment the planned host asks for, built as `bmplan` builds it (the timeout is read after
/// the attributes, so a bad attribute is reported first).
async fn request(e: &Engine, planned: &Json, op: &str) -> Result<Option<DeployRequest>, Problem> {
    let planned = &resolved(e, planned).await?;
    let spec = HostSpec::from_attrs(&s(planned, "name").unwrap_or_default(), planned);
    let mut req = DeployRequest::for_spec(&spec, Duration::ZERO).map_err(|errs| {
        let first = &errs[0];
        Problem::at(first.attribute, first.title, first.message.clone())
    })?;
    if let Some(r) = req.as_mut() {
        r.timeout = e.timeout(planned, op)?;
    }
    Ok(req)
}

async fn set_power(e: &Engine, h: &HostRecord, planned: &Json, op: &str) -> Result<(), Problem> {
    let action = match s(planned, "power").as_deref() {
        Some("on") => PowerAction::On,
        Some("off") => PowerAction::Off,
        _ => return Ok(()),
    };
    life(e)
        .await?
        .power(h, action, e.timeout(planned, op)?)
        .await
        .map_err(host_problem)
}

#[async_trait]
impl Handler for HostResource {
    fn spec(&self) -> &'static ResourceSpec {
        &HOST
    }

    fn validate(&self, config: &Json) -> Vec<Problem> {
        let mut out = Vec::new();
        if let Some(c) = s(config, "image_checksum") {
            if let Err(m) = Checksum::parse(&c) {
                out.push(Problem::at("image_checksum", "Invalid checksum", m));
            }
        }
        if let Some(w) = s(config, "wait") {
            if let Err(m) = Wait::parse(&w) {
                out.push(Problem::at("wait", "Invalid wait strategy", m));
            }
        }
        let (_, pin_errors) = planner::subnet::pins_from_attrs(config);
        for (path, m) in pin_errors {
            out.push(Problem::at(path, "Invalid address", m));
        }
        if let Some(p) = s(config, "power") {
            if p != "on" && p != "off" {
                out.push(Problem::at(
                    "power",
                    "Invalid power",
                    format!("power {p:?}: use \"on\" or \"off\""),
                ));
            }
        }
        out
    }

    async fn plan(
        &self,
        e: &Engine,
        prior: Option<&Json>,
        config: &Obj,
        planned: &mut Obj,
    ) -> Result<PlanOut, Vec<Problem>> {
        let mut out = PlanOut {
            replace: vec!["flavor", "adopt"],
            ..Default::default()
        };
        let text = |o: &Obj, k: &str| match o.get(k) {
            Some(ValueAny::String(v)) => Some(v.clone()),
            _ => None,
        };
        // Known only now (validation sees variables as unknown), and judged as bmplan's loader
        // judges a block.
        // A block not written comes as an empty list: not set.
        let set = |k: &str| match config.get(k) {
            None | Some(ValueAny::Null) => false,
            Some(ValueAny::List(l)) => !l.is_empty(),
            Some(_) => true,
        };
        let adopt = matches!(config.get("adopt"), Some(ValueAny::Bool(true)));
        let problems: Vec<Problem> = deploy::block_problems(set, adopt, prior.is_none())
            .into_iter()
            .map(|p| Problem::at(p.attribute, p.title, p.message))
            .collect();
        if !problems.is_empty() {
            return Err(problems);
        }
        address_check(e, prior, planned).await?;
        // A golden image: its checksum is the host's (computed), known now when the image is in
        // the inventory, else at apply (it is registered in the same apply).
        let image_unknown = matches!(config.get("image"), Some(ValueAny::Unknown));
        let mut image_pending = false;
        if let Some(written) = text(config, "image") {
            let (name, pinned) = planner::golden::parse_ref(&written)
                .map_err(|m| vec![Problem::at("image", "Invalid image", m)])?;
            match e.inv.image(&name).await {
                Ok(_) | Err(planner::inventory::InventoryError::NotFound { .. })
                    if pinned.is_some() =>
                {
                    let p = pinned.map(|p| p.to_string()).unwrap_or_default();
                    planned.insert("image_checksum".into(), ValueAny::String(p));
                }
                Ok(img) => {
                    planned.insert("image_checksum".into(), ValueAny::String(img.checksum));
                }
                Err(planner::inventory::InventoryError::NotFound { .. }) => {
                    planned.insert("image_checksum".into(), ValueAny::Unknown);
                    image_pending = true;
                }
                Err(other) => return Err(vec![other.into()]),
            }
        } else if image_unknown {
            planned.insert("image_checksum".into(), ValueAny::Unknown);
        } else if !set("image_url") {
            planned.insert("image_checksum".into(), ValueAny::Null);
        }
        if prior.is_none() {
            // The plan's variables for this host are checked now (the template at the plan).
            with_plan(e, &crate::value::obj_to_json(planned), true)
                .await
                .map_err(|p| vec![p])?;
        }
        let Some(prior) = prior else {
            if let Ok(p) = project(e) {
                planned.insert("project".into(), ValueAny::String(p));
            }
            // Flavor satisfiability at plan time.
            if let Some(f) = text(planned, "flavor") {
                let caps = e.inv.flavors().await.map_err(|x| vec![x.into()])?;
                match caps.iter().find(|c| c.flavor.name == f) {
                    Some(c) if c.free == 0 => {
                        return Err(vec![Problem::at(
                            "flavor",
                            "No capacity",
                            format!(
                                "flavor {f}: {} node(s) match it and none is available",
                                c.matching
                            ),
                        )])
                    }
                    None if !caps.is_empty() => {
                        return Err(vec![Problem::at(
                            "flavor",
                            "Unknown flavor",
                            format!("no flavor named {f:?}"),
                        )])
                    }
                    _ => {}
                }
            }
            return Ok(out);
        };
        // An update: what the host needs is decided as bmplan decides it, over the values known
        // now (a deployment input known only at apply is decided then).
        let prior_node = prior
            .get("node")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        let host = prior.get("name").and_then(Value::as_str).unwrap_or("?");
        // The planned values (what the apply gets), the write-only user data from the
        // configuration; values not known yet are left out.
        let mut known = crate::value::obj_to_json(planned);
        if let Some(wo) = config.get("user_data_wo").filter(|v| !v.is_null()) {
            known.insert("user_data_wo".into(), crate::value::to_json(wo));
        }
        let known = match with_image(e, &known, true).await.map_err(|p| vec![p])? {
            Some(k) => k,
            // Not registered yet: the deployment is decided at apply.
            None => {
                let mut k = known;
                k.remove("image_checksum");
                k
            }
        };
        let (known, rendered) = match with_plan(e, &known, true).await.map_err(|p| vec![p])? {
            Some(k) => k,
            None => {
                // The plan is not known yet: its rendering is decided at apply.
                image_pending = true;
                (known, None)
            }
        };
        let spec = HostSpec::from_attrs(host, &known);
        let deployed_hostname = match prior.get("project").and_then(Value::as_str) {
            Some(p) => e
                .inv
                .host(p, host)
                .await
                .ok()
                .and_then(|h| Deployment::of(&h))
                .and_then(|d| d.hostname),
            None => None,
        };
        let change = change_of(&spec, prior, Some(&prior_node), deployed_hostname);
        // A failed node with a failover policy: the host moves to a standby node.
        let health = prior.get("health").and_then(Value::as_str).unwrap_or("");
        if !set("node") && (health == "Critical" || health == "unreachable") {
            if let Ok(Some(policy)) = failover_of(&crate::value::obj_to_json(config)) {
                let owner = match prior.get("project").and_then(Value::as_str) {
                    Some(p) => p.to_string(),
                    None => project(e).map_err(|p| vec![p])?,
                };
                match planner::host::pick_standby(&e.inv, &policy, &owner, &prior_node).await {
                    Ok(Some(to)) => {
                        planned.insert("node".into(), ValueAny::String(to.clone()));
                        for k in MOVED {
                            planned.insert(k.into(), ValueAny::Unknown);
                        }
                        out.warnings.push(Problem::root("Migration", format!(
                            "host {host}: node {prior_node} failed (health {health}); the host moves to standby node {to}, \
                             {prior_node} goes into maintenance",
                        )).warning());
                    }
                    Ok(None) => out.warnings.push(Problem::root("No standby", format!(
                        "node {prior_node} failed (health {health}) and no standby node is free: the host stays"
                    )).warning()),
                    Err(err) => return Err(vec![host_problem(err)]),
                }
            }
        }
        if let Some(HostChange::Migrate { to }) = &change {
            // Deployed again on the new node, with the user data asked for now.
            for k in MOVED.iter().chain(&["user_data_sha256"]) {
                planned.insert(k.to_string(), ValueAny::Unknown);
            }
            out.warnings.push(
                Problem::root(
                    "Migration",
                    format!(
                        "the host moves from node {prior_node} to {to}; {prior_node} goes into maintenance"
                    ),
                )
                .warning(),
            );
            return Ok(out);
        }
        // A deployment change is a rebuild in place, shown as such. What is not known yet is not
        // a change yet: the digest (and the generation, unless a known input changes) stays
        // unknown, so the plan does not contradict the apply.
        let unknown = |k: &str| matches!(config.get(k), Some(ValueAny::Unknown));
        let user_data_unknown = unknown("user_data") || unknown("user_data_wo");
        let undecided = user_data_unknown || image_pending || TRIGGERS.iter().any(|k| unknown(k));
        let mut changed = match change {
            Some(HostChange::Rebuild { changed }) => changed,
            _ => Vec::new(),
        };
        changed.retain(|k| !(unknown(k) || (*k == "user_data" && user_data_unknown)));
        if !unknown("rebuild")
            && prior.get("rebuild").cloned().unwrap_or(Value::Null)
                != config
                    .get("rebuild")
                    .map(crate::value::to_json)
                    .unwrap_or(Value::Null)
        {
            changed.push("rebuild");
        }
        // The rendered user data's diff, secrets masked (the plan's now and as deployed).
        if let (Some(r), true) = (&rendered, changed.contains(&"user_data")) {
            let plan = s(&known, "deployment_plan").unwrap_or_default();
            let project = prior.get("project").and_then(Value::as_str).unwrap_or("");
            let (old, mut secrets) = deployed_user_data(e, project, host, &plan).await;
            secrets.extend(r.secrets.iter().cloned());
            out.warnings.push(
                Problem::root(
                    "Rendered user data",
                    format!(
                        "host {host}: deployment plan {} renders new user data:\n{}",
                        plan.split('@').next().unwrap_or_default(),
                        planner::deploy::template::rendered_diff(&old, &r.user_data, &secrets)
                    ),
                )
                .warning(),
            );
        }
        let redeploy = spec.image_url.is_some() && !changed.is_empty();
        if redeploy {
            // Allocated again at the deployment (kept, unless the pins or networks moved).
            planned.insert("addresses".into(), ValueAny::Unknown);
        }
        let deployed = ["image_url", "image"]
            .iter()
            .any(|k| prior.get(*k).is_some_and(|v| !v.is_null()));
        if changed.contains(&"user_data") || user_data_unknown || (undecided && deployed) {
            // The new user data's digest is known once it is deployed.
            planned.insert("user_data_sha256".into(), ValueAny::Unknown);
        }
        if !redeploy && undecided && deployed {
            planned.insert("generation".into(), ValueAny::Unknown);
            out.warnings.push(
                Problem::root(
                    "Deployment known at apply",
                    format!(
                        "host {host}: its deployment depends on values known only at apply; it is redeployed then if they differ from what it runs"
                    ),
                )
                .warning(),
            );
        }
        if redeploy {
            let gen = prior.get("generation").and_then(Value::as_i64).unwrap_or(0);
            planned.insert("generation".into(), ValueAny::Number(gen + 1));
            out.warnings.push(
                Problem::root(
                    if deployed { "Rebuild" } else { "Deployment" },
                    format!(
                        "host {host}: the image is {} on node {prior_node} ({} changed; its disks are rewritten; one installer boot)",
                        if deployed { "redeployed in place" } else { "deployed" },
                        changed.join(", ")
                    ),
                )
                .warning(),
            );
        }
        Ok(out)
    }

    async fn read(&self, e: &Engine, state: &Json) -> Result<Option<Json>, Problem> {
        let project = s(state, "project").map(Ok).unwrap_or_else(|| project(e))?;
        let name = name_of(state)?;
        let h = match e.inv.host(&project, &name).await {
            Ok(h) => h,
            Err(InventoryError::NotFound { .. }) => return Ok(None),
            Err(other) => return Err(other.into()),
        };
        let imported = !(state.contains_key("flavor") || state.contains_key("node"));
        let mut out = state_of(e, &h, state).await;
        // A host with a failover policy: its node's health, read live (a failed node shows, and
        // the plan moves the host).
        if Deployment::of(&h).is_some_and(|d| d.failover.is_some()) {
            let (health, _) = planner::host::check_failure(&e.inv, &h)
                .await
                .map_err(host_problem)?;
            out.insert("health".into(), Value::String(health));
        }
        let profile = match (&h.node, imported) {
            // Imported: the profile is the one the host put over its node's.
            (Some(n), true) => e
                .inv
                .node_config(n)
                .await?
                .host_override
                .and_then(|o| o.profile),
            _ => s(state, "profile"),
        };
        if let Some(p) = profile {
            out.insert("profile".into(), Value::String(p));
        }
        // The live power, where the configuration manages it.
        if state.get("power").is_some_and(|p| !p.is_null())
            && h.node_state == Some(ProvisionState::Active)
        {
            if let Ok(p) = life(e).await?.power_state(&h).await {
                let p = match p {
                    PowerState::On | PowerState::PoweringOn => "on",
                    PowerState::Off | PowerState::PoweringOff => "off",
                    PowerState::Other(_) => "unknown",
                };
                out.insert("power".into(), Value::String(p.into()));
            }
        }
        Ok(Some(out))
    }

    async fn create(&self, e: &Engine, planned: &Json) -> Result<Json, Problem> {
        let project = project(e)?;
        let name = name_of(planned)?;
        if planned.get("adopt") == Some(&Value::Bool(true)) {
            let node = s(planned, "node").unwrap_or_default();
            let rec = e.inv.node(&node).await?;
            if rec.state == ProvisionState::Available {
                e.inv.transition(&node, Event::Manage, None).await?;
            }
            e.inv.adopt(&node, &name, &project).await?;
            let h = e
                .inv
                .set_host_state(
                    &project,
                    &name,
                    "active",
                    Some(&json!({"adopted": true})),
                    Some("adopted"),
                )
                .await?;
            return Ok(state_of(e, &h, planned).await);
        }
        let h = e
            .inv
            .create_host(&NewHost {
                name: name.clone(),
                project: Some(project.clone()),
                flavor: s(planned, "flavor"),
                node: s(planned, "node"),
            })
            .await
            .map_err(|err| match err {
                InventoryError::NoCapacity { .. } => {
                    Problem::at("flavor", "No capacity", err.to_string())
                }
                other => other.into(),
            })?;
        if h.node.is_none() {
            return Ok(state_of(e, &h, planned).await);
        }
        let req = match request(e, planned, "create").await {
            Ok(r) => r,
            Err(p) => {
                let _ = e.inv.delete_host(&h.project, &h.name).await;
                return Err(p);
            }
        };
        let h = match req {
            None => {
                if let Err(p) = apply_profile(e, &h, planned, "create").await {
                    // Nothing half-made: the allocation is released, the node's profile restored.
                    let _ = life(e)
                        .await?
                        .delete(&h, e.timeout(planned, "create")?)
                        .await;
                    return Err(p);
                }
                h
            }
            Some(req) => {
                match life(e).await?.deploy(&h, &req).await {
                    Ok(done) => done,
                    Err(err) => {
                        // A deployment that failed has cleaned and released its node already; one
                        // stopped before touching it (the image) still holds the allocation.
                        if matches!(err, HostError::Image(_) | HostError::Invalid(_)) {
                            let _ = e.inv.delete_host(&h.project, &h.name).await;
                        }
                        e.invalidate().await;
                        return Err(host_problem(err));
                    }
                }
            }
        };
        if s(planned, "power").as_deref() == Some("off") {
            set_power(e, &h, planned, "create").await?;
        }
        let h = record_failover(e, &h, planned).await?;
        e.invalidate().await;
        Ok(state_of(e, &h, planned).await)
    }

    async fn update(&self, e: &Engine, prior: &Json, planned: &Json) -> Result<Json, Problem> {
        let project = project(e)?;
        let name = name_of(planned)?;
        let h = e.inv.host(&project, &name).await?;
        if h.node.is_none() {
            return Ok(state_of(e, &h, planned).await);
        }
        let changed = |k: &str| prior.get(k) != planned.get(k);
        // Decided as the plan decided it (and as bmplan decides it).
        let change = change_of(
            &HostSpec::from_attrs(&name, &resolved(e, planned).await?),
            prior,
            h.node.as_deref(),
            Deployment::of(&h).and_then(|d| d.hostname),
        );
        let migrated = matches!(change, Some(HostChange::Migrate { .. }));
        let mut h = h;
        if let Some(HostChange::Migrate { to }) = &change {
            // A new node: the host migrates (a failover the plan chose, or the configuration's).
            let from = h.node.clone().unwrap_or_default();
            let reason = match prior.get("health").and_then(Value::as_str) {
                Some(hl @ ("Critical" | "unreachable")) => {
                    format!("node {from} failed (health {hl})")
                }
                _ => "the configuration names another node".to_string(),
            };
            let req = request(e, planned, "update").await?;
            h = life(e)
                .await?
                .migrate(&h, to, &reason, req.as_ref(), e.timeout(planned, "update")?)
                .await
                .map_err(host_problem)?;
        } else if let Some(req) = request(e, planned, "update").await? {
            let rebuild = matches!(change, Some(HostChange::Rebuild { .. }))
                || changed("rebuild")
                || h.node_state != Some(ProvisionState::Active);
            if rebuild {
                h = life(e)
                    .await?
                    .deploy(&h, &req)
                    .await
                    .map_err(host_problem)?;
            } else if matches!(change, Some(HostChange::Reconfigure { .. })) || changed("profile") {
                // Networks or the profile changed (a profile removed too): no reinstall.
                if let Some(HostChange::Reconfigure {
                    networks: Some(networks),
                    ..
                }) = &change
                {
                    life(e)
                        .await?
                        .move_ports(&h, networks, e.timeout(planned, "update")?)
                        .await
                        .map_err(host_problem)?;
                }
                apply_profile(e, &h, planned, "update").await?;
            }
        } else {
            apply_profile(e, &h, planned, "update").await?;
        }
        if changed("power") {
            set_power(e, &h, planned, "update").await?;
        } else if changed("reboot") {
            life(e)
                .await?
                .power(&h, PowerAction::Reboot, e.timeout(planned, "update")?)
                .await
                .map_err(host_problem)?;
        }
        // An image or deployment plan named anew for the same bits (no rebuild): the record
        // names them from now on.
        let now = HostSpec::from_attrs(&name, planned);
        e.inv
            .update_host_deployment(&project, &name, "image or deployment plan renamed", |d| {
                let mut changed = false;
                for (k, v) in [
                    ("image", &now.image),
                    ("deployment_plan", &now.deployment_plan),
                ] {
                    let want = v.clone().map(Value::String).unwrap_or(Value::Null);
                    if d.get(k).cloned().unwrap_or(Value::Null) != want && !d.is_empty() {
                        if want.is_null() {
                            d.remove(k);
                        } else {
                            d.insert(k.to_string(), want);
                        }
                        changed = true;
                    }
                }
                changed
            })
            .await?;
        let h = record_failover(e, &e.inv.host(&project, &name).await?, planned).await?;
        e.invalidate().await;
        let mut out = state_of(e, &h, planned).await;
        if migrated {
            // What the plan could not know: the new node's health.
            if let Ok((health, _)) = planner::host::check_failure(&e.inv, &h).await {
                out.insert("health".into(), Value::String(health));
            }
        }
        Ok(out)
    }

    async fn delete(&self, e: &Engine, prior: &Json) -> Result<(), Problem> {
        let project = s(prior, "project").map(Ok).unwrap_or_else(|| project(e))?;
        let h = match e.inv.host(&project, &name_of(prior)?).await {
            Ok(h) => h,
            Err(InventoryError::NotFound { .. }) => return Ok(()),
            Err(other) => return Err(other.into()),
        };
        let r = life(e)
            .await?
            .delete(&h, e.timeout(prior, "delete")?)
            .await
            .map_err(host_problem);
        e.invalidate().await;
        r
    }
}
