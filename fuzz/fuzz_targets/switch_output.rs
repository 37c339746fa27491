//! The switch drivers' parsers on arbitrary device output: IOS `show vlan brief` and
//! `show running-config` text, Junos NETCONF XML, Arista eAPI JSON. None may panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use planner::switch::{eapi, ios, netconf};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = ios::parse_vlans(text);
    let _ = ios::parse_interfaces(text);
    let _ = ios::canonical(text);
    let _ = netconf::parse_config(text);
    let _ = netconf::rpc_errors(text);
    let _ = eapi::canonical(text);
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
        let null = serde_json::Value::Null;
        let _ = eapi::parse_state(&v, v.get("switchports").unwrap_or(&null), v.get("interfaces").unwrap_or(&null));
    }
});
