"""`bmplan inspect` as an operator or pipeline runs it: JSON output, TLS trust options, and exit codes
that tell credentials (3) from reachability (4) problems, without ever printing the password."""

import json
import os
import subprocess

from conftest import bmplan_path


def inspect(lab, node, *extra, password=None):
    env = dict(os.environ, BMC_PASSWORD=password if password is not None else node["password"])
    return subprocess.run(
        [bmplan_path(), "inspect", node["bmc_url"], "--username", node["username"], "--password-env", "BMC_PASSWORD", *extra],
        env=env, capture_output=True, text=True, timeout=60,
    )


def test_inspect_json_holds_macs_power_bios_firmware_and_totals(tls_lab):
    node = tls_lab.node()
    r = inspect(tls_lab, node, "--ca-cert", tls_lab.manifest["ca_cert"], "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["macs"] == node["macs"]
    assert doc["serial"] == node["serial"] and doc["system_id"] == node["system_id"]
    assert doc["power_state"] == "On"
    assert doc["bios"]["BootMode"] == "Uefi"
    assert any(f["id"] == "BIOS" for f in doc["firmware"])
    assert doc["totals"]["memory_gib"] >= 128 and doc["totals"]["disk_bytes"] > 0 and doc["totals"]["cpu_cores"] > 0
    assert doc["nics"][0]["lldp"]["port"] == node["switch_ports"][0]


def test_inspect_text_output_and_fingerprint_pinning(tls_lab):
    node = tls_lab.node()
    r = inspect(tls_lab, node, "--fingerprint", tls_lab.manifest["tls_fingerprint"])
    assert r.returncode == 0, r.stderr
    assert node["serial"] in r.stdout and node["macs"][0] in r.stdout


def test_wrong_password_exits_3_and_never_prints_it(tls_lab):
    node = tls_lab.node()
    r = inspect(tls_lab, node, "--ca-cert", tls_lab.manifest["ca_cert"], password="Wr0ng-Pa55")
    assert r.returncode == 3, (r.returncode, r.stderr)
    assert node["bmc_url"] in r.stderr and node["username"] in r.stderr
    assert "Wr0ng-Pa55" not in r.stderr + r.stdout


def test_untrusted_certificate_exits_4_with_a_hint(tls_lab):
    node = tls_lab.node()
    r = inspect(tls_lab, node)
    assert r.returncode == 4, (r.returncode, r.stderr)
    assert "certificate" in r.stderr and "CA bundle" in r.stderr


def test_missing_password_variable_is_a_clear_error(tls_lab):
    node = tls_lab.node()
    env = {k: v for k, v in os.environ.items() if k != "NO_SUCH_VAR"}
    r = subprocess.run([bmplan_path(), "inspect", node["bmc_url"], "--username", "x", "--password-env", "NO_SUCH_VAR"],
                       env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "NO_SUCH_VAR" in r.stderr
