//! Static rules of the configuration: what is wrong whatever the devices say. One set serves the HCL
//! loader (`bmplan validate`, `plan`, `apply`) and the provider's `ValidateResourceConfig`, so that a
//! mistake is refused the same way, at its attribute, by both tools and before any device is touched.
//!
//! Every rule reads only the attributes it is given: an attribute that is absent (or unknown, in the
//! provider) is not judged here; required attributes are the schema's business.

use serde_json::{Map, Value};

/// The longest name of a node, switch, network, profile, flavor or host, in bytes (a DNS name's).
pub const MAX_NAME: usize = 253;
/// The longest string any attribute may hold (user data and PEM bundles included), in bytes.
pub const MAX_STRING: usize = 1 << 20;
/// The most drives one RAID volume may ask for.
pub const MAX_DRIVES: u64 = 256;
/// The most nodes one rolling wave may change at once.
pub const MAX_PARALLEL: u64 = 10_000;

fn problem(path: impl Into<String>, message: impl Into<String>) -> AttrError {
    (path.into(), message.into())
}

fn text<'a>(attrs: &'a Map<String, Value>, k: &str) -> Option<&'a str> {
    attrs.get(k).and_then(Value::as_str)
}

/// The problems of one `baremetal_*` resource's attributes, by dotted path (`port.0.port`).
pub fn resource(kind: &str, attrs: &Map<String, Value>) -> Vec<AttrError> {
    resource_with_unknown(kind, attrs, &|_| false)
}

/// [`resource`] for a configuration some of whose values are not known yet (Terraform's validation
/// before variables are set): `unknown(name)` says which, and no rule judges them.
pub fn resource_with_unknown(
    kind: &str,
    attrs: &Map<String, Value>,
    unknown: &dyn Fn(&str) -> bool,
) -> Vec<AttrError> {
    let mut out = Vec::new();
    strings(attrs, "", &mut out);
    if let Some(name) = text(attrs, "name").filter(|n| !n.contains('\0')) {
        if let Err(m) = name_ok(name) {
            out.push(problem("name", m));
        }
    }
    match kind {
        "baremetal_node" => node(attrs, &mut out),
        "baremetal_switch" => switch(attrs, &mut out),
        "baremetal_profile" => profile(attrs, &mut out),
        "baremetal_host" => {
            if let Some(u) = text(attrs, "image_url") {
                if let Err(m) = url_ok(u, &["http", "https"]) {
                    out.push(problem("image_url", m));
                }
            }
        }
        _ => {}
    }
    secrets(kind, attrs, unknown, &mut out);
    out
}

/// A secret is given once: as its write-only form (`password_wo`) or as itself (`password`), not
/// both; a node's and a switch's password is required in one of the two forms.
fn secrets(
    kind: &str,
    attrs: &Map<String, Value>,
    unknown: &dyn Fn(&str) -> bool,
    out: &mut Vec<AttrError>,
) {
    // (the secret, its write-only form)
    let (pairs, required): (&[(&str, &str)], bool) = match kind {
        "baremetal_node" => (&[("password", "password_wo")], true),
        "baremetal_switch" => (
            &[
                ("password", "password_wo"),
                ("enable_password", "enable_password_wo"),
            ],
            true,
        ),
        "baremetal_host" => (&[("user_data", "user_data_wo")], false),
        _ => return,
    };
    let given = |k: &str| attrs.get(k).is_some_and(|v| !v.is_null()) || unknown(k);
    for (i, (name, wo)) in pairs.iter().enumerate() {
        match (given(wo), given(name)) {
            (true, true) => out.push(problem(
                *wo,
                format!("set {wo} or {name}, not both: they are the same secret"),
            )),
            (false, false) if required && i == 0 => out.push(problem(
                *wo,
                format!("{wo} is required (or {name}, for Terraform before 1.11, which keeps it in its state)"),
            )),
            _ => {}
        }
    }
}

/// A name: not empty, at most [`MAX_NAME`] bytes, no control characters, no surrounding spaces.
pub fn name_ok(name: &str) -> Result<(), Invalid> {
    if name.is_empty() {
        return Err(Invalid("the name is empty".into()));
    }
    if name.len() > MAX_NAME {
        return Err(Invalid(format!(
            "the name is {} bytes long; names are at most {MAX_NAME}",
            name.len()
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Invalid(format!(
            "the name {} holds a control character",
            crate::text::printable(name, false)
        )));
    }
    if name.trim() != name {
        return Err(Invalid(format!(
            "the name {name:?} starts or ends with a space"
        )));
    }
    Ok(())
}

/// The schemes a BMC endpoint may have: Redfish over HTTPS (or HTTP), and IPMI 2.0 (lanplus).
pub const BMC_SCHEMES: &[&str] = &["https", "http", "ipmi"];

/// A URL with one of `schemes`, a host, and no user or password in it.
pub fn url_ok(url: &str, schemes: &[&str]) -> Result<url::Url, Invalid> {
    let shown = redacted(url);
    let u = url::Url::parse(url).map_err(|e| format!("{shown} is not a URL: {e}"))?;
    if !schemes.contains(&u.scheme()) {
        return Err(Invalid(format!(
            "{shown} must start with {}",
            schemes
                .iter()
                .map(|s| format!("{s}://"))
                .collect::<Vec<_>>()
                .join(" or ")
        )));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err(Invalid(format!("{shown} has no host")));
    }
    if !u.username().is_empty() || u.password().is_some() {
        // Never echo what may be a password.
        return Err(Invalid(format!(
            "the URL {}://…@{} carries a user or password: credentials belong in their own attributes, never in a URL",
            u.scheme(),
            u.host_str().unwrap_or_default()
        )));
    }
    Ok(u)
}

pub use crate::text::redacted;

/// A problem with one attribute of one resource: the attribute's dotted path and what is wrong.
pub type AttrError = (String, String);

/// Why a value breaks a rule, in words: what a diagnostic at the value's place says. Every check
/// of one value in the core (names, URLs, addresses, durations, checksums, BIOS values) fails with
/// it, so callers can carry it as a `#[source]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

impl From<String> for Invalid {
    fn from(s: String) -> Invalid {
        Invalid(s)
    }
}

impl From<Invalid> for String {
    fn from(i: Invalid) -> String {
        i.0
    }
}

impl From<&str> for Invalid {
    fn from(s: &str) -> Invalid {
        Invalid(s.to_string())
    }
}

/// `HOST:PORT` (an IPv6 host in brackets), with a port from 1 to 65535.
pub fn host_port_ok(address: &str) -> Result<(), Invalid> {
    let shown = crate::text::printable(address, false);
    let Some((host, port)) = address.rsplit_once(':') else {
        return Err(Invalid(format!("{shown} is not HOST:PORT")));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.chars().any(|c| c.is_whitespace() || c == '/') {
        return Err(Invalid(format!(
            "{shown} has no valid host before the port"
        )));
    }
    match port.parse::<u32>() {
        Ok(p) if (1..=65535).contains(&p) => Ok(()),
        _ => Err(Invalid(format!(
            "{shown}: the port {} is not a number from 1 to 65535",
            crate::text::printable(port, false)
        ))),
    }
}

/// A file that exists and can be read.
pub fn file_ok(path: &str) -> Result<(), Invalid> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(Invalid(format!(
            "{} is not a file",
            crate::text::printable(path, false)
        ))),
        Err(e) => Err(Invalid(format!(
            "cannot read {}: {e}",
            crate::text::printable(path, false)
        ))),
    }
}

/// Every string, anywhere in the attributes: no NUL, at most [`MAX_STRING`] bytes.
fn strings(attrs: &Map<String, Value>, prefix: &str, out: &mut Vec<AttrError>) {
    fn walk(v: &Value, path: &str, out: &mut Vec<AttrError>) {
        match v {
            Value::String(s) if s.contains('\0') => {
                out.push(problem(path, "the value holds a NUL character"))
            }
            Value::String(s) if s.len() > MAX_STRING => out.push(problem(
                path,
                format!(
                    "the value is {} bytes long; values are at most {MAX_STRING}",
                    s.len()
                ),
            )),
            Value::Array(xs) => {
                for (i, x) in xs.iter().enumerate() {
                    walk(x, &format!("{path}.{i}"), out);
                }
            }
            Value::Object(m) => {
                for (k, x) in m {
                    walk(x, &format!("{path}.{k}"), out);
                }
            }
            _ => {}
        }
    }
    for (k, v) in attrs {
        // Blocks are lists of objects whose paths are `block.N.attr`; maps (`bios`) are located
        // at the map itself.
        let path = format!("{prefix}{k}");
        match v {
            Value::Object(_) => {
                let mut found = Vec::new();
                walk(v, &path, &mut found);
                out.extend(found.into_iter().map(|(_, m)| (path.clone(), m)));
            }
            _ => walk(v, &path, out),
        }
    }
}

fn node(attrs: &Map<String, Value>, out: &mut Vec<AttrError>) {
    let url = text(attrs, "bmc_url").and_then(|u| match url_ok(u, BMC_SCHEMES) {
        Ok(u) => Some(u),
        Err(m) => {
            out.push(problem("bmc_url", m));
            None
        }
    });
    for k in ["username", "password", "password_wo"] {
        if text(attrs, k) == Some("") {
            out.push(problem(k, format!("{k} is empty")));
        }
    }
    let ca = text(attrs, "ca_cert");
    let fp = text(attrs, "fingerprint");
    let insecure = attrs.get("insecure") == Some(&Value::Bool(true));
    let set: Vec<&str> = [
        ("ca_cert", ca.is_some()),
        ("fingerprint", fp.is_some()),
        ("insecure", insecure),
    ]
    .iter()
    .filter(|(_, on)| *on)
    .map(|(k, _)| *k)
    .collect();
    if set.len() > 1 {
        out.push(problem(
            set[1],
            format!(
                "{} contradict each other: choose one way to trust the BMC's certificate",
                set.join(" and ")
            ),
        ));
    }
    if let (Some(u), Some(k)) = (&url, set.first()) {
        if u.scheme() == "ipmi" {
            out.push(problem(
                *k,
                format!("{k} is set but bmc_url is ipmi://: IPMI has no certificates to trust"),
            ));
        }
    }
    if let Some(u) = url.as_ref().filter(|u| u.scheme() == "ipmi") {
        let suite_only = u
            .query_pairs()
            .all(|(k, v)| k == "cipher_suite" && v.parse::<u8>().is_ok_and(|n| n <= 17));
        if !matches!(u.path(), "" | "/") || !suite_only {
            out.push(problem(
                "bmc_url",
                "an IPMI endpoint is ipmi://host[:port][?cipher_suite=N] (N from 0 to 17)"
                    .to_string(),
            ));
        }
    }
    if let (Some(u), Some(k)) = (&url, set.iter().find(|k| **k != "insecure")) {
        if u.scheme() == "http" {
            out.push(problem(
                *k,
                format!("{k} is set but bmc_url is http://: the BMC would be reached in clear, unverified; use https://"),
            ));
        }
    }
    if let Some(ca) = ca {
        if let Err(m) = file_ok(ca) {
            out.push(problem("ca_cert", m));
        }
    }
    if let Some(fp) = fp {
        if crate::hardware::parse_fingerprint(fp).is_none() {
            out.push(problem(
                "fingerprint",
                "not a SHA-256 fingerprint (64 hex digits, colons allowed)",
            ));
        }
    }
    for (i, p) in blocks(attrs, "port") {
        if text(p, "port").is_some_and(|s| s.trim().is_empty()) {
            out.push(problem(format!("port.{i}.port"), "the port name is empty"));
        }
    }
}

fn switch(attrs: &Map<String, Value>, out: &mut Vec<AttrError>) {
    if let Some(a) = text(attrs, "address") {
        if let Err(m) = host_port_ok(a) {
            out.push(problem("address", m));
        }
    }
    for k in ["username", "password", "password_wo"] {
        if text(attrs, k) == Some("") {
            out.push(problem(k, format!("{k} is empty")));
        }
    }
}

fn profile(attrs: &Map<String, Value>, out: &mut Vec<AttrError>) {
    for (r, raid) in blocks(attrs, "raid") {
        for (v, vol) in blocks(raid, "volume") {
            if let Some(n) = vol.get("drives").and_then(Value::as_f64) {
                if n.fract() != 0.0 || n < 1.0 || n > MAX_DRIVES as f64 {
                    out.push(problem(
                        format!("raid.{r}.volume.{v}.drives"),
                        format!("drives is {n}; a volume takes a whole number of drives from 1 to {MAX_DRIVES}"),
                    ));
                }
            }
        }
    }
    for (i, fw) in blocks(attrs, "firmware") {
        if let Some(u) = text(fw, "image_url") {
            if let Err(m) = url_ok(u, &["http", "https"]) {
                out.push(problem(format!("firmware.{i}.image_url"), m));
            }
        }
    }
}

fn blocks<'a>(
    attrs: &'a Map<String, Value>,
    k: &str,
) -> impl Iterator<Item = (usize, &'a Map<String, Value>)> {
    attrs
        .get(k)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, v)| v.as_object().map(|o| (i, o)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(kind: &str, v: Value) -> Vec<String> {
        resource(kind, v.as_object().unwrap())
            .into_iter()
            .map(|(p, _)| p)
            .collect()
    }

    #[test]
    fn a_secret_is_given_in_one_form_and_a_password_is_required() {
        let node = |v: Value| paths("baremetal_node", v);
        assert_eq!(node(json!({"password_wo": "a"})), Vec::<String>::new());
        assert_eq!(node(json!({"password": "a"})), Vec::<String>::new());
        assert_eq!(node(json!({})), vec!["password_wo"]);
        assert_eq!(
            node(json!({"password": "a", "password_wo": "a"})),
            vec!["password_wo"]
        );
        let sw = |v: Value| paths("baremetal_switch", v);
        assert_eq!(
            sw(json!({"password_wo": "a", "enable_password": "e", "enable_password_wo": "e"})),
            vec!["enable_password_wo"]
        );
        assert_eq!(paths("baremetal_host", json!({})), Vec::<String>::new());
        // Not known yet (Terraform validating before variables are set): not judged missing.
        let unknown = resource_with_unknown("baremetal_node", &Map::new(), &|k| k == "password_wo");
        assert!(unknown.is_empty(), "{unknown:?}");
    }

    #[test]
    fn names_are_not_empty_long_or_controlled() {
        assert!(name_ok("r1u01").is_ok());
        assert!(name_ok("").is_err());
        assert!(name_ok(&"x".repeat(254)).is_err());
        assert!(name_ok("a\u{1b}[31m").is_err());
        assert!(name_ok(" a").is_err());
    }

    #[test]
    fn a_node_url_with_credentials_a_bad_port_or_tls_on_http_is_refused() {
        let n = |u: &str| paths("baremetal_node", json!({"bmc_url": u, "password_wo": "pw"}));
        assert_eq!(n("https://10.0.0.1"), Vec::<String>::new());
        assert_eq!(n("https://root:calvin@10.0.0.1"), vec!["bmc_url"]);
        assert_eq!(n("https://10.0.0.1:99999"), vec!["bmc_url"]);
        assert_eq!(n("ftp://10.0.0.1"), vec!["bmc_url"]);
        let e = resource(
            "baremetal_node",
            json!({"bmc_url": "https://u:secretpw@h"})
                .as_object()
                .unwrap(),
        );
        assert!(!e[0].1.contains("secretpw"), "{e:?}");
        let e = resource(
            "baremetal_node",
            json!({"bmc_url": "https://u:secretpw@h:99999/redfish"})
                .as_object()
                .unwrap(),
        );
        assert!(
            !e[0].1.contains("secretpw") && e[0].1.contains("…@h:99999"),
            "{e:?}"
        );
        assert_eq!(
            paths(
                "baremetal_node",
                json!({"bmc_url": "http://h", "fingerprint": "ab".repeat(32), "password": "p"})
            ),
            vec!["fingerprint"]
        );
        assert_eq!(
            paths(
                "baremetal_node",
                json!({"bmc_url": "https://h", "fingerprint": "ab".repeat(32), "insecure": true, "password": "p"})
            ),
            vec!["insecure"]
        );
    }

    #[test]
    fn switch_addresses_take_a_port_in_range() {
        assert!(host_port_ok("10.0.0.2:22").is_ok());
        assert!(host_port_ok("[::1]:830").is_ok());
        assert!(host_port_ok("10.0.0.2").is_err());
        assert!(host_port_ok("10.0.0.2:99999").is_err());
        assert!(host_port_ok(":22").is_err());
    }

    #[test]
    fn strings_with_nul_or_over_the_limit_are_refused_at_their_path() {
        let big = "x".repeat(MAX_STRING + 1);
        assert_eq!(
            paths("baremetal_network", json!({"name": "a\u{0}b"})),
            vec!["name"]
        );
        assert_eq!(
            paths("baremetal_host", json!({"user_data": big})),
            vec!["user_data"]
        );
        assert_eq!(
            paths(
                "baremetal_profile",
                json!({"raid": [{"volume": [{"drives": 300}, {"drives": 0}, {"drives": 2}]}]})
            ),
            vec!["raid.0.volume.0.drives", "raid.0.volume.1.drives"]
        );
        assert_eq!(
            paths("baremetal_profile", json!({"bios": {"A": "x\u{0}"}})),
            vec!["bios"]
        );
    }
}
