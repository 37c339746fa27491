//! The provider's log, where Terraform reads it: JSON lines in go-plugin's (hclog's) format on
//! stderr, at the level of `TF_LOG_PROVIDER` (else `TF_LOG`), so `TF_LOG=DEBUG terraform apply`
//! shows the provider's lines beside Terraform's, with their level. Without either variable nothing
//! is written (Terraform would discard it). `PLUGIN_LOG_FILE` also writes the log as text to a file,
//! at that level or INFO. Below TRACE the transport crates (h2, hyper, tonic, rustls) log only
//! warnings; `BAREMETAL_LOG` takes a full `tracing_subscriber` filter (`planner=debug`) for
//! anything finer. Passwords are never logged, at any level.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::Mutex;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Crates whose DEBUG output is per frame or per connection.
const TRANSPORT: &[&str] = &[
    "h2",
    "hyper",
    "hyper_util",
    "tonic",
    "tower",
    "rustls",
    "reqwest",
];

/// The filter for a Terraform log level (`TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `JSON`, `OFF`);
/// unset is `default`.
pub fn filter_for(level: Option<&str>, default: &str) -> String {
    let level = match level.map(|l| l.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") => default.to_string(),
        // Terraform's JSON mode is TRACE in JSON.
        Some("json") => "trace".to_string(),
        Some(l @ ("trace" | "debug" | "info" | "warn" | "error" | "off")) => l.to_string(),
        // Terraform reads any other value (`TF_LOG=1`) as TRACE.
        Some(_) => "trace".to_string(),
    };
    if level == "trace" {
        return level;
    }
    let quiet = if level == "error" || level == "off" {
        level.as_str()
    } else {
        "warn"
    };
    std::iter::once(level.clone())
        .chain(TRANSPORT.iter().map(|c| format!("{c}={quiet}")))
        .collect::<Vec<_>>()
        .join(",")
}

fn filter(level: &str) -> EnvFilter {
    match std::env::var("BAREMETAL_LOG") {
        Ok(f) if !f.trim().is_empty() => EnvFilter::try_new(&f).unwrap_or_else(|e| {
            eprintln!("BAREMETAL_LOG={f:?} is not a log filter ({e}); logging at {level}");
            EnvFilter::new(level)
        }),
        _ => EnvFilter::new(level),
    }
}

/// Sets up the log. A log that cannot be set up never stops the provider: it says why on stderr
/// and runs without.
pub fn init() {
    let tf_level = std::env::var("TF_LOG_PROVIDER")
        .or_else(|_| std::env::var("TF_LOG"))
        .ok();
    let stderr = Hclog.with_filter(filter(&filter_for(tf_level.as_deref(), "off")));
    // Readable by its owner only, like the provider's socket.
    let create = |path: &std::ffi::OsStr| {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
    };
    let file = std::env::var_os("PLUGIN_LOG_FILE").and_then(|path| match create(&path) {
        Ok(f) => Some(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(Mutex::new(f))
                .with_filter(filter(&filter_for(tf_level.as_deref(), "info"))),
        ),
        Err(e) => {
            eprintln!(
                "PLUGIN_LOG_FILE {}: {e}; the provider runs without its log file",
                path.to_string_lossy()
            );
            None
        }
    });
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init();
}

/// One JSON line per event on stderr, as go-plugin parses it: `@level`, `@message`, `@module`
/// and the event's fields.
struct Hclog;

impl<S: Subscriber> Layer<S> for Hclog {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let line = hclog_line(event);
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

fn hclog_line(event: &Event<'_>) -> String {
    let meta = event.metadata();
    let mut fields = Fields(serde_json::Map::new());
    event.record(&mut fields);
    let mut out = fields.0;
    let message = out
        .remove("message")
        .map(|m| match m {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        })
        .unwrap_or_default();
    out.insert("@message".into(), message.into());
    out.insert("@level".into(), level(meta.level()).into());
    out.insert(
        "@module".into(),
        format!("provider.baremetal.{}", meta.target()).into(),
    );
    let mut line = serde_json::Value::Object(out).to_string();
    line.push('\n');
    line
}

fn level(l: &Level) -> &'static str {
    match *l {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// An event's fields, as strings (go-plugin reads values of any JSON type, but strings print the
/// same everywhere).
struct Fields(serde_json::Map<String, serde_json::Value>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut s = String::new();
        let _ = write!(s, "{value:?}");
        self.0.insert(field.name().to_string(), s.into());
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terraform_levels_map_to_filters_that_quiet_the_transport() {
        assert_eq!(filter_for(None, "info").split(',').next(), Some("info"));
        assert_eq!(filter_for(None, "off").split(',').next(), Some("off"));
        assert!(filter_for(None, "info").contains("h2=warn"));
        assert!(filter_for(Some("DEBUG"), "off").starts_with("debug,"));
        assert!(filter_for(Some("debug"), "off").contains("tonic=warn"));
        assert_eq!(filter_for(Some("TRACE"), "off"), "trace");
        assert_eq!(filter_for(Some("json"), "off"), "trace");
        assert!(filter_for(Some("error"), "off").contains("h2=error"));
        assert_eq!(
            filter_for(Some("1"), "off"),
            "trace",
            "as Terraform reads it"
        );
    }

    #[test]
    fn events_are_hclog_json_lines() {
        struct Capture(std::sync::Arc<Mutex<Vec<String>>>);
        impl<S: Subscriber> Layer<S> for Capture {
            fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
                self.0.lock().unwrap().push(hclog_line(event));
            }
        }
        let lines = std::sync::Arc::new(Mutex::new(Vec::new()));
        let sub = tracing_subscriber::registry().with(Capture(lines.clone()));
        tracing::subscriber::with_default(sub, || {
            tracing::warn!(node = "r1u01", count = 3, "BMC \"slow\"");
        });
        let lines = lines.lock().unwrap();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].ends_with('\n'));
        let v: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(v["@level"], "warn");
        assert_eq!(v["@message"], "BMC \"slow\"");
        assert_eq!(v["node"], "r1u01");
        assert_eq!(v["count"], "3");
        assert!(v["@module"]
            .as_str()
            .unwrap()
            .starts_with("provider.baremetal."));
    }
}
