//! Switches as the inventory keeps them (sealed credentials), and the rotation of the credentials key
//! over every sealed value.

use serde::Serialize;

use super::audit::Change;
use super::{get_i64, get_str, now_ms, Inventory, InventoryError, Result};
use crate::bmc::Secret;
use crate::credentials::{sealed_key_id, CredentialsKey};
use crate::project::{Access, Object};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SwitchRecord {
    pub id: i64,
    pub name: String,
    pub driver: String,
    pub address: String,
    pub username: String,
}

#[derive(Debug, Clone)]
pub struct SwitchRegistration {
    pub name: String,
    pub driver: String,
    pub address: String,
    pub username: String,
    pub password: Secret,
}

impl Inventory {
    /// Creates or updates a switch (admin); the password is sealed.
    pub async fn put_switch(&self, reg: &SwitchRegistration) -> Result<SwitchRecord> {
        self.authorize(Object::Switch, Access::Write, None, "switch.put", &reg.name)
            .await?;
        let key = self.key()?;
        let mut tx = self.begin().await?;
        let before = self.switch_in(&mut tx, &reg.name).await.ok();
        let now = now_ms();
        let row = sqlx::query(
            "INSERT INTO switches (name, driver, address, username, password_sealed, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, '', $5, $5) \
             ON CONFLICT (name) DO UPDATE SET driver = excluded.driver, address = excluded.address, \
             username = excluded.username, updated_at = excluded.updated_at RETURNING id",
        )
        .bind(reg.name.clone())
        .bind(reg.driver.clone())
        .bind(reg.address.clone())
        .bind(reg.username.clone())
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(InventoryError::db("writing a switch"))?;
        let id = get_i64(&row, "id")?;
        sqlx::query("UPDATE switches SET password_sealed = $1 WHERE id = $2")
            .bind(key.seal(&format!("switch:{id}"), &reg.password)?)
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

    async fn switch_in(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        name: &str,
    ) -> Result<SwitchRecord> {
        let r =
            sqlx::query("SELECT id, name, driver, address, username FROM switches WHERE name = $1")
                .bind(name.to_string())
                .fetch_optional(&mut **tx)
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
        })
    }

    /// A switch's login password, opened for the engine's own use.
    pub async fn switch_password(&self, name: &str) -> Result<Secret> {
        let r = sqlx::query("SELECT id, password_sealed FROM switches WHERE name = $1")
            .bind(name.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(InventoryError::db("reading a switch"))?
            .ok_or_else(|| InventoryError::NotFound {
                kind: "switch",
                name: name.to_string(),
            })?;
        let id = get_i64(&r, "id")?;
        Ok(self
            .key()?
            .open(&format!("switch:{id}"), &get_str(&r, "password_sealed")?)?)
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
        for (table, kind) in [("nodes", "node"), ("switches", "switch")] {
            let rows = sqlx::query(&format!("SELECT id, password_sealed FROM {table}"))
                .fetch_all(&mut *tx)
                .await
                .map_err(InventoryError::db("reading sealed credentials"))?;
            for r in rows {
                let id = get_i64(&r, "id")?;
                let sealed = get_str(&r, "password_sealed")?;
                if sealed_key_id(&sealed) == Some(new.id()) {
                    continue;
                }
                let owner = format!("{kind}:{id}");
                let secret = old.open(&owner, &sealed)?;
                sqlx::query(&format!(
                    "UPDATE {table} SET password_sealed = $1 WHERE id = $2"
                ))
                .bind(new.seal(&owner, &secret)?)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(InventoryError::db("re-sealing credentials"))?;
                count += 1;
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
