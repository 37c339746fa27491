//! Projects, roles and who may do what, after the permission table of the product requirements:
//!
//! | object                                             | admin | project member           |
//! |----------------------------------------------------|-------|--------------------------|
//! | nodes, flavors, networks, switches, profiles        | all   | none                     |
//! | projects and quotas                                | all   | none                     |
//! | hosts                                              | all   | their own projects' only |
//! | audit log (view, export)                           | all   | their own projects' only |
//!
//! A department admin is a member of several projects. Members may *use* a flavor by name when they
//! create a host, but they do not list flavors or nodes. The decision is a pure function; the inventory
//! records every refusal in the audit log.

use serde::{Deserialize, Serialize};

pub const USER_ENV: &str = "BAREMETAL_USER";
pub const ROLE_ENV: &str = "BAREMETAL_ROLE";
pub const PROJECT_ENV: &str = "BAREMETAL_PROJECT";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "admin" => Some(Role::Admin),
            "member" | "project_member" | "project-member" => Some(Role::Member),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }
}

/// Who is acting: a user name for the audit log, a role, and the projects they belong to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub user: String,
    pub role: Role,
    pub projects: Vec<String>,
}

/// The kinds of object permissions talk about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Object {
    Node,
    Flavor,
    Image,
    DeploymentPlan,
    Network,
    Switch,
    Profile,
    Project,
    Host,
    Audit,
    Credentials,
}

impl Object {
    pub fn as_str(self) -> &'static str {
        match self {
            Object::Node => "node",
            Object::Flavor => "flavor",
            Object::Image => "image",
            Object::DeploymentPlan => "deployment_plan",
            Object::Network => "network",
            Object::Switch => "switch",
            Object::Profile => "profile",
            Object::Project => "project",
            Object::Host => "host",
            Object::Audit => "audit",
            Object::Credentials => "credentials",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

impl Actor {
    pub fn admin(user: impl Into<String>) -> Actor {
        Actor {
            user: user.into(),
            role: Role::Admin,
            projects: Vec::new(),
        }
    }

    pub fn member(user: impl Into<String>, project: impl Into<String>) -> Actor {
        Actor {
            user: user.into(),
            role: Role::Member,
            projects: vec![project.into()],
        }
    }

    /// The actor the environment configures: `BAREMETAL_USER` (else `USER`), `BAREMETAL_ROLE` (admin
    /// unless set) and `BAREMETAL_PROJECT` (comma-separated; required for members). Explicit values win.
    pub fn configured(
        user: Option<String>,
        role: Option<String>,
        project: Option<String>,
    ) -> Result<Actor, crate::rules::Invalid> {
        let env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let user = user
            .or_else(|| env(USER_ENV))
            .or_else(|| env("USER"))
            .unwrap_or_else(|| "unknown".into());
        let role_text = role.or_else(|| env(ROLE_ENV));
        let role = match role_text.as_deref() {
            None => Role::Admin,
            Some(r) => {
                Role::parse(r).ok_or_else(|| format!("role {r:?} is not one of admin, member"))?
            }
        };
        let projects: Vec<String> = project
            .or_else(|| env(PROJECT_ENV))
            .map(|p| {
                p.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        if role == Role::Member && projects.is_empty() {
            return Err(crate::rules::Invalid(format!(
                "a member acts in a project: set --project or {PROJECT_ENV}"
            )));
        }
        Ok(Actor {
            user,
            role,
            projects,
        })
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    pub fn in_project(&self, project: &str) -> bool {
        self.is_admin() || self.projects.iter().any(|p| p == project)
    }

    /// The project a new host goes to when none is named: the actor's only project.
    pub fn default_project(&self) -> Option<&str> {
        match self.projects.as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// Whether this actor may `access` an object of `kind` belonging to `project` (hosts and audit
    /// entries have one; fleet objects do not). `Err` holds the reason, for the refusal message.
    pub fn check(&self, kind: Object, access: Access, project: Option<&str>) -> Result<(), Denied> {
        if self.is_admin() {
            return Ok(());
        }
        let verb = match access {
            Access::Read => "see",
            Access::Write => "change",
        };
        match kind {
            Object::Host | Object::Audit => match project {
                Some(p) if self.in_project(p) => Ok(()),
                Some(p) => Err(Denied(format!(
                    "{} ({}) cannot {verb} {}s of project {p}: they belong to {}",
                    self.user,
                    self.role.as_str(),
                    kind.as_str(),
                    self.projects.join(", ")
                ))),
                None => Err(Denied(format!(
                    "{} ({}) cannot {verb} {}s outside their projects",
                    self.user,
                    self.role.as_str(),
                    kind.as_str()
                ))),
            },
            _ => Err(Denied(format!(
                "{} ({}) cannot {verb} {}s: only an admin can",
                self.user,
                self.role.as_str(),
                kind.as_str()
            ))),
        }
    }
}

/// Why an actor may not do something: who, in which role, cannot do what to which kind of object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admin_may_do_everything() {
        let a = Actor::admin("ops");
        for kind in [Object::Node, Object::Switch, Object::Host, Object::Audit] {
            assert!(a.check(kind, Access::Write, Some("p")).is_ok());
        }
    }

    #[test]
    fn a_member_manages_only_their_projects_hosts() {
        let m = Actor::member("alice", "blue");
        assert!(m.check(Object::Host, Access::Write, Some("blue")).is_ok());
        let e = m
            .check(Object::Host, Access::Read, Some("red"))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "alice (member) cannot see hosts of project red: they belong to blue"
        );
        assert!(m.check(Object::Node, Access::Read, None).is_err());
        assert!(m.check(Object::Flavor, Access::Write, None).is_err());
        assert!(m.check(Object::Audit, Access::Read, Some("red")).is_err());
    }

    #[test]
    fn the_configured_actor_needs_a_project_to_be_a_member() {
        let e = Actor::configured(
            Some("bob".into()),
            Some("member".into()),
            Some(String::new()),
        )
        .unwrap_err();
        assert!(e.0.contains("--project"), "{e}");
        let a = Actor::configured(
            Some("bob".into()),
            Some("member".into()),
            Some("red, blue".into()),
        )
        .unwrap();
        assert_eq!(a.projects, vec!["red", "blue"]);
        assert!(Actor::configured(None, Some("root".into()), None).is_err());
    }
}
