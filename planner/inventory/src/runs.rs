//! Apply runs and the state last applied: a run stores its plan so a killed apply resumes exactly it,
//! and each object's last applied values tell out-of-band changes from desired ones.

use std::collections::BTreeMap;

use serde_json::Value;

use super::audit::Change;
use super::{get_str, now_ms, Inventory, InventoryError, Result};
use planner_core::project::{Access, Object};

/// An apply run that did not finish.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenRun {
    pub run_id: String,
    pub plan: String,
    pub actor: String,
}

impl Inventory {
    /// Records the start of a run with its plan (admin: applies change the fleet).
    pub async fn start_run(&self, run_id: &str, desired: &str, plan: &str) -> Result<()> {
        self.authorize(Object::Node, Access::Write, None, "apply.start", run_id)
            .await?;
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO runs (run_id, desired, plan, status, actor, created_at) VALUES ($1, $2, $3, 'running', $4, $5)",
        )
        .bind(run_id.to_string())
        .bind(desired.to_string())
        .bind(plan.to_string())
        .bind(self.actor.user.clone())
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(InventoryError::db("recording a run"))?;
        self.audit(
            &mut tx,
            Change {
                action: "apply.start",
                kind: Object::Node,
                object: run_id,
                project: None,
                node: None,
                before: None,
                after: None,
                detail: Some(format!("desired state {desired}")),
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing a run"))
    }

    /// The newest unfinished run for this desired state, if any.
    pub async fn open_run(&self, desired: &str) -> Result<Option<OpenRun>> {
        let row = sqlx::query(
            "SELECT run_id, plan, actor FROM runs WHERE desired = $1 AND status = 'running' ORDER BY created_at DESC LIMIT 1",
        )
        .bind(desired.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(InventoryError::db("reading runs"))?;
        row.map(|r| {
            Ok(OpenRun {
                run_id: get_str(&r, "run_id")?,
                plan: get_str(&r, "plan")?,
                actor: get_str(&r, "actor")?,
            })
        })
        .transpose()
    }

    /// Marks a run finished: `succeeded`, `failed` or `stopped` (window).
    pub async fn finish_run(&self, run_id: &str, status: &str, detail: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE runs SET status = $1, finished_at = $2 WHERE run_id = $3")
            .bind(status.to_string())
            .bind(now_ms())
            .bind(run_id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(InventoryError::db("finishing a run"))?;
        self.audit(
            &mut tx,
            Change {
                action: "apply.finish",
                kind: Object::Node,
                object: run_id,
                project: None,
                node: None,
                before: None,
                after: Some(serde_json::json!({"status": status})),
                detail: Some(detail.to_string()),
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing a run's end"))
    }

    /// Records what the planner applied to an object, with an audit entry of the change: its
    /// `before` is what the device showed (`observed`, when the plan read it), else what was last
    /// applied.
    pub async fn record_applied(
        &self,
        object: &str,
        state: &BTreeMap<String, Value>,
        observed: Option<&BTreeMap<String, Value>>,
        run_id: &str,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        let last_applied = sqlx::query("SELECT state FROM applied_state WHERE object = $1")
            .bind(object.to_string())
            .fetch_optional(&mut *tx)
            .await
            .map_err(InventoryError::db("reading applied state"))?
            .and_then(|r| get_str(&r, "state").ok())
            .and_then(|s| serde_json::from_str::<Value>(&s).ok());
        let before = match observed.filter(|o| !o.is_empty()) {
            Some(o) => Some(serde_json::to_value(o).unwrap_or_default()),
            None => last_applied,
        };
        let text = serde_json::to_string(state).unwrap_or_default();
        sqlx::query(
            "INSERT INTO applied_state (object, state, run_id, updated_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (object) DO UPDATE SET state = excluded.state, run_id = excluded.run_id, updated_at = excluded.updated_at",
        )
        .bind(object.to_string())
        .bind(text)
        .bind(run_id.to_string())
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(InventoryError::db("recording applied state"))?;
        let node = object.strip_prefix("switch ").is_none().then_some(object);
        self.audit(
            &mut tx,
            Change {
                action: "apply.configure",
                kind: if node.is_some() {
                    Object::Node
                } else {
                    Object::Switch
                },
                object,
                project: None,
                node,
                before,
                after: Some(serde_json::to_value(state).unwrap_or_default()),
                detail: Some(format!("run {run_id}")),
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing applied state"))
    }

    /// Everything the planner last applied, by object.
    pub async fn applied_state(&self) -> Result<BTreeMap<String, BTreeMap<String, Value>>> {
        let rows = sqlx::query("SELECT object, state FROM applied_state")
            .fetch_all(&self.pool)
            .await
            .map_err(InventoryError::db("reading applied state"))?;
        let mut out = BTreeMap::new();
        for r in rows {
            let state = serde_json::from_str(&get_str(&r, "state")?).unwrap_or_default();
            out.insert(get_str(&r, "object")?, state);
        }
        Ok(out)
    }
}
