//! The provider: its configuration schema (from `planner::schema::PROVIDER`) and validation. Resources
//! and data sources are registered here as they are built.

use std::borrow::Cow;

use async_trait::async_trait;
use std::collections::HashMap;

use planner::schema::{self, ProviderSettings};
use serde::{Deserialize, Serialize};
use tf_provider::schema::{Block, Description, Schema};
use tf_provider::value::{Value, ValueBool, ValueEmpty, ValueNumber, ValueString};
use tf_provider::{AttributePath, Diagnostics, DynamicDataSource, DynamicResource, Provider};

use crate::data::{self, SpecDataSource};
use crate::engine::{with_env, Engine, EngineCell};
use crate::resource::SpecResource;
use crate::resources::{flavor, host, network, node, profile, switch};
use crate::value::attribute;

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
    #[serde(borrow)]
    pub media_listen: ValueString<'a>,
    #[serde(borrow)]
    pub media_url: ValueString<'a>,
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
            inventory: text(&self.inventory),
            project: text(&self.project),
            role: text(&self.role),
            credentials_key: text(&self.credentials_key),
            credentials_key_file: text(&self.credentials_key_file),
            ca_cert: text(&self.ca_cert),
            insecure: known(&self.insecure),
            max_parallel: known(&self.max_parallel),
            default_timeout: text(&self.default_timeout),
            media_listen: text(&self.media_listen),
            media_url: text(&self.media_url),
        }
    }
}

/// The provider: the shared engine once configured, and every resource and data source over it.
#[derive(Default)]
pub struct BaremetalProvider {
    engine: EngineCell,
}

#[async_trait]
impl Provider for BaremetalProvider {
    type Config<'a> = ProviderConfig<'a>;
    type MetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        // Terraform's first call: its connection is open by now.
        crate::nodelay::on_own_sockets();
        Some(Schema {
            version: 1,
            block: Block {
                description: Description::markdown(
                    "Bare-metal servers through their BMCs (Redfish) and top-of-rack switches. \
                     Every attribute falls back to a `BAREMETAL_*` environment variable, so pipelines need no secrets in HCL.",
                ),
                attributes: schema::PROVIDER
                    .iter()
                    .map(|s| (s.name.to_string(), attribute(s)))
                    .collect(),
                ..Block::default()
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
        terraform_version: String,
        config: Self::Config<'a>,
    ) -> Option<()> {
        for p in schema::validate_provider(&config.settings()) {
            diags.error(p.summary, p.detail, AttributePath::new(p.attribute));
        }
        crate::nodelay::on_own_sockets();
        tracing::info!(terraform = %terraform_version, "configuring");
        match Engine::open(with_env(config.settings())).await {
            Ok(e) => self.engine.set(e),
            Err(p) => {
                let path = p
                    .path
                    .map(AttributePath::new)
                    .unwrap_or_else(AttributePath::root);
                diags.error(p.summary, p.detail, path);
            }
        }
        Some(())
    }

    fn get_resources(
        &self,
        _diags: &mut Diagnostics,
    ) -> Option<HashMap<String, Box<dyn DynamicResource>>> {
        // tf-provider prefixes each name with the provider's ("baremetal_").
        let e = &self.engine;
        let mut out: HashMap<String, Box<dyn DynamicResource>> = HashMap::new();
        out.insert(
            "switch".into(),
            Box::new(SpecResource::new(switch::SwitchResource, e.clone())),
        );
        out.insert(
            "network".into(),
            Box::new(SpecResource::new(network::NetworkResource, e.clone())),
        );
        out.insert(
            "profile".into(),
            Box::new(SpecResource::new(profile::ProfileResource, e.clone())),
        );
        out.insert(
            "node".into(),
            Box::new(SpecResource::new(node::NodeResource, e.clone())),
        );
        out.insert(
            "flavor".into(),
            Box::new(SpecResource::new(flavor::FlavorResource, e.clone())),
        );
        out.insert(
            "host".into(),
            Box::new(SpecResource::new(host::HostResource, e.clone())),
        );
        Some(out)
    }

    fn get_data_sources(
        &self,
        _diags: &mut Diagnostics,
    ) -> Option<HashMap<String, Box<dyn DynamicDataSource>>> {
        let e = &self.engine;
        let mut out: HashMap<String, Box<dyn DynamicDataSource>> = HashMap::new();
        out.insert(
            "nodes".into(),
            Box::new(SpecDataSource {
                lookup: data::Nodes,
                engine: e.clone(),
            }),
        );
        out.insert(
            "node".into(),
            Box::new(SpecDataSource {
                lookup: data::Node,
                engine: e.clone(),
            }),
        );
        out.insert(
            "drift".into(),
            Box::new(SpecDataSource {
                lookup: data::Drift,
                engine: e.clone(),
            }),
        );
        Some(out)
    }
}
