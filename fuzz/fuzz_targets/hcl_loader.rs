//! The HCL loader on arbitrary text: it must return a configuration or errors with a location, never
//! panic. Input is one `main.tf`; variables come from nowhere (no environment is read).
#![no_main]

use std::path::{Path, PathBuf};

use libfuzzer_sys::fuzz_target;
use planner::load::{load_sources, LoadOptions};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // `file()` on a device would read forever: such inputs are not about the loader.
    if text.contains("/dev/") || text.contains("/proc/") {
        return;
    }
    let opts = LoadOptions {
        env: Some(Vec::new()),
        ..LoadOptions::default()
    };
    let dir = Path::new("/nonexistent-bmplan-fuzz");
    if let Ok(loaded) = load_sources(dir, vec![(PathBuf::from("/nonexistent-bmplan-fuzz/main.tf"), text.to_string())], &opts) {
        let _ = planner::model::Desired::from_loaded(&loaded);
    }
});
