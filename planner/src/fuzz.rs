//! What each fuzzer feeds, in one place: the nightly cargo-fuzz targets (`fuzz/`) and the bounded
//! fuzzing of the test command (`planner/tests/fuzz_bounded.rs`) both call these. Each must return
//! for any input, never panic.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Text as a `main.tf`, through the loader and the model. Text that names a device or a kernel
/// file is skipped: `file()` of `/dev/stdin` reads what is not configuration.
pub fn hcl_loader(text: &str) {
    if text.contains("/dev") || text.contains("/proc") || text.contains("/sys") {
        return;
    }
    let opts = crate::load::LoadOptions {
        env: Some(Vec::new()),
        ..Default::default()
    };
    let main = PathBuf::from("/nonexistent-bmplan-fuzz/main.tf");
    match crate::load::load_sources(
        Path::new("/nonexistent-bmplan-fuzz"),
        vec![(main, text.to_string())],
        &opts,
    ) {
        Ok(l) => {
            let _ = crate::model::Desired::from_loaded(&l);
        }
        Err(errors) => {
            let _ = errors.to_string();
        }
    }
}

/// Bytes as a Redfish document, into every inventory parser, the BIOS registry and its validation,
/// and the extended error information.
pub fn redfish_documents(data: &[u8]) {
    use crate::bmc::redfish::client::{expand_levels, extended_info};
    use crate::bmc::redfish::inventory as inv;
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
    let reg = crate::bmc::BiosRegistry::from_redfish(&doc);
    if let Some(attrs) = doc.get("Attributes").and_then(Value::as_object) {
        let _ = reg.validate(attrs);
    }
    if let Some(s) = doc.as_str() {
        let _ = inv::normalize_mac(s);
        let _ = inv::last_segment(s);
    }
}

/// Text as switch output: the IOS, Junos NETCONF and Arista eAPI parsers.
pub fn switch_output(text: &str) {
    use crate::switch::{eapi, ios, netconf};
    let _ = ios::parse_vlans(text);
    let _ = ios::parse_interfaces(text);
    let _ = ios::canonical(text);
    let _ = netconf::parse_config(text);
    let _ = netconf::rpc_errors(text);
    let _ = eapi::canonical(text);
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        let null = Value::Null;
        let _ = eapi::parse_state(
            &v,
            v.get("switchports").unwrap_or(&null),
            v.get("interfaces").unwrap_or(&null),
        );
    }
}
