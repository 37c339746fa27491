//! `baremetal_image`: a golden image the inventory knows by name. Hosts name it with `image`; the
//! engine fetches it once into its image cache and serves it to every deploy agent.

use async_trait::async_trait;
use planner::golden::GoldenImage;
use planner::schema::{ResourceSpec, IMAGE};
use serde_json::{json, Value};

use super::{name_of, object};
use crate::engine::{Engine, Problem};
use crate::resource::{s, Handler, Json, PlanOut};
use crate::value::{Obj, ValueAny};
use planner::deploy::Checksum;

pub struct ImageResource;

/// The image the attributes describe, or the first attribute it cannot take.
fn image_of(j: &Json) -> Result<GoldenImage, Problem> {
    GoldenImage::from_attrs(j).map_err(|errs| {
        let (at, m) = errs.into_iter().next().unwrap_or_default();
        Problem::at(at, "Invalid image", m)
    })
}

/// The state of image `name`: `prior`'s URL while it is still what the inventory holds (the
/// state keeps the user's own text, credentials and all, as the host's `image_url` does).
pub async fn read(e: &Engine, name: &str, prior: Option<&Json>) -> Result<Option<Json>, Problem> {
    let img = match e.inv.image(name).await {
        Ok(i) => i,
        Err(planner::inventory::InventoryError::NotFound { .. }) => return Ok(None),
        Err(other) => return Err(other.into()),
    };
    let url = match prior.and_then(|p| s(p, "url")) {
        Some(p) if e.inv.image_source(&img).ok().as_deref() == Some(p.as_str()) => p,
        _ => img.url.clone(),
    };
    // The checksum as written while it is the same digest (`SHA256:AB…` is `sha256:ab…`).
    let checksum = match prior.and_then(|p| s(p, "checksum")) {
        Some(p)
            if Checksum::parse(&p).ok().map(|c| c.to_string()).as_deref()
                == Some(img.checksum.as_str()) =>
        {
            p
        }
        _ => img.checksum.clone(),
    };
    let opt = |v: Option<String>| v.map(Value::String).unwrap_or(Value::Null);
    Ok(Some(object(vec![
        ("id", Value::String(img.name.clone())),
        ("name", Value::String(img.name.clone())),
        ("url", Value::String(url)),
        ("checksum", Value::String(checksum)),
        ("format", opt(img.format.clone())),
        ("os_family", opt(img.os_family.clone())),
        ("size_bytes", json!(img.size_bytes)),
        ("origin", Value::String(img.origin.describe())),
        ("ref", Value::String(planner::golden::image_ref(&img))),
    ])))
}

async fn write(e: &Engine, planned: &Json) -> Result<Json, Problem> {
    let img = image_of(planned)?;
    let url = s(planned, "url").unwrap_or_default();
    // A captured image keeps where it came from.
    let mut img = img;
    if let Ok(before) = e.inv.image(&img.name).await {
        img.origin = before.origin;
    }
    e.inv.put_image(&img, &url).await?;
    read(e, &img.name, Some(planned)).await?.ok_or_else(|| {
        Problem::root(
            "Image vanished",
            format!("image {} was not written", img.name),
        )
    })
}

#[async_trait]
impl Handler for ImageResource {
    fn spec(&self) -> &'static ResourceSpec {
        &IMAGE
    }

    /// The `ref` follows the checksum (known now when both are), and a new checksum forgets the
    /// size until the new image is fetched.
    async fn plan(
        &self,
        _e: &Engine,
        prior: Option<&Json>,
        config: &Obj,
        planned: &mut Obj,
    ) -> Result<PlanOut, Vec<Problem>> {
        let text = |k: &str| match config.get(k) {
            Some(ValueAny::String(v)) => Some(v.clone()),
            _ => None,
        };
        let sum = text("checksum").and_then(|c| Checksum::parse(&c).ok());
        planned.insert(
            "ref".into(),
            match (text("name"), &sum) {
                (Some(n), Some(c)) => ValueAny::String(format!("{n}@{c}")),
                _ => ValueAny::Unknown,
            },
        );
        if let Some(p) = prior {
            let was = s(p, "checksum").and_then(|c| Checksum::parse(&c).ok());
            match &sum {
                None => {
                    planned.insert("size_bytes".into(), ValueAny::Unknown);
                }
                Some(c) if was.as_ref() != Some(c) => {
                    planned.insert("size_bytes".into(), ValueAny::Null);
                }
                _ => {}
            }
        }
        Ok(PlanOut::default())
    }

    fn validate(&self, config: &Json) -> Vec<Problem> {
        // Values known only at apply are checked then.
        let mut known = config.clone();
        known.retain(|_, v| !v.is_null());
        if ["name", "url", "checksum"]
            .iter()
            .any(|k| !known.contains_key(*k))
        {
            return Vec::new();
        }
        match GoldenImage::from_attrs(&known) {
            Ok(_) => Vec::new(),
            Err(errs) => errs
                .into_iter()
                .map(|(at, m)| Problem::at(at, "Invalid image", m))
                .collect(),
        }
    }

    async fn read(&self, e: &Engine, state: &Json) -> Result<Option<Json>, Problem> {
        read(e, &name_of(state)?, Some(state)).await
    }

    async fn create(&self, e: &Engine, planned: &Json) -> Result<Json, Problem> {
        write(e, planned).await
    }

    async fn update(&self, e: &Engine, _prior: &Json, planned: &Json) -> Result<Json, Problem> {
        write(e, planned).await
    }

    async fn delete(&self, e: &Engine, prior: &Json) -> Result<(), Problem> {
        match e.inv.delete_image(&name_of(prior)?).await {
            Ok(()) | Err(planner::inventory::InventoryError::NotFound { .. }) => Ok(()),
            Err(planner::inventory::InventoryError::Conflict { detail }) => {
                Err(Problem::at("name", "Image in use", detail))
            }
            Err(other) => Err(other.into()),
        }
    }
}
