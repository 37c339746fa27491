//! `bmplan`'s command line as data (features `cli` and `demo`): its grammar ([`args`]), the exit
//! codes pipelines branch on ([`exit`]), and the reference page rendered from the grammar
//! ([`reference`], `docs/reference/bmplan.md`), and the terminal joined to a serial console
//! ([`terminal`]), and what a host command sets up before it calls the engine ([`operation`]). The
//! binary parses with it, calls the engine and prints; nothing here touches a device but through a
//! console the engine opened.

pub mod args;
pub mod exit;
pub mod operation;
pub mod output;
pub mod reference;
pub mod terminal;

pub use args::Cli;
pub use exit::{exit_code, ChangesPresent, Partial};
