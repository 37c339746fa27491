//! Ephemeral resources (Terraform 1.10 and later): values that live for one run and never enter a
//! plan or state. `baremetal_bmc_session` opens a Redfish session on a node's BMC with the node's
//! sealed credentials ([`planner::session`]), keeps it alive while Terraform uses it, and closes
//! it at the end of the run.
//!
//! Terraform hands back only the opaque `private` bytes to renew and close: they hold a random
//! handle to the session kept in this process, never the token.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use planner::schema::EPHEMERAL_BMC_SESSION;
use planner::session::OpenSession;
use tokio::sync::Mutex;

use crate::engine::EngineCell;
use crate::plugin::schema::Schema;
use crate::plugin::{self, AttributePath, Diagnostics, Opened};
use crate::value::{schema, ValueAny};

/// Sessions open at once in one provider process: a bound, not a quota users meet (one per node
/// a configuration names).
const MAX_OPEN: usize = 1024;

/// How often a session is touched to keep it from idling out (Redfish's default timeout is 30
/// minutes; BMCs allow down to 30 seconds, which this does not serve).
const RENEW_EVERY: Duration = Duration::from_secs(5 * 60);

pub struct BmcSession {
    pub engine: EngineCell,
    open: Arc<Mutex<HashMap<String, Arc<OpenSession>>>>,
}

impl BmcSession {
    pub fn new(engine: EngineCell) -> Self {
        BmcSession {
            engine,
            open: Arc::default(),
        }
    }
}

fn node_of(config: &plugin::Value, diags: &mut Diagnostics) -> Option<String> {
    let ValueAny::Map(m) = config else {
        diags.root_error("Unexpected value", "expected an object");
        return None;
    };
    match m.get("node") {
        Some(ValueAny::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(ValueAny::Unknown) | None | Some(ValueAny::Null) => None,
        Some(other) => {
            let detail = format!("node is a node's name, not {other:?}");
            diags.error("Invalid node", detail, AttributePath::new("node"));
            None
        }
    }
}

/// A handle nobody can guess (it only ever travels between Terraform and this process).
fn handle() -> Result<String, ring::error::Unspecified> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 16];
    ring::rand::SystemRandom::new().fill(&mut b)?;
    Ok(hex::encode(b))
}

const WHO: &str = "terraform ephemeral baremetal_bmc_session";

#[async_trait]
impl plugin::EphemeralResource for BmcSession {
    fn schema(&self) -> Schema {
        schema(&EPHEMERAL_BMC_SESSION, 0)
    }

    async fn validate(&self, config: plugin::Value) -> Diagnostics {
        let mut diags = Diagnostics::default();
        node_of(&config, &mut diags);
        diags
    }

    async fn open(&self, config: plugin::Value) -> (Option<Opened>, Diagnostics) {
        let mut diags = Diagnostics::default();
        let Some(node) = node_of(&config, &mut diags) else {
            if diags.is_empty() {
                diags.error("Missing node", "name the node", AttributePath::new("node"));
            }
            return (None, diags);
        };
        let e = match self.engine.get() {
            Ok(e) => e,
            Err(p) => {
                diags.root_error(p.summary, p.detail);
                return (None, diags);
            }
        };
        if self.open.lock().await.len() >= MAX_OPEN {
            let detail = format!("{MAX_OPEN} BMC sessions are open in this run already");
            diags.root_error("Too many sessions", detail);
            return (None, diags);
        }
        let s = match planner::session::open(&e.inv, &node, WHO).await {
            Ok(s) => s,
            Err(err) => {
                let detail = planner::bmc::redfish::client::error_chain(&err);
                diags.error(
                    "Cannot open a BMC session",
                    detail,
                    AttributePath::new("node"),
                );
                return (None, diags);
            }
        };
        let Ok(id) = handle() else {
            s.close(&e.inv, WHO).await;
            diags.root_error(
                "Cannot open a BMC session",
                "no random numbers for its handle",
            );
            return (None, diags);
        };
        let result = ValueAny::Map(
            [
                ("node", node.clone()),
                ("url", s.url.clone()),
                ("token", s.session.token.expose().to_string()),
                ("session_uri", s.session.uri.clone()),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), ValueAny::String(v)))
            .collect(),
        );
        self.open.lock().await.insert(id.clone(), Arc::new(s));
        tracing::info!(node = %node, "BMC session opened");
        let opened = Opened {
            result,
            private: id.into_bytes(),
            renew_at: Some(SystemTime::now() + RENEW_EVERY),
        };
        (Some(opened), diags)
    }

    async fn renew(&self, private: Vec<u8>) -> (Option<SystemTime>, Diagnostics) {
        let mut diags = Diagnostics::default();
        let id = String::from_utf8_lossy(&private).to_string();
        // The session is taken out of the map's lock: one slow BMC holds up no other session.
        let found = self.open.lock().await.get(&id).cloned();
        match found {
            Some(s) => match s.renew().await {
                Ok(()) => return (Some(SystemTime::now() + RENEW_EVERY), diags),
                Err(err) => {
                    let detail = planner::bmc::redfish::client::error_chain(&err);
                    diags.root_error("The BMC session ended", detail);
                }
            },
            None => diags.root_error(
                "Unknown BMC session",
                "this provider process did not open it (or closed it already)",
            ),
        }
        (None, diags)
    }

    async fn close(&self, private: Vec<u8>) -> Diagnostics {
        let id = String::from_utf8_lossy(&private).to_string();
        let taken = self.open.lock().await.remove(&id);
        if let (Some(s), Ok(e)) = (taken, self.engine.get()) {
            let node = s.node.clone();
            s.close(&e.inv, WHO).await;
            tracing::info!(node = %node, "BMC session closed");
        }
        // Closing what is already closed is no error: Terraform may close once per walk.
        Diagnostics::default()
    }
}
