//! The provider: its configuration schema (from `planner::schema::PROVIDER`) and validation. Resources
//! and data sources are registered here as they are built.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use planner::schema::{self, ProviderSettings};

use crate::data::{self, SpecDataSource};
use crate::engine::{with_env, Engine, EngineCell};
use crate::plugin::schema::{Block, Schema};
use crate::plugin::{self, AttributePath, Diagnostics};
use crate::resource::SpecResource;
use crate::resources::{deployment_plan, flavor, host, image, network, node, profile, switch};
use crate::value::{attribute, ValueAny};
use crate::{actions, ephemeral, lists};

/// The `provider "baremetal"` block as Terraform sends it: unknown and null values are unset; a
/// value of the wrong type is an error at its attribute, never read as unset.
fn settings(config: &ValueAny, diags: &mut Diagnostics) -> ProviderSettings {
    let empty = BTreeMap::new();
    let m = match config {
        ValueAny::Map(m) => m,
        _ => &empty,
    };
    let mut text = |k: &str| match m.get(k) {
        Some(ValueAny::String(s)) => Some(s.clone()),
        Some(ValueAny::Null | ValueAny::Unknown) | None => None,
        Some(other) => {
            diags.error(
                "Invalid provider configuration",
                format!("{k} must be a string, not {other:?}"),
                AttributePath::new(k),
            );
            None
        }
    };
    let (inventory, project, role) = (text("inventory"), text("project"), text("role"));
    let (credentials_key, credentials_key_file, ca_cert) = (
        text("credentials_key"),
        text("credentials_key_file"),
        text("ca_cert"),
    );
    let (default_timeout, media_listen, media_url) = (
        text("default_timeout"),
        text("media_listen"),
        text("media_url"),
    );
    let insecure = match m.get("insecure") {
        Some(ValueAny::Bool(b)) => Some(*b),
        _ => None,
    };
    let max_parallel = match m.get("max_parallel") {
        Some(ValueAny::Number(n)) => Some(*n),
        Some(ValueAny::Float(f)) => {
            diags.error(
                "Invalid provider configuration",
                format!("max_parallel must be a whole number from 1, not {f}"),
                AttributePath::new("max_parallel"),
            );
            None
        }
        _ => None,
    };
    ProviderSettings {
        inventory,
        project,
        role,
        credentials_key,
        credentials_key_file,
        ca_cert,
        insecure,
        max_parallel,
        default_timeout,
        media_listen,
        media_url,
    }
}

fn problems(diags: &mut Diagnostics, s: &ProviderSettings) {
    for p in schema::validate_provider(s) {
        diags.error(p.summary, p.detail, AttributePath::new(p.attribute));
    }
}

/// The provider: the shared engine once configured, and every resource and data source over it.
#[derive(Default)]
pub struct BaremetalProvider {
    engine: EngineCell,
}

#[async_trait]
impl plugin::Provider for BaremetalProvider {
    fn schema(&self) -> Schema {
        Schema {
            version: 1,
            block: Block {
                description:
                    "Bare-metal servers through their BMCs (Redfish) and top-of-rack switches. \
                     Every attribute falls back to a `BAREMETAL_*` environment variable, so pipelines need no secrets in HCL."
                        .to_string(),
                attributes: schema::PROVIDER.iter().map(attribute).collect(),
                blocks: Vec::new(),
            },
        }
    }

    async fn validate(&self, config: ValueAny) -> Diagnostics {
        let mut diags = Diagnostics::default();
        let s = settings(&config, &mut diags);
        problems(&mut diags, &s);
        diags
    }

    async fn configure(&self, terraform_version: String, config: ValueAny) -> Diagnostics {
        let mut diags = Diagnostics::default();
        let s = settings(&config, &mut diags);
        problems(&mut diags, &s);
        tracing::info!(terraform = %terraform_version, "configuring");
        match Engine::open(with_env(s)).await {
            Ok(e) => self.engine.set(e),
            Err(p) => {
                let path = p
                    .path
                    .map(AttributePath::new)
                    .unwrap_or_else(AttributePath::root);
                diags.error(p.summary, p.detail, path);
            }
        }
        diags
    }

    fn resources(&self) -> BTreeMap<String, Arc<dyn plugin::Resource>> {
        let e = &self.engine;
        let mut out: BTreeMap<String, Arc<dyn plugin::Resource>> = BTreeMap::new();
        out.insert(
            "baremetal_switch".into(),
            Arc::new(SpecResource::new(switch::SwitchResource, e.clone())),
        );
        out.insert(
            "baremetal_network".into(),
            Arc::new(SpecResource::new(network::NetworkResource, e.clone())),
        );
        out.insert(
            "baremetal_profile".into(),
            Arc::new(SpecResource::new(profile::ProfileResource, e.clone())),
        );
        out.insert(
            "baremetal_node".into(),
            Arc::new(SpecResource::new(node::NodeResource, e.clone())),
        );
        out.insert(
            "baremetal_flavor".into(),
            Arc::new(SpecResource::new(flavor::FlavorResource, e.clone())),
        );
        out.insert(
            "baremetal_image".into(),
            Arc::new(SpecResource::new(image::ImageResource, e.clone())),
        );
        out.insert(
            "baremetal_deployment_plan".into(),
            Arc::new(SpecResource::new(
                deployment_plan::DeploymentPlanResource,
                e.clone(),
            )),
        );
        out.insert(
            "baremetal_host".into(),
            Arc::new(SpecResource::new(host::HostResource, e.clone())),
        );
        out
    }

    fn ephemeral_resources(&self) -> BTreeMap<String, Arc<dyn plugin::EphemeralResource>> {
        let session = ephemeral::BmcSession::new(self.engine.clone());
        let mut out: BTreeMap<String, Arc<dyn plugin::EphemeralResource>> = BTreeMap::new();
        out.insert("baremetal_bmc_session".into(), Arc::new(session));
        out
    }

    fn actions(&self) -> BTreeMap<String, Arc<dyn plugin::Action>> {
        use actions::Kind;
        let mut out: BTreeMap<String, Arc<dyn plugin::Action>> = BTreeMap::new();
        for (name, kind) in [
            ("baremetal_power", Kind::Power),
            ("baremetal_firmware_update", Kind::FirmwareUpdate),
            ("baremetal_bmc_reset", Kind::BmcReset),
            ("baremetal_image_capture", Kind::ImageCapture),
        ] {
            let engine = self.engine.clone();
            out.insert(name.into(), Arc::new(actions::Action { kind, engine }));
        }
        out
    }

    fn list_resources(&self) -> BTreeMap<String, Arc<dyn plugin::ListResource>> {
        let e = &self.engine;
        let nodes = lists::NodeList {
            engine: e.clone(),
            resource: Arc::new(SpecResource::new(node::NodeResource, e.clone())),
        };
        let hosts = lists::HostList {
            engine: e.clone(),
            resource: Arc::new(SpecResource::new(host::HostResource, e.clone())),
        };
        let mut out: BTreeMap<String, Arc<dyn plugin::ListResource>> = BTreeMap::new();
        out.insert("baremetal_node".into(), Arc::new(nodes));
        out.insert("baremetal_host".into(), Arc::new(hosts));
        out
    }

    fn data_sources(&self) -> BTreeMap<String, Arc<dyn plugin::DataSource>> {
        let e = &self.engine;
        let mut out: BTreeMap<String, Arc<dyn plugin::DataSource>> = BTreeMap::new();
        out.insert(
            "baremetal_nodes".into(),
            Arc::new(SpecDataSource {
                lookup: data::Nodes,
                engine: e.clone(),
            }),
        );
        out.insert(
            "baremetal_node".into(),
            Arc::new(SpecDataSource {
                lookup: data::Node,
                engine: e.clone(),
            }),
        );
        out.insert(
            "baremetal_image".into(),
            Arc::new(SpecDataSource {
                lookup: data::Image,
                engine: e.clone(),
            }),
        );
        out.insert(
            "baremetal_drift".into(),
            Arc::new(SpecDataSource {
                lookup: data::Drift,
                engine: e.clone(),
            }),
        );
        out
    }
}
