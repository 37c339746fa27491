//! Projects and their quotas on hosts and nodes.

use serde::Serialize;

use super::audit::Change;
use super::{get_i64, get_opt_i64, get_str, now_ms, Inventory, InventoryError, Result};
use planner_core::project::{Access, Object};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProjectRecord {
    pub name: String,
    pub max_hosts: Option<i64>,
    pub max_nodes: Option<i64>,
    pub hosts: i64,
    /// Nodes the project uses: reserved for it, or carrying one of its hosts.
    pub nodes: i64,
}

impl Inventory {
    /// Creates a project or changes its quotas (admin). `None` means unlimited.
    pub async fn put_project(
        &self,
        name: &str,
        max_hosts: Option<i64>,
        max_nodes: Option<i64>,
    ) -> Result<ProjectRecord> {
        self.authorize(Object::Project, Access::Write, None, "project.put", name)
            .await?;
        super::valid_name("project", name)?;
        if name.trim().is_empty() || name.contains(',') {
            return Err(InventoryError::Invalid(format!(
                "{name:?} is not a project name (non-empty, no commas)"
            )));
        }
        let mut tx = self.begin().await?;
        let before = self.project_in(&mut *tx, name).await.ok();
        sqlx::query(
            "INSERT INTO projects (name, max_hosts, max_nodes, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET max_hosts = excluded.max_hosts, max_nodes = excluded.max_nodes",
        )
        .bind(name.to_string())
        .bind(max_hosts)
        .bind(max_nodes)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(InventoryError::db("writing a project"))?;
        let after = self.project_in(&mut *tx, name).await?;
        self.audit(
            &mut tx,
            Change {
                action: "project.put",
                kind: Object::Project,
                object: name,
                project: Some(name),
                node: None,
                before: before.map(|b| serde_json::to_value(b).unwrap_or_default()),
                after: Some(serde_json::to_value(&after).unwrap_or_default()),
                detail: None,
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing a project"))?;
        Ok(after)
    }

    /// One project with its usage, read through `ex` (the pool, or a transaction).
    pub(super) async fn project_in<'e, E>(&self, ex: E, name: &str) -> Result<ProjectRecord>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        let row = sqlx::query(
            "SELECT p.name, p.max_hosts, p.max_nodes, \
               (SELECT COUNT(*) FROM hosts h WHERE h.project = p.name) AS hosts, \
               (SELECT COUNT(*) FROM nodes n WHERE n.owner_project = p.name \
                  OR EXISTS (SELECT 1 FROM hosts h WHERE h.node_id = n.id AND h.project = p.name)) AS nodes \
             FROM projects p WHERE p.name = $1",
        )
        .bind(name.to_string())
        .fetch_optional(ex)
        .await
        .map_err(InventoryError::db("reading a project"))?
        .ok_or_else(|| InventoryError::NotFound {
            kind: "project",
            name: name.to_string(),
        })?;
        Ok(ProjectRecord {
            name: get_str(&row, "name")?,
            max_hosts: get_opt_i64(&row, "max_hosts")?,
            max_nodes: get_opt_i64(&row, "max_nodes")?,
            hosts: get_i64(&row, "hosts")?,
            nodes: get_i64(&row, "nodes")?,
        })
    }

    /// Projects with their usage: every project for an admin, their own for a member.
    pub async fn projects(&self) -> Result<Vec<ProjectRecord>> {
        let rows = sqlx::query("SELECT name FROM projects ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(InventoryError::db("listing projects"))?;
        let mut out = Vec::new();
        for r in rows {
            let name = get_str(&r, "name")?;
            if self.actor.in_project(&name) {
                out.push(self.project_in(&self.pool, &name).await?);
            }
        }
        Ok(out)
    }

    /// Refuses a node reservation that would take `project` over its node quota, inside the
    /// transaction that makes it. `node` is not counted twice if it already is the project's.
    pub(super) async fn check_node_quota(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        project: &str,
        node: &super::NodeRecord,
    ) -> Result<()> {
        let p = self.project_in(&mut **tx, project).await?;
        let already = node.owner_project.as_deref() == Some(project)
            || node.project.as_deref() == Some(project);
        if let Some(limit) = p.max_nodes {
            if !already && p.nodes >= limit {
                return Err(InventoryError::Quota {
                    project: project.to_string(),
                    what: "nodes",
                    limit,
                    used: p.nodes,
                });
            }
        }
        Ok(())
    }
}

/// `bmplan projects list`: a project per row, with its hosts and nodes against its quotas.
pub fn rows(all: &[ProjectRecord]) -> planner_core::report::Rows {
    let limit = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
    planner_core::report::Rows {
        header: vec!["NAME", "HOSTS", "MAX_HOSTS", "NODES", "MAX_NODES"],
        cells: all
            .iter()
            .map(|p| {
                vec![
                    p.name.clone(),
                    p.hosts.to_string(),
                    limit(p.max_hosts),
                    p.nodes.to_string(),
                    limit(p.max_nodes),
                ]
            })
            .collect(),
    }
}
