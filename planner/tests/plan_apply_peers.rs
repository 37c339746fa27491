//! End to end with peers we did not write: a node whose BMC is sushy-emulator, cabled to a
//! fake-switches Cisco switch. A port's VLAN change is planned, applied in one batch, and then
//! reported in sync; a second apply sends nothing.

mod common;

use common::text;

use std::process::{Command, Stdio};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_port_vlan_change_on_fake_switches_is_planned_applied_and_then_in_sync() {
    let sushy = common::sushy().await;
    let (_switch, ssh, _) = common::fake_switch("cisco_generic", &["--ports", "8"], false);
    let dir = tempfile::tempdir().unwrap();
    let tf = format!(
        r#"
variable "switch_password" {{
  type      = string
  sensitive = true
}}

resource "baremetal_switch" "tor" {{
  name            = "fake0"
  driver          = "cisco_ios"
  address         = "{ssh}"
  username        = "admin"
  password        = var.switch_password
  enable_password = "en"
}}

resource "baremetal_network" "storage" {{
  name    = "storage"
  vlan_id = 200
}}

resource "baremetal_node" "a" {{
  name      = "node-a"
  bmc_url   = "{url}"
  system_id = "{uuid}"
  username  = "{user}"
  password  = "{pass}"
  ca_cert   = "{ca}"
  port {{
    switch   = baremetal_switch.tor.name
    port     = "Gi0/3"
    networks = [baremetal_network.storage.name]
  }}
}}
"#,
        url = sushy.url,
        uuid = common::SUSHY_UUID,
        user = sushy.username,
        pass = sushy.password,
        ca = sushy.ca.display(),
    );
    std::fs::write(dir.path().join("main.tf"), &tf).unwrap();
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_bmplan"))
            .args(args)
            .arg(dir.path())
            .env(
                "BAREMETAL_INVENTORY",
                format!("sqlite://{}", dir.path().join("inv.db").display()),
            )
            .env("TF_VAR_switch_password", "pw")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let p = run(&["plan", "-detailed-exitcode"]);
    let out = text(&p);
    assert_eq!(p.status.code(), Some(2), "{out}");
    assert!(out.contains("node-a: VLAN 1→200 on fake0 Gi0/3"), "{out}");
    assert!(out.contains("create VLAN 200 (storage)"), "{out}");
    assert!(
        out.contains("(0 reboots)") && !out.contains("1 reboot"),
        "a port change needs no reboot: {out}"
    );

    let a = run(&["apply", "-auto-approve"]);
    assert!(a.status.success(), "{}", text(&a));
    assert!(
        text(&a).contains("step fake0/wave-1 succeeded"),
        "{}",
        text(&a)
    );

    // The switch itself, read with the driver: the port is an access port on VLAN 200.
    let sw = planner::switch::open(
        "cisco_ios",
        planner::switch::SwitchEndpoint {
            address: ssh.clone(),
            username: "admin".into(),
            password: "pw".into(),
            enable_password: Some("en".into()),
            timeout: std::time::Duration::from_secs(30),
        },
    )
    .unwrap();
    let st = sw.read().await.unwrap();
    assert_eq!(st.vlans.get(&200).map(String::as_str), Some("storage"));
    assert_eq!(st.ports["GigabitEthernet0/3"].access_vlan, 200);

    let p = run(&["plan", "-detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
    let d = run(&["drift", "--format", "json"]);
    let r: serde_json::Value = serde_json::from_slice(&d.stdout).unwrap();
    assert_eq!(r["ports"][0]["status"], "in_sync", "{r:#}");
    assert_eq!(r["summary"]["nodes_in_sync"], 1);
    assert!(!text(&d).contains("pw\""));

    // Two more NICs bonded: fake-switches gets one LACP port-channel carrying the network.
    let bonded = tf.replace(
        "    networks = [baremetal_network.storage.name]\n  }\n",
        "    networks = [baremetal_network.storage.name]\n  }\n  port {\n    switch   = baremetal_switch.tor.name\n    port     = \"Gi0/5\"\n    networks = [baremetal_network.storage.name]\n    bond     = \"b0\"\n  }\n  port {\n    switch   = baremetal_switch.tor.name\n    port     = \"Gi0/6\"\n    networks = [baremetal_network.storage.name]\n    bond     = \"b0\"\n  }\n",
    );
    assert_ne!(bonded, tf);
    std::fs::write(dir.path().join("main.tf"), &bonded).unwrap();
    let p = run(&["plan", "-detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(2), "{}", text(&p));
    assert!(text(&p).contains("port-channel 5 (Lacp)"), "{}", text(&p));
    let a = run(&["apply", "-auto-approve"]);
    assert!(a.status.success(), "{}", text(&a));
    let st = sw.read().await.unwrap();
    for m in ["GigabitEthernet0/5", "GigabitEthernet0/6"] {
        assert_eq!(
            st.ports[m].channel_group,
            Some((5, planner::switch::BondMode::Lacp)),
            "{m}: {st:#?}"
        );
    }
    let keys: Vec<&String> = st.ports.keys().collect();
    let pc = st
        .ports
        .get("Port-channel5")
        .unwrap_or_else(|| panic!("no Port-channel5 in {keys:?}"));
    assert_eq!(pc.access_vlan, 200, "{pc:#?}");
    let p = run(&["plan", "-detailed-exitcode"]);
    assert_eq!(p.status.code(), Some(0), "{}", text(&p));
}
