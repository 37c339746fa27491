//! One tfplugin6 resource per shared spec: the Terraform protocol (plan, apply, read, import,
//! diagnostics) is handled here once; each resource kind only says what create, read, update and
//! delete mean for it, on plain JSON objects in the loader's shape.

use async_trait::async_trait;
use planner::schema::{Presence, ResourceSpec};
use serde_json::{Map, Value};
use tf_provider::schema::Schema;
use tf_provider::value::{ValueAny, ValueEmpty};
use tf_provider::{AttributePath, Diagnostics, Resource};

use crate::engine::{EngineCell, Problem};
use crate::value::{self, Obj};

pub type Json = Map<String, Value>;

/// What planning adds to Terraform's proposal.
#[derive(Debug, Default)]
pub struct PlanOut {
    /// Attributes whose change replaces the resource.
    pub replace: Vec<&'static str>,
    /// Warnings shown with the plan (disruptions: "this resets 3 nodes").
    pub warnings: Vec<Problem>,
}

/// What one resource kind does.
#[async_trait]
pub trait Handler: Send + Sync + 'static {
    fn spec(&self) -> &'static ResourceSpec;

    /// Checks on configuration alone (unknown values are absent).
    fn validate(&self, _config: &Json) -> Vec<Problem> {
        Vec::new()
    }

    /// Fills planned values Terraform cannot know (defaults, computed values) and checks the plan
    /// against live state. `prior` is `None` on create.
    async fn plan(
        &self,
        _e: &crate::engine::Engine,
        _prior: Option<&Json>,
        _config: &Obj,
        _planned: &mut Obj,
    ) -> Result<PlanOut, Vec<Problem>> {
        Ok(PlanOut::default())
    }

    /// The object as it is now; `None` when it no longer exists.
    async fn read(&self, e: &crate::engine::Engine, state: &Json) -> Result<Option<Json>, Problem>;
    async fn create(&self, e: &crate::engine::Engine, planned: &Json) -> Result<Json, Problem>;
    async fn update(
        &self,
        e: &crate::engine::Engine,
        prior: &Json,
        planned: &Json,
    ) -> Result<Json, Problem>;
    async fn delete(&self, e: &crate::engine::Engine, prior: &Json) -> Result<(), Problem>;

    /// The state of an existing object by name (or id); Terraform reads it right after.
    async fn import(&self, e: &crate::engine::Engine, id: &str) -> Result<Json, Problem> {
        let mut key = Json::new();
        key.insert("name".into(), Value::String(id.to_string()));
        key.insert("id".into(), Value::String(id.to_string()));
        self.read(e, &key).await?.ok_or_else(|| {
            Problem::root(
                "Cannot import a missing object",
                format!("{} {id:?} is not in the inventory", self.spec().name),
            )
        })
    }
}

pub struct SpecResource<H: Handler> {
    pub handler: H,
    pub engine: EngineCell,
}

impl<H: Handler> SpecResource<H> {
    pub fn new(handler: H, engine: EngineCell) -> Self {
        SpecResource { handler, engine }
    }

    fn report(&self, diags: &mut Diagnostics, problems: impl IntoIterator<Item = Problem>) {
        report(diags, self.handler.spec(), problems);
    }

    fn decode(&self, diags: &mut Diagnostics, v: ValueAny) -> Option<Obj> {
        match v {
            ValueAny::Map(m) => Some(m),
            ValueAny::Null => Some(Obj::new()),
            other => {
                diags.root_error(
                    "Unexpected value",
                    format!("expected an object, got {}", other.json()),
                );
                None
            }
        }
    }

    /// The configured engine, or `None` with the diagnostic said.
    fn engine(&self, diags: &mut Diagnostics) -> Option<std::sync::Arc<crate::engine::Engine>> {
        match self.engine.get() {
            Ok(e) => Some(e),
            Err(p) => {
                self.report(diags, [p]);
                None
            }
        }
    }

    fn shape(&self, j: &Json) -> Obj {
        let spec = self.handler.spec();
        value::from_json(j, spec.attrs, spec.blocks)
    }

    /// The state after create or update: planned values stand; what was unknown comes from what the
    /// handler returned. `None` with the diagnostic said when the handler failed.
    fn settle_applied(
        &self,
        diags: &mut Diagnostics,
        planned: &Obj,
        done: Result<Json, Problem>,
    ) -> Option<Obj> {
        let done = match done {
            Ok(d) => d,
            Err(p) => {
                self.report(diags, [p]);
                return None;
            }
        };
        let fresh = self.shape(&done);
        let mut out = planned.clone();
        for (k, v) in out.iter_mut() {
            if value::has_unknown(v) {
                *v = fresh.get(k).cloned().unwrap_or(ValueAny::Null);
            }
        }
        Some(out)
    }
}

/// Problems as diagnostics, at their attribute paths.
pub fn report(
    diags: &mut Diagnostics,
    spec: &ResourceSpec,
    problems: impl IntoIterator<Item = Problem>,
) {
    for p in problems {
        let path = match &p.path {
            Some(dotted) => value::path(dotted, spec.attrs, spec.blocks),
            None => AttributePath::root(),
        };
        if p.warning {
            diags.warning(p.summary, p.detail, path);
        } else {
            diags.error(p.summary, p.detail, path);
        }
    }
}

#[async_trait]
impl<H: Handler> Resource for SpecResource<H> {
    type State<'a> = ValueAny;
    type PrivateState<'a> = ValueEmpty;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        let spec = self.handler.spec();
        Some(Schema {
            version: 1,
            block: value::block(spec.attrs, spec.blocks, spec.description),
        })
    }

    async fn validate<'a>(&self, diags: &mut Diagnostics, config: ValueAny) -> Option<()> {
        let config = self.decode(diags, config)?;
        let json = value::obj_to_json(&config);
        // The rules bmplan's loader applies, then the resource's own.
        let mut problems = crate::engine::attr_problems(
            "Invalid configuration",
            planner::rules::resource(self.handler.spec().name, &json),
        );
        problems.extend(self.handler.validate(&json));
        self.report(diags, problems);
        Some(())
    }

    async fn read<'a>(
        &self,
        diags: &mut Diagnostics,
        state: ValueAny,
        private_state: ValueEmpty,
        _provider_meta_state: ValueEmpty,
    ) -> Option<(ValueAny, ValueEmpty)> {
        let prior = self.decode(diags, state.clone())?;
        let engine = self.engine(diags)?;
        let spec = self.handler.spec();
        match self
            .handler
            .read(&engine, &value::obj_to_json(&prior))
            .await
        {
            Ok(Some(live)) => {
                let mut live = self.shape(&live);
                value::settle(&mut live, &prior, spec.attrs, spec.blocks);
                Some((ValueAny::Map(live), private_state))
            }
            Ok(None) => {
                tracing::info!(resource = spec.name, "object is gone: dropped from state");
                None
            }
            Err(p) => {
                self.report(diags, [p]);
                // The object is still there as far as we know: keep it.
                Some((state, private_state))
            }
        }
    }

    async fn plan_create<'a>(
        &self,
        diags: &mut Diagnostics,
        proposed_state: ValueAny,
        config_state: ValueAny,
        _provider_meta_state: ValueEmpty,
    ) -> Option<(ValueAny, ValueEmpty)> {
        let mut planned = self.decode(diags, proposed_state)?;
        let config = self.decode(diags, config_state)?;
        let spec = self.handler.spec();
        for a in spec.attrs {
            let unset = config
                .get(a.name)
                .is_none_or(|v| matches!(v, ValueAny::Null));
            if a.presence == Presence::Computed
                || (a.presence == Presence::OptionalComputed && unset)
            {
                planned.insert(a.name.to_string(), ValueAny::Unknown);
            }
        }
        if let Some(ValueAny::String(n)) = planned.get("name").cloned() {
            planned.insert("id".into(), ValueAny::String(n));
        }
        let engine = self.engine(diags)?;
        match self
            .handler
            .plan(&engine, None, &config, &mut planned)
            .await
        {
            Ok(out) => self.report(diags, out.warnings),
            Err(problems) => {
                self.report(diags, problems);
                return None;
            }
        }
        Some((ValueAny::Map(planned), ValueEmpty::default()))
    }

    async fn plan_update<'a>(
        &self,
        diags: &mut Diagnostics,
        prior_state: ValueAny,
        proposed_state: ValueAny,
        config_state: ValueAny,
        prior_private_state: ValueEmpty,
        _provider_meta_state: ValueEmpty,
    ) -> Option<(ValueAny, ValueEmpty, Vec<AttributePath>)> {
        let config = self.decode(diags, config_state)?;
        let prior = self.decode(diags, prior_state)?;
        let mut planned = self.decode(diags, proposed_state)?;
        // The id is the prior's.
        if let Some(id) = prior.get("id") {
            planned.insert("id".into(), id.clone());
        }
        let engine = self.engine(diags)?;
        let prior_json = value::obj_to_json(&prior);
        let out = match self
            .handler
            .plan(&engine, Some(&prior_json), &config, &mut planned)
            .await
        {
            Ok(out) => out,
            Err(problems) => {
                self.report(diags, problems);
                return None;
            }
        };
        self.report(diags, out.warnings);
        let replace = out
            .replace
            .iter()
            .filter(|a| prior.get(**a) != planned.get(**a))
            .map(|a| AttributePath::new(a.to_string()))
            .collect();
        Some((ValueAny::Map(planned), prior_private_state, replace))
    }

    async fn plan_destroy<'a>(
        &self,
        _diags: &mut Diagnostics,
        _prior_state: ValueAny,
        prior_private_state: ValueEmpty,
        _provider_meta_state: ValueEmpty,
    ) -> Option<ValueEmpty> {
        Some(prior_private_state)
    }

    async fn create<'a>(
        &self,
        diags: &mut Diagnostics,
        planned_state: ValueAny,
        _config_state: ValueAny,
        planned_private_state: ValueEmpty,
        _provider_meta_state: ValueEmpty,
    ) -> Option<(ValueAny, ValueEmpty)> {
        let planned = self.decode(diags, planned_state)?;
        let engine = self.engine(diags)?;
        let r = self
            .handler
            .create(&engine, &value::obj_to_json(&planned))
            .await;
        engine.invalidate().await;
        let state = self.settle_applied(diags, &planned, r)?;
        Some((ValueAny::Map(state), planned_private_state))
    }

    async fn update<'a>(
        &self,
        diags: &mut Diagnostics,
        prior_state: ValueAny,
        planned_state: ValueAny,
        _config_state: ValueAny,
        planned_private_state: ValueEmpty,
        _provider_meta_state: ValueEmpty,
    ) -> Option<(ValueAny, ValueEmpty)> {
        let prior = self.decode(diags, prior_state)?;
        let planned = self.decode(diags, planned_state)?;
        let engine = self.engine(diags)?;
        let r = self
            .handler
            .update(
                &engine,
                &value::obj_to_json(&prior),
                &value::obj_to_json(&planned),
            )
            .await;
        engine.invalidate().await;
        let state = self.settle_applied(diags, &planned, r)?;
        Some((ValueAny::Map(state), planned_private_state))
    }

    async fn destroy<'a>(
        &self,
        diags: &mut Diagnostics,
        prior_state: ValueAny,
        _planned_private_state: ValueEmpty,
        _provider_meta_state: ValueEmpty,
    ) -> Option<()> {
        let prior = self.decode(diags, prior_state)?;
        let engine = self.engine(diags)?;
        let r = self
            .handler
            .delete(&engine, &value::obj_to_json(&prior))
            .await;
        engine.invalidate().await;
        match r {
            Ok(()) => Some(()),
            Err(p) => {
                self.report(diags, [p]);
                None
            }
        }
    }

    async fn import<'a>(
        &self,
        diags: &mut Diagnostics,
        id: String,
    ) -> Option<(ValueAny, ValueEmpty)> {
        let engine = self.engine(diags)?;
        match self.handler.import(&engine, &id).await {
            Ok(j) => {
                let spec = self.handler.spec();
                let mut state = self.shape(&j);
                value::nullify_empty(&mut state, spec.attrs, spec.blocks);
                Some((ValueAny::Map(state), ValueEmpty::default()))
            }
            Err(p) => {
                self.report(diags, [p]);
                None
            }
        }
    }
}

/// A string attribute of a JSON object (the loader's reading of it).
pub use planner::load::text_of as s;
