"""Print, mockup by mockup, the ground truth of each fixture tree against what a `bmplan inspect`
binary reports, as a Markdown table (the table in docs/guides/bmc.md comes from this):

    cd acceptance-tests && ../.venv/bin/python -m peers.mockup_table [--bmplan PATH] ...

A cell reads `truth` when the binary agrees and `inspect≠truth` when it does not."""

import argparse
import json
import os
import pathlib
import subprocess
import tempfile

from peers.mockup_server import MockupServer
from peers.redfish_truth import from_inspect, truth

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
MOCKUPS = ROOT / "planner" / "tests" / "fixtures" / "mockups"
CASES = [("dmtf-rackmount1", None), ("dmtf-tower", None), ("hpe-ilo5-dl385", None),
         ("lenovo-xcc-sr670v2", None), ("dell-idrac9-r750", None), ("supermicro-sys821ge", None),
         ("gigabyte-ami-h262", None), ("cray-ex425", "Node0"), ("cray-ex425", "Node1")]
FIELDS = ["sockets", "cores", "threads", "accelerators", "memory_gib", "drives", "drive_bytes", "macs",
          "firmware", "bios_attributes", "sensors", "health"]


def row(bmplan, mockup, system, tmp):
    want = truth(MOCKUPS / mockup, system)
    want["memory_gib"] = want["memory_gib_summary"]
    server = MockupServer(tmp, MOCKUPS / mockup)
    try:
        args = [bmplan, "inspect", server.url, "--username", "u", "--password-env", "P", "--json"]
        if system:
            args += ["--system", system]
        out = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "P": "p"}, timeout=120)
    finally:
        server.stop()
    if out.returncode != 0:
        return want, None, out.stderr.strip().splitlines()[-1:]
    return want, from_inspect(json.loads(out.stdout)), []


def cell(field, want, got):
    w = want[field]
    if field == "macs":
        w = len(w)
    if got is None:
        return f"error≠{w}"
    g = got[field]
    if field == "macs":
        g = len(set(g) & set(want["macs"]))
        return f"{w}" if g == w and len(got["macs"]) == w else f"{len(got['macs'])} ({g} right)≠{w}"
    if field == "drive_bytes":
        w, g = f"{w / 1e12:.2f} TB", f"{g / 1e12:.2f} TB"
    return f"{w}" if g == w else f"{g}≠{w}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bmplan", action="append", required=True, help="a bmplan binary (repeat to compare)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        for b in a.bmplan:
            print(f"\n{b}\n")
            print("| mockup | " + " | ".join(FIELDS) + " |")
            print("|---" * (len(FIELDS) + 1) + "|")
            for mockup, system in CASES:
                want, got, err = row(b, mockup, system, pathlib.Path(d))
                name = mockup + (f" {system}" if system else "")
                print(f"| {name} | " + " | ".join(cell(f, want, got) for f in FIELDS) + " |" + (f" {err}" if err else ""))


if __name__ == "__main__":
    main()
