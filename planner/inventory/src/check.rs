//! `bmplan inventory check`: the invariants the inventory must keep, checked against what is stored.
//! Crash tests run it after killing a process mid-transaction.

use serde::Serialize;

use super::{get_i64, get_opt, get_str, Inventory, InventoryError, Result};
use crate::credentials::sealed_key_id;
use planner_core::lifecycle::ProvisionState;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub object: String,
    pub problem: String,
}

impl Inventory {
    /// Every broken invariant; empty when the inventory is consistent.
    pub async fn check(&self) -> Result<Vec<Violation>> {
        let mut out = Vec::new();
        let mut bad = |object: String, problem: String| out.push(Violation { object, problem });
        let nodes = sqlx::query("SELECT id, name, state, password_sealed FROM nodes")
            .fetch_all(&self.pool)
            .await
            .map_err(InventoryError::db("checking nodes"))?;
        for r in &nodes {
            let name = get_str(r, "name")?;
            let state = get_str(r, "state")?;
            if ProvisionState::parse(&state).is_none() {
                bad(format!("node {name}"), format!("unknown state {state:?}"));
            }
            if sealed_key_id(&get_str(r, "password_sealed")?).is_none() {
                bad(
                    format!("node {name}"),
                    "credentials are not sealed".to_string(),
                );
            }
        }
        let hosts = sqlx::query(
            "SELECT h.project, h.name, h.state, n.name AS node, n.state AS node_state \
             FROM hosts h LEFT JOIN nodes n ON n.id = h.node_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(InventoryError::db("checking hosts"))?;
        for r in &hosts {
            let host = format!("host {}/{}", get_str(r, "project")?, get_str(r, "name")?);
            let state = get_str(r, "state")?;
            match (get_opt(r, "node")?, get_opt(r, "node_state")?) {
                (None, _) if state != "deleted" => {
                    bad(host, format!("is {state} but has no node"));
                }
                (Some(n), Some(ns)) => {
                    // A host sits on a node of the pool: never on one still being enrolled.
                    let ns = ProvisionState::parse(&ns);
                    let outside = ns.is_none_or(|s| {
                        matches!(
                            s,
                            ProvisionState::Enroll
                                | ProvisionState::Verifying
                                | ProvisionState::VerifyFailed
                                | ProvisionState::Manageable
                                | ProvisionState::Inspecting
                                | ProvisionState::InspectFailed
                        )
                    });
                    if outside {
                        bad(
                            host,
                            format!(
                                "is {state} but its node {n} is {}",
                                ns.map(|s| s.as_str()).unwrap_or("unknown")
                            ),
                        );
                    }
                }
                _ => {}
            }
        }
        let orphans = sqlx::query(
            "SELECT COUNT(*) AS c FROM leases l WHERE NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = l.node_id)",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(InventoryError::db("checking leases"))?;
        let c = get_i64(&orphans, "c")?;
        if c > 0 {
            bad("leases".into(), format!("{c} leases name no node"));
        }
        let dup = sqlx::query(
            "SELECT node_id, COUNT(*) AS c FROM hosts WHERE node_id IS NOT NULL GROUP BY node_id HAVING COUNT(*) > 1",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(InventoryError::db("checking allocations"))?;
        for r in &dup {
            bad(
                format!("node id {}", get_i64(r, "node_id")?),
                format!("allocated to {} hosts", get_i64(r, "c")?),
            );
        }
        Ok(out)
    }
}
