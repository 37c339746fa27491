//! Deployment plans as the inventory keeps them (the templates are in
//! [`planner_core::deploy::template`]). Sensitive variables are sealed with the credentials key;
//! a plan a host was deployed with is not deleted. Every change and refusal is audited.

use std::collections::BTreeMap;

use sqlx::Any;

use super::audit::Change;
use super::{now_ms, Inventory, InventoryError, Result};
use planner_core::deploy::template::DeploymentPlan;
use planner_core::project::{Access, Object};

fn sealed_owner(name: &str) -> String {
    format!("deployment-plan:{name}")
}

impl Inventory {
    async fn plan_unchecked<'e, E>(&self, ex: E, name: &str) -> Result<Option<DeploymentPlan>>
    where
        E: sqlx::Executor<'e, Database = Any>,
    {
        super::images::stored_spec(ex, "deployment_plans", "deployment plan", name).await
    }

    /// The deployment plan named `name`, its sensitive variables opened.
    pub async fn deployment_plan(&self, name: &str) -> Result<DeploymentPlan> {
        let mut p = self
            .plan_unchecked(&self.pool, name)
            .await?
            .ok_or_else(|| InventoryError::NotFound {
                kind: "deployment plan",
                name: name.to_string(),
            })?;
        if let Some(sealed) = &p.sensitive_sealed {
            let text = self.open_text(&sealed_owner(name), sealed)?;
            p.sensitive = serde_json::from_str::<BTreeMap<String, String>>(&text).map_err(|e| {
                InventoryError::Invalid(format!(
                    "deployment plan {name}: its sealed variables are damaged: {e}"
                ))
            })?;
        }
        Ok(p)
    }

    /// Creates or replaces a deployment plan (admin); its sensitive variables are sealed.
    pub async fn put_deployment_plan(&self, plan: &DeploymentPlan) -> Result<()> {
        self.authorize(
            Object::DeploymentPlan,
            Access::Write,
            None,
            "deployment_plan.put",
            &plan.name,
        )
        .await?;
        super::valid_name("deployment plan", &plan.name)?;
        let mut stored = plan.clone();
        stored.sensitive_sealed = if plan.sensitive.is_empty() {
            None
        } else {
            Some(self.seal_text(
                &sealed_owner(&plan.name),
                &serde_json::to_string(&plan.sensitive).unwrap_or_default(),
            )?)
        };
        let mut tx = self.begin().await?;
        let before = self.plan_unchecked(&mut *tx, &plan.name).await?;
        sqlx::query(
            "INSERT INTO deployment_plans (name, spec, created_at, updated_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at",
        )
        .bind(plan.name.clone())
        .bind(serde_json::to_string(&stored).unwrap_or_default())
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(InventoryError::db("writing a deployment plan"))?;
        self.audit(
            &mut tx,
            Change {
                action: "deployment_plan.put",
                kind: Object::DeploymentPlan,
                object: &plan.name,
                project: None,
                node: None,
                before: before.map(|b| serde_json::to_value(b).unwrap_or_default()),
                after: Some(serde_json::to_value(&stored).unwrap_or_default()),
                detail: Some(format!("deployment plan {}", plan.reference())),
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing a deployment plan"))
    }

    /// The hosts (`project/name`) deployed with deployment plan `name`.
    pub async fn deployment_plan_users(&self, name: &str) -> Result<Vec<String>> {
        self.hosts_deployed_with(|d| d.deployment_plan.as_deref() == Some(name))
            .await
    }

    /// Deletes a deployment plan (admin); refused while a host was deployed with it.
    pub async fn delete_deployment_plan(&self, name: &str) -> Result<()> {
        self.authorize(
            Object::DeploymentPlan,
            Access::Write,
            None,
            "deployment_plan.delete",
            name,
        )
        .await?;
        let users = self.deployment_plan_users(name).await?;
        if !users.is_empty() {
            let detail = format!(
                "deployment plan {name} is in use by {} host(s): {}; deploy them with another plan (or delete them) first",
                users.len(),
                users.join(", ")
            );
            self.record_denied(
                Object::DeploymentPlan,
                "deployment_plan.delete",
                name,
                None,
                &detail,
            )
            .await?;
            return Err(InventoryError::Conflict { detail });
        }
        let mut tx = self.begin().await?;
        let before =
            self.plan_unchecked(&mut *tx, name)
                .await?
                .ok_or_else(|| InventoryError::NotFound {
                    kind: "deployment plan",
                    name: name.to_string(),
                })?;
        sqlx::query("DELETE FROM deployment_plans WHERE name = $1")
            .bind(name.to_string())
            .execute(&mut *tx)
            .await
            .map_err(InventoryError::db("deleting a deployment plan"))?;
        self.audit(
            &mut tx,
            Change {
                action: "deployment_plan.delete",
                kind: Object::DeploymentPlan,
                object: name,
                project: None,
                node: None,
                before: Some(serde_json::to_value(before).unwrap_or_default()),
                after: None,
                detail: None,
            },
        )
        .await?;
        tx.commit().await.map_err(InventoryError::db(
            "committing a deployment plan's deletion",
        ))
    }
}
