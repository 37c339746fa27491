//! The host lifecycle on the lab: deploy through virtual media (each wait strategy), rebuild,
//! delete with clean, and the failure paths (checksum mismatch, deploy timeout, failed clean).
//! Each scenario reads the node's state sequence back from the audit log.

mod common;

use std::sync::Arc;
use std::time::Duration;

use lab::{Lab, LabConfig};
use planner::bmc::{PowerAction, Secret, TlsTrust};
use planner::credentials::CredentialsKey;
use planner::enroll::{self};
use planner::flavor::Flavor;
use planner::host::{Checksum, DeployRequest, HostError, Lifecycle, MediaServer, Wait};
use planner::inventory::{
    HostRecord, Inventory, NewHost, NodeConfig, NodeRegistration, NodeTls, SwitchRegistration,
};
use planner::lifecycle::ProvisionState;
use planner::model::{NetworkSpec, PortWant, ProfileLayer};
use planner::project::Actor;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

struct World {
    lab: Lab,
    inv: Inventory,
    url: String,
    key: String,
    media: MediaServer,
    _dir: tempfile::TempDir,
}

impl World {
    fn life(&self) -> Lifecycle<'_> {
        Lifecycle {
            inv: &self.inv,
            media: &self.media,
            max_parallel: 10,
            poll: Duration::from_millis(50),
            progress: Arc::new(|node: &str, msg: &str| eprintln!("{node}: {msg}")),
        }
    }

    /// The lab index of the node named `name`.
    fn index_of(&self, name: &str) -> usize {
        self.lab
            .manifest()
            .nodes
            .iter()
            .position(|m| m.name == name)
            .unwrap()
    }

    fn node(&self, i: usize) -> Value {
        let n = &self.lab.fleet.nodes[i];
        let st = n.state();
        json!({
            "power": st.power.as_str(),
            "resets": st.resets,
            "bios": st.bios,
            "os": st.os,
            "volumes": st.volumes.len(),
            "media": st.vmedia.iter().filter(|m| m.inserted).count(),
            "last_boot_source": st.last_boot_source,
        })
    }

    fn faults(&self, i: usize, f: Value) {
        let n = &self.lab.fleet.nodes[i];
        n.state().faults = serde_json::from_value(f).unwrap();
    }

    fn port_vlan(&self, i: usize) -> u16 {
        let m = &self.lab.manifest().nodes[i];
        let sw = self.lab.fleet.switch(&m.switch).unwrap();
        let st = sw.lock().unwrap();
        let short = &m.switch_ports[0];
        let long = short.replace("Gi", "GigabitEthernet");
        st.ports
            .get(&long)
            .or(st.ports.get(short))
            .unwrap()
            .access_vlan
    }

    fn switch_log(&self) -> Vec<String> {
        let m = &self.lab.manifest().nodes[0];
        self.lab
            .fleet
            .switch(&m.switch)
            .unwrap()
            .lock()
            .unwrap()
            .log
            .clone()
    }

    /// The node's provision states, oldest first, read back from the audit log (the history
    /// `bmplan nodes history` prints, which is shown on stderr).
    async fn states(&self, node: &str) -> Vec<String> {
        let h = self.inv.node_history(node).await.unwrap();
        eprintln!("history of {node}: {}", h.sequence);
        h.states
    }
}

/// A lab of `n` nodes enrolled in a SQLite inventory, with the "compute" profile, their first port
/// on "prod" (VLAN 100), provisioning (300) and cleaning (400) networks, and a flavor matching all.
async fn world(n: usize) -> World {
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab::start(LabConfig {
        nodes: n,
        tls: false,
        power_delay: Duration::from_millis(100),
        task_delay: Duration::from_millis(100),
        dir: dir.path().to_path_buf(),
        ..LabConfig::default()
    })
    .await
    .unwrap();
    let key_text = CredentialsKey::generate().unwrap();
    let key = CredentialsKey::from_base64(&key_text, "test").unwrap();
    let url = format!("sqlite://{}/inv.db", dir.path().display());
    let inv = Inventory::open(&url, Actor::admin("ops"), Some(key))
        .await
        .unwrap();
    inv.put_project("blue", None, None).await.ok();
    let sw = &lab.manifest().switches[0];
    inv.put_switch(&SwitchRegistration {
        name: sw.name.clone(),
        driver: sw.driver.clone(),
        address: sw.address.clone(),
        username: sw.username.clone(),
        password: Secret::new(sw.password.clone()),
        enable_password: Some(Secret::new(sw.enable_password.clone())),
        rack: None,
    })
    .await
    .unwrap();
    for (name, vlan, role) in [
        ("prod", 100, "tenant"),
        ("prov", 300, "provisioning"),
        ("wipe", 400, "cleaning"),
        ("web", 500, "tenant"),
    ] {
        inv.put_network(&NetworkSpec {
            name: name.into(),
            vlan,
            mtu: None,
            role: role.into(),
            // The hosts' network: a small IPv4 subnet and an IPv6 one, static addresses.
            subnets: if name == "web" {
                planner::subnet::subnets_from_attrs(
                    json!({"subnet": [
                        {"cidr": "10.50.0.0/29", "gateway": "10.50.0.1", "dns_servers": ["10.50.0.1"]},
                        {"cidr": "fd00:50::/64", "gateway": "fd00:50::1"}
                    ]})
                    .as_object()
                    .unwrap(),
                )
                .0
            } else {
                vec![]
            },
        })
        .await
        .unwrap();
    }
    let layer = |bios: Value| -> ProfileLayer {
        ProfileLayer {
            bios: serde_json::from_value(bios).unwrap(),
            ..ProfileLayer::default()
        }
    };
    inv.put_profile("compute", &layer(json!({"ProcTurboMode": "Disabled"})))
        .await
        .unwrap();
    inv.put_profile(
        "webserver",
        &layer(json!({"ProcTurboMode": "Enabled", "SriovGlobalEnable": "Enabled"})),
    )
    .await
    .unwrap();
    inv.put_flavor(&Flavor {
        name: "any".into(),
        ..Flavor::default()
    })
    .await
    .unwrap();
    let regs: Vec<NodeRegistration> = lab
        .manifest()
        .nodes
        .iter()
        .map(|m| NodeRegistration {
            name: m.name.clone(),
            bmc_url: m.bmc_url.clone(),
            system_id: m.system_id.clone(),
            username: m.username.clone(),
            password: Secret::new(m.password.clone()),
            tls: NodeTls::default(),
        })
        .collect();
    for mut r in regs {
        let v = enroll::verify(&mut r, planner::bmc::Limits::default()).await;
        inv.enroll(&r, &v).await.unwrap();
    }
    for m in &lab.manifest().nodes {
        inv.set_node_config(
            &m.name,
            &NodeConfig {
                profile: Some("compute".into()),
                ports: vec![PortWant {
                    switch: m.switch.clone(),
                    port: m.switch_ports[0].clone(),
                    networks: vec!["prod".into()],
                    vlans: vec![],
                    mac: m.macs.first().cloned(),
                    pxe: false,
                    bond: None,
                    bond_mode: None,
                }],
                ca_cert_path: None,
                host_override: None,
                boot: Default::default(),
            },
        )
        .await
        .unwrap();
    }
    let media = MediaServer::start("127.0.0.1:0", None).await.unwrap();
    let _ = TlsTrust::NoExtraRoots;
    World {
        lab,
        inv,
        url,
        key: key_text,
        media,
        _dir: dir,
    }
}

fn sha256(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

fn request(url: &str, body: &[u8], wait: Wait) -> DeployRequest {
    DeployRequest {
        image_url: url.to_string(),
        image: None,
        deployment_plan: None,
        hostname: None,
        image_checksum: Checksum::parse(&format!("sha256:{}", sha256(body))).unwrap(),
        user_data: Some("#cloud-config\n{\"packages\": [\"nginx\"]}\n".into()),
        user_data_write_only: false,
        ssh_keys: vec!["ssh-ed25519 AAAAC3Nza test@ops".into()],
        networks: vec!["web".into()],
        addresses: vec![],
        wait,
        profile: Some("webserver".into()),
        // The lab's images are installers its virtual media boots.
        image_format: Some(planner::host::ImageFormat::Iso),
        root_device: Default::default(),
        timeout: Duration::from_secs(60),
    }
}

/// Runs `bmplan` against the world's inventory, as the operator "ops" with no project preset.
fn run_bmplan(
    w: &World,
    args: &[&str],
) -> impl std::future::Future<Output = std::process::Output> + 'static {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_bmplan"));
    c.args(args)
        .env("BAREMETAL_INVENTORY", &w.url)
        .env("BAREMETAL_CREDENTIALS_KEY", &w.key)
        .env("BAREMETAL_USER", "ops")
        .env_remove("BAREMETAL_ROLE")
        .env_remove("BAREMETAL_PROJECT")
        .stdin(std::process::Stdio::null());
    async move {
        tokio::task::spawn_blocking(move || c.output().unwrap())
            .await
            .unwrap()
    }
}

async fn host(w: &World, name: &str, node: Option<&str>) -> HostRecord {
    w.inv
        .create_host(&NewHost {
            name: name.into(),
            project: Some("blue".into()),
            flavor: node.is_none().then(|| "any".to_string()),
            node: node.map(str::to_string),
        })
        .await
        .unwrap()
}

/// A host's addresses, `network address/prefix` each.
async fn addresses(inv: &Inventory, host: &str) -> Vec<String> {
    inv.host_addresses("blue", host)
        .await
        .unwrap()
        .iter()
        .map(|a| format!("{} {}", a.network, a.with_prefix()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_host_deploys_rebuilds_and_is_cleaned_back_into_the_pool() {
    let w = world(2).await;
    let image = b"installer image v1".repeat(1000);
    let img = common::image_server(image.clone()).await;
    let h = host(&w, "web-1", None).await;
    let node = h.node.clone().unwrap();
    let i = w.index_of(&node);

    // Deploy: the installer powers off when done.
    let h = w
        .life()
        .deploy(&h, &request(&img.url, &image, Wait::PowerOff))
        .await
        .unwrap();
    assert_eq!(h.state, "active");
    assert_eq!(
        w.inv.node(&node).await.unwrap().state,
        ProvisionState::Active
    );
    let d = w.node(i);
    assert_eq!(d["os"]["image"], img.url.as_str(), "{d}");
    assert_eq!(d["os"]["image_sha256"], sha256(&image).as_str());
    assert_eq!(d["os"]["seed"]["hostname"], "web-1");
    assert_eq!(
        d["os"]["seed"]["public_keys"],
        json!(["ssh-ed25519 AAAAC3Nza test@ops"])
    );
    assert_eq!(d["os"]["seed"]["has_network_config"], true);
    assert_eq!(d["media"], 0, "media ejected: {d}");
    assert_eq!(d["power"], "On");
    assert_eq!(d["last_boot_source"], "Hdd");
    assert_eq!(
        d["bios"]["ProcTurboMode"], "Enabled",
        "the host's profile: {d}"
    );
    assert_eq!(w.port_vlan(i), 500, "the host's network");
    // Its static addresses on the network's two subnets: the first free after the gateway.
    let addrs = |h: &'static str| addresses(&w.inv, h);
    assert_eq!(
        addrs("web-1").await,
        ["web 10.50.0.2/29", "web fd00:50::2/64"]
    );
    // …written into the config drive's network configuration with routes and DNS.
    let net = &d["os"]["seed"]["network_config"]["ethernets"]["nic0"];
    assert_eq!(
        net["addresses"],
        json!(["10.50.0.2/29", "fd00:50::2/64"]),
        "{d}"
    );
    assert_eq!(net["dhcp4"], false);
    assert_eq!(net["gateway4"], "10.50.0.1");
    assert_eq!(net["gateway6"], "fd00:50::1");
    assert_eq!(net["nameservers"]["addresses"], json!(["10.50.0.1"]));
    let log = w.switch_log().join("\n");
    assert!(
        log.contains("switchport access vlan 300"),
        "provisioning first:\n{log}"
    );

    // Rebuild in place with a new image; the installer reboots into the system, which calls back.
    let image2 = b"installer image v2".repeat(1000);
    let img2 = common::image_server(image2.clone()).await;
    w.faults(i, json!({"installer_reboots": true}));
    let h = w
        .life()
        .deploy(&h, &request(&img2.url, &image2, Wait::Callback))
        .await
        .unwrap();
    assert_eq!(h.node.as_deref(), Some(node.as_str()), "same node");
    let dep = planner::host::Deployment::of(&h).unwrap();
    assert_eq!(dep.generation, 2);
    assert_eq!(dep.baseline_profile.as_deref(), Some("compute"));
    let d = w.node(i);
    assert_eq!(d["os"]["image_sha256"], sha256(&image2).as_str(), "{d}");
    assert_eq!(d["os"]["seed"]["instance_id"], "blue-web-1-g2");
    assert!(w.lab.fleet.nodes[i].state().phone_home_sent >= 1);

    // A second host on the other node, waiting for BootProgress.
    let other = w.lab.manifest().nodes[1 - i].name.clone();
    w.faults(1 - i, json!({"installer_reboots": true}));
    let h2 = host(&w, "web-2", Some(&other)).await;
    let h2 = w
        .life()
        .deploy(&h2, &request(&img.url, &image, Wait::BootProgress))
        .await
        .unwrap();
    assert_eq!(h2.state, "active");
    // The rebuild kept web-1's addresses; web-2 took the next ones.
    assert_eq!(
        addrs("web-1").await,
        ["web 10.50.0.2/29", "web fd00:50::2/64"]
    );
    assert_eq!(
        addrs("web-2").await,
        ["web 10.50.0.3/29", "web fd00:50::3/64"]
    );
    assert_eq!(
        w.inv.host("blue", "web-1").await.unwrap().addresses["web"],
        ["10.50.0.2", "fd00:50::2"]
    );

    // Delete with clean: volumes deleted, drives erased, BIOS back to "compute", ports back to prod.
    w.life().delete(&h, Duration::from_secs(60)).await.unwrap();
    let rec = w.inv.node(&node).await.unwrap();
    assert_eq!(rec.state, ProvisionState::Available);
    assert!(rec.host.is_none());
    let d = w.node(i);
    assert!(d["os"].is_null(), "wiped: {d}");
    assert_eq!(d["volumes"], 0);
    assert_eq!(d["bios"]["ProcTurboMode"], "Disabled", "baseline: {d}");
    assert_eq!(d["power"], "Off");
    assert_eq!(w.port_vlan(i), 100);
    assert!(
        w.switch_log()
            .join("\n")
            .contains("switchport access vlan 400"),
        "cleaning network"
    );
    assert_eq!(
        w.states(&node).await,
        [
            "available",
            "deploying",
            "active",
            "deploying",
            "active",
            "deleting",
            "cleaning",
            "available"
        ]
    );
    // Deleted: its addresses are free again, web-2's stay; each allocation and release audited.
    assert!(addrs("web-1").await.is_empty());
    assert_eq!(addrs("web-2").await.len(), 2);
    let audit = w
        .inv
        .audit_log(&planner::inventory::AuditFilter::default())
        .await
        .unwrap();
    let count = |action: &str| audit.iter().filter(|e| e.action == action).count();
    assert_eq!(
        count("address.allocate"),
        4,
        "two per host, none again at the rebuild"
    );
    assert_eq!(count("address.release"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_checksum_mismatch_touches_nothing() {
    let w = world(1).await;
    let image = b"the real image".to_vec();
    let img = common::image_server(image).await;
    let h = host(&w, "web-1", None).await;
    let before = w.node(0);
    let mut req = request(&img.url, b"another image", Wait::PowerOff);
    req.image_checksum = Checksum::parse(&format!("sha512:{}", "0".repeat(128))).unwrap();
    let e = w.life().deploy(&h, &req).await.unwrap_err();
    assert!(matches!(e, HostError::Image(_)), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains("does not match its checksum") && msg.contains("no node was touched"),
        "{msg}"
    );
    assert_eq!(w.node(0), before, "the node is unchanged");
    assert_eq!(
        w.inv.node(&h.node.clone().unwrap()).await.unwrap().state,
        ProvisionState::Available
    );
    assert!(
        w.switch_log().is_empty(),
        "no switch change: {:?}",
        w.switch_log()
    );
    assert_eq!(
        w.states(&h.node.unwrap()).await,
        ["available"],
        "never deploying"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deploy_that_times_out_is_cleaned_and_its_node_returns_to_the_pool() {
    let w = world(1).await;
    let image = b"an installer that hangs".to_vec();
    let img = common::image_server(image.clone()).await;
    w.faults(0, json!({"install_hang": true}));
    let h = host(&w, "web-1", None).await;
    let node = h.node.clone().unwrap();
    let mut req = request(&img.url, &image, Wait::PowerOff);
    req.timeout = Duration::from_secs(8);
    let e = w.life().deploy(&h, &req).await.unwrap_err().to_string();
    assert!(
        e.contains("timed out") && e.contains("the installer to power the server off"),
        "{e}"
    );
    assert!(e.contains("cleaned and is available again"), "{e}");
    let rec = w.inv.node(&node).await.unwrap();
    assert_eq!(rec.state, ProvisionState::Available);
    assert!(rec.host.is_none(), "the host released its node");
    assert!(
        w.inv.host("blue", "web-1").await.is_err(),
        "the host is gone"
    );
    assert_eq!(
        w.states(&node).await,
        [
            "available",
            "deploying",
            "deploy failed",
            "deleting",
            "cleaning",
            "available"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_clean_that_fails_leaves_the_node_in_clean_failed_and_maintenance() {
    let w = world(1).await;
    let image = b"an image".to_vec();
    let img = common::image_server(image.clone()).await;
    let h = host(&w, "web-1", None).await;
    let node = h.node.clone().unwrap();
    let h = w
        .life()
        .deploy(&h, &request(&img.url, &image, Wait::PowerOff))
        .await
        .unwrap();
    // Every task now fails: the drives' secure erase among them.
    w.faults(0, json!({"task_fail": true}));
    let e = w
        .life()
        .delete(&h, Duration::from_secs(30))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("clean failed") && e.contains("secure erase"),
        "{e}"
    );
    let rec = w.inv.node(&node).await.unwrap();
    assert_eq!(rec.state, ProvisionState::CleanFailed);
    assert!(rec.maintenance);
    assert!(rec
        .maintenance_reason
        .unwrap_or_default()
        .contains("secure erase"));
    assert_eq!(
        w.inv.host("blue", "web-1").await.unwrap().state,
        "clean failed"
    );
    let states = w.states(&node).await;
    assert_eq!(
        states[states.len() - 4..],
        ["active", "deleting", "cleaning", "clean failed"]
    );
    let _ = PowerAction::On;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bmc_that_fails_mid_deploy_leaves_the_node_for_a_resume_that_finishes_it() {
    let w = world(1).await;
    let image = b"an image".to_vec();
    let img = common::image_server(image.clone()).await;
    let h = host(&w, "web-1", None).await;
    let node = h.node.clone().unwrap();
    // The installer hangs; once it runs, the BMC stops answering (every connection dropped).
    w.faults(0, json!({"install_hang": true}));
    let sim = w.lab.fleet.nodes[0].clone();
    let fleet = w.lab.fleet.clone();
    let breaker = tokio::spawn(async move {
        loop {
            if sim.state().install.is_some() {
                fleet.faults.set(lab::faults::FaultConfig {
                    reset_rate: 1.0,
                    ..Default::default()
                });
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let mut req = request(&img.url, &image, Wait::PowerOff);
    req.timeout = Duration::from_secs(6);
    let e = w.life().deploy(&h, &req).await.unwrap_err().to_string();
    breaker.await.unwrap();
    assert!(
        e.contains("the BMC does not answer") && e.contains("resumes on it"),
        "{e}"
    );
    let rec = w.inv.node(&node).await.unwrap();
    assert_eq!(rec.state, ProvisionState::DeployFailed);
    assert!(!rec.maintenance);
    let h = w.inv.host("blue", "web-1").await.unwrap();
    assert_eq!(h.state, "deploy failed");
    assert_eq!(
        h.node.as_deref(),
        Some(node.as_str()),
        "the host keeps its node"
    );

    // The BMC is back (restarted): the next deployment resumes on the same node and finishes.
    w.lab.fleet.faults.set(lab::faults::FaultConfig::default());
    w.faults(0, json!({}));
    let h = w
        .life()
        .deploy(&h, &request(&img.url, &image, Wait::PowerOff))
        .await
        .unwrap();
    assert_eq!(h.state, "active");
    assert_eq!(h.node.as_deref(), Some(node.as_str()));
    assert_eq!(w.node(0)["os"]["image_sha256"], sha256(&image).as_str());
    assert_eq!(
        w.states(&node).await,
        [
            "available",
            "deploying",
            "deploy failed",
            "deploying",
            "active"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bmplan_deploys_powers_migrates_and_deletes_a_host_from_the_command_line() {
    let w = world(4).await;
    let image = b"cli image".to_vec();
    let img = common::image_server(image.clone()).await;
    let first = w.lab.manifest().nodes[0].name.clone();
    let other = w.lab.manifest().nodes[1].name.clone();
    host(&w, "web-1", Some(&first)).await;
    let bmplan = |args: &[&str]| run_bmplan(&w, args);
    let sum = format!("sha256:{}", sha256(&image));
    let o = bmplan(&[
        "hosts",
        "deploy",
        "web-1",
        "--project",
        "blue",
        "--image-url",
        &img.url,
        "--image-checksum",
        &sum,
        "--network",
        "web",
        "--ssh-key",
        "ssh-ed25519 AAAA cli@ops",
        "--timeout",
        "60s",
    ])
    .await;
    assert!(o.status.success(), "{}", common::text(&o));
    assert!(
        common::text(&o).contains("host blue/web-1: active on node"),
        "{}",
        common::text(&o)
    );
    assert_eq!(w.node(0)["os"]["image_sha256"], sha256(&image).as_str());

    let o = bmplan(&["hosts", "power", "web-1", "off", "--project", "blue"]).await;
    assert!(o.status.success(), "{}", common::text(&o));
    assert_eq!(w.node(0)["power"], "Off");
    let o = bmplan(&["hosts", "power", "web-1", "on", "--project", "blue"]).await;
    assert!(o.status.success(), "{}", common::text(&o));
    assert_eq!(w.node(0)["power"], "On");

    // Migrate: the deployment (image, networks, keys) is made again on the other node.
    let o = bmplan(&[
        "hosts",
        "migrate",
        "web-1",
        "--project",
        "blue",
        "--to",
        &other,
        "--timeout",
        "60s",
    ])
    .await;
    assert!(o.status.success(), "{}", common::text(&o));
    assert_eq!(w.node(1)["os"]["image_sha256"], sha256(&image).as_str());
    assert_eq!(
        w.node(1)["os"]["seed"]["public_keys"],
        json!(["ssh-ed25519 AAAA cli@ops"])
    );
    let left = w.inv.node(&first).await.unwrap();
    assert!(
        left.maintenance && left.state == ProvisionState::CleanFailed,
        "{left:?}"
    );

    // A failover policy, and the node fails: bmplan plan shows the move, bmplan apply makes it.
    // The first standby named is reserved for another project: blue's host may not take it.
    let third = w.lab.manifest().nodes[2].name.clone();
    let fourth = w.lab.manifest().nodes[3].name.clone();
    w.inv.put_project("red", None, None).await.unwrap();
    w.inv
        .set_node_attributes(&fourth, None, None, None, Some(Some("red".into())))
        .await
        .unwrap();
    let h = w.inv.host("blue", "web-1").await.unwrap();
    let mut dep = h.deployment.clone().unwrap();
    dep["failover"] =
        json!({"standby_nodes": [fourth.clone(), third.clone()], "unreachable_after_s": 300});
    w.inv
        .set_host_state("blue", "web-1", &h.state, Some(&dep), None)
        .await
        .unwrap();
    w.lab.fleet.nodes[1].state().health = "Critical".into();
    let empty = w._dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("main.tf"), "# nothing but the hosts\n").unwrap();
    let o = bmplan(&["plan", empty.to_str().unwrap(), "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(2), "{}", common::text(&o));
    let out = common::text(&o);
    assert!(
        out.contains("Host failovers:") && out.contains(&format!("moves to standby {third}")),
        "{out}"
    );
    let o = bmplan(&["apply", empty.to_str().unwrap(), "-auto-approve"]).await;
    assert!(o.status.success(), "{}", common::text(&o));
    assert_eq!(
        w.inv.host("blue", "web-1").await.unwrap().node.as_deref(),
        Some(third.as_str())
    );
    assert_eq!(w.node(2)["os"]["image_sha256"], sha256(&image).as_str());
    let o = bmplan(&["plan", empty.to_str().unwrap(), "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", common::text(&o));

    let o = bmplan(&[
        "hosts",
        "delete",
        "web-1",
        "--project",
        "blue",
        "--timeout",
        "60s",
    ])
    .await;
    assert!(o.status.success(), "{}", common::text(&o));
    assert_eq!(
        w.inv.node(&third).await.unwrap().state,
        ProvisionState::Available
    );
    assert!(w.inv.host("blue", "web-1").await.is_err());

    // Each node's life, read back from the audit log by `bmplan nodes history`.
    let history = |node: String| {
        let w = &w;
        async move {
            let o = run_bmplan(w, &["nodes", "history", &node, "--json"]).await;
            assert!(o.status.success(), "{}", common::text(&o));
            let h: Value = serde_json::from_slice(&o.stdout).unwrap();
            eprintln!("history of {node}: {}", h["sequence"].as_str().unwrap());
            h
        }
    };
    let h = history(first.clone()).await;
    assert_eq!(
        h["states"],
        json!([
            "available",
            "deploying",
            "active",
            "deleting",
            "clean failed"
        ]),
        "deployed, then left for the migration: {h}"
    );
    let seq = h["sequence"].as_str().unwrap();
    assert!(
        seq.contains("active [power off] [power on]")
            && seq.ends_with("clean failed [maintenance]"),
        "{seq}"
    );
    let h = history(other.clone()).await;
    assert_eq!(
        h["states"],
        json!([
            "available",
            "deploying",
            "active",
            "deleting",
            "clean failed"
        ]),
        "the migration's target, failed over in turn: {h}"
    );
    assert!(
        h["sequence"]
            .as_str()
            .unwrap()
            .starts_with("available [host blue/web-1 moved here]"),
        "{h}"
    );
    let h = history(third.clone()).await;
    assert_eq!(
        h["states"],
        json!([
            "available",
            "deploying",
            "active",
            "deleting",
            "cleaning",
            "available"
        ]),
        "the standby: deployed by the failover, then the host deleted with clean: {h}"
    );
    // The text form leads with the same line.
    let o = run_bmplan(&w, &["nodes", "history", &third]).await;
    assert!(
        common::text(&o).starts_with(&format!(
            "{third}: available [host blue/web-1 moved here] → deploying"
        )),
        "{}",
        common::text(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn images_written_in_hcl_are_registered_before_the_hosts_that_deploy_them_and_a_new_checksum_rebuilds_them(
) {
    let w = world(2).await;
    let (one, two) = (b"golden one".to_vec(), b"golden two, later".to_vec());
    let (img1, img2) = (
        common::image_server(one.clone()).await,
        common::image_server(two.clone()).await,
    );
    let bmplan = |args: &[&str]| run_bmplan(&w, args);
    let dir = w._dir.path().join("hcl-images");
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap();
    let write = |url: &str, sum: &str, host_extra: &str| {
        std::fs::write(
            dir.join("main.tf"),
            format!(
                r##"provider "baremetal" {{
  project = "blue"
}}

resource "baremetal_image" "os" {{
  name      = "golden-os"
  url       = "{url}"
  checksum  = "{sum}"
  format    = "iso"
  os_family = "debian"
}}

resource "baremetal_host" "web" {{
  name   = "web-1"
  flavor = "any"
  image  = baremetal_image.os.name
{host_extra}}}
"##
            ),
        )
        .unwrap()
    };
    let sum1 = format!("sha256:{}", sha256(&one));
    write(&img1.url, &sum1, "");

    // The plan registers the image, then deploys the host from it.
    let o = bmplan(&["plan", d, "--detailed-exitcode"]).await;
    let out = common::text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains(&format!(
            "+ image golden-os: register {} ({sum1})",
            img1.url
        )),
        "{out}"
    );
    assert!(out.contains("+ host blue/web-1 (flavor any)"), "{out}");
    let o = bmplan(&["plan", d, "--json"]).await;
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["images"][0]["change"], json!(["register"]), "{doc}");
    assert_eq!(doc["changes"], json!(true));

    let o = bmplan(&["apply", d, "-auto-approve"]).await;
    let out = common::text(&o);
    assert!(o.status.success(), "{out}");
    let img = w.inv.image("golden-os").await.unwrap();
    assert_eq!(
        (img.checksum.as_str(), img.os_family.as_deref()),
        (sum1.as_str(), Some("debian"))
    );
    let h = w.inv.host("blue", "web-1").await.unwrap();
    let dep = planner::host::Deployment::of(&h).unwrap();
    assert_eq!(dep.image.as_deref(), Some("golden-os"));
    let i = w.index_of(h.node.as_deref().unwrap());
    assert_eq!(w.node(i)["os"]["image_sha256"], sha256(&one).as_str());
    let o = bmplan(&["plan", d, "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", common::text(&o));
    assert_eq!(
        w.inv.image_users("golden-os").await.unwrap(),
        vec!["blue/web-1".to_string()]
    );

    // A new checksum on the image: the plan changes the image and rebuilds its host.
    let sum2 = format!("sha256:{}", sha256(&two));
    write(&img2.url, &sum2, "");
    let o = bmplan(&["plan", d, "--detailed-exitcode"]).await;
    let out = common::text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains(
            "~ image golden-os: url, checksum changed; the hosts that deploy it are rebuilt"
        ),
        "{out}"
    );
    assert!(
        out.contains("rebuild in place (image_checksum changed"),
        "{out}"
    );
    let o = bmplan(&["apply", d, "-auto-approve"]).await;
    assert!(o.status.success(), "{}", common::text(&o));
    assert_eq!(w.node(i)["os"]["image_sha256"], sha256(&two).as_str());
    let o = bmplan(&["plan", d, "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", common::text(&o));
    let audit: Vec<String> = w
        .inv
        .audit_log(&Default::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(audit.iter().filter(|a| *a == "image.register").count(), 1);
    assert_eq!(audit.iter().filter(|a| *a == "image.update").count(), 1);
    assert_eq!(audit.iter().filter(|a| *a == "image.use").count(), 2);
    // Deleting the image while the host deploys it is refused.
    let e = w.inv.delete_image("golden-os").await.unwrap_err();
    assert!(
        e.to_string().contains("in use by 1 host(s): blue/web-1"),
        "{e}"
    );

    // An image in neither the configuration nor the inventory, and a deployment plan (which
    // bmplan does not render), are errors at the host.
    std::fs::write(
        dir.join("main.tf"),
        "provider \"baremetal\" {\n  project = \"blue\"\n}\n\nresource \"baremetal_host\" \"web\" {\n  name   = \"web-1\"\n  flavor = \"any\"\n  image  = \"nope\"\n}\n",
    )
    .unwrap();
    let o = bmplan(&["plan", d]).await;
    let out = common::text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("baremetal_host.web-1: image: no image named \"nope\" in the configuration or the inventory"),
        "{out}"
    );
    // A ref that pins another checksum than the configuration's image: an error at the host.
    write(&img2.url, &sum2, "");
    let text = std::fs::read_to_string(dir.join("main.tf"))
        .unwrap()
        .replace(
            "image  = baremetal_image.os.name",
            &format!("image  = \"golden-os@{sum1}\""),
        );
    std::fs::write(dir.join("main.tf"), text).unwrap();
    let o = bmplan(&["plan", d]).await;
    let out = common::text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains(&format!(
            "image \"golden-os\" is at checksum {sum2}, and the host asks for {sum1}"
        )),
        "{out}"
    );
    write(&img2.url, &sum2, "  deployment_plan = \"web\"\n");
    let o = bmplan(&["plan", d]).await;
    let out = common::text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains("main.tf:17") && out.contains("bmplan does not support them yet"),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hosts_written_in_hcl_are_deployed_and_rebuilt_by_bmplan_apply() {
    let w = world(2).await;
    let image = b"hcl image".to_vec();
    let img = common::image_server(image.clone()).await;
    let bmplan = |args: &[&str]| run_bmplan(&w, args);
    let dir = w._dir.path().join("hcl-hosts");
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.to_str().unwrap();
    let write_with = |url: &str, sum: &str, networks: &str, power: &str, extra: &str| {
        std::fs::write(
            dir.join("main.tf"),
            format!(
                r##"provider "baremetal" {{
  project = "blue"
}}

resource "baremetal_host" "web" {{
  name           = "web-1"
  flavor         = "any"
  image_url      = "{url}"
  image_checksum = "{sum}"
  networks       = ["{networks}"]
  ssh_keys       = ["ssh-ed25519 AAAA hcl@ops"]
  user_data      = "#cloud-config\n"
  power          = "{power}"
{extra}}}
"##
            ),
        )
        .unwrap()
    };
    let write = |url: &str, sum: &str| write_with(url, sum, "web", "on", "");
    write(&img.url, &format!("sha256:{}", sha256(&image)));

    // The plan shows the allocation and deployment (a change for -detailed-exitcode).
    let o = bmplan(&["plan", d, "--detailed-exitcode"]).await;
    let out = common::text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains("+ host blue/web-1 (flavor any): allocate a node, then deploy the image"),
        "{out}"
    );

    let o = bmplan(&["apply", d, "-auto-approve"]).await;
    let out = common::text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("host blue/web-1: active on node"), "{out}");
    let h = w.inv.host("blue", "web-1").await.unwrap();
    assert_eq!(h.state, "active");
    let node = h.node.clone().unwrap();
    let i = w.index_of(&node);
    assert_eq!(w.node(i)["os"]["image_sha256"], sha256(&image).as_str());
    assert_eq!(
        w.node(i)["os"]["seed"]["public_keys"],
        json!(["ssh-ed25519 AAAA hcl@ops"])
    );
    let o = bmplan(&["plan", d, "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", common::text(&o));

    // A new image: rebuilt in place, on the same node.
    let image2 = b"hcl image, second release".to_vec();
    let img2 = common::image_server(image2.clone()).await;
    write(&img2.url, &format!("sha256:{}", sha256(&image2)));
    let o = bmplan(&["plan", d, "--detailed-exitcode"]).await;
    let out = common::text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains(&format!(
            "~ host blue/web-1 (on {node}): rebuild in place (image_url, image_checksum changed"
        )),
        "{out}"
    );
    // Saved, the plan carries its host changes: applied after the configuration moved on to yet
    // another image, it is refused as stale; applied as planned, it rebuilds.
    let saved = w._dir.path().join("hosts.plan");
    let o = bmplan(&["plan", d, "-out", saved.to_str().unwrap()]).await;
    assert!(o.status.success(), "{}", common::text(&o));
    // The image is kept as a digest: a URL may carry credentials.
    let kept = std::fs::read_to_string(&saved).unwrap();
    assert!(
        kept.contains("rebuild in place") && !kept.contains(&img2.url),
        "{kept}"
    );
    write(&img2.url, &format!("sha256:{}", sha256(b"a third image")));
    let o = bmplan(&["apply", saved.to_str().unwrap()]).await;
    let out = common::text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("is stale: its hosts now need other changes"),
        "{out}"
    );
    write(&img2.url, &format!("sha256:{}", sha256(&image2)));
    let o = bmplan(&["apply", saved.to_str().unwrap()]).await;
    assert!(o.status.success(), "{}", common::text(&o));
    let h = w.inv.host("blue", "web-1").await.unwrap();
    assert_eq!(h.node.as_deref(), Some(node.as_str()));
    assert_eq!(planner::host::Deployment::of(&h).unwrap().generation, 2);
    assert_eq!(w.node(i)["os"]["image_sha256"], sha256(&image2).as_str());
    let o = bmplan(&["plan", d, "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", common::text(&o));

    // Networks changed, nothing else: the ports move, and nothing is reinstalled.
    let sum2 = format!("sha256:{}", sha256(&image2));
    let installed = w.node(i)["os"]["installed_at"].clone();
    write_with(&img2.url, &sum2, "prod", "on", "");
    let o = bmplan(&["plan", d, "--detailed-exitcode"]).await;
    let out = common::text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains(&format!(
            "~ host blue/web-1 (on {node}): ports to [prod] (no reinstall)"
        )),
        "{out}"
    );
    let o = bmplan(&["apply", d, "-auto-approve"]).await;
    assert!(o.status.success(), "{}", common::text(&o));
    assert_eq!(w.port_vlan(i), 100, "on prod now");
    assert_eq!(
        w.node(i)["os"]["installed_at"],
        installed,
        "not reinstalled"
    );
    let h = w.inv.host("blue", "web-1").await.unwrap();
    assert_eq!(planner::host::Deployment::of(&h).unwrap().generation, 2);
    let o = bmplan(&["plan", d, "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", common::text(&o));

    // Pinned to a node that cannot take it: it stays, and the plan says why.
    write_with(
        &img2.url,
        &sum2,
        "prod",
        "on",
        "  node           = \"r9u99\"\n",
    );
    let o = bmplan(&["plan", d, "--detailed-exitcode"]).await;
    let out = common::text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains("! host blue/web-1: pinned to r9u99, which cannot take it"),
        "{out}"
    );

    // Pinned to the other node: the host moves there, as a manual migration.
    let other = w.lab.manifest().nodes[1 - i].name.clone();
    let pin = format!("  node           = \"{other}\"\n");
    write_with(&img2.url, &sum2, "prod", "on", &pin);
    let o = bmplan(&["plan", d, "--detailed-exitcode"]).await;
    let out = common::text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains(&format!(
            "~ host blue/web-1 (on {node}): move to node {other}"
        )),
        "{out}"
    );
    let o = bmplan(&["apply", d, "-auto-approve"]).await;
    assert!(o.status.success(), "{}", common::text(&o));
    let h = w.inv.host("blue", "web-1").await.unwrap();
    assert_eq!(h.node.as_deref(), Some(other.as_str()));
    assert_eq!(h.state, "active");
    assert_eq!(
        w.node(1 - i)["os"]["image_sha256"],
        sha256(&image2).as_str()
    );
    assert_eq!(w.port_vlan(1 - i), 100, "its networks moved with it");
    assert!(w.inv.node(&node).await.unwrap().maintenance);
    assert_eq!(w.states(&other).await, ["available", "deploying", "active"]);
    let o = bmplan(&["plan", d, "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", common::text(&o));

    // Power, read live: off in the block, on at the BMC, so the plan powers it off; then the
    // server is powered on behind bmplan's back, and the next plan sees that too.
    write_with(&img2.url, &sum2, "prod", "off", &pin);
    let o = bmplan(&["plan", d, "--detailed-exitcode"]).await;
    let out = common::text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains(&format!(
            "~ host blue/web-1 (on {other}): power off (it is on)"
        )),
        "{out}"
    );
    let o = bmplan(&["apply", d, "-auto-approve"]).await;
    assert!(o.status.success(), "{}", common::text(&o));
    assert_eq!(w.node(1 - i)["power"], "Off");
    let o = bmplan(&["plan", d, "--detailed-exitcode"]).await;
    assert_eq!(o.status.code(), Some(0), "{}", common::text(&o));
    w.lab.fleet.nodes[1 - i]
        .state()
        .reset("On", Duration::ZERO)
        .unwrap();
    let o = bmplan(&["plan", d, "--detailed-exitcode"]).await;
    let out = common::text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(out.contains("power off (it is on)"), "{out}");
    let o = bmplan(&["apply", d, "-auto-approve"]).await;
    assert!(o.status.success(), "{}", common::text(&o));
    assert_eq!(w.node(1 - i)["power"], "Off");
    let seq = w.inv.node_history(&other).await.unwrap().sequence;
    assert!(seq.ends_with("active [power off] [power off]"), "{seq}");

    // A wrong checksum is caught at load, with where it is.
    write(&img2.url, "sha256:nothex");
    let o = bmplan(&["plan", d]).await;
    let out = common::text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains("main.tf:") && out.contains("image_checksum"),
        "{out}"
    );
    w.lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bmplan_killed_mid_deploy_resumes_when_run_again() {
    let w = world(1).await;
    let image = b"an image for a crash".to_vec();
    let img = common::image_server(image.clone()).await;
    let node = w.lab.manifest().nodes[0].name.clone();
    host(&w, "web-1", Some(&node)).await;
    let sum = format!("sha256:{}", sha256(&image));
    let args = [
        "hosts",
        "deploy",
        "web-1",
        "--project",
        "blue",
        "--image-url",
        &img.url,
        "--image-checksum",
        &sum,
        "--network",
        "web",
        "--timeout",
        "60s",
    ];
    // The installer hangs, so the deployment is waiting when bmplan is killed (SIGKILL: no
    // cleanup of any kind runs).
    w.faults(0, json!({"install_hang": true}));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_bmplan"))
        .args(args)
        .env("BAREMETAL_INVENTORY", &w.url)
        .env("BAREMETAL_CREDENTIALS_KEY", &w.key)
        .env("BAREMETAL_USER", "ops")
        .env_remove("BAREMETAL_ROLE")
        .env_remove("BAREMETAL_PROJECT")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while w.lab.fleet.nodes[0].state().install.is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the installer never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let h = w.inv.host("blue", "web-1").await.unwrap();
    assert_eq!(h.state, "deploying", "left as it was when killed");
    assert_eq!(
        w.inv.node(&node).await.unwrap().state,
        ProvisionState::Deploying
    );

    // Run again (the installer no longer hangs): the deployment starts over on the same node and
    // finishes; the media the killed process served is replaced by the new process's.
    w.faults(0, json!({}));
    let o = run_bmplan(&w, &args).await;
    assert!(o.status.success(), "{}", common::text(&o));
    let h = w.inv.host("blue", "web-1").await.unwrap();
    assert_eq!(h.state, "active");
    assert_eq!(h.node.as_deref(), Some(node.as_str()));
    assert_eq!(w.node(0)["os"]["image_sha256"], sha256(&image).as_str());
    assert_eq!(w.node(0)["media"], 0, "media ejected");
    assert_eq!(w.port_vlan(0), 500, "the host's network");
    // The audit log tells the stop apart: the interrupted deployment is recorded as failed by the
    // run that resumed it.
    assert_eq!(
        w.states(&node).await,
        [
            "available",
            "deploying",
            "deploy failed",
            "deploying",
            "active"
        ]
    );
    let h = w.inv.node_history(&node).await.unwrap();
    assert!(
        h.events
            .iter()
            .any(|e| e.what.contains("the deployment stopped midway; resumed")),
        "{:?}",
        h.events
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_host_whose_bmc_stays_unreachable_past_its_threshold_moves_to_a_standby() {
    let w = world(2).await;
    let image = b"an image to move".to_vec();
    let img = common::image_server(image.clone()).await;
    let first = w.lab.manifest().nodes[0].name.clone();
    let standby = w.lab.manifest().nodes[1].name.clone();
    let h = host(&w, "web-1", Some(&first)).await;
    let h = w
        .life()
        .deploy(&h, &request(&img.url, &image, Wait::PowerOff))
        .await
        .unwrap();
    let mut dep = h.deployment.clone().unwrap();
    dep["failover"] = json!({"standby_nodes": [standby.clone()], "unreachable_after_s": 2});
    w.inv
        .set_host_state("blue", "web-1", &h.state, Some(&dep), None)
        .await
        .unwrap();

    // The BMC stops answering (every connection closed). Under the threshold: no move yet.
    w.faults(0, json!({"absent": true}));
    let dir = w._dir.path().join("hosts-only");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("main.tf"), "# nothing but the hosts\n").unwrap();
    let plan = || run_bmplan(&w, &["plan", dir.to_str().unwrap(), "--detailed-exitcode"]);
    let o = plan().await;
    let out = common::text(&o);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(!out.contains("moves to standby"), "{out}");

    // Past the threshold: the plan moves the host, and the apply does it.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let o = plan().await;
    let out = common::text(&o);
    assert_eq!(o.status.code(), Some(2), "{out}");
    assert!(
        out.contains(&format!("moves to standby {standby}")) && out.contains("has not answered"),
        "{out}"
    );
    eprintln!("{out}");
    let o = run_bmplan(&w, &["apply", dir.to_str().unwrap(), "-auto-approve"]).await;
    assert!(o.status.success(), "{}", common::text(&o));
    let h = w.inv.host("blue", "web-1").await.unwrap();
    assert_eq!(h.node.as_deref(), Some(standby.as_str()));
    assert_eq!(h.state, "active");
    assert_eq!(w.node(1)["os"]["image_sha256"], sha256(&image).as_str());
    let left = w.inv.node(&first).await.unwrap();
    assert!(left.maintenance, "{left:?}");
    assert_eq!(
        w.states(&first).await,
        [
            "available",
            "deploying",
            "active",
            "deleting",
            "clean failed"
        ]
    );
    assert_eq!(
        w.states(&standby).await,
        ["available", "deploying", "active"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_deployment_holds_its_nodes_lease_through_its_virtual_media_steps_so_another_runner_is_refused(
) {
    let w = world(1).await;
    let image = b"an image under a lease".to_vec();
    let img = common::image_server(image.clone()).await;
    let node = w.lab.manifest().nodes[0].name.clone();
    let h = host(&w, "web-1", Some(&node)).await;
    // The installer waits until the test lets it finish: the deployment is between its converge
    // runs, in its virtual-media steps.
    w.faults(0, json!({"install_hang": true}));
    let life = w.life();
    // A long limit (two hours): the deployment's lease outlasts the one-hour lease of the
    // converge run inside it, which must not cut it short.
    let mut req = request(&img.url, &image, Wait::PowerOff);
    req.timeout = Duration::from_secs(7200);
    let deploy = life.deploy(&h, &req);
    let meanwhile = async {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while w.lab.fleet.nodes[0].state().install.is_none() {
            assert!(std::time::Instant::now() < deadline, "no installer");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let leases = w.inv.leases().await.unwrap();
        let held: Vec<&str> = leases
            .iter()
            .filter(|l| l.node == node)
            .map(|l| l.holder.as_str())
            .collect();
        assert!(
            held.len() == 1 && held[0].starts_with("host blue/web-1@"),
            "{leases:?}"
        );
        // The converge run that staged the profile renewed it under the same holder for an
        // hour; the deployment's own (twice its limit, plus 10 minutes) still stands.
        let left = leases[0].expires_at - planner::inventory::now_ms();
        assert!(left > 4 * 3_600_000, "{left} ms left");
        // Another runner (an apply elsewhere) taking the node's lease, or its BMC's, is refused
        // with the deployment named: this is the lease every apply takes before it works on a node.
        let other = "run-2@elsewhere:1";
        let ttl = Duration::from_secs(60);
        let e = w
            .inv
            .acquire_lease(&node, other, "apply", ttl)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("host blue/web-1@"), "{e}");
        let m = &w.lab.manifest().nodes[0];
        let device = planner::apply::device_key(&m.bmc_url, Some(&m.system_id));
        let e = w
            .inv
            .acquire_device_lease(&device, &node, other, "apply", ttl)
            .await
            .unwrap_err()
            .to_string();
        assert!(e.contains("host blue/web-1@"), "{e}");
        // So is another bmplan process acting on the host meanwhile: exit 6, a conflict.
        let o = run_bmplan(&w, &["hosts", "power", "web-1", "off", "--project", "blue"]).await;
        assert_eq!(o.status.code(), Some(6), "{}", common::text(&o));
        assert!(
            common::text(&o).contains("leased by host blue/web-1@"),
            "{}",
            common::text(&o)
        );
        w.faults(0, json!({}));
    };
    let (done, ()) = tokio::join!(deploy, meanwhile);
    assert_eq!(done.unwrap().state, "active");
    // Both leases given back: the node's, and its BMC's (another runner takes it now).
    assert!(w.inv.leases().await.unwrap().is_empty());
    let m = &w.lab.manifest().nodes[0];
    let device = planner::apply::device_key(&m.bmc_url, Some(&m.system_id));
    w.inv
        .acquire_device_lease(
            &device,
            &node,
            "run-3@elsewhere:1",
            "apply",
            Duration::from_secs(5),
        )
        .await
        .unwrap();
}

/// An image store that wants basic auth (`deploy:s3cret-pw`): 401 without it. Counts the
/// requests it let through.
async fn guarded_image_server(body: Vec<u8>) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use base64::Engine;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = served.clone();
    let want = format!(
        "authorization: basic {}",
        base64::engine::general_purpose::STANDARD.encode("deploy:s3cret-pw")
    )
    .to_ascii_lowercase();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = listener.accept().await else {
                continue;
            };
            let (body, want, count) = (body.clone(), want.clone(), count.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&buf[..n]).to_ascii_lowercase();
                if !head.contains(&want) {
                    let _ = s
                        .write_all(b"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .await;
                    return;
                }
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let header = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(header.as_bytes()).await;
                let _ = s.write_all(&body).await;
            });
        }
    });
    (format!("127.0.0.1:{}", addr.port()), served)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_image_url_with_credentials_is_used_but_never_shown() {
    let w = world(2).await;
    let image = b"an image behind a password".to_vec();
    let (at, served) = guarded_image_server(image.clone()).await;
    let node = w.lab.manifest().nodes[0].name.clone();
    host(&w, "web-1", Some(&node)).await;
    let sum = format!("sha256:{}", sha256(&image));
    let secrets = ["s3cret-pw", "t0ps3cret"];
    let deploy = |url: String| {
        let sum = sum.clone();
        let w = &w;
        async move {
            run_bmplan(
                w,
                &[
                    "hosts",
                    "deploy",
                    "web-1",
                    "--project",
                    "blue",
                    "--image-url",
                    &url,
                    "--image-checksum",
                    &sum,
                    "--timeout",
                    "60s",
                ],
            )
            .await
        }
    };
    let clean = |what: &str, text: &str| {
        for s in secrets {
            assert!(!text.contains(s), "{what} shows {s}:\n{text}");
        }
    };

    // A wrong password: refused by the store, and the error masks what was given.
    let o = deploy(format!("http://deploy:wrong-t0ps3cret@{at}/os.iso")).await;
    let out = common::text(&o);
    assert!(!o.status.success(), "{out}");
    assert!(
        out.contains(&format!(
            "cannot read the image http://deploy:***@{at}/os.iso: HTTP 401"
        )),
        "{out}"
    );
    clean("the refusal", &out);

    // The right one: the image is verified and the BMC fetches it with those credentials.
    let url = format!("http://deploy:s3cret-pw@{at}/os.iso?token=t0ps3cret");
    let o = deploy(url.clone()).await;
    let out = common::text(&o);
    assert!(o.status.success(), "{out}");
    assert!(
        out.contains(&format!(
            "verifying http://deploy:***@{at}/os.iso?token=***"
        )),
        "{out}"
    );
    clean("bmplan hosts deploy", &out);
    assert_eq!(w.node(0)["os"]["image_sha256"], sha256(&image).as_str());
    assert!(
        served.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "verified by bmplan and fetched by the BMC, both with the credentials"
    );
    for args in [
        vec!["hosts", "list", "--json"],
        vec!["audit", "--format", "json"],
        vec!["nodes", "history", &node, "--json"],
    ] {
        let o = run_bmplan(&w, &args).await;
        assert!(o.status.success(), "{}", common::text(&o));
        clean(&args.join(" "), &common::text(&o));
    }
    let listed = run_bmplan(&w, &["hosts", "list", "--json"]).await;
    assert!(
        common::text(&listed).contains(&format!("http://deploy:***@{at}/os.iso?token=***")),
        "{}",
        common::text(&listed)
    );
    // Not at rest in clear either: the inventory's database file holds neither secret (the
    // URL is sealed with the credentials key, as BMC passwords are).
    let db = std::fs::read(w._dir.path().join("inv.db")).unwrap();
    let wal = std::fs::read(w._dir.path().join("inv.db-wal")).unwrap_or_default();
    for s in secrets {
        let found = |b: &[u8]| b.windows(s.len()).any(|x| x == s.as_bytes());
        assert!(
            !found(&db) && !found(&wal),
            "{s} is in the inventory's file"
        );
    }
    // Yet a migration redeploys from the sealed URL: the store lets the BMC in again.
    let before = served.load(std::sync::atomic::Ordering::SeqCst);
    let other = w.lab.manifest().nodes[1].name.clone();
    let o = run_bmplan(
        &w,
        &[
            "hosts",
            "migrate",
            "web-1",
            "--project",
            "blue",
            "--to",
            &other,
            "--timeout",
            "60s",
        ],
    )
    .await;
    let out = common::text(&o);
    assert!(o.status.success(), "{out}");
    clean("bmplan hosts migrate", &out);
    assert_eq!(w.node(1)["os"]["image_sha256"], sha256(&image).as_str());
    assert!(served.load(std::sync::atomic::Ordering::SeqCst) >= before + 2);
}
