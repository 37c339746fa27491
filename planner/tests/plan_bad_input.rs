//! Bad input to `bmplan plan`: each case asserts the message and its location, and that nothing was
//! changed. BMCs are the lab's (an unknown BIOS attribute is judged by each node's own registry);
//! badfish's registry is used for a real peer's view of the same mistake.

mod common;

use common::text;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use lab::{Lab, LabConfig};

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new(tf: &str) -> Case {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.tf"), tf).unwrap();
        Case { dir }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_bmplan"))
            .args(args)
            .arg(self.dir.path())
            .env(
                "BAREMETAL_INVENTORY",
                format!("sqlite://{}", self.dir.path().join("inv.db").display()),
            )
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }
}

fn node_block(
    name: &str,
    url: &str,
    system: &str,
    user: &str,
    password: &str,
    ca: &Path,
    profile: &str,
) -> String {
    format!(
        r#"
resource "baremetal_node" "{name}" {{
  name      = "{name}"
  bmc_url   = "{url}"
  system_id = "{system}"
  username  = "{user}"
  password  = "{password}"
  ca_cert   = "{ca}"
  profile   = {profile}
}}
"#,
        ca = ca.display()
    )
}

async fn lab(dir: &Path) -> Lab {
    Lab::start(LabConfig {
        nodes: 2,
        switches: 1,
        tls: true,
        dir: dir.to_path_buf(),
        power_delay: Duration::from_millis(100),
        ..LabConfig::default()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unknown_bios_attribute_is_refused_at_its_line_against_the_nodes_registry() {
    let labdir = tempfile::tempdir().unwrap();
    let lab = lab(labdir.path()).await;
    let m = lab.manifest().clone();
    let ca = Path::new(m.ca_cert.as_ref().unwrap()).to_path_buf();
    let n = &m.nodes[0];
    let tf = format!(
        r#"resource "baremetal_profile" "p" {{
  name = "p"
  bios = {{
    ProcTurboMode = "Disabled"
    ProcTurbo     = "Enabled"
  }}
}}
{}"#,
        node_block(
            "n1",
            &n.bmc_url,
            &n.system_id,
            &n.username,
            &n.password,
            &ca,
            "baremetal_profile.p.name"
        )
    );
    let c = Case::new(&tf);
    let o = c.run(&["plan"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("main.tf:3:3: baremetal_profile.p (node n1): BIOS ProcTurbo: unknown BIOS attribute in registry"), "{out}");
    assert!(out.contains("(did you mean ProcTurboMode?)"), "{out}");
    assert!(out.contains("\n    bios = {\n    ^"), "{out}");
    // A value outside the registry's list is refused the same way.
    let c = Case::new(
        &tf.replace("    ProcTurbo     = \"Enabled\"\n", "")
            .replace("\"Disabled\"", "\"Sometimes\""),
    );
    let out = text(&c.run(&["plan"]));
    assert!(
        out.contains("ProcTurboMode: \"Sometimes\" is not one of Enabled, Disabled"),
        "{out}"
    );
    // Nothing was staged on the node.
    let stats = common::lab_stats(&m.control_url).await;
    assert_eq!(stats["nodes"]["r1u01"]["resets"], 0);
    lab.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn badfish_registry_refuses_an_unknown_bios_attribute_too() {
    let bf = common::badfish().await;
    let tf = format!(
        r#"resource "baremetal_profile" "p" {{
  name = "p"
  bios = {{ NoSuchSetting = "x" }}
}}
{}"#,
        node_block(
            "idrac",
            &bf.url,
            "System.Embedded.1",
            &bf.username,
            &bf.password,
            &bf.ca,
            "\"p\""
        )
    );
    let c = Case::new(&tf);
    let o = c.run(&["plan"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("main.tf:3:3: baremetal_profile.p (node idrac): BIOS NoSuchSetting: unknown BIOS attribute"), "{out}");
}

#[test]
fn a_vlan_out_of_range_is_refused_at_its_attribute_before_any_device_is_read() {
    let c = Case::new(
        "resource \"baremetal_network\" \"n\" {\n  name    = \"big\"\n  vlan_id = 4095\n}\n",
    );
    let o = c.run(&["validate"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(
        out.contains(
            "main.tf:3:3: baremetal_network.n: vlan_id 4095 is out of range: VLANs are 1 to 4094"
        ),
        "{out}"
    );
    assert!(out.contains("\n    vlan_id = 4095\n    ^"), "{out}");
}

#[test]
fn malformed_hcl_is_refused_at_file_line_col() {
    let c =
        Case::new("resource \"baremetal_network\" \"n\" {\n  name = \"a\"\n  vlan_id = [1,\n}\n");
    let o = c.run(&["plan"]);
    let out = text(&o);
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("main.tf:4:1: malformed HCL"), "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_bmc_and_wrong_credentials_are_reported_and_the_rest_is_planned() {
    let labdir = tempfile::tempdir().unwrap();
    let lab = lab(labdir.path()).await;
    let m = lab.manifest().clone();
    let ca = Path::new(m.ca_cert.as_ref().unwrap()).to_path_buf();
    let closed = common::free_port();
    let good = &m.nodes[0];
    let other = &m.nodes[1];
    let tf = format!(
        "resource \"baremetal_profile\" \"p\" {{\n  name = \"p\"\n  bios = {{ ProcTurboMode = \"Disabled\" }}\n}}\n{}{}{}",
        node_block("good", &good.bmc_url, &good.system_id, &good.username, &good.password, &ca, "\"p\""),
        node_block("gone", &format!("https://127.0.0.1:{closed}"), "1", "root", "pw", &ca, "\"p\""),
        node_block("badpw", &other.bmc_url, &other.system_id, &other.username, "not-it", &ca, "\"p\""),
    );
    let c = Case::new(&tf);
    let o = c.run(&["plan", "-detailed-exitcode"]);
    let out = text(&o);
    // The reachable node is planned; the others are named with why; the exit code says "incomplete".
    assert_eq!(o.status.code(), Some(1), "{out}");
    assert!(out.contains("good: 1 reboot, BIOS 1 changes"), "{out}");
    assert!(out.contains("unreachable node gone:"), "{out}");
    assert!(out.contains("could not reach the BMC"), "{out}");
    assert!(
        out.contains("unreachable node badpw:") && out.contains("refused the credentials"),
        "{out}"
    );
    assert!(
        out.contains(
            "2 devices could not be read (node badpw, node gone); the plan covers the others"
        ),
        "{out}"
    );
    assert!(!out.contains("not-it"), "a password reached the output");
    lab.shutdown().await;
}
