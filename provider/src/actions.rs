//! Actions (Terraform 1.14 and later): things done once, not kept in state, each an engine call
//! ([`planner::operation`]: leased, waited for, audited, refused in maintenance):
//! - `baremetal_power`: on, off, a power cycle, a reboot;
//! - `baremetal_firmware_update`: a one-off `SimpleUpdate`, its BMC task followed to the end;
//! - `baremetal_bmc_reset`: the BMC restarted, waited for until it answers again;
//! - `baremetal_image_capture`: an active host captured into a new golden image
//!   ([`planner::host::Lifecycle::capture`]), the host back on its OS after.

use std::time::Duration;

use async_trait::async_trait;
use planner::bmc::ApplyTime;
use planner::operation::{OperationError, PowerChange};
use planner::schema::{
    parse_duration, ResourceSpec, ACTION_BMC_RESET, ACTION_FIRMWARE_UPDATE, ACTION_IMAGE_CAPTURE,
    ACTION_POWER,
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
    ImageCapture,
}

impl Kind {
    fn spec(self) -> &'static ResourceSpec {
        match self {
            Kind::Power => &ACTION_POWER,
            Kind::FirmwareUpdate => &ACTION_FIRMWARE_UPDATE,
            Kind::BmcReset => &ACTION_BMC_RESET,
            Kind::ImageCapture => &ACTION_IMAGE_CAPTURE,
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
    /// A capture: the host, its project, and what to capture it as.
    capture: Option<planner::host::capture::CaptureRequest>,
    host: Option<String>,
    project: Option<String>,
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
    let mut level_unknown = false;
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
        Kind::ImageCapture => {
            a.host = text("host", diags);
            a.project = text("project", diags);
            let name = text("name", diags);
            let level = match get("level") {
                ValueAny::Null => Some(3),
                ValueAny::Number(n) if (1..=19).contains(&n) => Some(n as i32),
                ValueAny::Unknown => {
                    level_unknown = true;
                    None
                }
                other => {
                    let detail = format!("level is a whole number from 1 to 19, not {other:?}");
                    diags.error("Invalid level", detail, AttributePath::new("level"));
                    None
                }
            };
            if let (Some(name), Some(level)) = (name, level) {
                let mut r = planner::host::capture::CaptureRequest::new(&name, Duration::ZERO);
                r.script = text("script", diags);
                r.os_family = text("os_family", diags);
                r.level = level;
                if let Some(t) = text("shutdown_timeout", diags) {
                    match parse_duration(&t) {
                        Ok(d) => r.shutdown = d,
                        Err(e) => diags.error(
                            "Invalid shutdown timeout",
                            format!("shutdown_timeout {t:?}: {e}"),
                            AttributePath::new("shutdown_timeout"),
                        ),
                    }
                }
                a.capture = Some(r);
            }
        }
    }
    a.complete = !unknown
        && !level_unknown
        && match kind {
            Kind::Power => a.node.is_some() && a.power.is_some(),
            Kind::FirmwareUpdate => {
                a.node.is_some() && a.image_url.is_some() && a.apply_time.is_some()
            }
            Kind::BmcReset => a.node.is_some(),
            Kind::ImageCapture => a.host.is_some() && a.capture.is_some(),
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
            // Run by `Action::capture` (it answers with the image, not a node operation).
            Kind::ImageCapture => Err(OperationError::Failed {
                node,
                detail: "a capture is not a node operation".into(),
            }),
        }
    }

    /// A capture: the engine's host lifecycle, its steps as progress lines.
    async fn capture(
        &self,
        e: &Engine,
        a: Asked,
        progress: ProgressSink,
    ) -> Result<String, String> {
        let project = a
            .project
            .or_else(|| e.project.clone())
            .ok_or("name the host's project with `project` (the provider has none)")?;
        let host = e
            .inv
            .host(&project, &a.host.unwrap_or_default())
            .await
            .map_err(|err| err.to_string())?;
        let mut req = a.capture.ok_or("nothing to capture")?;
        req.timeout = a.timeout.unwrap_or(e.default_timeout);
        let media = e
            .media()
            .await
            .map_err(|p| format!("{}: {}", p.summary, p.detail))?;
        let life = planner::host::Lifecycle {
            inv: &e.inv,
            media,
            max_parallel: e.max_parallel,
            poll: Duration::from_millis(250),
            progress: std::sync::Arc::new(move |node: &str, msg: &str| {
                let _ = progress.try_send(format!("{node}: {msg}"));
            }),
        };
        let out = life
            .capture(&host, &req)
            .await
            .map_err(|err| planner::bmc::redfish::client::error_chain(&err))?;
        Ok(planner::report::capture_text(
            &out.image,
            &out.captured,
            out.seconds,
        ))
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
        // A node (or host) named now must be in the inventory: found at plan, not when it is
        // invoked.
        if let (Some(node), Ok(e)) = (&a.node, self.engine.get()) {
            if let Err(err) = e.inv.node(node).await {
                diags.error("Unknown node", err.to_string(), AttributePath::new("node"));
            }
        }
        if let (Some(host), Ok(e)) = (&a.host, self.engine.get()) {
            match a.project.clone().or_else(|| e.project.clone()) {
                Some(p) => {
                    if let Err(err) = e.inv.host(&p, host).await {
                        diags.error("Unknown host", err.to_string(), AttributePath::new("host"));
                    }
                }
                None => diags.error(
                    "No project",
                    "name the host's project with `project` (the provider has none)",
                    AttributePath::new("project"),
                ),
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
        if let Kind::ImageCapture = self.kind {
            let done = progress.clone();
            match self.capture(&e, a, progress).await {
                Ok(text) => {
                    for line in text.lines() {
                        let _ = done.try_send(line.to_string());
                    }
                }
                Err(detail) => {
                    diags.root_error(format!("{} failed", self.kind.spec().name), detail);
                }
            }
            return diags;
        }
        if let Err(err) = self.run(&e, a, progress).await {
            let detail = planner::bmc::redfish::client::error_chain(&err);
            diags.root_error(format!("{} failed", self.kind.spec().name), detail);
        }
        diags
    }
}
