//! The bare-metal planning engine behind `bmplan` and the Terraform provider.
//!
//! Modules are named after domain nouns: `bmc` (reaching BMCs over Redfish), `switch` (top-of-rack
//! switches), `lifecycle` (the node state machine), `flavor` (matching and best fit), `project` (roles
//! and permissions), `credentials` (sealing at rest), `inventory` (the sqlx store), `enroll` (bulk
//! enrollment and discovery), `report` and `demo`. The planning core: `load` (HCL to resource
//! instances), `rules` (the static rules both tools apply), `model` (the desired state), `observe`
//! (live state), `diff`, `plan`, `drift`, `run` and `apply` (journaled waves), `converge` (the
//! provider's path) and `host` (deployment).

pub use planner_core::{
    deploy, diff, docs, drift, flavor, hardware, history, lifecycle, load, model, observed, plan,
    ports, project, records, report, rules, schema,
};

pub use planner_inventory::{self as inventory, credentials};

pub mod apply;
pub mod bmc;
pub mod converge;
#[cfg(feature = "demo")]
pub mod demo;
pub mod drivers;
pub mod enroll;
pub mod fuzz;
pub mod host;
pub mod observe;
pub mod run;
pub mod switch;
