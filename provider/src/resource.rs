//! One tfplugin6 resource per shared spec: the Terraform protocol (plan, apply, read, import,
//! diagnostics) is handled here once; each resource kind only says what create, read, update and
//! delete mean for it, on plain JSON objects in the loader's shape.

use crate::plugin::{self, AttributePath, Client, Diagnostics, Planned, Schema};
use crate::value::ValueAny;
use async_trait::async_trait;
use planner::schema::{Presence, ResourceSpec};
use serde_json::{Map, Value};

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

    /// Whether an object of this kind is named `name` in the inventory.
    async fn exists(&self, e: &crate::engine::Engine, name: &str) -> Result<bool, Problem> {
        let mut key = Json::new();
        key.insert("name".into(), Value::String(name.to_string()));
        key.insert("id".into(), Value::String(name.to_string()));
        Ok(self.read(e, &key).await?.is_some())
    }

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
    /// Names this Terraform run holds in its state (upgraded, read, planned from a prior state,
    /// imported): a create of one of them replaces what the run owns (a tainted object,
    /// `-replace`), it does not claim another configuration's object.
    owned: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// Names whose create this process started on a free name: only what it made itself is kept
    /// in state when a create fails or is interrupted.
    made: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// Names planned for creation in this process (Terraform plans in a process of its own, each
    /// resource instance once): a second resource planning to create the same name is refused.
    planned_creates: std::sync::Mutex<std::collections::BTreeSet<String>>,
    /// One create of a name at a time in this process: its check and its create are one step
    /// for resources of one configuration applied in parallel.
    claiming: std::sync::Mutex<
        std::collections::BTreeMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>,
    >,
}

impl<H: Handler> SpecResource<H> {
    pub fn new(handler: H, engine: EngineCell) -> Self {
        SpecResource {
            handler,
            engine,
            owned: Default::default(),
            made: Default::default(),
            planned_creates: Default::default(),
            claiming: Default::default(),
        }
    }

    /// The lock of creates of `name` in this process.
    fn claim_lock(&self, name: &str) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        let mut m = self.claiming.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(name.to_string()).or_default().clone()
    }

    fn own(&self, v: &ValueAny) {
        if let ValueAny::Map(m) = v {
            if let Some(ValueAny::String(n)) = m.get("name") {
                if let Ok(mut o) = self.owned.lock() {
                    o.insert(n.clone());
                }
            }
        }
    }

    fn owns(&self, name: &str) -> bool {
        self.owned.lock().is_ok_and(|o| o.contains(name))
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
                    format!("expected an object, got {other:?}"),
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
    /// The refusal of a create whose name an object of the inventory has already, if it has.
    async fn taken(&self, engine: &crate::engine::Engine, name: &str) -> Option<Problem> {
        match self.handler.exists(engine, name).await {
            Ok(false) => None,
            Ok(true) => {
                let kind = self.handler.spec().name;
                Some(Problem::at(
                    "name",
                    "Name already taken",
                    format!(
                        "{kind} {name:?} already exists in the inventory (made by another configuration, \
                         by bmplan, or by another resource of this one): import it \
                         (import {{ to = {kind}.<name>, identity = {{ name = \"{name}\" }} }}, or \
                         terraform import {kind}.<name> {name}), or choose another name. \
                         It is not overwritten."
                    ),
                ))
            }
            Err(p) => Some(p),
        }
    }

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

impl<H: Handler> SpecResource<H> {
    async fn plan_create(
        &self,
        diags: &mut Diagnostics,
        mut planned: Obj,
        config: Obj,
    ) -> Option<Obj> {
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
        if let Some(ValueAny::String(name)) = planned.get("name") {
            if !self.owns(name) {
                if let Some(p) = self.taken(&engine, name).await {
                    self.report(diags, [p]);
                    return None;
                }
                let first = self
                    .planned_creates
                    .lock()
                    .is_ok_and(|mut p| p.insert(name.clone()));
                if !first {
                    let kind = self.handler.spec().name;
                    let p = Problem::at(
                        "name",
                        "Name claimed twice",
                        format!(
                            "another {kind} of this configuration creates {name:?} too: names are \
                             unique in the inventory, so one of them must have another name"
                        ),
                    );
                    self.report(diags, [p]);
                    return None;
                }
            }
        }
        Some(planned)
    }

    async fn plan_update(
        &self,
        diags: &mut Diagnostics,
        prior: Obj,
        mut planned: Obj,
        config: Obj,
    ) -> Option<(Obj, Vec<AttributePath>)> {
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
        // The name is the id: a new name is a new object, never a rename that would orphan the old
        // row under the new id.
        let replace = std::iter::once(&"name")
            .chain(out.replace.iter())
            .filter(|a| prior.get(**a) != planned.get(**a))
            .map(|a| AttributePath::new(a.to_string()))
            .collect();
        Some((planned, replace))
    }
}

#[async_trait]
impl<H: Handler> plugin::Resource for SpecResource<H> {
    fn schema(&self) -> Schema {
        value::schema(self.handler.spec(), 1)
    }

    async fn validate(&self, config: ValueAny, client: Client) -> Diagnostics {
        let mut diags = Diagnostics::default();
        let Some(config) = self.decode(&mut diags, config) else {
            return diags;
        };
        let spec = self.handler.spec();
        if !client.write_only {
            for a in spec.attrs.iter().filter(|a| a.write_only) {
                if config.get(a.name).is_some_and(|v| !v.is_null()) {
                    diags.error(
                        "Write-only attribute needs Terraform 1.11 or later",
                        format!(
                            "{} is write-only: this Terraform cannot keep it out of its state. Upgrade Terraform, or set {} instead (kept in the state).",
                            a.name,
                            a.name.trim_end_matches(planner::schema::WRITE_ONLY)
                        ),
                        AttributePath::new(a.name),
                    );
                }
            }
        }
        for a in spec.attrs.iter().filter(|a| a.deprecated) {
            if config.get(a.name).is_some_and(|v| !v.is_null()) {
                diags.warning(
                    "Deprecated argument",
                    format!(
                        "{0} is kept in Terraform's state and plans. Use {0}{1} (write-only, Terraform 1.11 and later), which never is.",
                        a.name,
                        planner::schema::WRITE_ONLY
                    ),
                    AttributePath::new(a.name),
                );
            }
        }
        let json = value::obj_to_json(&config);
        let unknown = |k: &str| matches!(config.get(k), Some(ValueAny::Unknown));
        // The rules bmplan's loader applies, then the resource's own.
        let mut problems = crate::engine::attr_problems(
            "Invalid configuration",
            planner::rules::resource_with_unknown(spec.name, &json, &unknown),
        );
        problems.extend(self.handler.validate(&json));
        self.report(&mut diags, problems);
        diags
    }

    fn upgrade(&self, _version: i64, state: &Value) -> Result<ValueAny, Diagnostics> {
        match state {
            Value::Object(m) => {
                // Terraform upgrades every object of its state first, refreshed or not.
                let v = ValueAny::Map(self.shape(m));
                self.own(&v);
                Ok(v)
            }
            other => {
                let mut d = Diagnostics::default();
                d.root_error(
                    "Cannot read the stored state",
                    format!("expected an object, got {other}"),
                );
                Err(d)
            }
        }
    }

    async fn read(&self, state: ValueAny) -> (Option<ValueAny>, Diagnostics) {
        self.own(&state);
        let mut diags = Diagnostics::default();
        let Some(prior) = self.decode(&mut diags, state.clone()) else {
            return (Some(state), diags);
        };
        let Some(engine) = self.engine(&mut diags) else {
            return (Some(state), diags);
        };
        let spec = self.handler.spec();
        match self
            .handler
            .read(&engine, &value::obj_to_json(&prior))
            .await
        {
            Ok(Some(live)) => {
                let mut live = self.shape(&live);
                value::settle(&mut live, &prior, spec.attrs, spec.blocks);
                // A password in state is only ever what the configuration gave: never read back.
                // Nor is the version of a write-only secret, which only the configuration has.
                for a in spec.attrs.iter().filter(|a| never_read(a)) {
                    live.insert(
                        a.name.to_string(),
                        prior.get(a.name).cloned().unwrap_or_default(),
                    );
                }
                (Some(ValueAny::Map(live)), diags)
            }
            Ok(None) => {
                tracing::info!(resource = spec.name, "object is gone: dropped from state");
                (None, diags)
            }
            Err(p) => {
                self.report(&mut diags, [p]);
                // The object is still there as far as we know: keep it.
                (Some(state), diags)
            }
        }
    }

    async fn plan(
        &self,
        prior: Option<ValueAny>,
        proposed: Option<ValueAny>,
        config: ValueAny,
        _client: Client,
    ) -> Planned {
        if let Some(p) = &prior {
            self.own(p);
        }
        let mut diags = Diagnostics::default();
        let Some(proposed) = proposed else {
            // Destroy: nothing to add.
            return Planned {
                state: None,
                replace: Vec::new(),
                diags,
            };
        };
        let (Some(planned), Some(config)) = (
            self.decode(&mut diags, proposed.clone()),
            self.decode(&mut diags, config),
        ) else {
            return Planned {
                state: Some(proposed),
                replace: Vec::new(),
                diags,
            };
        };
        let (state, replace) = match prior {
            None => (
                self.plan_create(&mut diags, planned, config).await,
                Vec::new(),
            ),
            Some(prior) => match self.decode(&mut diags, prior) {
                Some(prior) => match self.plan_update(&mut diags, prior, planned, config).await {
                    Some((p, r)) => (Some(p), r),
                    None => (None, Vec::new()),
                },
                None => (None, Vec::new()),
            },
        };
        Planned {
            state: Some(state.map(ValueAny::Map).unwrap_or(proposed)),
            replace,
            diags,
        }
    }

    async fn apply(
        &self,
        prior: Option<ValueAny>,
        planned: Option<ValueAny>,
        config: ValueAny,
    ) -> (Option<ValueAny>, Diagnostics) {
        let mut diags = Diagnostics::default();
        // Write-only values are in the configuration only: the handler gets them with the plan.
        let given = |planned: &Obj| {
            let mut j = value::obj_to_json(planned);
            if let ValueAny::Map(c) = &config {
                for a in self.handler.spec().attrs.iter().filter(|a| a.write_only) {
                    if let Some(v) = c.get(a.name).filter(|v| !v.is_null()) {
                        j.insert(a.name.to_string(), value::to_json(v));
                    }
                }
            }
            j
        };
        let Some(engine) = self.engine(&mut diags) else {
            return (prior, diags);
        };
        match (prior, planned) {
            (None, None) => (None, diags),
            (Some(prior_v), None) => {
                let Some(prior) = self.decode(&mut diags, prior_v.clone()) else {
                    return (Some(prior_v), diags);
                };
                let r = self
                    .handler
                    .delete(&engine, &value::obj_to_json(&prior))
                    .await;
                engine.invalidate().await;
                match r {
                    Ok(()) => (None, diags),
                    Err(p) => {
                        self.report(&mut diags, [p]);
                        // Not deleted: the object stays in state.
                        (Some(prior_v), diags)
                    }
                }
            }
            (None, Some(planned_v)) => {
                let Some(planned) = self.decode(&mut diags, planned_v) else {
                    return (None, diags);
                };
                // Claimed since the plan (another resource of this configuration with the same
                // name was created first): refused, never overwritten. The check and the create
                // hold the name's lock, so two creates of one name in this run are one after
                // the other.
                let name = match planned.get("name") {
                    Some(ValueAny::String(n)) => n.clone(),
                    _ => String::new(),
                };
                let lock = self.claim_lock(&name);
                let _claim = lock.lock().await;
                if let Some(p) = self.taken(&engine, &name).await {
                    self.report(&mut diags, [p]);
                    return (None, diags);
                }
                if let Ok(mut m) = self.made.lock() {
                    m.insert(name.clone());
                }
                let r = self.handler.create(&engine, &given(&planned)).await;
                let r = r.map_err(|p| at_given_secret(p, &config));
                engine.invalidate().await;
                let failed = r.is_err();
                let state = self.settle_applied(&mut diags, &planned, r);
                if failed {
                    // What the create made before it failed stays in state, tainted: the next
                    // apply replaces it rather than claiming its name a second time.
                    let planned = ValueAny::Map(planned);
                    if let Some(partial) = plugin::Resource::partial(self, &planned).await {
                        return (Some(partial), diags);
                    }
                }
                (state.map(ValueAny::Map), diags)
            }
            (Some(prior_v), Some(planned_v)) => {
                let (Some(prior), Some(planned)) = (
                    self.decode(&mut diags, prior_v.clone()),
                    self.decode(&mut diags, planned_v),
                ) else {
                    return (Some(prior_v), diags);
                };
                let r = self
                    .handler
                    .update(&engine, &value::obj_to_json(&prior), &given(&planned))
                    .await
                    .map_err(|p| at_given_secret(p, &config));
                engine.invalidate().await;
                match self.settle_applied(&mut diags, &planned, r) {
                    Some(state) => (Some(ValueAny::Map(state)), diags),
                    // Not updated: what was true before is what is known.
                    None => (Some(prior_v), diags),
                }
            }
        }
    }

    async fn partial(&self, planned: &ValueAny) -> Option<ValueAny> {
        let ValueAny::Map(m) = planned else {
            return None;
        };
        let Some(ValueAny::String(name)) = m.get("name") else {
            return None;
        };
        // Only what this process's create made: never another object of the same name.
        if !self.made.lock().is_ok_and(|m| m.contains(name)) {
            return None;
        }
        plugin::Resource::import(self, name.clone()).await.0
    }

    async fn import(&self, id: String) -> (Option<ValueAny>, Diagnostics) {
        let mut diags = Diagnostics::default();
        let Some(engine) = self.engine(&mut diags) else {
            return (None, diags);
        };
        match self.handler.import(&engine, &id).await {
            Ok(j) => {
                if let Ok(mut o) = self.owned.lock() {
                    o.insert(id.clone());
                }
                let spec = self.handler.spec();
                let mut state = self.shape(&j);
                value::nullify_empty(&mut state, spec.attrs, spec.blocks);
                // Passwords are not read back: the configuration gives them.
                for a in spec.attrs.iter().filter(|a| never_read(a)) {
                    state.insert(a.name.to_string(), ValueAny::Null);
                }
                (Some(ValueAny::Map(state)), diags)
            }
            Err(p) => {
                self.report(&mut diags, [p]);
                (None, diags)
            }
        }
    }
}

/// A problem with a secret (a refused login at `password`) placed at the form the configuration
/// used: `password_wo` when that is the one given.
fn at_given_secret(mut p: Problem, config: &ValueAny) -> Problem {
    if let (Some(path), ValueAny::Map(c)) = (&p.path, config) {
        let wo = format!("{path}{}", planner::schema::WRITE_ONLY);
        if c.get(&wo).is_some_and(|v| !v.is_null()) {
            p.path = Some(wo);
        }
    }
    p
}

/// Attributes only the configuration gives, never read back from the inventory: the passwords kept
/// in state for Terraform before 1.11 (`password`, `enable_password`) and the versions of
/// write-only secrets. (A host's `user_data` is read back, as its documentation says: it decides
/// whether an imported host would be redeployed.)
fn never_read(a: &planner::schema::AttrSpec) -> bool {
    a.deprecated
        || a.name
            .ends_with(&format!("{}_version", planner::schema::WRITE_ONLY))
}

/// A string attribute of a JSON object (the loader's reading of it).
pub use planner::load::text_of as s;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plugin::Resource as _;
    use crate::resources::node::NodeResource;

    fn node(extra: &[(&str, ValueAny)]) -> ValueAny {
        let mut m = Obj::new();
        for (k, v) in [
            ("name", "r1u01"),
            ("bmc_url", "https://127.0.0.1:40001"),
            ("username", "root"),
        ] {
            m.insert(k.into(), ValueAny::String(v.into()));
        }
        for (k, v) in extra {
            m.insert(k.to_string(), v.clone());
        }
        ValueAny::Map(m)
    }

    fn errors(d: &Diagnostics) -> Vec<(String, String)> {
        d.0.iter()
            .filter(|d| d.error)
            .map(|d| (format!("{:?}", d.path), d.detail.clone()))
            .collect()
    }

    const NEW: Client = Client { write_only: true };
    const OLD: Client = Client { write_only: false };

    #[tokio::test]
    async fn a_write_only_password_is_accepted_by_terraform_1_11_and_refused_before() {
        let r = SpecResource::new(NodeResource, EngineCell::default());
        let pw = ("password_wo", ValueAny::String("s3cret".into()));
        assert_eq!(
            errors(&r.validate(node(std::slice::from_ref(&pw)), NEW).await),
            vec![]
        );
        let e = errors(&r.validate(node(&[pw]), OLD).await);
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].0.contains("password_wo") && e[0].1.contains("Upgrade Terraform"),
            "{e:?}"
        );
    }

    #[tokio::test]
    async fn one_form_of_the_password_is_required_and_an_unknown_one_counts() {
        let r = SpecResource::new(NodeResource, EngineCell::default());
        let both = r
            .validate(
                node(&[
                    ("password_wo", ValueAny::String("a".into())),
                    ("password", ValueAny::String("a".into())),
                ]),
                NEW,
            )
            .await;
        assert!(
            errors(&both).iter().any(|(_, m)| m.contains("not both")),
            "{both:?}"
        );
        let neither = r.validate(node(&[]), NEW).await;
        assert!(
            errors(&neither)
                .iter()
                .any(|(_, m)| m.contains("password_wo is required")),
            "{neither:?}"
        );
        // `password_wo = var.x` while Terraform validates with variables unknown.
        let unknown = r
            .validate(node(&[("password_wo", ValueAny::Unknown)]), NEW)
            .await;
        assert_eq!(errors(&unknown), vec![]);
        // The legacy form: accepted with a deprecation warning.
        let legacy = r
            .validate(node(&[("password", ValueAny::String("a".into()))]), OLD)
            .await;
        assert_eq!(errors(&legacy), vec![]);
        assert!(legacy
            .0
            .iter()
            .any(|d| !d.error && d.summary == "Deprecated argument"));
    }
}
