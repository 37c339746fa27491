//! The `juniper_netconf` driver against fake-switches' Junos models over the SSH `netconf` subsystem
//! (an independent peer): reads, a batch of every change kind committed once, idempotence, the QFX
//! dialect, and a refused commit that leaves nothing of the batch behind.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use planner::bmc::Secret;
use planner::switch::netconf::Dialect;
use planner::switch::{Change, PortMode, Switch, SwitchEndpoint, SwitchError, VlanSet};

fn fake_junos(model: &str) -> (common::FakeSwitch, String) {
    let (peer, ssh, _) = common::fake_switch(model, &[], false);
    (peer, ssh)
}

fn switch(address: &str, dialect: Dialect) -> Box<dyn Switch> {
    let driver = match dialect {
        Dialect::Generic => "juniper_netconf",
        Dialect::Qfx => "juniper_netconf_qfx",
    };
    planner::switch::open(
        driver,
        SwitchEndpoint {
            address: address.into(),
            username: "admin".into(),
            password: Secret::new("pw"),
            enable_password: None,
            timeout: Duration::from_secs(15),
        },
    )
    .unwrap()
}

#[tokio::test]
async fn junos_batch_commits_once_reads_back_and_is_idempotent() {
    let (_fake, address) = fake_junos("juniper_generic");
    let sw = switch(&address, Dialect::Generic);
    // Junos lists only configured interfaces in its configuration: a fresh switch shows none.
    assert!(sw.read().await.unwrap().ports.is_empty());
    let ports: Vec<String> = (1..=3).map(|n| format!("ge-0/0/{n}")).collect();
    let changes = vec![
        Change::CreateVlan {
            id: 100,
            name: "provisioning".into(),
        },
        Change::CreateVlan {
            id: 200,
            name: "tenant".into(),
        },
        Change::Access {
            port: ports[0].clone(),
            vlan: 100,
        },
        Change::Description {
            port: ports[0].clone(),
            text: Some("r1u01 nic1".into()),
        },
        Change::Trunk {
            port: ports[1].clone(),
            allowed: VlanSet::Only([100, 200].into()),
            native: 100,
        },
        Change::Admin {
            port: ports[2].clone(),
            up: false,
        },
    ];
    let report = sw.apply(&changes).await.unwrap();
    assert_eq!(report.applied.len(), changes.len());
    assert!(report.saved, "committed");
    let after = sw.read().await.unwrap();
    assert_eq!(after.vlans.get(&200).map(String::as_str), Some("tenant"));
    let p0 = &after.ports[&ports[0]];
    assert_eq!(
        (p0.mode, p0.access_vlan, p0.description.as_deref()),
        (PortMode::Access, 100, Some("r1u01 nic1"))
    );
    let p1 = &after.ports[&ports[1]];
    assert_eq!((p1.mode, p1.native_vlan), (PortMode::Trunk, 100));
    assert_eq!(p1.trunk_allowed, VlanSet::Only([100, 200].into()));
    assert!(!after.ports[&ports[2]].admin_up);
    let again = sw.apply(&changes).await.unwrap();
    assert!(again.commands.is_empty(), "{again:?}");
}

#[tokio::test]
async fn a_refused_commit_discards_the_whole_batch() {
    let (_fake, address) = fake_junos("juniper_generic");
    let sw = switch(&address, Dialect::Generic);
    let port = "ge-0/0/4".to_string();
    // VLAN 300 does not exist: Junos refuses the commit. The VLAN 310 created earlier in the same
    // batch must not be committed either.
    let err = sw
        .apply(&[
            Change::CreateVlan {
                id: 310,
                name: "early".into(),
            },
            Change::Access {
                port: port.clone(),
                vlan: 300,
            },
        ])
        .await
        .unwrap_err();
    match &err {
        SwitchError::Rejected {
            command, output, ..
        } => {
            assert_eq!(command, "commit");
            assert!(output.contains("300"), "{output}");
        }
        other => panic!("expected a rejected commit, got {other:?}"),
    }
    let after = sw.read().await.unwrap();
    assert!(
        !after.vlans.contains_key(&310),
        "the candidate was discarded"
    );
    assert!(
        !after.ports.contains_key(&port),
        "the port was not configured"
    );
    // The lock was released: the next batch goes through.
    sw.apply(&[Change::CreateVlan {
        id: 320,
        name: "later".into(),
    }])
    .await
    .unwrap();
}

#[tokio::test]
async fn qfx_dialect_uses_interface_mode() {
    let (_fake, address) = fake_junos("juniper_qfx_copper_generic");
    let sw = switch(&address, Dialect::Qfx);
    let port = "ge-0/0/1".to_string();
    let changes = vec![
        Change::CreateVlan {
            id: 100,
            name: "provisioning".into(),
        },
        Change::Trunk {
            port: port.clone(),
            allowed: VlanSet::Only([100].into()),
            native: 100,
        },
    ];
    sw.apply(&changes).await.unwrap();
    let p = &sw.read().await.unwrap().ports[&port];
    assert_eq!((p.mode, p.native_vlan), (PortMode::Trunk, 100));
    assert_eq!(p.trunk_allowed, VlanSet::Only([100].into()));
}

#[tokio::test]
async fn a_candidate_locked_by_another_session_is_reported_clearly_and_nothing_is_sent() {
    let (_fake, address) = fake_junos("juniper_generic");
    let (host, port) = address.split_once(':').unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // Another NETCONF client (ncclient) takes the candidate lock and holds it.
    let script = format!(
        "from ncclient import manager; import sys, time\n\
         m = manager.connect(host='{host}', port={port}, username='admin', password='pw', hostkey_verify=False, look_for_keys=False, allow_agent=False, device_params={{'name': 'junos'}})\n\
         m.lock('candidate'); print('locked', flush=True); time.sleep(60)\n"
    );
    let mut holder = Command::new(root.join(".venv/bin/python"))
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = holder.stdout.take().unwrap();
    let mut buf = [0u8; 6];
    std::io::Read::read_exact(&mut out, &mut buf).expect("the other client locked the candidate");
    let sw = switch(&address, Dialect::Generic);
    let err = sw
        .apply(&[Change::CreateVlan {
            id: 330,
            name: "blocked".into(),
        }])
        .await
        .unwrap_err();
    let _ = holder.kill();
    let _ = holder.wait();
    match &err {
        SwitchError::Rejected {
            command, output, ..
        } => {
            assert_eq!(command, "lock candidate");
            assert!(output.contains("locked by another session"), "{output}");
        }
        other => panic!("expected a lock refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn junos_every_operation() {
    let (_fake, address) = fake_junos("juniper_generic");
    let sw = switch(&address, Dialect::Generic);
    sw.apply(&[
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
            port: "ge-0/0/2".into(),
            allowed: VlanSet::Only([100].into()),
            native: 100,
        },
        Change::AddTrunkVlans {
            port: "ge-0/0/2".into(),
            vlans: [200, 300].into(),
        },
        Change::RemoveTrunkVlans {
            port: "ge-0/0/2".into(),
            vlans: [300].into(),
        },
        Change::Admin {
            port: "ge-0/0/3".into(),
            up: false,
        },
        Change::CreatePortChannel {
            id: 1,
            members: vec!["ge-0/0/4".into()],
            mode: planner::switch::BondMode::Lacp,
        },
    ])
    .await
    .unwrap();
    let st = sw.read().await.unwrap();
    assert_eq!(
        st.ports["ge-0/0/2"].trunk_allowed,
        VlanSet::Only([100, 200].into())
    );
    assert!(!st.ports["ge-0/0/3"].admin_up);
    assert_eq!(st.ports["ge-0/0/4"].channel_group.map(|g| g.0), Some(1));
    sw.apply(&[
        Change::DeleteVlan { id: 300 },
        Change::Admin {
            port: "ge-0/0/3".into(),
            up: true,
        },
    ])
    .await
    .unwrap();
    let st = sw.read().await.unwrap();
    assert!(!st.vlans.contains_key(&300));
    assert!(st.ports.get("ge-0/0/3").is_none_or(|p| p.admin_up));
}
