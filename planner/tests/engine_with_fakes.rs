//! The engine session (desired → prepare → execute, journaled) on in-memory drivers: fake BMCs and a
//! fake switch from `planner::drivers::fake`, reached through the same `Drivers` seam the real
//! Redfish and switch drivers sit behind. No HTTP, no SSH, no lab: what is asserted is the engine's
//! own behaviour (one reset per node, staged BIOS applied, VLANs on the switch, an idempotent second
//! pass, a refused switch command and an unreachable BMC reported with their reasons).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use planner::apply::ApplyOptions;
use planner::bmc::Bmc;
use planner::drivers::fake::{FakeBmc, FakeFleet, FakeSwitch, Server};
use planner::drivers::Drivers;
use planner::engine::{Executed, Prepared, Run, RunStatus, Session, Source};
use planner::inventory::Inventory;
use planner::load::{LoadOptions, Loaded};
use planner::model::Desired;
use planner::observe::{ObserveOptions, Seen};
use planner::project::Actor;
use planner::switch::{Port, PortMode, SwitchState, VlanSet};
use serde_json::json;

const NODES: [(&str, &str); 3] = [
    ("r1u01", "GigabitEthernet0/1"),
    ("r1u02", "GigabitEthernet0/2"),
    ("r2u01", "GigabitEthernet0/9"),
];

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fleet")
}

fn server() -> Server {
    let mut s = Server::new(
        "1",
        &[
            ("ProcTurboMode", json!("Enabled")),
            ("AssetTag", json!("unset")),
        ],
    );
    s.boot_mode = "Legacy".into();
    s
}

fn tor1() -> FakeSwitch {
    let mut st = SwitchState::default();
    st.vlans.insert(1, "default".into());
    for (_, p) in NODES {
        st.ports.insert(
            p.into(),
            Port {
                name: p.into(),
                mode: PortMode::Access,
                access_vlan: 1,
                trunk_allowed: VlanSet::All,
                native_vlan: 1,
                description: None,
                admin_up: true,
                channel_group: None,
                mtu: None,
            },
        );
    }
    FakeSwitch::new("127.0.0.1:2222", "cisco_ios", st)
}

/// The fixture fleet's three BMCs (all but `missing`) and its switch.
fn fleet(missing: Option<&str>) -> (FakeFleet, Vec<FakeBmc>, FakeSwitch) {
    let sw = tor1();
    let mut fleet = FakeFleet::default().with_switch(sw.clone());
    let mut bmcs = Vec::new();
    for (name, _) in NODES.iter().filter(|(n, _)| Some(*n) != missing) {
        let b = FakeBmc::new(&format!("https://bmc-{name}.example"), server());
        fleet = fleet.with_bmc(b.clone());
        bmcs.push(b);
    }
    (fleet, bmcs, sw)
}

fn observe_opts(drivers: Arc<dyn Drivers>) -> ObserveOptions {
    ObserveOptions {
        drivers,
        ..ObserveOptions::default()
    }
}

fn apply_opts(drivers: Arc<dyn Drivers>) -> ApplyOptions {
    ApplyOptions {
        drivers,
        poll: Duration::from_millis(1),
        reset_grace: Duration::from_millis(10),
        backoff: Duration::from_millis(1),
        ..ApplyOptions::default()
    }
}

async fn inventory(dir: &Path) -> Inventory {
    let url = format!("sqlite://{}", dir.join("inv.db").display());
    Inventory::open(&url, Actor::admin("t"), None)
        .await
        .unwrap()
}

/// A session over `inv` observing through `drivers`, and the fixture's desired state.
async fn session_and_fixture<'a>(
    inv: &'a Inventory,
    drivers: Arc<dyn Drivers>,
) -> (Session<'a>, Loaded, Desired) {
    let session = Session::new(inv).observing(observe_opts(drivers));
    let dir = fixture();
    let opts = LoadOptions::default();
    let source = Source::Config {
        dir: &dir,
        opts: &opts,
        max_parallel: None,
    };
    let (loaded, desired) = session.desired(source).await.unwrap();
    (session, loaded, desired)
}

/// Plans and applies the fixture once through one engine session: the run, and the plan of a
/// second pass.
async fn plan_and_apply(inv: &Inventory, drivers: Arc<dyn Drivers>) -> (Executed, Prepared) {
    let (session, loaded, desired) = session_and_fixture(inv, drivers.clone()).await;
    let p = session.prepare(loaded, desired).await.unwrap();
    let run = Run::New(Session::new_run_id("test"));
    let done = session
        .execute(&p.desired, &p.plan, &run, apply_opts(drivers.clone()))
        .await
        .unwrap();
    let (session, loaded, desired) = session_and_fixture(inv, drivers).await;
    let again = session.prepare(loaded, desired).await.unwrap();
    (done, again)
}

#[tokio::test]
async fn the_engine_converges_a_fake_fleet_with_one_reset_per_node_and_then_plans_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory(dir.path()).await;
    let (fleet, bmcs, sw) = fleet(None);
    let (done, again) = plan_and_apply(&inv, Arc::new(fleet)).await;
    assert_eq!(done.status, RunStatus::Succeeded, "{}", done.summary);
    let report = done.report;
    assert!(
        report.ok(),
        "failed {:?}, skipped {:?}",
        report.failed,
        report.skipped
    );
    for b in &bmcs {
        let s = b.server();
        assert_eq!(s.resets, 1, "{}: one reset, log {:?}", b.address(), s.log);
        assert_eq!(
            s.bios["ProcTurboMode"],
            json!("Disabled"),
            "{}",
            b.address()
        );
        assert!(
            s.bios["AssetTag"]
                .as_str()
                .unwrap()
                .starts_with("database tier"),
            "{:?}",
            s.bios
        );
        assert!(s.pending.is_empty(), "staged values applied at the reset");
        assert_eq!(s.boot_mode, "UEFI");
    }
    let st = sw.state();
    assert_eq!(st.vlans.get(&100).map(String::as_str), Some("prod"));
    assert_eq!(st.vlans.get(&200).map(String::as_str), Some("storage"));
    for (_, p) in NODES {
        let port = &st.ports[p];
        assert_eq!(port.mode, PortMode::Trunk, "{p}: two networks make a trunk");
        assert!(
            port.trunk_allowed.contains(100) && port.trunk_allowed.contains(200),
            "{p}"
        );
    }
    assert!(!sw.batches().is_empty(), "the switch was changed");
    assert!(
        again.plan.steps.is_empty(),
        "a second pass finds nothing to do: {:?}",
        again.plan.steps.iter().map(|s| &s.id).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_refused_switch_command_fails_its_batch_names_the_switch_and_stops_later_waves_and_an_unreachable_bmc_is_reported(
) {
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory(dir.path()).await;
    let (fleet, bmcs, sw) = fleet(Some("r2u01"));
    sw.refuse("CreateVlan");
    assert_eq!(bmcs.len(), 2);
    let drivers: Arc<dyn Drivers> = Arc::new(fleet);

    let (session, loaded, desired) = session_and_fixture(&inv, drivers.clone()).await;
    let p = session.prepare(loaded, desired).await.unwrap();
    match &p.observed.nodes["r2u01"] {
        Seen::Unreachable(why) => assert!(why.contains("bmc-r2u01"), "{why}"),
        Seen::Live(_) => panic!("r2u01 has no BMC in the fake fleet"),
    }
    assert!(
        p.plan
            .steps
            .iter()
            .all(|s| s.node.as_deref() != Some("r2u01")),
        "nothing is planned on a node that could not be read"
    );

    let run = Run::New(Session::new_run_id("test"));
    let done = session
        .execute(&p.desired, &p.plan, &run, apply_opts(drivers))
        .await
        .unwrap();
    assert_eq!(done.status, RunStatus::Failed, "{}", done.summary);
    let report = done.report;
    let (step, why) = report.failed.first().expect("the switch batch fails");
    assert!(step.contains("tor1"), "{step}");
    assert!(
        why.contains("127.0.0.1:2222") && why.contains("refused"),
        "{why}"
    );
    assert!(sw.batches().is_empty(), "the refused batch changed nothing");
    assert!(!sw.state().vlans.contains_key(&100));
    // Waves run one after another (max_parallel = 1): the first node's wave ran before its switch
    // batch failed, and no later wave starts after a failure.
    let resets: Vec<usize> = bmcs.iter().map(|b| b.server().resets).collect();
    assert_eq!(resets, [1, 0], "r1u01 then r1u02: {report:?}");
    assert!(
        report
            .skipped
            .iter()
            .any(|(step, _)| step.contains("r1u02")),
        "the stopped wave's steps are reported as skipped: {:?}",
        report.skipped
    );
}

/// The provider's path through the same session: nodes enrolled in the inventory, their profile
/// from its catalog (`Source::Inventory`), brought to it by `Session::converge` over the fakes;
/// a second converge changes nothing, and a node whose BMC cannot be read is refused before
/// anything is changed.
#[tokio::test]
async fn the_provider_path_converges_enrolled_nodes_from_the_catalog_and_refuses_an_unreadable_one()
{
    use planner::credentials::CredentialsKey;
    use planner::engine::EngineError;
    use planner::inventory::{NodeConfig, NodeRegistration, NodeTls, Verification};
    use planner::model::ProfileLayer;

    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("inv.db").display());
    let key = CredentialsKey::from_base64(&CredentialsKey::generate().unwrap(), "t").unwrap();
    let inv = Inventory::open(&url, Actor::admin("t"), Some(key))
        .await
        .unwrap();
    let (mut fleet, bmcs, _) = fleet(None);
    for (b, (name, _)) in bmcs.iter().zip(NODES) {
        let reg = NodeRegistration {
            name: name.into(),
            bmc_url: b.address().into(),
            system_id: "1".into(),
            username: "root".into(),
            password: planner::bmc::Secret::new("pw"),
            tls: NodeTls::default(),
        };
        let hw = b.inspect("1").await.unwrap();
        inv.enroll(&reg, &Verification::Inspected(Box::new(hw)))
            .await
            .unwrap();
    }
    let layer = ProfileLayer {
        bios: [("ProcTurboMode".to_string(), "Disabled".to_string())].into(),
        ..ProfileLayer::default()
    };
    inv.put_profile("tuned", &layer).await.unwrap();
    for (name, _) in NODES {
        let config = NodeConfig {
            profile: Some("tuned".into()),
            ..NodeConfig::default()
        };
        inv.set_node_config(name, &config).await.unwrap();
    }
    let drivers: Arc<dyn Drivers> = Arc::new(fleet.clone());
    let session = Session::new(&inv).observing(observe_opts(drivers.clone()));
    let two = ["r1u01".to_string(), "r1u02".to_string()];
    let report = session
        .converge(&two, apply_opts(drivers.clone()))
        .await
        .unwrap();
    assert!(report.ok(), "{report:?}");
    let resets: Vec<usize> = bmcs.iter().map(|b| b.server().resets).collect();
    assert_eq!(resets, [1, 1, 0], "the two nodes asked for, once each");
    for b in &bmcs[..2] {
        assert_eq!(b.server().bios["ProcTurboMode"], json!("Disabled"));
    }
    let again = session.converge(&two, apply_opts(drivers)).await.unwrap();
    assert!(again.succeeded.is_empty(), "{again:?}");

    // r2u01's BMC goes away: its converge is refused, and nothing is changed anywhere.
    fleet.bmcs.remove(bmcs[2].address());
    let drivers: Arc<dyn Drivers> = Arc::new(fleet);
    let session = Session::new(&inv).observing(observe_opts(drivers.clone()));
    let err = session
        .converge(&["r2u01".to_string()], apply_opts(drivers))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, EngineError::Incomplete(m) if m.contains("could not be read") && m.contains("bmc-r2u01")),
        "{err}"
    );
    let resets: Vec<usize> = bmcs.iter().map(|b| b.server().resets).collect();
    assert_eq!(resets, [1, 1, 0]);
}

#[tokio::test]
async fn a_port_whose_cable_goes_elsewhere_by_in_band_lldp_is_shown_in_the_plan() {
    let dir = tempfile::tempdir().unwrap();
    let key = planner::credentials::CredentialsKey::from_base64(
        &planner::credentials::CredentialsKey::generate().unwrap(),
        "test",
    )
    .unwrap();
    let url = format!("sqlite://{}", dir.path().join("inv.db").display());
    let inv = Inventory::open(&url, Actor::admin("t"), Some(key))
        .await
        .unwrap();
    let (fleet, _bmcs, _sw) = fleet(None);
    let drivers: Arc<dyn Drivers> = Arc::new(fleet);
    // The fixture with each node's port naming its NIC's MAC.
    let cfg = dir.path().join("cfg");
    std::fs::create_dir_all(&cfg).unwrap();
    let text = std::fs::read_to_string(fixture().join("main.tf"))
        .unwrap()
        .replace(
            "    port     = each.value.port\n",
            "    port     = each.value.port\n    mac      = each.value.mac\n",
        )
        .replace(
            "port = \"Gi0/1\" }",
            "port = \"Gi0/1\", mac = \"52:54:00:00:00:11\" }",
        )
        .replace(
            "port = \"Gi0/2\" }",
            "port = \"Gi0/2\", mac = \"52:54:00:00:00:21\" }",
        )
        .replace(
            "port = \"Gi0/9\" }",
            "port = \"Gi0/9\", mac = \"52:54:00:00:00:12\" }",
        );
    std::fs::write(cfg.join("main.tf"), text).unwrap();
    // The nodes must be enrolled for an in-band record; their last inspections from inside: r1u01
    // hears tor1 on Gi0/1 (as configured), r1u02 hears tor1 on Gi0/7 (not Gi0/2).
    let session = Session::new(&inv).observing(observe_opts(drivers.clone()));
    let opts = LoadOptions::default();
    let source = Source::Config {
        dir: &cfg,
        opts: &opts,
        max_parallel: None,
    };
    let (loaded, desired) = session.desired(source).await.unwrap();
    for n in desired.nodes.values() {
        let reg = planner::inventory::NodeRegistration {
            name: n.name.clone(),
            bmc_url: n.bmc_url.clone(),
            system_id: "1".into(),
            username: "root".into(),
            password: planner::bmc::Secret::new(String::from("pw")),
            tls: Default::default(),
        };
        let unread = planner::inventory::Verification::VerifyFailed {
            part: planner::hardware::EndpointPart::Address,
            message: "not read in this test".into(),
        };
        inv.enroll(&reg, &unread).await.unwrap();
    }
    let heard = |mac: &str, port: &str| {
        json!({"disks": [], "nics": [{"name": "eth0", "mac": mac, "link_up": true,
               "lldp": {"chassis_id": "aa:bb:cc:00:00:01", "port_id": port, "system_name": "tor1"}}],
               "cpu_count": 1, "memory_bytes": 1, "boot_mode": "bios"})
    };
    inv.record_inband("r1u01", None, &heard("52:54:00:00:00:11", "Gi0/1"))
        .await
        .unwrap();
    inv.record_inband("r1u02", None, &heard("52:54:00:00:00:21", "Gi0/7"))
        .await
        .unwrap();
    let p = session.prepare(loaded, desired).await.unwrap();
    assert_eq!(p.diff.cabling.len(), 1, "{:?}", p.diff.cabling);
    let c = &p.diff.cabling[0];
    assert_eq!(
        (
            c.node.as_str(),
            c.seen_port.as_str(),
            c.configured_port.as_str()
        ),
        ("r1u02", "Gi0/7", "Gi0/2")
    );
    let text = planner::report::plan_text(&p, planner::report::Style { color: false });
    assert!(
        text.contains("warning: cabling: node r1u02 NIC 52:54:00:00:00:21 is cabled to tor1 port Gi0/7 (LLDP, seen from inside), not to tor1 port Gi0/2 as configured"),
        "{text}"
    );
    assert!(!text.contains("node r1u01 NIC"), "{text}");
}

/// Counts the BMC clients the engine asks for: none may be made for a plan that is refused.
struct Counting {
    inner: Arc<dyn Drivers>,
    bmcs: std::sync::atomic::AtomicUsize,
}

impl Drivers for Counting {
    fn bmc(
        &self,
        ep: planner::bmc::Endpoint,
        purpose: planner::bmc::Purpose,
    ) -> Result<Box<dyn Bmc>, planner::bmc::BmcError> {
        self.bmcs.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner.bmc(ep, purpose)
    }

    fn switch(
        &self,
        driver: &str,
        ep: planner::switch::SwitchEndpoint,
    ) -> Result<Box<dyn planner::switch::Switch>, planner::switch::SwitchError> {
        self.inner.switch(driver, ep)
    }
}

#[tokio::test]
async fn a_bios_profile_on_an_ipmi_node_is_refused_at_its_location_before_any_bmc_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let inv = inventory(dir.path()).await;
    let (fleet, _bmcs, _sw) = fleet(None);
    let counting = Arc::new(Counting {
        inner: Arc::new(fleet),
        bmcs: Default::default(),
    });
    let (session, loaded, mut desired) = session_and_fixture(&inv, counting.clone()).await;
    desired.nodes.get_mut("r1u02").unwrap().bmc_url = "ipmi://10.9.0.2".into();
    let err = match session.prepare(loaded, desired).await {
        Ok(_) => panic!("a BIOS profile on an IPMI node was planned"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains(
            "node r1u02 is managed over IPMI (ipmi://10.9.0.2), which has no BIOS attributes"
        ),
        "{err}"
    );
    // Located at the profile's BIOS attribute in the fixture (the db profile's template sets it).
    assert!(err.contains("main.tf:"), "{err}");
    assert!(!err.contains("r1u01") && !err.contains("r2u01"), "{err}");
    assert_eq!(
        counting.bmcs.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "a BMC was read"
    );
}
