//! The Redfish parsers on arbitrary JSON documents (what a BMC, or something in its place, may
//! answer): systems, drives, volumes, controllers, NICs, firmware, BIOS registries, error bodies.
//! None may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use planner::bmc::redfish::client::{expand_levels, extended_info};
use planner::bmc::redfish::inventory as inv;
use planner::bmc::BiosRegistry;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let _ = inv::cpu_summary(&doc);
    let _ = inv::processor_arch(&doc);
    let _ = inv::nic(&doc);
    let _ = inv::port_lldp(&doc);
    let _ = inv::drive(&doc);
    let _ = inv::volume(&doc, "RAID.1");
    let _ = inv::controller(&doc);
    let _ = inv::firmware(&doc);
    let _ = inv::members(&doc);
    let _ = inv::member_links(&doc);
    let _ = inv::nav(&doc, "Storage");
    let _ = inv::link(&doc, "/Bios");
    let _ = expand_levels(&doc);
    let _ = extended_info(&doc);
    let reg = BiosRegistry::from_redfish(&doc);
    if let Some(attrs) = doc.get("Attributes").and_then(Value::as_object) {
        let _ = reg.validate(attrs);
    }
    if let Some(s) = doc.as_str() {
        let _ = inv::normalize_mac(s);
        let _ = inv::last_segment(s);
    }
});
