"""Real machines: libvirt VMs (QEMU under software emulation) behind sushy-emulator's libvirt driver,
in the VM rig's network namespace (scripts/vmrig.py). A real Debian image with Debian's cloud-init,
built from Debian's packages (scripts/build-os-image.sh), is deployed by `terraform apply` through
the deploy agent (scripts/build-agent-iso.sh) booted by Redfish virtual media; the VMs then boot from
their disks, and what cloud-init did is read from their serial consoles. `terraform destroy` wipes
the disks, read back from the host afterwards.

Needs root (network namespace, libvirtd); the rig's packages and the images come from
scripts/test.sh. Slow by nature (each deployment boots two systems under TCG): the tests share one
rig of two VMs and deploy both at once.
"""

import json
import os
import pathlib
import subprocess
import sys
import threading
import time

import pytest

from conftest import ROOT, Terraform, terraform_clis

sys.path.insert(0, str(ROOT / "scripts"))
import vmrig  # noqa: E402

SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHZtcmlnLXRlc3Qta2V5LW5vdC1yZWFsAAAA rig@test"


def build(script):
    """Runs an image build script (cached by content) and returns the directory it printed."""
    r = subprocess.run(["bash", str(ROOT / "scripts" / script)], capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, f"{script}: {r.stderr[-3000:]}"
    return pathlib.Path(r.stdout.strip().splitlines()[-1])


def sha256_of(path):
    for line in (path.parent / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        if name == path.name:
            return "sha256:" + digest
    raise AssertionError(f"{path.name} is not in SHA256SUMS")


@pytest.fixture(scope="module")
def images():
    if os.geteuid() != 0:
        pytest.fail("the VM rig needs root (network namespace, libvirtd): run scripts/test.sh as root")
    return {"os": build("build-os-image.sh"), "agent": build("build-agent-iso.sh") / "agent.iso"}


@pytest.fixture(scope="module")
def rig(tmp_path_factory, images):
    r = vmrig.Rig(tmp_path_factory.mktemp("rig"), vms=2)
    r.up()
    for f in ("debian-12.raw.zst", "debian-12.qcow2", "debian-12.raw.gz"):
        os.symlink(images["os"] / f, os.path.join(r.www, f))
    yield r
    r.down()


@pytest.fixture(scope="module")
def tfvm(rig, images, tmp_path_factory):
    """One Terraform CLI (the first: each deployment costs minutes), run inside the rig."""
    t = Terraform(terraform_clis()[0], tmp_path_factory.mktemp("tf"))
    t.prefix = tuple(rig.ns_prefix())
    t.env["BAREMETAL_AGENT_ISO"] = str(images["agent"])
    assert t.bmplan("projects", "create", "lab").returncode == 0
    t.env["BAREMETAL_PROJECT"] = "lab"
    return t


def config(rig, hosts):
    vms = {v["name"].removeprefix("bmrig-"): v for v in rig.vms}
    nodes = "".join(f'''
resource "baremetal_node" "{n.replace('-', '_')}" {{
  name      = "{n}"
  bmc_url   = "{rig.sushy_url}"
  system_id = "{v['uuid']}"
  username  = "admin"
  password  = "password"
}}
''' for n, v in vms.items())
    return f'''
terraform {{
  required_providers {{
    baremetal = {{ source = "bmplan/baremetal" }}
  }}
}}

provider "baremetal" {{
  media_listen = "{vmrig.GATEWAY}:0"
}}
{nodes}
{hosts}
'''


def host_block(name, node, image, checksum, fmt=None):
    fmt_line = f'image_format   = "{fmt}"' if fmt else ""
    user_data = (
        "#cloud-config\\n"
        "runcmd:\\n"
        "  - [ sh, -c, 'echo RIG-HOSTNAME=$(hostname) > /dev/ttyS0' ]\\n"
        "  - [ sh, -c, 'echo RIG-KEY=$(cat /home/debian/.ssh/authorized_keys) > /dev/ttyS0' ]\\n"
        "  - [ sh, -c, 'echo RIG-ADDR=$(ip -o -4 addr show scope global | head -1) > /dev/ttyS0' ]\\n"
        "  - [ sh, -c, 'echo RIG-NETCFG=$(ls /etc/network/interfaces.d/) > /dev/ttyS0' ]\\n"
    )
    return f'''
resource "baremetal_host" "{name.replace('-', '_')}" {{
  name           = "{name}"
  node           = baremetal_node.{node.replace('-', '_')}.name
  image_url      = "{image}"
  image_checksum = "{checksum}"
  {fmt_line}
  ssh_keys       = ["{SSH_KEY}"]
  user_data      = "{user_data}"
  wait           = "callback"
  timeouts {{
    create = "20m"
    delete = "15m"
  }}
}}
'''


def serial_text(vm):
    try:
        return pathlib.Path(vm["serial_log"]).read_text(errors="replace")
    except FileNotFoundError:
        return ""


def disk_is_zero(disk):
    """Reads the whole virtual disk from the host (qemu-img, sharing the image with a live VM):
    whether every byte is zero, and whether any partition table is left."""
    raw = disk + ".check.raw"
    subprocess.run(["qemu-img", "convert", "-U", "-O", "raw", disk, raw], check=True, timeout=300)
    try:
        size = os.path.getsize(raw)
        zero = subprocess.run(["cmp", "-s", "-n", str(size), raw, "/dev/zero"]).returncode == 0
        with open(raw, "rb") as f:
            mbr = f.read(512)
        return zero, mbr[510:512] == b"\x55\xaa"
    finally:
        os.remove(raw)


def host_log(tf, name):
    r = tf.bmplan("hosts", "log", name, "--lines", "5000", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    return json.loads(r.stdout)


def test_two_vms_are_deployed_at_once_from_zstd_raw_and_qcow2_boot_their_disks_and_are_wiped_on_destroy(
        rig, images, tfvm):
    os_dir = images["os"]
    base = rig.http_base
    hosts = (host_block("web-1", "vm-1", f"{base}/debian-12.raw.zst", sha256_of(os_dir / "debian-12.raw.zst"))
             + host_block("web-2", "vm-2", f"{base}/debian-12.qcow2", sha256_of(os_dir / "debian-12.qcow2")))
    d = tfvm.workdir("deploy", config(rig, hosts))
    started = time.monotonic()
    r = tfvm.run("apply", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=1800)
    took = time.monotonic() - started
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-5000:] + "\n" + tfvm.log.read_text()[-5000:]
    print(f"two VMs deployed at once in {took:.0f} s")

    for vm, host in zip(rig.vms, ("web-1", "web-2")):
        text = serial_text(vm)
        # The agent ran from its ramdisk, then the VM booted Debian from its disk.
        assert "bm-agent: agent 0.1.0 starting" in text, text[-3000:]
        assert "Cloud-init v. 22.4.2" in text, text[-3000:]
        assert f"RIG-HOSTNAME={host}" in text, text[-3000:]
        assert f"RIG-KEY={SSH_KEY}" in text, text[-3000:]
        # The network config from the config drive: DHCP on the NIC matched by its MAC, which
        # cloud-init rendered for ifupdown; the address is the rig's DHCP lease for that MAC.
        assert f"RIG-ADDR=2: nic0 inet {vm['address']}/24" in text, text[-3000:]
        assert "RIG-NETCFG=50-cloud-init" in text, text[-3000:]
        log = host_log(tfvm, host)
        lines = [entry["line"] for entry in log]
        inspected = next(l for l in lines if l.startswith("in-band inspection:"))
        assert f"vda 4 GiB serial {vm['name']}-disk" in inspected, inspected
        assert vm["mac"] in inspected, inspected
        assert any("checksum sha256 verified" in l for l in lines), lines[-30:]
        assert any("image written to /dev/vda" in l for l in lines), lines[-30:]

    r = tfvm.run("plan", "-input=false", "-no-color", "-detailed-exitcode", cwd=d)
    assert r.returncode == 0, r.stdout + r.stderr

    r = tfvm.run("destroy", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=1800)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-5000:]
    for vm in rig.vms:
        zero, table = disk_is_zero(vm["disk"])
        assert not table, f"{vm['name']}: a partition table is left"
        assert zero, f"{vm['name']}: the disk holds data after destroy"
    nodes = json.loads(tfvm.bmplan("nodes", "list", "--json").stdout)
    assert nodes == [], nodes


def test_a_wrong_checksum_changes_nothing_on_the_disk(rig, images, tfvm):
    vm = rig.vms[0]
    before = disk_is_zero(vm["disk"])
    serial_before = serial_text(vm)
    hosts = host_block("bad-1", "vm-1", f"{rig.http_base}/debian-12.raw.gz", "sha256:" + "0" * 64)
    d = tfvm.workdir("badsum", config(rig, hosts))
    r = tfvm.run("apply", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=900)
    assert r.returncode == 1, r.stdout + r.stderr
    err = " ".join(r.stderr.split())
    assert "Image check failed" in err and "does not match its checksum" in err, err
    # Nothing was touched: the VM was never powered on (its console is silent) and its disk is as
    # it was.
    assert serial_text(vm) == serial_before
    assert disk_is_zero(vm["disk"]) == before
    r = tfvm.run("destroy", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr


def test_in_band_inspection_reads_the_vms_disks_macs_and_lldp_neighbour(rig, tfvm):
    """`bmplan nodes inspect --in-band` boots the agent on the VM; lldpd in the rig's namespace
    sends LLDP on every VM's tap, as a switch does on its ports."""
    d = tfvm.workdir("inspect", config(rig, ""))
    r = tfvm.run("apply", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    vm = rig.vms[0]
    seen_taps = set()
    done = threading.Event()

    def watch_taps():
        while not done.is_set():
            tap = rig.taps().get(vm["name"])
            if tap:
                seen_taps.add(tap)
            time.sleep(1)

    t = threading.Thread(target=watch_taps, daemon=True)
    t.start()
    try:
        r = tfvm.bmplan("nodes", "inspect", "vm-1", "--in-band", "--lldp-seconds", "20",
                        "--media-listen", f"{vmrig.GATEWAY}:0", "--timeout", "10m", "--json", timeout=900)
    finally:
        done.set()
        t.join(timeout=5)
    assert r.returncode == 0, r.stdout + r.stderr
    found = json.loads(r.stdout)
    assert [(x["name"], x["size_bytes"], x["serial"]) for x in found["disks"]] == [
        ("vda", 4 << 30, f"{vm['name']}-disk")], found["disks"]
    assert [n["mac"] for n in found["nics"]] == [vm["mac"]], found["nics"]
    lldp = found["nics"][0]["lldp"]
    assert lldp["system_name"] == "rig-switch", lldp
    assert lldp["port_id"] in seen_taps, (lldp, seen_taps)
    assert found["memory_bytes"] > 1 << 30 and found["cpu_count"] == 1, found
    # Recorded with the node, and the VM is left powered off.
    state = subprocess.run([*rig.ns_prefix(), "virsh", "-c", "qemu:///system", "domstate", vm["name"]],
                           capture_output=True, text=True).stdout.strip()
    assert state == "shut off", state
    audit = tfvm.bmplan("audit", "--node", "vm-1", "--format", "json")
    assert "node.inspect.inband" in audit.stdout, audit.stdout[-2000:]
    r = tfvm.run("destroy", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
