#!/usr/bin/env python3
"""The VM rig: libvirt VMs (QEMU, software emulation) as bare-metal servers, behind
sushy-emulator's libvirt driver (Redfish), in a network namespace of their own with a bridge, a
DHCP service (dnsmasq) and an HTTP origin for images. It writes a manifest in the lab's format, so
bmplan, Terraform and tests enroll the VMs like servers. See docs/guides/vm-rig.md.

    sudo .venv/bin/python scripts/vmrig.py up --dir /tmp/rig --vms 2
    sudo ip netns exec bmrig terraform apply        # everything that talks to the VMs runs inside
    sudo .venv/bin/python scripts/vmrig.py down --dir /tmp/rig

Everything lives in the namespace: the bridge (10.231.0.1/24), dnsmasq, libvirtd and virtlogd (so
the VMs' taps are there), sushy-emulator on the namespace's 127.0.0.1:8000, and the image origin on
10.231.0.1:8080 serving DIR/www. Nothing is configured outside it. Processes are stopped by the PIDs
the rig recorded, the VMs and the storage pool by their names.
"""

import argparse
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

NETNS = "bmrig"
BRIDGE = "br0"
SUBNET = "10.231.0"
GATEWAY = f"{SUBNET}.1"
SUSHY_PORT = 8000
HTTP_PORT = 8080
# Where the engine's deployment endpoint listens for network boot: the rig's DHCP points iPXE to
# http://GATEWAY:PXE_PORT/pxe/boot.ipxe (the settings docs/guides/hosts.md gives a site's DHCP).
PXE_PORT = 8081
PXE_LISTEN = f"{GATEWAY}:{PXE_PORT}"
# A ULA prefix for router advertisements: iPXE waits ~16 s for one when none comes.
ULA = "fd00:231::"
# Each VM's serial port is a TCP server on the namespace's 127.0.0.1, port SERIAL_PORT + n (what a
# serial console server, or ipmi_sim's `sol "tcp:…"`, connects to); every byte is also logged.
SERIAL_PORT = 4550
LOCK = "/run/bmrig.lock"
VM_MEMORY_MIB = 2048


def sh(*cmd, check=True, ns=False, **kw):
    if ns:
        cmd = ("ip", "netns", "exec", NETNS, *cmd)
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stderr.strip() or r.stdout.strip()}")
    return r


def virsh(*args, check=True):
    return sh("virsh", "-q", "-c", "qemu:///system", *args, check=check, ns=True)


def venv_bin(name):
    exe = os.path.join(os.path.dirname(sys.executable), name)
    if not os.path.exists(exe):
        raise RuntimeError(f"{name} is not installed beside {sys.executable} (scripts/test.sh installs it)")
    return exe


def wait_for(what, check, timeout=60, proc=None, log=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = open(log).read()[-2000:] if log and os.path.exists(log) else ""
            raise RuntimeError(f"{what} exited with {proc.returncode}: {tail}")
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not come up within {timeout}s")


def wait_gone(pid, seconds):
    """Waits until `pid` has exited (reaped if it is our child); whether it did."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.1)
    return False


def domain_xml(name, uid, disk, mac, serial_log, serial_port, memory_mib):
    return f"""<domain type='qemu'>
  <name>{name}</name>
  <uuid>{uid}</uuid>
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/><apic/></features>
  <clock offset='utc'/>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <seclabel type='static' model='dac' relabel='no'><label>+0:+0</label></seclabel>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' discard='unmap' detect_zeroes='unmap'/>
      <source file='{disk}'/>
      <target dev='vda' bus='virtio'/>
      <serial>{name}-disk</serial>
    </disk>
    <controller type='ide' index='0'/>
    <interface type='bridge'>
      <source bridge='{BRIDGE}'/>
      <mac address='{mac}'/>
      <model type='virtio'/>
    </interface>
    <serial type='tcp'>
      <source mode='bind' host='127.0.0.1' service='{serial_port}'/>
      <protocol type='raw'/>
      <log file='{serial_log}' append='on'/>
      <target port='0'/>
    </serial>
  </devices>
</domain>
"""


class Rig:
    """One rig in `dir`. `up()` starts it and writes `dir/manifest.json` and `dir/rig.json`;
    `down()` stops everything it started. Only one rig runs on a machine at a time (libvirtd is
    the machine's one system daemon)."""

    def __init__(self, dir, vms=2):
        self.dir = os.path.abspath(dir)
        self.count = vms
        self.pids = {}
        self.vms = []
        self._lock = None

    # --- paths ---
    def path(self, *p):
        return os.path.join(self.dir, *p)

    @property
    def www(self):
        return self.path("www")

    @property
    def tftp(self):
        """The TFTP root (dnsmasq serves it on the bridge)."""
        return "/run/bmrig/tftp"

    @property
    def http_base(self):
        return f"http://{GATEWAY}:{HTTP_PORT}"

    @property
    def pxe_listen(self):
        """Where the engine's deployment endpoint listens for the rig's network boot."""
        return PXE_LISTEN

    @property
    def pxe_entry(self):
        return f"http://{self.pxe_listen}/pxe/boot.ipxe"

    @property
    def sushy_url(self):
        return f"http://127.0.0.1:{SUSHY_PORT}"

    def ns_prefix(self):
        return ["ip", "netns", "exec", NETNS]

    # --- up ---
    def up(self):
        if os.geteuid() != 0:
            raise RuntimeError("the VM rig needs root (network namespace, libvirtd)")
        for tool in ("ip", "libvirtd", "virtlogd", "virsh", "dnsmasq", "qemu-system-x86_64", "qemu-img"):
            if not shutil.which(tool):
                raise RuntimeError(f"{tool} is missing (scripts/test.sh installs the rig's packages)")
        self._lock = open(LOCK, "w")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another VM rig runs on this machine ({LOCK} is held)")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        os.makedirs(self.www, exist_ok=True)
        os.makedirs(self.path("pool"), exist_ok=True)
        shutil.rmtree(self.tftp, ignore_errors=True)
        os.makedirs(self.tftp, mode=0o755, exist_ok=True)
        os.chmod("/run/bmrig", 0o755)
        try:
            self._network()
            self._libvirt()
            self._dnsmasq()
            self._vms()
            self._sushy()
            self._http()
            self._lldpd()
            self._vbmc()
            self._write()
        except BaseException:
            self.down()
            raise
        return self

    def _record(self, name, pid):
        self.pids[name] = pid
        with open(self.path("pids.json"), "w") as f:
            json.dump(self.pids, f)

    def _network(self):
        if sh("ip", "netns", "list").stdout.split().count(NETNS):
            raise RuntimeError(f"network namespace {NETNS} exists already: `scripts/vmrig.py down` first")
        sh("ip", "netns", "add", NETNS)
        sh("ip", "-n", NETNS, "link", "set", "lo", "up")
        sh("ip", "-n", NETNS, "link", "add", BRIDGE, "type", "bridge", "stp_state", "0", "forward_delay", "0")
        sh("ip", "-n", NETNS, "addr", "add", f"{GATEWAY}/24", "dev", BRIDGE)
        sh("ip", "-n", NETNS, "addr", "add", f"{ULA}1/64", "dev", BRIDGE, "nodad")
        sh("ip", "-n", NETNS, "link", "set", BRIDGE, "up")

    def _daemon(self, name, cmd, pidfile, ready, timeout=60):
        log = self.path(f"{name}.log")
        with open(log, "w") as out:
            p = subprocess.Popen(["ip", "netns", "exec", NETNS, *cmd], stdout=out, stderr=subprocess.STDOUT,
                                 start_new_session=True)
        self._record(name, p.pid)
        wait_for(name, ready, timeout, proc=p, log=log)
        return p

    def _libvirt(self):
        if sh("virsh", "-c", "qemu:///system", "version", check=False).returncode == 0:
            raise RuntimeError("a libvirtd runs already outside the rig; stop it (the rig's VMs need one inside "
                               f"the {NETNS} namespace, so their taps are there)")
        self._daemon("virtlogd", ["virtlogd"], None, lambda: True)
        self._daemon("libvirtd", ["libvirtd"], None,
                     lambda: sh("virsh", "-c", "qemu:///system", "version", check=False).returncode == 0, timeout=90)
        if virsh("pool-info", "default", check=False).returncode == 0:
            virsh("pool-destroy", "default", check=False)
            virsh("pool-undefine", "default", check=False)
        virsh("pool-define-as", "default", "dir", "--target", self.path("pool"))
        virsh("pool-start", "default")

    def _dnsmasq(self):
        for f in ("undionly.kpxe", "ipxe.efi"):
            shutil.copy(f"/usr/lib/ipxe/{f}", os.path.join(self.tftp, f))
            os.chmod(os.path.join(self.tftp, f), 0o644)
        hosts = []
        for i in range(1, self.count + 1):
            hosts += [f"--dhcp-host=52:54:00:23:00:{i:02x},{SUBNET}.{10 + i}"]
        self._daemon("dnsmasq", [
            "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", f"--interface={BRIDGE}",
            "--bind-interfaces", "--port=0", f"--dhcp-range={SUBNET}.100,{SUBNET}.199,255.255.255.0,1h",
            f"--dhcp-leasefile={self.path('dnsmasq.leases')}", "--log-dhcp", *hosts,
            # TFTP for network boot (iPXE's first stage). dnsmasq drops its privileges, so the
            # root is where any user can read (a test's own directory may be closed to others).
            "--enable-tftp", f"--tftp-root={self.tftp}", "--log-facility=-",
            # Network boot as a site's DHCP does it beside the engine (docs/guides/hosts.md): a
            # PXE ROM gets iPXE by TFTP (undionly.kpxe, ipxe.efi for UEFI), iPXE (option 175) gets
            # the engine's entry script; no ProxyDHCP to wait for (iPXE option 176).
            "--dhcp-match=set:ipxe,175", "--dhcp-match=set:efi64,option:client-arch,7",
            "--dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe", "--dhcp-boot=tag:!ipxe,tag:efi64,ipxe.efi",
            f"--dhcp-boot=tag:ipxe,{self.pxe_entry}", "--dhcp-option=encap:175,176,1b",
            "--enable-ra", f"--dhcp-range={ULA},ra-only,64",
        ], None, lambda: "started, version" in open(self.path("dnsmasq.log")).read())

    def _vms(self):
        for i in range(1, self.count + 1):
            name = f"bmrig-vm-{i}"
            uid = str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{name}.{self.dir}"))
            disk = self.path(f"{name}.qcow2")
            sh("qemu-img", "create", "-q", "-f", "qcow2", disk, "4G")
            os.chmod(disk, 0o666)
            mac = f"52:54:00:23:00:{i:02x}"
            serial = self.path(f"{name}-serial.log")
            xml = self.path(f"{name}.xml")
            with open(xml, "w") as f:
                f.write(domain_xml(name, uid, disk, mac, serial, SERIAL_PORT + i, VM_MEMORY_MIB))
            virsh("define", xml)
            self.vms.append({"name": name, "uuid": uid, "disk": disk, "mac": mac, "serial_log": serial,
                             "serial_port": SERIAL_PORT + i, "address": f"{SUBNET}.{10 + i}"})

    def _sushy(self):
        state = self.path("sushy-state")
        os.makedirs(state, exist_ok=True)
        storage = {v["uuid"]: [{"Id": "1", "Name": "Local Storage Controller",
                                "StorageControllers": [{"MemberId": "0", "Name": "virtio-blk", "SpeedGbps": 0}],
                                "Drives": ["vda"]}] for v in self.vms}
        drives = {(v["uuid"], "1"): [{"Id": "vda", "Name": f"{v['name']}-disk", "CapacityBytes": 4 << 30,
                                      "Protocol": "SATA"}] for v in self.vms}
        volumes = {(v["uuid"], "1"): [] for v in self.vms}
        conf = self.path("sushy.conf")
        with open(conf, "w") as f:
            f.write(
                "SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\n"
                f"SUSHY_EMULATOR_LISTEN_PORT = {SUSHY_PORT}\n"
                "SUSHY_EMULATOR_LIBVIRT_URI = 'qemu:///system'\n"
                f"SUSHY_EMULATOR_STATE_DIR = {state!r}\n"
                f"SUSHY_EMULATOR_ALLOWED_INSTANCES = {[v['uuid'] for v in self.vms]!r}\n"
                "SUSHY_EMULATOR_VMEDIA_VERIFY_SSL = False\n"
                # The VM's one disk, as the BMC's storage describes it (sushy's static storage).
                f"SUSHY_EMULATOR_STORAGE = {storage!r}\n"
                f"SUSHY_EMULATOR_DRIVES = {drives!r}\n"
                f"SUSHY_EMULATOR_VOLUMES = {volumes!r}\n"
            )
        probe = ["curl", "-sf", "-o", "/dev/null", f"{self.sushy_url}/redfish/v1/"]
        self._daemon("sushy-emulator", [venv_bin("sushy-emulator"), "--config", conf], None,
                     lambda: sh(*probe, check=False, ns=True).returncode == 0, timeout=60)

    def _http(self):
        probe = ["curl", "-sf", "-o", "/dev/null", f"{self.http_base}/"]
        self._daemon("origin", [sys.executable, "-m", "http.server", "--bind", GATEWAY, str(HTTP_PORT),
                                "--directory", self.www], None,
                     lambda: sh(*probe, check=False, ns=True).returncode == 0, timeout=30)

    def _vbmc(self):
        """virtualbmc: IPMI (lanplus) for every VM on the namespace's 127.0.0.1, port 6230+n."""
        conf_dir = self.path("vbmc")
        shutil.rmtree(conf_dir, ignore_errors=True)
        os.makedirs(conf_dir)
        conf = self.path("virtualbmc.conf")
        with open(conf, "w") as f:
            f.write(f"[default]\nconfig_dir = {conf_dir}\npid_file = {self.path('vbmcd.pid')}\n"
                    "server_port = 50891\n")
        os.environ["VIRTUALBMC_CONFIG"] = conf
        vbmc = venv_bin("vbmc")
        self._daemon("vbmcd", [venv_bin("vbmcd"), "--foreground"], None,
                     lambda: sh(vbmc, "list", check=False, ns=True).returncode == 0, timeout=60)
        for i, v in enumerate(self.vms, start=1):
            v["ipmi"] = {"address": "127.0.0.1", "port": 6230 + i, "username": "admin", "password": "password"}
            sh(vbmc, "add", v["name"], "--port", str(6230 + i), "--address", "127.0.0.1", "--username", "admin",
               "--password", "password", "--libvirt-uri", "qemu:///system", ns=True)
            sh(vbmc, "start", v["name"], ns=True)

    def _lldpd(self):
        """A switch's LLDP on every VM's tap: the system name `rig-switch`, each port named by its
        tap (`vnet3`), sent every 2 s."""
        if not shutil.which("lldpd"):
            raise RuntimeError("lldpd is missing (scripts/test.sh installs it)")
        # lldpd drops its privileges: its configuration and control socket live where any user
        # can reach them (a test's own directory may be closed to others).
        os.makedirs("/run/bmrig", mode=0o755, exist_ok=True)
        conf = "/run/bmrig/lldpd.conf"
        with open(conf, "w") as f:
            f.write("configure system hostname rig-switch\n"
                    "configure lldp portidsubtype ifname\n"
                    "configure lldp tx-interval 2\n")
        os.makedirs("/run/lldpd", exist_ok=True)
        sock = "/run/bmrig/lldpd.sock"
        if os.path.exists(sock):
            os.remove(sock)
        self._daemon("lldpd", ["lldpd", "-d", "-k", "-I", "vnet*", "-u", sock, "-O", conf], None,
                     lambda: os.path.exists(sock), timeout=30)

    def taps(self):
        """Each VM's tap (its switch port), by VM name, as libvirt names them now."""
        out = {}
        for v in self.vms:
            r = virsh("domiflist", v["name"], check=False)
            for line in r.stdout.splitlines():
                parts = line.split()
                if len(parts) >= 5 and parts[4].lower() == v["mac"]:
                    out[v["name"]] = parts[0]
        return out

    def manifest(self):
        return {
            "control_url": "",
            "seed": 0,
            "nodes": [{
                "name": v["name"].removeprefix("bmrig-"), "rack": "rig", "bmc_url": self.sushy_url,
                "bmc_http_url": self.sushy_url, "system_id": v["uuid"], "manager_id": v["uuid"],
                "vendor": "sushy-emulator (libvirt)", "model": "QEMU pc", "serial": v["name"] + "-disk",
                "uuid": v["uuid"], "arch": "x86_64", "username": "admin", "password": "password",
                "macs": [v["mac"]], "switch": "", "switch_ports": [],
            } for v in self.vms],
            "switches": [],
        }

    def _write(self):
        m = self.path("manifest.json")
        with open(m, "w") as f:
            json.dump(self.manifest(), f, indent=2)
        os.chmod(m, 0o600)
        with open(self.path("rig.json"), "w") as f:
            json.dump({"netns": NETNS, "bridge": BRIDGE, "gateway": GATEWAY, "sushy_url": self.sushy_url,
                       "http_base": self.http_base, "www": self.www, "pxe_listen": self.pxe_listen,
                       "pxe_entry": self.pxe_entry, "vms": self.vms, "pids": self.pids}, f,
                      indent=2)

    # --- down ---
    def down(self):
        """Stops what this rig started: VMs and the pool by name, daemons by PID, the namespace."""
        try:
            pids = json.load(open(self.path("pids.json")))
        except (OSError, ValueError):
            pids = dict(self.pids)
        if not self.vms:
            try:
                self.vms = json.load(open(self.path("rig.json")))["vms"]
            except (OSError, ValueError, KeyError):
                pass
        if "libvirtd" in pids:
            for v in self.vms:
                virsh("destroy", v["name"], check=False)
                virsh("undefine", v["name"], check=False)
            virsh("pool-destroy", "default", check=False)
            virsh("pool-undefine", "default", check=False)
        for name in ("vbmcd", "lldpd", "origin", "sushy-emulator", "dnsmasq", "libvirtd", "virtlogd"):
            pid = pids.get(name)
            if not pid:
                continue
            try:
                os.killpg(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            if not wait_gone(pid, 10):
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                wait_gone(pid, 5)
        # QEMU processes the VMs left (libvirtd gone before it could stop them).
        for v in self.vms:
            sh("pkill", "-f", f"guest={v['name']},", check=False)
        if NETNS in sh("ip", "netns", "list", check=False).stdout.split():
            # Whatever still runs in the namespace (a daemon's forked helper) goes too.
            left = [int(p) for p in sh("ip", "netns", "pids", NETNS, check=False).stdout.split()]
            for sig in (signal.SIGTERM, signal.SIGKILL):
                for p in left:
                    try:
                        os.kill(p, sig)
                    except ProcessLookupError:
                        pass
                if all(wait_gone(p, 5) for p in left):
                    break
            sh("ip", "netns", "del", NETNS, check=False)
        self.pids = {}
        if os.path.exists(self.path("pids.json")):
            os.remove(self.path("pids.json"))
        if self._lock:
            self._lock.close()
            self._lock = None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("up", help="start the rig and write DIR/manifest.json")
    u.add_argument("--dir", required=True)
    u.add_argument("--vms", type=int, default=2)
    d = sub.add_parser("down", help="stop the rig started in DIR")
    d.add_argument("--dir", required=True)
    a = ap.parse_args()
    try:
        if a.cmd == "up":
            r = Rig(a.dir, a.vms).up()
            # The lock is held by this process: keep it while the rig runs.
            print(json.dumps({"manifest": r.path("manifest.json"), "netns": NETNS, "sushy": r.sushy_url,
                              "origin": r.http_base, "www": r.www}, indent=2))
            print(f"rig up; stop it with: {sys.executable} {__file__} down --dir {r.dir}", file=sys.stderr)
            r._lock.close()
        else:
            Rig(a.dir).down()
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
