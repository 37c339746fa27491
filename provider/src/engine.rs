//! What `configure` builds and every resource shares: the open inventory acting as the configured
//! actor, TLS defaults, timeouts, and the fleet snapshot (the first read of a run observes every
//! configured node at once; later reads in the same run are served from it).

use std::path::PathBuf;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use planner::bmc::{Limits, TlsTrust};
use planner::credentials::CredentialsKey;
use planner::engine::{Catalog, EngineError, Prepared, Session, Source};
use planner::inventory::{Inventory, InventoryError, NodeTls};
use planner::observe::ObserveOptions;
use planner::project::Actor;
use planner::schema::{parse_duration, ProviderSettings};
use serde_json::{Map, Value};
use tokio::sync::Mutex;

/// A problem for Terraform: where (a dotted attribute path), what, and whether it only warns.
#[derive(Debug, Clone)]
pub struct Problem {
    pub path: Option<String>,
    pub summary: String,
    pub detail: String,
    pub warning: bool,
}

impl Problem {
    pub fn at(
        path: impl Into<String>,
        summary: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Problem {
            path: Some(path.into()),
            summary: summary.into(),
            detail: detail.into(),
            warning: false,
        }
    }

    pub fn root(summary: impl Into<String>, detail: impl Into<String>) -> Self {
        Problem {
            path: None,
            summary: summary.into(),
            detail: detail.into(),
            warning: false,
        }
    }

    pub fn warning(mut self) -> Self {
        self.warning = true;
        self
    }
}

impl From<InventoryError> for Problem {
    fn from(e: InventoryError) -> Self {
        let summary = match &e {
            InventoryError::NotFound { .. } => "Not found",
            InventoryError::Forbidden { .. } => "Permission denied",
            InventoryError::Conflict { .. } | InventoryError::LeaseHeld { .. } => "Conflict",
            InventoryError::NoCapacity { .. } => "No capacity",
            InventoryError::Quota { .. } => "Quota exceeded",
            InventoryError::Credentials(_) => "Credentials key",
            _ => "Inventory error",
        };
        Problem::root(summary, e.to_string())
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Fills what the provider block left unset from the `BAREMETAL_*` environment.
pub fn with_env(mut s: ProviderSettings) -> ProviderSettings {
    s.inventory = s.inventory.or_else(|| env("BAREMETAL_INVENTORY"));
    s.project = s.project.or_else(|| env("BAREMETAL_PROJECT"));
    s.role = s.role.or_else(|| env("BAREMETAL_ROLE"));
    if s.credentials_key.is_none() && s.credentials_key_file.is_none() {
        s.credentials_key = env("BAREMETAL_CREDENTIALS_KEY");
        s.credentials_key_file = env("BAREMETAL_CREDENTIALS_KEY_FILE");
    }
    s.ca_cert = s.ca_cert.or_else(|| env("BAREMETAL_CA_CERT"));
    s.insecure = s
        .insecure
        .or_else(|| env("BAREMETAL_INSECURE").map(|v| v == "true" || v == "1"));
    s.max_parallel = s
        .max_parallel
        .or_else(|| env("BAREMETAL_MAX_PARALLEL").and_then(|v| v.parse().ok()));
    s.default_timeout = s
        .default_timeout
        .or_else(|| env("BAREMETAL_DEFAULT_TIMEOUT"));
    s.media_listen = s.media_listen.or_else(|| env("BAREMETAL_MEDIA_LISTEN"));
    s.media_url = s.media_url.or_else(|| env("BAREMETAL_MEDIA_URL"));
    s
}

pub struct Engine {
    pub inv: Inventory,
    pub project: Option<String>,
    /// The provider's default trust of BMC certificates.
    pub tls: TlsTrust,
    pub max_parallel: usize,
    pub default_timeout: Duration,
    snapshot: Mutex<Option<Arc<Snapshot>>>,
    /// The deployment endpoint, started by the first deployment.
    media: tokio::sync::OnceCell<planner::host::MediaServer>,
    media_listen: String,
    media_url: Option<String>,
    /// Deployment plans as this run planned them, by `ref`: a host planned after its plan renders
    /// the template the apply will register (the inventory still holds the old one).
    pub planned_plans: std::sync::Mutex<
        std::collections::HashMap<String, planner::deploy::template::DeploymentPlan>,
    >,
}

/// One observation of every configured node, shared by the reads of a run.
pub struct Snapshot {
    pub catalog: Catalog,
    /// Every node's inventory record and recorded facts, read in two queries.
    pub records: std::collections::BTreeMap<String, planner::inventory::NodeRecord>,
    pub facts: std::collections::BTreeMap<String, planner::bmc::Inventory>,
    pub desired: planner::model::Desired,
    /// `None` when the fleet could not be planned as a whole (logged with why).
    pub prepared: Option<Prepared>,
}

impl Engine {
    /// Opens the engine the provider block (environment fallbacks applied) describes.
    pub async fn open(s: ProviderSettings) -> Result<Engine, Problem> {
        let key = match (&s.credentials_key, &s.credentials_key_file) {
            (Some(k), _) => Some(CredentialsKey::from_base64(k, "credentials_key").map_err(
                |e| Problem::at("credentials_key", "Invalid credentials key", e.to_string()),
            )?),
            (None, Some(f)) => Some(CredentialsKey::from_file(&PathBuf::from(f)).map_err(|e| {
                Problem::at(
                    "credentials_key_file",
                    "Invalid credentials key",
                    e.to_string(),
                )
            })?),
            (None, None) => None,
        };
        let actor = Actor::configured(
            env("BAREMETAL_USER").or(Some("terraform".into())),
            s.role.clone(),
            s.project.clone(),
        )
        .map_err(|e| Problem::at("role", "Invalid role", e))?;
        let url = planner::inventory::resolve_url(s.inventory.as_deref());
        let inv = Inventory::open(&url, actor, key)
            .await
            .map_err(|e| Problem::at("inventory", "Cannot open the inventory", e.to_string()))?;
        let tls = if s.insecure == Some(true) {
            TlsTrust::Insecure
        } else if let Some(ca) = &s.ca_cert {
            TlsTrust::CaBundle(PathBuf::from(ca))
        } else {
            TlsTrust::NoExtraRoots
        };
        let default_timeout = match &s.default_timeout {
            Some(t) => parse_duration(t)
                .map_err(|e| Problem::at("default_timeout", "Invalid duration", e))?,
            None => Duration::from_secs(1800),
        };
        tracing::info!(inventory = %planner::inventory::redact_url(&url), "provider configured");
        Ok(Engine {
            inv,
            project: s
                .project
                .clone()
                .and_then(|p| p.split(',').next().map(|x| x.trim().to_string())),
            tls,
            max_parallel: s.max_parallel.unwrap_or(10).max(1) as usize,
            default_timeout,
            snapshot: Mutex::new(None),
            planned_plans: Default::default(),
            media: tokio::sync::OnceCell::new(),
            media_listen: s
                .media_listen
                .clone()
                .unwrap_or_else(|| "127.0.0.1:0".into()),
            media_url: s.media_url.clone(),
        })
    }

    /// The deployment endpoint (config drives, callbacks), started on first use.
    pub async fn media(&self) -> Result<&planner::host::MediaServer, Problem> {
        self.media
            .get_or_try_init(|| async {
                planner::host::MediaServer::start(&self.media_listen, self.media_url.as_deref())
                    .await
                    .map_err(|e| {
                        Problem::at(
                            "media_listen",
                            "Deployment endpoint",
                            planner::bmc::redfish::client::error_chain(&e),
                        )
                    })
            })
            .await
    }

    pub fn limits(&self) -> Limits {
        Limits::default()
    }

    /// How a node's BMC certificate is trusted: the node's own settings, else the provider's.
    pub fn node_tls(&self, attrs: &Map<String, Value>) -> Result<NodeTls, Problem> {
        let s = |k: &str| attrs.get(k).and_then(Value::as_str).map(str::to_string);
        let read_pem = |path: &str, attr: &str| {
            std::fs::read_to_string(path)
                .map_err(|e| Problem::at(attr, "Cannot read the CA file", format!("{path}: {e}")))
        };
        if let Some(ca) = s("ca_cert") {
            return Ok(NodeTls {
                ca_cert_pem: Some(read_pem(&ca, "ca_cert")?),
                ..NodeTls::default()
            });
        }
        if let Some(fp) = s("fingerprint") {
            if planner::bmc::parse_fingerprint(&fp).is_none() {
                return Err(Problem::at(
                    "fingerprint",
                    "Invalid fingerprint",
                    "a SHA-256 fingerprint is 64 hex digits (colons allowed)",
                ));
            }
            return Ok(NodeTls {
                fingerprint: Some(fp),
                ..NodeTls::default()
            });
        }
        if attrs.get("insecure") == Some(&Value::Bool(true)) {
            return Ok(NodeTls {
                insecure: true,
                ..NodeTls::default()
            });
        }
        match &self.tls {
            TlsTrust::Insecure => Ok(NodeTls {
                insecure: true,
                ..NodeTls::default()
            }),
            TlsTrust::CaBundle(p) => Ok(NodeTls {
                ca_cert_pem: Some(read_pem(&p.display().to_string(), "ca_cert")?),
                ..NodeTls::default()
            }),
            _ => Ok(NodeTls::default()),
        }
    }

    /// The timeout of `op` (`create`, `update`, `delete`) from a `timeouts` block, else the default.
    pub fn timeout(&self, attrs: &Map<String, Value>, op: &str) -> Result<Duration, Problem> {
        let t = attrs
            .get("timeouts")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .and_then(|t| t.get(op))
            .and_then(Value::as_str);
        match t {
            Some(t) => parse_duration(t)
                .map_err(|e| Problem::at(format!("timeouts.0.{op}"), "Invalid duration", e)),
            None => Ok(self.default_timeout),
        }
    }

    /// The fleet snapshot: made by the first caller, shared by the rest until something changes.
    pub async fn snapshot(&self) -> Result<Arc<Snapshot>, Problem> {
        let mut guard = self.snapshot.lock().await;
        if let Some(s) = guard.as_ref() {
            return Ok(s.clone());
        }
        let started = std::time::Instant::now();
        let catalog = Catalog::read(&self.inv).await?;
        let names: Vec<String> = catalog.configs.keys().cloned().collect();
        let (desired, prepared, error) =
            match self.session().desired(self.source(&catalog, &names)).await {
                Ok((loaded, d)) => match self.session().prepare(loaded, d.clone()).await {
                    Ok(p) => (d, Some(p), None),
                    Err(e) => (d, None, Some(e.to_string())),
                },
                Err(e) => (
                    planner::model::Desired::default(),
                    None,
                    Some(e.to_string()),
                ),
            };
        tracing::info!(
            nodes = names.len(),
            seconds = started.elapsed().as_secs_f64(),
            "fleet snapshot"
        );
        if let Some(why) = &error {
            tracing::warn!(error = %why, "the fleet snapshot could not be planned; reads show the inventory only");
        }
        let records = self
            .inv
            .nodes(&planner::inventory::NodeFilter::default())
            .await?
            .into_iter()
            .map(|n| (n.name.clone(), n))
            .collect();
        let facts = self.inv.all_node_facts().await?;
        let s = Arc::new(Snapshot {
            catalog,
            records,
            facts,
            desired,
            prepared,
        });
        *guard = Some(s.clone());
        Ok(s)
    }

    /// Brings `nodes` to what the inventory says (profile, ports) through the engine's
    /// observe → diff → plan → apply, as one journaled run, within `limit`. Values a BMC cannot take
    /// are reported at `device_path(path)`.
    pub async fn converge(
        &self,
        nodes: &[String],
        limit: Duration,
        device_path: &(dyn Fn(&str) -> String + Sync),
    ) -> Result<planner::apply::ApplyReport, Problem> {
        if nodes.is_empty() {
            return Ok(Default::default());
        }
        let opts = planner::apply::ApplyOptions {
            max_parallel: self.max_parallel,
            wait_timeout: limit,
            power_timeout: limit,
            // Structured lines in PLUGIN_LOG_FILE (Terraform owns the terminal).
            progress: Arc::new(
                |p: &planner::apply::Progress| tracing::info!(event = %serde_json::to_string(p).unwrap_or_default(), "apply"),
            ),
            ..Default::default()
        };
        let work = async {
            self.session()
                .converge(nodes, opts)
                .await
                .map_err(|e| converge_problem(e, device_path))
        };
        crate::engine::within(limit, "applying the node configuration", work).await
    }

    /// An engine session over this provider's inventory.
    pub fn session(&self) -> Session<'_> {
        Session::new(&self.inv).observing(ObserveOptions::default())
    }

    /// The desired state of `nodes` as the inventory's catalog describes them.
    pub fn source<'a>(&self, catalog: &'a Catalog, nodes: &'a [String]) -> Source<'a> {
        Source::Inventory {
            catalog,
            nodes,
            max_parallel: self.max_parallel,
        }
    }

    /// Forgets the snapshot after a change, so the next read sees it.
    pub async fn invalidate(&self) {
        *self.snapshot.lock().await = None;
    }
}

/// A convergence error as a diagnostic: device refusals at their attribute.
pub fn converge_problem(e: EngineError, device_path: &(dyn Fn(&str) -> String + Sync)) -> Problem {
    match e {
        EngineError::Device(errs) => {
            let first = &errs[0];
            Problem::at(
                device_path(&first.path),
                "Value refused by the BMC",
                errs.iter()
                    .map(|e| e.to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        }
        EngineError::Inventory(i) => i.into(),
        other => Problem::root("Apply failed", other.to_string()),
    }
}

/// The engine once `configure` has run, shared by the provider and its resources.
#[derive(Clone, Default)]
pub struct EngineCell(Arc<RwLock<Option<Arc<Engine>>>>);

impl EngineCell {
    pub fn set(&self, e: Engine) {
        if let Ok(mut g) = self.0.write() {
            *g = Some(Arc::new(e));
        }
    }

    pub fn get(&self) -> Result<Arc<Engine>, Problem> {
        self.0.read().ok().and_then(|g| g.clone()).ok_or_else(|| {
            Problem::root(
                "Provider not configured",
                "The baremetal provider was used before its configuration was applied.",
            )
        })
    }
}

/// Runs `f` within `limit`, as a timeout the user can act on.
pub async fn within<T>(
    limit: std::time::Duration,
    what: &str,
    f: impl std::future::Future<Output = Result<T, Problem>>,
) -> Result<T, Problem> {
    match tokio::time::timeout(limit, f).await {
        Ok(r) => r,
        Err(_) => Err(Problem::root(
            "Timed out",
            format!(
                "{what} did not finish within {}s; raise it in the resource's timeouts block or the provider's default_timeout",
                limit.as_secs()
            ),
        )),
    }
}

/// Problems from the model's attribute checks.
pub fn attr_problems(summary: &str, errs: Vec<(String, String)>) -> Vec<Problem> {
    errs.into_iter()
        .map(|(path, m)| Problem::at(path, summary, m))
        .collect()
}
