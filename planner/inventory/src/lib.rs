//! The inventory: a sqlx store of nodes, flavors, switches, projects, hosts, leases, the apply journal
//! and the audit log, on SQLite (a local file, the embedded default) or PostgreSQL (a fleet shared by
//! several pipelines or teams).
//!
//! One code path serves both backends through sqlx's `Any` driver; the few statements that differ
//! (row locks) branch on [`Backend`]. Migrations live in `planner/inventory/migrations/{sqlite,postgres}`.
//!
//! Concurrency: every write runs in one transaction. On SQLite it starts with `BEGIN IMMEDIATE`, so
//! writers are serialised by the database lock; on PostgreSQL, allocation and per-node work take row
//! locks (`FOR UPDATE`, `SKIP LOCKED`), and the unique index on `hosts.node_id` refuses a node
//! allocated twice whatever the code above it does.
//!
//! Every change is recorded in the audit log in the same transaction as the change itself; every
//! refusal by the permission rules is recorded too.

pub mod credentials;

mod addresses;
mod audit;
mod catalog;
mod check;
mod deployment_plans;
mod flavors;
mod history;
mod host_logs;
mod hosts;
mod images;
mod journal;
mod leases;
mod nodes;
mod projects;
mod runs;
mod switches;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{Any, AnyPool, Executor, Row, Transaction};

pub use addresses::{subnet_use, AddressRecord, SubnetUse};
pub use audit::{AuditEntry, AuditFilter};
pub use catalog::{HostOverride, NodeConfig};
pub use check::Violation;
pub use flavors::{rows as flavor_rows, FlavorCapacity};
pub use history::{LifeEvent, NodeHistory};
pub use host_logs::{HostLogLine, MAX_LINES as HOST_LOG_LINES};
pub use hosts::{is_free, HostRecord, NewHost};
pub use journal::{JournalEntry, StepStatus};
pub use leases::{rows as lease_rows, Lease};
pub use nodes::{
    outcome_rows, EnrollOutcome, EnrollResult, NodeFilter, NodeRecord, NodeRegistration, NodeTls,
    Verification,
};
pub use projects::{rows as project_rows, ProjectRecord};
pub use runs::OpenRun;
pub use switches::{SwitchRecord, SwitchRegistration};

use crate::credentials::{CredentialsError, CredentialsKey};
use planner_core::lifecycle::IllegalTransition;
use planner_core::project::Actor;

pub const INVENTORY_ENV: &str = "BAREMETAL_INVENTORY";

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Errors an operator can act on. None of them carries a password.
#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("cannot open the inventory {url}: {detail}")]
    Open { url: String, detail: String },
    #[error("inventory {url}: the schema migration failed: {detail}")]
    Migrate { url: String, detail: String },
    #[error("inventory: {operation} failed: {source}")]
    Database {
        operation: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("{kind} {name:?} does not exist")]
    NotFound { kind: &'static str, name: String },
    #[error("{kind} {name:?} already exists")]
    AlreadyExists { kind: &'static str, name: String },
    #[error("permission denied: {reason}")]
    Forbidden { reason: String },
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    #[error("no capacity for flavor {flavor:?}: {detail}")]
    NoCapacity { flavor: String, detail: String },
    #[error("quota exceeded: project {project} may have {limit} {what}, and has {used}")]
    Quota {
        project: String,
        what: &'static str,
        limit: i64,
        used: i64,
    },
    #[error("{detail}")]
    Conflict { detail: String },
    #[error("node {node} is leased by {holder} for {purpose} until {until} ({remaining_s}s left)")]
    LeaseHeld {
        node: String,
        holder: String,
        purpose: String,
        until: String,
        remaining_s: i64,
    },
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error("{0}")]
    Invalid(String),
}

/// Every name the inventory records (nodes, switches, networks, profiles, flavors, hosts, projects)
/// follows [`planner_core::rules::name_ok`], whichever front end brought it.
fn valid_name(kind: &str, name: &str) -> Result<()> {
    planner_core::rules::name_ok(name).map_err(|m| InventoryError::Invalid(format!("{kind}: {m}")))
}

impl InventoryError {
    fn db(operation: impl Into<String>) -> impl FnOnce(sqlx::Error) -> InventoryError {
        let operation = operation.into();
        move |source| InventoryError::Database { operation, source }
    }
}

pub type Result<T, E = InventoryError> = std::result::Result<T, E>;

/// An open inventory, acting as one [`Actor`].
#[derive(Clone)]
pub struct Inventory {
    pool: AnyPool,
    backend: Backend,
    url: String,
    key: Option<Arc<CredentialsKey>>,
    actor: Actor,
}

impl std::fmt::Debug for Inventory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inventory")
            .field("url", &self.url)
            .field("actor", &self.actor)
            .finish()
    }
}

/// The inventory URL to use: the explicit one, else `BAREMETAL_INVENTORY`, else
/// `sqlite://<data dir>/bmplan/inventory.db` (`$XDG_DATA_HOME`, else `~/.local/share`).
pub fn resolve_url(explicit: Option<&str>) -> String {
    if let Some(u) = explicit.filter(|u| !u.trim().is_empty()) {
        return u.to_string();
    }
    if let Ok(u) = std::env::var(INVENTORY_ENV) {
        if !u.trim().is_empty() {
            return u;
        }
    }
    let base = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."));
    format!("sqlite://{}", base.join("bmplan/inventory.db").display())
}

/// The URL with any password replaced, for messages.
pub fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((userinfo, host)) = rest.split_once('@') {
            if let Some((user, _)) = userinfo.split_once(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
        }
    }
    url.to_string()
}

/// Splits an inventory URL into its backend and the URL sqlx connects to. SQLite files are created
/// (with their directory) when missing.
fn connect_url(url: &str) -> Result<(Backend, String)> {
    let bad = |detail: String| InventoryError::Open {
        url: redact_url(url),
        detail,
    };
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok((Backend::Postgres, url.to_string()));
    }
    let path = if let Some(p) = url.strip_prefix("sqlite://") {
        p
    } else if let Some(p) = url.strip_prefix("sqlite:") {
        p
    } else if url.contains("://") {
        return Err(bad(
            "the URL is neither sqlite://PATH nor postgres://…".into()
        ));
    } else {
        url
    };
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() {
        return Err(bad("the SQLite URL names no file".into()));
    }
    if let Some(dir) = Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| bad(format!("cannot create {}: {e}", dir.display())))?;
    }
    Ok((Backend::Sqlite, format!("sqlite://{path}?mode=rwc")))
}

/// The current time in Unix milliseconds, as the inventory records it.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// A place where a test can freeze the process inside a transaction, to kill it there:
/// `BAREMETAL_TEST_PAUSE=<point>` prints `paused at <point>` on stderr and sleeps for a minute.
pub(crate) async fn pause_point(point: &str) {
    if std::env::var("BAREMETAL_TEST_PAUSE").as_deref() == Ok(point) {
        eprintln!("paused at {point}");
        tokio::time::sleep(Duration::from_secs(60)).await;
    }
}

impl Inventory {
    /// Opens (creating a SQLite file if needed) and migrates the inventory at `url`.
    pub async fn open(url: &str, actor: Actor, key: Option<CredentialsKey>) -> Result<Inventory> {
        sqlx::any::install_default_drivers();
        let (backend, connect) = connect_url(url)?;
        let mut opts = AnyPoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(60));
        if backend == Backend::Sqlite {
            opts = opts.after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA busy_timeout = 60000").await?;
                    conn.execute("PRAGMA journal_mode = WAL").await?;
                    conn.execute("PRAGMA foreign_keys = ON").await?;
                    Ok(())
                })
            });
        }
        let pool = opts
            .connect(&connect)
            .await
            .map_err(|e| InventoryError::Open {
                url: redact_url(url),
                detail: e.to_string(),
            })?;
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        // Two processes opening a new SQLite file at once both migrate it (sqlx takes no lock on
        // SQLite); each migration is one transaction, so the loser fails cleanly and, asked again,
        // finds it applied.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match migrator.run(&pool).await {
                Ok(()) => break,
                Err(_) if backend == Backend::Sqlite && attempt < 5 => {
                    tokio::time::sleep(Duration::from_millis(200 * attempt)).await;
                }
                Err(e) => {
                    return Err(InventoryError::Migrate {
                        url: redact_url(url),
                        detail: e.to_string(),
                    })
                }
            }
        }
        Ok(Inventory {
            pool,
            backend,
            url: redact_url(url),
            key: key.map(Arc::new),
            actor,
        })
    }

    /// The same inventory, acting as someone else.
    pub fn as_actor(&self, actor: Actor) -> Inventory {
        Inventory {
            actor,
            ..self.clone()
        }
    }

    /// The same inventory with another credentials key.
    pub fn with_key(&self, key: CredentialsKey) -> Inventory {
        Inventory {
            key: Some(Arc::new(key)),
            ..self.clone()
        }
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL, password redacted.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Seals a secret the inventory keeps on behalf of `owner` (a host's user data), with the
    /// credentials key.
    pub fn seal_text(&self, owner: &str, text: &str) -> Result<String> {
        self.key()?
            .seal(owner, &planner_core::hardware::Secret::new(text))
            .map_err(InventoryError::Credentials)
    }

    /// Opens what [`Inventory::seal_text`] sealed.
    pub fn open_text(&self, owner: &str, sealed: &str) -> Result<String> {
        self.key()?
            .open(owner, sealed)
            .map(|s| s.expose().to_string())
            .map_err(InventoryError::Credentials)
    }

    fn key(&self) -> Result<&CredentialsKey> {
        self.key
            .as_deref()
            .ok_or(InventoryError::Credentials(CredentialsError::NoKey))
    }

    /// A write transaction: `BEGIN IMMEDIATE` on SQLite so writers queue on the database lock instead
    /// of failing when they upgrade from reading.
    async fn begin(&self) -> Result<Transaction<'static, Any>> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        };
        tx.map_err(InventoryError::db("starting a transaction"))
    }

    /// ` FOR UPDATE` on PostgreSQL (SQLite's transaction already holds the database lock).
    fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE",
        }
    }

    /// Checks a permission; a refusal is recorded in the audit log before it is returned.
    async fn authorize(
        &self,
        kind: planner_core::project::Object,
        access: planner_core::project::Access,
        project: Option<&str>,
        action: &str,
        object: &str,
    ) -> Result<()> {
        match self.actor.check(kind, access, project) {
            Ok(()) => Ok(()),
            Err(denied) => {
                let reason = denied.0;
                self.record_denied(kind, action, object, project, &reason)
                    .await?;
                Err(InventoryError::Forbidden { reason })
            }
        }
    }
}

fn get_str(row: &AnyRow, col: &str) -> Result<String> {
    row.try_get::<String, _>(col)
        .map_err(InventoryError::db(format!("reading column {col}")))
}

fn get_opt(row: &AnyRow, col: &str) -> Result<Option<String>> {
    row.try_get::<Option<String>, _>(col)
        .map_err(InventoryError::db(format!("reading column {col}")))
}

fn get_i64(row: &AnyRow, col: &str) -> Result<i64> {
    row.try_get::<i64, _>(col)
        .map_err(InventoryError::db(format!("reading column {col}")))
}

fn get_opt_i64(row: &AnyRow, col: &str) -> Result<Option<i64>> {
    row.try_get::<Option<i64>, _>(col)
        .map_err(InventoryError::db(format!("reading column {col}")))
}

pub use planner_core::records::format_time;

/// Parses `2026-11-23`, `2026-11-23T04:06:27Z` (or with a space, fractions and `+00:00` ignored), or a
/// duration back from now (`90m`, `24h`, `7d`) into Unix milliseconds.
pub fn parse_since(s: &str, now: i64) -> Option<i64> {
    let s = s.trim();
    if let Some(d) = s.strip_suffix('d').and_then(|n| n.parse::<i64>().ok()) {
        return Some(now - d * 86_400_000);
    }
    if let Ok(d) = planner_core::schema::parse_duration(s) {
        return Some(now - d.as_millis() as i64);
    }
    let (date, time) = match s.split_once(['T', ' ']) {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut dp = date.split('-').map(|p| p.parse::<i64>().ok());
    let (Some(Some(y)), Some(Some(m)), Some(Some(d)), None) =
        (dp.next(), dp.next(), dp.next(), dp.next())
    else {
        return None;
    };
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = days_from_civil(y, m, d) * 86_400;
    if let Some(t) = time {
        let t = t.trim_end_matches('Z');
        let t = t.split(['+', '.']).next().unwrap_or_default();
        let mut tp = t.split(':').map(|p| p.parse::<i64>().ok());
        let h = tp.next().flatten()?;
        let mi = tp.next().flatten().unwrap_or(0);
        let se = tp.next().flatten().unwrap_or(0);
        secs += h * 3600 + mi * 60 + se;
    }
    Some(secs * 1000)
}

// Howard Hinnant's civil-calendar algorithm (its inverse is `planner_core::records`).

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_and_parse_round_trip() {
        let t = parse_since("2026-11-23T04:06:27Z", 0).unwrap();
        assert_eq!(format_time(t), "2026-11-23T04:06:27Z");
        assert_eq!(
            parse_since("2026-11-23", 0).unwrap(),
            t - (4 * 3600 + 6 * 60 + 27) * 1000
        );
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(parse_since("2h", 10_000_000), Some(10_000_000 - 7_200_000));
        assert_eq!(parse_since("7d", 7 * 86_400_000), Some(0));
        assert_eq!(parse_since("yesterday", 0), None);
    }

    #[test]
    fn urls_resolve_and_redact() {
        assert_eq!(resolve_url(Some("sqlite:///x.db")), "sqlite:///x.db");
        assert_eq!(
            redact_url("postgres://ops:s3cret@db:5432/fleet"),
            "postgres://ops:***@db:5432/fleet"
        );
        assert!(matches!(
            connect_url("mysql://x"),
            Err(InventoryError::Open { .. })
        ));
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a/b/inv.db");
        let (b, u) = connect_url(&format!("sqlite://{}", p.display())).unwrap();
        assert_eq!(b, Backend::Sqlite);
        assert!(u.ends_with("inv.db?mode=rwc"));
        assert!(p.parent().unwrap().is_dir());
    }
}
