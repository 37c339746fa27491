//! Deployment as plain data and rules: what a host is deployed from (image, checksum, how its end
//! is seen), what its attributes ask for ([`DeployRequest::for_spec`]), which change a host needs
//! ([`change`]), and which of its values are sealed for whom. The engine (`planner::host`) carries
//! deployments out.

pub mod agent;
pub mod capture;
pub mod change;
pub mod image;
pub mod netboot;
pub mod template;
pub mod work;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use serde_json::{Map, Value};

use crate::hardware::Secret;
use crate::load::{text_of, texts_of};
use crate::records::HostRecord;
use crate::rules::AttrError;
use crate::subnet::AddressPin;

pub use agent::{ImageFormat, RootDeviceHints};
pub use change::{change_for, deployed_change, not_applied, power_change, HostChange};
pub use image::Checksum;
pub use netboot::BootInterface;
pub use work::{HostMove, HostWork};

/// How a deployment knows the operating system is installed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Wait {
    /// The installer powers the server off when it is done (then the server boots from disk).
    #[default]
    PowerOff,
    /// Redfish `BootProgress.LastState` reaches `OSRunning` (the installer reboots into the OS).
    BootProgress,
    /// The installed system calls back (cloud-init `phone_home` to the media endpoint).
    Callback,
}

impl Wait {
    pub fn parse(s: &str) -> Result<Wait, crate::rules::Invalid> {
        match s {
            "power_off" => Ok(Wait::PowerOff),
            "boot_progress" => Ok(Wait::BootProgress),
            "callback" => Ok(Wait::Callback),
            other => Err(crate::rules::Invalid(format!(
                "wait strategy {other:?}: use power_off, boot_progress or callback"
            ))),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Wait::PowerOff => "power_off",
            Wait::BootProgress => "boot_progress",
            Wait::Callback => "callback",
        }
    }
}

/// What a host was deployed from, as the inventory keeps it. The user data is kept as a digest.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Deployment {
    /// The image URL as it may be shown: credentials in it masked ([`crate::text::shown`]).
    pub image_url: String,
    /// The image URL itself, sealed with the credentials key, when it carries credentials
    /// (`image_url` then holds it masked): credentials are never at rest in clear.
    pub image_url_sealed: Option<String>,
    pub image_checksum: String,
    /// The golden image (`baremetal_image`) the host names, when it names one instead of a URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The deployment plan (`baremetal_deployment_plan`) that rendered the user data, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_plan: Option<String>,
    /// The hostname the config drive gave, when a deployment plan rendered one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    pub wait: Wait,
    pub networks: Vec<String>,
    pub ssh_keys: Vec<String>,
    pub user_data_sha256: Option<String>,
    pub profile: Option<String>,
    /// 1 for the first deployment, one more for each rebuild.
    pub generation: u32,
    /// The profile the node had before the host: what cleaning brings it back to.
    pub baseline_profile: Option<String>,
    /// The user data, sealed with the credentials key (so an import reads it back).
    pub user_data_sealed: Option<String>,
    /// The user data came write-only (`user_data_wo`): it is never opened into Terraform's state;
    /// its digest says whether it changed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub user_data_write_only: bool,
    /// Adopted: the server ran its system before it became a host; nothing was deployed.
    pub adopted: bool,
    /// The image's format as deployed (given, or told from its name or content).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_format: Option<String>,
    /// The root device hints the agent wrote the image by.
    #[serde(skip_serializing_if = "RootDeviceHints::is_empty")]
    pub root_device: RootDeviceHints,
    /// The addresses the host pinned (its `address` blocks) when it was deployed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<AddressPin>,
    /// Where the host goes when its node fails.
    pub failover: Option<Failover>,
    /// Since when (ms since the epoch) the node's BMC has not answered, while it does not.
    pub unreachable_since: Option<i64>,
}

/// A host's failover policy: a standby pool (nodes, in order of preference, then a flavor) and
/// how long a BMC may stay unreachable before its host moves.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Failover {
    pub standby_nodes: Vec<String>,
    pub standby_flavor: Option<String>,
    pub unreachable_after_s: u64,
}

/// Why a host should move, when it should.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFailure {
    pub node: String,
    pub reason: String,
}

impl Deployment {
    pub fn of(h: &HostRecord) -> Option<Deployment> {
        h.deployment
            .as_ref()
            .and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// What a host's attributes in the shared schema (Terraform's prior state of a
    /// `baremetal_host`) say it was deployed from: the image URL as shown, and the user data by
    /// its digest (`user_data_sha256`, or the digest of a `user_data` kept in a state written
    /// before the digest was). Empty when it was never deployed.
    pub fn from_attrs(attrs: &Map<String, Value>) -> Deployment {
        let user_data_sha256 = text_of(attrs, "user_data_sha256").or_else(|| {
            text_of(attrs, "user_data").map(|u| hex::encode(Sha256::digest(u.as_bytes())))
        });
        Deployment {
            image_url: text_of(attrs, "image_url")
                .map(|u| image::shown(&u))
                .unwrap_or_default(),
            image_checksum: text_of(attrs, "image_checksum").unwrap_or_default(),
            wait: text_of(attrs, "wait")
                .and_then(|w| Wait::parse(&w).ok())
                .unwrap_or_default(),
            networks: texts_of(attrs, "networks"),
            addresses: crate::subnet::pins_from_attrs(attrs).0,
            ssh_keys: texts_of(attrs, "ssh_keys"),
            user_data_sha256,
            profile: text_of(attrs, "profile"),
            generation: attrs
                .get("generation")
                .and_then(Value::as_u64)
                .and_then(|g| u32::try_from(g).ok())
                .unwrap_or(0),
            image_format: text_of(attrs, "image_format"),
            root_device: RootDeviceHints::from_attrs(attrs).unwrap_or_default(),
            ..Deployment::default()
        }
    }
}

/// The attributes that belong to a deployment: set without `image_url`, they are an error.
pub const DEPLOYMENT_ATTRIBUTES: [&str; 10] = [
    "deployment_plan",
    "plan_variables",
    "image_checksum",
    "image_format",
    "root_device",
    "user_data",
    "user_data_wo",
    "ssh_keys",
    "wait",
    "rebuild",
];

const CHECKSUM_REQUIRED: &str =
    "image_url needs image_checksum (sha256:… or sha512:…): an image is verified before any node is touched";

/// What a `baremetal_host` block asks that no deployment can take, whatever the values: a
/// checksum missing beside an image, deployment attributes without an image, an adoption that
/// also deploys or names no node, and (for a host not yet made, `creating`) neither a flavor nor
/// a node. `set(k)`: whether the block sets `k`, to a value or to one known only later. `bmplan`'s
/// loader and the provider's plan both judge a block with it.
pub fn block_problems(
    set: impl Fn(&str) -> bool,
    adopt: bool,
    creating: bool,
) -> Vec<RequestError> {
    let mut out = Vec::new();
    let mut problem = |attribute, title, message: String| {
        out.push(RequestError {
            attribute,
            title,
            message,
        })
    };
    if set("image") {
        for k in ["image_url", "image_checksum"] {
            if set(k) {
                problem(
                    k,
                    "Image or image_url",
                    format!("{k} comes from the golden image named by image: set image or image_url, not both"),
                );
            }
        }
    }
    if set("deployment_plan") {
        for k in ["user_data", "user_data_wo"] {
            if set(k) {
                problem(
                    k,
                    "Deployment plan or user data",
                    format!("the deployment plan renders the user data: drop {k}, or the deployment_plan"),
                );
            }
        }
    }
    if set("plan_variables") && !set("deployment_plan") {
        problem(
            "plan_variables",
            "Needs a deployment plan",
            "plan_variables are the variables of a deployment plan: set deployment_plan too".into(),
        );
    }
    if set("image_url") && !set("image_checksum") {
        problem(
            "image_checksum",
            "Checksum required",
            CHECKSUM_REQUIRED.into(),
        );
    }
    if adopt && (set("image_url") || set("image")) {
        problem(
            "adopt",
            "Adopt or deploy",
            "an adopted host already runs its system: drop image_url (or image), or adopt = false to deploy"
                .into(),
        );
    }
    if adopt && !set("node") {
        problem(
            "adopt",
            "Adopt needs a node",
            "name the node that runs the server to adopt".into(),
        );
    }
    if !set("image_url") && !set("image") {
        for k in DEPLOYMENT_ATTRIBUTES.into_iter().filter(|k| set(k)) {
            problem(
                k,
                "Needs an image",
                format!("{k} belongs to a deployment: set image_url (or image) too"),
            );
        }
    }
    if creating && !set("flavor") && !set("node") {
        problem(
            "flavor",
            "Flavor or node",
            "a host is scheduled by a flavor or pinned to a node: set one of them".into(),
        );
    }
    out
}

/// Whom a host's sealed user data belongs to.
pub fn sealed_owner(h: &HostRecord) -> String {
    sealed_fields(&h.project, &h.name)[0].1.clone()
}

/// Whom a host's sealed image URL belongs to.
pub fn sealed_image_owner(h: &HostRecord) -> String {
    sealed_fields(&h.project, &h.name)[1].1.clone()
}

/// The sealed values a host's deployment may hold, each with whom it is sealed for (what a key
/// rotation re-seals).
pub fn sealed_fields(project: &str, name: &str) -> [(&'static str, String); 2] {
    [
        ("user_data_sealed", format!("host:{project}/{name}")),
        ("image_url_sealed", format!("host-image:{project}/{name}")),
    ]
}

/// A deployment asked for.
#[derive(Debug, Clone)]
pub struct DeployRequest {
    pub image_url: String,
    /// The golden image the URL and checksum come from, when the host names one.
    pub image: Option<String>,
    /// The deployment plan that rendered `user_data`, when the host names one.
    pub deployment_plan: Option<String>,
    /// The hostname the config drive gives (a deployment plan's pattern); `None`: the host's name.
    pub hostname: Option<String>,
    pub image_checksum: Checksum,
    pub user_data: Option<String>,
    /// The user data was given write-only (see [`Deployment::user_data_write_only`]).
    pub user_data_write_only: bool,
    pub ssh_keys: Vec<String>,
    /// The host's networks; empty keeps the node's configured ones.
    pub networks: Vec<String>,
    /// Static addresses the host pins (its `address` blocks); the others are allocated.
    pub addresses: Vec<AddressPin>,
    pub wait: Wait,
    pub profile: Option<String>,
    /// The image's format as given; `None`: told from its name, else from its content.
    pub image_format: Option<ImageFormat>,
    /// Which disk the agent writes to.
    pub root_device: RootDeviceHints,
    /// The whole deployment, from the checksum to the host active.
    pub timeout: Duration,
}

/// A host attribute a deployment cannot take, for a diagnostic at that attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestError {
    pub attribute: &'static str,
    pub title: &'static str,
    pub message: String,
}

impl DeployRequest {
    /// The deployment a host's attributes ask for, `None` without an image: what Terraform's
    /// `baremetal_host` and `bmplan apply`'s HCL hosts both deploy. Every attribute it cannot take
    /// is named.
    pub fn for_spec(
        spec: &HostSpec,
        timeout: Duration,
    ) -> Result<Option<DeployRequest>, Vec<RequestError>> {
        let Some(url) = &spec.image_url else {
            return Ok(None);
        };
        let mut errors = Vec::new();
        let checksum = match spec.image_checksum.as_deref().map(Checksum::parse) {
            None => {
                errors.push(RequestError {
                    attribute: "image_checksum",
                    title: "Checksum required",
                    message: CHECKSUM_REQUIRED.into(),
                });
                None
            }
            Some(Err(message)) => {
                errors.push(RequestError {
                    attribute: "image_checksum",
                    title: "Invalid checksum",
                    message: message.into(),
                });
                None
            }
            Some(Ok(c)) => Some(c),
        };
        let wait = match spec.wait.as_deref().map(Wait::parse) {
            None => Wait::default(),
            Some(Ok(w)) => w,
            Some(Err(message)) => {
                errors.push(RequestError {
                    attribute: "wait",
                    title: "Invalid wait strategy",
                    message: message.into(),
                });
                Wait::default()
            }
        };
        let image_format = match spec.image_format.as_deref().map(ImageFormat::parse) {
            None => None,
            Some(Ok(f)) => Some(f),
            Some(Err(message)) => {
                errors.push(RequestError {
                    attribute: "image_format",
                    title: "Invalid image format",
                    message: message.into(),
                });
                None
            }
        };
        if let Some(e) = &spec.root_device_error {
            errors.push(RequestError {
                attribute: "root_device",
                title: "Invalid root device hints",
                message: e.clone(),
            });
        }
        match checksum {
            Some(image_checksum) if errors.is_empty() => Ok(Some(DeployRequest {
                image_url: url.clone(),
                image: spec.image.clone(),
                deployment_plan: spec.deployment_plan.clone(),
                hostname: spec.hostname.clone(),
                image_checksum,
                user_data: spec.user_data.as_ref().map(|u| u.expose().to_string()),
                user_data_write_only: spec.user_data_write_only,
                ssh_keys: spec.ssh_keys.clone(),
                networks: spec.networks.clone(),
                addresses: spec.addresses.clone(),
                wait,
                profile: spec.profile.clone(),
                image_format,
                root_device: spec.root_device.clone(),
                timeout,
            })),
            _ => Err(errors),
        }
    }
}

/// A `baremetal_host` block, as `bmplan plan` and `apply` act on it: allocated by flavor (or a
/// pinned node) and deployed from an image. What bmplan does not act on is listed in `not_applied`.
#[derive(Debug, Clone, Default)]
pub struct HostSpec {
    pub name: String,
    pub flavor: Option<String>,
    pub node: Option<String>,
    pub profile: Option<String>,
    pub image_url: Option<String>,
    /// The golden image (`baremetal_image`) named instead of an `image_url`; resolved into
    /// `image_url` and `image_checksum` ([`crate::golden::host_attrs_with_image`]) before a
    /// deployment is asked for.
    pub image: Option<String>,
    /// The deployment plan (`baremetal_deployment_plan`) whose rendering is `user_data`.
    pub deployment_plan: Option<String>,
    /// The hostname a deployment plan rendered (not an attribute of its own).
    pub hostname: Option<String>,
    pub image_checksum: Option<String>,
    pub wait: Option<String>,
    pub image_format: Option<String>,
    pub root_device: RootDeviceHints,
    /// Why the `root_device` block cannot be taken, if it cannot.
    pub root_device_error: Option<String>,
    pub networks: Vec<String>,
    /// Static addresses pinned by `address` blocks.
    pub addresses: Vec<AddressPin>,
    /// Why an `address` block cannot be taken, by attribute path.
    pub address_errors: Vec<AttrError>,
    pub ssh_keys: Vec<String>,
    pub user_data: Option<Secret>,
    /// `user_data` came from `user_data_wo`.
    pub user_data_write_only: bool,
    /// `on` or `off`: the power the host should have once it is active.
    pub power: Option<String>,
    /// Attributes set in the configuration that only Terraform (or `bmplan hosts …`) acts on.
    pub not_applied: Vec<&'static str>,
}

/// What bmplan leaves to Terraform and the `bmplan hosts` commands.
const HOST_NOT_APPLIED: [&str; 4] = ["adopt", "failover", "rebuild", "reboot"];

impl HostSpec {
    /// A host's attributes as they are (the provider's planned values, or an HCL block); what a
    /// deployment cannot take is found by [`DeployRequest::for_spec`].
    pub fn from_attrs(name: &str, attrs: &Map<String, Value>) -> HostSpec {
        let set = |k: &str| match attrs.get(k) {
            None | Some(Value::Null) | Some(Value::Bool(false)) => false,
            Some(Value::Array(a)) => !a.is_empty(),
            Some(_) => true,
        };
        let root_device = RootDeviceHints::from_attrs(attrs);
        let (addresses, address_errors) = crate::subnet::pins_from_attrs(attrs);
        HostSpec {
            name: name.to_string(),
            flavor: text_of(attrs, "flavor"),
            node: text_of(attrs, "node"),
            profile: text_of(attrs, "profile"),
            image_url: text_of(attrs, "image_url"),
            // The name of `NAME` or `NAME@CHECKSUM` (the checksum was resolved before).
            image: text_of(attrs, "image")
                .map(|i| i.split('@').next().unwrap_or_default().to_string()),
            deployment_plan: text_of(attrs, "deployment_plan")
                .map(|i| i.split('@').next().unwrap_or_default().to_string()),
            hostname: text_of(attrs, "hostname"),
            // A golden image's ref pins its checksum (`NAME@CHECKSUM`), checked against the
            // image where it is resolved.
            image_checksum: text_of(attrs, "image_checksum").or_else(|| {
                text_of(attrs, "image").and_then(|i| i.split_once('@').map(|(_, c)| c.to_string()))
            }),
            wait: text_of(attrs, "wait"),
            image_format: text_of(attrs, "image_format"),
            root_device: root_device.clone().unwrap_or_default(),
            root_device_error: root_device.err(),
            networks: texts_of(attrs, "networks"),
            addresses,
            address_errors,
            ssh_keys: texts_of(attrs, "ssh_keys"),
            user_data: crate::schema::secret_text(attrs, "user_data").map(Secret::new),
            user_data_write_only: attrs.get("user_data_wo").is_some_and(|v| !v.is_null()),
            power: text_of(attrs, "power").map(|p| p.to_ascii_lowercase()),
            not_applied: HOST_NOT_APPLIED.into_iter().filter(|k| set(k)).collect(),
        }
    }
}

/// A `baremetal_host` block as `bmplan` loads it: what a deployment cannot take, and a host with
/// neither flavor nor node, are errors at their attribute.
pub fn host_from_attrs(name: &str, attrs: &Map<String, Value>) -> Result<HostSpec, Vec<AttrError>> {
    let h = HostSpec::from_attrs(name, attrs);
    let set = |k: &str| attrs.get(k).is_some_and(|v| !v.is_null());
    let adopt = attrs.get("adopt").and_then(Value::as_bool) == Some(true);
    let mut errs: Vec<AttrError> = block_problems(set, adopt, true)
        .into_iter()
        .map(|e| (e.attribute.to_string(), e.message))
        .collect();
    if let Err(e) = DeployRequest::for_spec(&h, Default::default()) {
        for e in e {
            let e = (e.attribute.to_string(), e.message);
            if !errs.contains(&e) {
                errs.push(e);
            }
        }
    }
    errs.extend(h.address_errors.iter().cloned());
    if set("deployment_plan") {
        errs.push((
            "deployment_plan".into(),
            "deployment plans are rendered by the Terraform provider; bmplan does not support them yet: give user_data instead".into(),
        ));
    }
    if let Some(p) = h.power.as_deref().filter(|p| !matches!(*p, "on" | "off")) {
        errs.push((
            "power".into(),
            format!("power is \"on\" or \"off\", not {p:?}"),
        ));
    }
    if errs.is_empty() {
        Ok(h)
    } else {
        Err(errs)
    }
}
