"""`bmplan inspect` against Redfish mockups no one here wrote: DMTF's public mockups and dumps of real
Dell, HPE, Lenovo, Supermicro, Gigabyte (AMI) and Cray machines (see
planner/tests/fixtures/mockups/README.md), served by sushy-tools' static mockup server. Each
inventory is compared field by field with a ground truth computed from the files themselves
(peers/redfish_truth.py)."""

import json
import os
import subprocess

import pytest

from conftest import ROOT, bmplan_path
from peers.mockup_server import MockupServer
from peers.redfish_truth import from_inspect, truth

MOCKUPS = ROOT / "planner" / "tests" / "fixtures" / "mockups"

# (mockup, system id or None when the service has one system)
CASES = [
    ("dmtf-rackmount1", None),
    ("dmtf-tower", None),
    ("hpe-ilo5-dl385", None),
    ("lenovo-xcc-sr670v2", None),
    ("dell-idrac9-r750", None),
    ("supermicro-sys821ge", None),
    ("gigabyte-ami-h262", None),
    ("cray-ex425", "Node0"),
    ("cray-ex425", "Node1"),
]


def inspect(url, system=None):
    args = [bmplan_path(), "inspect", url, "--username", "root", "--password-env", "MOCKUP_PASSWORD", "--json"]
    if system:
        args += ["--system", system]
    out = subprocess.run(
        args, capture_output=True, text=True, timeout=120, env={**os.environ, "MOCKUP_PASSWORD": "calvin"}
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.parametrize("mockup,system", CASES, ids=[f"{m}-{s or 'only'}" for m, s in CASES])
def test_inspect_matches_the_truth_of_the_mockup(tmp_path, mockup, system):
    server = MockupServer(tmp_path, MOCKUPS / mockup)
    try:
        doc = inspect(server.url, system)
    finally:
        server.stop()
    want = truth(MOCKUPS / mockup, system)
    got = from_inspect(doc)
    for field in ("system", "sockets", "cores", "threads", "accelerators", "drives", "drive_bytes",
                  "macs", "firmware", "bios_attributes", "sensors", "health"):
        assert got[field] == want[field], f"{mockup}: {field}: inspect says {got[field]!r}, the tree {want[field]!r}"
    # Memory: the system's own summary where it gives one, and within a GiB of its DIMMs.
    if want["memory_gib_summary"] is not None:
        assert got["memory_gib"] == want["memory_gib_summary"]
    if want["memory_gib_dimms"]:
        assert abs(got["memory_gib"] - want["memory_gib_dimms"]) < 1.0
    # Nothing the BMC could not give is hidden: every unavailable part names where it was read.
    for part in doc.get("unavailable", []):
        assert "/redfish/v1" in part or "no Bios link" in part, part
