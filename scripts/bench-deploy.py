#!/usr/bin/env python3
"""Deploy benchmark on the VM rig (docs/performance.md, "Deploying real images").

    sudo .venv/bin/python scripts/bench-deploy.py [--runs 3]

Measures, medians of --runs:
  1. deploy time per VM: `terraform apply` of the Debian zstd image with `wait = "callback"` (agent
     boot, write, reboot, cloud-init's callback), for one VM alone and for two VMs at once (the
     first run creates the hosts, the later ones rebuild them in place: the same steps);
  2. the agent's write rate against `dd`: a 1 GiB raw image of random bytes (an MBR in front, so the
     config drive has a table to go into) written by the agent from its memory, against busybox dd
     writing the same file from the same ramdisk's memory to the same virtual disk (the agent ISO's
     `bm.dd=` mode), one VM and two VMs at once.
With --capture, instead: one VM deployed once, then captured --runs times (`bmplan images capture`):
the capture's wall time, and the agent's rate over the disk it reads, against busybox dd reading as
much of the same disk from the same ramdisk (the agent ISO's `bm.ddread=` mode).
With --boot, instead: one VM's deploy time by virtual media (Redfish, sushy-emulator) against by
network boot (IPMI, virtualbmc, PXE), alternating, each a fresh `terraform apply` of a new host
(timed) followed by its destroy (not timed).
Prints a JSON summary. Needs root (the rig), the built binaries (target/debug) and the image caches.
"""

import argparse
import hashlib
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import vmrig  # noqa: E402


def build(script):
    out = subprocess.run(["bash", str(ROOT / "scripts" / script)], capture_output=True, text=True, check=True)
    return pathlib.Path(out.stdout.strip().splitlines()[-1])


def sums(d):
    return {n: "sha256:" + h for h, n in (l.split() for l in (d / "SHA256SUMS").read_text().splitlines())}


class Tf:
    def __init__(self, rig, agent_iso, work):
        self.rig, self.work = rig, pathlib.Path(work)
        rc = self.work / "cli.tfrc"
        rc.write_text('provider_installation {\n  dev_overrides { "bmplan/baremetal" = "%s" }\n  direct {}\n}\n'
                      % (ROOT / "target" / "debug"))
        self.env = dict(os.environ, TF_CLI_CONFIG_FILE=str(rc), CHECKPOINT_DISABLE="1",
                        BAREMETAL_INVENTORY=f"sqlite://{self.work / 'inv.db'}", BAREMETAL_AGENT_ISO=str(agent_iso),
                        BAREMETAL_CREDENTIALS_KEY="A" * 43 + "=", PLUGIN_LOG_FILE=str(self.work / "provider.log"))
        self.bmplan("projects", "create", "lab")
        self.env["BAREMETAL_PROJECT"] = "lab"

    def bmplan(self, *a):
        return subprocess.run([*self.rig.ns_prefix(), str(ROOT / "target/debug/bmplan"), *a], env=self.env,
                              capture_output=True, text=True)

    def run(self, d, *a):
        r = subprocess.run([*self.rig.ns_prefix(), "terraform", *a, "-input=false", "-no-color"], cwd=d, env=self.env,
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"terraform {a[0]}: {r.stdout[-3000:]}{r.stderr[-3000:]}")
        return r


def config(rig, hosts):
    out = ['terraform {\n  required_providers {\n    baremetal = { source = "bmplan/baremetal" }\n  }\n}\n'
           f'provider "baremetal" {{\n  media_listen = "{vmrig.GATEWAY}:0"\n}}\n']
    for v in rig.vms:
        n = v["name"].removeprefix("bmrig-")
        out.append(f'resource "baremetal_node" "{n.replace("-", "_")}" {{\n  name = "{n}"\n  bmc_url = "{rig.sushy_url}"\n'
                   f'  system_id = "{v["uuid"]}"\n  username = "admin"\n  password_wo = "password"\n  password_wo_version = 1\n}}\n')
    for i, (url, checksum, fmt, wait) in enumerate(hosts):
        out.append(f'resource "baremetal_host" "h{i}" {{\n  name = "h{i}"\n  node = baremetal_node.vm_{i + 1}.name\n'
                   f'  image_url = "{url}"\n  image_checksum = "{checksum}"\n  image_format = "{fmt}"\n'
                   f'  wait = "{wait}"\n  timeouts {{\n    create = "30m"\n    delete = "30m"\n  }}\n}}\n')
    return "".join(out)


def write_rates(tf, n, fmt):
    """The agent's own figure for its last write of a `fmt` image on each host."""
    rates = []
    for i in range(n):
        log = json.loads(tf.bmplan("hosts", "log", f"h{i}", "--lines", "5000", "--json").stdout)
        found = [e for e in log if e["source"] == "agent"
                 and re.search(rf"^command \d+ \(write_image\) done: {re.escape(fmt)} image written", e["line"])]
        m = re.search(r"written to \S+: (\d+) bytes in ([\d.]+) s", found[-1]["line"])
        rates.append(int(m.group(1)) / float(m.group(2)) / 1e6)
    return rates


def dd_run(rig, iso_path, vms, arg=None, marker="BM-DD"):
    """Boots the agent ISO in bm.dd mode (or `arg`) on `vms` at once; returns MB/s each."""
    base = iso_path.read_bytes()
    at = base.index(b"BMARGS#")
    cmdline = (arg or f"bm.dd={rig.http_base}/bench.raw").encode()
    for v in vms:
        iso = base[:at] + cmdline + b" " * (512 - len(cmdline)) + base[at + 512:]
        (pathlib.Path(rig.www) / f"dd-{v['name']}.iso").write_bytes(iso)
        pathlib.Path(v["serial_log"]).write_text("") if os.path.exists(v["serial_log"]) else None
    for v in vms:
        sysurl = f"{rig.sushy_url}/redfish/v1/Systems/{v['uuid']}"
        curl = [*rig.ns_prefix(), "curl", "-sf", "-H", "Content-Type: application/json"]
        subprocess.run([*curl, "-X", "POST", "-d", '{"ResetType":"ForceOff"}', f"{sysurl}/Actions/ComputerSystem.Reset"])
        subprocess.run([*curl, "-X", "POST", "-d", json.dumps({"Image": f"{rig.http_base}/dd-{v['name']}.iso"}),
                        f"{sysurl}/VirtualMedia/Cd/Actions/VirtualMedia.InsertMedia"], check=True)
        subprocess.run([*curl, "-X", "PATCH", "-d", '{"Boot":{"BootSourceOverrideTarget":"Cd","BootSourceOverrideEnabled":"Once"}}',
                        sysurl], check=True)
    for v in vms:
        subprocess.run([*rig.ns_prefix(), "curl", "-sf", "-H", "Content-Type: application/json", "-X", "POST", "-d",
                        '{"ResetType":"On"}',
                        f"{rig.sushy_url}/redfish/v1/Systems/{v['uuid']}/Actions/ComputerSystem.Reset"], check=True)
    rates = []
    deadline = time.monotonic() + 900
    for v in vms:
        while time.monotonic() < deadline:
            m = re.search(marker + r" bytes=(\d+) start=([\d.]+) end=([\d.]+)",
                          pathlib.Path(v["serial_log"]).read_text(errors="replace"))
            if m:
                rates.append(int(m.group(1)) / (float(m.group(3)) - float(m.group(2))) / 1e6)
                break
            time.sleep(1)
        else:
            raise RuntimeError(f"{v['name']}: dd did not finish")
    for v in vms:
        sysurl = f"{rig.sushy_url}/redfish/v1/Systems/{v['uuid']}"
        subprocess.run([*rig.ns_prefix(), "curl", "-sf", "-X", "POST", "-H", "Content-Type: application/json",
                        "-d", "{}", f"{sysurl}/VirtualMedia/Cd/Actions/VirtualMedia.EjectMedia"])
    return rates


def boot_config(rig, how, image):
    """One VM as a node reached `how` (virtual_media: Redfish; pxe: IPMI) and a host on it."""
    v = rig.vms[0]
    if how == "pxe":
        ipmi = v["ipmi"]
        node = (f'  bmc_url = "ipmi://{ipmi["address"]}:{ipmi["port"]}"\n  boot_interface = "pxe"\n'
                f'  pxe_mac = "{v["mac"]}"\n')
        listen = vmrig.PXE_LISTEN
    else:
        node = f'  bmc_url = "{rig.sushy_url}"\n  system_id = "{v["uuid"]}"\n'
        listen = f"{vmrig.GATEWAY}:0"
    url, checksum, fmt, wait = image
    return ('terraform {\n  required_providers {\n    baremetal = { source = "bmplan/baremetal" }\n  }\n}\n'
            f'provider "baremetal" {{\n  media_listen = "{listen}"\n}}\n'
            f'resource "baremetal_node" "n" {{\n  name = "vm-{how}"\n{node}  username = "admin"\n'
            '  password_wo = "password"\n  password_wo_version = 1\n}\n'
            f'resource "baremetal_host" "h" {{\n  name = "h-{how}"\n  node = baremetal_node.n.name\n'
            f'  image_url = "{url}"\n  image_checksum = "{checksum}"\n  image_format = "{fmt}"\n'
            f'  wait = "{wait}"\n  timeouts {{\n    create = "30m"\n    delete = "30m"\n  }}\n}}\n')


def boot_compare(tf, rig, work, image, runs):
    """Deploy seconds by virtual media and by network boot, alternating."""
    times = {"virtual_media": [], "pxe": []}
    for run in range(runs):
        for how in ("virtual_media", "pxe"):
            d = pathlib.Path(work) / f"boot-{how}-{run}"
            d.mkdir()
            (d / "main.tf").write_text(boot_config(rig, how, image))
            t0 = time.monotonic()
            tf.run(d, "apply", "-auto-approve")
            times[how].append(time.monotonic() - t0)
            tf.run(d, "destroy", "-auto-approve")
            print(json.dumps({"run": run, "so_far": times}), file=sys.stderr)
    return times


def capture_bench(tf, rig, work, image, agent_iso, runs):
    """One VM deployed once, then captured `runs` times; dd's read of as much disk between."""
    d = pathlib.Path(work) / "capture"
    d.mkdir()
    (d / "main.tf").write_text(config(rig, [image]))
    tf.run(d, "apply", "-auto-approve")
    env = dict(tf.env, BAREMETAL_IMAGE_STORE_DIR=str(pathlib.Path(work) / "store"))
    out = {"capture_s": [], "capture_disk_mbps": [], "dd_read_mbps": [], "disk_bytes": 0, "image_bytes": 0}
    life = ["--media-listen", f"{vmrig.GATEWAY}:0", "--timeout", "30m", "--shutdown-timeout", "20s"]
    for run in range(runs):
        t0 = time.monotonic()
        r = subprocess.run([*rig.ns_prefix(), str(ROOT / "target/debug/bmplan"), "images", "capture", "h0",
                            "--name", f"cap-{run}", "--json", *life], env=env, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"capture: {r.stderr[-3000:]}")
        out["capture_s"].append(time.monotonic() - t0)
        cap = json.loads(r.stdout)["captured"]
        out["disk_bytes"], out["image_bytes"] = cap["disk_bytes"], cap["bytes"]
        log = json.loads(tf.bmplan("hosts", "log", "h0", "--lines", "5000", "--json").stdout)
        line = [e["line"] for e in log if re.search(r"\(capture\) done: captured", e["line"])][-1]
        m = re.search(r"captured (\d+) bytes of disk as \d+ bytes of zstd in ([\d.]+) s", line)
        out["capture_disk_mbps"].append(int(m.group(1)) / float(m.group(2)) / 1e6)
        mib = cap["disk_bytes"] >> 20
        out["dd_read_mbps"].extend(dd_run(rig, agent_iso, rig.vms[:1], f"bm.ddread={mib}", "BM-DDREAD"))
        print(json.dumps({"run": run, "so_far": out}), file=sys.stderr)
    tf.run(d, "destroy", "-auto-approve")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--capture", action="store_true",
                    help="only measure capture: its time, and its read rate against dd's")
    ap.add_argument("--boot", action="store_true",
                    help="only compare one VM's deploy by virtual media and by network boot (PXE)")
    a = ap.parse_args()
    os_dir, agent_dir = build("build-os-image.sh"), build("build-agent-iso.sh")
    work = tempfile.mkdtemp(prefix="bm-bench-")
    os.chmod(work, 0o755)
    rig = vmrig.Rig(os.path.join(work, "rig"), vms=2).up()
    try:
        www = pathlib.Path(rig.www)
        os.symlink(os_dir / "debian-12.raw.zst", www / "debian-12.raw.zst")
        tf = Tf(rig, agent_dir / "agent.iso", work)
        zst = (f"{rig.http_base}/debian-12.raw.zst", sums(os_dir)["debian-12.raw.zst"], "raw.zst", "callback")
        if a.capture:
            out = capture_bench(tf, rig, work, zst, agent_dir / "agent.iso", a.runs)
            medians = {k: round(statistics.median(v), 1) for k, v in out.items() if isinstance(v, list)}
            medians["capture_over_dd_read"] = round(medians["capture_disk_mbps"] / medians["dd_read_mbps"], 2)
            print(json.dumps({"medians": medians, "all": out}, indent=2))
            return
        if a.boot:
            times = boot_compare(tf, rig, work, zst, a.runs)
            medians = {k: round(statistics.median(v), 1) for k, v in times.items()}
            medians["pxe_over_virtual_media"] = round(medians["pxe"] / medians["virtual_media"], 2)
            print(json.dumps({"medians": medians, "all": times}, indent=2))
            return
        bench = bytearray(os.urandom(1 << 30))
        bench[510:512] = b"\x55\xaa"
        bench[446:510] = bytes(64)
        (www / "bench.raw").write_bytes(bench)
        bench_sum = "sha256:" + hashlib.sha256(bench).hexdigest()
        del bench
        raw = (f"{rig.http_base}/bench.raw", bench_sum, "raw", "power_off")
        result = {"deploy_s": {1: [], 2: []}, "agent_write_mbps": {1: [], 2: []}, "dd_mbps": {1: [], 2: []}}
        # Per VM count: the first deploy creates the hosts; later runs rebuild them in place (the
        # same steps: agent boot, write, boot from disk, cloud-init's callback). One destroy at the end.
        for n in (1, 2):
            d = pathlib.Path(work) / f"bench-{n}"
            d.mkdir()
            for run in range(a.runs):
                (d / "main.tf").write_text(config(rig, [zst] * n))
                t0 = time.monotonic()
                tf.run(d, "apply", "-auto-approve")
                result["deploy_s"][n].append(time.monotonic() - t0)
                # A rebuild in place from the 1 GiB raw image: the agent's write rate.
                (d / "main.tf").write_text(config(rig, [raw] * n))
                tf.run(d, "apply", "-auto-approve")
                result["agent_write_mbps"][n].extend(write_rates(tf, n, "raw"))
                # dd of the same file from the same ramdisk's memory to the same disk.
                result["dd_mbps"][n].extend(dd_run(rig, agent_dir / "agent.iso", rig.vms[:n]))
                print(json.dumps({"run": run, "vms": n, "so_far": result}), file=sys.stderr)
            tf.run(d, "destroy", "-auto-approve")
        summary = {k: {n: round(statistics.median(v), 1) for n, v in by.items() if v} for k, by in result.items()}
        print(json.dumps({"medians": summary, "all": result}, indent=2))
    finally:
        rig.down()


if __name__ == "__main__":
    main()
