"""The provider's list resources, action and ephemeral resource under the real Terraform CLIs.

- `terraform query` (Terraform 1.14 and later) lists the inventory's nodes and hosts with their filters;
  `-generate-config-out` writes resource and import blocks that import the nodes by identity.
- `baremetal_power` (Terraform 1.14 and later) is invoked with `terraform apply -invoke` and from an
  `action_trigger`; the lab's BMC shows the power change; refusals are errors and audited.
- `baremetal_bmc_session` (Terraform 1.10 and later) opens a Redfish session that works against the BMC
  during the run, is deleted on the BMC at its end, and whose token is in no state or plan.
Terraform 1.11 (on PATH) has no `query` and no actions: it refuses them with its own message."""

import json
import re

import pytest
import requests

from conftest import settle_import

HEAD = '''
terraform {
  required_providers {
    baremetal = { source = "bmplan/baremetal" }
  }
}

variable "lab_manifest" { type = string }

locals {
  lab   = jsondecode(file(var.lab_manifest))
  nodes = { for n in local.lab.nodes : n.name => n }
}
'''

NODES = '''
resource "baremetal_node" "lab" {
  for_each            = local.nodes
  name                = each.key
  bmc_url             = each.value.bmc_url
  system_id           = each.value.system_id
  username            = each.value.username
  password_wo         = each.value.password
  password_wo_version = 1
  rack                = each.value.rack
}
'''


def version(terraform):
    v = json.loads(terraform.run("version", "-json", cwd=terraform.tmp).stdout)["terraform_version"]
    return tuple(int(x) for x in v.split(".")[:2])


def ok(r):
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def enrolled(terraform, lab):
    """The lab's nodes, enrolled by one configuration (as another team would have)."""
    var = ("-var", f"lab_manifest={lab.manifest_path}")
    d = terraform.workdir("fleet", HEAD + NODES)
    ok(terraform.run("apply", "-auto-approve", "-input=false", "-no-color", *var, cwd=d))
    return var


def audit(terraform, action):
    rows = json.loads(terraform.bmplan("audit", "--format", "json").stdout)
    return [r for r in rows if r["action"] == action]


def test_terraform_query_lists_nodes_and_writes_config_that_imports_them(terraform, start_lab):
    lab = start_lab("--nodes", "3", "--power-delay-ms", "100")
    if version(terraform) < (1, 14):
        d = terraform.workdir("query", HEAD)
        r = terraform.run("query", "-no-color", cwd=d)
        assert r.returncode != 0 and "query" in (r.stdout + r.stderr).lower(), r.stdout + r.stderr
        pytest.skip("Terraform before 1.14 has no `terraform query`: refused by the CLI, as checked")
    var = enrolled(terraform, lab)

    d = terraform.workdir("query", HEAD, files={"nodes.tfquery.hcl": '''
list "baremetal_node" "ready" {
  provider = baremetal
  config {
    managed = true
    rack    = "r1"
  }
}
'''})
    r = ok(terraform.run("query", "-no-color", *var, cwd=d))
    for n in ("r1u01", "r1u02", "r1u03"):
        assert n in r.stdout, r.stdout

    # The nodes written out: one resource block and one import block by identity each.
    r = ok(terraform.run("query", "-no-color", "-generate-config-out=generated.tf", *var, cwd=d))
    generated = (d / "generated.tf").read_text()
    assert len(re.findall(r'^resource "baremetal_node"', generated, re.M)) == 3, generated
    assert len(re.findall(r"^import \{", generated, re.M)) == 3, generated
    assert 'name = "r1u02"' in generated, generated
    # Secrets are never read back: the generated config leaves them for the operator to give.
    assert len(re.findall(r"password_wo +?= null # sensitive", generated)) == 3, generated

    # Given the passwords, the generated configuration imports the three nodes by identity, and
    # then nothing changes: what was enrolled elsewhere is now managed here too.
    def with_password(block):
        name = re.search(r'name += "(r1u0\d)"', block.group(0)).group(1)
        return (block.group(0)
                .replace("password_wo_version = null", "password_wo_version = 1")
                .replace(re.search(r"password_wo +?= null # sensitive", block.group(0)).group(0),
                         f'password_wo = local.nodes["{name}"].password'))
    filled = re.sub(r'^resource "baremetal_node" .*?^\}', with_password, generated, flags=re.M | re.S)
    (d / "generated.tf").write_text(filled)
    r = terraform.run("plan", "-input=false", "-no-color", *var, cwd=d)
    assert r.returncode == 0 and "3 to import, 0 to add" in r.stdout and "0 to destroy" in r.stdout, r.stdout + r.stderr
    ok(terraform.run("apply", "-auto-approve", "-input=false", "-no-color", *var, cwd=d))
    settle_import(terraform, d, *var)

    # Filters: nothing matches another rack; a state that does not exist is refused at its place.
    d2 = terraform.workdir("query-none", HEAD, files={"nodes.tfquery.hcl": '''
list "baremetal_node" "elsewhere" {
  provider = baremetal
  config {
    rack = "r9"
  }
}
'''})
    r = ok(terraform.run("query", "-no-color", *var, cwd=d2))
    assert "r1u01" not in r.stdout, r.stdout
    d3 = terraform.workdir("query-bad", HEAD, files={"nodes.tfquery.hcl": '''
list "baremetal_node" "bad" {
  provider = baremetal
  config {
    state = "sleeping"
  }
}
'''})
    r = terraform.run("query", "-no-color", *var, cwd=d3)
    assert r.returncode == 1, r.stdout + r.stderr
    assert 'no provision state is called "sleeping"' in r.stdout + r.stderr, r.stdout + r.stderr


def test_terraform_query_lists_the_projects_hosts_for_import(terraform, start_lab):
    lab = start_lab("--nodes", "2", "--power-delay-ms", "100")
    if version(terraform) < (1, 14):
        pytest.skip("Terraform before 1.14 has no `terraform query` (its refusal is checked above)")
    ok(terraform.bmplan("projects", "create", "blue"))
    terraform.env["BAREMETAL_PROJECT"] = "blue"
    var = ("-var", f"lab_manifest={lab.manifest_path}")
    d = terraform.workdir("hosts", HEAD + NODES + '''
resource "baremetal_flavor" "any" {
  name       = "any"
  cpus       = 1
  depends_on = [baremetal_node.lab]
}

resource "baremetal_host" "web" {
  name   = "web-1"
  flavor = baremetal_flavor.any.name
}
''')
    ok(terraform.run("apply", "-auto-approve", "-input=false", "-no-color", *var, cwd=d))

    q = terraform.workdir("query-hosts", HEAD, files={"hosts.tfquery.hcl": '''
list "baremetal_host" "allocated" {
  provider = baremetal
  config {
    state = "allocated"
  }
}
'''})
    r = ok(terraform.run("query", "-no-color", "-generate-config-out=generated.tf", *var, cwd=q))
    assert "blue/web-1 (allocated, on r1u0" in r.stdout, r.stdout
    generated = (q / "generated.tf").read_text()
    assert generated.count('resource "baremetal_host"') == 1 and 'name = "web-1"' in generated, generated
    r = terraform.run("plan", "-input=false", "-no-color", *var, cwd=q)
    assert r.returncode == 0 and "1 to import, 0 to add" in r.stdout and "0 to destroy" in r.stdout, r.stdout + r.stderr
    ok(terraform.run("apply", "-auto-approve", "-input=false", "-no-color", *var, cwd=q))
    settle_import(terraform, q, *var)


def test_the_power_action_is_invoked_on_demand_and_from_a_trigger(terraform, start_lab, bmc_of):
    lab = start_lab("--nodes", "2", "--power-delay-ms", "100")

    def power(name):
        # Read through plain Redfish, as anyone would.
        bmc = bmc_of(lab, lab.node(name), https=False)
        return bmc.get(bmc.sys).json()["PowerState"]

    var = ("-var", f"lab_manifest={lab.manifest_path}")
    action = '''
action "baremetal_power" "off" {
  config {
    node  = "r1u01"
    power = "off"
  }
}
'''
    if version(terraform) < (1, 14):
        d = terraform.workdir("act", HEAD + action)
        r = terraform.run("validate", "-no-color", cwd=d)
        assert r.returncode != 0 and "action" in (r.stdout + r.stderr).lower(), r.stdout + r.stderr
        pytest.skip("Terraform before 1.14 has no actions: refused by the CLI, as checked")
    enrolled(terraform, lab)
    assert power("r1u01") == "On"

    d = terraform.workdir("act", HEAD + action)
    r = ok(terraform.run("apply", "-auto-approve", "-input=false", "-no-color",
                         "-invoke=action.baremetal_power.off", *var, cwd=d))
    assert power("r1u01") == "Off", r.stdout
    assert power("r1u02") == "On"
    assert "r1u01: power is Off" in r.stdout, r.stdout
    assert [a["outcome"] for a in audit(terraform, "node.power")] == ["ok"]

    # From a trigger: a change of the terraform_data input powers r1u02 through a cycle.
    trigger = '''
action "baremetal_power" "cycle" {
  config {
    node  = "r1u02"
    power = "cycle"
  }
}

resource "terraform_data" "settings" {
  input = var.generation
  lifecycle {
    action_trigger {
      events  = [after_update]
      actions = [action.baremetal_power.cycle]
    }
  }
}

variable "generation" { type = number }
'''
    t = terraform.workdir("trigger", HEAD + trigger)
    ok(terraform.run("apply", "-auto-approve", "-input=false", "-no-color", "-var", "generation=1", *var, cwd=t))
    assert len(audit(terraform, "node.power")) == 1, "created: the after_update trigger does not fire"
    r = ok(terraform.run("apply", "-auto-approve", "-input=false", "-no-color", "-var", "generation=2", *var, cwd=t))
    powered = audit(terraform, "node.power")
    assert len(powered) == 2 and powered[-1]["node"] == "r1u02", powered
    assert power("r1u02") == "On"

    # Bad input is refused before anything runs; a node in maintenance is refused and audited.
    bad = terraform.workdir("bad", HEAD + action.replace('power = "off"', 'power = "sideways"'))
    r = terraform.run("apply", "-auto-approve", "-input=false", "-no-color",
                      "-invoke=action.baremetal_power.off", *var, cwd=bad)
    assert r.returncode == 1 and '"sideways"' in r.stdout + r.stderr, r.stdout + r.stderr
    ok(terraform.bmplan("nodes", "maintenance", "r1u01", "on", "--reason", "disk swap"))
    on = terraform.workdir("on", HEAD + action.replace('power = "off"', 'power = "on"'))
    r = terraform.run("apply", "-auto-approve", "-input=false", "-no-color",
                      "-invoke=action.baremetal_power.off", *var, cwd=on)
    assert r.returncode == 1 and "maintenance" in r.stdout + r.stderr, r.stdout + r.stderr
    assert power("r1u01") == "Off"
    assert [a["outcome"] for a in audit(terraform, "node.power")][-1] == "denied"


def test_firmware_update_and_bmc_reset_actions(terraform, start_lab, bmc_of):
    lab = start_lab("--nodes", "1", "--task-delay-ms", "300")
    if version(terraform) < (1, 14):
        pytest.skip("Terraform before 1.14 has no actions (its refusal is checked above)")
    var = enrolled(terraform, lab)
    bmc = bmc_of(lab, lab.node("r1u01"), https=False)
    bios = lambda: bmc.get("/redfish/v1/UpdateService/FirmwareInventory/BIOS").json()["Version"]
    assert bios() != "9.9.9"
    update = '''
action "baremetal_firmware_update" "bios" {
  config {
    node      = "r1u01"
    image_url = "http://images.lab.invalid/bios-9.9.9.bin"
  }
}
'''
    d = terraform.workdir("fw", HEAD + update)
    r = ok(terraform.run("apply", "-auto-approve", "-input=false", "-no-color",
                         "-invoke=action.baremetal_firmware_update.bios", *var, cwd=d))
    assert bios() == "9.9.9", r.stdout
    assert "the update task ended Completed" in r.stdout, r.stdout
    assert [a["outcome"] for a in audit(terraform, "node.firmware")] == ["ok"]

    # An image the BMC refuses: the action fails with the BMC's message, audited as failed.
    bad = terraform.workdir("fw-bad", HEAD + update.replace("bios-9.9.9.bin", "nothing.bin"))
    r = terraform.run("apply", "-auto-approve", "-input=false", "-no-color",
                      "-invoke=action.baremetal_firmware_update.bios", *var, cwd=bad)
    assert r.returncode == 1 and "does not carry a version" in r.stdout + r.stderr, r.stdout + r.stderr
    rows = audit(terraform, "node.firmware")
    assert [a["outcome"] for a in rows] == ["ok", "failed"], rows
    assert "does not carry a version" in rows[-1]["detail"], rows[-1]

    # A URL with credentials: the update works, and the password is in no output, plan or audit row.
    secret = terraform.workdir("fw-secret", HEAD + update.replace(
        "http://images.lab.invalid/bios-9.9.9.bin", "http://fw:s3cret-pw@images.lab.invalid/bios-9.9.10.bin"))
    r = ok(terraform.run("apply", "-auto-approve", "-input=false", "-no-color",
                         "-invoke=action.baremetal_firmware_update.bios", *var, cwd=secret))
    assert bios() == "9.9.10", r.stdout
    rows = json.dumps(audit(terraform, "node.firmware"))
    assert "s3cret-pw" not in r.stdout + r.stderr + rows, r.stdout
    assert "images.lab.invalid" in rows  # the URL is there, shown without its password

    # The BMC restarted: the lab counts it, and a session opened before it no longer works.
    before = bmc.post("/redfish/v1/SessionService/Sessions",
                      {"UserName": lab.node("r1u01")["username"], "Password": lab.node("r1u01")["password"]})
    token = before.headers["X-Auth-Token"]
    reset = terraform.workdir("reset", HEAD + '''
action "baremetal_bmc_reset" "r1u01" {
  config {
    node    = "r1u01"
    timeout = "2m"
  }
}
''')
    r = ok(terraform.run("apply", "-auto-approve", "-input=false", "-no-color",
                         "-invoke=action.baremetal_bmc_reset.r1u01", *var, cwd=reset))
    assert lab.node_detail("r1u01")["manager_resets"] == 1, r.stdout
    assert "the BMC answers again" in r.stdout, r.stdout
    stale = requests.get(bmc.url(bmc.sys), headers={"X-Auth-Token": token, "OData-Version": "4.0"}, timeout=10)
    assert stale.status_code == 401, stale.status_code
    assert [a["outcome"] for a in audit(terraform, "node.bmc_reset")] == ["ok"]


def test_a_bmc_session_works_during_the_run_and_is_gone_after_it(terraform, start_lab, tmp_path):
    lab = start_lab("--nodes", "1")
    var = enrolled(terraform, lab)
    seen = tmp_path / "seen.json"
    probe = f"""
import json, os, urllib.request
req = urllib.request.Request(os.environ["URL"] + os.environ["URI"], headers={{"X-Auth-Token": os.environ["TOKEN"]}})
urllib.request.urlopen(req, timeout=10).read()
json.dump({{"token": os.environ["TOKEN"], "uri": os.environ["URI"], "ok": True}}, open({str(seen)!r}, "w"))
"""
    d = terraform.workdir("session", HEAD + '''
ephemeral "baremetal_bmc_session" "s" {
  node = "r1u01"
}

resource "terraform_data" "use" {
  provisioner "local-exec" {
    command = "python3 probe.py"
    environment = {
      TOKEN = ephemeral.baremetal_bmc_session.s.token
      URL   = ephemeral.baremetal_bmc_session.s.url
      URI   = ephemeral.baremetal_bmc_session.s.session_uri
    }
  }
}
''', files={"probe.py": probe})
    r = ok(terraform.run("apply", "-auto-approve", "-input=false", "-no-color", *var, cwd=d))
    got = json.loads(seen.read_text())
    assert got["ok"] and len(got["token"]) >= 16, got
    # The session answered with its token during the run, and is gone from the BMC after it.
    node = lab.node("r1u01")
    gone = requests.get(node["bmc_url"] + got["uri"], headers={"X-Auth-Token": got["token"]}, timeout=10)
    assert gone.status_code in (401, 404), gone.status_code
    # The token is nowhere Terraform keeps things.
    assert got["token"] not in (d / "terraform.tfstate").read_text()
    assert got["token"] not in r.stdout + r.stderr
    opened, closed = audit(terraform, "node.session.open"), audit(terraform, "node.session.close")
    assert len(opened) >= 1 and len(closed) == len(opened), (opened, closed)
    assert all(got["token"] not in json.dumps(a) for a in opened + closed)

    # A node that does not exist: the run fails at the ephemeral resource, naming it.
    e = terraform.workdir("nosuch", HEAD + '''
ephemeral "baremetal_bmc_session" "s" {
  node = "r9u99"
}
''')
    r = terraform.run("plan", "-input=false", "-no-color", *var, cwd=e)
    assert r.returncode == 1 and "r9u99" in r.stdout + r.stderr, r.stdout + r.stderr


def test_an_interrupted_apply_stops_the_provider_work_promptly(terraform, start_lab):
    """Ctrl-C in Terraform sends StopProvider: the node's converge in progress (a reset that takes
    8 s per power transition on this lab) is abandoned, so Terraform exits in seconds, not after the
    reset; the next apply finishes the work."""
    import os
    import signal
    import subprocess
    import time

    lab = start_lab("--nodes", "1", "--power-delay-ms", "8000")
    var = ("-var", f"lab_manifest={lab.manifest_path}")
    d = terraform.workdir("interrupt", HEAD + '''
resource "baremetal_profile" "p" {
  name = "p"
  bios = { ProcTurboMode = "Disabled" }
}
''' + NODES.replace("rack                = each.value.rack",
                    "rack                = each.value.rack\n  profile             = baremetal_profile.p.name"))
    proc = subprocess.Popen([terraform.exe, "apply", "-auto-approve", "-input=false", "-no-color", *var],
                            cwd=d, env=terraform.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    import threading
    out = []
    creating = threading.Event()

    def read():
        for line in proc.stdout:
            out.append(line)
            if "baremetal_node.lab" in line and "Creating..." in line:
                creating.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not creating.wait(timeout=60):
        proc.kill()
        raise AssertionError("no node create began within 60 s: " + "".join(out))
    time.sleep(2)  # enrolled, now waiting on the reset (two 8 s power transitions)
    os.kill(proc.pid, signal.SIGINT)
    interrupted = time.monotonic()
    proc.wait(timeout=60)
    took = time.monotonic() - interrupted
    reader.join(timeout=10)
    text = "".join(out)
    assert proc.returncode != 0, text
    flat = " ".join(text.split())
    assert "Error: Interrupted" in flat and "the operation was abandoned part-way" in flat, text
    # Well under the ~14 s of reset still to run when it was interrupted.
    assert took < 10, f"Terraform took {took:.1f}s to stop: {text}"
    # What the create had made (the enrolled node) is kept, tainted, for the next apply to replace.
    state = json.loads((d / "terraform.tfstate").read_text())
    node = [i for res in state["resources"] if res["type"] == "baremetal_node" for i in res["instances"]]
    assert len(node) == 1 and node[0].get("status") == "tainted", state

    # The next apply (a new provider process) takes the dead one's leases over and finishes.
    r = ok(terraform.run("apply", "-auto-approve", "-input=false", "-no-color", *var, cwd=d, timeout=300))
    assert "Apply complete!" in r.stdout, r.stdout
