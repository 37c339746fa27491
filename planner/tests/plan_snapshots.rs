//! Snapshot of a rendered plan for a fixture fleet (observed state built here, no devices), and the
//! plan's happens-before order. `UPDATE_SNAPSHOTS=1 cargo test --test plan_snapshots` rewrites the
//! snapshot after a deliberate change; review the diff like code.

use std::collections::BTreeMap;
use std::path::Path;

use planner::bmc::{
    AttrType, BiosAttribute, BiosRegistry, BiosState, BootSettings, PowerState, SecureBoot,
};
use planner::observe::{NodeLive, Observed, Seen};
use planner::switch::{Port, PortMode, SwitchState, VlanSet};
use serde_json::json;

fn registry() -> BiosRegistry {
    let mut attributes = BTreeMap::new();
    for (name, kind) in [
        (
            "ProcTurboMode",
            AttrType::Enumeration(vec!["Enabled".into(), "Disabled".into()]),
        ),
        ("AssetTag", AttrType::String { max_len: Some(120) }),
    ] {
        attributes.insert(
            name.to_string(),
            BiosAttribute {
                name: name.into(),
                kind,
                read_only: false,
            },
        );
    }
    BiosRegistry {
        name: "FixtureRegistry.v1".into(),
        attributes,
    }
}

fn live(turbo: &str, pending_turbo: Option<&str>, mode: &str) -> NodeLive {
    let mut pending = serde_json::Map::new();
    if let Some(p) = pending_turbo {
        pending.insert("ProcTurboMode".into(), json!(p));
    }
    NodeLive {
        system_id: "1".into(),
        power: PowerState::On,
        bios: Some(BiosState {
            current: json!({
                "ProcTurboMode": turbo,
                "AssetTag": "database tier, rack-local replica set, owner team storage, cost centre 4711"
            })
            .as_object()
            .unwrap()
            .clone(),
            pending,
            registry: None,
            apply_times: vec![],
            uri: String::new(),
            settings_uri: String::new(),
        }),
        registry: Some(std::sync::Arc::new(registry())),
        boot: Some(BootSettings {
            target: "None".into(),
            enabled: "Disabled".into(),
            mode: Some(mode.into()),
            order: vec![],
            allowed_targets: vec![],
        }),
        secure_boot: Some(SecureBoot {
            enabled: false,
            current: Some(false),
        }),
        volumes: None,
        drives: vec![],
        controllers: vec![],
        firmware: None,
    }
}

fn port(name: &str, vlan: u16) -> Port {
    Port {
        name: name.into(),
        mode: PortMode::Access,
        access_vlan: vlan,
        trunk_allowed: VlanSet::All,
        native_vlan: 1,
        description: None,
        admin_up: true,
        channel_group: None,
        mtu: None,
    }
}

#[test]
fn the_rendered_plan_of_the_fixture_fleet_matches_its_snapshot() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fleet");
    let (loaded, desired) = planner::run::load(&dir, &Default::default()).unwrap();
    let mut observed = Observed::default();
    observed
        .nodes
        .insert("r1u01".into(), Seen::Live(live("Enabled", None, "Legacy")));
    // r1u02: the turbo change is already staged (pending), the boot mode is right.
    observed.nodes.insert(
        "r1u02".into(),
        Seen::Live(live("Enabled", Some("Disabled"), "UEFI")),
    );
    observed.nodes.insert(
        "r2u01".into(),
        Seen::Unreachable(
            "https://bmc-r2u01.example: read the service root failed: could not reach the BMC"
                .into(),
        ),
    );
    let mut sw = SwitchState::default();
    sw.vlans.insert(1, "default".into());
    sw.vlans.insert(100, "prod".into());
    for (p, v) in [
        ("GigabitEthernet0/1", 100),
        ("GigabitEthernet0/2", 1),
        ("GigabitEthernet0/9", 1),
    ] {
        sw.ports.insert(p.into(), port(p, v));
    }
    observed.switches.insert("tor1".into(), Seen::Live(sw));
    let diff = planner::diff::diff(&desired, &observed, &Default::default());
    let plan = planner::plan::plan(&desired, &diff);
    let prepared = planner::run::Prepared {
        loaded,
        desired,
        observed,
        diff,
        plan,
        observe_seconds: 0.0,
    };
    let text = planner::report::plan_text(&prepared, planner::report::Style { color: false });
    assert!(!text.contains("not-shown"), "a password reached the plan");
    let snap = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/plan_fleet.txt");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&snap, &text).unwrap();
    }
    let want =
        std::fs::read_to_string(&snap).expect("snapshot missing: run with UPDATE_SNAPSHOTS=1");
    if text != want {
        let d = similar::TextDiff::from_lines(want.as_str(), text.as_str());
        panic!(
            "the plan differs from {}:\n{}",
            snap.display(),
            d.unified_diff()
        );
    }
    // Happens-before: every step after what it depends on; one reset per planned node; waves of one
    // node (max_parallel = 1), the switch batch after the node of its wave.
    let p = &prepared.plan;
    let pos: BTreeMap<&str, usize> = p
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.as_str(), i))
        .collect();
    for s in &p.steps {
        for a in &s.after {
            assert!(pos[a.as_str()] < pos[s.id.as_str()], "{} before {a}", s.id);
        }
    }
    assert_eq!(p.resets(), 2);
    assert!(p.waves.iter().all(|w| w.nodes.len() == 1));
    assert!(pos["r1u02/wait"] < pos["tor1/wave-2"]);
}
