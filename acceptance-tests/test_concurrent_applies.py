"""Two `bmplan apply` and one `terraform apply` of the same fleet, started at the same instant
against one PostgreSQL inventory: every server is leased by its BMC's address, so no node is worked on
by two of them (the lab counts at most one reset per node), and the losers say who holds each node."""

import os
import pathlib
import subprocess
import time
import uuid

import pytest

from conftest import bmplan_path

ROOT = pathlib.Path(__file__).resolve().parent.parent
LAB_EXAMPLE = ROOT / "examples" / "lab"


def fresh_postgres_database():
    admin = os.environ.get("BAREMETAL_TEST_POSTGRES_URL")
    if not admin:
        if os.environ.get("CI"):
            pytest.fail("BAREMETAL_TEST_POSTGRES_URL is not set: run the tests through scripts/test.sh")
        pytest.skip("BAREMETAL_TEST_POSTGRES_URL is not set (scripts/test.sh sets it)")
    name = f"concurrent_{uuid.uuid4().hex[:12]}"
    subprocess.run(["psql", admin, "-v", "ON_ERROR_STOP=1", "-qc", f"CREATE DATABASE {name}"],
                   check=True, capture_output=True, timeout=60)
    return admin.rsplit("/", 1)[0] + "/" + name


def resets(lab):
    return {n: v["resets"] for n, v in lab.stats()["nodes"].items()}


def test_two_bmplan_applies_and_a_terraform_apply_at_once_never_share_a_node(terraform, start_lab):
    lab = start_lab("--nodes", "4", "--tls", "--power-delay-ms", "1500", "--task-delay-ms", "200")
    inventory = fresh_postgres_database()
    terraform.inventory = inventory
    terraform.env["BAREMETAL_INVENTORY"] = inventory
    var = f"lab_manifest={lab.manifest_path}"
    d = terraform.workdir("fleet", (LAB_EXAMPLE / "main.tf").read_text())
    # Open (and migrate) the inventory once, so the three start on an equal footing.
    assert terraform.bmplan("nodes", "list").returncode == 0

    def bmplan_apply():
        return subprocess.Popen(
            [bmplan_path(), "apply", str(LAB_EXAMPLE), "-var", var, "-auto-approve"],
            env=terraform.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    tf = subprocess.Popen(
        [terraform.exe, "apply", "-auto-approve", "-input=false", "-no-color", "-var", var],
        cwd=d, env=terraform.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    a, b = bmplan_apply(), bmplan_apply()
    outs = {}
    for name, p in (("terraform", tf), ("bmplan 1", a), ("bmplan 2", b)):
        out, _ = p.communicate(timeout=300)
        outs[name] = (p.returncode, out)
    shown = "\n".join(f"--- {k} (exit {rc})\n{out}" for k, (rc, out) in outs.items())

    # No node was worked on by two of them, and not everyone can have won every node.
    assert all(r <= 1 for r in resets(lab).values()), (resets(lab), shown)
    losers = [k for k, (rc, _) in outs.items() if rc != 0]
    assert losers, shown
    # Each loser says who holds what it could not take.
    for k in losers:
        flat = " ".join(outs[k][1].split())  # Terraform wraps diagnostics
        assert "is leased by" in flat and "for apply until" in flat, shown

    # Whatever was left, one more apply finishes: exactly one reset per node overall.
    deadline = time.time() + 60
    while True:
        r = subprocess.run([bmplan_path(), "apply", str(LAB_EXAMPLE), "-var", var, "-auto-approve"],
                           env=terraform.env, capture_output=True, text=True, timeout=300)
        if r.returncode == 0 or time.time() > deadline:
            break
        time.sleep(2)
    assert r.returncode == 0, r.stdout + r.stderr
    assert resets(lab) == {"r1u01": 1, "r1u02": 1, "r1u03": 1, "r1u04": 1}, shown
