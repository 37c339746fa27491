//! The plugin's log. Terraform names the file in `PLUGIN_LOG_FILE` and the level in `TF_LOG_PROVIDER`
//! (else `TF_LOG`). tf-provider would open that file itself and log everything at TRACE, the HTTP/2
//! frames of every gRPC call included: 34 MB for one `terraform plan` of 500 nodes, written one
//! unbuffered line at a time, which cost more CPU than the plan itself. So the provider takes the
//! variable before tf-provider sees it and logs at the level asked for (INFO by default), with the
//! transport crates held at WARN unless the level is TRACE (any other value reads as TRACE, as in
//! Terraform). `BAREMETAL_LOG` takes a full
//! `tracing_subscriber` filter (`planner=debug,tower_http=debug`) for anything finer.

use std::fs::File;
use std::sync::Mutex;

use tracing_subscriber::EnvFilter;

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

/// The filter for a Terraform log level (`TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR`, `JSON`, `OFF`).
pub fn filter_for(level: Option<&str>) -> String {
    let level = match level.map(|l| l.trim().to_ascii_lowercase()).as_deref() {
        None | Some("") => "info".to_string(),
        // Terraform's JSON mode is TRACE in JSON; the plugin's file stays text.
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

/// Takes `PLUGIN_LOG_FILE` from the environment (so tf-provider does not install its own TRACE
/// logger) and logs there. Call before any thread starts: it changes the process environment.
/// A log that cannot be set up never stops the provider: it says why on stderr (which Terraform
/// logs) and runs without, or with the default level.
pub fn init() {
    let Some(path) = std::env::var_os("PLUGIN_LOG_FILE") else {
        return;
    };
    std::env::remove_var("PLUGIN_LOG_FILE");
    let level = filter_for(
        std::env::var("TF_LOG_PROVIDER")
            .or_else(|_| std::env::var("TF_LOG"))
            .ok()
            .as_deref(),
    );
    let filter = match std::env::var("BAREMETAL_LOG") {
        Ok(f) if !f.trim().is_empty() => EnvFilter::try_new(&f).unwrap_or_else(|e| {
            eprintln!("BAREMETAL_LOG={f:?} is not a log filter ({e}); logging at {level}");
            EnvFilter::new(&level)
        }),
        _ => EnvFilter::new(&level),
    };
    let file = match File::create(&path) {
        Ok(f) => f,
        Err(e) => {
            eprintln!(
                "PLUGIN_LOG_FILE {}: {e}; the provider runs without its log",
                path.to_string_lossy()
            );
            return;
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .with_writer(Mutex::new(file))
        .init();
}

#[cfg(test)]
mod tests {
    use super::filter_for;

    #[test]
    fn terraform_levels_map_to_filters_that_quiet_the_transport() {
        assert_eq!(filter_for(None).split(',').next(), Some("info"));
        assert!(filter_for(None).contains("h2=warn"));
        assert!(filter_for(Some("DEBUG")).starts_with("debug,"));
        assert!(filter_for(Some("debug")).contains("tonic=warn"));
        assert_eq!(filter_for(Some("TRACE")), "trace");
        assert_eq!(filter_for(Some("json")), "trace");
        assert!(filter_for(Some("error")).contains("h2=error"));
        assert_eq!(filter_for(Some("1")), "trace", "as Terraform reads it");
    }
}
