//! Flavors as the inventory keeps them (the matching rules themselves are in [`planner_core::flavor`]).

use serde::Serialize;
use sqlx::Any;

use super::audit::Change;
use super::{get_str, now_ms, Inventory, InventoryError, Result};
use planner_core::flavor::Flavor;
use planner_core::project::{Access, Object};

/// A flavor with how many nodes it matches now.
#[derive(Debug, Clone, Serialize)]
pub struct FlavorCapacity {
    pub flavor: Flavor,
    pub matching: usize,
    /// Matching nodes that are available, not in maintenance and not allocated.
    pub free: usize,
}

impl Inventory {
    pub(super) async fn flavor_unchecked<'e, E>(&self, ex: E, name: &str) -> Result<Flavor>
    where
        E: sqlx::Executor<'e, Database = Any>,
    {
        let row = sqlx::query("SELECT spec FROM flavors WHERE name = $1")
            .bind(name.to_string())
            .fetch_optional(ex)
            .await
            .map_err(InventoryError::db("reading a flavor"))?
            .ok_or_else(|| InventoryError::NotFound {
                kind: "flavor",
                name: name.to_string(),
            })?;
        serde_json::from_str(&get_str(&row, "spec")?).map_err(|e| {
            InventoryError::Invalid(format!("flavor {name}: the stored spec is damaged: {e}"))
        })
    }

    /// Creates or replaces a flavor (admin).
    pub async fn put_flavor(&self, flavor: &Flavor) -> Result<()> {
        self.authorize(
            Object::Flavor,
            Access::Write,
            None,
            "flavor.put",
            &flavor.name,
        )
        .await?;
        super::valid_name("flavor", &flavor.name)?;
        flavor
            .validate()
            .map_err(|e| InventoryError::Invalid(e.into()))?;
        let mut tx = self.begin().await?;
        let before = self.flavor_unchecked(&mut *tx, &flavor.name).await.ok();
        let now = now_ms();
        sqlx::query(
            "INSERT INTO flavors (name, spec, created_at, updated_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at",
        )
        .bind(flavor.name.clone())
        .bind(serde_json::to_string(flavor).unwrap_or_default())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(InventoryError::db("writing a flavor"))?;
        self.audit(
            &mut tx,
            Change {
                action: "flavor.put",
                kind: Object::Flavor,
                object: &flavor.name,
                project: None,
                node: None,
                before: before.map(|b| serde_json::to_value(b).unwrap_or_default()),
                after: Some(serde_json::to_value(flavor).unwrap_or_default()),
                detail: None,
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing a flavor"))
    }

    pub async fn delete_flavor(&self, name: &str) -> Result<()> {
        self.authorize(Object::Flavor, Access::Write, None, "flavor.delete", name)
            .await?;
        let mut tx = self.begin().await?;
        let before = self.flavor_unchecked(&mut *tx, name).await?;
        sqlx::query("DELETE FROM flavors WHERE name = $1")
            .bind(name.to_string())
            .execute(&mut *tx)
            .await
            .map_err(InventoryError::db("deleting a flavor"))?;
        self.audit(
            &mut tx,
            Change {
                action: "flavor.delete",
                kind: Object::Flavor,
                object: name,
                project: None,
                node: None,
                before: Some(serde_json::to_value(before).unwrap_or_default()),
                after: None,
                detail: None,
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing a flavor deletion"))
    }

    /// Every flavor with its current capacity (admin).
    pub async fn flavors(&self) -> Result<Vec<FlavorCapacity>> {
        self.authorize(Object::Flavor, Access::Read, None, "flavor.list", "*")
            .await?;
        let rows = sqlx::query("SELECT spec FROM flavors ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(InventoryError::db("listing flavors"))?;
        let nodes = self.all_nodes(&self.pool).await?;
        let mut out = Vec::new();
        for r in rows {
            let flavor: Flavor = serde_json::from_str(&get_str(&r, "spec")?)
                .map_err(|e| InventoryError::Invalid(format!("a stored flavor is damaged: {e}")))?;
            let matching: Vec<_> = nodes
                .iter()
                .filter(|n| flavor.matches(&n.specs()))
                .collect();
            let free = matching.iter().filter(|n| super::hosts::is_free(n)).count();
            out.push(FlavorCapacity {
                matching: matching.len(),
                free,
                flavor,
            });
        }
        Ok(out)
    }
}

/// `bmplan flavors list`: a flavor per row, with how many nodes match it and how many are free.
pub fn rows(all: &[FlavorCapacity]) -> planner_core::report::Rows {
    planner_core::report::Rows {
        header: vec![
            "NAME", "CPUS", "MEM_GIB", "DISK_GIB", "ARCH", "VENDOR", "TRAITS", "MATCHING", "FREE",
        ],
        cells: all
            .iter()
            .map(|c| {
                let f = &c.flavor;
                vec![
                    f.name.clone(),
                    f.cpus.to_string(),
                    f.memory_gib.to_string(),
                    f.disk_gib.to_string(),
                    f.arch.clone().unwrap_or_else(|| "any".into()),
                    f.vendor.clone().unwrap_or_else(|| "any".into()),
                    f.traits.iter().cloned().collect::<Vec<_>>().join(","),
                    c.matching.to_string(),
                    c.free.to_string(),
                ]
            })
            .collect(),
    }
}
