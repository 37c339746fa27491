//! The Redfish parsers against real-vendor payloads (Dell, HPE, Lenovo, Supermicro) shipped in the
//! MIT-licensed `libredfish` crate: the spellings real BMCs use must parse into the same inventory.

use planner::bmc::redfish::inventory;
use planner::bmc::Sensors;
use serde_json::Value;

fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/redfish")
        .join(name);
    serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

#[test]
fn dell_and_lenovo_systems_parse_identity_cpu_memory_and_links() {
    let dell = fixture("system_dell.json");
    assert_eq!(
        inventory::text(&dell, "/Model").as_deref(),
        Some("PowerEdge R640")
    );
    assert_eq!(
        inventory::text(&dell, "/SerialNumber").as_deref(),
        Some("CNCMS0018C00PT")
    );
    let cpu = inventory::cpu_summary(&dell);
    assert_eq!((cpu.sockets, cpu.threads), (Some(2), Some(80)));
    assert!(cpu.model.unwrap().contains("Gold 6248"));
    assert!(inventory::nav(&dell, "EthernetInterfaces").is_some());
    assert!(inventory::nav(&dell, "Bios").is_some());
    let lenovo = fixture("system_lenovo.json");
    assert_eq!(
        inventory::text(&lenovo, "/UUID").as_deref(),
        Some("bc20d65a-1a53-11ec-8c43-7e8ae1d5a277")
    );
    assert_eq!(inventory::cpu_summary(&lenovo).threads, Some(72));
    assert_eq!(
        lenovo
            .pointer("/MemorySummary/TotalSystemMemoryGiB")
            .and_then(Value::as_f64),
        Some(512.0)
    );
}

#[test]
fn lenovo_nic_mac_is_normalised() {
    let nic = inventory::nic(&fixture("ethernet_lenovo.json")).expect("a NIC with a MAC");
    assert_eq!(nic.mac, "7c:8a:e1:d5:a2:76");
}

#[test]
fn hpe_smart_storage_drive_uses_capacity_gb_and_interface_type() {
    let d = inventory::drive(&fixture("disk-drive.json"));
    assert_eq!(d.capacity_bytes, Some(4_000_000_000_000));
    assert_eq!(d.protocol.as_deref(), Some("SAS"));
    assert_eq!(d.media.as_deref(), Some("HDD"));
    assert_eq!(d.serial.as_deref(), Some("Z4C04F5R0000R635P1UJ"));
}

#[test]
fn thermal_and_power_parse_for_dell_hpe_and_lenovo() {
    let mut hpe = Sensors::default();
    inventory::thermal(&fixture("thermal-hpe.json"), &mut hpe);
    assert_eq!(hpe.temperatures.len(), 46);
    assert_eq!(hpe.fans.len(), 10);
    assert_eq!(hpe.fans[0].name, "Fan 1");
    assert_eq!(
        (hpe.fans[0].value, hpe.fans[0].units.as_str()),
        (Some(62.0), "Percent")
    );
    inventory::power(&fixture("power-hpe.json"), &mut hpe);
    assert_eq!(hpe.power_watts, Some(590.0));
    let mut dell = Sensors::default();
    inventory::thermal(&fixture("thermal-dell.json"), &mut dell);
    assert!(!dell.temperatures.is_empty() && dell.temperatures.iter().all(|t| t.value.is_some()));
    let mut lenovo = Sensors::default();
    inventory::power(&fixture("power-lenovo_health_critical.json"), &mut lenovo);
    assert_eq!(lenovo.power_watts, Some(380.0));
    assert!(lenovo
        .power_supplies
        .iter()
        .any(|p| p.health.as_deref() == Some("Critical")));
}

#[test]
fn bios_attributes_and_registry_names_read_from_dell_and_lenovo() {
    for (file, registry, count) in [
        ("bios_dell.json", "BiosAttributeRegistry.v1_0_3", 453),
        ("bios_lenovo.json", "BiosAttributeRegistry.1.0.0", 373),
    ] {
        let b = fixture(file);
        assert_eq!(
            inventory::text(&b, "/AttributeRegistry").as_deref(),
            Some(registry)
        );
        assert_eq!(
            b.get("Attributes")
                .and_then(Value::as_object)
                .map(|a| a.len()),
            Some(count)
        );
    }
}

#[test]
fn supermicro_service_root_links_systems_and_sessions() {
    let root = fixture("supermicro_service_root.json");
    assert!(inventory::link(&root, "/Systems").is_some());
    assert!(inventory::link(&root, "/Links/Sessions").is_some());
}

#[test]
fn expand_support_is_read_from_the_service_root() {
    use planner::bmc::redfish::client::expand_levels;
    // Supermicro X12: NoLinks with Levels, MaxLevels 2.
    assert_eq!(expand_levels(&fixture("supermicro_service_root.json")), 2);
    // No ProtocolFeaturesSupported (sushy-emulator): no expansion.
    assert_eq!(expand_levels(&serde_json::json!({"Id": "RootService"})), 0);
    // `$expand=.` without levels is one level; `*` alone (ExpandAll) is not what we ask for.
    let only_dot =
        serde_json::json!({"ProtocolFeaturesSupported": {"ExpandQuery": {"NoLinks": true}}});
    assert_eq!(expand_levels(&only_dot), 1);
    let only_all = serde_json::json!({"ProtocolFeaturesSupported": {"ExpandQuery": {"ExpandAll": true, "Levels": true, "MaxLevels": 3}}});
    assert_eq!(expand_levels(&only_all), 0);
}
