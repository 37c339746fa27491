"""The lab's top-of-rack switch, driven over SSH with paramiko (not our code), and kept honest against
the independent fake-switches peer: the same commands must leave the same configuration on both."""

import pathlib
import socket
import subprocess
import sys
import time

import paramiko
import pytest
import requests

from peers.ios import IosShell, MORE, PROMPT

SCRIPT = [
    "configure terminal",
    "vlan 100",
    "name provisioning",
    "exit",
    "vlan 200",
    "name tenant",
    "exit",
    "interface GigabitEthernet0/1",
    "description r1u01-nic1",
    "switchport mode access",
    "switchport access vlan 100",
    "exit",
    "interface GigabitEthernet0/2",
    "switchport mode trunk",
    "switchport trunk allowed vlan 100,200",
    "switchport trunk native vlan 100",
    "exit",
    "interface GigabitEthernet0/3",
    "shutdown",
    "exit",
    "exit",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"peer exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port}")


@pytest.fixture
def fake_cisco(tmp_path):
    port = free_port()
    log = open(tmp_path / "fake-switch.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "peers.fake_switch", "--model", "cisco_generic", "--port", str(port),
         "--hostname", "fake0", "--username", "admin", "--password", "pw", "--enable-password", "en", "--ports", "8"],
        cwd=str(pathlib.Path(__file__).parent), stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        wait_port(port, proc)
        yield {"address": f"127.0.0.1:{port}", "username": "admin", "password": "pw", "enable_password": "en"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


@pytest.fixture
def lab_switch(start_lab):
    lab = start_lab("--nodes", "4")
    return lab, lab.manifest["switches"][0]


def switch_state(lab, sw):
    """The switch's configuration as the lab's control endpoint reports it."""
    return requests.get(f"{lab.control}/switches/{sw['name']}", timeout=5).json()


def shell(sw):
    host, port = sw["address"].rsplit(":", 1)
    s = IosShell(host, int(port), sw["username"], sw["password"])
    s.enable(sw["enable_password"])
    s.run("terminal length 0")
    return s


def interface_lines(sh, name):
    out = sh.run(f"show running-config interface {name}")
    return sorted(line.strip() for line in out.split("\n") if line.startswith(" "))


def vlan_row(sh, vlan):
    out = sh.run("show vlan brief")
    return next((line.split() for line in out.split("\n") if line.startswith(f"{vlan} ")), None)


def test_same_commands_leave_the_same_configuration_on_the_lab_and_fake_switches(lab_switch, fake_cisco):
    _, lab_sw = lab_switch
    results = {}
    for label, sw in (("lab", lab_sw), ("fake", fake_cisco)):
        sh = shell(sw)
        for line in SCRIPT:
            out = sh.run(line)
            assert "%" not in out or "Enter configuration" in out, f"{label}: {line!r} -> {out!r}"
        results[label] = {
            "gi1": interface_lines(sh, "GigabitEthernet0/1"),
            "gi2": interface_lines(sh, "GigabitEthernet0/2"),
            "gi3": interface_lines(sh, "GigabitEthernet0/3"),
            "vlan100": vlan_row(sh, 100)[:3],
            "vlan200": vlan_row(sh, 200)[:3],
        }
        sh.close()
    assert results["lab"] == results["fake"]
    assert "switchport access vlan 100" in results["lab"]["gi1"]
    assert "switchport trunk allowed vlan 100,200" in results["lab"]["gi2"]


def test_wrong_login_or_enable_password_is_refused(lab_switch):
    _, sw = lab_switch
    host, port = sw["address"].rsplit(":", 1)
    with pytest.raises(paramiko.AuthenticationException):
        IosShell(host, int(port), sw["username"], "wrong")
    sh = IosShell(host, int(port), sw["username"], sw["password"])
    with pytest.raises(PermissionError):
        sh.enable("wrong")
    sh.close()


def test_a_bad_command_gets_a_caret_and_changes_nothing(lab_switch):
    lab, sw = lab_switch
    sh = shell(sw)
    sh.run("configure terminal")
    sh.run("interface GigabitEthernet0/1")
    out = sh.run("switchport mode sideways")
    assert "% Invalid input detected at '^' marker." in out
    assert out.split("\n")[0].rstrip().endswith("^")
    out = sh.run("switchport access vlan 9999")
    assert "% Invalid input detected" in out
    sh.close()
    state = switch_state(lab, sw)
    gi1 = next(p for p in state["ports"] if p["name"] == "GigabitEthernet0/1")
    assert gi1["mode"] == "access" and gi1["access_vlan"] == 1


def test_an_injected_rejection_is_reported_and_not_applied(lab_switch):
    lab, sw = lab_switch
    requests.put(f"{lab.control}/switches/{sw['name']}/faults", json={"reject": "vlan 300"}, timeout=5).raise_for_status()
    sh = shell(sw)
    sh.run("configure terminal")
    out = sh.run("vlan 300")
    assert out.startswith("Command rejected:"), out
    sh.close()
    state = switch_state(lab, sw)
    assert 300 not in [v["id"] for v in state["vlans"]]


def test_a_session_dropped_mid_batch_keeps_what_was_applied(lab_switch):
    lab, sw = lab_switch
    sh = shell(sw)
    requests.put(f"{lab.control}/switches/{sw['name']}/faults", json={"drop_after": 2}, timeout=5).raise_for_status()
    sh.run("configure terminal")
    sh.run("vlan 310")
    with pytest.raises((EOFError, OSError, TimeoutError)):
        sh.run("vlan 320")
        sh.run("vlan 330")
    state = switch_state(lab, sw)
    ids = [v["id"] for v in state["vlans"]]
    assert 310 in ids and 320 not in ids


def test_long_output_pages_at_more_until_terminal_length_zero(lab_switch):
    _, sw = lab_switch
    host, port = sw["address"].rsplit(":", 1)
    sh = IosShell(host, int(port), sw["username"], sw["password"])
    sh.enable(sw["enable_password"])
    sh.send_raw("show interfaces status\n")
    first = sh.read_until(MORE)
    assert 48 > first.count("Gi0/") > 5
    sh.send_raw(" ")
    rest = sh.read_until(MORE, PROMPT)
    assert "Gi0/" in rest
    sh.close()


def test_write_memory_saves_the_configuration(lab_switch):
    lab, sw = lab_switch
    sh = shell(sw)
    sh.run("configure terminal")
    sh.run("vlan 400")
    sh.run("end")
    assert switch_state(lab, sw)["saved"] is False
    assert "[OK]" in sh.run("write memory")
    assert switch_state(lab, sw)["saved"] is True
    sh.close()
