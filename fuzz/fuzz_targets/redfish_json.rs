//! Arbitrary JSON into every Redfish inventory parser: see `planner::fuzz::redfish_documents`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| planner::fuzz::redfish_documents(data));
