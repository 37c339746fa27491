//! The configuration schema shared by `bmplan` and the Terraform provider: one description of every
//! block and attribute, so that one configuration serves both tools. The provider turns these specs
//! into tfplugin6 schemas; `bmplan` will load HCL against them.

/// The value type of an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Bool,
    Number,
}

/// Whether the practitioner must, may or cannot set the attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    Required,
    Optional,
    Computed,
    OptionalComputed,
}

/// One attribute of a block.
#[derive(Debug, Clone, Copy)]
pub struct AttrSpec {
    pub name: &'static str,
    pub kind: Kind,
    pub presence: Presence,
    /// Never shown in plans, logs or errors.
    pub sensitive: bool,
    /// The environment variable used when the attribute is not set in configuration.
    pub env: Option<&'static str>,
    pub description: &'static str,
}

const fn optional(
    name: &'static str,
    kind: Kind,
    env: &'static str,
    description: &'static str,
) -> AttrSpec {
    AttrSpec {
        name,
        kind,
        presence: Presence::Optional,
        sensitive: false,
        env: Some(env),
        description,
    }
}

/// The `provider "baremetal"` block.
pub const PROVIDER: &[AttrSpec] = &[
    optional(
        "inventory",
        Kind::String,
        "BAREMETAL_INVENTORY",
        "Inventory database URL: `sqlite:///path/inventory.db` (the default, in the user's data directory) or `postgres://…` for a fleet shared by several pipelines.",
    ),
    optional("project", Kind::String, "BAREMETAL_PROJECT", "Project the provider acts for. Hosts and quotas belong to projects."),
    optional("role", Kind::String, "BAREMETAL_ROLE", "Role within the project: `admin` (nodes, flavors, networks, switches, profiles) or `member` (the project's hosts only). Default `member`."),
    AttrSpec {
        name: "credentials_key",
        kind: Kind::String,
        presence: Presence::Optional,
        sensitive: true,
        env: Some("BAREMETAL_CREDENTIALS_KEY"),
        description: "Key that encrypts BMC and switch credentials at rest in the inventory (base64, 32 bytes). Prefer the environment variable or `credentials_key_file`.",
    },
    optional("credentials_key_file", Kind::String, "BAREMETAL_CREDENTIALS_KEY_FILE", "File holding the credentials key, as an alternative to `credentials_key`."),
    optional("ca_cert", Kind::String, "BAREMETAL_CA_CERT", "PEM bundle of the CAs that issued BMC certificates. TLS verification is always on unless `insecure` is set."),
    optional("insecure", Kind::Bool, "BAREMETAL_INSECURE", "Skip TLS verification of BMCs. An explicit opt-in for labs; never the default."),
    optional("max_parallel", Kind::Number, "BAREMETAL_MAX_PARALLEL", "How many nodes are changed at once in a rolling wave. Default 10."),
    optional("default_timeout", Kind::String, "BAREMETAL_DEFAULT_TIMEOUT", "Default timeout of operations that wait (power, tasks, deployment), as a duration such as `30s`, `20m` or `1h`. Default `30m`."),
];

/// Provider settings as written in configuration (environment fallbacks not applied yet).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderSettings {
    pub role: Option<String>,
    pub credentials_key: Option<String>,
    pub credentials_key_file: Option<String>,
    pub ca_cert: Option<String>,
    pub insecure: Option<bool>,
    pub max_parallel: Option<i64>,
    pub default_timeout: Option<String>,
}

/// A problem with one attribute: its name and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrProblem {
    pub attribute: &'static str,
    pub summary: String,
    pub detail: String,
}

/// Checks provider settings that are known at validation time.
pub fn validate_provider(s: &ProviderSettings) -> Vec<AttrProblem> {
    let mut out = Vec::new();
    if let Some(role) = &s.role {
        if role != "admin" && role != "member" {
            out.push(AttrProblem {
                attribute: "role",
                summary: "Unknown role".into(),
                detail: format!("role is {role:?}; it must be \"admin\" or \"member\"."),
            });
        }
    }
    if let Some(n) = s.max_parallel {
        if n < 1 {
            out.push(AttrProblem {
                attribute: "max_parallel",
                summary: "max_parallel must be at least 1".into(),
                detail: format!(
                    "max_parallel is {n}; set it to the number of nodes a wave may change at once."
                ),
            });
        }
    }
    if s.insecure == Some(true) && s.ca_cert.is_some() {
        out.push(AttrProblem {
            attribute: "insecure",
            summary: "insecure and ca_cert contradict each other".into(),
            detail: "ca_cert asks for verification against a CA bundle, insecure turns verification off. Keep one.".into(),
        });
    }
    if s.credentials_key.is_some() && s.credentials_key_file.is_some() {
        out.push(AttrProblem {
            attribute: "credentials_key_file",
            summary: "Two credentials keys".into(),
            detail: "Set either credentials_key or credentials_key_file, not both.".into(),
        });
    }
    if let Some(t) = &s.default_timeout {
        if let Err(e) = parse_duration(t) {
            out.push(AttrProblem {
                attribute: "default_timeout",
                summary: "Invalid duration".into(),
                detail: e,
            });
        }
    }
    out
}

/// Parses a duration such as `90s`, `20m`, `1h30m`.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let mut total = 0u64;
    let mut num = String::new();
    let mut any = false;
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let unit = match c {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => {
                return Err(format!(
                    "{s:?} is not a duration: unexpected {c:?} (use h, m and s, as in 1h30m)"
                ))
            }
        };
        let n: u64 = num
            .parse()
            .map_err(|_| format!("{s:?} is not a duration: a number must precede {c:?}"))?;
        total += n * unit;
        num.clear();
        any = true;
    }
    if !num.is_empty() || !any {
        return Err(format!(
            "{s:?} is not a duration: end it with a unit (h, m or s), as in 30m"
        ));
    }
    Ok(std::time::Duration::from_secs(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units_and_reject_bare_numbers() {
        assert_eq!(parse_duration("1h30m").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("45s").unwrap().as_secs(), 45);
        assert!(parse_duration("30").is_err());
        assert!(parse_duration("3d").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn provider_validation_names_the_attribute() {
        let s = ProviderSettings {
            role: Some("root".into()),
            max_parallel: Some(0),
            insecure: Some(true),
            ca_cert: Some("ca.pem".into()),
            ..Default::default()
        };
        let attrs: Vec<&str> = validate_provider(&s).iter().map(|p| p.attribute).collect();
        assert_eq!(attrs, ["role", "max_parallel", "insecure"]);
        assert!(validate_provider(&ProviderSettings::default()).is_empty());
    }

    #[test]
    fn every_provider_attribute_has_an_environment_fallback_and_a_description() {
        for a in PROVIDER {
            assert!(
                a.env.is_some_and(|e| e.starts_with("BAREMETAL_")),
                "{}",
                a.name
            );
            assert!(a.description.len() > 20, "{}", a.name);
        }
    }
}
