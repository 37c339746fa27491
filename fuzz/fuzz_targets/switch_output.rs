//! Arbitrary text into the switch output parsers: see `planner::fuzz::switch_output`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        planner::fuzz::switch_output(text);
    }
});
