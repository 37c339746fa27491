"""IPMI BMCs (`ipmi://host[:port]`), driven through Debian's ipmitool, against OpenIPMI's `ipmi_sim`:
a BMC we did not write (only its configuration is ours, from the IPMI specification:
peers/ipmisim.py). The same calls run against virtualbmc on the VM rig (test_vm_rig.py).

- Terraform enrolls an IPMI node: FRU (manufacturer, model, serial), power and sensors are read.
- `bmplan nodes power|boot|identify|events` drive power, the boot device, the identify light and the
  system event log; what the BMC was told reaches the simulated server (its chassis control log).
- A profile with BIOS settings on an IPMI node is refused at plan, naming the node and the
  protocol, and nothing is sent to the BMC.
- `bmplan nodes console`, driven through a pseudo-terminal, shows what the server prints on its
  serial port (serial-over-LAN), sends keystrokes to it, and detaches on Ctrl-].
- Wrong credentials and a silent address are told apart (exit codes 3 and 4), with no password in
  any output; discovery finds IPMI BMCs.
"""

import json
import os
import pty
import subprocess
import time

import pytest

from conftest import bmplan_path, read_until
from peers.ipmisim import IpmiSim, MANUFACTURER, PART, PASSWORD, PRODUCT, SERIAL, USER, free_udp_port


@pytest.fixture
def sim(tmp_path):
    with IpmiSim(tmp_path / "sim") as s:
        yield s


HEAD = '''
terraform {
  required_providers {
    baremetal = { source = "bmplan/baremetal" }
  }
}
'''


def node_hcl(url, password=PASSWORD, extra=""):
    return f'''
resource "baremetal_node" "sim" {{
  name                = "sim-1"
  bmc_url             = "{url}"
  username            = "{USER}"
  password_wo         = "{password}"
  password_wo_version = 1
{extra}}}
'''


BIOS_PROFILE = '''
resource "baremetal_profile" "tuned" {
  name = "tuned"
  bios = {
    ProcTurboMode = "Disabled"
  }
}
'''


def ok(r):
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def audit(terraform, action):
    rows = json.loads(terraform.bmplan("audit", "--format", "json").stdout)
    return [r for r in rows if r["action"] == action]


def no_password_in(*texts):
    for t in texts:
        assert PASSWORD not in t


def test_terraform_enrolls_an_ipmi_node_with_its_fru_power_and_sensors(terraform, sim):
    d = terraform.workdir("enroll", HEAD + node_hcl(sim.url))
    r = ok(terraform.run("apply", "-auto-approve", "-input=false", "-no-color", cwd=d))
    state = json.loads(terraform.run("show", "-json", cwd=d).stdout)
    attrs = state["values"]["root_module"]["resources"][0]["values"]
    assert (attrs["manufacturer"], attrs["serial"], attrs["power"]) == (MANUFACTURER, SERIAL, "Off"), attrs
    node = json.loads(terraform.bmplan("nodes", "show", "sim-1", "--json").stdout)
    assert (node["model"], node["state"], node["system_id"]) == (PRODUCT, "available", "1"), node
    # The sensors and the BMC's firmware, read by `bmplan inspect` from the same BMC.
    r = subprocess.run([bmplan_path(), "inspect", sim.url, "--username", USER, "--password-env", "SIM_PW", "--json"],
                       env=dict(os.environ, SIM_PW=PASSWORD), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    inv = json.loads(r.stdout)
    assert inv["sensors"]["temperatures"] == [
        {"name": "CPU Temp", "value": 45.0, "units": "Cel", "health": "OK"}], inv["sensors"]
    assert inv["firmware"] == [{"id": "BMC", "name": "BMC firmware", "version": "2.17", "updateable": False}]
    assert inv["sku"] == PART and inv["health"] == "OK"
    assert any("IPMI does not report them" in u for u in inv["unavailable"]), inv["unavailable"]
    no_password_in(r.stdout, r.stderr, (d / "terraform.tfstate").read_text(), terraform.log.read_text())
    # Terraform's plan is clean after the apply.
    r = terraform.run("plan", "-input=false", "-no-color", "-detailed-exitcode", cwd=d)
    assert r.returncode == 0, r.stdout + r.stderr


def test_power_boot_device_identify_and_the_event_log_through_bmplan(terraform, sim):
    d = terraform.workdir("ops", HEAD + node_hcl(sim.url))
    ok(terraform.run("apply", "-auto-approve", "-input=false", "-no-color", cwd=d))

    def power():
        return sim.ipmitool("chassis", "power", "status").stdout.strip()

    ok(terraform.bmplan("nodes", "power", "sim-1", "on"))
    assert power() == "Chassis Power is on"
    # Off is ACPI soft off first: the simulated OS obeys it.
    r = ok(terraform.bmplan("nodes", "power", "sim-1", "off"))
    assert power() == "Chassis Power is off" and "sim-1: power is Off" in r.stdout, r.stdout
    assert "set shutdown 1" in sim.machine()[1]
    ok(terraform.bmplan("nodes", "power", "sim-1", "reboot"))  # from off: powered on
    ok(terraform.bmplan("nodes", "power", "sim-1", "reboot"))  # from on: a reset
    assert power() == "Chassis Power is on" and sim.machine()[0].get("resets") == 1, sim.machine()

    r = ok(terraform.bmplan("nodes", "boot", "sim-1", "pxe", "--persistent", "--mode", "uefi"))
    assert sim.machine()[0]["boot"] == "pxe"
    # ipmi_sim keeps the device but not the flags (it answers the flags as not valid): what it said.
    assert "sim-1: boot device Pxe (Disabled, Legacy)" in r.stdout, r.stdout
    ok(terraform.bmplan("nodes", "boot", "sim-1", "disk"))
    assert sim.machine()[0]["boot"] == "default"  # the simulator's word for the hard disk

    ok(terraform.bmplan("nodes", "identify", "sim-1", "--seconds", "10"))
    assert sim.machine()[0]["identify"] == "10 0"
    ok(terraform.bmplan("nodes", "identify", "sim-1"))
    assert sim.machine()[0]["identify"] == "0 1"  # force: on until turned off
    ok(terraform.bmplan("nodes", "identify", "sim-1", "--off"))
    assert sim.machine()[0]["identify"] == "0 0"

    events = json.loads(ok(terraform.bmplan("nodes", "events", "sim-1", "--json")).stdout)
    assert [e["message"] for e in events] == [
        "Upper Critical going high (Asserted): Reading 91 > Threshold 90 degrees C",
        "Power off/down (Asserted)"], events
    assert [e["source"] for e in events] == ["Temperature CPU Temp", "Power Unit #0x02"]
    assert json.loads(ok(terraform.bmplan("nodes", "events", "sim-1", "--max", "1", "--json")).stdout) == events[1:]

    assert [a["outcome"] for a in audit(terraform, "node.power")] == ["ok"] * 4
    assert [a["outcome"] for a in audit(terraform, "node.boot")] == ["ok"] * 2
    assert [a["outcome"] for a in audit(terraform, "node.identify")] == ["ok"] * 3
    # Power cycle: off (forced), then on.
    before = len(sim.machine()[1])
    ok(terraform.bmplan("nodes", "power", "sim-1", "cycle"))
    assert "set power 0" in sim.machine()[1][before:] and power() == "Chassis Power is on"


def test_a_profile_ipmi_cannot_carry_is_refused_at_plan_and_nothing_is_sent(terraform, sim):
    d = terraform.workdir("refuse", HEAD + BIOS_PROFILE + node_hcl(sim.url))
    ok(terraform.run("apply", "-auto-approve", "-input=false", "-no-color", cwd=d))
    sent = len(sim.machine()[1])
    # The node is given the BIOS profile: refused at plan, at the profile attribute.
    (d / "main.tf").write_text(HEAD + BIOS_PROFILE + node_hcl(sim.url, extra="  profile = baremetal_profile.tuned.name\n"))
    r = terraform.run("plan", "-input=false", "-no-color", cwd=d)
    err = " ".join(r.stderr.split())
    assert r.returncode == 1, r.stdout + r.stderr
    assert "Not supported by the node's BMC protocol" in err, err
    assert "node sim-1 is managed over IPMI" in err and "has no BIOS attributes" in err, err
    assert "profile = baremetal_profile.tuned.name" in r.stderr, r.stderr
    # The same refusal from bmplan, located at the profile's BIOS attribute, before any BMC read.
    cfg = terraform.workdir("bmplan-cfg", BIOS_PROFILE + node_hcl(sim.url, extra="  profile = baremetal_profile.tuned.name\n"))
    r = terraform.bmplan("plan", str(cfg))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "main.tf:" in r.stderr and "has no BIOS attributes" in r.stderr and "IPMI" in r.stderr, r.stderr
    no_password_in(r.stdout, r.stderr)
    # Terraform's refresh read the power; nothing was set.
    told = sim.machine()[1][sent:]
    assert not [line for line in told if line.startswith("set")], told


def test_boot_settings_ipmi_cannot_have_or_a_bad_mac_are_errors_at_their_attribute(terraform, sim):
    """IPMI has no virtual media: `boot_interface = "virtual_media"` on an IPMI node, and a
    `pxe_mac` that is not a MAC, are refused by `terraform validate` and `bmplan validate` at their
    lines, before anything is sent to the BMC."""
    sent = len(sim.machine()[1])
    bad = node_hcl(sim.url, extra='  boot_interface = "virtual_media"\n  pxe_mac = "52:54:00:zz:00:01"\n')
    d = terraform.workdir("bootbad", HEAD + bad)
    r = terraform.run("validate", "-no-color", cwd=d)
    err = " ".join(r.stderr.split())
    assert r.returncode == 1, r.stdout + r.stderr
    assert "node sim-1 is managed over IPMI" in err and "which has no virtual media" in err, err
    assert 'boot_interface = "virtual_media"' in r.stderr, r.stderr
    assert '"52:54:00:zz:00:01" is not a MAC address' in err and 'pxe_mac = "52:54:00:zz:00:01"' in r.stderr, err
    r = terraform.bmplan("validate", str(d))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "main.tf:" in r.stderr and "boot_interface" in r.stderr and "pxe_mac" in r.stderr, r.stderr
    # The same node with PXE and its MAC in capitals is valid.
    good = node_hcl(sim.url, extra='  boot_interface = "pxe"\n  pxe_mac = "52:54:00:AB:00:01"\n')
    (d / "main.tf").write_text(HEAD + good)
    ok(terraform.run("validate", "-no-color", cwd=d))
    assert not [line for line in sim.machine()[1][sent:] if line.startswith("set")]


def test_bmplan_nodes_netboot_sets_the_pxe_mac_and_refuses_virtual_media_on_ipmi(terraform, sim):
    d = terraform.workdir("netboot", HEAD + node_hcl(sim.url))
    ok(terraform.run("apply", "-auto-approve", "-input=false", "-no-color", cwd=d))
    r = terraform.bmplan("nodes", "netboot", "sim-1", "--interface", "virtual_media")
    assert r.returncode != 0 and "which has no virtual media" in r.stderr, r.stdout + r.stderr
    r = terraform.bmplan("nodes", "netboot", "sim-1", "--pxe-mac", "52-54-00-AB-00-01")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == (
        "sim-1: the deploy agent boots by pxe (the default for its BMC); PXE MAC 52:54:00:ab:00:01"), r.stdout
    r = terraform.bmplan("nodes", "netboot", "sim-1", "--pxe-mac", "52:54:00:ab:00")
    assert r.returncode != 0 and "is not a MAC address" in r.stderr, r.stdout + r.stderr
    # Kept, and what Terraform reads back.
    state = terraform.run("refresh", "-input=false", "-no-color", cwd=d)
    ok(state)
    shown = ok(terraform.run("state", "show", "-no-color", "baremetal_node.sim", cwd=d)).stdout
    assert 'pxe_mac' in shown and '"52:54:00:ab:00:01"' in shown, shown
    assert [a["outcome"] for a in audit(terraform, "node.configure")][-1] == "ok"


def test_wrong_credentials_and_a_silent_address_are_told_apart(sim):
    def inspect(url, password):
        return subprocess.run([bmplan_path(), "inspect", url, "--username", USER, "--password-env", "SIM_PW",
                               "--timeout", "3"], env=dict(os.environ, SIM_PW=password),
                              capture_output=True, text=True, timeout=120)

    r = inspect(sim.url, "not-the-password")
    assert r.returncode == 3, r.stdout + r.stderr
    assert f'refused the credentials for user "{USER}"' in r.stderr, r.stderr
    assert "not-the-password" not in r.stdout + r.stderr
    silent = f"ipmi://127.0.0.1:{free_udp_port()}?cipher_suite=3"
    r = inspect(silent, PASSWORD)
    assert r.returncode == 4, r.stdout + r.stderr
    assert "could not reach the BMC" in r.stderr, r.stderr
    no_password_in(r.stdout, r.stderr)
    # TLS settings on an IPMI endpoint are refused before anything is sent.
    r = subprocess.run([bmplan_path(), "inspect", sim.url, "--username", USER, "--password-env", "SIM_PW",
                        "--insecure"], env=dict(os.environ, SIM_PW=PASSWORD), capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0 and "IPMI has no certificates" in r.stderr, r.stderr


def test_discovery_finds_ipmi_bmcs_and_enrolls_them(terraform, sim):
    silent = free_udp_port()
    env = dict(terraform.env, SIM_PW=PASSWORD)
    r = subprocess.run([bmplan_path(), "--inventory", terraform.inventory, "nodes", "discover",
                        f"ipmi://127.0.0.1:{sim.port}?cipher_suite=3", f"ipmi://127.0.0.1:{silent}?cipher_suite=3",
                        "--username", USER,
                        "--password-env", "SIM_PW", "--probe-timeout", "2", "--json"],
                       env=env, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "probed 2 addresses: 0 Redfish services, 1 IPMI BMCs, 0 other answers" in r.stderr, r.stderr
    nodes = json.loads(terraform.bmplan("nodes", "list", "--json").stdout)
    assert [(n["bmc_url"], n["serial"]) for n in nodes] == [(sim.url, SERIAL)], nodes
    no_password_in(r.stdout, r.stderr)


def test_the_serial_console_shows_the_servers_output_takes_keystrokes_and_detaches(terraform, tmp_path):
    uart, line = pty.openpty()  # the server's serial port: the test is the server
    with IpmiSim(tmp_path / "sol", sol_device=os.ttyname(line)) as sim:
        d = terraform.workdir("console", HEAD + node_hcl(sim.url))
        ok(terraform.run("apply", "-auto-approve", "-input=false", "-no-color", cwd=d))
        for attach in (1, 2):  # the second proves the first ended its session on the BMC
            pid, term = pty.fork()
            if pid == 0:
                os.execve(bmplan_path(), [bmplan_path(), "--inventory", terraform.inventory, "nodes", "console",
                                          "sim-1"], terraform.env)
            seen = read_until(term, b"SOL Session operational")
            assert b"sim-1: serial console attached; detach with Ctrl-]" in seen, seen
            os.write(uart, f"Debian GNU/Linux 12 sim-1 ttyS0 (attach {attach})\r\n".encode())
            seen = read_until(term, f"(attach {attach})".encode())
            assert f"Debian GNU/Linux 12 sim-1 ttyS0 (attach {attach})".encode() in seen, seen
            if attach == 1:
                # (ipmi_sim drops a new session's first keystroke packet when its sequence number
                # is the previous session's last: measured, so keystrokes are checked once.)
                os.write(term, b"root\r")
                assert b"root\r" in read_until(uart, b"root\r"), "the keystrokes did not reach the server"
            os.write(term, b"\x1d")  # Ctrl-]
            seen = read_until(term, b"sim-1: detached")
            assert b"sim-1: detached" in seen, seen
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
            os.close(term)
        assert [a["outcome"] for a in audit(terraform, "node.console")] == ["ok", "ok"]
    os.close(uart)
    os.close(line)
