//! The HCL loader on arbitrary text: it must return a configuration or errors with a location, never
//! panic. See `planner::fuzz::hcl_loader`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        planner::fuzz::hcl_loader(text);
    }
});
