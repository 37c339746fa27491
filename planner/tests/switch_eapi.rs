//! The `arista_eapi` driver against fake-switches' `arista_generic` eAPI (an independent peer): reads
//! in JSON, VLAN create/delete, trunk VLAN add/remove in one request, idempotence, and the error for a
//! command the switch rejects. The fake lacks access mode and access VLANs (asserted as a rejection
//! below), native VLANs, descriptions and port-channels, and does not check eAPI credentials; those
//! paths are not exercised here.

mod common;

use std::time::Duration;

use planner::bmc::Secret;
use planner::switch::{Change, PortMode, Switch, SwitchEndpoint, SwitchError, VlanSet};

fn fake_arista() -> (common::FakeSwitch, String) {
    let (peer, _, eapi) = common::fake_switch("arista_generic", &[], true);
    (peer, eapi.expect("eAPI address"))
}

/// The fake switch's port can accept a connection before its HTTP service answers (seen under CI
/// load): wait until a request gets an answer.
async fn ready(address: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let body = serde_json::json!({"jsonrpc": "2.0", "method": "runCmds", "params": {"version": 1, "cmds": ["show version"], "format": "json"}, "id": "ready"});
    loop {
        let r = reqwest::Client::new()
            .post(format!("http://{address}/command-api"))
            .json(&body)
            .send()
            .await;
        if r.is_ok() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "fake-switches eAPI at {address} never answered: {r:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn switch(address: &str) -> Box<dyn Switch> {
    planner::switch::open(
        "arista_eapi",
        SwitchEndpoint {
            address: address.into(),
            username: "admin".into(),
            password: Secret::new("pw"),
            enable_password: None,
            timeout: Duration::from_secs(10),
        },
    )
    .unwrap()
}

async fn raw(address: &str, cmds: &[&str]) {
    let body = serde_json::json!({"jsonrpc": "2.0", "method": "runCmds", "params": {"version": 1, "cmds": cmds, "format": "json"}, "id": "t"});
    let r: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{address}/command-api"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(r.get("error").is_none(), "{r}");
}

#[tokio::test]
async fn eapi_reads_and_changes_vlans_and_trunks_idempotently() {
    let (_fake, address) = fake_arista();
    ready(&address).await;
    let sw = switch(&address);
    let before = sw.read().await.unwrap();
    assert!(before.vlans.contains_key(&1));
    assert!(before.ports.contains_key("Ethernet1"));
    // The fake has no native VLAN command, so the trunk port is prepared directly on the peer.
    raw(
        &address,
        &[
            "enable",
            "configure",
            "interface Ethernet2",
            "switchport mode trunk",
            "switchport trunk allowed vlan 10",
            "end",
        ],
    )
    .await;
    let changes = vec![
        Change::CreateVlan {
            id: 100,
            name: "provisioning".into(),
        },
        Change::CreateVlan {
            id: 200,
            name: "tenant".into(),
        },
        Change::AddTrunkVlans {
            port: "Et2".into(),
            vlans: [100, 200].into(),
        },
        Change::RemoveTrunkVlans {
            port: "Et2".into(),
            vlans: [10].into(),
        },
    ];
    let report = sw.apply(&changes).await.unwrap();
    assert_eq!(report.applied.len(), 4);
    let after = sw.read().await.unwrap();
    assert_eq!(after.vlans.get(&200).map(String::as_str), Some("tenant"));
    let et2 = &after.ports["Ethernet2"];
    assert_eq!(et2.mode, PortMode::Trunk);
    assert_eq!(et2.trunk_allowed, VlanSet::Only([100, 200].into()));
    assert!(
        sw.apply(&changes).await.unwrap().commands.is_empty(),
        "the second apply sends nothing"
    );
    sw.apply(&[Change::DeleteVlan { id: 200 }]).await.unwrap();
    assert!(!sw.read().await.unwrap().vlans.contains_key(&200));
}

#[tokio::test]
async fn eapi_rejected_command_names_the_port_and_command() {
    let (_fake, address) = fake_arista();
    ready(&address).await;
    let sw = switch(&address);
    // fake-switches' EOS knows only `switchport mode trunk` (and no `switchport access vlan`): the
    // access-port change draws a real rejection from the peer, at its first command.
    let err = sw
        .apply(&[
            Change::CreateVlan {
                id: 300,
                name: "x".into(),
            },
            Change::Access {
                port: "Et1".into(),
                vlan: 300,
            },
        ])
        .await
        .unwrap_err();
    match &err {
        SwitchError::Rejected { port, command, .. } => {
            assert_eq!(port.as_deref(), Some("Ethernet1"));
            assert_eq!(command, "switchport mode access");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert!(err.to_string().contains(&address), "{err}");
}
