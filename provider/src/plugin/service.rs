//! The protocol's calls, each mapped to the provider's traits.

use std::collections::BTreeMap;
use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::proto::{self, provider_server};
use super::schema::Block;
use super::{
    Action, Client, DataSource, Diagnostics, EphemeralResource, ListResource, Provider, Resource,
    Value,
};

pub(crate) struct Service {
    provider: Arc<dyn Provider>,
    resources: BTreeMap<String, Arc<dyn Resource>>,
    data_sources: BTreeMap<String, Arc<dyn DataSource>>,
    lists: BTreeMap<String, Arc<dyn ListResource>>,
    actions: BTreeMap<String, Arc<dyn Action>>,
    ephemeral: BTreeMap<String, Arc<dyn EphemeralResource>>,
    /// Set by `StopProvider` (Ctrl-C in Terraform): operations in progress are abandoned.
    stop: tokio::sync::watch::Sender<bool>,
}

/// What an operation abandoned at `StopProvider` says.
const STOPPED: &str = "Terraform asked the provider to stop (interrupt): the operation was abandoned part-way. \
     What it had done stays done; the next apply plans again from the live state, and leases it held \
     are taken over once this provider process has exited.";

/// One call's kind and type name, for "no such type" errors.
#[allow(clippy::result_large_err)]
fn find<'a, T: ?Sized>(
    map: &'a BTreeMap<String, Arc<T>>,
    kind: &str,
    name: &str,
) -> Result<&'a Arc<T>, Status> {
    map.get(name)
        .ok_or_else(|| Status::not_found(format!("this provider has no {kind} type {name}")))
}

impl Service {
    pub(crate) fn new(provider: Arc<dyn Provider>) -> Self {
        Service {
            resources: provider.resources(),
            data_sources: provider.data_sources(),
            lists: provider.list_resources(),
            actions: provider.actions(),
            ephemeral: provider.ephemeral_resources(),
            stop: tokio::sync::watch::channel(false).0,
            provider,
        }
    }

    /// Runs `op` unless and until `StopProvider` comes: `None` when it was stopped.
    async fn until_stopped<T>(&self, op: impl std::future::Future<Output = T>) -> Option<T> {
        let mut stopped = self.stop.subscribe();
        if *stopped.borrow() {
            return None;
        }
        tokio::select! {
            done = op => Some(done),
            _ = stopped.wait_for(|s| *s) => None,
        }
    }

    // `Status` is what every call returns to tonic; boxing it here would only be undone there.
    #[allow(clippy::result_large_err)]
    fn resource(&self, name: &str) -> Result<&Arc<dyn Resource>, Status> {
        self.resources
            .get(name)
            .ok_or_else(|| Status::not_found(format!("this provider has no resource type {name}")))
    }

    #[allow(clippy::result_large_err)]
    fn data_source(&self, name: &str) -> Result<&Arc<dyn DataSource>, Status> {
        self.data_sources.get(name).ok_or_else(|| {
            Status::not_found(format!("this provider has no data source type {name}"))
        })
    }
}

fn client(c: Option<proto::ClientCapabilities>) -> Client {
    Client {
        write_only: c.is_some_and(|c| c.write_only_attributes_allowed),
    }
}

/// A value Terraform sent; an undecodable one is an error diagnostic.
fn decode(v: Option<proto::DynamicValue>, diags: &mut Diagnostics) -> Option<Value> {
    let v = v.unwrap_or_default();
    let r = if !v.msgpack.is_empty() {
        Value::from_msgpack(&v.msgpack)
    } else if !v.json.is_empty() {
        serde_json::from_slice::<serde_json::Value>(&v.json)
            .map(|j| Value::from_json(&j))
            .map_err(|e| super::value::DecodeError(e.to_string()))
    } else {
        Ok(Value::Null)
    };
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            diags.root_error("Invalid value from Terraform", e.to_string());
            None
        }
    }
}

fn object(v: Value) -> Option<Value> {
    (!v.is_null()).then_some(v)
}

fn encode(v: &Option<Value>) -> Option<proto::DynamicValue> {
    Some(proto::DynamicValue {
        msgpack: v.as_ref().unwrap_or(&Value::Null).to_msgpack(),
        json: Vec::new(),
    })
}

/// Write-only attributes set to null, as Terraform requires of every plan and state.
fn without_write_only(v: &mut Option<Value>, block: &Block) {
    if let Some(v) = v {
        for path in block.write_only() {
            null_at(v, &path);
        }
    }
}

fn null_at(v: &mut Value, path: &[String]) {
    let Value::Map(m) = v else { return };
    match path {
        [] => {}
        [last] => {
            if let Some(x) = m.get_mut(last) {
                *x = Value::Null;
            }
        }
        [first, rest @ ..] => match m.get_mut(first) {
            Some(Value::List(items)) => items.iter_mut().for_each(|i| null_at(i, rest)),
            Some(other) => null_at(other, rest),
            None => {}
        },
    }
}

/// Every resource is identified by its `name` (the provider's project is implied, as for an
/// import by id). Terraform 1.12 and later keep it beside the state and import by it.
const IDENTITY_VERSION: i64 = 0;

fn identity_schema() -> proto::ResourceIdentitySchema {
    proto::ResourceIdentitySchema {
        version: IDENTITY_VERSION,
        identity_attributes: vec![proto::resource_identity_schema::IdentityAttribute {
            name: "name".into(),
            r#type: br#""string""#.to_vec(),
            required_for_import: true,
            optional_for_import: false,
            description:
                "The object's name, unique in the inventory (in the provider's project, for hosts)."
                    .into(),
        }],
    }
}

/// The identity of an object: its name, once known.
fn identity_of(state: &Option<Value>) -> Option<proto::ResourceIdentityData> {
    let Some(Value::Map(m)) = state else {
        return None;
    };
    let Some(Value::String(name)) = m.get("name") else {
        return None;
    };
    let id = Value::Map(BTreeMap::from([(
        "name".to_string(),
        Value::String(name.clone()),
    )]));
    Some(proto::ResourceIdentityData {
        identity_data: encode(&Some(id)),
    })
}

/// The name an import by identity names.
fn name_from_identity(
    identity: Option<proto::ResourceIdentityData>,
    diags: &mut Diagnostics,
) -> Option<String> {
    let data = identity?.identity_data;
    match decode(data, diags)? {
        Value::Map(m) => match m.get("name") {
            Some(Value::String(n)) if !n.is_empty() => Some(n.clone()),
            _ => {
                diags.root_error(
                    "Invalid identity",
                    "the identity needs a name: identity = { name = \"…\" }",
                );
                None
            }
        },
        _ => {
            diags.root_error("Invalid identity", "the identity is not an object");
            None
        }
    }
}

type R<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl provider_server::Provider for Service {
    async fn get_metadata(
        &self,
        _: Request<proto::get_metadata::Request>,
    ) -> R<proto::get_metadata::Response> {
        use proto::get_metadata as m;
        Ok(Response::new(m::Response {
            server_capabilities: Some(capabilities()),
            diagnostics: Vec::new(),
            data_sources: self
                .data_sources
                .keys()
                .map(|k| m::DataSourceMetadata {
                    type_name: k.clone(),
                })
                .collect(),
            resources: self
                .resources
                .keys()
                .map(|k| m::ResourceMetadata {
                    type_name: k.clone(),
                })
                .collect(),
            ephemeral_resources: self
                .ephemeral
                .keys()
                .map(|k| m::EphemeralResourceMetadata {
                    type_name: k.clone(),
                })
                .collect(),
            list_resources: self
                .lists
                .keys()
                .map(|k| m::ListResourceMetadata {
                    type_name: k.clone(),
                })
                .collect(),
            actions: self
                .actions
                .keys()
                .map(|k| m::ActionMetadata {
                    type_name: k.clone(),
                })
                .collect(),
        }))
    }

    async fn get_provider_schema(
        &self,
        _: Request<proto::get_provider_schema::Request>,
    ) -> R<proto::get_provider_schema::Response> {
        Ok(Response::new(proto::get_provider_schema::Response {
            provider: Some(self.provider.schema().to_proto()),
            resource_schemas: self
                .resources
                .iter()
                .map(|(k, r)| (k.clone(), r.schema().to_proto()))
                .collect(),
            data_source_schemas: self
                .data_sources
                .iter()
                .map(|(k, d)| (k.clone(), d.schema().to_proto()))
                .collect(),
            diagnostics: Vec::new(),
            provider_meta: None,
            server_capabilities: Some(capabilities()),
            ephemeral_resource_schemas: self
                .ephemeral
                .iter()
                .map(|(k, e)| (k.clone(), e.schema().to_proto()))
                .collect(),
            list_resource_schemas: self
                .lists
                .iter()
                .map(|(k, l)| (k.clone(), l.schema().to_proto()))
                .collect(),
            action_schemas: self
                .actions
                .iter()
                .map(|(k, a)| {
                    let schema = Some(a.schema().to_proto());
                    (k.clone(), proto::ActionSchema { schema })
                })
                .collect(),
        }))
    }

    async fn get_resource_identity_schemas(
        &self,
        _: Request<proto::get_resource_identity_schemas::Request>,
    ) -> R<proto::get_resource_identity_schemas::Response> {
        Ok(Response::new(
            proto::get_resource_identity_schemas::Response {
                identity_schemas: self
                    .resources
                    .keys()
                    .map(|k| (k.clone(), identity_schema()))
                    .collect(),
                diagnostics: Vec::new(),
            },
        ))
    }

    async fn validate_provider_config(
        &self,
        req: Request<proto::validate_provider_config::Request>,
    ) -> R<proto::validate_provider_config::Response> {
        let mut diags = Diagnostics::default();
        if let Some(config) = decode(req.into_inner().config, &mut diags) {
            diags.extend(self.provider.validate(config).await);
        }
        Ok(Response::new(proto::validate_provider_config::Response {
            diagnostics: diags.to_proto(),
        }))
    }

    async fn configure_provider(
        &self,
        req: Request<proto::configure_provider::Request>,
    ) -> R<proto::configure_provider::Response> {
        let req = req.into_inner();
        let mut diags = Diagnostics::default();
        if let Some(config) = decode(req.config, &mut diags) {
            diags.extend(self.provider.configure(req.terraform_version, config).await);
        }
        Ok(Response::new(proto::configure_provider::Response {
            diagnostics: diags.to_proto(),
        }))
    }

    async fn validate_resource_config(
        &self,
        req: Request<proto::validate_resource_config::Request>,
    ) -> R<proto::validate_resource_config::Response> {
        let req = req.into_inner();
        let r = self.resource(&req.type_name)?;
        let mut diags = Diagnostics::default();
        if let Some(config) = decode(req.config, &mut diags) {
            diags.extend(r.validate(config, client(req.client_capabilities)).await);
        }
        Ok(Response::new(proto::validate_resource_config::Response {
            diagnostics: diags.to_proto(),
        }))
    }

    async fn validate_data_resource_config(
        &self,
        req: Request<proto::validate_data_resource_config::Request>,
    ) -> R<proto::validate_data_resource_config::Response> {
        let req = req.into_inner();
        let d = self.data_source(&req.type_name)?;
        let mut diags = Diagnostics::default();
        if let Some(config) = decode(req.config, &mut diags) {
            diags.extend(d.validate(config).await);
        }
        Ok(Response::new(
            proto::validate_data_resource_config::Response {
                diagnostics: diags.to_proto(),
            },
        ))
    }

    async fn upgrade_resource_state(
        &self,
        req: Request<proto::upgrade_resource_state::Request>,
    ) -> R<proto::upgrade_resource_state::Response> {
        let req = req.into_inner();
        let r = self.resource(&req.type_name)?;
        let raw = req.raw_state.unwrap_or_default();
        let mut diags = Diagnostics::default();
        let state = if raw.json.is_empty() {
            diags.root_error(
                "Cannot upgrade this state",
                if raw.flatmap.is_empty() {
                    "the stored state is empty"
                } else {
                    "the state is in the flatmap format of Terraform 0.11, which this provider never wrote"
                },
            );
            None
        } else {
            match serde_json::from_slice::<serde_json::Value>(&raw.json) {
                Ok(j) => match r.upgrade(req.version, &j) {
                    Ok(v) => Some(v),
                    Err(d) => {
                        diags.extend(d);
                        None
                    }
                },
                Err(e) => {
                    diags.root_error("Cannot read the stored state", e.to_string());
                    None
                }
            }
        };
        let mut state = state;
        without_write_only(&mut state, &r.schema().block);
        Ok(Response::new(proto::upgrade_resource_state::Response {
            upgraded_state: state.is_some().then(|| encode(&state)).flatten(),
            diagnostics: diags.to_proto(),
        }))
    }

    async fn read_resource(
        &self,
        req: Request<proto::read_resource::Request>,
    ) -> R<proto::read_resource::Response> {
        let req = req.into_inner();
        let r = self.resource(&req.type_name)?;
        let mut diags = Diagnostics::default();
        let Some(current) = decode(req.current_state.clone(), &mut diags) else {
            return Ok(Response::new(proto::read_resource::Response {
                new_state: req.current_state,
                diagnostics: diags.to_proto(),
                private: req.private,
                new_identity: None,
            }));
        };
        let (mut state, d) = r.read(current).await;
        diags.extend(d);
        without_write_only(&mut state, &r.schema().block);
        Ok(Response::new(proto::read_resource::Response {
            new_identity: identity_of(&state),
            new_state: encode(&state),
            diagnostics: diags.to_proto(),
            private: req.private,
        }))
    }

    async fn plan_resource_change(
        &self,
        req: Request<proto::plan_resource_change::Request>,
    ) -> R<proto::plan_resource_change::Response> {
        let req = req.into_inner();
        let r = self.resource(&req.type_name)?;
        let mut diags = Diagnostics::default();
        let (Some(prior), Some(proposed), Some(config)) = (
            decode(req.prior_state, &mut diags),
            decode(req.proposed_new_state, &mut diags),
            decode(req.config, &mut diags),
        ) else {
            return Ok(Response::new(proto::plan_resource_change::Response {
                diagnostics: diags.to_proto(),
                ..Default::default()
            }));
        };
        let mut planned = r
            .plan(
                object(prior),
                object(proposed),
                config,
                client(req.client_capabilities),
            )
            .await;
        diags.extend(std::mem::take(&mut planned.diags));
        without_write_only(&mut planned.state, &r.schema().block);
        Ok(Response::new(proto::plan_resource_change::Response {
            planned_identity: identity_of(&planned.state),
            planned_state: encode(&planned.state),
            requires_replace: planned.replace.iter().map(|p| p.to_proto()).collect(),
            planned_private: req.prior_private,
            diagnostics: diags.to_proto(),
        }))
    }

    async fn apply_resource_change(
        &self,
        req: Request<proto::apply_resource_change::Request>,
    ) -> R<proto::apply_resource_change::Response> {
        let req = req.into_inner();
        let r = self.resource(&req.type_name)?;
        let mut diags = Diagnostics::default();
        let (Some(prior), Some(planned), Some(config)) = (
            decode(req.prior_state.clone(), &mut diags),
            decode(req.planned_state.clone(), &mut diags),
            decode(req.config, &mut diags),
        ) else {
            // Nothing was done: the prior state stands.
            return Ok(Response::new(proto::apply_resource_change::Response {
                new_state: req.prior_state,
                diagnostics: diags.to_proto(),
                ..Default::default()
            }));
        };
        let prior_state = req.prior_state.clone();
        // A create stopped before it began made nothing to keep.
        let creating = prior.is_null() && !*self.stop.borrow();
        let planned_v = planned.clone();
        let Some((mut state, d)) = self
            .until_stopped(r.apply(object(prior), object(planned), config))
            .await
        else {
            diags.root_error("Interrupted", STOPPED);
            // The prior state stands; a create keeps what it made so far (tainted), if anything.
            let mut new_state = prior_state;
            if creating {
                let mut partial = r.partial(&planned_v).await;
                without_write_only(&mut partial, &r.schema().block);
                if partial.is_some() {
                    new_state = encode(&partial);
                }
            }
            return Ok(Response::new(proto::apply_resource_change::Response {
                new_state,
                diagnostics: diags.to_proto(),
                ..Default::default()
            }));
        };
        diags.extend(d);
        without_write_only(&mut state, &r.schema().block);
        Ok(Response::new(proto::apply_resource_change::Response {
            new_identity: identity_of(&state),
            new_state: encode(&state),
            private: req.planned_private,
            diagnostics: diags.to_proto(),
        }))
    }

    async fn import_resource_state(
        &self,
        req: Request<proto::import_resource_state::Request>,
    ) -> R<proto::import_resource_state::Response> {
        let req = req.into_inner();
        let r = self.resource(&req.type_name)?;
        let mut diags = Diagnostics::default();
        // By id (`terraform import ADDR NAME`, `import { id = … }`) or by identity
        // (`import { identity = { name = … } }`, Terraform 1.12 and later).
        let id = match req.identity {
            Some(identity) if req.id.is_empty() => name_from_identity(Some(identity), &mut diags),
            _ => Some(req.id),
        };
        let mut state = None;
        if let Some(id) = id {
            let (s, d) = r.import(id).await;
            state = s;
            diags.extend(d);
        }
        without_write_only(&mut state, &r.schema().block);
        let imported = match state {
            Some(_) => vec![proto::import_resource_state::ImportedResource {
                type_name: req.type_name.clone(),
                identity: identity_of(&state),
                state: encode(&state),
                private: Vec::new(),
            }],
            None => Vec::new(),
        };
        Ok(Response::new(proto::import_resource_state::Response {
            imported_resources: imported,
            diagnostics: diags.to_proto(),
        }))
    }

    async fn read_data_source(
        &self,
        req: Request<proto::read_data_source::Request>,
    ) -> R<proto::read_data_source::Response> {
        let req = req.into_inner();
        let d = self.data_source(&req.type_name)?;
        let mut diags = Diagnostics::default();
        let Some(config) = decode(req.config, &mut diags) else {
            return Ok(Response::new(proto::read_data_source::Response {
                state: None,
                diagnostics: diags.to_proto(),
            }));
        };
        let (state, more) = d.read(config).await;
        diags.extend(more);
        Ok(Response::new(proto::read_data_source::Response {
            state: encode(&state),
            diagnostics: diags.to_proto(),
        }))
    }

    type ListResourceStream =
        tokio_stream::Iter<std::vec::IntoIter<Result<proto::list_resource::Event, Status>>>;

    async fn list_resource(
        &self,
        req: Request<proto::list_resource::Request>,
    ) -> R<Self::ListResourceStream> {
        use proto::list_resource::Event;
        let req = req.into_inner();
        let l = find(&self.lists, "list resource", &req.type_name)?;
        let r = self.resource(&req.type_name)?;
        let mut diags = Diagnostics::default();
        let mut events = Vec::new();
        if let Some(config) = decode(req.config, &mut diags) {
            // Terraform stops reading at its limit too; a limit of 0 or less asks for none.
            let limit = usize::try_from(req.limit.max(0)).unwrap_or(usize::MAX);
            let (found, d) = l.list(config, req.include_resource_object, limit).await;
            diags.extend(d);
            let block = r.schema().block;
            for item in found.into_iter().take(limit) {
                let name = Value::Map(BTreeMap::from([(
                    "name".to_string(),
                    Value::String(item.name.clone()),
                )]));
                let mut state = item.state;
                without_write_only(&mut state, &block);
                events.push(Ok(Event {
                    identity: identity_of(&Some(name)),
                    display_name: item.display_name,
                    resource_object: req
                        .include_resource_object
                        .then(|| encode(&state))
                        .flatten(),
                    diagnostic: Vec::new(),
                }));
            }
        }
        // Problems travel first, as one event of their own (Terraform stops reading at its limit,
        // and an error ends the listing).
        if !diags.is_empty() {
            events.insert(
                0,
                Ok(Event {
                    identity: None,
                    display_name: String::new(),
                    resource_object: None,
                    diagnostic: diags.to_proto(),
                }),
            );
        }
        Ok(Response::new(tokio_stream::iter(events)))
    }

    async fn validate_list_resource_config(
        &self,
        req: Request<proto::validate_list_resource_config::Request>,
    ) -> R<proto::validate_list_resource_config::Response> {
        let req = req.into_inner();
        let l = find(&self.lists, "list resource", &req.type_name)?;
        let mut diags = Diagnostics::default();
        if let Some(config) = decode(req.config, &mut diags) {
            diags.extend(l.validate(config).await);
        }
        Ok(Response::new(
            proto::validate_list_resource_config::Response {
                diagnostics: diags.to_proto(),
            },
        ))
    }

    async fn validate_action_config(
        &self,
        req: Request<proto::validate_action_config::Request>,
    ) -> R<proto::validate_action_config::Response> {
        let req = req.into_inner();
        let a = find(&self.actions, "action", &req.action_type)?;
        let mut diags = Diagnostics::default();
        if let Some(config) = decode(req.config, &mut diags) {
            diags.extend(a.validate(config).await);
        }
        Ok(Response::new(proto::validate_action_config::Response {
            diagnostics: diags.to_proto(),
        }))
    }

    async fn plan_action(
        &self,
        req: Request<proto::plan_action::Request>,
    ) -> R<proto::plan_action::Response> {
        let req = req.into_inner();
        let a = find(&self.actions, "action", &req.action_type)?;
        let mut diags = Diagnostics::default();
        if let Some(config) = decode(req.config, &mut diags) {
            diags.extend(a.plan(config).await);
        }
        Ok(Response::new(proto::plan_action::Response {
            diagnostics: diags.to_proto(),
        }))
    }

    type InvokeActionStream =
        tokio_stream::wrappers::ReceiverStream<Result<proto::invoke_action::Event, Status>>;

    async fn invoke_action(
        &self,
        req: Request<proto::invoke_action::Request>,
    ) -> R<Self::InvokeActionStream> {
        use proto::invoke_action::event::{Completed, Progress, Type};
        use proto::invoke_action::Event;
        let req = req.into_inner();
        let a = find(&self.actions, "action", &req.action_type)?.clone();
        let (events, rx) = tokio::sync::mpsc::channel(16);
        let mut stopped = self.stop.subscribe();
        tokio::spawn(async move {
            let mut diags = Diagnostics::default();
            if let Some(config) = decode(req.config, &mut diags) {
                // Progress lines are forwarded as they come; the run ends with one `completed`.
                let (progress, mut lines) = tokio::sync::mpsc::channel::<String>(16);
                let forward = {
                    let events = events.clone();
                    tokio::spawn(async move {
                        while let Some(message) = lines.recv().await {
                            let event = Event {
                                r#type: Some(Type::Progress(Progress { message })),
                            };
                            if events.send(Ok(event)).await.is_err() {
                                break;
                            }
                        }
                    })
                };
                // Run on its own task: a panic in it is an error of the action, never a success.
                let mut run = tokio::spawn(async move { a.invoke(config, progress).await });
                tokio::select! {
                    d = &mut run => match d {
                        Ok(d) => diags.extend(d),
                        Err(e) => diags.root_error("The action failed", format!("it stopped unexpectedly: {e}")),
                    },
                    _ = async {
                        // A provider shutting down (the sender gone) is no stop request.
                        if stopped.wait_for(|s| *s).await.is_err() {
                            std::future::pending::<()>().await;
                        }
                    } => {
                        run.abort();
                        diags.root_error("Interrupted", STOPPED);
                    }
                }
                let _ = forward.await;
            }
            let done = Event {
                r#type: Some(Type::Completed(Completed {
                    diagnostics: diags.to_proto(),
                })),
            };
            let _ = events.send(Ok(done)).await;
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(
            rx,
        )))
    }

    async fn validate_ephemeral_resource_config(
        &self,
        req: Request<proto::validate_ephemeral_resource_config::Request>,
    ) -> R<proto::validate_ephemeral_resource_config::Response> {
        let req = req.into_inner();
        let e = find(&self.ephemeral, "ephemeral resource", &req.type_name)?;
        let mut diags = Diagnostics::default();
        if let Some(config) = decode(req.config, &mut diags) {
            diags.extend(e.validate(config).await);
        }
        Ok(Response::new(
            proto::validate_ephemeral_resource_config::Response {
                diagnostics: diags.to_proto(),
            },
        ))
    }

    async fn open_ephemeral_resource(
        &self,
        req: Request<proto::open_ephemeral_resource::Request>,
    ) -> R<proto::open_ephemeral_resource::Response> {
        let req = req.into_inner();
        let e = find(&self.ephemeral, "ephemeral resource", &req.type_name)?;
        let mut diags = Diagnostics::default();
        let mut out = proto::open_ephemeral_resource::Response::default();
        if let Some(config) = decode(req.config, &mut diags) {
            let (opened, d) = e.open(config).await;
            diags.extend(d);
            if let Some(o) = opened {
                out.result = encode(&Some(o.result));
                out.private = Some(o.private);
                out.renew_at = o.renew_at.map(timestamp);
            }
        }
        out.diagnostics = diags.to_proto();
        Ok(Response::new(out))
    }

    async fn renew_ephemeral_resource(
        &self,
        req: Request<proto::renew_ephemeral_resource::Request>,
    ) -> R<proto::renew_ephemeral_resource::Response> {
        let req = req.into_inner();
        let e = find(&self.ephemeral, "ephemeral resource", &req.type_name)?;
        let private = req.private.unwrap_or_default();
        let (renew_at, diags) = e.renew(private.clone()).await;
        Ok(Response::new(proto::renew_ephemeral_resource::Response {
            diagnostics: diags.to_proto(),
            renew_at: renew_at.map(timestamp),
            private: Some(private),
        }))
    }

    async fn close_ephemeral_resource(
        &self,
        req: Request<proto::close_ephemeral_resource::Request>,
    ) -> R<proto::close_ephemeral_resource::Response> {
        let req = req.into_inner();
        let e = find(&self.ephemeral, "ephemeral resource", &req.type_name)?;
        let diags = e.close(req.private.unwrap_or_default()).await;
        Ok(Response::new(proto::close_ephemeral_resource::Response {
            diagnostics: diags.to_proto(),
        }))
    }

    async fn stop_provider(
        &self,
        _: Request<proto::stop_provider::Request>,
    ) -> R<proto::stop_provider::Response> {
        // Every apply and action in progress is abandoned, and every one after refused.
        self.stop.send_replace(true);
        tracing::warn!("StopProvider: abandoning operations in progress");
        Ok(Response::new(proto::stop_provider::Response {
            error: String::new(),
        }))
    }
}

fn timestamp(t: std::time::SystemTime) -> proto::Timestamp {
    let d = t.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    proto::Timestamp {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}

fn capabilities() -> proto::ServerCapabilities {
    proto::ServerCapabilities {
        plan_destroy: false,
        get_provider_schema_optional: false,
        move_resource_state: false,
        generate_resource_config: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_only_values_are_nulled_in_blocks_too() {
        use crate::plugin::schema::{Attribute, NestedBlock, Presence, Type};
        let wo = |n: &str| Attribute {
            name: n.into(),
            ty: Type::String,
            description: String::new(),
            presence: Presence::Optional,
            sensitive: true,
            write_only: true,
            deprecated: false,
        };
        let block = Block {
            attributes: vec![wo("password_wo")],
            blocks: vec![NestedBlock {
                name: "port".into(),
                block: Block {
                    attributes: vec![wo("secret_wo")],
                    ..Block::default()
                },
                max_items: 0,
            }],
            description: String::new(),
        };
        let port = Value::Map(BTreeMap::from([(
            "secret_wo".to_string(),
            Value::String("s".into()),
        )]));
        let mut v = Some(Value::Map(BTreeMap::from([
            ("password_wo".to_string(), Value::String("p".into())),
            ("name".to_string(), Value::String("n".into())),
            ("port".to_string(), Value::List(vec![port.clone(), port])),
        ])));
        without_write_only(&mut v, &block);
        let Some(Value::Map(m)) = v else { panic!() };
        assert_eq!(m["password_wo"], Value::Null);
        assert_eq!(m["name"], Value::String("n".into()));
        let Value::List(ports) = &m["port"] else {
            panic!()
        };
        for p in ports {
            let Value::Map(p) = p else { panic!() };
            assert_eq!(p["secret_wo"], Value::Null);
        }
    }
}
