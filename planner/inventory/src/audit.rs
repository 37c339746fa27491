//! The audit log: who, in which project, did what to which object, before → after, when, and whether it
//! was allowed. Rows are written in the transaction of the change they describe; refusals get a row of
//! their own. Values pass through [`redact`] on the way in.

use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use super::{get_i64, get_opt, get_str, now_ms, Inventory, InventoryError, Result};
use planner_core::project::{Access, Object};
pub use planner_core::records::AuditEntry;

#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub since_ms: Option<i64>,
    pub node: Option<String>,
    pub project: Option<String>,
    pub outcome: Option<String>,
    pub limit: Option<i64>,
}

/// Replaces the value of every key that names a secret, at any depth.
pub fn redact(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let lk = k.to_ascii_lowercase();
                    let secret = ["password", "secret", "token", "sealed", "private_key"]
                        .iter()
                        .any(|s| lk.contains(s));
                    if secret && !v.is_null() {
                        (k.clone(), Value::String("<redacted>".into()))
                    } else {
                        (k.clone(), redact(v))
                    }
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(redact).collect()),
        other => other.clone(),
    }
}

/// One change to record.
pub(crate) struct Change<'a> {
    pub action: &'a str,
    pub kind: Object,
    pub object: &'a str,
    pub project: Option<&'a str>,
    pub node: Option<&'a str>,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub detail: Option<String>,
}

impl Inventory {
    /// Records `change` as done by this inventory's actor, inside `tx`.
    pub(crate) async fn audit(
        &self,
        tx: &mut Transaction<'static, Any>,
        change: Change<'_>,
    ) -> Result<()> {
        self.insert_audit(&mut **tx, change, "ok").await
    }

    /// Records an operation on a node that changes no inventory row (a host's power action), so
    /// the audit log holds every change made to a server.
    pub async fn record_node_operation(
        &self,
        action: &str,
        node: &str,
        project: Option<&str>,
        detail: &str,
    ) -> Result<()> {
        // A project's member may act on its host's node: authorized as a host operation.
        self.authorize(Object::Host, Access::Write, project, action, node)
            .await?;
        self.node_audit(action, node, project, detail, "ok").await
    }

    /// Records an operation on a node that was attempted and failed (a power change, a firmware
    /// update), with why.
    pub async fn record_node_failure(
        &self,
        action: &str,
        node: &str,
        project: Option<&str>,
        detail: &str,
    ) -> Result<()> {
        self.node_audit(action, node, project, detail, "failed")
            .await
    }

    async fn node_audit(
        &self,
        action: &str,
        node: &str,
        project: Option<&str>,
        detail: &str,
        outcome: &str,
    ) -> Result<()> {
        let change = Change {
            action,
            kind: Object::Node,
            object: node,
            project,
            node: Some(node),
            before: None,
            after: None,
            detail: Some(detail.to_string()),
        };
        self.insert_audit(&self.pool, change, outcome).await
    }

    async fn insert_audit<'e, E>(&self, ex: E, c: Change<'_>, outcome: &str) -> Result<()>
    where
        E: sqlx::Executor<'e, Database = Any>,
    {
        let json = |v: Option<Value>| v.map(|v| redact(&v).to_string());
        sqlx::query(
            "INSERT INTO audit (at, actor, role, project, action, object_kind, object, node, outcome, before, after, detail) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(now_ms())
        .bind(self.actor.user.clone())
        .bind(self.actor.role.as_str())
        .bind(c.project.map(str::to_string))
        .bind(c.action.to_string())
        .bind(c.kind.as_str())
        .bind(c.object.to_string())
        .bind(c.node.map(str::to_string))
        .bind(outcome.to_string())
        .bind(json(c.before))
        .bind(json(c.after))
        .bind(c.detail)
        .execute(ex)
        .await
        .map_err(InventoryError::db("writing the audit log"))?;
        Ok(())
    }

    /// Records a refused attempt (its own transaction: the attempt itself wrote nothing).
    pub async fn record_denied(
        &self,
        kind: Object,
        action: &str,
        object: &str,
        project: Option<&str>,
        reason: &str,
    ) -> Result<()> {
        let change = Change {
            action,
            kind,
            object,
            project,
            node: (kind == Object::Node).then_some(object),
            before: None,
            after: None,
            detail: Some(reason.to_string()),
        };
        self.insert_audit(&self.pool, change, "denied").await
    }

    /// Audit entries, oldest first. An admin sees every entry; a member sees the entries of their
    /// projects only (and asking for another project is refused and recorded).
    pub async fn audit_log(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        if let Some(p) = &filter.project {
            self.authorize(Object::Audit, Access::Read, Some(p), "audit.read", p)
                .await?;
        }
        let mut sql = String::from(
            "SELECT id, at, actor, role, project, action, object_kind, object, node, outcome, before, after, detail \
             FROM audit WHERE at >= $1",
        );
        let mut texts: Vec<String> = Vec::new();
        let mut push = |sql: &mut String, col: &str, v: &str| {
            texts.push(v.to_string());
            sql.push_str(&format!(" AND {col} = ${}", texts.len() + 1));
        };
        if let Some(n) = &filter.node {
            push(&mut sql, "node", n);
        }
        if let Some(p) = &filter.project {
            push(&mut sql, "project", p);
        }
        if let Some(o) = &filter.outcome {
            push(&mut sql, "outcome", o);
        }
        sql.push_str(" ORDER BY id");
        if let Some(l) = filter.limit {
            sql.push_str(&format!(" LIMIT {}", l.max(0)));
        }
        let mut q = sqlx::query(&sql).bind(filter.since_ms.unwrap_or(0));
        for t in texts {
            q = q.bind(t);
        }
        let rows = q
            .fetch_all(&self.pool)
            .await
            .map_err(InventoryError::db("reading the audit log"))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let e = entry(&r)?;
            let visible = self.actor.is_admin()
                || e.project
                    .as_deref()
                    .is_some_and(|p| self.actor.in_project(p));
            if visible {
                out.push(e);
            }
        }
        Ok(out)
    }
}

fn entry(r: &AnyRow) -> Result<AuditEntry> {
    let json = |c: &str| -> Result<Option<Value>> {
        Ok(get_opt(r, c)?.and_then(|s| serde_json::from_str(&s).ok()))
    };
    let at_ms = get_i64(r, "at")?;
    Ok(AuditEntry {
        id: get_i64(r, "id")?,
        at: super::format_time(at_ms),
        at_ms,
        actor: get_str(r, "actor")?,
        role: get_str(r, "role")?,
        project: get_opt(r, "project")?,
        action: get_str(r, "action")?,
        object_kind: get_str(r, "object_kind")?,
        object: get_str(r, "object")?,
        node: get_opt(r, "node")?,
        outcome: get_str(r, "outcome")?,
        before: json("before")?,
        after: json("after")?,
        detail: get_opt(r, "detail")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_at_any_depth() {
        let v = serde_json::json!({
            "name": "r1u01",
            "password": "calvin",
            "bmc": {"username": "root", "Password": "x", "password_sealed": "bmk1:..."},
            "list": [{"token": "t"}],
            "empty_password": null
        });
        let r = redact(&v);
        assert!(!r.to_string().contains("calvin"));
        assert_eq!(r["bmc"]["username"], "root");
        assert_eq!(r["bmc"]["Password"], "<redacted>");
        assert_eq!(r["list"][0]["token"], "<redacted>");
        assert!(r["empty_password"].is_null());
    }
}
