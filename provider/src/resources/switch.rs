//! `baremetal_switch`: a top-of-rack switch in the inventory (credentials sealed); its login is
//! checked when it is written, and a read lists the VLANs the switch carries now.

use async_trait::async_trait;
use planner::inventory::{InventoryError, SwitchRegistration};
use planner::model::{switch_from_attrs, SwitchSpec};
use planner::observe::switch_endpoint;
use planner::schema::{ResourceSpec, SWITCH};
use serde_json::Value;

use super::{name_of, object};
use crate::engine::attr_problems;
use crate::engine::{Engine, Problem};
use crate::resource::{Handler, Json};

pub struct SwitchResource;

fn login_problem(e: &planner::switch::SwitchError) -> Problem {
    use planner::switch::SwitchError as E;
    let at = match e {
        E::Login { .. } => "password",
        E::Enable { .. } => "enable_password",
        _ => "address",
    };
    Problem::at(at, "Switch login failed", e.to_string())
}

async fn check_login(spec: &SwitchSpec) -> Result<planner::switch::SwitchState, Problem> {
    let sw = planner::switch::open(
        &spec.driver,
        switch_endpoint(spec, std::time::Duration::from_secs(30)),
    )
    .map_err(|e| login_problem(&e))?;
    sw.read().await.map_err(|e| login_problem(&e))
}

async fn write(e: &Engine, planned: &Json) -> Result<Json, Problem> {
    let spec = switch_from_attrs(planned)
        .map_err(|errs| attr_problems("Invalid switch", errs).remove(0))?;
    check_login(&spec).await?;
    e.inv
        .put_switch(&SwitchRegistration {
            name: spec.name.clone(),
            driver: spec.driver.clone(),
            address: spec.address.clone(),
            username: spec.username.clone(),
            password: spec.password.clone(),
            enable_password: spec.enable_password.clone(),
            rack: spec.rack.clone(),
        })
        .await?;
    read(e, &spec.name, false).await?.ok_or_else(|| {
        Problem::root(
            "Switch vanished",
            format!("switch {} was not written", spec.name),
        )
    })
}

async fn read(e: &Engine, name: &str, live: bool) -> Result<Option<Json>, Problem> {
    let rec = match e.inv.switch(name).await {
        Ok(r) => r,
        Err(InventoryError::NotFound { .. }) => return Ok(None),
        Err(other) => return Err(other.into()),
    };
    let (password, enable) = e.inv.switch_secrets(name).await?;
    let mut vlans = Value::Null;
    if live {
        let spec = SwitchSpec {
            name: rec.name.clone(),
            driver: rec.driver.clone(),
            address: rec.address.clone(),
            username: rec.username.clone(),
            password: password.clone(),
            enable_password: enable.clone(),
            rack: rec.rack.clone(),
        };
        match check_login(&spec).await {
            Ok(state) => {
                vlans = Value::from(
                    state
                        .vlans
                        .keys()
                        .map(|v| Value::String(v.to_string()))
                        .collect::<Vec<_>>(),
                )
            }
            Err(p) => tracing::warn!(switch = name, error = %p.detail, "switch unreadable"),
        }
    }
    Ok(Some(object(vec![
        ("id", Value::String(rec.name.clone())),
        ("name", Value::String(rec.name)),
        ("driver", Value::String(rec.driver)),
        ("address", Value::String(rec.address)),
        ("username", Value::String(rec.username)),
        ("rack", rec.rack.map(Value::String).unwrap_or(Value::Null)),
        ("vlans", vlans),
    ])))
}

#[async_trait]
impl Handler for SwitchResource {
    fn spec(&self) -> &'static ResourceSpec {
        &SWITCH
    }

    fn validate(&self, config: &Json) -> Vec<Problem> {
        if !config.contains_key("driver") {
            return Vec::new();
        }
        switch_from_attrs(config)
            .err()
            .map(|e| attr_problems("Invalid switch", e))
            .unwrap_or_default()
    }

    async fn read(&self, e: &Engine, state: &Json) -> Result<Option<Json>, Problem> {
        read(e, &name_of(state)?, true).await
    }

    // From the inventory alone: a plan does not reach devices to know a name is taken.
    async fn exists(&self, e: &Engine, name: &str) -> Result<bool, Problem> {
        Ok(read(e, name, false).await?.is_some())
    }

    async fn create(&self, e: &Engine, planned: &Json) -> Result<Json, Problem> {
        write(e, planned).await
    }

    async fn update(&self, e: &Engine, _prior: &Json, planned: &Json) -> Result<Json, Problem> {
        write(e, planned).await
    }

    async fn delete(&self, e: &Engine, prior: &Json) -> Result<(), Problem> {
        match e.inv.delete_switch(&name_of(prior)?).await {
            Ok(()) | Err(InventoryError::NotFound { .. }) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }
}
