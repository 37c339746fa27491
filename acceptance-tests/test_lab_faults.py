"""Fault injection and latency in the lab, observed from outside with plain `requests`: failures must
really happen, at the configured rate, and the lab's own counters must agree with what clients saw."""

import math
import time

import pytest
import requests


def fetch(session, url):
    """One request without retries: returns 'ok', '5xx', 'dropped' or 'timeout'."""
    try:
        r = session.get(url, timeout=5)
    except requests.exceptions.ReadTimeout:
        return "timeout"
    except requests.exceptions.ConnectionError:
        return "dropped"
    return "5xx" if r.status_code >= 500 else "ok"


def test_fault_injection_happens_at_the_configured_rate(start_lab):
    rate = 0.3
    lab = start_lab("--nodes", "4", "--fault-rate", str(rate), "--fault-kinds", "5xx,reset", "--seed", "7")
    node = lab.node()
    url = node["bmc_url"] + f"/redfish/v1/Systems/{node['system_id']}"
    n = 600
    outcomes = []
    for _ in range(n):
        # A fresh session per request: a dropped connection must not poison the next request.
        with requests.Session() as s:
            s.auth = (node["username"], node["password"])
            outcomes.append(fetch(s, url))
    errors, dropped = outcomes.count("5xx"), outcomes.count("dropped")
    observed = (errors + dropped) / n
    sd = math.sqrt(rate * (1 - rate) / n)
    assert abs(observed - rate) < 4 * sd, f"observed {observed:.3f}, configured {rate}"
    assert errors > 0 and dropped > 0
    counters = lab.stats()["faults"]
    assert counters["requests"] == n
    assert counters["errors"] == errors
    assert counters["resets"] == dropped
    assert counters["timeouts"] == 0


def test_injected_5xx_carries_a_redfish_error_and_retry_after(start_lab):
    lab = start_lab("--nodes", "1", "--fault-rate", "1.0", "--fault-kinds", "5xx")
    node = lab.node()
    r = requests.get(node["bmc_url"] + "/redfish/v1/Systems", auth=(node["username"], node["password"]), timeout=5)
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "1"
    assert r.json()["error"]["@Message.ExtendedInfo"][0]["MessageId"].endswith("ServiceTemporarilyUnavailable")


def test_timeout_fault_holds_the_request_then_closes_without_an_answer(start_lab):
    lab = start_lab("--nodes", "1")
    node = lab.node()
    requests.put(f"{lab.control}/faults", json={"timeout_rate": 1.0, "hang_ms": 700}, timeout=5).raise_for_status()
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(node["bmc_url"] + "/redfish/v1", timeout=5)
    assert time.monotonic() - started >= 0.7
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(node["bmc_url"] + "/redfish/v1", timeout=0.3)
    requests.put(f"{lab.control}/faults", json={}, timeout=5).raise_for_status()
    assert requests.get(node["bmc_url"] + "/redfish/v1", timeout=5).status_code == 200
    assert lab.stats()["faults"]["timeouts"] == 2


def test_latency_is_added_to_every_request(start_lab):
    lab = start_lab("--nodes", "1", "--latency-ms", "250")
    node = lab.node()
    for _ in range(3):
        started = time.monotonic()
        assert requests.get(node["bmc_url"] + "/redfish/v1", timeout=5).status_code == 200
        assert time.monotonic() - started >= 0.25


def test_an_unresponsive_bmc_never_answers_while_the_others_do(start_lab):
    lab = start_lab("--nodes", "3")
    sick, well = lab.manifest["nodes"][0], lab.manifest["nodes"][1]
    requests.put(f"{lab.control}/nodes/{sick['name']}/faults", json={"unresponsive": True}, timeout=5).raise_for_status()
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(sick["bmc_url"] + "/redfish/v1", timeout=1)
    assert requests.get(well["bmc_url"] + "/redfish/v1", timeout=5).status_code == 200


def test_invalid_fault_settings_are_refused(start_lab):
    lab = start_lab("--nodes", "1")
    r = requests.put(f"{lab.control}/faults", json={"error_rate": 0.8, "reset_rate": 0.8}, timeout=5)
    assert r.status_code == 400 and "add up" in r.json()["error"]
    r = requests.put(f"{lab.control}/faults", json={"eror_rate": 0.1}, timeout=5)
    assert r.status_code == 400


def test_the_lab_serves_a_thousand_bmcs_in_one_process(start_lab):
    lab = start_lab("--nodes", "1000", "--switches", "4", startup_timeout=120)
    nodes = lab.manifest["nodes"]
    assert len(nodes) == 1000
    assert len({n["bmc_url"] for n in nodes}) == 1000
    assert len({n["serial"] for n in nodes}) == 1000
    assert {n["arch"] for n in nodes} == {"x86_64", "aarch64"}
    with requests.Session() as s:
        for n in nodes:
            r = s.get(n["bmc_url"] + "/redfish/v1", timeout=10)
            assert r.status_code == 200 and r.json()["UUID"] == n["uuid"]
    stats = lab.stats()
    assert len(stats["nodes"]) == 1000
    assert sum(v["requests"] for v in stats["nodes"].values()) == 1000
    assert [s["name"] for s in lab.manifest["switches"]] == ["tor1", "tor2", "tor3", "tor4"]
