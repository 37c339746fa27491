//! The resource kinds, each a [`crate::resource::Handler`] over the shared engine.

pub mod deployment_plan;
pub mod flavor;
pub mod host;
pub mod image;
pub mod network;
pub mod node;
pub mod profile;
pub mod switch;

use serde_json::Value;

use crate::engine::Problem;
use crate::resource::Json;

/// A JSON object from pairs, dropping nulls.
pub fn object(pairs: Vec<(&str, Value)>) -> Json {
    pairs
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.to_string(), v))
        .collect()
}

/// The `name` of a state or plan, which every resource has.
pub fn name_of(j: &Json) -> Result<String, Problem> {
    crate::resource::s(j, "name")
        .ok_or_else(|| Problem::at("name", "Missing name", "name is required"))
}
