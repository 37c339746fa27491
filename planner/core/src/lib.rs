//! The pure core of the bare-metal planner: plain data and deterministic functions, no network, no
//! database, no async runtime. Everything `bmplan` and the Terraform provider decide is decided
//! here; the engine (`planner`) only reads devices, keeps records and carries plans out.
//!
//! From the configuration to a plan, in the order data flows:
//! - `rules` and `schema`: the static rules and the attribute schema both front ends check;
//! - `load`: HCL files to resource instances, each with its source location;
//! - `model`: those instances as the desired state (nodes, profiles, switches, networks, hosts);
//! - `hardware`, `ports` and `observed`: what BMCs and switches say, as data;
//! - `subnet`: subnets on networks and the choice of a host's next free address (IPAM);
//! - `diff`: desired × observed → changes, and what a device cannot take;
//! - `plan`: changes → ordered steps in waves, one reset per node;
//! - `drift`: the same comparison as a maintenance-window report;
//! - `deploy`: what a host is deployed from and which change it needs;
//! - `lifecycle`, `project`, `flavor`: the node state machine, roles, hardware classes;
//! - `records` and `history`: what the inventory keeps, as listings show it;
//! - `report`: text, markdown, JSON, JUnit and tables of all of the above;
//! - `docs`: the attribute reference generated from the schema;
//! - `text`: untrusted text made safe to show (escapes, lengths, credentials in URLs).

pub mod deploy;
pub mod diff;
pub mod docs;
pub mod drift;
pub mod flavor;
pub mod golden;
pub mod hardware;
pub mod history;
pub mod lifecycle;
pub mod load;
pub mod model;
pub mod observed;
pub mod plan;
pub mod ports;
pub mod project;
pub mod records;
pub mod report;
pub mod rules;
pub mod schema;
pub mod subnet;
pub mod text;
