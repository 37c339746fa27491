//! The bare-metal planning engine behind `bmplan` and the Terraform provider.
//!
//! Modules are named after domain nouns. Today: `bmc` (reaching BMCs over Redfish) and `demo` (the
//! README's first command). The planning core (`model`, `load`, `diff`, `plan`, `apply`), switches
//! and the inventory arrive with their issues.

pub mod bmc;
pub mod demo;
pub mod report;
pub mod schema;
pub mod switch;
