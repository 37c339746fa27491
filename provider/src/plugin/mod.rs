//! Terraform's plugin protocol (version 6), served by this provider itself on tonic and prost:
//! the go-plugin handshake on a private Unix socket with Terraform's client certificate required
//! and pinned (`serve`), the protocol's values (`value`), schemas (`schema`) and diagnostics
//! (`diag`), and the calls mapped to the traits the provider implements (`service`): the provider,
//! resources, data sources, list resources, actions and ephemeral resources.
//!
//! The traits speak in whole values; everything Terraform-specific about a call (which of create,
//! update or delete an apply is, what an import returns, which state is kept when an apply fails)
//! is decided once, in `service`.

pub mod diag;
pub mod schema;
pub mod serve;
mod service;
mod tls;
pub mod value;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

pub use diag::{AttributePath, Diagnostics};
pub use schema::Schema;
pub use value::Value;

/// The code generated from `proto/*.proto`.
#[allow(clippy::all, clippy::pedantic, dead_code, unused_qualifications)]
pub(crate) mod proto {
    tonic::include_proto!("tfplugin6");
    pub mod plugin {
        tonic::include_proto!("plugin");
    }
    pub mod health {
        tonic::include_proto!("grpc.health.v1");
    }
}

/// What Terraform says it can handle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Client {
    /// Write-only attributes (Terraform 1.11 and later).
    pub write_only: bool,
}

/// A plan for one resource instance.
#[derive(Debug, Default)]
pub struct Planned {
    /// `None`: nothing (the object goes away).
    pub state: Option<Value>,
    /// Attributes whose change replaces the object.
    pub replace: Vec<AttributePath>,
    pub diags: Diagnostics,
}

/// The provider: its own schema and configuration, and its resources, data sources, list
/// resources, actions and ephemeral resources by type name (`baremetal_node`).
#[async_trait]
pub trait Provider: Send + Sync + 'static {
    fn schema(&self) -> Schema;
    fn resources(&self) -> BTreeMap<String, Arc<dyn Resource>>;
    fn data_sources(&self) -> BTreeMap<String, Arc<dyn DataSource>>;
    /// By the managed resource type whose objects they list (Terraform 1.14 and later).
    fn list_resources(&self) -> BTreeMap<String, Arc<dyn ListResource>> {
        BTreeMap::new()
    }
    /// Terraform 1.14 and later.
    fn actions(&self) -> BTreeMap<String, Arc<dyn Action>> {
        BTreeMap::new()
    }
    /// Terraform 1.10 and later.
    fn ephemeral_resources(&self) -> BTreeMap<String, Arc<dyn EphemeralResource>> {
        BTreeMap::new()
    }
    async fn validate(&self, config: Value) -> Diagnostics;
    async fn configure(&self, terraform_version: String, config: Value) -> Diagnostics;
}

/// A managed resource type. `None` stands for "no object".
#[async_trait]
pub trait Resource: Send + Sync + 'static {
    fn schema(&self) -> Schema;
    async fn validate(&self, config: Value, client: Client) -> Diagnostics;
    /// A stored state (JSON, any earlier schema version) in the current schema's shape.
    fn upgrade(&self, version: i64, state: &serde_json::Value) -> Result<Value, Diagnostics>;
    /// The object as it is now; `None` when it is gone.
    async fn read(&self, state: Value) -> (Option<Value>, Diagnostics);
    /// `prior` is `None` on create; `proposed` is `None` on destroy.
    async fn plan(
        &self,
        prior: Option<Value>,
        proposed: Option<Value>,
        config: Value,
        client: Client,
    ) -> Planned;
    /// Creates (`prior` is `None`), updates, or deletes (`planned` is `None`). On failure the
    /// diagnostics say why and the state returned is what is true now, where that is known.
    async fn apply(
        &self,
        prior: Option<Value>,
        planned: Option<Value>,
        config: Value,
    ) -> (Option<Value>, Diagnostics);
    /// The state of an existing object by its id.
    async fn import(&self, id: String) -> (Option<Value>, Diagnostics);
    /// What a create of `planned` that failed or was stopped part-way left, to keep in state
    /// (tainted: the next apply replaces it); `None` when it left nothing to keep.
    async fn partial(&self, planned: &Value) -> Option<Value> {
        let _ = planned;
        None
    }
}

/// A data source type.
#[async_trait]
pub trait DataSource: Send + Sync + 'static {
    fn schema(&self) -> Schema;
    async fn validate(&self, config: Value) -> Diagnostics;
    async fn read(&self, config: Value) -> (Option<Value>, Diagnostics);
}

/// One object a list resource found: its name (the managed resource's identity), a line to show
/// for it, and its whole state when Terraform asked for it.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    pub name: String,
    pub display_name: String,
    pub state: Option<Value>,
}

/// The objects of one managed resource type that exist, for `terraform query` (which can write
/// a `resource` and an `import` block for each).
#[async_trait]
pub trait ListResource: Send + Sync + 'static {
    /// The schema of a `list` block's `config {}` (its filters).
    fn schema(&self) -> Schema;
    async fn validate(&self, config: Value) -> Diagnostics;
    /// The objects `config` selects, at most `limit`, each with its state when `with_state`.
    async fn list(
        &self,
        config: Value,
        with_state: bool,
        limit: usize,
    ) -> (Vec<Listed>, Diagnostics);
}

/// Where an action's progress lines go, as it runs.
pub type ProgressSink = tokio::sync::mpsc::Sender<String>;

/// Something done once (power a node, reboot it), not an object kept in state: from an
/// `action_trigger` in a lifecycle block or `terraform apply -invoke`.
#[async_trait]
pub trait Action: Send + Sync + 'static {
    fn schema(&self) -> Schema;
    async fn validate(&self, config: Value) -> Diagnostics;
    /// Before an invocation is planned: `config` may still hold unknown values.
    async fn plan(&self, config: Value) -> Diagnostics;
    /// Does it, sending progress lines as it goes; errors say why it failed.
    async fn invoke(&self, config: Value, progress: ProgressSink) -> Diagnostics;
}

/// An ephemeral resource opened: its value (the configuration with the computed attributes
/// filled in), the opaque bytes Terraform hands back to renew and close it, and when to renew.
#[derive(Debug, Clone)]
pub struct Opened {
    pub result: Value,
    pub private: Vec<u8>,
    pub renew_at: Option<std::time::SystemTime>,
}

/// A value that lives only during one Terraform run, never in a plan or state (a BMC session).
#[async_trait]
pub trait EphemeralResource: Send + Sync + 'static {
    fn schema(&self) -> Schema;
    async fn validate(&self, config: Value) -> Diagnostics;
    async fn open(&self, config: Value) -> (Option<Opened>, Diagnostics);
    /// Keeps it alive: when to renew next, if ever.
    async fn renew(&self, private: Vec<u8>) -> (Option<std::time::SystemTime>, Diagnostics);
    async fn close(&self, private: Vec<u8>) -> Diagnostics;
}
