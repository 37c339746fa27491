//! A node's life read back from the audit log (`planner_core::history` builds it from the rows).

use super::{AuditFilter, Inventory, Result};
pub use planner_core::history::{LifeEvent, NodeHistory};

impl Inventory {
    /// The life of node `name`, from every audit entry about it.
    pub async fn node_history(&self, name: &str) -> Result<NodeHistory> {
        let entries = self
            .audit_log(&AuditFilter {
                node: Some(name.to_string()),
                ..AuditFilter::default()
            })
            .await?;
        Ok(NodeHistory::from_entries(name, &entries))
    }
}
