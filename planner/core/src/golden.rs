//! Golden images: an operating system image the inventory knows by name (`baremetal_image`), with
//! where it is fetched from, its checksum and format, and where it came from. Hosts name one
//! instead of an `image_url`; the engine fetches it once into its image cache and serves it to
//! every deploy agent. What is checked here is plain data: the attributes, and what a host that
//! names an image deploys.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::deploy::{Checksum, ImageFormat};
use crate::load::text_of;
use crate::rules::AttrError;

/// Where a golden image came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ImageOrigin {
    /// Registered from a URL.
    #[default]
    Uploaded,
    /// Captured from a deployed host, at the generation it ran.
    Captured { host: String, generation: u32 },
}

impl ImageOrigin {
    /// `uploaded`, or `captured from HOST at generation N`.
    pub fn describe(&self) -> String {
        match self {
            ImageOrigin::Uploaded => "uploaded".into(),
            ImageOrigin::Captured { host, generation } => {
                format!("captured from host {host} at generation {generation}")
            }
        }
    }
}

/// A golden image as the inventory keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GoldenImage {
    pub name: String,
    /// The source URL as it may be shown: credentials in it masked.
    pub url: String,
    /// The source URL itself, sealed, when it carries credentials (`url` then holds it masked).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url_sealed: Option<String>,
    /// `sha256:<hex>` or `sha512:<hex>`.
    pub checksum: String,
    /// The format as given (`raw`, `qcow2`, `raw.zst`…); unset: told from the URL or content.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    /// Bytes, once the engine has fetched and verified it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
    /// A free label (`debian`, `ubuntu`, `rhel`…).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub os_family: Option<String>,
    pub origin: ImageOrigin,
}

/// Whom an image's sealed URL belongs to.
pub fn sealed_url_owner(name: &str) -> String {
    format!("image:{name}")
}

impl GoldenImage {
    /// An image from its attributes (a `baremetal_image` block, or the provider's planned
    /// values). Every attribute it cannot take is named, at its attribute.
    pub fn from_attrs(attrs: &Map<String, Value>) -> Result<GoldenImage, Vec<AttrError>> {
        let mut errors: Vec<AttrError> = Vec::new();
        let name = text_of(attrs, "name").unwrap_or_default();
        if let Err(e) = crate::rules::name_ok(&name) {
            errors.push(("name".into(), e.0));
        }
        let url = text_of(attrs, "url").unwrap_or_default();
        if url.is_empty() {
            errors.push((
                "url".into(),
                "url is required: where the image is fetched from (http:// or https://)".into(),
            ));
        } else {
            match url::Url::parse(&url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                // A captured image, in the engine's image store (the engine refuses any other
                // local path when it fetches).
                Ok(u) if u.scheme() == "file" && u.path().len() > 1 => {}
                Ok(_) => errors.push((
                    "url".into(),
                    format!(
                        "{} must start with http:// or https:// and name a host (or be file:// in the engine's image store, where captures go)",
                        crate::text::shown(&url)
                    ),
                )),
                Err(e) => errors.push((
                    "url".into(),
                    format!("{} is not a URL: {e}", crate::text::shown(&url)),
                )),
            }
        }
        let checksum = text_of(attrs, "checksum").unwrap_or_default();
        match Checksum::parse(&checksum) {
            Ok(c) => Some(c),
            Err(_) if checksum.is_empty() => {
                errors.push((
                    "checksum".into(),
                    "checksum is required (sha256:… or sha512:…): an image is verified before it is served".into(),
                ));
                None
            }
            Err(e) => {
                errors.push(("checksum".into(), e.0));
                None
            }
        };
        let format = text_of(attrs, "format");
        if let Some(f) = &format {
            if let Err(e) = ImageFormat::parse(f) {
                errors.push(("format".into(), e.0));
            }
        }
        let os_family = text_of(attrs, "os_family");
        if let Some(o) = &os_family {
            if o.is_empty()
                || o.len() > 32
                || !o
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                errors.push((
                    "os_family".into(),
                    format!("os_family {o:?}: use lowercase letters, digits and '-' (debian, ubuntu, rhel-9…), at most 32"),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(GoldenImage {
            name,
            url: crate::text::shown(&url),
            url_sealed: None,
            checksum: Checksum::parse(&checksum)
                .map(|c| c.to_string())
                .unwrap_or(checksum),
            format,
            size_bytes: None,
            os_family,
            origin: ImageOrigin::Uploaded,
        })
    }

    /// Whether a change from `self` to `other` changes the bits a host deploys: the checksum (a
    /// new URL or name for the same bits is not a rebuild).
    pub fn same_bits(&self, other: &GoldenImage) -> bool {
        self.checksum == other.checksum
    }
}

/// A host's `image`: a name, or `NAME@CHECKSUM` (the image's `ref`), which pins the checksum the
/// host deploys: Terraform sees a new checksum on the image as a change of the host in the same
/// plan, and the apply refuses an image that is not at that checksum.
pub fn parse_ref(text: &str) -> Result<(String, Option<Checksum>), crate::rules::Invalid> {
    match text.split_once('@') {
        None => Ok((text.to_string(), None)),
        Some((name, sum)) => {
            let c = Checksum::parse(sum).map_err(|e| {
                crate::rules::Invalid(format!(
                    "image {text:?}: after '@' comes the image's checksum: {}",
                    e.0
                ))
            })?;
            Ok((name.to_string(), Some(c)))
        }
    }
}

/// The `ref` of an image: `NAME@CHECKSUM`.
pub fn image_ref(image: &GoldenImage) -> String {
    format!("{}@{}", image.name, image.checksum)
}

/// What a host that names `image` deploys from: the host's attributes with `image_url`,
/// `image_checksum` and (unless the host gives one) `image_format` taken from the image. `url` is
/// the image's URL itself (opened when sealed). The host's own `image_url` or `image_checksum`
/// beside `image` is an error at that attribute.
pub fn host_attrs_with_image(
    attrs: &Map<String, Value>,
    image: &GoldenImage,
    url: &str,
) -> Result<Map<String, Value>, AttrError> {
    for k in ["image_url", "image_checksum"] {
        if attrs.get(k).is_some_and(|v| !v.is_null()) {
            return Err((
                k.into(),
                format!(
                    "{k} comes from image {:?}: set image or image_url, not both",
                    image.name
                ),
            ));
        }
    }
    let pinned = match attrs.get("image").and_then(Value::as_str).map(parse_ref) {
        Some(Ok((_, pinned))) => pinned,
        Some(Err(e)) => return Err(("image".into(), e.0)),
        None => None,
    };
    if let Some(p) = pinned.filter(|p| p.to_string() != image.checksum) {
        return Err((
            "image".into(),
            format!(
                "image {:?} is at checksum {}, and the host asks for {p}: apply the image's change first (reference baremetal_image.NAME.ref, so Terraform does)",
                image.name, image.checksum
            ),
        ));
    }
    let mut out = attrs.clone();
    out.insert("image_url".into(), Value::String(url.to_string()));
    out.insert(
        "image_checksum".into(),
        Value::String(image.checksum.clone()),
    );
    if out.get("image_format").is_none_or(Value::is_null) {
        if let Some(f) = &image.format {
            out.insert("image_format".into(), Value::String(f.clone()));
        }
    }
    Ok(out)
}

/// What registering a configuration's image does to the inventory's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageChange {
    Register,
    /// The attributes that differ (a new checksum rebuilds the hosts that deploy it).
    Update(Vec<&'static str>),
}

/// What `want` (with its URL as written) asks of the inventory's image `have`; `None` when they
/// agree. URLs are compared as shown (new credentials alone change nothing to show).
pub fn image_change(want: &GoldenImage, have: Option<&GoldenImage>) -> Option<ImageChange> {
    let Some(have) = have else {
        return Some(ImageChange::Register);
    };
    let mut changed = Vec::new();
    if want.url != have.url {
        changed.push("url");
    }
    if want.checksum != have.checksum {
        changed.push("checksum");
    }
    if want.format != have.format {
        changed.push("format");
    }
    if want.os_family != have.os_family {
        changed.push("os_family");
    }
    (!changed.is_empty()).then_some(ImageChange::Update(changed))
}

/// One image a `bmplan apply` registers or changes, with its URL as written.
#[derive(Debug, Clone)]
pub struct ImageWork {
    pub image: GoldenImage,
    pub url: crate::hardware::Secret,
    pub change: ImageChange,
}

impl ImageWork {
    /// One line for the plan.
    pub fn line(&self) -> String {
        match &self.change {
            ImageChange::Register => format!(
                "  + image {}: register {} ({})",
                self.image.name, self.image.url, self.image.checksum
            ),
            ImageChange::Update(changed) => format!(
                "  ~ image {}: {} changed{}",
                self.image.name,
                changed.join(", "),
                if changed.contains(&"checksum") {
                    "; the hosts that deploy it are rebuilt"
                } else {
                    ""
                }
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn attrs(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn an_image_needs_a_name_an_http_url_and_a_checksum_each_error_at_its_attribute() {
        let errs = GoldenImage::from_attrs(&attrs(json!({
            "name": " bad", "url": "ftp://x/y", "checksum": "md5:00", "format": "vhd",
            "os_family": "Debian"
        })))
        .unwrap_err();
        let at: Vec<&str> = errs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(at, ["name", "url", "checksum", "format", "os_family"]);
        let errs = GoldenImage::from_attrs(&attrs(json!({"name": "deb"}))).unwrap_err();
        assert_eq!(errs[0].0, "url");
        assert!(errs[1].1.contains("checksum is required"), "{errs:?}");
    }

    #[test]
    fn an_image_keeps_its_url_masked_and_its_checksum_canonical() {
        let img = GoldenImage::from_attrs(&attrs(json!({
            "name": "deb12", "url": "https://u:pw@store/deb.raw.zst?sig=abc",
            "checksum": format!("SHA256:{}", "AB".repeat(32)), "format": "raw.zst",
            "os_family": "debian"
        })))
        .unwrap();
        assert_eq!(img.url, "https://u:***@store/deb.raw.zst?sig=***");
        assert_eq!(img.checksum, format!("sha256:{}", "ab".repeat(32)));
        assert_eq!(img.origin.describe(), "uploaded");
    }

    #[test]
    fn a_host_naming_an_image_deploys_its_url_checksum_and_format_and_may_not_set_its_own() {
        let img = GoldenImage {
            name: "deb12".into(),
            checksum: format!("sha256:{}", "a".repeat(64)),
            format: Some("raw.zst".into()),
            ..GoldenImage::default()
        };
        let host = attrs(json!({"name": "web-1", "image": "deb12"}));
        let out = host_attrs_with_image(&host, &img, "http://store/deb.raw.zst").unwrap();
        assert_eq!(out["image_url"], "http://store/deb.raw.zst");
        assert_eq!(out["image_checksum"], img.checksum.as_str());
        assert_eq!(out["image_format"], "raw.zst");
        let own = attrs(json!({"image": "deb12", "image_format": "raw"}));
        let out = host_attrs_with_image(&own, &img, "http://store/x").unwrap();
        assert_eq!(out["image_format"], "raw", "the host's own format wins");
        let at = attrs(json!({"image": format!("deb12@{}", img.checksum)}));
        assert!(host_attrs_with_image(&at, &img, "http://store/x").is_ok());
        let other = attrs(json!({"image": format!("deb12@sha256:{}", "b".repeat(64))}));
        let e = host_attrs_with_image(&other, &img, "http://store/x").unwrap_err();
        assert!(e.1.contains("apply the image's change first"), "{e:?}");
        assert_eq!(parse_ref("deb12").unwrap(), ("deb12".to_string(), None));
        assert!(parse_ref("deb12@md5:00").is_err());
        assert_eq!(image_ref(&img), format!("deb12@{}", img.checksum));
        let both = attrs(json!({"image": "deb12", "image_url": "http://elsewhere/x"}));
        let e = host_attrs_with_image(&both, &img, "http://store/x").unwrap_err();
        assert_eq!(e.0, "image_url");
        assert!(e.1.contains("not both"), "{e:?}");
    }

    #[test]
    fn an_image_change_names_what_differs_and_a_new_checksum_says_its_hosts_rebuild() {
        let have = GoldenImage {
            name: "deb12".into(),
            url: "http://store/a.raw".into(),
            checksum: format!("sha256:{}", "a".repeat(64)),
            ..GoldenImage::default()
        };
        assert_eq!(image_change(&have, None), Some(ImageChange::Register));
        assert_eq!(image_change(&have, Some(&have)), None);
        let mut want = have.clone();
        want.checksum = format!("sha256:{}", "b".repeat(64));
        want.os_family = Some("debian".into());
        let c = image_change(&want, Some(&have)).unwrap();
        assert_eq!(c, ImageChange::Update(vec!["checksum", "os_family"]));
        let w = ImageWork {
            image: want,
            url: crate::hardware::Secret::new("http://store/b.raw"),
            change: c,
        };
        assert!(
            w.line().contains("hosts that deploy it are rebuilt"),
            "{}",
            w.line()
        );
    }
}
