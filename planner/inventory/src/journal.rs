//! The apply journal: one row per step event (started, succeeded, failed, skipped). A resumed apply
//! reads which steps of its run already succeeded and does not run them again.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{get_i64, get_opt, get_str, now_ms, Inventory, InventoryError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    Started,
    Succeeded,
    Failed,
    Skipped,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Started => "started",
            StepStatus::Succeeded => "succeeded",
            StepStatus::Failed => "failed",
            StepStatus::Skipped => "skipped",
        }
    }

    fn parse(s: &str) -> Option<StepStatus> {
        [
            StepStatus::Started,
            StepStatus::Succeeded,
            StepStatus::Failed,
            StepStatus::Skipped,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JournalEntry {
    pub run_id: String,
    pub step: String,
    pub node: Option<String>,
    pub status: StepStatus,
    pub detail: Option<String>,
    pub at: i64,
}

impl Inventory {
    /// Appends a step event. Written (and committed) before the step runs and after it ends.
    pub async fn journal(
        &self,
        run_id: &str,
        step: &str,
        node: Option<&str>,
        status: StepStatus,
        detail: Option<&str>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO journal (run_id, step, node, status, detail, at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(run_id.to_string())
        .bind(step.to_string())
        .bind(node.map(str::to_string))
        .bind(status.as_str())
        .bind(detail.map(str::to_string))
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(InventoryError::db("writing the journal"))?;
        Ok(())
    }

    /// Every event of a run, in order.
    pub async fn journal_of(&self, run_id: &str) -> Result<Vec<JournalEntry>> {
        let rows = sqlx::query(
            "SELECT run_id, step, node, status, detail, at FROM journal WHERE run_id = $1 ORDER BY id",
        )
        .bind(run_id.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(InventoryError::db("reading the journal"))?;
        rows.iter()
            .map(|r| {
                let status = get_str(r, "status")?;
                Ok(JournalEntry {
                    run_id: get_str(r, "run_id")?,
                    step: get_str(r, "step")?,
                    node: get_opt(r, "node")?,
                    status: StepStatus::parse(&status).ok_or_else(|| {
                        InventoryError::Invalid(format!("unknown journal status {status:?}"))
                    })?,
                    detail: get_opt(r, "detail")?,
                    at: get_i64(r, "at")?,
                })
            })
            .collect()
    }

    /// The last status of each step of a run.
    pub async fn step_states(&self, run_id: &str) -> Result<BTreeMap<String, StepStatus>> {
        Ok(self
            .journal_of(run_id)
            .await?
            .into_iter()
            .map(|e| (e.step, e.status))
            .collect())
    }
}
