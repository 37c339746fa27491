//! Deployment plans: a named customisation of a golden image, as HPE Image Streamer's OS build
//! plans are. A cloud-init user-data template (and a hostname pattern) rendered per host from the
//! host's attributes and free variables. Templates are checked before anything is deployed: an
//! unknown variable or an unclosed `{{` is an error at its line and column. The plan shows the
//! rendered user data's diff, with sensitive variables masked.
//!
//! The syntax is `{{ NAME }}`, with NAME one of [`VARIABLES`] or `var.KEY`; `\{{` is a literal
//! `{{`. (Not `${…}`, which Terraform would interpolate itself.)

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::load::text_of;
use crate::rules::AttrError;

/// The host's values a template may use, besides `var.KEY`.
pub const VARIABLES: [&str; 9] = [
    "host.name",
    "host.hostname",
    "host.project",
    "host.profile",
    "host.networks",
    "host.ssh_keys",
    "image.name",
    "image.os_family",
    "plan.name",
];

/// A deployment plan as the inventory keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeploymentPlan {
    pub name: String,
    /// The cloud-init user data template.
    pub user_data: String,
    /// The hostname pattern (`{{ host.name }}.prod.example.com`); unset: the host's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Free variables' defaults (`var.KEY`); a host's `plan_variables` override them.
    pub variables: BTreeMap<String, String>,
    /// Variables whose values are secrets: masked in every diff, error and log. Sealed at rest.
    #[serde(skip)]
    pub sensitive: BTreeMap<String, String>,
    /// The sensitive variables, sealed with the credentials key (what the inventory keeps).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sensitive_sealed: Option<String>,
    /// `secret_variables_wo_version`: bumped to say the write-only secrets changed (Terraform
    /// cannot see write-only values change). The digest counts it, never the secrets' values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secrets_version: Option<u64>,
}

/// One problem in a template: where (1-based line and column of the template text) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

/// A piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var {
        name: String,
        line: usize,
        column: usize,
    },
}

/// Where the scan is (1-based line and column), advanced over what it consumes: each byte of a
/// template is counted once, however many variables it holds.
struct Cursor {
    line: usize,
    column: usize,
}

impl Cursor {
    fn over(&mut self, consumed: &str) {
        for c in consumed.chars() {
            if c == '\n' {
                self.line += 1;
                self.column = 1;
            } else {
                self.column += 1;
            }
        }
    }
}

fn parse(text: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut at = Cursor { line: 1, column: 1 };
    let mut i = 0;
    while i < text.len() {
        let rest = &text[i..];
        let step = if rest.starts_with("\\{{") {
            lit.push_str("{{");
            3
        } else if rest.starts_with("{{") {
            let Some(end) = rest.find("}}") else {
                return Err(TemplateError {
                    line: at.line,
                    column: at.column,
                    message: "this {{ is never closed by }}".into(),
                });
            };
            let name = rest[2..end].trim().to_string();
            if !out.is_empty() || !lit.is_empty() {
                out.push(Piece::Text(std::mem::take(&mut lit)));
            }
            out.push(Piece::Var {
                name,
                line: at.line,
                column: at.column,
            });
            end + 2
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            lit.push(c);
            c.len_utf8()
        };
        at.over(&rest[..step]);
        i += step;
    }
    if !lit.is_empty() {
        out.push(Piece::Text(lit));
    }
    Ok(out)
}

fn suggestion(name: &str, known: &[String]) -> String {
    crate::load::strict::did_you_mean(name, known.iter().map(String::as_str))
}

/// Every problem of `text` as a template over `variables` (the plan's and host's free variable
/// names): unknown variables and unclosed braces, each at its line and column.
pub fn check(text: &str, variables: &[String]) -> Vec<TemplateError> {
    let pieces = match parse(text) {
        Ok(p) => p,
        Err(e) => return vec![e],
    };
    let known: Vec<String> = VARIABLES
        .iter()
        .map(|v| v.to_string())
        .chain(variables.iter().map(|v| format!("var.{v}")))
        .collect();
    pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Var { name, line, column } if !known.contains(name) => Some(TemplateError {
                line: *line,
                column: *column,
                message: if name.is_empty() {
                    "an empty {{ }}: name a variable".into()
                } else {
                    format!(
                        "unknown variable {name:?}{}; known: {}",
                        suggestion(name, &known),
                        known.join(", ")
                    )
                },
            }),
            _ => None,
        })
        .collect()
}

/// What a template is rendered with, for one host.
#[derive(Debug, Clone, Default)]
pub struct Context {
    pub values: BTreeMap<String, String>,
    /// Values to mask (`(sensitive)`) wherever the rendered text is shown.
    pub secrets: Vec<String>,
}

/// Renders `text` with `ctx` (checked first: an unknown variable is an error, never empty text).
pub fn render(text: &str, ctx: &Context) -> Result<String, TemplateError> {
    let mut out = String::new();
    for p in parse(text)? {
        match p {
            Piece::Text(t) => out.push_str(&t),
            Piece::Var { name, line, column } => match ctx.values.get(&name) {
                Some(v) => out.push_str(v),
                None => {
                    return Err(TemplateError {
                        line,
                        column,
                        message: format!("unknown variable {name:?}"),
                    })
                }
            },
        }
    }
    Ok(out)
}

/// `text` with every secret replaced by `(sensitive)`.
pub fn masked(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    // Longest first: a secret that begins another would leave the rest of it shown.
    let mut secrets: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in secrets {
        out = out.replace(s.as_str(), "(sensitive)");
    }
    out
}

/// The rendered user data's change as a unified diff, secrets masked in both texts.
pub fn rendered_diff(old: &str, new: &str, secrets: &[String]) -> String {
    let (old, new) = (masked(old, secrets), masked(new, secrets));
    similar::TextDiff::from_lines(old.as_str(), new.as_str())
        .unified_diff()
        .context_radius(2)
        .header("deployed", "planned")
        .to_string()
}

/// Whether `h` is a hostname cloud-init and DNS take: labels of letters, digits and `-`, not
/// starting or ending with `-`, at most 63 each and 253 in all.
pub fn hostname_ok(h: &str) -> Result<(), String> {
    let ok = !h.is_empty()
        && h.len() <= 253
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(format!("the hostname pattern renders {h:?}, which is not a hostname (labels of letters, digits and '-', at most 63 each)"))
    }
}

impl DeploymentPlan {
    /// A plan from its attributes; every attribute it cannot take is named, a template problem
    /// with its line and column in the template.
    pub fn from_attrs(attrs: &Map<String, Value>) -> Result<DeploymentPlan, Vec<AttrError>> {
        let mut errors: Vec<AttrError> = Vec::new();
        let name = text_of(attrs, "name").unwrap_or_default();
        if let Err(e) = crate::rules::name_ok(&name) {
            errors.push(("name".into(), e.0));
        }
        let map = |k: &str| -> BTreeMap<String, String> {
            attrs
                .get(k)
                .and_then(Value::as_object)
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                        .collect()
                })
                .unwrap_or_default()
        };
        let variables = map("variables");
        let sensitive = map("secret_variables_wo");
        for k in variables.keys().chain(sensitive.keys()) {
            if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                errors.push((
                    "variables".into(),
                    format!("variable name {k:?}: use letters, digits and '_'"),
                ));
            }
        }
        if let Some(k) = variables.keys().find(|k| sensitive.contains_key(*k)) {
            errors.push((
                "secret_variables_wo".into(),
                format!("variable {k:?} is in variables and secret_variables_wo: name it once"),
            ));
        }
        let user_data = text_of(attrs, "user_data").unwrap_or_default();
        let hostname = text_of(attrs, "hostname");
        let names: Vec<String> = variables.keys().chain(sensitive.keys()).cloned().collect();
        for e in check(&user_data, &names) {
            errors.push(("user_data".into(), format!("template {e}")));
        }
        if let Some(h) = &hostname {
            for e in check(h, &names) {
                errors.push(("hostname".into(), format!("template {e}")));
            }
            if parse(h).is_ok_and(|p| {
                p.iter()
                    .any(|x| matches!(x, Piece::Var { name, .. } if name == "host.hostname"))
            }) {
                errors.push((
                    "hostname".into(),
                    "the hostname pattern cannot use host.hostname (itself)".into(),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(DeploymentPlan {
            name,
            user_data,
            hostname,
            variables,
            sensitive,
            sensitive_sealed: None,
            secrets_version: attrs
                .get("secret_variables_wo_version")
                .and_then(Value::as_u64),
        })
    }

    /// The digest of what renders (template, hostname pattern, variables, the secret variables'
    /// names and their version, never their values: the `ref` is kept in Terraform's state,
    /// where a digest of a weak secret could be guessed): the plan's `ref` is `NAME@sha256:…`.
    pub fn digest(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.user_data.as_bytes());
        h.update([0]);
        h.update(self.hostname.as_deref().unwrap_or("").as_bytes());
        for (k, v) in &self.variables {
            h.update([0]);
            h.update(k.as_bytes());
            h.update([1]);
            h.update(v.as_bytes());
        }
        for k in self.sensitive.keys() {
            h.update([2]);
            h.update(k.as_bytes());
        }
        if let Some(v) = self.secrets_version {
            h.update([3]);
            h.update(v.to_le_bytes());
        }
        format!("sha256:{}", hex::encode(h.finalize()))
    }

    pub fn reference(&self) -> String {
        format!("{}@{}", self.name, self.digest())
    }

    /// The variable names a host may set (`plan_variables`), with the plan's own.
    pub fn variable_names(&self) -> Vec<String> {
        self.variables
            .keys()
            .chain(self.sensitive.keys())
            .cloned()
            .collect()
    }

    /// What this plan renders for one host: its user data and hostname, and the values to mask.
    /// `host` holds the host's values (`host.name`…, `image.…`); `overrides` the host's
    /// `plan_variables`, which must be the plan's variables.
    pub fn render_for(
        &self,
        host: &BTreeMap<String, String>,
        overrides: &BTreeMap<String, String>,
    ) -> Result<Rendered, AttrError> {
        if let Some(k) = overrides
            .keys()
            .find(|k| !self.variables.contains_key(*k) && !self.sensitive.contains_key(*k))
        {
            return Err((
                "plan_variables".into(),
                format!(
                    "deployment plan {} has no variable {k:?}{}",
                    self.name,
                    suggestion(k, &self.variable_names())
                ),
            ));
        }
        if let Some(k) = overrides.keys().find(|k| self.sensitive.contains_key(*k)) {
            return Err((
                "plan_variables".into(),
                format!("{k:?} is a secret variable of deployment plan {}: it is set there (secret_variables_wo), never per host, where it would be kept in the state", self.name),
            ));
        }
        let mut ctx = Context::default();
        for v in VARIABLES {
            ctx.values
                .insert(v.to_string(), host.get(v).cloned().unwrap_or_default());
        }
        ctx.values.insert("plan.name".into(), self.name.clone());
        for (k, v) in &self.variables {
            ctx.values.insert(format!("var.{k}"), v.clone());
        }
        for (k, v) in &self.sensitive {
            ctx.values.insert(format!("var.{k}"), v.clone());
            ctx.secrets.push(v.clone());
        }
        for (k, v) in overrides {
            ctx.values.insert(format!("var.{k}"), v.clone());
            if self.sensitive.contains_key(k) {
                ctx.secrets.push(v.clone());
            }
        }
        let hostname = match &self.hostname {
            Some(p) => render(p, &ctx).map_err(|e| ("hostname".to_string(), e.to_string()))?,
            None => host.get("host.name").cloned().unwrap_or_default(),
        };
        hostname_ok(&hostname)
            .map_err(|e| ("deployment_plan".to_string(), masked(&e, &ctx.secrets)))?;
        ctx.values.insert("host.hostname".into(), hostname.clone());
        let user_data = render(&self.user_data, &ctx)
            .map_err(|e| ("deployment_plan".to_string(), format!("template {e}")))?;
        Ok(Rendered {
            user_data,
            hostname,
            secrets: ctx.secrets,
        })
    }
}

/// A plan rendered for one host.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub user_data: String,
    pub hostname: String,
    pub secrets: Vec<String>,
}

/// A host's `deployment_plan`: `NAME` or `NAME@DIGEST` (the plan's `ref`).
pub fn parse_ref(text: &str) -> (String, Option<String>) {
    match text.split_once('@') {
        Some((n, d)) => (n.to_string(), Some(d.to_string())),
        None => (text.to_string(), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(v: Value) -> Result<DeploymentPlan, Vec<AttrError>> {
        DeploymentPlan::from_attrs(v.as_object().unwrap())
    }

    #[test]
    fn an_unknown_variable_is_an_error_at_its_line_and_column_with_a_suggestion() {
        let errs = plan(json!({
            "name": "web",
            "user_data": "#cloud-config\nhostname: {{ host.hostname }}\nruncmd:\n  - echo {{ host.nmae }} {{ var.rol }}\n",
            "variables": {"role": "web"}
        }))
        .unwrap_err();
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert_eq!(errs[0].0, "user_data");
        assert!(
            errs[0]
                .1
                .starts_with("template line 4, column 10: unknown variable \"host.nmae\""),
            "{}",
            errs[0].1
        );
        assert!(
            errs[0].1.contains("did you mean \"host.name\""),
            "{}",
            errs[0].1
        );
        assert!(
            errs[1].1.starts_with("template line 4, column 26"),
            "{}",
            errs[1].1
        );
        assert!(errs[1].1.contains("var.role"), "{}", errs[1].1);
        // Columns count characters; a variable spanning lines moves the next one down.
        let e = check("é {{ host.name\n }} {{ nope }}", &[]);
        assert_eq!((e[0].line, e[0].column), (2, 5), "{e:?}");
        let e = plan(json!({"name": "w", "user_data": "a\n  {{ host.name"})).unwrap_err();

        assert_eq!(
            e[0].1,
            "template line 2, column 3: this {{ is never closed by }}"
        );
    }

    #[test]
    fn a_plan_renders_per_host_with_overrides_and_masks_its_secrets_in_the_diff() {
        let p = plan(json!({
            "name": "web",
            "user_data": "#cloud-config\nhostname: {{ host.hostname }}\nwrite_files:\n  - content: {{ var.token }}\n    path: /etc/{{ var.role }}\n\\{{ literal }}\n",
            "hostname": "{{ host.name }}.{{ var.role }}.example.com",
            "variables": {"role": "web"},
            "secret_variables_wo": {"token": "s3cret-t0ken"}
        }))
        .unwrap();
        let host: BTreeMap<String, String> =
            [("host.name".to_string(), "web-1".to_string())].into();
        let r = p.render_for(&host, &BTreeMap::new()).unwrap();
        assert_eq!(r.hostname, "web-1.web.example.com");
        assert!(r.user_data.contains("hostname: web-1.web.example.com"));
        assert!(r.user_data.contains("content: s3cret-t0ken"));
        assert!(r.user_data.ends_with("{{ literal }}\n"));
        let over: BTreeMap<String, String> = [("role".to_string(), "db".to_string())].into();
        let r2 = p.render_for(&host, &over).unwrap();
        assert!(r2.user_data.contains("path: /etc/db"));
        let d = rendered_diff(&r.user_data, &r2.user_data, &r.secrets);
        assert!(
            d.contains("-hostname: web-1.web.example.com")
                && d.contains("+hostname: web-1.db.example.com"),
            "{d}"
        );
        assert!(!d.contains("s3cret"), "{d}");
        let bad: BTreeMap<String, String> = [("rol".to_string(), "x".to_string())].into();
        let e = p.render_for(&host, &bad).unwrap_err();
        assert_eq!(e.0, "plan_variables");
        assert!(e.1.contains("did you mean \"role\""), "{}", e.1);
        let secret: BTreeMap<String, String> = [("token".to_string(), "x".to_string())].into();
        assert!(p
            .render_for(&host, &secret)
            .unwrap_err()
            .1
            .contains("is a secret variable"));
        let odd: BTreeMap<String, String> = [("role".to_string(), "no spaces".to_string())].into();
        assert!(p
            .render_for(&host, &odd)
            .unwrap_err()
            .1
            .contains("not a hostname"));
    }

    #[test]
    fn the_digest_follows_what_renders_and_the_secrets_version_never_their_values() {
        let a = plan(json!({"name": "p", "user_data": "x", "secret_variables_wo": {"t": "one"}}))
            .unwrap();
        let b = plan(json!({"name": "p", "user_data": "x", "secret_variables_wo": {"t": "two"}}))
            .unwrap();
        let c = plan(json!({"name": "p", "user_data": "y", "secret_variables_wo": {"t": "one"}}))
            .unwrap();
        let d = plan(
            json!({"name": "p", "user_data": "x", "secret_variables_wo": {"t": "two"},
                            "secret_variables_wo_version": 2}),
        )
        .unwrap();
        assert_eq!(
            a.digest(),
            b.digest(),
            "a secret's value is not in the digest"
        );
        assert_ne!(a.digest(), c.digest());
        assert_ne!(b.digest(), d.digest(), "its version is");
        assert_eq!(
            masked("ab abc", &["ab".into(), "abc".into()]),
            "(sensitive) (sensitive)"
        );
        assert!(a.reference().starts_with("p@sha256:"));
        assert!(!a.reference().contains("one"));
        assert_eq!(
            parse_ref("p@sha256:ab"),
            ("p".into(), Some("sha256:ab".into()))
        );
    }
}
