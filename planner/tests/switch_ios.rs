//! The `cisco_ios` switch driver against the lab switch and against fake-switches' `cisco_generic`
//! (an independent peer): reads, a batch of every change kind, idempotent re-application, and the
//! errors a user sees for a rejected command, a dropped session and wrong passwords.

mod common;

use std::time::{Duration, Instant};

use lab::{Lab, LabConfig};
use planner::bmc::Secret;
use planner::switch::{BondMode, Change, PortMode, Switch, SwitchEndpoint, SwitchError, VlanSet};

fn endpoint(address: &str, user: &str, pass: &str, enable: &str) -> SwitchEndpoint {
    SwitchEndpoint {
        address: address.into(),
        username: user.into(),
        password: Secret::new(pass),
        enable_password: Some(Secret::new(enable)),
        timeout: Duration::from_secs(10),
    }
}

async fn lab() -> (Lab, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::start(LabConfig {
        nodes: 4,
        tls: false,
        dir: dir.path().into(),
        ..LabConfig::default()
    })
    .await
    .unwrap();
    (lab, dir)
}

fn lab_switch(lab: &Lab) -> Box<dyn Switch> {
    let s = &lab.manifest().switches[0];
    ios(endpoint(
        &s.address,
        &s.username,
        &s.password,
        &s.enable_password,
    ))
}

fn batch(ports: &[&str]) -> Vec<Change> {
    let mut c = vec![
        Change::CreateVlan {
            id: 100,
            name: "provisioning".into(),
        },
        Change::CreateVlan {
            id: 200,
            name: "tenant".into(),
        },
    ];
    for (i, p) in ports.iter().enumerate() {
        c.push(if i % 2 == 0 {
            Change::Access {
                port: p.to_string(),
                vlan: 100,
            }
        } else {
            Change::Trunk {
                port: p.to_string(),
                allowed: VlanSet::Only([100, 200].into()),
                native: 100,
            }
        });
        c.push(Change::Description {
            port: p.to_string(),
            text: Some(format!("node-{i}")),
        });
    }
    c
}

#[tokio::test]
async fn lab_switch_batch_applies_every_change_kind_once_and_then_nothing() {
    let (lab, _dir) = lab().await;
    let sw = lab_switch(&lab);
    let before = sw.read().await.unwrap();
    assert_eq!(before.ports.len(), 48);
    assert!(before.vlans.contains_key(&1));
    let mut changes = batch(&["Gi0/1", "Gi0/2"]);
    changes.extend([
        Change::Admin {
            port: "Gi0/3".into(),
            up: false,
        },
        Change::CreatePortChannel {
            id: 3,
            members: vec!["Gi0/5".into(), "Gi0/6".into()],
            mode: BondMode::Lacp,
        },
    ]);
    let report = sw.apply(&changes).await.unwrap();
    assert_eq!(report.applied.len(), changes.len());
    assert!(report.saved);

    // Idempotent: the same desired state again sends no configuration command at all.
    let commands_before = lab.fleet.switch("tor1").unwrap().lock().unwrap().log.len();
    let again = sw.apply(&changes).await.unwrap();
    assert!(
        again.applied.is_empty() && again.commands.is_empty(),
        "{again:?}"
    );
    assert_eq!(
        lab.fleet.switch("tor1").unwrap().lock().unwrap().log.len(),
        commands_before
    );

    // Incremental trunk edits, judged against the state the batch leaves.
    let edits = vec![
        Change::AddTrunkVlans {
            port: "Gi0/2".into(),
            vlans: [300].into(),
        },
        Change::RemoveTrunkVlans {
            port: "Gi0/2".into(),
            vlans: [200].into(),
        },
    ];
    assert_eq!(sw.apply(&edits).await.unwrap().applied.len(), 2);

    let after = sw.read().await.unwrap();
    assert_eq!(
        after.vlans.get(&100).map(String::as_str),
        Some("provisioning")
    );
    let gi1 = &after.ports["GigabitEthernet0/1"];
    assert_eq!(
        (gi1.mode, gi1.access_vlan, gi1.description.as_deref()),
        (PortMode::Access, 100, Some("node-0"))
    );
    let gi2 = &after.ports["GigabitEthernet0/2"];
    assert_eq!((gi2.mode, gi2.native_vlan), (PortMode::Trunk, 100));
    assert_eq!(gi2.trunk_allowed, VlanSet::Only([100, 300].into()));
    assert!(!after.ports["GigabitEthernet0/3"].admin_up);
    assert_eq!(
        after.ports["GigabitEthernet0/6"].channel_group,
        Some((3, BondMode::Lacp))
    );
    // The lab's own view agrees, and the configuration was saved.
    let state = lab.fleet.switch("tor1").unwrap().lock().unwrap().to_json();
    assert_eq!(state["saved"], true);
    lab.shutdown().await;
}

#[tokio::test]
async fn a_rejected_command_stops_the_batch_and_names_switch_port_and_command() {
    let (lab, _dir) = lab().await;
    lab.fleet
        .switch("tor1")
        .unwrap()
        .lock()
        .unwrap()
        .faults
        .reject = Some("switchport access vlan 150".into());
    let sw = lab_switch(&lab);
    let changes = vec![
        Change::CreateVlan {
            id: 150,
            name: "build".into(),
        },
        Change::Access {
            port: "Gi0/4".into(),
            vlan: 150,
        },
        Change::Description {
            port: "Gi0/4".into(),
            text: Some("never".into()),
        },
    ];
    let err = sw.apply(&changes).await.unwrap_err();
    match &err {
        SwitchError::Rejected {
            port,
            command,
            output,
            ..
        } => {
            assert_eq!(port.as_deref(), Some("GigabitEthernet0/4"));
            assert_eq!(command, "switchport access vlan 150");
            assert!(output.starts_with("Command rejected"), "{output}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    let shown = err.to_string();
    assert!(
        shown.contains(&lab.manifest().switches[0].address) && shown.contains("GigabitEthernet0/4"),
        "{shown}"
    );
    let after = sw.read().await.unwrap();
    assert!(
        after.vlans.contains_key(&150),
        "changes before the rejected command stay"
    );
    assert_eq!(
        after.ports["GigabitEthernet0/4"].description, None,
        "changes after it are not sent"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn a_session_dropped_mid_batch_is_reported_as_such() {
    let (lab, _dir) = lab().await;
    let sw = lab_switch(&lab);
    // login + enable + terminal length + the reads take 5 lines; drop a few commands into the batch.
    lab.fleet
        .switch("tor1")
        .unwrap()
        .lock()
        .unwrap()
        .faults
        .drop_after = Some(9);
    let err = sw
        .apply(&batch(&["Gi0/1", "Gi0/2", "Gi0/3"]))
        .await
        .unwrap_err();
    assert!(matches!(err, SwitchError::Dropped { .. }), "{err:?}");
    assert!(
        err.to_string().contains("the session closed during"),
        "{err}"
    );
    lab.shutdown().await;
}

#[tokio::test]
async fn wrong_login_and_enable_passwords_are_clear_errors() {
    let (lab, _dir) = lab().await;
    let s = &lab.manifest().switches[0];
    let err = ios(endpoint(
        &s.address,
        &s.username,
        "wrong",
        &s.enable_password,
    ))
    .read()
    .await
    .unwrap_err();
    assert!(matches!(err, SwitchError::Login { .. }), "{err:?}");
    let err = ios(endpoint(&s.address, &s.username, &s.password, "wrong"))
        .read()
        .await
        .unwrap_err();
    assert!(matches!(err, SwitchError::Enable { .. }), "{err:?}");
    lab.shutdown().await;
}

#[tokio::test]
async fn an_out_of_range_vlan_is_refused_before_connecting() {
    let sw = ios(endpoint("127.0.0.1:1", "u", "p", "e"));
    let err = sw
        .apply(&[Change::Access {
            port: "Gi0/1".into(),
            vlan: 5000,
        }])
        .await
        .unwrap_err();
    assert!(
        matches!(err, SwitchError::Invalid { .. }) && err.to_string().contains("VLAN 5000"),
        "{err}"
    );
}

fn fake_cisco() -> (common::FakeSwitch, String) {
    let (peer, ssh, _) = common::fake_switch("cisco_generic", &["--ports", "12"], false);
    (peer, ssh)
}

#[tokio::test]
async fn fake_switches_cisco_batch_of_ten_ports_applies_reads_back_and_is_idempotent() {
    let (_peer, address) = fake_cisco();
    let sw = ios(endpoint(&address, "admin", "pw", "en"));
    let ports: Vec<String> = (1..=10).map(|n| format!("Gi0/{n}")).collect();
    let refs: Vec<&str> = ports.iter().map(String::as_str).collect();
    let changes = batch(&refs);
    let started = Instant::now();
    let report = sw.apply(&changes).await.unwrap();
    let took = started.elapsed();
    eprintln!(
        "fake-switches cisco_generic: a 10-port batch ({} commands) took {:.2}s",
        report.commands.len(),
        took.as_secs_f64()
    );
    assert_eq!(report.applied.len(), changes.len());
    let after = sw.read().await.unwrap();
    assert_eq!(after.vlans.get(&200).map(String::as_str), Some("tenant"));
    assert_eq!(after.ports["GigabitEthernet0/1"].access_vlan, 100);
    assert_eq!(
        after.ports["GigabitEthernet0/2"].trunk_allowed,
        VlanSet::Only([100, 200].into())
    );
    assert_eq!(after.ports["GigabitEthernet0/2"].native_vlan, 100);
    assert_eq!(
        after.ports["GigabitEthernet0/10"].description.as_deref(),
        Some("node-9")
    );
    let again = sw.apply(&changes).await.unwrap();
    assert!(again.commands.is_empty(), "{again:?}");
}

#[tokio::test]
async fn fake_switches_cisco_every_operation() {
    let (_peer, address) = fake_cisco();
    let sw = ios(endpoint(&address, "admin", "pw", "en"));
    let step = |c: Vec<Change>| c;
    sw.apply(&step(vec![
        Change::CreateVlan {
            id: 100,
            name: "provisioning".into(),
        },
        Change::CreateVlan {
            id: 200,
            name: "tenant".into(),
        },
        Change::CreateVlan {
            id: 300,
            name: "spare".into(),
        },
        Change::Trunk {
            port: "Gi0/2".into(),
            allowed: VlanSet::Only([100].into()),
            native: 100,
        },
        Change::AddTrunkVlans {
            port: "Gi0/2".into(),
            vlans: [200, 300].into(),
        },
        Change::RemoveTrunkVlans {
            port: "Gi0/2".into(),
            vlans: [300].into(),
        },
        Change::Admin {
            port: "Gi0/3".into(),
            up: false,
        },
        Change::CreatePortChannel {
            id: 4,
            members: vec!["Gi0/5".into(), "Gi0/6".into()],
            mode: BondMode::Lacp,
        },
    ]))
    .await
    .unwrap();
    let st = sw.read().await.unwrap();
    assert_eq!(
        st.ports["GigabitEthernet0/2"].trunk_allowed,
        VlanSet::Only([100, 200].into())
    );
    assert!(!st.ports["GigabitEthernet0/3"].admin_up);
    assert_eq!(
        st.ports["GigabitEthernet0/5"].channel_group,
        Some((4, BondMode::Lacp))
    );
    sw.apply(&[
        Change::DeleteVlan { id: 300 },
        Change::Admin {
            port: "Gi0/3".into(),
            up: true,
        },
        Change::Description {
            port: "Gi0/3".into(),
            text: None,
        },
        Change::DeletePortChannel { id: 4 },
    ])
    .await
    .unwrap();
    let st = sw.read().await.unwrap();
    assert!(!st.vlans.contains_key(&300));
    assert!(st.ports["GigabitEthernet0/3"].admin_up);
    assert!(!st.ports.contains_key("Port-channel4"));
    // A command the fake refuses (a port it does not have) comes back as a rejection naming the
    // port and the command. (The fake accepts `no vlan 1`, which real IOS and the lab refuse.)
    let err = sw
        .apply(&[Change::Access {
            port: "Gi0/99".into(),
            vlan: 100,
        }])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SwitchError::Rejected { command, port, .. } if command == "interface GigabitEthernet0/99" && port.as_deref() == Some("GigabitEthernet0/99")),
        "{err:?}"
    );
}

/// A Cisco IOS driver through the one switch factory.
fn ios(ep: SwitchEndpoint) -> Box<dyn Switch> {
    planner::switch::open("cisco_ios", ep).unwrap()
}
