//! Snapshots of what an operator or a pipeline reads about fixture fleets (observed state built here,
//! no devices): the rendered plan and its happens-before order (`UPDATE_SNAPSHOTS=1` rewrites
//! `plan_fleet.txt`), and with insta the plan as text (plain and coloured) and JSON and the drift
//! report as text, markdown, JSON and JUnit, on a fleet whose unreachable BMC sends terminal escapes
//! (each format shows them escaped). Review a changed snapshot like code: `cargo insta review`, or
//! `INSTA_UPDATE=always cargo test -p planner --test plan_snapshots`.

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
        health: Some("OK".into()),
        media: None,
        staged: None,
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

/// Switch tor1 with `vlans` and access ports on the given VLANs.
fn tor1(vlans: &[(u16, &str)], ports: &[(&str, u16)]) -> SwitchState {
    let mut sw = SwitchState::default();
    for (id, name) in vlans {
        sw.vlans.insert(*id, name.to_string());
    }
    for (p, v) in ports {
        sw.ports.insert(p.to_string(), port(p, *v));
    }
    sw
}

#[test]
fn the_rendered_plan_of_the_fixture_fleet_matches_its_snapshot() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fleet");
    let (loaded, desired) = planner::engine::load_config(&dir, &Default::default()).unwrap();
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
    let sw = tor1(
        &[(1, "default"), (100, "prod")],
        &[
            ("GigabitEthernet0/1", 100),
            ("GigabitEthernet0/2", 1),
            ("GigabitEthernet0/9", 1),
        ],
    );
    observed.switches.insert("tor1".into(), Seen::Live(sw));
    let prepared =
        planner::engine::plan_observed(loaded, desired, observed, &Default::default()).unwrap();
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

/// Destroy edges: what the planner configured on a switch before and the configuration no longer
/// has (a removed node's port on VLAN 300, the VLAN itself) is undone in a last wave, after every
/// other step, ports before the VLAN; a VLAN that an unmanaged port still carries is kept and said so.
#[test]
fn what_removed_resources_left_on_a_switch_is_undone_last_ports_before_vlans() {
    use planner::plan::Action;
    use planner::switch::Change;
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fleet");
    let (loaded, desired) = planner::engine::load_config(&dir, &Default::default()).unwrap();
    let mut observed = Observed::default();
    observed
        .nodes
        .insert("r1u01".into(), Seen::Live(live("Enabled", None, "Legacy")));
    observed
        .nodes
        .insert("r1u02".into(), Seen::Live(live("Disabled", None, "UEFI")));
    observed
        .nodes
        .insert("r2u01".into(), Seen::Live(live("Disabled", None, "UEFI")));
    let sw = tor1(
        &[(1, "default"), (100, "prod"), (300, "old"), (400, "legacy")],
        &[
            ("GigabitEthernet0/1", 100),
            ("GigabitEthernet0/2", 100),
            ("GigabitEthernet0/9", 100),
            // A node removed from the configuration left its port on VLAN 300.
            ("GigabitEthernet0/5", 300),
            // Someone else's port on VLAN 400, which the planner created once.
            ("GigabitEthernet0/7", 400),
        ],
    );
    observed.switches.insert("tor1".into(), Seen::Live(sw));
    let mut applied: planner::diff::Applied = Default::default();
    applied.insert(
        "switch tor1".into(),
        [
            ("port.GigabitEthernet0/5", "VLAN 300"),
            ("vlan.300", "old"),
            ("vlan.400", "legacy"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect(),
    );
    let diff = planner::diff::diff(&desired, &observed, &applied);
    let sd = &diff.switches["tor1"];
    assert_eq!(
        sd.releases,
        vec![
            Change::Access {
                port: "GigabitEthernet0/5".into(),
                vlan: 1
            },
            Change::DeleteVlan { id: 300 },
        ]
    );
    assert_eq!(
        sd.kept_vlans.get(&400),
        Some(&vec!["GigabitEthernet0/7".to_string()])
    );
    // What is recorded once applied: the ports and VLANs the configuration has, not the removed ones.
    assert!(sd.managed.contains_key("port.GigabitEthernet0/9"));
    assert!(sd.managed.contains_key("vlan.200") && !sd.managed.contains_key("vlan.300"));

    // The provider converging a few nodes (not the whole configuration) releases nothing, and
    // keeps what was managed in the record.
    let mut partial = desired.clone();
    partial.complete = false;
    let pd = planner::diff::diff(&partial, &observed, &applied);
    assert!(pd.switches["tor1"].releases.is_empty());
    assert_eq!(
        pd.switches["tor1"].managed.get("vlan.300"),
        Some(&json!("old"))
    );

    let plan = planner::plan::plan(&desired, &diff);
    let last = plan.waves.last().unwrap();
    assert_eq!(last.domain, planner::plan::RELEASE_DOMAIN);
    assert!(last.nodes.is_empty());
    let release = plan.steps.iter().find(|s| s.id == "tor1/release").unwrap();
    assert_eq!(release.wave, last.index);
    assert!(matches!(&release.action, Action::SwitchBatch { changes } if changes == &sd.releases));
    // After every step of every earlier wave.
    let earlier: Vec<&str> = plan
        .steps
        .iter()
        .filter(|s| s.wave < last.index)
        .map(|s| s.id.as_str())
        .collect();
    assert!(!earlier.is_empty());
    // Everything the release step waits for, directly or through what those wait for.
    let mut before: std::collections::BTreeSet<&str> = Default::default();
    let mut todo: Vec<&str> = release.after.iter().map(String::as_str).collect();
    while let Some(id) = todo.pop() {
        if before.insert(id) {
            let s = plan.steps.iter().find(|s| s.id == id).unwrap();
            todo.extend(s.after.iter().map(String::as_str));
        }
    }
    for id in &earlier {
        assert!(before.contains(id), "the release does not wait for {id}");
    }
    assert_eq!(plan.applied["switch tor1"], sd.managed);

    let prepared = planner::engine::Prepared {
        loaded,
        desired,
        observed,
        diff,
        plan,
        observe_seconds: 0.0,
    };
    let text = planner::report::plan_text(&prepared, planner::report::Style { color: false });
    assert!(
        text.contains("- switch tor1: one batch of 2 changes after every other wave"),
        "{text}"
    );
    assert!(text.contains("delete VLAN 300"), "{text}");
    assert!(
        text.contains("note: VLAN 400 on tor1 is no longer configured but kept: GigabitEthernet0/7 still carry it"),
        "{text}"
    );
}

/// `tests/fixtures/fleet` against observed state: r1u01 needs BIOS and boot changes, r1u02 is in
/// sync, r2u01 is unreachable (its BMC's reason carries escape sequences), a port is on the wrong
/// VLAN, and an out-of-band change is recorded against r1u01.
fn fixture() -> (planner::engine::Prepared, planner::drift::DriftReport) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fleet");
    let (loaded, desired) = planner::engine::load_config(&dir, &Default::default()).unwrap();
    let mut observed = Observed::default();
    observed
        .nodes
        .insert("r1u01".into(), Seen::Live(live("Enabled", None, "Legacy")));
    observed
        .nodes
        .insert("r1u02".into(), Seen::Live(live("Disabled", None, "UEFI")));
    observed.nodes.insert(
        "r2u01".into(),
        Seen::Unreachable(
            "https://bmc-r2u01.example: HTTP 500: \u{1b}[2J\u{1b}]0;owned\u{7}".into(),
        ),
    );
    let sw = tor1(
        &[(1, "default"), (100, "prod")],
        &[
            ("GigabitEthernet0/1", 100),
            ("GigabitEthernet0/2", 1),
            ("GigabitEthernet0/9", 100),
        ],
    );
    observed.switches.insert("tor1".into(), Seen::Live(sw));
    let mut applied: planner::diff::Applied = BTreeMap::new();
    applied.insert(
        "r1u01".into(),
        [("bios.ProcTurboMode".to_string(), json!("Disabled"))]
            .into_iter()
            .collect(),
    );
    let prepared = planner::engine::plan_observed(loaded, desired, observed, &applied).unwrap();
    let drift = planner::drift::report(&prepared.desired, &prepared.diff);
    (prepared, drift)
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

/// A host record as the inventory lists it, deployed from `image` (or only allocated).
fn host_record(
    name: &str,
    node: &str,
    state: &str,
    image: Option<&str>,
) -> planner::inventory::HostRecord {
    let deployment = image.map(|url| {
        serde_json::to_value(planner::deploy::Deployment {
            image_url: url.into(),
            image_checksum: format!("sha256:{}", "a".repeat(64)),
            networks: vec!["prod".into()],
            generation: 1,
            ..Default::default()
        })
        .unwrap()
    });
    planner::inventory::HostRecord {
        id: 1,
        name: name.into(),
        project: "blue".into(),
        flavor: Some("small".into()),
        node: Some(node.into()),
        state: state.into(),
        node_state: None,
        power: Some("On".into()),
        arch: None,
        created_by: "t".into(),
        created_at: 0,
        deployment,
        addresses: Default::default(),
    }
}

fn host_spec(
    name: &str,
    image: &str,
    networks: &[&str],
    node: Option<&str>,
) -> planner::model::HostSpec {
    planner::model::HostSpec {
        name: name.into(),
        flavor: Some("small".into()),
        node: node.map(str::to_string),
        image_url: Some(image.into()),
        image_checksum: Some(format!("sha256:{}", "a".repeat(64))),
        networks: networks.iter().map(|n| n.to_string()).collect(),
        ..Default::default()
    }
}

/// The host part of a plan, through the same change rules the engine applies: a new host, one
/// allocated but not deployed, a rebuild (new image), a move of networks, a pinned move to another
/// node that cannot take it (a note), one in sync, and a failover with and without a free standby.
fn host_fixture() -> (
    Vec<planner::deploy::HostWork>,
    Vec<planner::deploy::HostMove>,
) {
    use planner::deploy::{change_for, HostMove, HostWork, NodeFailure};
    let img = "https://images.example/os-1.raw";
    let cases = [
        (host_spec("web-1", img, &["prod"], None), None),
        (
            host_spec("web-2", img, &["prod"], None),
            Some(host_record("web-2", "r1u02", "allocated", None)),
        ),
        (
            host_spec("web-3", "https://images.example/os-2.raw", &["prod"], None),
            Some(host_record("web-3", "r1u03", "active", Some(img))),
        ),
        (
            host_spec("web-4", img, &["prod", "storage"], None),
            Some(host_record("web-4", "r1u04", "active", Some(img))),
        ),
        (
            host_spec("web-5", img, &["prod"], None),
            Some(host_record("web-5", "r1u05", "active", Some(img))),
        ),
    ];
    let mut work: Vec<HostWork> = cases
        .into_iter()
        .map(|(spec, existing)| HostWork {
            change: change_for(&spec, existing.as_ref()),
            notes: Vec::new(),
            project: "blue".into(),
            spec,
            existing,
        })
        .collect();
    work.push(HostWork {
        spec: host_spec("db-1", img, &["prod"], Some("r2u01")),
        project: "blue".into(),
        existing: Some(host_record("db-1", "r1u06", "active", Some(img))),
        change: None,
        notes: vec!["pinned to r2u01, which cannot take it (active, carrying host web-9): it stays where it is".into()],
    });
    let failure = |node: &str| NodeFailure {
        node: node.into(),
        reason: format!("node {node} reports Critical health"),
    };
    let moves = vec![
        HostMove {
            host: host_record("db-2", "r1u07", "active", Some(img)),
            failure: failure("r1u07"),
            to: Some("r3u01".into()),
        },
        HostMove {
            host: host_record("db-3", "r1u08", "active", Some(img)),
            failure: failure("r1u08"),
            to: None,
        },
    ];
    (work, moves)
}

#[test]
fn host_plan_text() {
    let (work, moves) = host_fixture();
    let kinds: Vec<Option<String>> = work
        .iter()
        .map(|w| w.change.as_ref().map(|c| c.describe()))
        .collect();
    assert_eq!(kinds.iter().filter(|k| k.is_some()).count(), 4, "{kinds:?}");
    let text = planner::report::moves_text(&moves) + &planner::report::host_work_text(&work);
    insta::assert_snapshot!(text);
}

#[test]
fn host_plan_json_and_saved_lines() {
    let (p, _) = fixture();
    let (work, moves) = host_fixture();
    // Host work alone is a change: a plan with no node or switch step still says so.
    let mut quiet = p.clone();
    quiet.plan.steps.clear();
    assert_eq!(
        planner::report::plan_json(&quiet, &[], &[])["changes"],
        json!(false)
    );
    assert_eq!(
        planner::report::plan_json(&quiet, &moves, &work)["changes"],
        json!(true)
    );
    assert_eq!(
        planner::report::plan_json(&quiet, &moves, &[])["changes"],
        json!(true)
    );
    let doc = planner::report::plan_json(&p, &moves, &work);
    insta::assert_snapshot!(serde_json::to_string_pretty(&json!({
        "failovers": doc["failovers"],
        "hosts": doc["hosts"],
        "saved_plan_lines": planner::deploy::work::change_lines(&work),
    }))
    .unwrap());
}
