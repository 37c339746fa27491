//! `bmplan switch show` with every driver its help offers, each against fake-switches (an independent
//! peer): Cisco IOS over SSH, Junos over NETCONF (generic and QFX) and Arista eAPI. The command used
//! to know only `cisco_ios` and refused the other three as "not supported yet".

mod common;

use std::process::{Command, Output, Stdio};

use planner::bmc::Secret;
use planner::switch::{Change, SwitchEndpoint};
use std::time::{Duration, Instant};

fn show(driver: &str, address: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bmplan"))
        .args([
            "switch",
            "show",
            "--driver",
            driver,
            "--address",
            address,
            "--username",
            "admin",
            "--password-env",
            "SW_PASSWORD",
            "--enable-password-env",
            "SW_ENABLE",
            "--json",
        ])
        .env("SW_PASSWORD", "pw")
        .env("SW_ENABLE", "en")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Runs `show` until the fake switch answers (its service may accept connections before it does).
fn show_when_ready(driver: &str, address: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = show(driver, address);
        if out.status.success() {
            return serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
                panic!("{driver}: {e}: {}", String::from_utf8_lossy(&out.stdout))
            });
        }
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!err.contains("not supported"), "{driver} is refused: {err}");
        assert!(Instant::now() < deadline, "{driver}: {err}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switch_show_reads_vlans_and_ports_with_each_of_the_four_drivers() {
    let (_ios, ios, _) = common::fake_switch("cisco_generic", &["--ports", "4"], false);
    let state = show_when_ready("cisco_ios", &ios);
    assert!(state["vlans"].get("1").is_some(), "cisco_ios: {state}");
    assert!(
        state["ports"].get("GigabitEthernet0/1").is_some(),
        "cisco_ios: {state}"
    );

    // Junos lists only configured interfaces: configure a VLAN and an access port first (through
    // the library's driver; what is tested here is that the command reads with each driver).
    for (model, driver) in [
        ("juniper_generic", "juniper_netconf"),
        ("juniper_qfx_copper_generic", "juniper_netconf_qfx"),
    ] {
        let (_junos, ssh, _) = common::fake_switch(model, &[], false);
        let sw = planner::switch::open(
            driver,
            SwitchEndpoint {
                address: ssh.clone(),
                username: "admin".into(),
                password: Secret::new("pw"),
                enable_password: None,
                timeout: Duration::from_secs(15),
            },
        )
        .unwrap();
        let changes = [
            Change::CreateVlan {
                id: 120,
                name: "storage".into(),
            },
            Change::Access {
                port: "ge-0/0/1".into(),
                vlan: 120,
            },
        ];
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Err(e) = sw.apply(&changes).await {
            assert!(Instant::now() < deadline, "{driver}: {e}");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let state = show_when_ready(driver, &ssh);
        assert_eq!(state["vlans"]["120"], "storage", "{driver}: {state}");
        assert_eq!(
            state["ports"]["ge-0/0/1"]["access_vlan"], 120,
            "{driver}: {state}"
        );
    }

    let (_arista, _, eapi) = common::fake_switch("arista_generic", &[], true);
    let state = show_when_ready("arista_eapi", &eapi.unwrap());
    assert!(state["vlans"].get("1").is_some(), "arista_eapi: {state}");
    assert!(
        state["ports"].as_object().is_some_and(|p| !p.is_empty()),
        "arista_eapi: {state}"
    );
}
