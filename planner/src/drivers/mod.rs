//! Where the engine gets its drivers. The observer and the executor never name a protocol: they
//! ask a [`Drivers`] for a [`Bmc`] or a [`Switch`] by endpoint, and work through the traits.
//!
//! [`Wired`] is the real one: it calls the two factories, [`crate::bmc::open`] (the endpoint's
//! scheme names the protocol) and [`crate::switch::open`] (the configured driver name). Nothing
//! else in the planner constructs a driver. [`fake`] holds in-memory BMCs and switches for the
//! engine's tests, with no HTTP and no SSH.

pub mod fake;

use std::sync::Arc;

use crate::bmc::{self, Bmc, BmcError, Endpoint, Purpose};
use crate::switch::{self, Switch, SwitchEndpoint, SwitchError};

/// Turns endpoints into drivers. The engine holds one as `Arc<dyn Drivers>` in its options.
pub trait Drivers: Send + Sync {
    /// A client for the BMC at `ep`, for `purpose`.
    fn bmc(&self, ep: Endpoint, purpose: Purpose) -> Result<Box<dyn Bmc>, BmcError>;

    /// A client for the switch at `ep`, speaking `driver` (one of [`switch::DRIVERS`]).
    fn switch(&self, driver: &str, ep: SwitchEndpoint) -> Result<Box<dyn Switch>, SwitchError>;
}

/// The real drivers: Redfish for BMCs, the configured protocol for switches.
#[derive(Debug, Clone, Copy, Default)]
pub struct Wired;

impl Drivers for Wired {
    fn bmc(&self, ep: Endpoint, purpose: Purpose) -> Result<Box<dyn Bmc>, BmcError> {
        bmc::open(ep, purpose)
    }

    fn switch(&self, driver: &str, ep: SwitchEndpoint) -> Result<Box<dyn Switch>, SwitchError> {
        switch::open(driver, ep)
    }
}

/// The real drivers, shared: the default of every engine option that holds drivers.
pub fn wired() -> Arc<dyn Drivers> {
    Arc::new(Wired)
}
