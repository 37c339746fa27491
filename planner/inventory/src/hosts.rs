//! Hosts and scheduling: a host is one node allocated to a project, by flavor (best fit, then name) or
//! pinned by name.
//!
//! Allocation is one transaction. On PostgreSQL it locks the project's row (so its quota is checked
//! against a stable count), then tries the ranked candidates with `FOR UPDATE SKIP LOCKED`, re-checking
//! under the lock that the node is still free; a node another allocation holds is skipped, not waited
//! for. On SQLite, `BEGIN IMMEDIATE` serialises the whole allocation. Either way the unique index on
//! `hosts.node_id` is the last word.

use std::collections::BTreeMap;

use sqlx::any::AnyRow;
use sqlx::{Any, Transaction};

use super::audit::Change;
use super::nodes::NodeRecord;
use super::{
    get_i64, get_opt, get_str, now_ms, pause_point, Backend, Inventory, InventoryError, Result,
};
use planner_core::flavor::Flavor;
use planner_core::lifecycle::ProvisionState;
use planner_core::project::{Access, Object};
pub use planner_core::records::HostRecord;

/// What a new host asks for: a flavor to schedule by, or a node to pin.
#[derive(Debug, Clone, Default)]
pub struct NewHost {
    pub name: String,
    /// Defaults to the actor's only project.
    pub project: Option<String>,
    pub flavor: Option<String>,
    pub node: Option<String>,
}

/// Available, not in maintenance, not allocated.
pub fn is_free(n: &NodeRecord) -> bool {
    n.state == ProvisionState::Available && !n.maintenance && n.host.is_none()
}

/// What keeps a node from being free, for a refusal: its state, maintenance, its host.
fn busy_detail(n: &NodeRecord) -> String {
    format!(
        "{}{}{}",
        n.state,
        if n.maintenance {
            ", in maintenance"
        } else {
            ""
        },
        n.host
            .as_ref()
            .map(|h| format!(", carrying host {h}"))
            .unwrap_or_default()
    )
}

const HOST_SELECT: &str =
    "SELECT h.id, h.name, h.project, h.flavor, h.state, h.created_by, h.created_at, h.deployment, \
     n.name AS node_name, n.state AS node_state, n.power, n.arch \
     FROM hosts h LEFT JOIN nodes n ON n.id = h.node_id";

fn host_from_row(r: &AnyRow) -> Result<HostRecord> {
    Ok(HostRecord {
        id: get_i64(r, "id")?,
        name: get_str(r, "name")?,
        project: get_str(r, "project")?,
        flavor: get_opt(r, "flavor")?,
        node: get_opt(r, "node_name")?,
        state: get_str(r, "state")?,
        node_state: get_opt(r, "node_state")?
            .as_deref()
            .and_then(ProvisionState::parse),
        power: get_opt(r, "power")?,
        arch: get_opt(r, "arch")?,
        created_by: get_str(r, "created_by")?,
        created_at: get_i64(r, "created_at")?,
        deployment: get_opt(r, "deployment")?.and_then(|s: String| serde_json::from_str(&s).ok()),
        addresses: Default::default(),
    })
}

/// Why no node fits: how many match the flavor, and where they are.
fn capacity_detail(flavor: &Flavor, project: &str, nodes: &[NodeRecord]) -> String {
    let matching: Vec<&NodeRecord> = nodes
        .iter()
        .filter(|n| flavor.matches(&n.specs()))
        .collect();
    if matching.is_empty() {
        return format!("no node of the {} in the inventory matches it", nodes.len());
    }
    let mut by_state: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut allocated, mut maintenance, mut reserved) = (0, 0, 0);
    for n in &matching {
        *by_state.entry(n.state.as_str()).or_default() += 1;
        if n.host.is_some() {
            allocated += 1;
        } else if n.maintenance {
            maintenance += 1;
        } else if n.owner_project.as_deref().is_some_and(|p| p != project) {
            reserved += 1;
        }
    }
    let states: Vec<String> = by_state.iter().map(|(s, c)| format!("{c} {s}")).collect();
    format!(
        "{} nodes match it and none is free for project {project} ({}; {allocated} allocated to hosts, \
         {maintenance} in maintenance, {reserved} reserved for other projects)",
        matching.len(),
        states.join(", ")
    )
}

impl Inventory {
    /// Allocates a node to a new host, atomically: the host row, the node's allocation, the quota
    /// check and the audit entry commit together or not at all.
    /// Allocates a node to a new host. A refusal for quota or capacity is recorded in the audit log
    /// with its reason (permission refusals are recorded where they are decided).
    pub async fn create_host(&self, req: &NewHost) -> Result<HostRecord> {
        let result = self.allocate_host(req).await;
        if let Err(e @ (InventoryError::Quota { .. } | InventoryError::NoCapacity { .. })) = &result
        {
            let project = match e {
                InventoryError::Quota { project, .. } => Some(project.clone()),
                _ => req
                    .project
                    .clone()
                    .or_else(|| self.actor.default_project().map(str::to_string)),
            };
            self.record_denied(
                Object::Host,
                "host.create",
                &req.name,
                project.as_deref(),
                &e.to_string(),
            )
            .await?;
        }
        result
    }

    async fn allocate_host(&self, req: &NewHost) -> Result<HostRecord> {
        let project = match req
            .project
            .as_deref()
            .or_else(|| self.actor.default_project())
        {
            Some(p) => p.to_string(),
            None => {
                return Err(InventoryError::Invalid(format!(
                    "host {}: name its project (--project)",
                    req.name
                )))
            }
        };
        self.authorize(
            Object::Host,
            Access::Write,
            Some(&project),
            "host.create",
            &req.name,
        )
        .await?;
        super::valid_name("host", &req.name)?;
        if req.flavor.is_none() && req.node.is_none() {
            return Err(InventoryError::Invalid(format!(
                "host {}: give a flavor to schedule by, or a node",
                req.name
            )));
        }
        if req.node.is_some() && !self.actor.is_admin() {
            let reason = format!(
                "{} ({}) cannot pin a node: only an admin can",
                self.actor.user,
                self.actor.role.as_str()
            );
            self.record_denied(
                Object::Host,
                "host.create",
                &req.name,
                Some(&project),
                &reason,
            )
            .await?;
            return Err(InventoryError::Forbidden { reason });
        }
        let mut tx = self.begin().await?;
        // Lock the project: quota checks see a count no concurrent allocation can change.
        let locked = sqlx::query(&format!(
            "SELECT name, max_hosts FROM projects WHERE name = $1{}",
            self.for_update()
        ))
        .bind(project.clone())
        .fetch_optional(&mut *tx)
        .await
        .map_err(InventoryError::db("locking a project"))?;
        if locked.is_none() {
            return Err(InventoryError::NotFound {
                kind: "project",
                name: project,
            });
        }
        let usage = self.project_in(&mut *tx, &project).await?;
        if let Some(limit) = usage.max_hosts {
            if usage.hosts >= limit {
                return Err(InventoryError::Quota {
                    project,
                    what: "hosts",
                    limit,
                    used: usage.hosts,
                });
            }
        }
        let exists = sqlx::query("SELECT id FROM hosts WHERE project = $1 AND name = $2")
            .bind(project.clone())
            .bind(req.name.clone())
            .fetch_optional(&mut *tx)
            .await
            .map_err(InventoryError::db("reading hosts"))?;
        if exists.is_some() {
            return Err(InventoryError::AlreadyExists {
                kind: "host",
                name: format!("{project}/{}", req.name),
            });
        }
        let flavor = match &req.flavor {
            Some(f) => Some(self.flavor_unchecked(&mut *tx, f).await?),
            None => None,
        };
        let nodes = self.all_nodes(&mut *tx).await?;
        let free: Vec<&NodeRecord> = nodes
            .iter()
            .filter(|n| is_free(n))
            .filter(|n| n.owner_project.as_deref().is_none_or(|p| p == project))
            .collect();
        let candidates: Vec<&NodeRecord> = match (&req.node, &flavor) {
            (Some(pin), _) => {
                let n = nodes.iter().find(|n| &n.name == pin).ok_or_else(|| {
                    InventoryError::NotFound {
                        kind: "node",
                        name: pin.clone(),
                    }
                })?;
                if let Some(f) = &flavor {
                    let why = f.mismatches(&n.specs());
                    if !why.is_empty() {
                        return Err(InventoryError::Conflict {
                            detail: format!(
                                "node {pin} does not match flavor {}: {}",
                                f.name,
                                why.join("; ")
                            ),
                        });
                    }
                }
                if !free.iter().any(|f| f.name == *pin) {
                    return Err(InventoryError::Conflict {
                        detail: format!("node {pin} is not free: it is {}", busy_detail(n)),
                    });
                }
                vec![n]
            }
            (None, Some(f)) => {
                let specs: Vec<_> = free.iter().map(|n| n.specs()).collect();
                let mut ranked: Vec<&NodeRecord> = f
                    .rank(&specs)
                    .into_iter()
                    .filter_map(|s| free.iter().find(|n| n.name == s.name).copied())
                    .collect();
                // Nodes reserved for the project go first: that is what they are reserved for.
                ranked.sort_by_key(|n| n.owner_project.as_deref() != Some(project.as_str()));
                ranked
            }
            (None, None) => unreachable!("checked above"),
        };
        let mut chosen = None;
        for c in candidates {
            if self.lock_free_node(&mut tx, c.id).await? {
                chosen = Some(c);
                break;
            }
        }
        let Some(node) = chosen else {
            let flavor_name = req.flavor.clone().unwrap_or_default();
            let detail = match &flavor {
                Some(f) => capacity_detail(f, &project, &nodes),
                None => "the pinned node was taken by a concurrent allocation".into(),
            };
            return Err(InventoryError::NoCapacity {
                flavor: flavor_name,
                detail,
            });
        };
        if let Some(limit) = usage.max_nodes {
            let counted = node.owner_project.as_deref() == Some(project.as_str());
            if !counted && usage.nodes >= limit {
                return Err(InventoryError::Quota {
                    project,
                    what: "nodes",
                    limit,
                    used: usage.nodes,
                });
            }
        }
        let now = now_ms();
        sqlx::query(
            "INSERT INTO hosts (name, project, flavor, node_id, state, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, 'allocated', $5, $6, $6)",
        )
        .bind(req.name.clone())
        .bind(project.clone())
        .bind(req.flavor.clone())
        .bind(node.id)
        .bind(self.actor.user.clone())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => InventoryError::Conflict {
                detail: format!(
                    "host {}: node {} was allocated by a concurrent request; retry",
                    req.name, node.name
                ),
            },
            _ => InventoryError::Database {
                operation: "inserting a host".into(),
                source: e,
            },
        })?;
        pause_point("allocate").await;
        let host = self.host_in(&mut *tx, &project, &req.name).await?;
        self.audit(
            &mut tx,
            Change {
                action: "host.create",
                kind: Object::Host,
                object: &req.name,
                project: Some(&project),
                node: Some(&node.name),
                before: None,
                after: Some(serde_json::to_value(&host).unwrap_or_default()),
                detail: Some(format!(
                    "allocated {} ({})",
                    node.name,
                    req.flavor
                        .as_deref()
                        .map(|f| format!("flavor {f}, best fit"))
                        .unwrap_or_else(|| "pinned".into())
                )),
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing an allocation"))?;
        Ok(host)
    }

    /// Takes the row lock of a node that is still free; `false` when another allocation has it or
    /// has taken it since the candidates were read.
    async fn lock_free_node(&self, tx: &mut Transaction<'static, Any>, id: i64) -> Result<bool> {
        let lock = match self.backend {
            Backend::Postgres => " FOR UPDATE OF n SKIP LOCKED",
            Backend::Sqlite => "",
        };
        let row = sqlx::query(&format!(
            "SELECT n.id FROM nodes n WHERE n.id = $1 AND n.state = $2 AND n.maintenance = 0 \
             AND NOT EXISTS (SELECT 1 FROM hosts h WHERE h.node_id = n.id){lock}"
        ))
        .bind(id)
        .bind(ProvisionState::Available.as_str())
        .fetch_optional(&mut **tx)
        .await
        .map_err(InventoryError::db("locking a node"))?;
        Ok(row.is_some())
    }

    /// One host, read through `ex` (the pool, or a transaction).
    /// Locks a host's row for the rest of `tx` (PostgreSQL; SQLite's transaction already holds
    /// the database), so a read-modify-write of its deployment never loses a concurrent one.
    async fn lock_host(
        &self,
        tx: &mut Transaction<'static, Any>,
        project: &str,
        name: &str,
    ) -> Result<()> {
        sqlx::query(&format!(
            "SELECT id FROM hosts WHERE project = $1 AND name = $2{}",
            self.for_update()
        ))
        .bind(project.to_string())
        .bind(name.to_string())
        .fetch_optional(&mut **tx)
        .await
        .map_err(InventoryError::db("locking a host"))?;
        Ok(())
    }

    async fn host_in<'e, E>(&self, ex: E, project: &str, name: &str) -> Result<HostRecord>
    where
        E: sqlx::Executor<'e, Database = Any>,
    {
        let row = sqlx::query(&format!(
            "{HOST_SELECT} WHERE h.project = $1 AND h.name = $2"
        ))
        .bind(project.to_string())
        .bind(name.to_string())
        .fetch_optional(ex)
        .await
        .map_err(InventoryError::db("reading a host"))?;
        match row {
            Some(r) => host_from_row(&r),
            None => Err(InventoryError::NotFound {
                kind: "host",
                name: format!("{project}/{name}"),
            }),
        }
    }

    /// One host. A member asking for another project's host is refused (and recorded).
    pub async fn host(&self, project: &str, name: &str) -> Result<HostRecord> {
        self.authorize(Object::Host, Access::Read, Some(project), "host.read", name)
            .await?;
        let mut h = self.host_in(&self.pool, project, name).await?;
        for a in self.host_rows(&self.pool, project, name).await? {
            h.addresses.entry(a.network).or_default().push(a.address);
        }
        Ok(h)
    }

    /// Fills in the hosts' addresses, by network (one read for all of them).
    async fn with_addresses(&self, hosts: &mut [HostRecord]) -> Result<()> {
        if hosts.is_empty() {
            return Ok(());
        }
        for a in self.addresses(None).await? {
            if let Some(h) = hosts
                .iter_mut()
                .find(|h| h.project == a.project && h.name == a.host)
            {
                h.addresses.entry(a.network).or_default().push(a.address);
            }
        }
        Ok(())
    }

    /// Hosts, by project then name: all of them for an admin, the actor's projects' for a member.
    /// Asking a member's list for another project is refused and recorded.
    pub async fn hosts(&self, project: Option<&str>) -> Result<Vec<HostRecord>> {
        if let Some(p) = project {
            self.authorize(Object::Host, Access::Read, Some(p), "host.list", p)
                .await?;
        }
        let rows = sqlx::query(&format!("{HOST_SELECT} ORDER BY h.project, h.name"))
            .fetch_all(&self.pool)
            .await
            .map_err(InventoryError::db("listing hosts"))?;
        let mut out = Vec::new();
        for r in rows {
            let h = host_from_row(&r)?;
            if project.is_none_or(|p| p == h.project) && self.actor.in_project(&h.project) {
                out.push(h);
            }
        }
        self.with_addresses(&mut out).await?;
        Ok(out)
    }

    /// Deletes a host that has not been deployed, releasing its node. A deployed host goes through
    /// the lifecycle (delete → cleaning) instead, which this refuses to skip.
    pub async fn delete_host(&self, project: &str, name: &str) -> Result<()> {
        self.authorize(
            Object::Host,
            Access::Write,
            Some(project),
            "host.delete",
            name,
        )
        .await?;
        let mut tx = self.begin().await?;
        let host = self.host_in(&mut *tx, project, name).await?;
        if let Some(ns) = host.node_state {
            if ns != ProvisionState::Available {
                return Err(InventoryError::Conflict {
                    detail: format!(
                        "host {project}/{name} is on node {} which is {ns}: a deployed host is released by \
                         deleting it through the lifecycle (delete → cleaning), not by dropping the record",
                        host.node.as_deref().unwrap_or("?")
                    ),
                });
            }
        }
        sqlx::query("DELETE FROM hosts WHERE id = $1")
            .bind(host.id)
            .execute(&mut *tx)
            .await
            .map_err(InventoryError::db("deleting a host"))?;
        // Its addresses are free again (each release audited).
        self.release_host_addresses(&mut tx, project, name).await?;
        // Its log goes with it: a host made later under the name starts a log of its own.
        sqlx::query("DELETE FROM host_logs WHERE project = $1 AND host = $2")
            .bind(project.to_string())
            .bind(name.to_string())
            .execute(&mut *tx)
            .await
            .map_err(InventoryError::db("deleting a host's log"))?;
        self.audit(
            &mut tx,
            Change {
                action: "host.delete",
                kind: Object::Host,
                object: name,
                project: Some(project),
                node: host.node.as_deref(),
                before: Some(serde_json::to_value(&host).unwrap_or_default()),
                after: None,
                detail: host.node.as_ref().map(|n| format!("released {n}")),
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing a host deletion"))
    }

    /// Adopts a running server: the node goes from manageable to active, with a host record in
    /// `project`, without a deployment.
    pub async fn adopt(&self, node: &str, host: &str, project: &str) -> Result<HostRecord> {
        self.authorize(Object::Node, Access::Write, None, "node.adopt", node)
            .await?;
        let mut tx = self.begin().await?;
        let n = self.node_in_locked(&mut tx, node).await?;
        let next = planner_core::lifecycle::transition(
            node,
            n.state,
            planner_core::lifecycle::Event::Adopt,
        )?;
        if n.maintenance {
            return Err(InventoryError::Conflict {
                detail: format!("node {node} is in maintenance: clear it before adopting"),
            });
        }
        self.project_in(&mut *tx, project).await?;
        let now = now_ms();
        sqlx::query("UPDATE nodes SET state = $1, updated_at = $2 WHERE id = $3")
            .bind(next.as_str())
            .bind(now)
            .bind(n.id)
            .execute(&mut *tx)
            .await
            .map_err(InventoryError::db("adopting a node"))?;
        sqlx::query(
            "INSERT INTO hosts (name, project, flavor, node_id, state, created_by, created_at, updated_at) \
             VALUES ($1, $2, NULL, $3, 'active', $4, $5, $5)",
        )
        .bind(host.to_string())
        .bind(project.to_string())
        .bind(n.id)
        .bind(self.actor.user.clone())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(|e| match &e {
            sqlx::Error::Database(d) if d.is_unique_violation() => InventoryError::AlreadyExists {
                kind: "host",
                name: format!("{project}/{host}"),
            },
            _ => InventoryError::Database {
                operation: "inserting a host".into(),
                source: e,
            },
        })?;
        let record = self.host_in(&mut *tx, project, host).await?;
        self.audit(
            &mut tx,
            Change {
                action: "node.adopt",
                kind: Object::Node,
                object: node,
                project: Some(project),
                node: Some(node),
                before: Some(serde_json::json!({"state": n.state.as_str()})),
                after: Some(serde_json::json!({"state": next.as_str(), "host": host})),
                detail: Some("adopted without deployment".into()),
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing an adoption"))?;
        Ok(record)
    }

    /// Moves a host to another node (a migration): the target must be free, and is locked as an
    /// allocation is. The host's state becomes `migrating`; what happens to the node it leaves is
    /// the caller's (the host lifecycle puts it in maintenance).
    pub async fn move_host(
        &self,
        project: &str,
        name: &str,
        to: &str,
        reason: &str,
    ) -> Result<HostRecord> {
        self.authorize(
            Object::Host,
            Access::Write,
            Some(project),
            "host.migrate",
            name,
        )
        .await?;
        let mut tx = self.begin().await?;
        let before = self.host_in(&mut *tx, project, name).await?;
        let target = self.node_in_locked(&mut tx, to).await?;
        let owned_elsewhere = target
            .owner_project
            .as_deref()
            .is_some_and(|p| p != project);
        if !is_free(&target) || owned_elsewhere || !self.lock_free_node(&mut tx, target.id).await? {
            return Err(InventoryError::Conflict {
                detail: format!(
                    "host {project}/{name} cannot move to node {to}: it is {}{}",
                    busy_detail(&target),
                    if owned_elsewhere {
                        ", reserved for another project"
                    } else {
                        ""
                    },
                ),
            });
        }
        sqlx::query(
            "UPDATE hosts SET node_id = $1, state = 'migrating', updated_at = $2 WHERE id = $3",
        )
        .bind(target.id)
        .bind(now_ms())
        .bind(before.id)
        .execute(&mut *tx)
        .await
        .map_err(InventoryError::db("moving a host"))?;
        let after = self.host_in(&mut *tx, project, name).await?;
        self.audit(
            &mut tx,
            Change {
                action: "host.migrate",
                kind: Object::Host,
                object: name,
                project: Some(project),
                node: Some(to),
                before: Some(serde_json::json!({"node": before.node, "state": before.state})),
                after: Some(serde_json::json!({"node": to, "state": "migrating"})),
                detail: Some(reason.to_string()),
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing a host migration"))?;
        Ok(after)
    }

    /// Authorizes a write to a host, then opens a transaction with its row locked and the host as
    /// it is in it: the start of every read-modify-write of a host.
    async fn begin_host_write(
        &self,
        project: &str,
        name: &str,
    ) -> Result<(Transaction<'static, Any>, HostRecord)> {
        self.authorize(
            Object::Host,
            Access::Write,
            Some(project),
            "host.state",
            name,
        )
        .await?;
        let mut tx = self.begin().await?;
        self.lock_host(&mut tx, project, name).await?;
        let before = self.host_in(&mut *tx, project, name).await?;
        Ok((tx, before))
    }

    /// Changes keys of a host's deployment as it is now, in one locked transaction, so a writer
    /// never puts back an older deployment over one that moved on meanwhile (a failover probe, a
    /// profile or ports changed in place). `change` gets the deployment (an empty map when the
    /// host has none) and says whether it changed it; only then is it written, with an audit
    /// entry naming the keys' new values.
    pub async fn update_host_deployment(
        &self,
        project: &str,
        name: &str,
        detail: &str,
        change: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>) -> bool,
    ) -> Result<()> {
        let (mut tx, before) = self.begin_host_write(project, name).await?;
        let was = match &before.deployment {
            Some(serde_json::Value::Object(m)) => m.clone(),
            _ => serde_json::Map::new(),
        };
        let mut dep = was.clone();
        if !change(&mut dep) {
            return Ok(());
        }
        let mut after = serde_json::Map::new();
        after.insert("state".into(), serde_json::json!(before.state));
        for (k, v) in &dep {
            if was.get(k) != Some(v) {
                after.insert(k.clone(), v.clone());
            }
        }
        sqlx::query("UPDATE hosts SET deployment = $1, updated_at = $2 WHERE id = $3")
            .bind(serde_json::Value::Object(dep).to_string())
            .bind(now_ms())
            .bind(before.id)
            .execute(&mut *tx)
            .await
            .map_err(InventoryError::db("updating a host's deployment"))?;
        self.audit(
            &mut tx,
            Change {
                action: "host.state",
                kind: Object::Host,
                object: name,
                project: Some(project),
                node: before.node.as_deref(),
                before: Some(serde_json::json!({"state": before.state})),
                after: Some(serde_json::Value::Object(after)),
                detail: Some(detail.to_string()),
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing a host's deployment"))?;
        Ok(())
    }

    /// Records a host's lifecycle state (and, when given, its deployment), with an audit entry.
    pub async fn set_host_state(
        &self,
        project: &str,
        name: &str,
        state: &str,
        deployment: Option<&serde_json::Value>,
        detail: Option<&str>,
    ) -> Result<HostRecord> {
        let (mut tx, before) = self.begin_host_write(project, name).await?;
        let dep = match deployment {
            Some(d) => Some(d.to_string()),
            None => before.deployment.as_ref().map(|d| d.to_string()),
        };
        sqlx::query("UPDATE hosts SET state = $1, deployment = $2, updated_at = $3 WHERE id = $4")
            .bind(state.to_string())
            .bind(dep)
            .bind(now_ms())
            .bind(before.id)
            .execute(&mut *tx)
            .await
            .map_err(InventoryError::db("updating a host's state"))?;
        let after = self.host_in(&mut *tx, project, name).await?;
        self.audit(
            &mut tx,
            Change {
                action: "host.state",
                kind: Object::Host,
                object: name,
                project: Some(project),
                node: before.node.as_deref(),
                before: Some(serde_json::json!({"state": before.state})),
                after: Some(serde_json::json!({"state": state})),
                detail: detail.map(str::to_string),
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing a host's state"))?;
        Ok(after)
    }

    pub(super) async fn node_in_locked(
        &self,
        tx: &mut Transaction<'static, Any>,
        name: &str,
    ) -> Result<NodeRecord> {
        sqlx::query(&format!(
            "SELECT id FROM nodes WHERE name = $1{}",
            self.for_update()
        ))
        .bind(name.to_string())
        .fetch_optional(&mut **tx)
        .await
        .map_err(InventoryError::db("locking a node"))?;
        self.node_in(&mut **tx, name).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn node(name: &str, state: ProvisionState, host: Option<&str>) -> NodeRecord {
        NodeRecord {
            id: 1,
            name: name.into(),
            state,
            power: None,
            health: None,
            maintenance: false,
            maintenance_reason: None,
            last_error: None,
            manufacturer: Some("Dell Inc.".into()),
            model: None,
            serial: None,
            system_uuid: None,
            arch: Some("x86_64".into()),
            cpus: 32,
            memory_gib: 256,
            disk_gib: 1000,
            traits: BTreeSet::new(),
            accelerators: Vec::new(),
            rack: None,
            bmc_url: String::new(),
            system_id: String::new(),
            username: String::new(),
            tls_mode: "verify".into(),
            owner_project: None,
            host: host.map(str::to_string),
            project: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn the_capacity_error_counts_matching_nodes_by_state() {
        let f = Flavor {
            name: "c".into(),
            cpus: 16,
            ..Flavor::default()
        };
        let nodes = vec![
            node("a", ProvisionState::Available, Some("h1")),
            node("b", ProvisionState::Active, Some("h2")),
            node("c", ProvisionState::Manageable, None),
        ];
        assert_eq!(
            capacity_detail(&f, "blue", &nodes),
            "3 nodes match it and none is free for project blue (1 active, 1 available, 1 manageable; \
             2 allocated to hosts, 0 in maintenance, 0 reserved for other projects)"
        );
        let big = Flavor {
            name: "big".into(),
            cpus: 128,
            ..Flavor::default()
        };
        assert_eq!(
            capacity_detail(&big, "blue", &nodes),
            "no node of the 3 in the inventory matches it"
        );
    }

    #[test]
    fn a_host_listing_leaves_the_sealed_user_data_out() {
        let h = HostRecord {
            id: 1,
            name: "web-1".into(),
            project: "blue".into(),
            flavor: None,
            node: Some("r1u01".into()),
            state: "active".into(),
            node_state: None,
            power: None,
            arch: None,
            created_by: "ops".into(),
            created_at: 0,
            deployment: Some(serde_json::json!({
                "image_url": "http://127.0.0.1/img",
                "user_data_sha256": "ab12",
                "user_data_sealed": "v1:key:ciphertext"
            })),
            addresses: Default::default(),
        };
        let shown = serde_json::to_value(&h).unwrap();
        assert_eq!(shown["deployment"]["user_data_sha256"], "ab12");
        assert!(
            shown["deployment"].get("user_data_sealed").is_none(),
            "{shown}"
        );
        // The record itself still has it (the import reads it back).
        assert!(h
            .deployment
            .as_ref()
            .unwrap()
            .get("user_data_sealed")
            .is_some());
    }
}
