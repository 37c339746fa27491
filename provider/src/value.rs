//! Between Terraform's values and the engine's: schemas built from the shared specs
//! (`planner::schema`), objects converted to and from JSON in the shape the loader uses (nested blocks
//! as lists of objects), and dotted attribute paths (`port.0.networks`, `bios.ProcTurboMode`) turned
//! into Terraform attribute paths for diagnostics.

use std::collections::BTreeMap;

use crate::plugin::schema::{self as ps, Attribute, Block, NestedBlock, Type};
use crate::plugin::AttributePath;
pub use crate::plugin::Value as ValueAny;
use planner::schema::{AttrSpec, BlockSpec, Kind, Presence};
use serde_json::{Map, Value};

/// A Terraform object value.
pub type Obj = BTreeMap<String, ValueAny>;

/// Converts one shared attribute spec into a Terraform attribute.
pub fn attribute(spec: &AttrSpec) -> Attribute {
    let description = match spec.env {
        Some(env) => format!(
            "{} Falls back to the `{env}` environment variable.",
            spec.description
        ),
        None => spec.description.to_string(),
    };
    Attribute {
        name: spec.name.to_string(),
        ty: match spec.kind {
            Kind::String => Type::String,
            Kind::Bool => Type::Bool,
            Kind::Number => Type::Number,
            Kind::StringList => Type::List(Box::new(Type::String)),
            Kind::StringMap => Type::Map(Box::new(Type::String)),
            Kind::StringListMap => Type::Map(Box::new(Type::List(Box::new(Type::String)))),
        },
        description,
        presence: match spec.presence {
            Presence::Required => ps::Presence::Required,
            Presence::Optional => ps::Presence::Optional,
            Presence::Computed => ps::Presence::Computed,
            Presence::OptionalComputed => ps::Presence::OptionalComputed,
        },
        sensitive: spec.sensitive,
        write_only: spec.write_only,
        deprecated: spec.deprecated,
    }
}

/// The Terraform schema of a shared spec (a resource, data source, list resource, action or
/// ephemeral resource), at `version`.
pub fn schema(spec: &planner::schema::ResourceSpec, version: i64) -> crate::plugin::Schema {
    crate::plugin::Schema {
        version,
        block: block(spec.attrs, spec.blocks, spec.description),
    }
}

/// A Terraform block from attribute and block specs.
pub fn block(attrs: &[AttrSpec], blocks: &[BlockSpec], description: &str) -> Block {
    Block {
        attributes: attrs.iter().map(attribute).collect(),
        blocks: blocks
            .iter()
            .map(|b| NestedBlock {
                name: b.name.to_string(),
                block: block(b.attrs, b.blocks, b.description),
                max_items: if b.max_one { 1 } else { 0 },
            })
            .collect(),
        description: description.to_string(),
    }
}

/// Whether a value is unknown, or holds an unknown value anywhere.
pub fn has_unknown(v: &ValueAny) -> bool {
    match v {
        ValueAny::Unknown => true,
        ValueAny::List(xs) => xs.iter().any(has_unknown),
        ValueAny::Map(m) => m.values().any(has_unknown),
        _ => false,
    }
}

/// A Terraform value as JSON; unknown values become null (callers check [`has_unknown`] first
/// where it matters).
pub fn to_json(v: &ValueAny) -> Value {
    match v {
        ValueAny::String(s) => Value::String(s.clone()),
        ValueAny::Number(n) => Value::from(*n),
        ValueAny::Float(f) => Value::from(*f),
        ValueAny::Bool(b) => Value::Bool(*b),
        ValueAny::List(xs) => Value::Array(xs.iter().map(to_json).collect()),
        ValueAny::Map(m) => Value::Object(m.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
        ValueAny::Null | ValueAny::Unknown => Value::Null,
    }
}

pub fn obj_to_json(o: &Obj) -> Map<String, Value> {
    o.iter()
        .filter(|(_, v)| !matches!(v, ValueAny::Null | ValueAny::Unknown))
        .map(|(k, v)| (k.clone(), to_json(v)))
        .collect()
}

fn scalar(kind: Kind, v: &Value) -> ValueAny {
    match (kind, v) {
        (_, Value::Null) => ValueAny::Null,
        // A fraction stays a fraction (the rules refuse it where a whole number is needed).
        (Kind::Number, Value::Number(n)) => match n.as_i64() {
            Some(i) => ValueAny::Number(i),
            None => ValueAny::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        (Kind::Number, Value::String(s)) => s
            .parse::<i64>()
            .map(ValueAny::Number)
            .unwrap_or(ValueAny::Null),
        (Kind::Bool, Value::Bool(b)) => ValueAny::Bool(*b),
        (Kind::Bool, Value::String(s)) => ValueAny::Bool(s == "true"),
        (Kind::StringList, Value::Array(xs)) => {
            ValueAny::List(xs.iter().map(|x| ValueAny::String(text(x))).collect())
        }
        (Kind::StringMap, Value::Object(m)) => ValueAny::Map(
            m.iter()
                .map(|(k, x)| (k.clone(), ValueAny::String(text(x))))
                .collect(),
        ),
        (Kind::StringListMap, Value::Object(m)) => ValueAny::Map(
            m.iter()
                .map(|(k, x)| {
                    let items = x.as_array().map(Vec::as_slice).unwrap_or_default();
                    (
                        k.clone(),
                        ValueAny::List(items.iter().map(|i| ValueAny::String(text(i))).collect()),
                    )
                })
                .collect(),
        ),
        (Kind::String, v) => ValueAny::String(text(v)),
        _ => ValueAny::Null,
    }
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A JSON object in the shape of the specs: every attribute present (null when absent), every
/// nested block a list.
pub fn from_json(m: &Map<String, Value>, attrs: &[AttrSpec], blocks: &[BlockSpec]) -> Obj {
    let mut out = Obj::new();
    for a in attrs {
        out.insert(
            a.name.to_string(),
            m.get(a.name)
                .map(|v| scalar(a.kind, v))
                .unwrap_or(ValueAny::Null),
        );
    }
    for b in blocks {
        let items = m
            .get(b.name)
            .and_then(Value::as_array)
            .map(|xs| {
                xs.iter()
                    .filter_map(Value::as_object)
                    .map(|o| ValueAny::Map(from_json(o, b.attrs, b.blocks)))
                    .collect()
            })
            .unwrap_or_default();
        out.insert(b.name.to_string(), ValueAny::List(items));
    }
    out
}

/// Whether a value says nothing: null, false, empty.
fn empty(v: &ValueAny) -> bool {
    match v {
        ValueAny::Null => true,
        ValueAny::Bool(b) => !b,
        ValueAny::String(s) => s.is_empty(),
        ValueAny::List(xs) => xs.is_empty(),
        ValueAny::Map(m) => m.is_empty(),
        _ => false,
    }
}

/// Keeps the prior state's way of saying "nothing" (null or false or empty) where the live value also
/// says nothing, so a refresh does not turn an unset optional into a diff. Recurses into blocks.
pub fn settle(live: &mut Obj, prior: &Obj, attrs: &[AttrSpec], blocks: &[BlockSpec]) {
    for a in attrs {
        if a.presence == Presence::Computed {
            continue;
        }
        if let (Some(p), Some(l)) = (prior.get(a.name), live.get(a.name)) {
            if empty(p) && empty(l) {
                live.insert(a.name.to_string(), p.clone());
            }
        }
    }
    for b in blocks {
        let (Some(ValueAny::List(ps)), Some(ValueAny::List(ls))) =
            (prior.get(b.name), live.get_mut(b.name))
        else {
            continue;
        };
        for (p, l) in ps.iter().zip(ls.iter_mut()) {
            if let (ValueAny::Map(p), ValueAny::Map(l)) = (p, l) {
                settle(l, p, b.attrs, b.blocks);
            }
        }
    }
}

/// An imported object says nothing where the configuration most likely says nothing: optional
/// attributes that are empty (false, "", [], {}) become null, in nested blocks too.
pub fn nullify_empty(o: &mut Obj, attrs: &[AttrSpec], blocks: &[BlockSpec]) {
    for a in attrs.iter().filter(|a| a.presence == Presence::Optional) {
        if let Some(v) = o.get_mut(a.name) {
            if empty(v) {
                *v = ValueAny::Null;
            }
        }
    }
    for b in blocks {
        if let Some(ValueAny::List(items)) = o.get_mut(b.name) {
            for item in items.iter_mut() {
                if let ValueAny::Map(m) = item {
                    nullify_empty(m, b.attrs, b.blocks);
                }
            }
        }
    }
}

/// A dotted path (`port.0.networks`, `bios.ProcTurboMode`, `raid.0.volume.1.level`) as a Terraform
/// attribute path, walking the specs to tell block indexes and map keys apart.
pub fn path(dotted: &str, attrs: &[AttrSpec], blocks: &[BlockSpec]) -> AttributePath {
    let mut parts = dotted.split('.').filter(|p| !p.is_empty());
    let Some(first) = parts.next() else {
        return AttributePath::root();
    };
    let mut out = AttributePath::new(first.to_string());
    let mut attrs = attrs;
    let mut blocks = blocks;
    let mut current = first.to_string();
    while let Some(next) = parts.next() {
        if let Some(b) = blocks.iter().find(|b| b.name == current) {
            match next.parse::<i64>() {
                Ok(i) => {
                    out = out.index(i);
                    match parts.next() {
                        Some(attr) => {
                            out = out.attribute(attr.to_string());
                            attrs = b.attrs;
                            blocks = b.blocks;
                            current = attr.to_string();
                        }
                        None => break,
                    }
                }
                Err(_) => {
                    out = out.index(0).attribute(next.to_string());
                    attrs = b.attrs;
                    blocks = b.blocks;
                    current = next.to_string();
                }
            }
        } else if attrs
            .iter()
            .any(|a| a.name == current && matches!(a.kind, Kind::StringMap | Kind::StringListMap))
        {
            out = out.key(parts.fold(next.to_string(), |acc, p| format!("{acc}.{p}")));
            break;
        } else if let Ok(i) = next.parse::<i64>() {
            out = out.index(i);
        } else {
            out = out.attribute(next.to_string());
            current = next.to_string();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use planner::schema;

    #[test]
    fn json_round_trips_in_the_shape_of_the_spec() {
        let spec = &schema::NODE;
        let j = serde_json::json!({
            "name": "r1u01", "cpus": 32, "maintenance": false,
            "port": [{"switch": "tor1", "port": "Gi0/1", "networks": ["prod"]}],
        });
        let o = from_json(j.as_object().unwrap(), spec.attrs, spec.blocks);
        assert_eq!(o["name"], ValueAny::String("r1u01".into()));
        assert_eq!(o["cpus"], ValueAny::Number(32));
        assert_eq!(o["bmc_url"], ValueAny::Null);
        assert_eq!(o["timeouts"], ValueAny::List(vec![]));
        let ValueAny::List(ports) = &o["port"] else {
            panic!()
        };
        let ValueAny::Map(p) = &ports[0] else {
            panic!()
        };
        assert_eq!(p["pxe"], ValueAny::Null);
        let back = obj_to_json(&o);
        assert_eq!(back["port"][0]["networks"][0], "prod");
    }

    #[test]
    fn settle_keeps_the_prior_empty_and_not_a_live_change() {
        let spec = &schema::NODE;
        let prior = from_json(
            serde_json::json!({"maintenance": null, "rack": "r1"})
                .as_object()
                .unwrap(),
            spec.attrs,
            spec.blocks,
        );
        let mut live = from_json(
            serde_json::json!({"maintenance": false, "rack": "r2"})
                .as_object()
                .unwrap(),
            spec.attrs,
            spec.blocks,
        );
        settle(&mut live, &prior, spec.attrs, spec.blocks);
        assert_eq!(live["maintenance"], ValueAny::Null);
        assert_eq!(live["rack"], ValueAny::String("r2".into()));
    }

    #[test]
    fn dotted_paths_walk_blocks_and_maps() {
        let p = &schema::PROFILE;
        assert_eq!(
            path("bios.Proc.Turbo", p.attrs, p.blocks),
            AttributePath::new("bios").key("Proc.Turbo")
        );
        assert_eq!(
            path("raid.0.volume.1.level", p.attrs, p.blocks),
            AttributePath::new("raid")
                .index(0)
                .attribute("volume")
                .index(1)
                .attribute("level")
        );
        assert_eq!(
            path("boot.mode", p.attrs, p.blocks),
            AttributePath::new("boot").index(0).attribute("mode")
        );
        let n = &schema::NODE;
        assert_eq!(
            path("port.2.networks", n.attrs, n.blocks),
            AttributePath::new("port").index(2).attribute("networks")
        );
    }
}

#[cfg(test)]
mod null_tests {
    use super::*;

    #[test]
    fn nulls_in_state_decode_as_null() {
        let v = ValueAny::from_json(&serde_json::json!({"a": null, "b": {}, "c": []}));
        let ValueAny::Map(m) = v else { panic!("{v:?}") };
        assert!(matches!(m["a"], ValueAny::Null), "{:?}", m["a"]);
        assert!(empty(&m["a"]) && empty(&m["b"]) && empty(&m["c"]));
    }
}
