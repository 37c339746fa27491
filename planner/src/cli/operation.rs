//! What a host command sets up before it calls the engine: the host by name in its project, the
//! deployment endpoint started for the operation, how long it may take, and progress on stderr.

use std::time::Duration;

use anyhow::Context;

use crate::cli::args::LifeArgs;
use crate::host::MediaServer;
use crate::inventory::{HostRecord, Inventory};

/// A host of the acting user's project (or `project`), and a deployment endpoint started for
/// the operation with how long it may take.
pub async fn host_at(
    inv: &Inventory,
    name: &str,
    project: Option<String>,
    l: &LifeArgs,
) -> anyhow::Result<(HostRecord, MediaServer, Duration)> {
    let h = inv.host(&project_of(inv, project)?, name).await?;
    let timeout = l.duration()?;
    let media = MediaServer::start(&l.media_listen, l.media_url.as_deref()).await?;
    Ok((h, media, timeout))
}

/// `project`, else the acting member's only project.
pub fn project_of(inv: &Inventory, project: Option<String>) -> anyhow::Result<String> {
    let p = project.or_else(|| inv.actor().default_project().map(str::to_string));
    p.context("name the host's project with --project")
}

/// Host lifecycle progress as the command line shows it: one line on stderr per node event.
pub fn stderr_progress() -> crate::host::ProgressFn {
    std::sync::Arc::new(|node: &str, msg: &str| eprintln!("{node}: {msg}"))
}

/// The lifecycle the command line drives, with progress on stderr.
pub fn life<'a>(inv: &'a Inventory, media: &'a MediaServer) -> crate::host::Lifecycle<'a> {
    crate::host::Lifecycle::new(inv, media, stderr_progress())
}
