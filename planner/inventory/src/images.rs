//! Golden images as the inventory keeps them (the rules are in [`planner_core::golden`]). An
//! image's source URL is kept masked, and sealed when it carries credentials; an image a host
//! still deploys from is not deleted. Every registration, change, use and deletion is audited.

use sqlx::Any;

use super::audit::Change;
use super::{get_str, now_ms, Inventory, InventoryError, Result};
use planner_core::deploy::Deployment;
use planner_core::golden::{sealed_url_owner, GoldenImage, ImageOrigin};
use planner_core::project::{Access, Object};

/// The spec kept as JSON in `table`'s row `name` (images and deployment plans are kept so):
/// `None` when there is none, an error naming `kind` when it does not read back.
pub(super) async fn stored_spec<'e, E, T>(
    ex: E,
    table: &'static str,
    kind: &'static str,
    name: &str,
) -> Result<Option<T>>
where
    E: sqlx::Executor<'e, Database = Any>,
    T: serde::de::DeserializeOwned,
{
    let Some(row) = sqlx::query(&format!("SELECT spec FROM {table} WHERE name = $1"))
        .bind(name.to_string())
        .fetch_optional(ex)
        .await
        .map_err(InventoryError::db(format!("reading the {kind} {name}")))?
    else {
        return Ok(None);
    };
    serde_json::from_str(&get_str(&row, "spec")?)
        .map(Some)
        .map_err(|e| {
            InventoryError::Invalid(format!("{kind} {name}: the stored spec is damaged: {e}"))
        })
}

impl Inventory {
    async fn image_unchecked<'e, E>(&self, ex: E, name: &str) -> Result<Option<GoldenImage>>
    where
        E: sqlx::Executor<'e, Database = Any>,
    {
        stored_spec(ex, "images", "image", name).await
    }

    /// The image named `name`.
    pub async fn image(&self, name: &str) -> Result<GoldenImage> {
        self.image_unchecked(&self.pool, name)
            .await?
            .ok_or_else(|| InventoryError::NotFound {
                kind: "image",
                name: name.to_string(),
            })
    }

    /// Every image, by name.
    pub async fn images(&self) -> Result<Vec<GoldenImage>> {
        let rows = sqlx::query("SELECT spec FROM images ORDER BY name")
            .fetch_all(&self.pool)
            .await
            .map_err(InventoryError::db("listing images"))?;
        rows.iter()
            .map(|r| {
                serde_json::from_str(&get_str(r, "spec")?).map_err(|e| {
                    InventoryError::Invalid(format!("an image's stored spec is damaged: {e}"))
                })
            })
            .collect()
    }

    /// The URL an image is fetched from: its sealed URL opened, else the URL as kept.
    pub fn image_source(&self, image: &GoldenImage) -> Result<String> {
        match &image.url_sealed {
            Some(sealed) => self.open_text(&sealed_url_owner(&image.name), sealed),
            None => Ok(image.url.clone()),
        }
    }

    /// Registers or changes an image (admin). `url` is its URL as given: kept masked, and sealed
    /// when it carries credentials. The size stays known while the checksum does not change.
    pub async fn put_image(&self, image: &GoldenImage, url: &str) -> Result<GoldenImage> {
        self.authorize(Object::Image, Access::Write, None, "image.put", &image.name)
            .await?;
        super::valid_name("image", &image.name)?;
        let mut image = image.clone();
        image.url = planner_core::text::shown(url);
        image.url_sealed = if image.url == url {
            None
        } else {
            Some(self.seal_text(&sealed_url_owner(&image.name), url)?)
        };
        let mut tx = self.begin().await?;
        let before = self.image_unchecked(&mut *tx, &image.name).await?;
        if let Some(b) = &before {
            if b.checksum == image.checksum && image.size_bytes.is_none() {
                image.size_bytes = b.size_bytes;
            }
        }
        let now = now_ms();
        sqlx::query(
            "INSERT INTO images (name, spec, created_at, updated_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, updated_at = excluded.updated_at",
        )
        .bind(image.name.clone())
        .bind(serde_json::to_string(&image).unwrap_or_default())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(InventoryError::db("writing an image"))?;
        let action = match (&before, &image.origin) {
            (Some(_), _) => "image.update",
            (None, ImageOrigin::Captured { .. }) => "image.capture",
            (None, _) => "image.register",
        };
        self.audit(
            &mut tx,
            Change {
                action,
                kind: Object::Image,
                object: &image.name,
                project: None,
                node: None,
                before: before.map(|b| serde_json::to_value(b).unwrap_or_default()),
                after: Some(serde_json::to_value(&image).unwrap_or_default()),
                detail: Some(image.origin.describe()),
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing an image"))?;
        Ok(image)
    }

    /// Whether an image may be captured as `name` from a host of `project`: the actor may
    /// register images (admin), and no image has the name. A refusal is audited
    /// (`image.capture`, denied), before anything is touched.
    pub async fn may_capture(&self, name: &str, project: &str) -> Result<()> {
        self.authorize(Object::Image, Access::Write, None, "image.capture", name)
            .await?;
        super::valid_name("image", name)?;
        if self.image(name).await.is_ok() {
            let reason = format!(
                "image {name:?} exists already: a capture registers a new image (delete it, or name another)"
            );
            self.record_denied(Object::Image, "image.capture", name, Some(project), &reason)
                .await?;
            return Err(InventoryError::Conflict { detail: reason });
        }
        Ok(())
    }

    /// The hosts (`project/name`) whose deployment `uses` (an image, a deployment plan), in
    /// order: what refuses to delete what they use.
    pub(super) async fn hosts_deployed_with(
        &self,
        uses: impl Fn(&Deployment) -> bool,
    ) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT project, name, deployment FROM hosts WHERE deployment IS NOT NULL ORDER BY project, name")
            .fetch_all(&self.pool)
            .await
            .map_err(InventoryError::db("reading hosts' deployments"))?;
        let mut out = Vec::new();
        for r in &rows {
            let dep: Option<Deployment> =
                super::get_opt(r, "deployment")?.and_then(|s| serde_json::from_str(&s).ok());
            if dep.as_ref().is_some_and(&uses) {
                out.push(format!(
                    "{}/{}",
                    get_str(r, "project")?,
                    get_str(r, "name")?
                ));
            }
        }
        Ok(out)
    }

    /// The hosts (`project/name`) whose deployment names image `name`.
    pub async fn image_users(&self, name: &str) -> Result<Vec<String>> {
        self.hosts_deployed_with(|d| d.image.as_deref() == Some(name))
            .await
    }

    /// Deletes an image (admin); refused while a host deploys from it, naming the hosts.
    pub async fn delete_image(&self, name: &str) -> Result<()> {
        self.authorize(Object::Image, Access::Write, None, "image.delete", name)
            .await?;
        let users = self.image_users(name).await?;
        if !users.is_empty() {
            let detail = format!(
                "image {name} is in use by {} host(s): {}; deploy them from another image (or delete them) first",
                users.len(),
                users.join(", ")
            );
            self.record_denied(Object::Image, "image.delete", name, None, &detail)
                .await?;
            return Err(InventoryError::Conflict { detail });
        }
        let mut tx = self.begin().await?;
        let before = self.image_unchecked(&mut *tx, name).await?.ok_or_else(|| {
            InventoryError::NotFound {
                kind: "image",
                name: name.to_string(),
            }
        })?;
        sqlx::query("DELETE FROM images WHERE name = $1")
            .bind(name.to_string())
            .execute(&mut *tx)
            .await
            .map_err(InventoryError::db("deleting an image"))?;
        self.audit(
            &mut tx,
            Change {
                action: "image.delete",
                kind: Object::Image,
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
            .map_err(InventoryError::db("committing an image's deletion"))
    }

    /// Records what the engine learned fetching an image: its size, while its checksum is still
    /// the one fetched (no audit: nothing was asked to change).
    pub async fn image_fetched(&self, name: &str, checksum: &str, bytes: u64) -> Result<()> {
        let mut tx = self.begin().await?;
        let Some(mut image) = self.image_unchecked(&mut *tx, name).await? else {
            return Ok(());
        };
        if image.checksum != checksum || image.size_bytes == Some(bytes) {
            return Ok(());
        }
        image.size_bytes = Some(bytes);
        sqlx::query("UPDATE images SET spec = $1 WHERE name = $2")
            .bind(serde_json::to_string(&image).unwrap_or_default())
            .bind(name.to_string())
            .execute(&mut *tx)
            .await
            .map_err(InventoryError::db("recording an image's size"))?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing an image's size"))
    }

    /// Audits that host `project/host` deployed image `name` (`image.use`).
    pub async fn image_used(
        &self,
        name: &str,
        project: &str,
        host: &str,
        node: Option<&str>,
        generation: u32,
    ) -> Result<()> {
        let mut tx = self.begin().await?;
        self.audit(
            &mut tx,
            Change {
                action: "image.use",
                kind: Object::Image,
                object: name,
                project: Some(project),
                node,
                before: None,
                after: None,
                detail: Some(format!("host {host} generation {generation}")),
            },
        )
        .await?;
        tx.commit()
            .await
            .map_err(InventoryError::db("committing an image's use"))
    }
}
