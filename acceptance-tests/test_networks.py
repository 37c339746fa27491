"""Subnets and static addresses (IPAM) under the real Terraform CLIs, on the lab: every bad subnet
and every unusable pin is an error at its line at plan time with nothing written; a subnet that
overlaps another network's is refused; an exhausted subnet fails the plan of the host that needs
one; subnets read back as written and import in canonical form."""

import json
import re

from conftest import settle_import
from test_host_lifecycle import ImageServer, sha256

HEADER = 'terraform {\n  required_providers {\n    baremetal = { source = "bmplan/baremetal" }\n  }\n}\n'


def errors(r):
    """Terraform's diagnostics, whitespace folded."""
    return " ".join((r.stdout + r.stderr).split())


def test_bad_subnets_are_errors_at_their_lines_and_nothing_is_written(terraform):
    config = HEADER + '''
resource "baremetal_network" "a" {
  name    = "a"
  vlan_id = 10
  subnet {
    cidr    = "10.1.0.0/24"
    gateway = "10.2.0.1"
  }
  subnet {
    cidr = "10.1.0.5/24"
  }
  subnet {
    cidr   = "10.3.0.0/24"
    ranges = ["10.3.0.50-10.3.0.40"]
    mode   = "slaac"
  }
}
'''
    d = terraform.workdir("bad-subnets", config)
    r = terraform.run("validate", "-no-color", cwd=d)
    assert r.returncode == 1, r.stdout + r.stderr
    e = errors(r)
    for line, why in [(12, "10.2.0.1 is outside the subnet 10.1.0.0/24"),
                      (15, '"10.1.0.5/24" has host bits set: the subnet is 10.1.0.0/24'),
                      (19, 'range "10.3.0.50-10.3.0.40" ends before it starts'),
                      (20, "slaac is IPv6's; 10.3.0.0/24 is IPv4")]:
        assert re.search(rf"on main\.tf line {line}, in resource \"baremetal_network\" \"a\": {line}: [^:]+ {re.escape(why)}", e), (why, e)
    r = terraform.run("apply", "-auto-approve", "-input=false", "-no-color", cwd=d)
    assert r.returncode == 1
    assert json.loads(terraform.bmplan("nodes", "list", "--json").stdout) == []
    assert "baremetal_network" not in (d / "terraform.tfstate").read_text() if (d / "terraform.tfstate").exists() \
        else True


def test_a_subnet_overlapping_another_networks_is_refused_and_subnets_read_back_as_written(terraform):
    first = HEADER + '''
resource "baremetal_network" "a" {
  name    = "a"
  vlan_id = 10
  subnet {
    cidr    = "fd00:0:0::/64"
    gateway = "fd00::1"
  }
  subnet {
    cidr        = "10.1.0.0/16"
    dns_servers = ["10.1.0.53"]
  }
}
'''
    d = terraform.workdir("overlap", first)
    r = terraform.run("apply", "-auto-approve", "-input=false", "-no-color", cwd=d)
    assert r.returncode == 0, r.stdout + r.stderr
    # Written in a longer form, read back as written: nothing to do.
    r = terraform.run("plan", "-input=false", "-no-color", "-detailed-exitcode", cwd=d)
    assert r.returncode == 0, r.stdout + r.stderr
    second = first + '''
resource "baremetal_network" "b" {
  name    = "b"
  vlan_id = 20
  subnet {
    cidr = "10.1.2.0/24"
  }
}
'''
    (d / "main.tf").write_text(second)
    r = terraform.run("plan", "-input=false", "-no-color", cwd=d)
    assert r.returncode == 1, r.stdout + r.stderr
    e = errors(r)
    assert 'Overlapping subnet' in e and '10.1.2.0/24 overlaps 10.1.0.0/16 of network "a"' in e, e
    assert "on main.tf line 24, in resource \"baremetal_network\" \"b\"" in e, e
    # Imported, a network reads back in canonical form.
    canonical = first.replace('"fd00:0:0::/64"', '"fd00::/64"')
    fresh = terraform.workdir("overlap-imported", canonical)
    r = terraform.run("import", "-input=false", "-no-color", "baremetal_network.a", "a", cwd=fresh)
    assert r.returncode == 0, r.stdout + r.stderr
    settle_import(terraform, fresh)
    (d / "main.tf").write_text(first)
    r = terraform.run("destroy", "-auto-approve", "-input=false", "-no-color", cwd=d)
    assert r.returncode == 0, r.stdout + r.stderr


def lab_config(lab, hosts):
    nodes = "".join(f'''
resource "baremetal_node" "n{i}" {{
  name      = "{n['name']}"
  bmc_url   = "{n['bmc_url']}"
  system_id = "{n['system_id']}"
  username  = "{n['username']}"
  password  = "{n['password']}"
  port {{
    switch   = baremetal_switch.tor.name
    port     = "{n['switch_ports'][0]}"
    mac      = "{n['macs'][0]}"
    networks = [baremetal_network.tiny.name]
  }}
}}
''' for i, n in enumerate(lab.manifest["nodes"]))
    sw = lab.manifest["switches"][0]
    return HEADER + f'''
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
# Two allocatable addresses: .0 is the network, .1 the gateway, .2 reserved, .7 broadcast; and
# ranges leave .3 and .4.
resource "baremetal_network" "tiny" {{
  name    = "tiny"
  vlan_id = 300
  subnet {{
    cidr     = "10.30.0.0/29"
    gateway  = "10.30.0.1"
    reserved = ["10.30.0.2"]
    ranges   = ["10.30.0.1-10.30.0.4"]
  }}
}}
{nodes}
{hosts}
'''


def host(name, node, image, checksum, pin=None):
    block = f'''
  address {{
    network = "tiny"
    address = "{pin}"
  }}''' if pin else ""
    return f'''
resource "baremetal_host" "{name}" {{
  name           = "{name}"
  node           = baremetal_node.{node}.name
  image_url      = "{image}"
  image_checksum = "{checksum}"
  image_format   = "iso"
  wait           = "power_off"{block}
}}
'''


def test_pins_and_exhaustion_are_refused_at_plan_and_addresses_are_kept_and_released(terraform, start_lab):
    lab = start_lab("--nodes", "3", "--tls", "--power-delay-ms", "100", "--task-delay-ms", "100")
    body = b"installer\n" * 10000
    images = ImageServer({"os.iso": body})
    try:
        assert terraform.bmplan("projects", "create", "lab").returncode == 0
        terraform.env["BAREMETAL_PROJECT"] = "lab"
        url, checksum = f"{images.base}/os.iso", sha256(body)
        d = terraform.workdir("tiny", lab_config(lab, ""))
        r = terraform.run("apply", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        # A pin on the gateway, on a reserved address, outside the subnet: errors at their lines.
        for pin, why in [("10.30.0.1", "10.30.0.1 is the gateway of 10.30.0.0/29"),
                         ("10.30.0.2", "10.30.0.2 is reserved on 10.30.0.0/29"),
                         ("10.31.0.9", 'is in no subnet of network "tiny" (10.30.0.0/29)')]:
            (d / "main.tf").write_text(lab_config(lab, host("a", "n0", url, checksum, pin)))
            r = terraform.run("plan", "-input=false", "-no-color", cwd=d)
            assert r.returncode == 1, r.stdout + r.stderr
            e = errors(r)
            assert "Address not available" in e and why in e, e
            assert re.search(r"on main\.tf line \d+, in resource \"baremetal_host\" \"a\"", e), e
        # Two hosts take the two addresses (one pinned)…
        two = host("a", "n0", url, checksum, "10.30.0.4") + host("b", "n1", url, checksum)
        (d / "main.tf").write_text(lab_config(lab, two))
        r = terraform.run("apply", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        listed = {h["name"]: h["addresses"] for h in json.loads(terraform.bmplan("hosts", "list", "--json").stdout)}
        assert listed == {"a": {"tiny": ["10.30.0.4"]}, "b": {"tiny": ["10.30.0.3"]}}, listed
        state = json.loads(terraform.run("show", "-json", cwd=d).stdout)
        addrs = {r["values"]["name"]: r["values"]["addresses"] for r in state["values"]["root_module"]["resources"]
                 if r["type"] == "baremetal_host"}
        assert addrs == listed, addrs
        # …so a third fails its plan, naming the subnet, with nothing touched.
        (d / "main.tf").write_text(lab_config(lab, two + host("c", "n2", url, checksum)))
        r = terraform.run("plan", "-input=false", "-no-color", cwd=d)
        assert r.returncode == 1, r.stdout + r.stderr
        e = errors(r)
        assert 'network "tiny" subnet 10.30.0.0/29 is exhausted: all 2 allocatable addresses are held' in e, e
        # A pin another host holds is refused too.
        (d / "main.tf").write_text(lab_config(lab, two + host("c", "n2", url, checksum, "10.30.0.3")))
        r = terraform.run("plan", "-input=false", "-no-color", cwd=d)
        assert r.returncode == 1 and "10.30.0.3 on network \"tiny\" is held by host lab/b" in errors(r), errors(r)
        # Moving a's pin is a rebuild (the address reaches the system through its config drive)…
        (d / "main.tf").write_text(lab_config(lab, host("a", "n0", url, checksum) + host("b", "n1", url, checksum)))
        r = terraform.run("plan", "-input=false", "-no-color", cwd=d)
        assert r.returncode == 0 and "address changed" in errors(r), errors(r)
        # Deleting b frees its address for c. (In one apply, c's plan would still see b's address
        # held: the plan of one resource does not know another is being destroyed.)
        (d / "main.tf").write_text(lab_config(lab, host("a", "n0", url, checksum, "10.30.0.4")))
        r = terraform.run("apply", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        (d / "main.tf").write_text(lab_config(lab, host("a", "n0", url, checksum, "10.30.0.4")
                                              + host("c", "n2", url, checksum)))
        r = terraform.run("apply", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        listed = {h["name"]: h["addresses"] for h in json.loads(terraform.bmplan("hosts", "list", "--json").stdout)}
        assert listed == {"a": {"tiny": ["10.30.0.4"]}, "c": {"tiny": ["10.30.0.3"]}}, listed
        r = terraform.run("destroy", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=600)
        assert r.returncode == 0, r.stdout + r.stderr
        assert json.loads(terraform.bmplan("hosts", "list", "--json").stdout) == []
    finally:
        images.stop()
