//! `baremetal_flavor`: matching rules hosts are scheduled by, with how many nodes match now.

use async_trait::async_trait;
use planner::flavor::Flavor;
use planner::schema::{ResourceSpec, FLAVOR};
use serde_json::Value;

use super::{name_of, object};
use crate::engine::{Engine, Problem};
use crate::resource::{s, Handler, Json};

pub struct FlavorResource;

fn flavor_of(j: &Json) -> Result<Flavor, Problem> {
    let n = |k: &str| j.get(k).and_then(Value::as_u64).unwrap_or(0);
    let f = Flavor {
        name: name_of(j)?,
        cpus: n("cpus"),
        memory_gib: n("memory_gib"),
        disk_gib: n("disk_gib"),
        arch: s(j, "arch"),
        vendor: s(j, "vendor"),
        model: s(j, "model"),
        description: None,
        traits: planner::load::texts_of(j, "traits").into_iter().collect(),
        gpus: n("gpus"),
        gpu_model: s(j, "gpu_model"),
    };
    f.validate().map_err(|e| {
        let at = if e.0.contains("arch") { "arch" } else { "name" };
        Problem::at(at, "Invalid flavor", e)
    })?;
    Ok(f)
}

async fn read(e: &Engine, name: &str) -> Result<Option<Json>, Problem> {
    let Some(c) = e
        .inv
        .flavors()
        .await?
        .into_iter()
        .find(|c| c.flavor.name == name)
    else {
        return Ok(None);
    };
    let f = c.flavor;
    let num = |v: u64| if v == 0 { Value::Null } else { Value::from(v) };
    let opt = |v: Option<String>| v.map(Value::String).unwrap_or(Value::Null);
    Ok(Some(object(vec![
        ("id", Value::String(f.name.clone())),
        ("name", Value::String(f.name)),
        ("cpus", num(f.cpus)),
        ("memory_gib", num(f.memory_gib)),
        ("disk_gib", num(f.disk_gib)),
        ("arch", opt(f.arch)),
        ("vendor", opt(f.vendor)),
        ("model", opt(f.model)),
        (
            "traits",
            if f.traits.is_empty() {
                Value::Null
            } else {
                Value::from(f.traits.into_iter().collect::<Vec<_>>())
            },
        ),
        ("gpus", num(f.gpus)),
        ("gpu_model", opt(f.gpu_model)),
        ("matching_nodes", Value::from(c.matching)),
        ("available_nodes", Value::from(c.free)),
    ])))
}

async fn write(e: &Engine, planned: &Json) -> Result<Json, Problem> {
    let f = flavor_of(planned)?;
    e.inv.put_flavor(&f).await?;
    read(e, &f.name).await?.ok_or_else(|| {
        Problem::root(
            "Flavor vanished",
            format!("flavor {} was not written", f.name),
        )
    })
}

#[async_trait]
impl Handler for FlavorResource {
    fn spec(&self) -> &'static ResourceSpec {
        &FLAVOR
    }

    fn validate(&self, config: &Json) -> Vec<Problem> {
        if !config.contains_key("name") {
            return Vec::new();
        }
        flavor_of(config).err().into_iter().collect()
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
        match e.inv.delete_flavor(&name_of(prior)?).await {
            Ok(()) | Err(planner::inventory::InventoryError::NotFound { .. }) => Ok(()),
            Err(other) => Err(other.into()),
        }
    }
}
