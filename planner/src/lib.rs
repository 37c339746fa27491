//! The bare-metal engine behind `bmplan` and the Terraform provider, over two crates of its own:
//! `planner-core` (the pure core: model, load, rules, diff, plan, drift, deploy rules, records,
//! report, re-exported here under the same names) and `planner-inventory` (the sqlx store and
//! credential sealing, re-exported as `inventory` and `credentials`).
//!
//! This crate holds what touches the world, each behind a seam:
//! - `bmc` (the `Bmc` trait, its factory `bmc::open` and the Redfish driver) and `switch` (the
//!   `Switch` trait, its factory `switch::open` and one driver per protocol);
//! - `drivers`: the `Drivers` seam the engine takes its clients from, with in-memory fakes;
//! - `observe`: concurrent reads of live state; `apply`: the journaled executor of a plan's waves;
//! - `host`: the host lifecycle (deploy, rebuild, clean, migrate) over virtual media;
//! - `engine`: the one session both front ends call (prepare a plan from a configuration or the
//!   inventory, execute it as a journaled run, then the hosts' work);
//! - `operation`: operations on a node on demand (power, firmware update, BMC restart), leased
//!   and audited (the provider's actions);
//! - `session`: BMC sessions given out for one Terraform run (the provider's ephemeral resource);
//! - `run`: an apply staged (resumed, or planned anew from a configuration or a saved plan),
//!   for the caller to show and confirm before it is carried out;
//! - `enroll`: bulk enrolment and discovery; `demo`: the embedded lab demo (feature `demo`);
//! - `cli`: `bmplan`'s command line as data: grammar, exit codes, reference page (features `cli`
//!   and `demo`).

pub use planner_core::{
    deploy, diff, docs, drift, flavor, golden, hardware, history, lifecycle, load, model, observed,
    plan, ports, project, records, report, rules, schema, subnet,
};

pub use planner_inventory::{self as inventory, credentials};

pub mod apply;
pub mod bmc;
#[cfg(all(feature = "cli", feature = "demo"))]
pub mod cli;
#[cfg(feature = "demo")]
pub mod demo;
pub mod drivers;
pub mod engine;
pub mod enroll;
pub mod fuzz;
pub mod host;
pub mod observe;
pub mod operation;
pub mod run;
pub mod session;
pub mod switch;
