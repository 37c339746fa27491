//! `bmplan`'s command line as data (features `cli` and `demo`): its grammar ([`args`]), the exit
//! codes pipelines branch on ([`exit`]), and the reference page rendered from the grammar
//! ([`reference`], `docs/reference/bmplan.md`). The binary parses with it, calls the engine and
//! prints; nothing here touches a device.

pub mod args;
pub mod exit;
pub mod output;
pub mod reference;

pub use args::Cli;
pub use exit::{exit_code, ChangesPresent, Partial};
