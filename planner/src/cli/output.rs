//! How the command line prints what it read: one JSON document, a table, or an export (CSV or
//! JSON) to a file or stdout.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Context;

use super::args::{ExportArgs, Format};
use crate::report;

/// `text` to the file `output` names, or to stdout.
pub fn emit(output: &Option<PathBuf>, text: &str) -> anyhow::Result<()> {
    match output {
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display())),
        None => Ok(std::io::stdout().lock().write_all(text.as_bytes())?),
    }
}

pub fn json<T: serde::Serialize>(v: &T) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(v)? + "\n")
}

/// `v` as CSV (its `rows`) or JSON, to the file or stdout the arguments name.
pub fn export<T: serde::Serialize>(
    a: &ExportArgs,
    v: &T,
    rows: report::Rows,
) -> anyhow::Result<()> {
    let text = match a.format {
        Format::Csv => rows.csv(),
        Format::Json => json(v)?,
    };
    emit(&a.output, &text)
}

/// Prints `v` as one JSON document, or as `table` renders it.
pub fn show<T: serde::Serialize>(
    as_json: bool,
    v: &T,
    table: impl FnOnce(&T) -> String,
) -> anyhow::Result<()> {
    emit(&None, &if as_json { json(v)? } else { table(v) })
}

/// The password in the environment variable `var` (named by `--password-env`).
pub fn env_password(var: &str) -> anyhow::Result<crate::bmc::Secret> {
    let v = std::env::var(var).with_context(|| {
        format!("the environment variable {var} (from --password-env) is not set")
    })?;
    Ok(crate::bmc::Secret::new(v))
}
