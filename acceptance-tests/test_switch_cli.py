"""`bmplan switch show` against the lab switch and against fake-switches (cisco_generic): the live VLAN
and port table, as text and JSON, with exit code 3 for refused credentials."""

import json
import os
import subprocess

from conftest import bmplan_path
from test_lab_switch import fake_cisco, lab_switch, shell  # noqa: F401  (fixtures)


def show(sw, *extra, password=None):
    env = dict(os.environ, SW_PASSWORD=password or sw["password"], SW_ENABLE=sw["enable_password"])
    return subprocess.run(
        [bmplan_path(), "switch", "show", "--driver", "cisco_ios", "--address", sw["address"], "--username", sw["username"],
         "--password-env", "SW_PASSWORD", "--enable-password-env", "SW_ENABLE", *extra],
        env=env, capture_output=True, text=True, timeout=60,
    )


def test_switch_show_json_reflects_a_change_made_by_another_client(lab_switch):  # noqa: F811
    _, sw = lab_switch
    sh = shell(sw)
    for line in ["configure terminal", "vlan 120", "name storage", "exit", "interface GigabitEthernet0/7",
                 "switchport mode access", "switchport access vlan 120", "exit", "exit"]:
        sh.run(line)
    sh.close()
    r = show(sw, "--json")
    assert r.returncode == 0, r.stderr
    state = json.loads(r.stdout)
    assert state["vlans"]["120"] == "storage"
    assert state["ports"]["GigabitEthernet0/7"]["access_vlan"] == 120


def test_switch_show_text_on_fake_switches(fake_cisco):  # noqa: F811
    r = show(fake_cisco)
    assert r.returncode == 0, r.stderr
    assert "GigabitEthernet0/1" in r.stdout and "VLAN" in r.stdout


def test_switch_show_wrong_password_exits_3(lab_switch):  # noqa: F811
    _, sw = lab_switch
    r = show(sw, password="nope")
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert sw["address"] in r.stderr and "nope" not in r.stderr
