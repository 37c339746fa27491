//! Actions (Terraform 1.14 and later): things done once, not kept in state, each an engine call
//! ([`planner::operation`]: leased, waited for, audited, refused in maintenance):
//! - `baremetal_power`: on, off, a power cycle, a reboot;
//! - `baremetal_firmware_update`: a one-off `SimpleUpdate`, its BMC task followed to the end;
//! - `baremetal_bmc_reset`: the BMC restarted, waited for until it answers again.

use std::time::Duration;

use async_trait::async_trait;
use planner::bmc::ApplyTime;
use planner::operation::{OperationError, PowerChange};
use planner::schema::{
    parse_duration, ResourceSpec, ACTION_BMC_RESET, ACTION_FIRMWARE_UPDATE, ACTION_POWER,
};

use crate::engine::{Engine, EngineCell};
use crate::plugin::schema::Schema;
use crate::plugin::{self, AttributePath, Diagnostics, ProgressSink};
use crate::value::{schema, ValueAny};

/// Which action, and how its configuration is read.
#[derive(Clone, Copy)]
pub enum Kind {
    Power,
    FirmwareUpdate,
    BmcReset,
}

impl Kind {
    fn spec(self) -> &'static ResourceSpec {
        match self {
            Kind::Power => &ACTION_POWER,
            Kind::FirmwareUpdate => &ACTION_FIRMWARE_UPDATE,
            Kind::BmcReset => &ACTION_BMC_RESET,
        }
    }
}

pub struct Action {
    pub kind: Kind,
    pub engine: EngineCell,
}

/// What a configuration asks, as far as it is known: each `Some` once known and valid.
#[derive(Default)]
struct Asked {
    node: Option<String>,
    power: Option<PowerChange>,
    image_url: Option<String>,
    targets: Vec<String>,
    apply_time: Option<ApplyTime>,
    timeout: Option<Duration>,
    /// Every attribute this action needs is known.
    complete: bool,
}

fn asked(kind: Kind, config: &plugin::Value, diags: &mut Diagnostics) -> Asked {
    let get = |k: &str| match config {
        ValueAny::Map(m) => m.get(k).cloned().unwrap_or(ValueAny::Null),
        _ => ValueAny::Null,
    };
    let mut unknown = false;
    let mut text = |k: &str, diags: &mut Diagnostics| match get(k) {
        ValueAny::String(s) => Some(s),
        ValueAny::Unknown => {
            unknown = true;
            None
        }
        ValueAny::Null => None,
        other => {
            let detail = format!("{k} is a string, not {other:?}");
            diags.error("Invalid value", detail, AttributePath::new(k));
            None
        }
    };
    let mut a = Asked {
        node: text("node", diags),
        timeout: text("timeout", diags).and_then(|t| match parse_duration(&t) {
            Ok(d) => Some(d),
            Err(e) => {
                let detail = format!("timeout {t:?}: {e}");
                diags.error("Invalid timeout", detail, AttributePath::new("timeout"));
                None
            }
        }),
        ..Asked::default()
    };
    match kind {
        Kind::Power => {
            a.power = text("power", diags).and_then(|p| {
                let c = PowerChange::parse(&p);
                if c.is_none() {
                    let detail =
                        format!("power is \"on\", \"off\", \"cycle\" or \"reboot\", not {p:?}");
                    diags.error("Invalid power", detail, AttributePath::new("power"));
                }
                c
            });
        }
        Kind::FirmwareUpdate => {
            a.image_url = text("image_url", diags);
            if let Some(u) = &a.image_url {
                let lower = u.to_ascii_lowercase();
                if !(lower.starts_with("http://") || lower.starts_with("https://")) {
                    let shown = planner::rules::redacted(u);
                    let detail = format!("{shown}: an image URL is http:// or https://");
                    diags.error("Invalid image URL", detail, AttributePath::new("image_url"));
                    a.image_url = None;
                }
            }
            a.apply_time = match text("apply_time", diags).as_deref() {
                None | Some("immediate") => Some(ApplyTime::Immediate),
                Some("on_reset") => Some(ApplyTime::OnReset),
                Some(other) => {
                    let detail =
                        format!("apply_time is \"immediate\" or \"on_reset\", not {other:?}");
                    diags.error(
                        "Invalid apply time",
                        detail,
                        AttributePath::new("apply_time"),
                    );
                    None
                }
            };
            match get("targets") {
                ValueAny::List(xs) => {
                    for x in xs {
                        match x {
                            ValueAny::String(s) => a.targets.push(s),
                            ValueAny::Unknown => unknown = true,
                            other => diags.error(
                                "Invalid value",
                                format!("targets are strings, not {other:?}"),
                                AttributePath::new("targets"),
                            ),
                        }
                    }
                }
                ValueAny::Unknown => unknown = true,
                _ => {}
            }
        }
        Kind::BmcReset => {}
    }
    a.complete = !unknown
        && a.node.is_some()
        && match kind {
            Kind::Power => a.power.is_some(),
            Kind::FirmwareUpdate => a.image_url.is_some() && a.apply_time.is_some(),
            Kind::BmcReset => true,
        };
    a
}

impl Action {
    async fn run(
        &self,
        e: &Engine,
        a: Asked,
        progress: ProgressSink,
    ) -> Result<(), OperationError> {
        let node = a.node.unwrap_or_default();
        let limit = a.timeout.unwrap_or(e.default_timeout);
        let lines = move |line: String| {
            // A full channel (Terraform not reading) drops a progress line, never blocks the work.
            let _ = progress.try_send(line);
        };
        let who = format!("action {}", self.kind.spec().name);
        let inv = &e.inv;
        match self.kind {
            Kind::Power => {
                let change = a.power.unwrap_or(PowerChange::On);
                planner::operation::set_power(inv, &node, change, limit, &who, &lines).await
            }
            Kind::FirmwareUpdate => {
                let update = planner::operation::FirmwareUpdate {
                    image_url: a.image_url.unwrap_or_default(),
                    targets: a.targets,
                    when: a.apply_time.unwrap_or(ApplyTime::Immediate),
                };
                planner::operation::update_firmware(inv, &node, &update, limit, &who, &lines).await
            }
            Kind::BmcReset => planner::operation::reset_bmc(inv, &node, limit, &who, &lines).await,
        }
    }
}

#[async_trait]
impl plugin::Action for Action {
    fn schema(&self) -> Schema {
        schema(self.kind.spec(), 0)
    }

    async fn validate(&self, config: plugin::Value) -> Diagnostics {
        let mut diags = Diagnostics::default();
        asked(self.kind, &config, &mut diags);
        diags
    }

    async fn plan(&self, config: plugin::Value) -> Diagnostics {
        let mut diags = Diagnostics::default();
        let a = asked(self.kind, &config, &mut diags);
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
        let a = asked(self.kind, &config, &mut diags);
        if !diags.is_empty() {
            return diags;
        }
        if !a.complete {
            let needs = self
                .kind
                .spec()
                .attrs
                .iter()
                .filter(|x| x.presence == planner::schema::Presence::Required)
                .map(|x| x.name)
                .collect::<Vec<_>>()
                .join(" and ");
            diags.root_error(
                "Incomplete action",
                format!("{needs} must be known to run it"),
            );
            return diags;
        }
        let e = match self.engine.get() {
            Ok(e) => e,
            Err(p) => {
                diags.root_error(p.summary, p.detail);
                return diags;
            }
        };
        if let Err(err) = self.run(&e, a, progress).await {
            let detail = planner::bmc::redfish::client::error_chain(&err);
            diags.root_error(format!("{} failed", self.kind.spec().name), detail);
        }
        diags
    }
}
