//! Switches as the inventory keeps them (sealed credentials), and the rotation of the credentials key
//! over every sealed value.

use serde::Serialize;

use super::audit::Change;
use super::{get_i64, get_str, now_ms, Inventory, InventoryError, Result};
use crate::credentials::{sealed_key_id, CredentialsKey};
use planner_core::hardware::Secret;
use planner_core::project::{Access, Object};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SwitchRecord {
    pub id: i64,
    pub name: String,
    pub driver: String,
    pub address: String,
    pub username: String,
    pub rack: Option<String>,
}

#[derive(Debug, Clone)]
pub struct SwitchRegistration {
    pub name: String,
    pub driver: String,
    pub address: String,
    pub username: String,
    pub password: Secret,
    pub enable_password: Option<Secret>,
    pub rack: Option<String>,
}

impl Inventory {
    /// Creates or updates a switch (admin); the password is sealed.
    pub async fn put_switch(&self, reg: &SwitchRegistration) -> Result<SwitchRecord> {
        self.authorize(Object::Switch, Access::Write, None, "switch.put", &reg.name)
            .await?;
        super::valid_name("switch", &reg.name)?;
        let key = self.key()?;
        let mut tx = self.begin().await?;
        let before = self.switch_in(&mut tx, &reg.name).await.ok();
        let now = now_ms();
        let row = sqlx::query(
            "INSERT INTO switches (name, driver, address, username, password_sealed, rack, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, '', $5, $6, $6) \
             ON CONFLICT (name) DO UPDATE SET driver = excluded.driver, address = excluded.address, \
             username = excluded.username, rack = excluded.rack, updated_at = excluded.updated_at RETURNING id",
        )
        .bind(reg.name.clone())
        .bind(reg.driver.clone())
        .bind(reg.address.clone())
        .bind(reg.username.clone())
        .bind(reg.rack.clone())
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(InventoryError::db("writing a switch"))?;
        let id = get_i64(&row, "id")?;
        let enable = match &reg.enable_password {
            Some(e) => Some(key.seal(&format!("switch-enable:{id}"), e)?),
            None => None,
        };
        sqlx::query(
            "UPDATE switches SET password_sealed = $1, enable_password_sealed = $2 WHERE id = $3",
        )
        .bind(key.seal(&format!("switch:{id}"), &reg.password)?)
        .bind(enable)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(InventoryError::db("sealing a switch password"))?;
        let after = self.switch_in(&mut tx, &reg.name).await?;
        self.audit(
            &mut tx,
            Change {
                action: "switch.put",
                kind: Object::Switch,
                object: &reg.name,
                project: None,
                node: None,
                before: before.map(|b| serde_json::to_value(b).unwrap_or_default()),
                after: Some(serde_json::to_value(&after).unwrap_or_default()),
                detail: None,
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing a switch"))?;
        Ok(after)
    }

    pub(super) async fn switch_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        name: &str,
    ) -> Result<SwitchRecord> {
        self.switch_from(&mut **tx, name).await
    }

    /// One switch by name (admin).
    pub async fn switch(&self, name: &str) -> Result<SwitchRecord> {
        self.authorize(Object::Switch, Access::Read, None, "switch.read", name)
            .await?;
        self.switch_from(&self.pool, name).await
    }

    async fn switch_from<'e, E>(&self, ex: E, name: &str) -> Result<SwitchRecord>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        let r = sqlx::query(
            "SELECT id, name, driver, address, username, rack FROM switches WHERE name = $1",
        )
        .bind(name.to_string())
        .fetch_optional(ex)
        .await
        .map_err(InventoryError::db("reading a switch"))?
        .ok_or_else(|| InventoryError::NotFound {
            kind: "switch",
            name: name.to_string(),
        })?;
        Ok(SwitchRecord {
            id: get_i64(&r, "id")?,
            name: get_str(&r, "name")?,
            driver: get_str(&r, "driver")?,
            address: get_str(&r, "address")?,
            username: get_str(&r, "username")?,
            rack: super::get_opt(&r, "rack")?,
        })
    }

    /// A switch's login and enable passwords, opened for the engine's own use.
    pub async fn switch_secrets(&self, name: &str) -> Result<(Secret, Option<Secret>)> {
        let r = sqlx::query(
            "SELECT id, password_sealed, enable_password_sealed FROM switches WHERE name = $1",
        )
        .bind(name.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(InventoryError::db("reading a switch"))?
        .ok_or_else(|| InventoryError::NotFound {
            kind: "switch",
            name: name.to_string(),
        })?;
        let id = get_i64(&r, "id")?;
        let key = self.key()?;
        let password = key.open(&format!("switch:{id}"), &get_str(&r, "password_sealed")?)?;
        let enable = match super::get_opt(&r, "enable_password_sealed")? {
            Some(sealed) => Some(key.open(&format!("switch-enable:{id}"), &sealed)?),
            None => None,
        };
        Ok((password, enable))
    }

    /// Re-seals every node and switch password under `new`, in one transaction: either everything
    /// moves to the new key or nothing does. Values already under `new` are left as they are, so an
    /// interrupted rotation can simply be run again. Returns how many values were re-sealed.
    pub async fn rotate_credentials(&self, new: &CredentialsKey) -> Result<usize> {
        self.authorize(
            Object::Credentials,
            Access::Write,
            None,
            "credentials.rotate",
            "*",
        )
        .await?;
        let old = self.key()?;
        let mut tx = self.begin().await?;
        let mut count = 0;
        for (table, kind, column) in [
            ("nodes", "node", "password_sealed"),
            ("switches", "switch", "password_sealed"),
            ("switches", "switch-enable", "enable_password_sealed"),
        ] {
            let rows = sqlx::query(&format!(
                "SELECT id, {column} AS sealed FROM {table} WHERE {column} IS NOT NULL"
            ))
            .fetch_all(&mut *tx)
            .await
            .map_err(InventoryError::db("reading sealed credentials"))?;
            for r in rows {
                let id = get_i64(&r, "id")?;
                let sealed = get_str(&r, "sealed")?;
                if sealed_key_id(&sealed) == Some(new.id()) {
                    continue;
                }
                let owner = format!("{kind}:{id}");
                let secret = old.open(&owner, &sealed)?;
                sqlx::query(&format!("UPDATE {table} SET {column} = $1 WHERE id = $2"))
                    .bind(new.seal(&owner, &secret)?)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(InventoryError::db("re-sealing credentials"))?;
                count += 1;
            }
        }
        // Hosts' deployments: sealed user data and image URLs.
        let rows = sqlx::query(
            "SELECT id, project, name, deployment FROM hosts WHERE deployment IS NOT NULL",
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(InventoryError::db("reading hosts' sealed values"))?;
        for r in rows {
            let id = get_i64(&r, "id")?;
            let (project, name) = (get_str(&r, "project")?, get_str(&r, "name")?);
            let Ok(mut dep) =
                serde_json::from_str::<serde_json::Value>(&get_str(&r, "deployment")?)
            else {
                continue;
            };
            let mut changed = false;
            for (field, owner) in planner_core::deploy::sealed_fields(&project, &name) {
                let Some(sealed) = dep.get(field).and_then(|v| v.as_str()).map(str::to_string)
                else {
                    continue;
                };
                if sealed_key_id(&sealed) == Some(new.id()) {
                    continue;
                }
                let secret = old.open(&owner, &sealed)?;
                dep[field] = serde_json::Value::String(new.seal(&owner, &secret)?);
                changed = true;
                count += 1;
            }
            if changed {
                sqlx::query("UPDATE hosts SET deployment = $1 WHERE id = $2")
                    .bind(dep.to_string())
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(InventoryError::db("re-sealing a host's values"))?;
            }
        }
        self.audit(
            &mut tx,
            Change {
                action: "credentials.rotate",
                kind: Object::Credentials,
                object: "*",
                project: None,
                node: None,
                before: Some(serde_json::json!({"key": old.id()})),
                after: Some(serde_json::json!({"key": new.id()})),
                detail: Some(format!("{count} values re-sealed")),
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing the key rotation"))?;
        Ok(count)
    }
}
