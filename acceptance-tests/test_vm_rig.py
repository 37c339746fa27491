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
import pty
import re
import subprocess
import sys
import threading
import time

import pytest

from conftest import ROOT, Terraform, bmplan_path, read_until, terraform_clis
from peers.ipmisim import PASSWORD as IPMI_SIM_PASSWORD, USER as IPMI_SIM_USER, IpmiSim

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


@pytest.fixture(autouse=True)
def leave_the_rig_clean(tfvm):
    """After each test, whatever it left (a test that failed half-way): every host deleted (a
    Terraform host deleted so is dropped from its state at refresh) and every configuration
    destroyed, so the next test starts from an empty inventory. Each cleanup must succeed: a rig
    left dirty fails here, not as a puzzling error in the next test."""
    yield
    # The address the rig's DHCP points network boot to: a host on an IPMI node is cleaned by PXE.
    life = ["--media-listen", vmrig.PXE_LISTEN, "--timeout", "15m"]
    r = tfvm.bmplan("hosts", "list", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    for host in json.loads(r.stdout):
        d = tfvm.bmplan("hosts", "delete", host["name"], *life, timeout=1200)
        assert d.returncode == 0, d.stdout + d.stderr
    for state in sorted(pathlib.Path(tfvm.tmp).glob("*/terraform.tfstate")):
        if json.loads(state.read_text() or "{}").get("resources"):
            r = tfvm.run("destroy", "-auto-approve", "-input=false", "-no-color", cwd=state.parent, timeout=1800)
            assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]


def config(rig, hosts):
    vms = {v["name"].removeprefix("bmrig-"): v for v in rig.vms}
    nodes = "".join(f'''
resource "baremetal_node" "{n.replace('-', '_')}" {{
  name      = "{n}"
  bmc_url   = "{rig.sushy_url}"
  system_id = "{v['uuid']}"
  username  = "admin"
  # Write-only: sealed in the inventory, never in Terraform's plan or state.
  password_wo         = "password"
  password_wo_version = 1
}}
''' for n, v in vms.items())
    return RIG_HEADER + nodes + hosts


# The provider's deployment endpoint listens on the rig's side of the bridge.
RIG_HEADER = f'''
terraform {{
  required_providers {{
    baremetal = {{ source = "bmplan/baremetal" }}
  }}
}}

provider "baremetal" {{
  media_listen = "{vmrig.GATEWAY}:0"
}}
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


def wait_serial(vm, text, since=0, timeout=60):
    """The console from `since` on, once it holds `text` (a line may reach the log a moment after
    the callback that ended the deployment)."""
    deadline = time.monotonic() + timeout
    while True:
        new = serial_text(vm)[since:]
        if text in new or time.monotonic() > deadline:
            return new
        time.sleep(0.5)


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

    # A rebuild in place: web-1 from the gzip image (generation 2); web-2 is left alone.
    vm1, vm2 = rig.vms
    before1, before2 = len(serial_text(vm1)), serial_text(vm2)
    gz = f"{base}/debian-12.raw.gz"
    hosts2 = (host_block("web-1", "vm-1", gz, sha256_of(os_dir / "debian-12.raw.gz"))
              + host_block("web-2", "vm-2", f"{base}/debian-12.qcow2", sha256_of(os_dir / "debian-12.qcow2")))
    (d / "main.tf").write_text(config(rig, hosts2))
    r = tfvm.run("apply", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=1800)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-5000:]
    assert "1 changed" in r.stdout, r.stdout[-3000:]
    new = serial_text(vm1)[before1:]
    assert "raw.gz image written to /dev/vda" in new and "RIG-HOSTNAME=web-1" in new, new[-3000:]
    # web-2 was not touched: it may still have been printing its boot when the first apply returned
    # (the callback comes from cloud-init, before the login prompt), but nothing was booted again.
    after2 = serial_text(vm2)
    assert after2.startswith(before2), "web-2's console was rewritten"
    assert "bm-agent" not in after2[len(before2):] and "Linux version" not in after2[len(before2):], \
        after2[len(before2):][-3000:]
    assert max(e["generation"] for e in host_log(tfvm, "web-2")) == 1
    assert any(e["generation"] == 2 and "raw.gz image written" in e["line"] for e in host_log(tfvm, "web-1"))

    r = tfvm.run("destroy", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=1800)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-5000:]
    for vm in rig.vms:
        zero, table = disk_is_zero(vm["disk"])
        assert not table, f"{vm['name']}: a partition table is left"
        assert zero, f"{vm['name']}: the disk holds data after destroy"
    nodes = json.loads(tfvm.bmplan("nodes", "list", "--json").stdout)
    assert nodes == [], nodes


@pytest.fixture(scope="module")
def rig_switch(rig, tmp_path_factory):
    """A fake-switches Cisco switch in the rig's namespace (its loopback), standing in for the VMs'
    top-of-rack switch: the engine configures its ports as it would a real one (the VMs' frames
    still cross the rig's bridge, which has no VLANs). It lives as long as the rig: the cleanup
    after each test moves the ports of the hosts it deletes."""
    tmp_path = tmp_path_factory.mktemp("rig-switch")
    port = 2299
    log = open(tmp_path / "rig-switch.log", "w")
    proc = subprocess.Popen(
        [*rig.ns_prefix(), sys.executable, "-m", "peers.fake_switch", "--model", "cisco_generic", "--port",
         str(port), "--hostname", "rig-tor", "--username", "admin", "--password", "pw", "--enable-password",
         "en", "--ports", "8"],
        cwd=str(pathlib.Path(__file__).parent), stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while "listening on" not in (tmp_path / "rig-switch.log").read_text():
        assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "rig-switch.log").read_text()
        time.sleep(0.2)
    try:
        yield f'''
resource "baremetal_switch" "tor" {{
  name            = "rig-tor"
  driver          = "cisco_ios"
  address         = "127.0.0.1:{port}"
  username        = "admin"
  password        = "pw"
  enable_password = "en"
}}
'''
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


# The hosts' network: no DHCP serves it; its gateway is the namespace's side of the rig's bridge.
TENANT_GW4, TENANT_GW6 = "10.232.0.1", "fd00:232::1"


def tenant(ipv6):
    return f'''
resource "baremetal_network" "tenant" {{
  name    = "tenant"
  vlan_id = 232
  subnet {{
    cidr    = "10.232.0.0/24"
    gateway = "{TENANT_GW4}"
    ranges  = ["10.232.0.10-10.232.0.19", "10.232.0.50-10.232.0.59"]
  }}
  subnet {{
    {ipv6}
  }}
}}
'''


TENANT = tenant(f'''cidr    = "fd00:232::/64"
    gateway = "{TENANT_GW6}"
    ranges  = ["fd00:232::10-fd00:232::19", "fd00:232::50-fd00:232::59"]''')
# The same network with IPv6 by SLAAC: the rig's router advertisements (dnsmasq, on the bridge) give
# hosts their IPv6 address. (Not beside a static IPv6 address: Debian 12's cloud-init renders for
# ifupdown, whose static inet6 stanza turns router advertisements off; docs/guides/networks.md.)
TENANT_SLAAC = tenant(f'''cidr = "{vmrig.ULA}/64"
    mode = "slaac"''')


@pytest.fixture(scope="module")
def tenant_gateway(rig):
    """The tenant network's gateway addresses on the rig's bridge, inside the namespace."""
    subprocess.run(["ip", "-n", vmrig.NETNS, "addr", "add", f"{TENANT_GW4}/24", "dev", vmrig.BRIDGE], check=True)
    subprocess.run(["ip", "-n", vmrig.NETNS, "addr", "add", f"{TENANT_GW6}/64", "dev", vmrig.BRIDGE, "nodad"],
                   check=True)
    yield
    for a in (f"{TENANT_GW4}/24", f"{TENANT_GW6}/64"):
        subprocess.run(["ip", "-n", vmrig.NETNS, "addr", "del", a, "dev", vmrig.BRIDGE], check=False)


def ipam_nodes(rig, switch, ports, profile="", network=TENANT):
    """The rig's VMs as nodes whose ports (`ports[vm]`: (switch port, MAC, bond) each) are on the
    tenant network; `profile` is HCL for a profile named `bonded` that bonded nodes take."""
    body = ""
    for v in rig.vms:
        n = v["name"].removeprefix("bmrig-")
        blocks = "".join(f'''
  port {{
    switch   = baremetal_switch.tor.name
    port     = "{sp}"
    mac      = "{mac}"
    networks = [baremetal_network.tenant.name]
    {f'bond     = "{bond}"' if bond else ""}
  }}''' for sp, mac, bond in ports.get(n, []))
        uses = "profile   = baremetal_profile.bonded.name" if any(b for _, _, b in ports.get(n, [])) else ""
        body += f'''
resource "baremetal_node" "{n.replace('-', '_')}" {{
  name      = "{n}"
  bmc_url   = "{rig.sushy_url}"
  system_id = "{v['uuid']}"
  username  = "admin"
  password_wo         = "password"
  password_wo_version = 1
  {uses}
  {blocks}
}}
'''
    return RIG_HEADER + switch + network + profile + body


def ipam_host(name, node, image, checksum, lines, pin=None, rebuild=None):
    """A host on the tenant network; `lines` are shell commands whose output cloud-init prints on
    the serial console, each line prefixed `RIG-OUT `. `checksum` None: `image` is a golden
    image's reference (HCL), deployed by `image =`."""
    runcmd = "".join(f"  - [ sh, -c, '{c} 2>&1 | sed \\\"s/^/RIG-OUT /\\\" > /dev/ttyS0' ]\\n" for c in lines)
    user_data = "#cloud-config\\nruncmd:\\n" + runcmd
    pins = "".join(f'''
  address {{
    network = "tenant"
    address = "{a}"
  }}''' for a in (pin or []))
    trigger = f'rebuild = "{rebuild}"' if rebuild else ""
    key = name.replace('-', '_')
    return f'''
resource "baremetal_host" "{key}" {{
  name           = "{name}"
  node           = baremetal_node.{node.replace('-', '_')}.name
  {f'image_url      = "{image}"' if checksum else f"image = {image}"}
  {f'image_checksum = "{checksum}"' if checksum else ""}
  networks       = [baremetal_network.tenant.name]
  ssh_keys       = ["{SSH_KEY}"]
  user_data      = "{user_data}"
  wait           = "callback"
  {trigger}
  {pins}
  timeouts {{
    create = "20m"
    update = "20m"
    delete = "15m"
  }}
}}
output "{key}_addresses" {{
  value = baremetal_host.{key}.addresses
}}
'''


def ns_ping(address, count=3):
    six = ["-6"] if ":" in address else []
    return subprocess.run(["ip", "netns", "exec", vmrig.NETNS, "ping", *six, "-c", str(count), "-W", "2", address],
                          capture_output=True, text=True)


def retry(cmd, seconds=120):
    """A shell command tried every 2 s until it succeeds, for `seconds`."""
    return f"for i in $(seq {seconds // 2}); do {cmd} && break; sleep 2; done"


def wait_until(vm, found, since=0, timeout=120):
    """The console from `since` on, once `found(text)` holds (or the time is up)."""
    deadline = time.monotonic() + timeout
    while True:
        new = serial_text(vm)[since:]
        if found(new) or time.monotonic() > deadline:
            return new
        time.sleep(1)


def ping_results(text):
    """`address → packets received` for each ping a host printed."""
    return dict(re.findall(r"RIG-OUT --- (\S+) ping statistics ---\s*RIG-OUT \d+ packets transmitted, (\d+) received",
                           text))


GOLDEN = "golden-debian-12.raw.zst"


def golden_image(rig, checksum):
    """A golden image on the rig's origin, under a name no other test fetches (so the origin's
    log counts this test's fetches), with the data source that reads it back."""
    return f'''
resource "baremetal_image" "debian" {{
  name      = "debian-12"
  url       = "{rig.http_base}/{GOLDEN}"
  checksum  = "{checksum}"
  format    = "raw.zst"
  os_family = "debian"
}}
data "baremetal_image" "debian" {{
  name       = baremetal_image.debian.name
  depends_on = [baremetal_host.web_1, baremetal_host.web_2]
}}
output "image_size" {{
  value = data.baremetal_image.debian.size_bytes
}}
output "image_hosts" {{
  value = data.baremetal_image.debian.hosts
}}
'''


def origin_fetches(rig, name):
    return open(rig.path("origin.log"), errors="replace").read().count(f'"GET /{name} ')


def test_two_hosts_deployed_at_once_from_one_golden_image_fetched_once_reach_each_other_and_the_gateway_at_static_ipv4_and_ipv6_addresses_kept_on_rebuild_and_released_on_delete(  # noqa: E501
        rig, images, tfvm, rig_switch, tenant_gateway, tmp_path):
    os_dir = images["os"]
    checksum = sha256_of(os_dir / "debian-12.raw.zst")
    golden = pathlib.Path(rig.www) / GOLDEN
    if not golden.exists():
        golden.symlink_to(os_dir / "debian-12.raw.zst")
    # Both hosts deploy the golden image by its ref, through an image cache of their own (the
    # module's holds this image's bits from other tests already).
    image = "baremetal_image.debian.ref"
    module_cache = tfvm.env["BAREMETAL_IMAGE_CACHE_DIR"]
    tfvm.env["BAREMETAL_IMAGE_CACHE_DIR"] = str(tmp_path / "image-cache")
    vm1, vm2 = rig.vms
    # web-1 pins its addresses (both hosts deploy at once, so which would be allocated first is
    # not known); web-2's are allocated from the ranges. web-2 pings web-1 and the gateways from
    # inside, and prints what it has.
    show = ["ip -o addr show scope global", "ip route show default", "ip -6 route show default"]
    # web-1 may still be booting: each ping is tried for two minutes.
    pings = [retry(f"ping {a} -c 3 -W 2") for a in
             ("10.232.0.55", TENANT_GW4, "-6 fd00:232::55", f"-6 {TENANT_GW6}")]
    ports = {"vm-1": [("Gi0/1", vm1["mac"], None)], "vm-2": [("Gi0/2", vm2["mac"], None)]}

    def hosts(rebuild=None):
        return (golden_image(rig, checksum)
                + ipam_host("web-1", "vm-1", image, None, show, pin=["10.232.0.55", "fd00:232::55"])
                + ipam_host("web-2", "vm-2", image, None, show + pings, rebuild=rebuild))

    d = tfvm.workdir("ipam", ipam_nodes(rig, rig_switch, ports) + hosts())
    started = time.monotonic()
    r = tfvm.run("apply", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=1800)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-5000:] + "\n" + tfvm.log.read_text()[-5000:]
    print(f"two hosts with static addresses deployed at once in {time.monotonic() - started:.0f} s")
    # Two deployments at once, one fetch from the origin: the agents read the engine's cache.
    assert origin_fetches(rig, GOLDEN) == 1, open(rig.path("origin.log")).read()[-3000:]
    out = json.loads(tfvm.run("output", "-json", cwd=d).stdout)
    assert out["image_size"]["value"] == (os_dir / "debian-12.raw.zst").stat().st_size, out
    assert out["image_hosts"]["value"] == ["lab/web-1", "lab/web-2"], out
    # web-1: its pins; web-2: the first free address of each range.
    assert out["web_1_addresses"]["value"] == {"tenant": ["10.232.0.55", "fd00:232::55"]}, out
    assert out["web_2_addresses"]["value"] == {"tenant": ["10.232.0.10", "fd00:232::10"]}, out
    # Inside web-2: its static addresses, the gateways as default routes, and web-1 and the
    # gateways answering over IPv4 and IPv6.
    text = wait_until(vm2, lambda t: TENANT_GW6 in ping_results(t), timeout=240)
    assert re.search(r"nic0\s+inet 10\.232\.0\.10/24", text), text[-3000:]
    assert "inet6 fd00:232::10/64" in text, text[-3000:]
    assert f"RIG-OUT default via {TENANT_GW4} dev nic0" in text, text[-3000:]
    assert f"RIG-OUT default via {TENANT_GW6} dev nic0" in text, text[-3000:]
    assert ping_results(text) == {"10.232.0.55": "3", TENANT_GW4: "3", "fd00:232::55": "3", TENANT_GW6: "3"}, \
        text[-3000:]
    # From the gateway's side: both hosts, both families.
    for a in ("10.232.0.55", "fd00:232::55", "10.232.0.10", "fd00:232::10"):
        p = ns_ping(a)
        assert p.returncode == 0, a + "\n" + p.stdout + p.stderr
    listed = tfvm.bmplan("hosts", "list", "--json")
    assert {h["name"]: h["addresses"] for h in json.loads(listed.stdout)} == {
        "web-1": {"tenant": ["10.232.0.55", "fd00:232::55"]},
        "web-2": {"tenant": ["10.232.0.10", "fd00:232::10"]}}, listed.stdout
    r = tfvm.run("plan", "-input=false", "-no-color", "-detailed-exitcode", cwd=d)
    assert r.returncode == 0, r.stdout + r.stderr

    # A rebuild of web-2 keeps its addresses.
    before = len(serial_text(vm2))
    (d / "main.tf").write_text(ipam_nodes(rig, rig_switch, ports) + hosts(rebuild="2"))
    r = tfvm.run("apply", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=1800)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-5000:]
    out = json.loads(tfvm.run("output", "-json", cwd=d).stdout)
    assert out["web_2_addresses"]["value"] == {"tenant": ["10.232.0.10", "fd00:232::10"]}, out
    new = wait_until(vm2, lambda t: TENANT_GW6 in ping_results(t), since=before, timeout=240)
    assert "image written to /dev/vda" in new and re.search(r"nic0\s+inet 10\.232\.0\.10/24", new), new[-3000:]
    assert ping_results(new)["10.232.0.55"] == "3", new[-3000:]
    assert ns_ping("10.232.0.10").returncode == 0
    assert origin_fetches(rig, GOLDEN) == 1, "the rebuild was served from the cache"

    # Delete releases them; each allocation and release is in the audit log.
    r = tfvm.run("destroy", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=1800)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-5000:]
    audit = json.loads(tfvm.bmplan("audit", "--format", "json").stdout)
    actions = [e["action"] for e in audit if re.search(r"from host web-|to host web-", e.get("detail") or "")]
    assert actions.count("address.allocate") == 4 and actions.count("address.release") == 4, actions
    images = [e["action"] for e in audit if e["object_kind"] == "image"]
    assert images.count("image.register") == 1 and images.count("image.use") == 3, images
    assert images.count("image.delete") == 1, images
    tfvm.env["BAREMETAL_IMAGE_CACHE_DIR"] = module_cache


def test_an_active_backup_bond_on_two_nics_keeps_the_host_reachable_when_its_active_link_goes_down(
        rig, images, tfvm, rig_switch, tenant_gateway):
    os_dir = images["os"]
    image, checksum = f"{rig.http_base}/debian-12.raw.zst", sha256_of(os_dir / "debian-12.raw.zst")
    vm1 = rig.vms[0]
    dom, mac2 = vm1["name"], "52:54:00:23:01:01"
    # A second NIC on the rig's bridge, for this test only (the domain's next boot has it).
    vmrig.virsh("attach-interface", "--domain", dom, "--type", "bridge", "--source", vmrig.BRIDGE,
                "--mac", mac2, "--model", "virtio", "--config")
    taps = {}
    try:
        profile = '''
resource "baremetal_profile" "bonded" {
  name = "bonded"
  network_connection {
    bond_mode = "active-backup"
  }
}
'''
        ports = {"vm-1": [("Gi0/1", vm1["mac"], "bond0"), ("Gi0/3", mac2, "bond0")]}
        host = ipam_host("db-1", "vm-1", image, checksum,
                         ["cat /proc/net/bonding/bond0", "sleep 5", "ip -o addr show dev bond0 scope global"])
        d = tfvm.workdir("bond", ipam_nodes(rig, rig_switch, ports, profile, TENANT_SLAAC) + host)
        r = tfvm.run("plan", "-input=false", "-no-color", cwd=d)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        r = tfvm.run("apply", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=1800)
        assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-5000:] + "\n" + tfvm.log.read_text()[-5000:]
        out = json.loads(tfvm.run("output", "-json", cwd=d).stdout)
        # IPv4 allocated; IPv6 by SLAAC, so nothing allocated for it.
        assert out["db_1_addresses"]["value"] == {"tenant": ["10.232.0.10"]}, out
        address = "10.232.0.10"
        # The host's side, as its kernel reports it: an active-backup bond of both NICs, the
        # first active, carrying the static address.
        text = wait_until(vm1, lambda t: "RIG-OUT" in t and re.search(r"bond0\s+inet 10\.232\.0\.10/24", t),
                          timeout=180)
        assert "Bonding Mode: fault-tolerance (active-backup)" in text, text[-3000:]
        # SLAAC on the bond: an address of the advertised prefix, from the bond's MAC (EUI-64).
        slaac = "fd00:231::5054:ff:fe23:1"
        assert re.search(rf"bond0\s+inet6 {slaac}/64 scope global dynamic", text), text[-3000:]
        assert "Currently Active Slave: nic0" in text, text[-3000:]
        assert text.count("Slave Interface: nic") == 2, text[-3000:]
        # The switch's side: two independent ports, no port-channel (the host fails over alone).
        shown = tfvm.bmplan("switch", "show", "--driver", "cisco_ios", "--address", "127.0.0.1:2299",
                            "--username", "admin", "--password-env", "SW_PW", "--enable-password-env", "SW_EN",
                            "--json", env={"SW_PW": "pw", "SW_EN": "en"})
        assert shown.returncode == 0, shown.stdout + shown.stderr
        state = json.loads(shown.stdout)
        for p in ("GigabitEthernet0/1", "GigabitEthernet0/3"):
            assert state["ports"][p]["channel_group"] is None, state["ports"][p]
            assert state["ports"][p]["access_vlan"] == 232, state["ports"][p]
        assert ns_ping(address).returncode == 0

        # The active link goes down: its cable (the VM's link state, which the bond's MII monitor
        # sees) and the switch side of it (the tap in the namespace).
        for line in vmrig.virsh("domiflist", dom).stdout.splitlines():
            parts = line.split()
            if len(parts) >= 5:
                taps[parts[4].lower()] = parts[0]
        active = taps[vm1["mac"]]
        pinger = subprocess.Popen(["ip", "netns", "exec", vmrig.NETNS, "ping", "-i", "0.2", "-w", "20", address],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(3)
        vmrig.virsh("domif-setlink", dom, active, "down")
        subprocess.run(["ip", "-n", vmrig.NETNS, "link", "set", active, "down"], check=True)
        went_down = time.monotonic()
        log, _ = pinger.communicate(timeout=60)
        m = re.search(r"(\d+) packets transmitted, (\d+) received", log)
        assert m, log
        sent, got = int(m.group(1)), int(m.group(2))
        print(f"active link down: {sent - got} of {sent} pings lost over 20 s")
        # Most answered, and every ping after the failover: the last ten replies came in.
        assert got >= sent - 15, log
        seqs = [int(s) for s in re.findall(r"icmp_seq=(\d+)", log)]
        assert seqs and max(seqs) >= sent - 2, log
        assert time.monotonic() - went_down > 10
        p = ns_ping(address, count=5)
        assert p.returncode == 0 and "5 received" in p.stdout, p.stdout
        p = ns_ping(slaac, count=3)
        assert p.returncode == 0, p.stdout
        vmrig.virsh("domif-setlink", dom, active, "up")
        subprocess.run(["ip", "-n", vmrig.NETNS, "link", "set", active, "up"], check=True)

        r = tfvm.run("destroy", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=1800)
        assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-5000:]
    finally:
        if taps.get(vm1["mac"]):
            # Up again, if the tap still exists (it goes when the VM powers off).
            subprocess.run(["ip", "-n", vmrig.NETNS, "link", "set", taps[vm1["mac"]], "up"], check=False,
                           capture_output=True)
        vmrig.virsh("detach-interface", "--domain", dom, "--type", "bridge", "--mac", mac2, "--config",
                    check=False)


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


# Every boot, once cloud-init has run: the machine's identity on the console (the script is put
# by the deployment's user data, so a captured image carries it only if its own user data does).
IDENTITY_USER_DATA = """#cloud-config
write_files:
  - path: /var/lib/cloud/scripts/per-boot/rig-identity.sh
    permissions: '0755'
    content: |
      #!/bin/sh
      echo "RIG-ID machine=$(cat /etc/machine-id) key=$(cut -d' ' -f2 /etc/ssh/ssh_host_ed25519_key.pub) iid=$(cat /var/lib/cloud/data/instance-id)" > /dev/ttyS0
"""


def identities(text):
    """The `RIG-ID` lines a console printed, as (machine-id, host key, instance id)."""
    return re.findall(r"RIG-ID machine=(\S+) key=(\S+) iid=(\S+)", text)


def test_bmplan_deploys_captures_and_cleans_through_the_agent_and_an_image_changed_after_verification_is_refused(
        rig, images, tfvm, tmp_path):
    """The same engine under `bmplan hosts deploy/delete`, on vm-2; meanwhile on vm-1, the engine's
    cached copy of the image is changed on disk between the engine's verification and the agent's
    read (the agents read the engine's cache, not the origin): the agent's own check refuses it
    before writing, and the node is cleaned back to the pool. Then `bmplan images capture` turns
    vm-2's host into a golden image, deployed onto vm-1: it boots, cloud-init runs as a new
    instance, its machine-id and SSH host key differ from the source's, and the source boots its
    OS again, unchanged."""
    d = tfvm.workdir("bmplan-nodes", config(rig, ""))
    r = tfvm.run("apply", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    os_dir = images["os"]
    # A cache of this test's own: the image appears in it only once the engine verified it.
    cache = tmp_path / "image-cache"
    store = tmp_path / "image-store"
    env = {"BAREMETAL_IMAGE_CACHE_DIR": str(cache), "BAREMETAL_IMAGE_STORE_DIR": str(store)}
    user_data = tmp_path / "identity.yaml"
    user_data.write_text(IDENTITY_USER_DATA)
    gz = sha256_of(os_dir / "debian-12.raw.gz")
    life = ["--media-listen", f"{vmrig.GATEWAY}:0", "--timeout", "15m"]
    serial_before = len(serial_text(rig.vms[1]))
    for host, node in (("b-1", "vm-2"), ("t-1", "vm-1")):
        r = tfvm.bmplan("hosts", "create", host, "--node", node)
        assert r.returncode == 0, r.stdout + r.stderr
    results = {}

    def deploy(host, url, checksum):
        results[host] = tfvm.bmplan("hosts", "deploy", host, "--image-url", url, "--image-checksum", checksum,
                                    "--wait", "callback", "--ssh-key", SSH_KEY, "--user-data-file", str(user_data),
                                    *life, timeout=1200, env=env)

    def change_the_cached_copy():
        kept = cache / gz.replace(":", "-")
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            if kept.exists():
                # Same size, other bytes mid-way: only a digest tells.
                with open(kept, "r+b") as f:
                    f.seek(kept.stat().st_size // 2)
                    f.write(b"changed after verification " * 1000)
                return
            time.sleep(0.2)

    threads = [
        threading.Thread(target=deploy, args=("b-1", f"{rig.http_base}/debian-12.qcow2",
                                              sha256_of(os_dir / "debian-12.qcow2"))),
        threading.Thread(target=deploy, args=("t-1", f"{rig.http_base}/debian-12.raw.gz", gz)),
        threading.Thread(target=change_the_cached_copy),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=1500)

    ok = results["b-1"]
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "host lab/b-1: active on node vm-2" in ok.stdout, ok.stdout
    # This deployment's boot of the written disk (the console log is appended to across tests).
    new = wait_serial(rig.vms[1], "Datasource DataSourceNoCloud [seed=/dev/vda2]", since=serial_before)
    assert "Datasource DataSourceNoCloud [seed=/dev/vda2]" in new, new[-2000:]
    assert "ci-info: | ssh-ed25519 |" in new and "rig@test" in new, new[-2000:]

    bad = results["t-1"]
    assert bad.returncode != 0, bad.stdout + bad.stderr
    err = " ".join(bad.stderr.split())
    assert "nothing was written" in err, err
    assert "the node was cleaned and is available again" in err, err
    zero, table = disk_is_zero(rig.vms[0]["disk"])
    assert zero and not table, "vm-1's disk holds data after the refused image"

    # Capture b-1 (vm-2) into a golden image.
    source = identities(wait_serial(rig.vms[1], "RIG-ID", since=serial_before, timeout=120))
    assert len(source) == 1 and source[0][2] == "lab-b-1-g1", source
    before_capture = len(serial_text(rig.vms[1]))
    started = time.monotonic()
    # The rig's minimal Debian has no logind to act on the ACPI power button: 10 s of grace. zstd
    # level 1: the rig's one emulated CPU compresses.
    r = tfvm.bmplan("images", "capture", "b-1", "--name", "b1-golden", "--shutdown-timeout", "10s", "--level", "1",
                    "--json", *life, timeout=1200, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    seconds = time.monotonic() - started
    cap = json.loads(r.stdout)
    print(f"captured {cap['captured']['disk_bytes']} bytes of disk as {cap['captured']['bytes']} in {seconds:.0f} s")
    assert cap["image"]["origin"] == {"kind": "captured", "host": "lab/b-1", "generation": 1}, cap
    assert cap["image"]["os_family"] == "debian" and cap["image"]["format"] == "raw.zst", cap
    assert cap["captured"]["config_drive_dropped"] == 2 and cap["captured"]["table"] == "mbr", cap
    done = "\n".join(cap["captured"]["generalised"])
    for want in ("emptied /etc/machine-id", "removed /etc/ssh/ssh_host_ed25519_key", "entries of /var/lib/cloud"):
        assert want in done, done
    kept = pathlib.Path(cap["image"]["url"].removeprefix("file://"))
    assert kept.parent == store and kept.stat().st_size == cap["captured"]["bytes"], cap
    # The source boots its own OS again, unchanged: the same machine-id, host key and instance.
    again = identities(wait_serial(rig.vms[1], "RIG-ID", since=before_capture, timeout=300))
    assert again == source, (again, source)
    listed = json.loads(tfvm.bmplan("images", "list", "--json", env=env).stdout)
    assert [i["name"] for i in listed] == ["b1-golden"], listed
    # Deployed onto vm-1 (cleaned after the refused image, and back in the pool), from the store.
    r = tfvm.bmplan("hosts", "create", "c-1", "--node", "vm-1")
    assert r.returncode == 0, r.stdout + r.stderr
    before_t1 = len(serial_text(rig.vms[0]))
    r = tfvm.bmplan("hosts", "deploy", "c-1", "--image-url", cap["image"]["url"], "--image-checksum",
                    cap["image"]["checksum"], "--wait", "callback", "--ssh-key", SSH_KEY,
                    "--user-data-file", str(user_data), *life, timeout=1200, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    copy = identities(wait_serial(rig.vms[0], "RIG-ID", since=before_t1, timeout=120))
    assert len(copy) == 1, serial_text(rig.vms[0])[before_t1:][-3000:]
    (m_src, k_src, _), (m_new, k_new, iid_new) = source[0], copy[0]
    assert iid_new == "lab-c-1-g1", copy
    assert m_new != m_src and len(m_new) == 32, (m_new, m_src)
    assert k_new != k_src, (k_new, k_src)
    audit = json.loads(tfvm.bmplan("audit", "--format", "json").stdout)
    assert [e["outcome"] for e in audit if e["action"] == "image.capture"] == ["ok"], audit[-5:]
    # Both hosts deleted at once (each node wiped by its own agent).
    deleted = {}

    def delete(host):
        deleted[host] = tfvm.bmplan("hosts", "delete", host, *life, timeout=1200)

    deleting = [threading.Thread(target=delete, args=(h,)) for h in ("c-1", "b-1")]
    for t in deleting:
        t.start()
    for t in deleting:
        t.join(timeout=1500)
    for host in ("c-1", "b-1"):
        r = deleted[host]
        assert r.returncode == 0, host + ": " + r.stdout + r.stderr
    zero, table = disk_is_zero(rig.vms[1]["disk"])
    assert zero and not table, "vm-2's disk holds data after bmplan hosts delete"
    nodes = {n["name"]: n["state"] for n in json.loads(tfvm.bmplan("nodes", "list", "--json").stdout)}
    assert nodes == {"vm-1": "available", "vm-2": "available"}, nodes
    r = tfvm.run("destroy", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_vm_enrolled_over_ipmi_is_inspected_powered_and_booted_through_virtualbmc(rig, tfvm):
    """A VM behind virtualbmc (pyghmi's IPMI server over libvirt), enrolled only as ipmi://: its
    power and boot device are read back from libvirt, a peer we did not write."""
    vm = rig.vms[1]
    ipmi = vm["ipmi"]
    url = f"ipmi://{ipmi['address']}:{ipmi['port']}"
    d = tfvm.workdir("ipmi", f'''
terraform {{
  required_providers {{
    baremetal = {{ source = "bmplan/baremetal" }}
  }}
}}
resource "baremetal_node" "vm" {{
  name                = "vm-ipmi"
  bmc_url             = "{url}"
  username            = "{ipmi['username']}"
  password_wo         = "{ipmi['password']}"
  password_wo_version = 1
}}
''')
    r = tfvm.run("apply", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr

    def domstate():
        return subprocess.run([*rig.ns_prefix(), "virsh", "-c", "qemu:///system", "domstate", vm["name"]],
                              capture_output=True, text=True).stdout.strip()

    def first_boot_device():
        xml = subprocess.run([*rig.ns_prefix(), "virsh", "-c", "qemu:///system", "dumpxml", vm["name"]],
                             capture_output=True, text=True).stdout
        return xml.split("<boot dev='", 1)[1].split("'", 1)[0]

    node = json.loads(tfvm.bmplan("nodes", "show", "vm-ipmi", "--json").stdout)
    assert (node["system_id"], node["power"], node["state"]) == ("1", "Off", "available"), node
    assert domstate() == "shut off"
    # virtualbmc has no FRU, SDR or SEL: said, not invented.
    inv = json.loads(tfvm.bmplan("inspect", url, "--username", ipmi["username"], "--password-env", "RIG_IPMI_PW",
                                 "--json", env={"RIG_IPMI_PW": ipmi["password"]}).stdout)
    assert inv["power_state"] == "Off" and inv["manufacturer"] is None, inv
    assert any(u.startswith("FRU:") and "Invalid command" in u for u in inv["unavailable"]), inv["unavailable"]

    r = tfvm.bmplan("nodes", "boot", "vm-ipmi", "pxe", "--persistent")
    assert r.returncode == 0, r.stdout + r.stderr
    assert first_boot_device() == "network", "libvirt's first boot device"
    # virtualbmc writes every boot device into the domain (kept across boots), but answers the
    # boot flags without the persistent bit: what it says is shown as it says it.
    assert "vm-ipmi: boot device Pxe (Once, Legacy)" in r.stdout, r.stdout
    r = tfvm.bmplan("nodes", "boot", "vm-ipmi", "disk", "--persistent")
    assert r.returncode == 0 and first_boot_device() == "hd", r.stdout + r.stderr

    r = tfvm.bmplan("nodes", "power", "vm-ipmi", "on")
    assert r.returncode == 0 and domstate() == "running", r.stdout + r.stderr
    # Nothing on the disk obeys ACPI: the soft off is forced after half the timeout.
    r = tfvm.bmplan("nodes", "power", "vm-ipmi", "off", "--timeout", "20")
    assert r.returncode == 0 and domstate() == "shut off", r.stdout + r.stderr

    r = tfvm.bmplan("nodes", "events", "vm-ipmi")
    assert r.returncode != 0 and "not supported by this BMC" in r.stderr, r.stdout + r.stderr
    # No virtual media over IPMI, so the agent boots by PXE, and this node has no MAC to boot
    # from (no pxe_mac, no port, never inspected in band): refused before anything is touched.
    assert tfvm.bmplan("hosts", "create", "ipmi-h", "--node", "vm-ipmi").returncode == 0
    r = tfvm.bmplan("hosts", "deploy", "ipmi-h", "--image-url", f"{rig.http_base}/debian-12.raw.zst",
                    "--image-checksum", "sha256:" + "0" * 64, "--media-listen", rig.pxe_listen)
    err = " ".join(r.stderr.split())
    assert r.returncode != 0 and "no MAC address is known for it: set its pxe_mac" in err \
        and "nothing was touched" in err, r.stderr
    assert domstate() == "shut off"
    assert [a["outcome"] for a in json.loads(tfvm.bmplan("audit", "--format", "json").stdout)
            if a["action"] in ("node.power", "node.boot")] == ["ok"] * 4


def test_a_vm_enrolled_only_over_ipmi_is_deployed_over_pxe_by_terraform_and_cleaned_on_destroy(
        rig, images, tfvm):
    """The issue's first "done when": a VM behind virtualbmc (IPMI only: no virtual media) is
    deployed by `terraform apply`: PXE once through virtualbmc, the VM's iPXE gets the engine's
    entry script from the rig's dnsmasq (the settings a site's DHCP takes), the deploy agent's
    kernel and initrd come over HTTP from the deployment endpoint, the agent writes the Debian
    image, the VM boots its disk with cloud-init applied; `terraform destroy` boots the agent by
    PXE again, which erases the disk, and the node is back in the pool."""
    vm = rig.vms[0]
    ipmi = vm["ipmi"]
    os_dir = images["os"]
    image = f"{rig.http_base}/debian-12.raw.zst"
    node = f'''
resource "baremetal_node" "vm" {{
  name                = "vm-pxe"
  bmc_url             = "ipmi://{ipmi['address']}:{ipmi['port']}"
  username            = "{ipmi['username']}"
  password_wo         = "{ipmi['password']}"
  password_wo_version = 1
  boot_interface      = "pxe"
  pxe_mac             = "{vm['mac'].upper()}"
}}
'''
    host = host_block("web-pxe", "vm", image, sha256_of(os_dir / "debian-12.raw.zst"))
    main = f'''
terraform {{
  required_providers {{
    baremetal = {{ source = "bmplan/baremetal" }}
  }}
}}
provider "baremetal" {{
  # The address the rig's DHCP hands iPXE (docs/guides/hosts.md: network boot beside a site's DHCP).
  media_listen = "{rig.pxe_listen}"
}}
{node}
{host}
'''
    d = tfvm.workdir("pxe", main)
    serial_before = len(serial_text(vm))
    dhcp_before = len(pathlib.Path(rig.path("dnsmasq.log")).read_text(errors="replace"))
    started = time.monotonic()
    r = tfvm.run("apply", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=1800)
    took = time.monotonic() - started
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-5000:] + "\n" + tfvm.log.read_text()[-5000:]
    print(f"deployed over PXE in {took:.0f} s")

    # The rig's DHCP gave the VM's iPXE the engine's entry script.
    dhcp = pathlib.Path(rig.path("dnsmasq.log")).read_text(errors="replace")[dhcp_before:]
    assert vm["mac"] in dhcp and rig.pxe_entry in dhcp, dhcp[-3000:]
    text = serial_text(vm)[serial_before:]
    # The agent booted from the network (its kernel on the serial console), then Debian from disk.
    assert "bm-agent: agent 0.1.0 starting" in text, text[-3000:]
    assert "Cloud-init v. 22.4.2" in text, text[-3000:]
    assert "RIG-HOSTNAME=web-pxe" in text and f"RIG-KEY={SSH_KEY}" in text, text[-3000:]
    assert f"RIG-ADDR=2: nic0 inet {vm['address']}/24" in text, text[-3000:]
    lines = [e["line"] for e in host_log(tfvm, "web-pxe")]
    assert any("image written to /dev/vda" in l for l in lines), lines[-30:]
    # The node boots its disk from now on (virtualbmc wrote it into the domain).
    xml = subprocess.run([*rig.ns_prefix(), "virsh", "-c", "qemu:///system", "dumpxml", vm["name"]],
                         capture_output=True, text=True).stdout
    assert xml.split("<boot dev='", 1)[1].split("'", 1)[0] == "hd", xml
    state = json.loads((d / "terraform.tfstate").read_text())
    vm_state = next(x for x in state["resources"] if x["type"] == "baremetal_node")["instances"][0]["attributes"]
    assert (vm_state["boot_interface"], vm_state["pxe_mac"]) == ("pxe", vm["mac"].upper()), vm_state
    r = tfvm.run("plan", "-input=false", "-no-color", "-detailed-exitcode", cwd=d)
    assert r.returncode == 0, r.stdout + r.stderr

    # The host goes: the agent boots by PXE again and erases the disk; the node is back in the pool.
    serial_before = len(serial_text(vm))
    r = tfvm.run("destroy", "-auto-approve", "-input=false", "-no-color", "-target=baremetal_host.web_pxe",
                 cwd=d, timeout=1800)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-5000:]
    assert "bm-agent: agent 0.1.0 starting" in serial_text(vm)[serial_before:]
    zero, table = disk_is_zero(vm["disk"])
    assert zero and not table, "the disk holds data after destroy"
    nodes = {n["name"]: n["state"] for n in json.loads(tfvm.bmplan("nodes", "list", "--json").stdout)}
    assert nodes == {"vm-pxe": "available"}, nodes
    r = tfvm.run("destroy", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr


def see_the_vm_boot_on_its_serial_console(rig, tfvm, vm, node):
    """`bmplan nodes console NODE` in a pseudo-terminal shows the VM's boot output (the test resets
    the VM with virsh) and detaches with Ctrl-]."""
    pid, term = pty.fork()
    if pid == 0:
        argv = [*tfvm.prefix, bmplan_path(), "--inventory", tfvm.inventory, "nodes", "console", node]
        os.execvpe(argv[0], argv, tfvm.env)
    try:
        seen = read_until(term, b"SOL Session operational", timeout=60)
        assert f"{node}: serial console attached; detach with Ctrl-]".encode() in seen, seen
        subprocess.run([*rig.ns_prefix(), "virsh", "-c", "qemu:///system", "reset", vm["name"]],
                       check=True, capture_output=True, timeout=60)
        # The kernel's first line on ttyS0, then the system's own boot.
        seen = read_until(term, b"Linux version", timeout=240)
        assert b"Linux version" in seen, seen[-3000:]
        seen = read_until(term, b"login:", timeout=300)
        assert b"login:" in seen, seen[-3000:]
        os.write(term, b"\x1d")  # Ctrl-]
        seen = read_until(term, f"{node}: detached".encode(), timeout=60)
        assert f"{node}: detached".encode() in seen, seen
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        os.close(term)


def test_a_vm_behind_ipmi_sim_is_inspected_and_deployed_by_pxe_with_its_serial_console_kept_and_attached(
        rig, images, tfvm):
    """OpenIPMI's ipmi_sim as the whole BMC of a VM: its chassis control drives the VM through
    libvirt (power, boot device) and its serial-over-LAN is the VM's serial port (ipmi_sim's
    documented `tcp:` device for QEMU). Virtualbmc has no SOL; this BMC has. In-band inspection
    boots the agent by PXE; the deployment keeps the serial console with the host's record; `bmplan
    nodes console` shows the VM's boot output and detaches."""
    vm = rig.vms[1]
    sim = IpmiSim(pathlib.Path(tfvm.tmp) / "vm-sim", sol_device=f"tcp:127.0.0.1:{vm['serial_port']}",
                  prefix=rig.ns_prefix(), domain=vm["name"])
    node = f'''
terraform {{
  required_providers {{
    baremetal = {{ source = "bmplan/baremetal" }}
  }}
}}
provider "baremetal" {{
  media_listen = "{rig.pxe_listen}"
}}
resource "baremetal_node" "sim" {{
  name                = "vm-sim"
  bmc_url             = "{{url}}"
  username            = "{IPMI_SIM_USER}"
  password_wo         = "{IPMI_SIM_PASSWORD}"
  password_wo_version = 1
  pxe_mac             = "{vm['mac']}"
}}
'''
    with sim:
        d = tfvm.workdir("sim", node.replace("{url}", sim.url))
        try:
            deploy_on_ipmi_sim(rig, images, tfvm, vm, sim, node, d)
        finally:
            # Whatever happened, the host and node go while their BMC still answers.
            tfvm.run("destroy", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=1800)


def deploy_on_ipmi_sim(rig, images, tfvm, vm, sim, node, d):
    """The steps of the test above, with its BMC up."""
    r = tfvm.run("apply", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    # In-band inspection boots the agent by PXE (IPMI has no virtual media).
    r = tfvm.bmplan("nodes", "inspect", "vm-sim", "--in-band", "--lldp-seconds", "5",
                    "--media-listen", rig.pxe_listen, "--timeout", "5m", "--json", timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    found = json.loads(r.stdout)
    assert [(x["name"], x["serial"]) for x in found["disks"]] == [("vda", f"{vm['name']}-disk")], found
    assert [n["mac"] for n in found["nics"]] == [vm["mac"]], found["nics"]
    assert "set boot pxe" in sim.machine()[1], sim.machine()[1]

    host = host_block("web-sim", "sim", f"{rig.http_base}/debian-12.raw.zst",
                      sha256_of(images["os"] / "debian-12.raw.zst"))
    (d / "main.tf").write_text(node.replace("{url}", sim.url) + host)
    r = tfvm.run("apply", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=1800)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-5000:] + "\n" + tfvm.log.read_text()[-5000:]
    # The serial console during the deployment is kept with the host: the agent's ramdisk,
    # then Debian's boot from the disk, up to its callback. (ipmi_sim reconnects to the VM's
    # serial port some seconds after each power-on, when QEMU listens again: the first
    # seconds of each boot are not seen, measured.) No agent session token is kept.
    log = host_log(tfvm, "web-sim")
    serial = [e["line"] for e in log if e["source"] == "serial"]
    assert any("bm-agent: agent 0.1.0 starting" in l for l in serial), serial[:50]
    assert any("image written to /dev/vda" in l for l in serial), serial[:50]
    assert any("Cloud-init v. 22.4.2" in l for l in serial), serial[-50:]
    assert not [l for l in serial if re.search(r"/agent/[0-9a-f]{8}", l)], serial
    r = tfvm.bmplan("hosts", "log", "web-sim")
    assert r.returncode == 0 and " serial " in r.stdout, r.stdout[-2000:]

    see_the_vm_boot_on_its_serial_console(rig, tfvm, vm, "vm-sim")
    audit = json.loads(tfvm.bmplan("audit", "--format", "json").stdout)
    assert [a["outcome"] for a in audit if a["action"] == "node.console"] == ["ok"], audit[-5:]

    r = tfvm.run("destroy", "-auto-approve", "-input=false", "-no-color", cwd=d, timeout=1800)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-5000:]
    zero, table = disk_is_zero(vm["disk"])
    assert zero and not table, "the disk holds data after destroy"


def test_the_rig_answers_redfish_and_ipmi_for_every_vm_and_serves_tftp(rig):
    """The rig's BMC endpoints, read by clients we did not write: curl (Redfish through sushy's
    libvirt driver) and ipmitool (IPMI lanplus through virtualbmc), for every VM; and its TFTP."""
    pathlib.Path(rig.tftp, "hello.txt").write_text("rig tftp\n")
    r = subprocess.run([*rig.ns_prefix(), "curl", "-sf", f"tftp://{vmrig.GATEWAY}/hello.txt"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout == "rig tftp\n", (r.stdout, r.stderr)
    for v in rig.vms:
        r = subprocess.run([*rig.ns_prefix(), "curl", "-sf", f"{rig.sushy_url}/redfish/v1/Systems/{v['uuid']}"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        doc = json.loads(r.stdout)
        assert doc["UUID"] == v["uuid"] and doc["PowerState"] in ("On", "Off"), doc
        ipmi = v["ipmi"]
        r = subprocess.run([*rig.ns_prefix(), "ipmitool", "-I", "lanplus", "-H", ipmi["address"], "-p",
                            str(ipmi["port"]), "-U", ipmi["username"], "-P", ipmi["password"], "power", "status"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        want = "on" if doc["PowerState"] == "On" else "off"
        assert r.stdout.strip() == f"Chassis Power is {want}", r.stdout
