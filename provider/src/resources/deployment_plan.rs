//! `baremetal_deployment_plan`: a cloud-init user-data template (and hostname pattern) rendered
//! per host. Hosts name it with `deployment_plan`; its `ref` follows what renders, so a template
//! change shows in the same plan as the rendered diff of every host that uses it.

use async_trait::async_trait;
use planner::deploy::template::DeploymentPlan;
use planner::schema::{ResourceSpec, DEPLOYMENT_PLAN};
use serde_json::{json, Value};

use super::{name_of, object};
use crate::engine::{Engine, Problem};
use crate::resource::{Handler, Json, PlanOut};
use crate::value::{Obj, ValueAny};

pub struct DeploymentPlanResource;

fn plan_of(j: &Json) -> Result<DeploymentPlan, Vec<Problem>> {
    DeploymentPlan::from_attrs(j).map_err(|errs| {
        errs.into_iter()
            .map(|(at, m)| Problem::at(at, "Invalid deployment plan", m))
            .collect()
    })
}

/// The state of plan `name` (its secret variables are write-only: never in the state).
async fn read(e: &Engine, name: &str) -> Result<Option<Json>, Problem> {
    let p = match e.inv.deployment_plan(name).await {
        Ok(p) => p,
        Err(planner::inventory::InventoryError::NotFound { .. }) => return Ok(None),
        Err(other) => return Err(other.into()),
    };
    Ok(Some(object(vec![
        ("id", Value::String(p.name.clone())),
        ("name", Value::String(p.name.clone())),
        ("user_data", Value::String(p.user_data.clone())),
        ("hostname", json!(p.hostname)),
        (
            "variables",
            if p.variables.is_empty() {
                Value::Null
            } else {
                json!(p.variables)
            },
        ),
        ("ref", Value::String(p.reference())),
    ])))
}

async fn write(e: &Engine, planned: &Json) -> Result<Json, Problem> {
    let p = plan_of(planned).map_err(|mut ps| ps.remove(0))?;
    e.inv.put_deployment_plan(&p).await?;
    read(e, &p.name).await?.ok_or_else(|| {
        Problem::root(
            "Deployment plan vanished",
            format!("deployment plan {} was not written", p.name),
        )
    })
}

#[async_trait]
impl Handler for DeploymentPlanResource {
    fn spec(&self) -> &'static ResourceSpec {
        &DEPLOYMENT_PLAN
    }

    /// The name only: the template is checked at plan, where a variable given by a value known
    /// only then (`var.x`, a reference) is told from one missing.
    fn validate(&self, config: &Json) -> Vec<Problem> {
        match config.get("name").and_then(Value::as_str) {
            Some(n) => planner::rules::name_ok(n)
                .err()
                .map(|e| Problem::at("name", "Invalid deployment plan", e.0))
                .into_iter()
                .collect(),
            None => Vec::new(),
        }
    }

    /// The `ref` is known at plan from the configuration; the planned plan is kept for the hosts
    /// planned after it in this run.
    async fn plan(
        &self,
        e: &Engine,
        prior: Option<&Json>,
        config: &Obj,
        planned: &mut Obj,
    ) -> Result<PlanOut, Vec<Problem>> {
        let unknown = config.values().any(|v| matches!(v, ValueAny::Unknown))
            || crate::value::has_unknown(&ValueAny::Map(config.clone()));
        if unknown {
            planned.insert("ref".into(), ValueAny::Unknown);
            return Ok(PlanOut::default());
        }
        let p = plan_of(&crate::value::obj_to_json(config))?;
        let r = p.reference();
        // Terraform cannot see a write-only value change; the inventory holds the sealed values
        // and tells. New secrets are an update whose ref is known after apply, so the hosts that
        // follow the ref are decided (and rebuilt) then.
        if prior.is_some() {
            if let Ok(have) = e.inv.deployment_plan(&p.name).await {
                if have.sensitive != p.sensitive {
                    planned.insert("ref".into(), ValueAny::Unknown);
                    return Ok(PlanOut::default());
                }
            }
        }
        if let Ok(mut m) = e.planned_plans.lock() {
            m.insert(r.clone(), p);
        }
        planned.insert("ref".into(), ValueAny::String(r));
        Ok(PlanOut::default())
    }

    async fn read(&self, e: &Engine, state: &Json) -> Result<Option<Json>, Problem> {
        read(e, &name_of(state)?).await
    }

    async fn create(&self, e: &Engine, planned: &Json) -> Result<Json, Problem> {
        write(e, planned).await
    }

    async fn update(&self, e: &Engine, _prior: &Json, planned: &Json) -> Result<Json, Problem> {
        write(e, planned).await
    }

    async fn delete(&self, e: &Engine, prior: &Json) -> Result<(), Problem> {
        match e.inv.delete_deployment_plan(&name_of(prior)?).await {
            Ok(()) | Err(planner::inventory::InventoryError::NotFound { .. }) => Ok(()),
            Err(planner::inventory::InventoryError::Conflict { detail }) => {
                Err(Problem::at("name", "Deployment plan in use", detail))
            }
            Err(other) => Err(other.into()),
        }
    }
}

/// A plan by a host's `deployment_plan` (`NAME` or `NAME@DIGEST`): the one this run planned with
/// that ref, else the inventory's (which must be at that digest, when one is given). `Ok(None)`:
/// not known yet (made or changed later in this run, planned without a ref).
pub async fn for_host(
    e: &Engine,
    written: &str,
    planning: bool,
) -> Result<Option<DeploymentPlan>, Problem> {
    let (name, digest) = planner::deploy::template::parse_ref(written);
    if let Some(d) = &digest {
        let stashed = e
            .planned_plans
            .lock()
            .ok()
            .and_then(|m| m.get(&format!("{name}@{d}")).cloned());
        if let Some(p) = stashed {
            return Ok(Some(p));
        }
    }
    let p = match e.inv.deployment_plan(&name).await {
        Ok(p) => p,
        Err(planner::inventory::InventoryError::NotFound { .. }) if planning => return Ok(None),
        Err(planner::inventory::InventoryError::NotFound { .. }) => {
            return Err(Problem::at(
                "deployment_plan",
                "Unknown deployment plan",
                format!("no deployment plan named {name:?} in the inventory: declare it as a baremetal_deployment_plan and reference its ref"),
            ))
        }
        Err(other) => return Err(other.into()),
    };
    match digest {
        Some(d) if d != p.digest() => {
            if planning {
                Ok(None)
            } else {
                Err(Problem::at(
                    "deployment_plan",
                    "Deployment plan changed",
                    format!("deployment plan {name} is at {}, and the host asks for {d}: apply the plan's change first (reference baremetal_deployment_plan.NAME.ref, so Terraform does)", p.digest()),
                ))
            }
        }
        _ => Ok(Some(p)),
    }
}
