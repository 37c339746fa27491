//! The provider's catalog: networks and profiles (kept as documents), and the configuration a node
//! was given (its profile, switch ports and CA file), so that the engine can build a node's desired
//! state from the inventory alone and a Terraform import reads back exactly what was configured.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::audit::Change;
use super::nodes::Bind;
use super::{get_i64, get_opt, get_str, now_ms, Inventory, InventoryError, Result};
use planner_core::deploy::netboot::NodeBoot;
use planner_core::model::{NetworkSpec, PortWant, ProfileLayer};
use planner_core::project::{Access, Object};

/// What a node was configured with, beyond its BMC.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeConfig {
    pub profile: Option<String>,
    pub ports: Vec<PortWant>,
    /// The CA file the configuration named (the inventory keeps the PEM text too).
    pub ca_cert_path: Option<String>,
    /// What the host lifecycle puts over this configuration while a host holds the node. The
    /// node's own profile and ports stay as configured (what the node resource reads back).
    #[serde(default)]
    pub host_override: Option<HostOverride>,
    /// How the deploy agent reaches the node (virtual media or PXE) and its PXE MAC.
    #[serde(default)]
    pub boot: NodeBoot,
}

/// A host's layer over its node's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostOverride {
    /// Networks for every port instead of the configured ones: the provisioning network while
    /// deploying, the cleaning network while cleaning, the host's own networks while it runs.
    #[serde(default)]
    pub networks: Option<Vec<String>>,
    /// The host's profile instead of the node's.
    #[serde(default)]
    pub profile: Option<String>,
}

fn config_from_row(r: &sqlx::any::AnyRow) -> Result<NodeConfig> {
    Ok(NodeConfig {
        profile: get_opt(r, "profile")?,
        ports: serde_json::from_str(&get_str(r, "ports")?).unwrap_or_default(),
        ca_cert_path: get_opt(r, "ca_cert_path")?,
        host_override: get_opt(r, "host_override")?
            .and_then(|s: String| serde_json::from_str(&s).ok()),
        boot: get_opt(r, "boot")?
            .and_then(|s: String| serde_json::from_str(&s).ok())
            .unwrap_or_default(),
    })
}

/// A document table: `networks` or `profiles`.
#[derive(Clone, Copy)]
struct Docs {
    table: &'static str,
    kind: &'static str,
    object: Object,
}

const NETWORKS: Docs = Docs {
    table: "networks",
    kind: "network",
    object: Object::Network,
};
const PROFILES: Docs = Docs {
    table: "profiles",
    kind: "profile",
    object: Object::Profile,
};

impl Inventory {
    /// A document's stored text, read through `ex` (the pool, or a transaction).
    async fn doc_text<'e, E>(&self, ex: E, d: Docs, name: &str) -> Result<Option<String>>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        sqlx::query(&format!("SELECT spec FROM {} WHERE name = $1", d.table))
            .bind(name.to_string())
            .fetch_optional(ex)
            .await
            .map_err(InventoryError::db(format!("reading a {}", d.kind)))?
            .map(|r| get_str(&r, "spec"))
            .transpose()
    }

    async fn doc<T: DeserializeOwned>(&self, d: Docs, name: &str) -> Result<T> {
        let text =
            self.doc_text(&self.pool, d, name)
                .await?
                .ok_or_else(|| InventoryError::NotFound {
                    kind: d.kind,
                    name: name.to_string(),
                })?;
        serde_json::from_str(&text).map_err(|e| {
            InventoryError::Invalid(format!(
                "{} {name}: the stored spec is damaged: {e}",
                d.kind
            ))
        })
    }

    async fn docs<T: DeserializeOwned>(&self, d: Docs) -> Result<Vec<(String, T)>> {
        let rows = sqlx::query(&format!("SELECT name, spec FROM {} ORDER BY name", d.table))
            .fetch_all(&self.pool)
            .await
            .map_err(InventoryError::db(format!("listing {}s", d.kind)))?;
        rows.iter()
            .map(|r| {
                let name = get_str(r, "name")?;
                let spec = serde_json::from_str(&get_str(r, "spec")?).map_err(|e| {
                    InventoryError::Invalid(format!(
                        "{} {name}: the stored spec is damaged: {e}",
                        d.kind
                    ))
                })?;
                Ok((name, spec))
            })
            .collect()
    }

    async fn put_doc<T: Serialize>(&self, d: Docs, name: &str, spec: &T) -> Result<()> {
        let action = format!("{}.put", d.kind);
        self.authorize(d.object, Access::Write, None, &action, name)
            .await?;
        let mut tx = self.begin().await?;
        let before = self.doc_text(&mut *tx, d, name).await?;
        let text = serde_json::to_string(spec).unwrap_or_default();
        sqlx::query(&format!(
            "INSERT INTO {} (name, spec, created_at, updated_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at",
            d.table
        ))
        .bind(name.to_string())
        .bind(text.clone())
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(InventoryError::db(format!("writing a {}", d.kind)))?;
        self.audit(
            &mut tx,
            Change {
                action: &action,
                kind: d.object,
                object: name,
                project: None,
                node: None,
                before: before.and_then(|b| serde_json::from_str(&b).ok()),
                after: serde_json::from_str(&text).ok(),
                detail: None,
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(InventoryError::db(format!("committing a {}", d.kind)))
    }

    async fn delete_doc(&self, d: Docs, name: &str, in_use: Option<String>) -> Result<()> {
        let action = format!("{}.delete", d.kind);
        self.authorize(d.object, Access::Write, None, &action, name)
            .await?;
        if let Some(why) = in_use {
            return Err(InventoryError::Conflict {
                detail: format!("{} {name} is in use: {why}", d.kind),
            });
        }
        let mut tx = self.begin().await?;
        let before =
            self.doc_text(&mut *tx, d, name)
                .await?
                .ok_or_else(|| InventoryError::NotFound {
                    kind: d.kind,
                    name: name.to_string(),
                })?;
        sqlx::query(&format!("DELETE FROM {} WHERE name = $1", d.table))
            .bind(name.to_string())
            .execute(&mut *tx)
            .await
            .map_err(InventoryError::db(format!("deleting a {}", d.kind)))?;
        self.audit(
            &mut tx,
            Change {
                action: &action,
                kind: d.object,
                object: name,
                project: None,
                node: None,
                before: serde_json::from_str::<Value>(&before).ok(),
                after: None,
                detail: None,
            },
        )
        .await?;
        tx.commit().await.map_err(InventoryError::db(format!(
            "committing a {} deletion",
            d.kind
        )))
    }

    /// Creates or replaces a network (admin).
    pub async fn put_network(&self, n: &NetworkSpec) -> Result<()> {
        super::valid_name("network", &n.name)?;
        self.put_doc(NETWORKS, &n.name, n).await
    }

    pub async fn network(&self, name: &str) -> Result<NetworkSpec> {
        self.doc(NETWORKS, name).await
    }

    pub async fn networks(&self) -> Result<Vec<NetworkSpec>> {
        Ok(self
            .docs(NETWORKS)
            .await?
            .into_iter()
            .map(|(_, n)| n)
            .collect())
    }

    /// Deletes a network; refused while a node's port is on it.
    pub async fn delete_network(&self, name: &str) -> Result<()> {
        let users: Vec<String> = self
            .node_configs()
            .await?
            .into_iter()
            .filter(|(_, c)| c.ports.iter().any(|p| p.networks.iter().any(|n| n == name)))
            .map(|(node, _)| node)
            .collect();
        let in_use =
            (!users.is_empty()).then(|| format!("ports of {} are on it", users.join(", ")));
        self.delete_doc(NETWORKS, name, in_use).await
    }

    /// Creates or replaces a profile as written (its template is merged in when it is used).
    pub async fn put_profile(&self, name: &str, layer: &ProfileLayer) -> Result<()> {
        super::valid_name("profile", name)?;
        self.put_doc(PROFILES, name, layer).await
    }

    pub async fn profile_layer(&self, name: &str) -> Result<ProfileLayer> {
        self.doc(PROFILES, name).await
    }

    pub async fn profile_layers(&self) -> Result<std::collections::BTreeMap<String, ProfileLayer>> {
        Ok(self.docs(PROFILES).await?.into_iter().collect())
    }

    /// Deletes a profile; refused while a node uses it or another profile inherits from it.
    pub async fn delete_profile(&self, name: &str) -> Result<()> {
        let mut users: Vec<String> = self
            .node_configs()
            .await?
            .into_iter()
            .filter(|(_, c)| c.profile.as_deref() == Some(name))
            .map(|(node, _)| format!("node {node}"))
            .collect();
        users.extend(
            self.profile_layers()
                .await?
                .into_iter()
                .filter(|(_, l)| l.template.as_deref() == Some(name))
                .map(|(p, _)| format!("profile {p} (template)")),
        );
        let in_use = (!users.is_empty()).then(|| users.join(", "));
        self.delete_doc(PROFILES, name, in_use).await
    }

    /// Records what a node was configured with (admin).
    pub async fn set_node_config(&self, name: &str, c: &NodeConfig) -> Result<()> {
        self.authorize(Object::Node, Access::Write, None, "node.configure", name)
            .await?;
        let c = c.clone();
        self.update_node(name, "node.configure", None, None, move |_| {
            (
                "profile = $1, ports = $2, ca_cert_path = $3, host_override = $4, boot = $5".into(),
                vec![
                    Bind::S(c.profile),
                    Bind::S(Some(
                        serde_json::to_string(&c.ports).unwrap_or_else(|_| "[]".into()),
                    )),
                    Bind::S(c.ca_cert_path),
                    Bind::S(
                        c.host_override
                            .as_ref()
                            .map(|o| serde_json::to_string(o).unwrap_or_else(|_| "{}".into())),
                    ),
                    Bind::S(
                        (c.boot != NodeBoot::default()).then(|| {
                            serde_json::to_string(&c.boot).unwrap_or_else(|_| "{}".into())
                        }),
                    ),
                ],
            )
        })
        .await?;
        Ok(())
    }

    /// Every node's configuration, by node name.
    pub async fn node_configs(&self) -> Result<Vec<(String, NodeConfig)>> {
        let rows = sqlx::query(
            "SELECT name, profile, ports, ca_cert_path, host_override, boot FROM nodes ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(InventoryError::db("reading node configurations"))?;
        rows.iter()
            .map(|r| Ok((get_str(r, "name")?, config_from_row(r)?)))
            .collect()
    }

    pub async fn node_config(&self, name: &str) -> Result<NodeConfig> {
        let r = sqlx::query(
            "SELECT profile, ports, ca_cert_path, host_override, boot FROM nodes WHERE name = $1",
        )
        .bind(name.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(InventoryError::db("reading a node's configuration"))?
        .ok_or_else(|| InventoryError::NotFound {
            kind: "node",
            name: name.to_string(),
        })?;
        config_from_row(&r)
    }

    /// Removes a switch (admin); refused while a node's port is on it.
    pub async fn delete_switch(&self, name: &str) -> Result<()> {
        self.authorize(Object::Switch, Access::Write, None, "switch.delete", name)
            .await?;
        let users: Vec<String> = self
            .node_configs()
            .await?
            .into_iter()
            .filter(|(_, c)| c.ports.iter().any(|p| p.switch == name))
            .map(|(node, _)| node)
            .collect();
        if !users.is_empty() {
            return Err(InventoryError::Conflict {
                detail: format!(
                    "switch {name} is in use: ports of {} are on it",
                    users.join(", ")
                ),
            });
        }
        let mut tx = self.begin().await?;
        let before = self.switch_in(&mut tx, name).await?;
        sqlx::query("DELETE FROM switches WHERE id = $1")
            .bind(before.id)
            .execute(&mut *tx)
            .await
            .map_err(InventoryError::db("deleting a switch"))?;
        self.audit(
            &mut tx,
            Change {
                action: "switch.delete",
                kind: Object::Switch,
                object: name,
                project: None,
                node: None,
                before: Some(serde_json::to_value(&before).unwrap_or_default()),
                after: None,
                detail: None,
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing a switch deletion"))
    }

    /// Every switch (admin).
    pub async fn switches(&self) -> Result<Vec<super::SwitchRecord>> {
        self.authorize(Object::Switch, Access::Read, None, "switch.list", "*")
            .await?;
        let rows = sqlx::query("SELECT name FROM switches ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(InventoryError::db("listing switches"))?;
        let mut out = Vec::new();
        for r in rows {
            out.push(self.switch(&get_str(&r, "name")?).await?);
        }
        Ok(out)
    }

    /// How many nodes use each profile directly.
    pub async fn profile_users(&self, name: &str) -> Result<i64> {
        let r = sqlx::query("SELECT COUNT(*) AS n FROM nodes WHERE profile = $1")
            .bind(name.to_string())
            .fetch_one(&self.pool)
            .await
            .map_err(InventoryError::db("counting a profile's nodes"))?;
        get_i64(&r, "n")
    }

    /// The hardware facts the last inspection recorded for a node.
    pub async fn node_facts(
        &self,
        name: &str,
    ) -> Result<Option<planner_core::hardware::Inventory>> {
        let r = sqlx::query("SELECT inventory FROM nodes WHERE name = $1")
            .bind(name.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(InventoryError::db("reading a node's facts"))?
            .ok_or_else(|| InventoryError::NotFound {
                kind: "node",
                name: name.to_string(),
            })?;
        Ok(get_opt(&r, "inventory")?.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// Every node's recorded hardware facts, by name (one query, for a fleet snapshot).
    pub async fn all_node_facts(
        &self,
    ) -> Result<std::collections::BTreeMap<String, planner_core::hardware::Inventory>> {
        let rows = sqlx::query("SELECT name, inventory FROM nodes WHERE inventory IS NOT NULL")
            .fetch_all(&self.pool)
            .await
            .map_err(InventoryError::db("reading the nodes' facts"))?;
        let mut out = std::collections::BTreeMap::new();
        for r in rows {
            if let Some(f) = get_opt(&r, "inventory")?.and_then(|t| serde_json::from_str(&t).ok()) {
                out.insert(get_str(&r, "name")?, f);
            }
        }
        Ok(out)
    }
}
