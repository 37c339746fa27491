"""Keep the lab honest against sushy-emulator: one link-following Redfish client flow (discover the
system, read its NICs, set a one-time PXE boot, power it off and on) must work unchanged on both."""

import time

import pytest
import requests

from peers.sushy import SushyEmulator


def link(doc, *path):
    for p in path:
        doc = doc[p]
    return doc["@odata.id"] if isinstance(doc, dict) and "@odata.id" in doc else doc


def wait_power(s, base, system_uri, state, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if s.get(base + system_uri, timeout=10).json()["PowerState"] == state:
            return
        time.sleep(0.25)
    raise AssertionError(f"{system_uri} did not reach {state}")


def generic_flow(base, session):
    """Only what the Redfish standard promises: follow links, never assume ids."""
    root = session.get(base + "/redfish/v1", timeout=10).json()
    systems = session.get(base + link(root, "Systems"), timeout=10).json()
    system_uri = systems["Members"][0]["@odata.id"]
    system = session.get(base + system_uri, timeout=10).json()
    nics = session.get(base + link(system, "EthernetInterfaces"), timeout=10).json()["Members"]
    macs = [session.get(base + m["@odata.id"], timeout=10).json()["MACAddress"] for m in nics]
    assert "Pxe" in system["Boot"]["BootSourceOverrideTarget@Redfish.AllowableValues"]
    r = session.patch(base + system_uri, json={"Boot": {"BootSourceOverrideTarget": "Pxe",
                                                         "BootSourceOverrideEnabled": "Once"}}, timeout=10)
    assert r.status_code in (200, 204), r.text
    assert session.get(base + system_uri, timeout=10).json()["Boot"]["BootSourceOverrideTarget"] == "Pxe"
    reset = system["Actions"]["#ComputerSystem.Reset"]["target"]
    assert "ForceOff" in system["Actions"]["#ComputerSystem.Reset"]["ResetType@Redfish.AllowableValues"]
    assert session.post(base + reset, json={"ResetType": "ForceOff"}, timeout=10).status_code in (200, 202, 204)
    wait_power(session, base, system_uri, "Off")
    assert session.post(base + reset, json={"ResetType": "On"}, timeout=10).status_code in (200, 202, 204)
    wait_power(session, base, system_uri, "On")
    return {"macs": macs, "uuid": system["UUID"]}


@pytest.fixture
def sushy(tmp_path):
    emu = SushyEmulator(tmp_path, [{
        "uuid": "27946b59-9e44-4fa7-8e91-f3527a1ef094", "name": "sushy0", "power_state": "On",
        "external_notifier": False, "nics": [{"mac": "52:54:ff:00:00:01", "ip": "127.0.0.1"}],
    }])
    yield emu
    emu.stop()


def test_one_generic_redfish_flow_runs_on_both_the_lab_and_sushy_emulator(sushy, start_lab):
    s = requests.Session()
    s.trust_env = False
    got = generic_flow(sushy.url, s)
    assert got == {"macs": ["52:54:ff:00:00:01"], "uuid": "27946b59-9e44-4fa7-8e91-f3527a1ef094"}

    lab = start_lab("--nodes", "1", "--power-delay-ms", "500")
    node = lab.node()
    s = requests.Session()
    s.trust_env = False
    s.auth = (node["username"], node["password"])
    got = generic_flow(node["bmc_url"], s)
    assert got == {"macs": node["macs"], "uuid": node["uuid"]}
