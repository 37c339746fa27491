//! Schemas as Terraform reads them: blocks of typed attributes and nested blocks.

use super::proto;
use super::proto::schema as ps;

/// An attribute's type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Type {
    String,
    Number,
    Bool,
    List(Box<Type>),
    Map(Box<Type>),
}

impl Type {
    /// Cty's JSON notation of the type (`"string"`, `["list","string"]`).
    pub fn cty_json(&self) -> serde_json::Value {
        match self {
            Type::String => "string".into(),
            Type::Number => "number".into(),
            Type::Bool => "bool".into(),
            Type::List(t) => serde_json::json!(["list", t.cty_json()]),
            Type::Map(t) => serde_json::json!(["map", t.cty_json()]),
        }
    }
}

/// Who sets an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Required,
    Optional,
    Computed,
    OptionalComputed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub name: String,
    pub ty: Type,
    pub description: String,
    pub presence: Presence,
    pub sensitive: bool,
    /// Given in configuration only, never kept in a plan or state (Terraform 1.11 and later).
    pub write_only: bool,
    pub deprecated: bool,
}

/// A nested block: a list of blocks, at most `max_items` of them (0: no limit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NestedBlock {
    pub name: String,
    pub block: Block,
    pub max_items: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Block {
    pub attributes: Vec<Attribute>,
    pub blocks: Vec<NestedBlock>,
    /// Markdown.
    pub description: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    pub version: i64,
    pub block: Block,
}

impl Block {
    fn to_proto(&self, version: i64) -> ps::Block {
        ps::Block {
            version,
            attributes: self
                .attributes
                .iter()
                .map(|a| ps::Attribute {
                    name: a.name.clone(),
                    r#type: a.ty.cty_json().to_string().into_bytes(),
                    description: a.description.clone(),
                    required: a.presence == Presence::Required,
                    optional: matches!(a.presence, Presence::Optional | Presence::OptionalComputed),
                    computed: matches!(a.presence, Presence::Computed | Presence::OptionalComputed),
                    sensitive: a.sensitive,
                    description_kind: proto::StringKind::Markdown as i32,
                    deprecated: a.deprecated,
                    write_only: a.write_only,
                })
                .collect(),
            block_types: self
                .blocks
                .iter()
                .map(|b| ps::NestedBlock {
                    type_name: b.name.clone(),
                    block: Some(b.block.to_proto(version)),
                    nesting: ps::nested_block::NestingMode::List as i32,
                    min_items: 0,
                    max_items: b.max_items,
                })
                .collect(),
            description: self.description.clone(),
            description_kind: proto::StringKind::Markdown as i32,
            deprecated: false,
        }
    }

    /// The write-only attributes, by path (`["password_wo"]`), nested blocks included.
    pub fn write_only(&self) -> Vec<Vec<String>> {
        let mut out: Vec<Vec<String>> = self
            .attributes
            .iter()
            .filter(|a| a.write_only)
            .map(|a| vec![a.name.clone()])
            .collect();
        for b in &self.blocks {
            for mut p in b.block.write_only() {
                p.insert(0, b.name.clone());
                out.push(p);
            }
        }
        out
    }
}

impl Schema {
    pub(crate) fn to_proto(&self) -> proto::Schema {
        proto::Schema {
            version: self.version,
            block: Some(self.block.to_proto(self.version)),
        }
    }
}
