//! Snapshots (insta) of everything an operator or a pipeline reads about one fixture fleet, built in
//! code (no devices): the plan as text (plain and coloured) and as JSON, and the drift report as
//! text, markdown, JSON and JUnit. One node's BMC put terminal escapes in its unreachable reason,
//! so each snapshot also shows them escaped. Review a changed snapshot like code:
//! `cargo insta review`, or `INSTA_UPDATE=always cargo test -p planner --test report_snapshots`.

use std::collections::BTreeMap;
use std::path::Path;

use planner::bmc::{
    AttrType, BiosAttribute, BiosRegistry, BiosState, BootSettings, PowerState, SecureBoot,
};
use planner::observe::{NodeLive, Observed, Seen};
use planner::report::Style;
use planner::switch::{Port, PortMode, SwitchState, VlanSet};
use serde_json::json;

fn registry() -> BiosRegistry {
    let attributes = [(
        "ProcTurboMode",
        AttrType::Enumeration(vec!["Enabled".into(), "Disabled".into()]),
    )]
    .into_iter()
    .map(|(name, kind)| {
        (
            name.to_string(),
            BiosAttribute {
                name: name.into(),
                kind,
                read_only: false,
            },
        )
    })
    .collect();
    BiosRegistry {
        name: "FixtureRegistry.v1".into(),
        attributes,
    }
}

fn live(turbo: &str, mode: &str) -> NodeLive {
    NodeLive {
        system_id: "1".into(),
        power: PowerState::On,
        health: Some("OK".into()),
        media: None,
        staged: None,
        bios: Some(BiosState {
            current: json!({ "ProcTurboMode": turbo })
                .as_object()
                .unwrap()
                .clone(),
            pending: Default::default(),
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

/// `tests/fixtures/fleet` against observed state: r1u01 needs BIOS and boot changes, r1u02 is in
/// sync, r2u01 is unreachable (its BMC's reason carries escape sequences), a port is on the wrong
/// VLAN, and an out-of-band change is recorded against r1u01.
fn fixture() -> (planner::run::Prepared, planner::drift::DriftReport) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fleet");
    let (loaded, desired) = planner::run::load(&dir, &Default::default()).unwrap();
    let mut observed = Observed::default();
    observed
        .nodes
        .insert("r1u01".into(), Seen::Live(live("Enabled", "Legacy")));
    observed
        .nodes
        .insert("r1u02".into(), Seen::Live(live("Disabled", "UEFI")));
    observed.nodes.insert(
        "r2u01".into(),
        Seen::Unreachable(
            "https://bmc-r2u01.example: HTTP 500: \u{1b}[2J\u{1b}]0;owned\u{7}".into(),
        ),
    );
    let mut sw = SwitchState::default();
    sw.vlans.insert(1, "default".into());
    sw.vlans.insert(100, "prod".into());
    for (p, v) in [
        ("GigabitEthernet0/1", 100),
        ("GigabitEthernet0/2", 1),
        ("GigabitEthernet0/9", 100),
    ] {
        sw.ports.insert(p.into(), port(p, v));
    }
    observed.switches.insert("tor1".into(), Seen::Live(sw));
    let mut applied: planner::diff::Applied = BTreeMap::new();
    applied.insert(
        "r1u01".into(),
        [("bios.ProcTurboMode".to_string(), json!("Disabled"))]
            .into_iter()
            .collect(),
    );
    let diff = planner::diff::diff(&desired, &observed, &applied);
    let plan = planner::plan::plan(&desired, &diff);
    let drift = planner::drift::report(&desired, &diff);
    (
        planner::run::Prepared {
            loaded,
            desired,
            observed,
            diff,
            plan,
            observe_seconds: 0.0,
        },
        drift,
    )
}

#[test]
fn plan_text_plain() {
    let (p, _) = fixture();
    let text = planner::report::plan_text(&p, Style { color: false });
    assert!(!text.contains('\u{1b}'), "a raw escape reached the plan");
    insta::assert_snapshot!(text);
}

#[test]
fn plan_text_coloured_sends_only_its_own_escapes() {
    let (p, _) = fixture();
    let text = planner::report::plan_text(&p, Style { color: true });
    assert!(!text.contains("\u{1b}[2J") && !text.contains("\u{1b}]0;"));
    // The snapshot shows the colour sequences as text.
    insta::assert_snapshot!(text.replace('\u{1b}', "<ESC>"));
}

#[test]
fn plan_json() {
    let (p, _) = fixture();
    let doc = json!({ "plan": p.plan, "diff": p.diff });
    insta::assert_snapshot!(serde_json::to_string_pretty(&doc).unwrap());
}

#[test]
fn drift_text() {
    let (_, d) = fixture();
    let text = planner::report::drift_text(&d, Style { color: false });
    assert!(!text.contains('\u{1b}'));
    insta::assert_snapshot!(text);
}

#[test]
fn drift_markdown() {
    let (_, d) = fixture();
    let text = planner::report::drift_markdown(&d);
    assert!(!text.contains('\u{1b}'));
    insta::assert_snapshot!(text);
}

#[test]
fn drift_json() {
    let (_, d) = fixture();
    insta::assert_snapshot!(serde_json::to_string_pretty(&d).unwrap());
}

#[test]
fn drift_junit() {
    let (_, d) = fixture();
    let text = planner::report::drift_junit(&d);
    assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'));
    insta::assert_snapshot!(text);
}
