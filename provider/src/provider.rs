//! The provider: its configuration schema (from `planner::schema::PROVIDER`) and validation. Resources
//! and data sources are registered here as they are built.

use std::borrow::Cow;

use async_trait::async_trait;
use planner::schema::{self, AttrSpec, Kind, Presence, ProviderSettings};
use serde::{Deserialize, Serialize};
use tf_provider::schema::{
    Attribute, AttributeConstraint, AttributeType, Block, Description, Schema,
};
use tf_provider::value::{Value, ValueBool, ValueEmpty, ValueNumber, ValueString};
use tf_provider::{AttributePath, Diagnostics, Provider};

/// The `provider "baremetal"` block as Terraform sends it.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ProviderConfig<'a> {
    #[serde(borrow)]
    pub inventory: ValueString<'a>,
    #[serde(borrow)]
    pub project: ValueString<'a>,
    #[serde(borrow)]
    pub role: ValueString<'a>,
    #[serde(borrow)]
    pub credentials_key: ValueString<'a>,
    #[serde(borrow)]
    pub credentials_key_file: ValueString<'a>,
    #[serde(borrow)]
    pub ca_cert: ValueString<'a>,
    pub insecure: ValueBool,
    pub max_parallel: ValueNumber,
    #[serde(borrow)]
    pub default_timeout: ValueString<'a>,
}

fn known<T: Clone>(v: &Value<T>) -> Option<T> {
    v.as_ref_option().cloned()
}

fn text(v: &ValueString<'_>) -> Option<String> {
    v.as_ref_option().map(|c: &Cow<'_, str>| c.to_string())
}

impl ProviderConfig<'_> {
    fn settings(&self) -> ProviderSettings {
        ProviderSettings {
            role: text(&self.role),
            credentials_key: text(&self.credentials_key),
            credentials_key_file: text(&self.credentials_key_file),
            ca_cert: text(&self.ca_cert),
            insecure: known(&self.insecure),
            max_parallel: known(&self.max_parallel),
            default_timeout: text(&self.default_timeout),
        }
    }
}

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
        attr_type: match spec.kind {
            Kind::String => AttributeType::String,
            Kind::Bool => AttributeType::Bool,
            Kind::Number => AttributeType::Number,
            Kind::StringList => AttributeType::List(Box::new(AttributeType::String)),
            Kind::StringMap => AttributeType::Map(Box::new(AttributeType::String)),
        },
        description: Description::markdown(description),
        constraint: match spec.presence {
            Presence::Required => AttributeConstraint::Required,
            Presence::Optional => AttributeConstraint::Optional,
            Presence::Computed => AttributeConstraint::Computed,
            Presence::OptionalComputed => AttributeConstraint::OptionalComputed,
        },
        sensitive: spec.sensitive,
        deprecated: false,
    }
}

pub struct BaremetalProvider;

#[async_trait]
impl Provider for BaremetalProvider {
    type Config<'a> = ProviderConfig<'a>;
    type MetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        Some(Schema {
            version: 1,
            block: Block {
                description: Description::markdown(
                    "Bare-metal servers through their BMCs (Redfish) and top-of-rack switches. \
                     Every attribute falls back to a `BAREMETAL_*` environment variable, so pipelines need no secrets in HCL.",
                ),
                attributes: schema::PROVIDER.iter().map(|s| (s.name.to_string(), attribute(s))).collect(),
                ..Default::default()
            },
        })
    }

    async fn validate<'a>(&self, diags: &mut Diagnostics, config: Self::Config<'a>) -> Option<()> {
        for p in schema::validate_provider(&config.settings()) {
            diags.error(p.summary, p.detail, AttributePath::new(p.attribute));
        }
        Some(())
    }

    async fn configure<'a>(
        &self,
        diags: &mut Diagnostics,
        _terraform_version: String,
        config: Self::Config<'a>,
    ) -> Option<()> {
        for p in schema::validate_provider(&config.settings()) {
            diags.error(p.summary, p.detail, AttributePath::new(p.attribute));
        }
        Some(())
    }
}
