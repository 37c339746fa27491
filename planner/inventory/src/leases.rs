//! Leases on nodes: an apply holds one on every node it works on, so two runners never work on one node
//! at once. A lease has an expiry, long enough for the work it covers (an apply's `lease_ttl`, a host
//! operation's time limit with a margin); it is not renewed while the work goes on. A runner that died
//! on the same machine is taken over at once; elsewhere its lease runs out, and the next runner takes
//! the node over (and resumes from the journal).
//!
//! Acquisition is one conditional upsert: it succeeds when the node has no lease, when the lease has
//! expired, or when the caller already holds it. Both backends run it atomically.

use std::time::Duration;

use serde::Serialize;

use super::{format_time, get_i64, get_str, now_ms, Inventory, InventoryError, Result};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Lease {
    pub node: String,
    pub holder: String,
    pub purpose: String,
    pub acquired_at: i64,
    pub expires_at: i64,
}

impl Inventory {
    /// Takes (or renews) the lease on `node` for `holder`, for `ttl`. Refused with [`LeaseHeld`]
    /// (naming the holder and the expiry) while someone else's lease is live. A renewal by the
    /// holder never shortens its lease (a converge run inside a longer host operation).
    ///
    /// [`LeaseHeld`]: InventoryError::LeaseHeld
    pub async fn acquire_lease(
        &self,
        node: &str,
        holder: &str,
        purpose: &str,
        ttl: Duration,
    ) -> Result<Lease> {
        let now = now_ms();
        let expires = now + ttl.as_millis() as i64;
        let mut tx = self.begin().await?;
        let id = get_i64(
            &sqlx::query("SELECT id FROM nodes WHERE name = $1")
                .bind(node.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(InventoryError::db("reading a node"))?
                .ok_or_else(|| InventoryError::NotFound {
                    kind: "node",
                    name: node.to_string(),
                })?,
            "id",
        )?;
        let done = sqlx::query(
            "INSERT INTO leases (node_id, holder, purpose, acquired_at, expires_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (node_id) DO UPDATE SET holder = excluded.holder, purpose = excluded.purpose, \
               acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at ELSE excluded.acquired_at END, \
               expires_at = CASE WHEN leases.holder = excluded.holder AND leases.expires_at > excluded.expires_at \
                 THEN leases.expires_at ELSE excluded.expires_at END \
             WHERE leases.expires_at <= $4 OR leases.holder = excluded.holder",
        )
        .bind(id)
        .bind(holder.to_string())
        .bind(purpose.to_string())
        .bind(now)
        .bind(expires)
        .execute(&mut *tx)
        .await
        .map_err(InventoryError::db("taking a lease"))?
        .rows_affected();
        let row = sqlx::query(
            "SELECT holder, purpose, acquired_at, expires_at FROM leases WHERE node_id = $1",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(InventoryError::db("reading a lease"))?;
        let lease = lease_of(&row, node.to_string())?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing a lease"))?;
        granted(lease, done, node.to_string(), now)
    }

    /// Takes (or renews) the lease on the BMC at `device` (its address), for the node `node` as the
    /// configuration names it: the same upsert as [`Inventory::acquire_lease`], for servers whether
    /// or not they are enrolled. Refused with [`InventoryError::LeaseHeld`] while someone else's
    /// lease on that BMC is live.
    pub async fn acquire_device_lease(
        &self,
        device: &str,
        node: &str,
        holder: &str,
        purpose: &str,
        ttl: Duration,
    ) -> Result<Lease> {
        let now = now_ms();
        let expires = now + ttl.as_millis() as i64;
        let mut tx = self.begin().await?;
        let done = sqlx::query(
            "INSERT INTO device_leases (device, node, holder, purpose, acquired_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (device) DO UPDATE SET node = excluded.node, holder = excluded.holder, \
               purpose = excluded.purpose, \
               acquired_at = CASE WHEN device_leases.holder = excluded.holder THEN device_leases.acquired_at ELSE excluded.acquired_at END, \
               expires_at = CASE WHEN device_leases.holder = excluded.holder AND device_leases.expires_at > excluded.expires_at \
                 THEN device_leases.expires_at ELSE excluded.expires_at END \
             WHERE device_leases.expires_at <= $5 OR device_leases.holder = excluded.holder",
        )
        .bind(device.to_string())
        .bind(node.to_string())
        .bind(holder.to_string())
        .bind(purpose.to_string())
        .bind(now)
        .bind(expires)
        .execute(&mut *tx)
        .await
        .map_err(InventoryError::db("taking a lease"))?
        .rows_affected();
        let row = sqlx::query(
            "SELECT node, holder, purpose, acquired_at, expires_at FROM device_leases WHERE device = $1",
        )
        .bind(device.to_string())
        .fetch_one(&mut *tx)
        .await
        .map_err(InventoryError::db("reading a lease"))?;
        let lease = lease_of(&row, get_str(&row, "node")?)?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing a lease"))?;
        granted(lease, done, format!("{node} ({device})"), now)
    }

    /// Hands the lease on `device` from `dead` (a holder known to have died) to `holder`: a
    /// compare-and-swap, so of two runners taking over at once only one gets it.
    pub async fn take_over_device_lease(
        &self,
        device: &str,
        dead: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool> {
        self.swap_holder(
            "UPDATE device_leases SET holder = $1, acquired_at = $2, expires_at = $3 \
             WHERE device = $4 AND holder = $5",
            device,
            dead,
            holder,
            ttl,
        )
        .await
    }

    /// [`Inventory::take_over_device_lease`] for an enrolled node's lease.
    pub async fn take_over_lease(
        &self,
        node: &str,
        dead: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool> {
        self.swap_holder(
            "UPDATE leases SET holder = $1, acquired_at = $2, expires_at = $3 \
             WHERE holder = $5 AND node_id = (SELECT id FROM nodes WHERE name = $4)",
            node,
            dead,
            holder,
            ttl,
        )
        .await
    }

    async fn swap_holder(
        &self,
        sql: &str,
        key: &str,
        dead: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<bool> {
        let now = now_ms();
        let n = sqlx::query(sql)
            .bind(holder.to_string())
            .bind(now)
            .bind(now + ttl.as_millis() as i64)
            .bind(key.to_string())
            .bind(dead.to_string())
            .execute(&self.pool)
            .await
            .map_err(InventoryError::db("taking over a lease"))?
            .rows_affected();
        Ok(n == 1)
    }

    /// Gives a BMC lease back; a no-op when `holder` does not hold it.
    pub async fn release_device_lease(&self, device: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM device_leases WHERE holder = $1 AND device = $2")
            .bind(holder.to_string())
            .bind(device.to_string())
            .execute(&self.pool)
            .await
            .map_err(InventoryError::db("releasing a lease"))?;
        Ok(())
    }

    /// Gives a lease back; a no-op when `holder` does not hold it.
    pub async fn release_lease(&self, node: &str, holder: &str) -> Result<()> {
        sqlx::query(
            "DELETE FROM leases WHERE holder = $1 AND node_id = (SELECT id FROM nodes WHERE name = $2)",
        )
        .bind(holder.to_string())
        .bind(node.to_string())
        .execute(&self.pool)
        .await
        .map_err(InventoryError::db("releasing a lease"))?;
        Ok(())
    }

    /// Live leases.
    pub async fn leases(&self) -> Result<Vec<Lease>> {
        let rows = sqlx::query(
            "SELECT n.name, l.holder, l.purpose, l.acquired_at, l.expires_at FROM leases l \
             JOIN nodes n ON n.id = l.node_id WHERE l.expires_at > $1 ORDER BY n.name",
        )
        .bind(now_ms())
        .fetch_all(&self.pool)
        .await
        .map_err(InventoryError::db("listing leases"))?;
        rows.iter()
            .map(|r| lease_of(r, get_str(r, "name")?))
            .collect()
    }
}

/// A lease row as read back after the upsert.
fn lease_of(row: &sqlx::any::AnyRow, node: String) -> Result<Lease> {
    Ok(Lease {
        node,
        holder: get_str(row, "holder")?,
        purpose: get_str(row, "purpose")?,
        acquired_at: get_i64(row, "acquired_at")?,
        expires_at: get_i64(row, "expires_at")?,
    })
}

/// The upsert's outcome: it changed a row (`done` > 0) when the caller now holds the lease; else
/// someone else's live lease stands, named in the error as `shown`.
fn granted(lease: Lease, done: u64, shown: String, now: i64) -> Result<Lease> {
    if done == 0 {
        return Err(InventoryError::LeaseHeld {
            node: shown,
            holder: lease.holder,
            purpose: lease.purpose,
            until: format_time(lease.expires_at),
            remaining_s: ((lease.expires_at - now) / 1000).max(0),
        });
    }
    Ok(lease)
}

/// `bmplan inventory leases`: a live lease per row.
pub fn rows(leases: &[Lease]) -> planner_core::report::Rows {
    planner_core::report::Rows {
        header: vec!["NODE", "HOLDER", "PURPOSE", "EXPIRES"],
        cells: leases
            .iter()
            .map(|l| {
                vec![
                    l.node.clone(),
                    l.holder.clone(),
                    l.purpose.clone(),
                    format_time(l.expires_at),
                ]
            })
            .collect(),
    }
}
