//! What a host's deployments and cleans printed (the deploy agent's log, the console as the agent
//! read it, the engine's steps), kept with the host and bounded: the newest [`MAX_LINES`] per host.

use sqlx::Row;

use super::{now_ms, Inventory, InventoryError, Result};
use planner_core::project::{Access, Object};

/// Lines kept per host; older ones are dropped as new ones come.
pub const MAX_LINES: i64 = 5000;
/// A line longer than this is cut (a console may print anything).
const MAX_LINE: usize = 2000;

/// One kept line.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct HostLogLine {
    pub at_ms: i64,
    pub generation: i64,
    /// `agent`, `console` or `engine`.
    pub source: String,
    pub line: String,
}

impl Inventory {
    /// Appends lines to a host's log (one transaction), then drops the oldest past the bound.
    pub async fn append_host_log(
        &self,
        project: &str,
        host: &str,
        generation: u32,
        source: &str,
        lines: &[String],
    ) -> Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        self.authorize(Object::Host, Access::Write, Some(project), "host.log", host)
            .await?;
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(InventoryError::db("starting a host log write"))?;
        let at = now_ms();
        for line in lines {
            let mut line = planner_core::text::printable(line, false).into_owned();
            if line.len() > MAX_LINE {
                let mut cut = MAX_LINE;
                while !line.is_char_boundary(cut) {
                    cut -= 1;
                }
                line.truncate(cut);
                line.push('…');
            }
            sqlx::query(
                "INSERT INTO host_logs (project, host, generation, at_ms, source, line) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(project.to_string())
            .bind(host.to_string())
            .bind(generation as i64)
            .bind(at)
            .bind(source.to_string())
            .bind(line)
            .execute(&mut *tx)
            .await
            .map_err(InventoryError::db("writing a host log line"))?;
        }
        sqlx::query(
            "DELETE FROM host_logs WHERE project = $1 AND host = $2 AND id <= \
             (SELECT id FROM host_logs WHERE project = $1 AND host = $2 ORDER BY id DESC LIMIT 1 OFFSET $3)",
        )
        .bind(project.to_string())
        .bind(host.to_string())
        .bind(MAX_LINES)
        .execute(&mut *tx)
        .await
        .map_err(InventoryError::db("bounding a host's log"))?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing a host log write"))?;
        Ok(())
    }

    /// The newest `limit` lines of a host's log, oldest first.
    pub async fn host_log(
        &self,
        project: &str,
        host: &str,
        limit: i64,
    ) -> Result<Vec<HostLogLine>> {
        let limit = limit.clamp(1, MAX_LINES);
        self.authorize(
            Object::Host,
            Access::Read,
            Some(project),
            "host.log.read",
            host,
        )
        .await?;
        let rows = sqlx::query(
            "SELECT at_ms, generation, source, line FROM host_logs WHERE project = $1 AND host = $2 \
             ORDER BY id DESC LIMIT $3",
        )
        .bind(project.to_string())
        .bind(host.to_string())
        .bind(limit)
        .fetch_all(&self.pool)
        .await
        .map_err(InventoryError::db("reading a host's log"))?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(HostLogLine {
                    at_ms: r.try_get("at_ms")?,
                    generation: r.try_get("generation")?,
                    source: r.try_get("source")?,
                    line: r.try_get("line")?,
                })
            })
            .collect::<std::result::Result<Vec<_>, sqlx::Error>>()
            .map_err(InventoryError::db("reading a host's log"))?;
        out.reverse();
        Ok(out)
    }
}

impl Inventory {
    /// Keeps what the deploy agent read from inside a node (replacing the last), with an audit
    /// entry.
    pub async fn record_inband(
        &self,
        node: &str,
        project: Option<&str>,
        found: &serde_json::Value,
    ) -> Result<()> {
        // Authorized before anything is written (a project member's deployment records it).
        self.authorize(
            Object::Host,
            Access::Write,
            project,
            "node.inspect.inband",
            node,
        )
        .await?;
        let n = sqlx::query("UPDATE nodes SET inband = $1, inband_at = $2 WHERE name = $3")
            .bind(found.to_string())
            .bind(now_ms())
            .bind(node.to_string())
            .execute(&self.pool)
            .await
            .map_err(InventoryError::db("recording an in-band inspection"))?;
        if n.rows_affected() == 0 {
            return Err(InventoryError::NotFound {
                kind: "node",
                name: node.to_string(),
            });
        }
        self.record_node_operation(
            "node.inspect.inband",
            node,
            project,
            "in-band inspection recorded",
        )
        .await
    }

    /// The last in-band inspection of a node, and when (ms since the epoch).
    pub async fn node_inband(&self, node: &str) -> Result<Option<(serde_json::Value, i64)>> {
        let row = sqlx::query("SELECT inband, inband_at FROM nodes WHERE name = $1")
            .bind(node.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(InventoryError::db("reading an in-band inspection"))?;
        let Some(r) = row else {
            return Err(InventoryError::NotFound {
                kind: "node",
                name: node.to_string(),
            });
        };
        let text: Option<String> = r
            .try_get("inband")
            .map_err(InventoryError::db("reading an in-band inspection"))?;
        let at: Option<i64> = r
            .try_get("inband_at")
            .map_err(InventoryError::db("reading an in-band inspection"))?;
        Ok(match (text, at) {
            (Some(t), Some(at)) => serde_json::from_str(&t).ok().map(|v| (v, at)),
            _ => None,
        })
    }
}

impl Inventory {
    /// Every node's last in-band inspection, by node name (nodes never inspected in-band are not
    /// in it): one query, for a plan over many nodes.
    pub async fn inband_all(
        &self,
    ) -> Result<std::collections::BTreeMap<String, serde_json::Value>> {
        let rows = sqlx::query("SELECT name, inband FROM nodes WHERE inband IS NOT NULL")
            .fetch_all(&self.pool)
            .await
            .map_err(InventoryError::db("reading in-band inspections"))?;
        let mut out = std::collections::BTreeMap::new();
        for r in rows {
            let name: String = r
                .try_get("name")
                .map_err(InventoryError::db("reading in-band inspections"))?;
            let text: String = r
                .try_get("inband")
                .map_err(InventoryError::db("reading in-band inspections"))?;
            if let Ok(v) = serde_json::from_str(&text) {
                out.insert(name, v);
            }
        }
        Ok(out)
    }
}
