//! Actions (Terraform 1.14 and later): things done once, not kept in state. `baremetal_power`
//! powers a node on or off, power-cycles or reboots it, through the engine's
//! [`planner::power::set_power`] (leased, waited for, audited).

use std::time::Duration;

use async_trait::async_trait;
use planner::power::PowerChange;
use planner::schema::{parse_duration, ACTION_POWER};

use crate::engine::EngineCell;
use crate::plugin::schema::Schema;
use crate::plugin::{self, AttributePath, Diagnostics, ProgressSink};
use crate::value::{block, ValueAny};

pub struct Power {
    pub engine: EngineCell,
}

/// The action's configuration as far as it is known: each attribute `Some` once known.
struct Asked {
    node: Option<String>,
    change: Option<PowerChange>,
    timeout: Option<Duration>,
}

fn asked(config: &plugin::Value, diags: &mut Diagnostics) -> Asked {
    let get = |k: &str| match config {
        ValueAny::Map(m) => m.get(k).cloned().unwrap_or(ValueAny::Null),
        _ => ValueAny::Null,
    };
    let mut text = |k: &str| match get(k) {
        ValueAny::String(s) => Some(s),
        ValueAny::Null | ValueAny::Unknown => None,
        other => {
            let detail = format!("{k} is a string, not {other:?}");
            diags.error("Invalid value", detail, AttributePath::new(k));
            None
        }
    };
    let (node, power, timeout) = (text("node"), text("power"), text("timeout"));
    let change = power.and_then(|p| {
        let c = PowerChange::parse(&p);
        if c.is_none() {
            let detail = format!("power is \"on\", \"off\", \"cycle\" or \"reboot\", not {p:?}");
            diags.error("Invalid power", detail, AttributePath::new("power"));
        }
        c
    });
    let timeout = timeout.and_then(|t| match parse_duration(&t) {
        Ok(d) => Some(d),
        Err(e) => {
            let detail = format!("timeout {t:?}: {e}");
            diags.error("Invalid timeout", detail, AttributePath::new("timeout"));
            None
        }
    });
    Asked {
        node,
        change,
        timeout,
    }
}

#[async_trait]
impl plugin::Action for Power {
    fn schema(&self) -> Schema {
        Schema {
            version: 0,
            block: block(
                ACTION_POWER.attrs,
                ACTION_POWER.blocks,
                ACTION_POWER.description,
            ),
        }
    }

    async fn validate(&self, config: plugin::Value) -> Diagnostics {
        let mut diags = Diagnostics::default();
        asked(&config, &mut diags);
        diags
    }

    async fn plan(&self, config: plugin::Value) -> Diagnostics {
        let mut diags = Diagnostics::default();
        let a = asked(&config, &mut diags);
        // A node named now must be in the inventory: found at plan, not when it is invoked.
        if let (Some(node), Ok(e)) = (&a.node, self.engine.get()) {
            if let Err(err) = e.inv.node(node).await {
                diags.error("Unknown node", err.to_string(), AttributePath::new("node"));
            }
        }
        diags
    }

    async fn invoke(&self, config: plugin::Value, progress: ProgressSink) -> Diagnostics {
        let mut diags = Diagnostics::default();
        let a = asked(&config, &mut diags);
        let (Some(node), Some(change)) = (a.node, a.change) else {
            if !diags.is_empty() {
                return diags;
            }
            diags.root_error(
                "Incomplete action",
                "node and power are needed to change a node's power",
            );
            return diags;
        };
        let e = match self.engine.get() {
            Ok(e) => e,
            Err(p) => {
                diags.root_error(p.summary, p.detail);
                return diags;
            }
        };
        let limit = a.timeout.unwrap_or(e.default_timeout);
        let lines = move |line: String| {
            // A full channel (Terraform not reading) drops a progress line, never blocks the work.
            let _ = progress.try_send(line);
        };
        let who = format!("action baremetal_power {}", change.as_str());
        if let Err(err) =
            planner::power::set_power(&e.inv, &node, change, limit, &who, &lines).await
        {
            let detail = planner::bmc::redfish::client::error_chain(&err);
            diags.root_error(format!("Power {} failed", change.as_str()), detail);
        }
        diags
    }
}
