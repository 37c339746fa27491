//! `baremetal_network`: a VLAN the inventory knows by name. The VLAN is created on a switch when a
//! node's port on that switch is put on the network (in the same batch as the port change).

use crate::value::ValueAny;
use async_trait::async_trait;
use planner::inventory::InventoryError;
use planner::model::network_from_attrs;
use planner::schema::{ResourceSpec, NETWORK};
use serde_json::Value;

use super::{name_of, object};
use crate::engine::attr_problems;
use crate::engine::{Engine, Problem};
use crate::resource::{Handler, Json};
use crate::value::Obj;

pub struct NetworkResource;

async fn write(e: &Engine, planned: &Json) -> Result<Json, Problem> {
    let n = network_from_attrs(planned)
        .map_err(|errs| attr_problems("Invalid network", errs).remove(0))?;
    e.inv.put_network(&n).await?;
    read(e, &n.name).await?.ok_or_else(|| {
        Problem::root(
            "Network vanished",
            format!("network {} was not written", n.name),
        )
    })
}

async fn read(e: &Engine, name: &str) -> Result<Option<Json>, Problem> {
    let n = match e.inv.network(name).await {
        Ok(n) => n,
        Err(InventoryError::NotFound { .. }) => return Ok(None),
        Err(other) => return Err(other.into()),
    };
    Ok(Some(object(vec![
        ("id", Value::String(n.name.clone())),
        ("name", Value::String(n.name)),
        ("vlan_id", Value::from(n.vlan)),
        ("mtu", n.mtu.map(Value::from).unwrap_or(Value::Null)),
        ("role", Value::String(n.role)),
    ])))
}

#[async_trait]
impl Handler for NetworkResource {
    fn spec(&self) -> &'static ResourceSpec {
        &NETWORK
    }

    fn validate(&self, config: &Json) -> Vec<Problem> {
        if !config.contains_key("vlan_id") {
            return Vec::new();
        }
        network_from_attrs(config)
            .err()
            .map(|e| attr_problems("Invalid network", e))
            .unwrap_or_default()
    }

    async fn plan(
        &self,
        _e: &Engine,
        _prior: Option<&Json>,
        _config: &Obj,
        planned: &mut Obj,
    ) -> Result<crate::resource::PlanOut, Vec<Problem>> {
        if planned.get("role") == Some(&ValueAny::Unknown) {
            planned.insert("role".into(), ValueAny::String("tenant".into()));
        }
        Ok(Default::default())
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
        match e.inv.delete_network(&name_of(prior)?).await {
            Ok(()) | Err(InventoryError::NotFound { .. }) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }
}
