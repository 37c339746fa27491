//! Malformed configurations, each applied (`bmplan apply -auto-approve`) beside a valid lab fleet:
//! every one is refused with its file, line and a message that names the mistake, exits 1, and
//! touches no device (the lab counts 0 requests, 0 resets, 0 switch commands), with 0 panics and 0
//! silent acceptances. The valid fleet alone applies cleanly, so the refusals are the cases' own.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use lab::{Lab, LabConfig};

/// One malformed configuration: a file written beside the valid `main.tf`, where its error must be
/// reported, and words the message must hold.
struct Case {
    name: &'static str,
    file: &'static str,
    text: Vec<u8>,
    /// `case.tf:3:` — where the (first matching) error is.
    at: &'static str,
    says: &'static str,
}

fn case(name: &'static str, text: &str, line: usize, says: &'static str) -> Case {
    Case {
        name,
        file: "case.tf",
        text: text.as_bytes().to_vec(),
        at: Box::leak(format!("case.tf:{line}:").into_boxed_str()),
        says,
    }
}

const NET: &str =
    "resource \"baremetal_network\" \"extra\" {\n  name    = \"extra\"\n  vlan_id = 200\n}\n";

fn net(attrs: &str) -> String {
    format!("resource \"baremetal_network\" \"extra\" {{\n{attrs}\n}}\n")
}

fn provider(attrs: &str) -> String {
    format!("provider \"baremetal\" {{\n{attrs}\n}}\n")
}

fn switch(attrs: &str) -> String {
    format!(
        "resource \"baremetal_switch\" \"extra\" {{\n  name     = \"extra\"\n  driver   = \"cisco_ios\"\n  username = \"admin\"\n  password = \"pw\"\n{attrs}\n}}\n"
    )
}

fn profile(body: &str) -> String {
    format!("resource \"baremetal_profile\" \"extra\" {{\n  name = \"extra\"\n{body}\n}}\n")
}

/// A second node (on r1u02, which the valid config leaves out) with `attrs` added; `{url}` and
/// `{ca}` are the lab's.
fn node(attrs: &str) -> String {
    format!(
        "resource \"baremetal_node\" \"extra\" {{\n  name      = \"extra\"\n  system_id = \"{{system}}\"\n  username  = \"{{user}}\"\n  password  = \"{{pw}}\"\n{attrs}\n}}\n"
    )
}

fn cases() -> Vec<Case> {
    let url = "  bmc_url   = \"{url}\"\n  ca_cert   = \"{ca}\"";
    let with_url = |extra: &str| node(&format!("{url}\n{extra}"));
    let mut v = vec![
        // Duplicates.
        case("duplicate resource address", &NET.replace("extra", "prod"), 1, "resource baremetal_network.prod is declared twice"),
        case("duplicate inventory name", &net("  name    = \"prod\"\n  vlan_id = 300"), 2, "the name \"prod\" is also used by baremetal_network.prod"),
        case("duplicate provider block", &format!("{}{}", provider("  max_parallel = 2"), provider("  max_parallel = 3")), 4, "provider \"baremetal\" is configured twice"),
        case("duplicate variable", "variable \"v\" {}\nvariable \"v\" {}\n", 2, "variable \"v\" is declared twice"),
        case("duplicate local", "locals {\n  a = 1\n}\nlocals {\n  a = 2\n}\n", 5, "local.a is defined twice"),
        case("duplicate attribute in a block", &net("  name    = \"x\"\n  name    = \"y\"\n  vlan_id = 2"), 3, "redefined"),
        // Unknown names and typos.
        case("unknown attribute", &net("  name    = \"extra\"\n  vlan_id = 200\n  colour  = \"red\""), 4, "unsupported argument \"colour\""),
        case("misspelled attribute", &net("  name    = \"extra\"\n  vlan_di = 200"), 3, "did you mean \"vlan_id\""),
        case("misspelled resource type", "resource \"baremetal_nework\" \"x\" {\n  name = \"x\"\n}\n", 1, "did you mean \"baremetal_network\""),
        case("misspelled block type", "resouce \"baremetal_network\" \"x\" {\n  name = \"x\"\n}\n", 1, "did you mean \"resource\""),
        case("resource with one label", "resource \"baremetal_network\" {\n  name = \"x\"\n}\n", 1, "takes two labels"),
        case("resource name label not an identifier", &NET.replace("\"extra\" {", "\"9 lives\" {"), 1, "is not an identifier"),
        case("attribute outside any block", "name = \"x\"\n", 1, "outside any block"),
        case("misspelled provider setting", &provider("  max_paralel = 10"), 2, "did you mean \"max_parallel\""),
        case("misspelled insecure", &provider("  insecrue = true"), 2, "did you mean \"insecure\""),
        case("unknown nested block", &profile("  raidd {\n  }"), 3, "did you mean \"raid\""),
        case("unknown attribute in a nested block", &profile("  raid {\n    volume {\n      name   = \"os\"\n      level  = \"RAID1\"\n      size   = 10\n    }\n  }"), 7, "unsupported argument \"size\"; raid.0.volume.0 block takes"),
        case("misspelled variable argument", "variable \"v\" {\n  defualt = 1\n}\n", 2, "did you mean \"default\""),
        // Types: never read as a default.
        case("max_parallel as words", &provider("  max_parallel = \"ten\""), 2, "max_parallel must be a number, not \"ten\""),
        case("max_parallel zero", &provider("  max_parallel = 0"), 2, "max_parallel must be a whole number from 1"),
        case("max_parallel fractional", &provider("  max_parallel = 1.5"), 2, "max_parallel must be a whole number from 1"),
        case("vlan as words", &net("  name    = \"extra\"\n  vlan_id = \"ten\""), 3, "vlan_id must be a number"),
        case("vlan as a list", &net("  name    = \"extra\"\n  vlan_id = [1]"), 3, "vlan_id must be a number"),
        case("insecure maybe", &with_url("  insecure  = \"maybe\""), 8, "insecure must be a bool"),
        case("maintenance as a number", &with_url("  maintenance = 3"), 8, "maintenance must be a bool"),
        case("bios as a string", &profile("  bios = \"fast\""), 3, "bios must be a map of strings"),
        case("bios with a nested map", &profile("  bios = { A = { B = 1 } }"), 3, "bios must be a map of strings"),
        case("a block written as an attribute", &profile("  boot = { mode = \"UEFI\" }"), 3, "boot is a block: write boot { … }"),
        case("variable default of the wrong type", "variable \"n\" {\n  type    = number\n  default = \"ten\"\n}\n", 1, "is not a number"),
        case("computed attribute set", &with_url("  power = \"On\""), 8, "power is computed and cannot be set"),
        case("required attribute missing", &node(""), 1, "bmc_url is required"),
        // Values out of range or contradicting each other.
        // Arithmetic that has no value: an error at its place, never a panic or a wrapped number.
        case("remainder by zero", &net("  name    = \"extra\"\n  vlan_id = 7 % 0"), 3, "7 % 0: remainder of a division by zero"),
        case("division by zero in a template", &net("  name    = \"x${1 / 0}\"\n  vlan_id = 200"), 2, "1 / 0: division by zero"),
        case("count overflowing", "resource \"baremetal_network\" \"x\" {\n  count   = 18446744073709551615 + 1\n  name    = \"x\"\n  vlan_id = 200\n}\n", 2, "the result is too large"),
        case("vlan zero", &net("  name    = \"extra\"\n  vlan_id = 0"), 3, "vlan_id 0 is out of range"),
        case("vlan 4095", &net("  name    = \"extra\"\n  vlan_id = 4095"), 3, "vlan_id 4095 is out of range"),
        case("mtu too small", &net("  name    = \"extra\"\n  vlan_id = 200\n  mtu     = 100"), 4, "mtu 100 is out of range"),
        case("network role unknown", &net("  name    = \"extra\"\n  vlan_id = 200\n  role    = \"admin\""), 4, "is not one of tenant, provisioning, cleaning"),
        case("empty name", &net("  name    = \"\"\n  vlan_id = 200"), 2, "the name is empty"),
        case("name with NUL", &net("  name    = \"a\\u0000b\"\n  vlan_id = 200"), 2, "NUL character"),
        case("name with an escape sequence", &net("  name    = \"\\u001b[31mred\"\n  vlan_id = 200"), 2, "control character"),
        case("name over 253 bytes", &net(&format!("  name    = \"{}\"\n  vlan_id = 200", "n".repeat(300))), 2, "names are at most 253"),
        case("value over 1 MiB", &net(&format!("  name    = \"extra\"\n  vlan_id = 200\n  role    = \"{}\"", "r".repeat(1_100_000))), 4, "values are at most 1048576"),
        case("name with surrounding spaces", &net("  name    = \" extra\"\n  vlan_id = 200"), 2, "starts or ends with a space"),
        case("provider insecure with ca_cert", &provider("  ca_cert  = \"{ca}\"\n  insecure = true"), 3, "insecure and ca_cert contradict each other"),
        case("provider ca_cert missing", &provider("  ca_cert = \"/nonexistent/ca.pem\""), 2, "cannot read /nonexistent/ca.pem"),
        case("provider timeout not a duration", &provider("  default_timeout = \"soon\""), 2, "Invalid duration"),
        case("provider role unknown", &provider("  role = \"root\""), 2, "Unknown role"),
        case("switch driver unknown", &switch("  address  = \"127.0.0.1:22\"").replace("cisco_ios", "cisco"), 3, "driver \"cisco\" is not one of"),
        case("switch address without port", &switch("  address  = \"10.0.0.9\""), 6, "is not HOST:PORT"),
        case("switch port out of range", &switch("  address  = \"10.0.0.9:99999\""), 6, "the port 99999 is not a number from 1 to 65535"),
        case("switch empty password", &switch("  address  = \"10.0.0.9:22\"").replace("\"pw\"", "\"\""), 5, "password is empty"),
        case("bmc_url scheme", &node("  bmc_url = \"ftp://10.0.0.9\""), 6, "must start with https:// or http://"),
        case("bmc_url with credentials", &node("  bmc_url = \"https://root:calvin@10.0.0.9\""), 6, "carries a user or password"),
        case("bmc_url port out of range", &node("  bmc_url = \"https://10.0.0.9:99999\""), 6, "invalid port number"),
        case("bmc_url not a URL", &node("  bmc_url = \"not a url\""), 6, "is not a URL"),
        case("node ca_cert missing", &node("  bmc_url = \"{url}\"\n  ca_cert = \"/nonexistent/ca.pem\""), 7, "cannot read /nonexistent/ca.pem"),
        case("node ca_cert with insecure", &with_url("  insecure  = true"), 8, "ca_cert and insecure contradict each other"),
        case("fingerprint malformed", &node("  bmc_url = \"{url}\"\n  fingerprint = \"abc\""), 7, "not a SHA-256 fingerprint"),
        case("fingerprint on http", &node(&format!("  bmc_url = \"http://127.0.0.1:9\"\n  fingerprint = \"{}\"", "ab".repeat(32))), 7, "bmc_url is http://"),
        case("empty username", &with_url("").replace("\"{user}\"", "\"\""), 4, "username is empty"),
        case("node with an unknown profile", &with_url("  profile   = \"nope\""), 8, "no profile named \"nope\""),
        case("port on an unknown switch", &with_url("  port {\n    switch   = \"nosuch\"\n    port     = \"Gi0/9\"\n  }"), 8, "no switch named \"nosuch\""),
        case("port on an unknown network", &with_url("  port {\n    switch   = \"{switch}\"\n    port     = \"{port2}\"\n    networks = [\"nosuch\"]\n  }"), 11, "no network named \"nosuch\""),
        case("a port listed twice", &with_url("  port {\n    switch = \"{switch}\"\n    port   = \"{port2}\"\n  }\n  port {\n    switch = \"{switch}\"\n    port   = \"{port2}\"\n  }"), 12, "is listed twice"),
        case("a port cabled to two nodes", &with_url("  port {\n    switch = \"{switch}\"\n    port   = \"{port1}\"\n  }"), 8, "is also cabled to node"),
        case("empty port name", &with_url("  port {\n    switch = \"{switch}\"\n    port   = \" \"\n  }"), 10, "the port name is empty"),
        case("raid drives zero", &profile("  raid {\n    volume {\n      name   = \"os\"\n      level  = \"RAID1\"\n      drives = 0\n    }\n  }"), 7, "a volume takes a whole number of drives from 1 to 256"),
        case("raid level unknown", &profile("  raid {\n    volume {\n      name  = \"os\"\n      level = \"RAID7\"\n    }\n  }"), 6, "RAID level \"RAID7\" is not one of"),
        case("two boot blocks", &profile("  boot {\n    mode = \"UEFI\"\n  }\n  boot {\n    mode = \"UEFI\"\n  }"), 6, "only one boot block is allowed"),
        case("boot mode unknown", &profile("  boot {\n    mode = \"EFI\"\n  }"), 4, "boot mode \"EFI\" is not UEFI or Legacy"),
        case("profile template missing", &profile("  template = \"nope\""), 3, "nope"),
        case("firmware image_url not a URL", &profile("  firmware {\n    component = \"BIOS\"\n    version   = \"1\"\n    image_url = \"bios.bin\"\n  }"), 6, "is not a URL"),
        case("host image_url with credentials", "resource \"baremetal_host\" \"h\" {\n  name      = \"h\"\n  flavor    = \"f\"\n  image_url = \"https://u:p@images.example/os.img\"\n}\n", 4, "carries a user or password"),
        // References and evaluation.
        case("local reference cycle", "locals {\n  a = local.b\n  b = local.c\n  c = local.a\n}\n", 2, "local.a -> local.b -> local.c -> local.a"),
        case("resource reference cycle", "resource \"baremetal_network\" \"a\" {\n  name    = baremetal_network.b.name\n  vlan_id = 301\n}\nresource \"baremetal_network\" \"b\" {\n  name    = baremetal_network.a.name\n  vlan_id = 302\n}\n", 1, "baremetal_network.a -> baremetal_network.b -> baremetal_network.a"),
        case("undeclared variable", &net("  name    = var.nope\n  vlan_id = 200"), 2, "nope"),
        case("variable without a value", "variable \"needed\" {\n  type = string\n}\n", 1, "variable \"needed\" has no value"),
        case("count too large", &NET.replace("  name    = \"extra\"", "  count   = 1000000000\n  name    = \"extra${count.index}\""), 2, "count is 1000000000; a resource block makes at most 100000"),
        case("count negative", &NET.replace("  name    = \"extra\"", "  count   = -1\n  name    = \"extra${count.index}\""), 2, "count must be a whole number"),
        case("count as words", &NET.replace("  name    = \"extra\"", "  count   = \"two\"\n  name    = \"extra${count.index}\""), 2, "count must be a whole number"),
        case("for_each over numbers", &NET.replace("  name    = \"extra\"", "  for_each = [1, 2]\n  name    = \"extra${each.key}\""), 2, "for_each over a list needs strings"),
        case("range too large", "locals {\n  n = range(2000000000)\n}\n", 2, "at most 100000"),
        case("format width too large", "locals {\n  s = format(\"%0999999999d\", 1)\n}\n", 2, "the width 999999999 is over 10000"),
        case("file that does not exist", "locals {\n  s = file(\"/nonexistent/x.json\")\n}\n", 2, "cannot read"),
        case("jsondecode of broken JSON", "locals {\n  s = jsondecode(\"{\")\n}\n", 2, "not JSON"),
        case("unknown function", "locals {\n  s = nosuch(1)\n}\n", 2, "nosuch"),
        case("dynamic block without for_each", &with_url("  dynamic \"port\" {\n    content {\n      switch = \"{switch}\"\n      port   = \"{port2}\"\n    }\n  }"), 8, "needs for_each"),
        case("timeouts with a typo", &with_url("  timeouts {\n    craete = \"40m\"\n  }"), 9, "did you mean \"create\""),
        case("timeouts not a duration", &with_url("  timeouts {\n    create = \"forty minutes\"\n  }"), 9, "is not a duration"),
        case("locals holding a block", "locals {\n  inner {\n  }\n}\n", 2, "locals hold attributes"),
        // Syntax and text.
        case("unterminated string", &net("  name    = \"extra\n  vlan_id = 200"), 2, "malformed HCL"),
        case("unclosed block", "resource \"baremetal_network\" \"x\" {\n  name = \"x\"\n", 2, "malformed HCL"),
        case("lists nested 2000 deep", &format!("locals {{\n  a = {}{}\n}}\n", "[".repeat(2000), "]".repeat(2000)), 2, "nest more than 64 deep"),
        case("parentheses nested 5000 deep", &format!("locals {{\n  a = {}1{}\n}}\n", "(".repeat(5000), ")".repeat(5000)), 2, "nest more than 64 deep"),
        case("interpolations nested deep", &format!("locals {{\n  a = \"{}\"\n}}\n", "${\"".repeat(100)), 2, "nest more than 64 deep"),
    ];
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(NET.as_bytes());
    v.push(Case {
        name: "byte-order mark",
        file: "case.tf",
        text: bom,
        at: "case.tf:1:1:",
        says: "byte-order mark",
    });
    v.push(Case {
        name: "not UTF-8",
        file: "case.tf",
        text: b"resource \"baremetal_network\" \"x\" {\n  name = \"caf\xe9\"\n}\n".to_vec(),
        at: "case.tf:2:",
        says: "the file is not UTF-8",
    });
    v.push(Case {
        name: "tfvars syntax error",
        file: "terraform.tfvars",
        text: b"prod_vlan = \n".to_vec(),
        at: "terraform.tfvars:1:",
        says: "malformed HCL",
    });
    v.push(Case {
        name: "tfvars value of the wrong type",
        file: "terraform.tfvars",
        text: b"\nprod_vlan = \"ten\"\n".to_vec(),
        at: "terraform.tfvars:2:",
        says: "variable \"prod_vlan\": the value \"ten\" is not a number",
    });
    v
}

/// The valid fleet: one switch, the prod network, a profile and node r1u01 on its first port.
fn main_tf(m: &lab::manifest::Manifest) -> String {
    let sw = &m.switches[0];
    let n = &m.nodes[0];
    format!(
        r#"variable "prod_vlan" {{
  type    = number
  default = 100
}}

resource "baremetal_switch" "tor" {{
  name            = "{sw_name}"
  driver          = "{driver}"
  address         = "{address}"
  username        = "{sw_user}"
  password        = "{sw_pw}"
  enable_password = "{enable}"
}}

resource "baremetal_network" "prod" {{
  name    = "prod"
  vlan_id = var.prod_vlan
}}

resource "baremetal_profile" "compute" {{
  name = "compute"
  bios = {{ ProcTurboMode = "Disabled" }}
}}

resource "baremetal_node" "n1" {{
  name      = "{name}"
  bmc_url   = "{url}"
  system_id = "{system}"
  username  = "{user}"
  password  = "{pw}"
  ca_cert   = "{ca}"
  profile   = baremetal_profile.compute.name
  port {{
    switch   = baremetal_switch.tor.name
    port     = "{port}"
    networks = [baremetal_network.prod.name]
  }}
}}
"#,
        sw_name = sw.name,
        driver = sw.driver,
        address = sw.address,
        sw_user = sw.username,
        sw_pw = sw.password,
        enable = sw.enable_password,
        name = n.name,
        url = n.bmc_url,
        system = n.system_id,
        user = n.username,
        pw = n.password,
        ca = m.ca_cert.as_deref().unwrap(),
        port = n.switch_ports[0],
    )
}

fn fill(text: &[u8], m: &lab::manifest::Manifest) -> Vec<u8> {
    let Ok(s) = std::str::from_utf8(text) else {
        return text.to_vec();
    };
    let n = &m.nodes[1];
    s.replace("{url}", &n.bmc_url)
        .replace("{system}", &n.system_id)
        .replace("{user}", &n.username)
        .replace("{pw}", &n.password)
        .replace("{ca}", m.ca_cert.as_deref().unwrap())
        .replace("{switch}", &m.switches[0].name)
        .replace("{port1}", &m.nodes[0].switch_ports[0])
        .replace("{port2}", &n.switch_ports[0])
        .into_bytes()
}

fn apply(dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_bmplan"))
        .args(["apply", "-auto-approve", "--bmc-timeout", "5"])
        .arg(dir)
        .env(
            "BAREMETAL_INVENTORY",
            format!("sqlite://{}", dir.join("inv.db").display()),
        )
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_malformed_configuration_is_refused_at_its_place_and_touches_no_device() {
    let labdir = tempfile::tempdir().unwrap();
    let lab = Lab::start(LabConfig {
        nodes: 2,
        switches: 1,
        tls: true,
        dir: labdir.path().to_path_buf(),
        power_delay: Duration::from_millis(50),
        ..LabConfig::default()
    })
    .await
    .unwrap();
    let m = lab.manifest().clone();
    let base = main_tf(&m);
    let cases = cases();
    assert!(cases.len() >= 70, "{} cases", cases.len());
    let mut failures = Vec::new();
    for c in &cases {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("main.tf"), &base).unwrap();
        std::fs::write(dir.path().join(c.file), fill(&c.text, &m)).unwrap();
        let o = apply(dir.path());
        let out = common::text(&o);
        let located = out.lines().any(|l| l.contains(c.at) && l.contains(c.says))
            || out.lines().any(|l| l.contains(c.at)) && out.contains(c.says);
        let panicked = out.contains("panicked") || o.status.code() == Some(101);
        if o.status.code() != Some(1) || !located || panicked {
            failures.push(format!(
                "{}: exit {:?}, wanted {:?} at {:?}:\n{}",
                c.name,
                o.status.code(),
                c.says,
                c.at,
                out.chars().take(1500).collect::<String>()
            ));
        }
    }
    let s = common::lab_stats(&m.control_url).await;
    for n in &m.nodes {
        assert_eq!(s["nodes"][&n.name]["requests"], 0, "{}: {s}", n.name);
        assert_eq!(s["nodes"][&n.name]["resets"], 0, "{}: {s}", n.name);
    }
    assert_eq!(s["switches"][&m.switches[0].name]["commands"], 0, "{s}");
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
    // The valid fleet alone applies: the refusals above were the cases', not the base's.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("main.tf"), &base).unwrap();
    let o = apply(dir.path());
    assert_eq!(o.status.code(), Some(0), "{}", common::text(&o));
    let s = common::lab_stats(&m.control_url).await;
    assert_eq!(s["nodes"][&m.nodes[0].name]["resets"], 1, "{s}");
    // Its audit row says what the node showed before and what it has now.
    let inv = planner::inventory::Inventory::open(
        &format!("sqlite://{}", dir.path().join("inv.db").display()),
        planner::project::Actor::admin("t"),
        None,
    )
    .await
    .unwrap();
    let rows = inv.audit_log(&Default::default()).await.unwrap();
    let configured = rows
        .iter()
        .find(|e| e.action == "apply.configure" && e.object == m.nodes[0].name)
        .unwrap_or_else(|| panic!("no apply.configure row: {rows:#?}"));
    assert_eq!(
        configured.after.as_ref().unwrap()["bios.ProcTurboMode"],
        "Disabled"
    );
    let before = configured.before.as_ref().expect("before is filled");
    assert!(
        before["bios.ProcTurboMode"].is_string() && before["bios.ProcTurboMode"] != "Disabled",
        "{before}"
    );
    lab.shutdown().await;
}
