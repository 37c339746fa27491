"""The host lifecycle under the real Terraform CLI: `examples/lab-hosts` deploys two hosts by flavor on
the lab (image checked, served from loopback, config drive from the provider's endpoint, virtual media
boot), a plan after shows no changes, an image change rebuilds in place, import reads a deployed host
back, and destroy cleans both nodes back into the pool. On sushy-emulator, a virtual-media deploy where
the emulator downloads the image and the config drive, and this test plays the installed system: it
reads the config drive with pycdlib and calls back as cloud-init's phone_home would."""

import hashlib
import http.server
import io
import json
import pathlib
import re
import threading
import time

import pycdlib
import pytest
import requests

from conftest import settle_import
from peers.sushy import SushyEmulator

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "lab-hosts" / "main.tf"


class ImageServer:
    """Plain files over HTTP on loopback, as an image store would serve them."""

    def __init__(self, files):
        files = dict(files)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = files.get(self.path.lstrip("/"))
                if body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self):
        self.httpd.shutdown()


def sha256(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()


def run_ok(tf, d, *args):
    r = tf.run(*args, "-input=false", "-no-color", cwd=d, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def node_states(tf):
    nodes = json.loads(tf.bmplan("nodes", "list", "--json").stdout)
    return {n["name"]: n["state"] for n in nodes}


def history(tf, node):
    """The node's life read back from the audit log by `bmplan nodes history` (printed for the log)."""
    r = tf.bmplan("nodes", "history", node, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    h = json.loads(r.stdout)
    print(f"history of {node}: {h['sequence']}")
    return h


def test_two_hosts_deploy_rebuild_and_are_cleaned_back_under_terraform(terraform, start_lab):
    lab = start_lab("--nodes", "3", "--tls", "--power-delay-ms", "100", "--task-delay-ms", "100")
    v1, v2 = b"os image v1\n" * 50000, b"os image v2\n" * 50000
    images = ImageServer({"v1.iso": v1, "v2.iso": v2})
    try:
        assert terraform.bmplan("projects", "create", "lab").returncode == 0
        terraform.env["BAREMETAL_PROJECT"] = "lab"
        d = terraform.workdir("lab-hosts", EXAMPLE.read_text())
        var = ["-var", f"lab_manifest={lab.manifest_path}",
               "-var", f"image_url={images.base}/v1.iso", "-var", f"image_checksum={sha256(v1)}"]

        r = run_ok(terraform, d, "apply", "-auto-approve", *var)
        outputs = json.loads(terraform.run("output", "-json", cwd=d).stdout)
        hosts = outputs["hosts"]["value"]
        assert sorted(hosts) == ["web-1", "web-2"]
        # Static addresses on the web network's two subnets, one host each, none shared; the
        # network configuration each installer found carries them.
        addresses = outputs["addresses"]["value"]
        assert sorted(a["web"][0] for a in addresses.values()) == ["10.20.0.10", "10.20.0.11"], addresses
        assert sorted(a["web"][1] for a in addresses.values()) == ["fd00:20::2", "fd00:20::3"], addresses
        for name, node in hosts.items():
            net = lab.node_detail(node)["os"]["seed"]["network_config"]["ethernets"]["nic0"]
            assert net["addresses"] == [f"{addresses[name]['web'][0]}/24", f"{addresses[name]['web'][1]}/64"], net
            assert (net["gateway4"], net["gateway6"], net["dhcp4"]) == ("10.20.0.1", "fd00:20::1", False), net
        states = node_states(terraform)
        assert sorted(n for n, s in states.items() if s == "active") == sorted(hosts.values()), states
        assert [s for n, s in states.items() if n not in hosts.values()] == ["available"]
        for node in hosts.values():
            detail = lab.node_detail(node)
            assert detail["os"]["image"] == f"{images.base}/v1.iso", detail["os"]
            assert detail["os"]["image_sha256"] == hashlib.sha256(v1).hexdigest()
            assert detail["os"]["seed"]["hostname"] in hosts
            assert detail["bios"]["ProcTurboMode"] == "Enabled"
            assert not any(m["inserted"] for m in detail["virtual_media"])

        # Nothing to do right after.
        r = terraform.run("plan", "-input=false", "-no-color", "-detailed-exitcode", *var, cwd=d)
        assert r.returncode == 0, r.stdout + r.stderr

        # The write-only user data was deployed (its digest is the example's text) and is in no
        # state or plan.
        user_data = b"#cloud-config\npackages: [nginx]\n"
        state = json.loads(terraform.run("show", "-json", cwd=d).stdout)
        web = [r["values"] for r in state["values"]["root_module"]["resources"] if r["type"] == "baremetal_host"]
        assert [w["user_data_sha256"] for w in web] == [hashlib.sha256(user_data).hexdigest()] * 2, web
        assert all(w["user_data"] is None and w["user_data_wo"] is None for w in web), web
        assert "packages: [nginx]" not in (d / "terraform.tfstate").read_text()
        assert "packages: [nginx]" not in r.stdout

        # The same text moved to `user_data` (kept in state) and back: no redeployment either way,
        # and each settles (the next plan has nothing to do).
        legacy = EXAMPLE.read_text().replace("user_data_wo         = <<-EOT", "user_data = <<-EOT")
        for config in (legacy, EXAMPLE.read_text()):
            (d / "main.tf").write_text(config)
            r = terraform.run("plan", "-input=false", "-no-color", "-detailed-exitcode", *var, cwd=d)
            assert r.returncode == 2 and "Rebuild" not in r.stdout + r.stderr, r.stdout + r.stderr
            run_ok(terraform, d, "apply", "-auto-approve", *var)
            r = terraform.run("plan", "-input=false", "-no-color", "-detailed-exitcode", *var, cwd=d)
            assert r.returncode == 0, r.stdout + r.stderr
        assert "packages: [nginx]" not in (d / "terraform.tfstate").read_text()

        # bmplan reads the same directory and sees the hosts' layer over their nodes: nothing to do.
        r = terraform.bmplan("plan", str(d), *var, "--detailed-exitcode")
        assert r.returncode == 0, r.stdout + r.stderr

        # Import a deployed host into a fresh state: everything it says reads back.
        fresh = terraform.workdir("lab-hosts-imported", EXAMPLE.read_text())
        names = [n["name"] for n in lab.manifest["nodes"]]
        imports = [(f'baremetal_switch.tor["{s["name"]}"]', s["name"]) for s in lab.manifest["switches"]]
        imports += [(f"baremetal_network.{n}", n) for n in ("prod", "web", "provisioning", "cleaning")]
        imports += [("baremetal_profile.pool", "pool"), ("baremetal_profile.web", "web")]
        imports += [(f'baremetal_node.lab["{n}"]', n) for n in names]
        imports += [("baremetal_flavor.compute", "compute"), ("baremetal_host.web[0]", "web-1"),
                    ("baremetal_host.web[1]", "web-2")]
        for address, ident in imports:
            r = terraform.run("import", "-input=false", "-no-color", *var, address, ident, cwd=fresh)
            assert r.returncode == 0, r.stdout + r.stderr
        settle_import(terraform, fresh, *var)

        # A new image rebuilds both hosts in place, on the same nodes.
        var2 = var[:2] + ["-var", f"image_url={images.base}/v2.iso", "-var", f"image_checksum={sha256(v2)}"]
        r = terraform.run("plan", "-input=false", "-no-color", *var2, cwd=d)
        assert "generation" in r.stdout and re.search(r"1 -> 2", r.stdout), r.stdout
        assert "redeployed in place" in r.stdout + r.stderr
        r = run_ok(terraform, d, "apply", "-auto-approve", *var2)
        assert "0 added, 2 changed, 0 destroyed" in r.stdout, r.stdout
        after = json.loads(terraform.run("output", "-json", cwd=d).stdout)
        assert after["hosts"]["value"] == hosts
        assert after["addresses"]["value"] == addresses, "a rebuild keeps the addresses" 
        for node in hosts.values():
            assert lab.node_detail(node)["os"]["image_sha256"] == hashlib.sha256(v2).hexdigest()

        # A wrong checksum is refused at the attribute, with nothing touched.
        resets = {n: lab.node_detail(n)["resets"] for n in hosts.values()}
        bad = var[:2] + ["-var", f"image_url={images.base}/v1.iso", "-var", f"image_checksum={sha256(b'x')}"]
        r = terraform.run("apply", "-auto-approve", "-input=false", "-no-color", *bad, cwd=d, timeout=600)
        assert r.returncode == 1 and "does not match its checksum" in r.stderr, r.stderr
        assert "image_checksum" in r.stderr
        assert {n: lab.node_detail(n)["resets"] for n in hosts.values()} == resets

        # Destroying the hosts: both nodes cleaned and available again, their disks wiped.
        run_ok(terraform, d, "destroy", "-auto-approve", "-target=baremetal_host.web", *var2)
        assert json.loads(terraform.bmplan("hosts", "list", "--json").stdout) == []
        audit = [e["action"] for e in json.loads(terraform.bmplan("audit", "--format", "json").stdout)]
        assert audit.count("address.allocate") == 4 and audit.count("address.release") == 4, audit
        assert [node_states(terraform)[n] for n in hosts.values()] == ["available", "available"]
        for node in hosts.values():
            assert lab.node_detail(node)["os"] is None, "the clean wiped the disks"
        # The node's life, read back from the audit log.
        for node in hosts.values():
            h = history(terraform, node)
            assert h["states"] == ["available", "deploying", "active", "deploying", "active", "deleting",
                                   "cleaning", "available"], h["sequence"]
        # Then everything else.
        run_ok(terraform, d, "destroy", "-auto-approve", *var2)
    finally:
        images.stop()


@pytest.fixture
def sushy(tmp_path):
    emu = SushyEmulator(tmp_path, [{
        "uuid": "5f0c3a52-5d1e-4b68-9b54-4d7b1e1f0a02", "name": "sushy-host", "power_state": "Off",
        "external_notifier": False, "nics": [{"mac": "52:54:ff:00:00:0a", "ip": "127.0.0.1"}],
    }])
    yield emu
    emu.stop()


def test_a_virtual_media_deploy_on_sushy_emulator(terraform, sushy):
    image = b"sushy installer\n" * 10000
    images = ImageServer({"os.iso": image})
    try:
        assert terraform.bmplan("projects", "create", "lab").returncode == 0
        terraform.env["BAREMETAL_PROJECT"] = "lab"
        config = f'''
terraform {{
  required_providers {{
    baremetal = {{ source = "bmplan/baremetal" }}
  }}
}}

resource "baremetal_node" "s" {{
  name     = "sushy-host"
  bmc_url  = "{sushy.url}"
  username = "admin"
  password = "password"
}}

resource "baremetal_host" "h" {{
  name           = "sushy-host-1"
  node           = baremetal_node.s.name
  image_url      = "{images.base}/os.iso"
  image_checksum = "{sha256(image)}"
  ssh_keys       = ["ssh-ed25519 AAAAC3Nza sushy@test"]
  wait           = "callback"
  timeouts {{
    create = "3m"
    delete = "3m"
  }}
}}
'''
        d = terraform.workdir("sushy-host", config)
        seen = {}

        def play_the_installed_system():
            """Waits for the config drive in sushy's virtual floppy, reads it, and phones home."""
            s = requests.Session()
            s.trust_env = False
            deadline = time.monotonic() + 150
            while time.monotonic() < deadline:
                try:
                    systems = s.get(sushy.url + "/redfish/v1/Systems", timeout=5).json()["Members"]
                    sys = systems[0]["@odata.id"]
                    media = s.get(sushy.url + sys + "/VirtualMedia", timeout=5).json()["Members"]
                    docs = [s.get(sushy.url + m["@odata.id"], timeout=5).json() for m in media]
                    power = s.get(sushy.url + sys, timeout=5).json()["PowerState"]
                except (requests.RequestException, KeyError, ValueError):
                    time.sleep(0.5)
                    continue
                cd = [m for m in docs if "CD" in m.get("MediaTypes", []) and m.get("Inserted")]
                drive = [m for m in docs if "CD" not in m.get("MediaTypes", []) and m.get("Inserted")]
                if cd and drive and power == "On":
                    seen["cd"] = cd[0]["Image"]
                    iso = pycdlib.PyCdlib()
                    iso.open_fp(io.BytesIO(s.get(drive[0]["Image"], timeout=10).content))
                    seen["label"] = iso.pvd.volume_identifier.decode().strip()
                    files = {}
                    for name in ("meta-data", "user-data", "vendor-data", "network-config"):
                        out = io.BytesIO()
                        iso.get_file_from_iso_fp(out, rr_path="/" + name)
                        files[name] = out.getvalue().decode()
                    iso.close()
                    seen["files"] = files
                    vendor = json.loads(files["vendor-data"].split("\n", 1)[1])
                    url = vendor["phone_home"]["url"]
                    meta = json.loads(files["meta-data"])
                    r = s.post(url, data={"instance_id": meta["instance-id"], "hostname": meta["local-hostname"]},
                               timeout=10)
                    seen["callback"] = r.status_code
                    return
                time.sleep(0.5)

        t = threading.Thread(target=play_the_installed_system, daemon=True)
        t.start()
        run_ok(terraform, d, "apply", "-auto-approve")
        t.join(timeout=10)
        assert seen.get("cd") == f"{images.base}/os.iso", seen
        assert seen["label"] == "cidata"
        meta = json.loads(seen["files"]["meta-data"])
        assert meta["local-hostname"] == "sushy-host-1"
        assert meta["public-keys"] == ["ssh-ed25519 AAAAC3Nza sushy@test"]
        assert seen["files"]["user-data"].startswith("#cloud-config")
        assert "52:54:ff:00:00:0a" in seen["files"]["network-config"].lower() or "ethernets" in seen["files"]["network-config"]
        assert seen["callback"] == 204
        states = node_states(terraform)
        assert states == {"sushy-host": "active"}, states
        h = history(terraform, "sushy-host")
        assert h["states"] == ["available", "deploying", "active"], h["sequence"]
        r = terraform.run("plan", "-input=false", "-no-color", "-detailed-exitcode", cwd=d)
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        images.stop()


def test_a_failed_node_moves_its_host_to_a_standby_and_a_new_node_migrates_it(terraform, start_lab):
    lab = start_lab("--nodes", "4", "--tls", "--power-delay-ms", "100", "--task-delay-ms", "100")
    image = b"db image\n" * 20000
    images = ImageServer({"db.iso": image})
    try:
        assert terraform.bmplan("projects", "create", "lab").returncode == 0
        terraform.env["BAREMETAL_PROJECT"] = "lab"
        nodes = "".join(f'''
resource "baremetal_node" "n{i}" {{
  name      = "{n['name']}"
  bmc_url   = "{n['bmc_url']}"
  system_id = "{n['system_id']}"
  username  = "{n['username']}"
  password  = "{n['password']}"
}}
''' for i, n in enumerate(lab.manifest["nodes"]))

        def config(node_line=""):
            return f'''
terraform {{
  required_providers {{
    baremetal = {{ source = "bmplan/baremetal" }}
  }}
}}
provider "baremetal" {{
  ca_cert = "{lab.manifest['ca_cert']}"
}}
{nodes}
resource "baremetal_profile" "db" {{
  name = "db"
  bios = {{ ProcTurboMode = "Enabled" }}
}}
resource "baremetal_flavor" "any" {{
  name       = "any"
  cpus       = 1
  depends_on = [{", ".join(f"baremetal_node.n{i}" for i in range(4))}]
}}
resource "baremetal_host" "db" {{
  name           = "db"
  flavor         = baremetal_flavor.any.name
  {node_line}
  profile        = baremetal_profile.db.name
  image_url      = "{images.base}/db.iso"
  image_checksum = "{sha256(image)}"
  failover {{
    standby_nodes     = [{", ".join(f"baremetal_node.n{i}.name" for i in range(4))}]
    unreachable_after = "2m"
  }}
}}
output "node" {{ value = baremetal_host.db.node }}
'''

        d = terraform.workdir("failover", config())
        run_ok(terraform, d, "apply", "-auto-approve")
        first = json.loads(terraform.run("output", "-json", cwd=d).stdout)["node"]["value"]
        names = [n["name"] for n in lab.manifest["nodes"]]
        standby = next(n for n in names if n != first)
        last = next(n for n in names if n not in (first, standby))
        r = terraform.run("plan", "-input=false", "-no-color", "-detailed-exitcode", cwd=d)
        assert r.returncode == 0, r.stdout + r.stderr

        # The host's node fails: its BMC reports Critical. The plan moves the host to the first
        # free standby.
        rr = requests.put(f"{lab.control}/nodes/{first}/health", json={"health": "Critical"}, timeout=10)
        assert rr.status_code < 300, rr.text
        r = terraform.run("plan", "-input=false", "-no-color", "-detailed-exitcode", cwd=d)
        assert r.returncode == 2, r.stdout + r.stderr
        assert re.search(rf'node\s+= "{first}" -> "{standby}"', r.stdout), r.stdout
        assert "Migration" in r.stdout + r.stderr and "goes into maintenance" in r.stdout + r.stderr
        resets_before = lab.node_detail(standby)["resets"]
        run_ok(terraform, d, "apply", "-auto-approve")
        assert json.loads(terraform.run("output", "-json", cwd=d).stdout)["node"]["value"] == standby
        listed = {n["name"]: n for n in json.loads(terraform.bmplan("nodes", "list", "--json").stdout)}
        assert listed[standby]["state"] == "active"
        assert listed[first]["maintenance"] is True, listed[first]
        assert listed[first]["state"] == "clean_failed"
        detail = lab.node_detail(standby)
        assert detail["os"]["image_sha256"] == hashlib.sha256(image).hexdigest()
        assert detail["bios"]["ProcTurboMode"] == "Enabled", "the profile moved with the host"
        print("standby resets during the migration:", detail["resets"] - resets_before)
        r = terraform.run("plan", "-input=false", "-no-color", "-detailed-exitcode", cwd=d)
        assert r.returncode == 0, r.stdout + r.stderr

        # Manual migration: the configuration names another node; the plan shows the move.
        (d / "main.tf").write_text(config(f'node = "{last}"'))
        r = terraform.run("plan", "-input=false", "-no-color", "-detailed-exitcode", cwd=d)
        assert r.returncode == 2 and re.search(rf'node\s+= "{standby}" -> "{last}"', r.stdout), r.stdout
        assert "must be replaced" not in r.stdout, "a migration is an update in place"
        run_ok(terraform, d, "apply", "-auto-approve")
        listed = {n["name"]: n for n in json.loads(terraform.bmplan("nodes", "list", "--json").stdout)}
        assert listed[last]["state"] == "active" and listed[standby]["maintenance"] is True
        r = terraform.run("plan", "-input=false", "-no-color", "-detailed-exitcode", cwd=d)
        assert r.returncode == 0, r.stdout + r.stderr
        # Each node's life: the failed one and the standby left in maintenance, not cleaned.
        left = ["available", "deploying", "active", "deleting", "clean failed"]
        for node, states in ((first, left), (standby, left), (last, ["available", "deploying", "active"])):
            h = history(terraform, node)
            assert h["states"] == states, h["sequence"]
        assert history(terraform, first)["sequence"].endswith("clean failed [maintenance]")
        assert "[host lab/db moved here]" in history(terraform, standby)["sequence"]
    finally:
        images.stop()


def test_servers_racked_later_are_discovered_take_the_profile_for_their_serial_or_slot_and_are_configured(
        terraform, start_lab):
    lab = start_lab("--nodes", "3", "--tls", "--power-delay-ms", "100", "--task-delay-ms", "100")
    first, by_serial, by_slot = lab.manifest["nodes"]
    # The lab's chassis say where they sit: Location.Placement, rack and offset (index + 1).
    slot = f"{by_slot['rack']}/3"
    config = f'''
terraform {{
  required_providers {{
    baremetal = {{ source = "bmplan/baremetal" }}
  }}
}}
provider "baremetal" {{
  ca_cert = "{lab.manifest['ca_cert']}"
}}
resource "baremetal_node" "n0" {{
  name      = "{first['name']}"
  bmc_url   = "{first['bmc_url']}"
  system_id = "{first['system_id']}"
  username  = "{first['username']}"
  password  = "{first['password']}"
}}
# Two servers are not installed yet: one profile waits for a serial number, one for a slot.
resource "baremetal_profile" "web" {{
  name    = "web"
  bios    = {{ ProcTurboMode = "Disabled" }}
  serials = ["{by_serial['serial']}"]
}}
resource "baremetal_profile" "edge" {{
  name  = "edge"
  bios  = {{ ProcTurboMode = "Disabled", SriovGlobalEnable = "Enabled" }}
  slots = ["{slot}"]
}}
'''
    # Not in the rack yet: nothing answers at their BMCs' addresses.
    later = (by_serial, by_slot)
    for n in later:
        rr = requests.put(f"{lab.control}/nodes/{n['name']}/faults", json={"absent": True}, timeout=10)
        assert rr.status_code < 300, rr.text
    d = terraform.workdir("offline", config)
    run_ok(terraform, d, "apply", "-auto-approve")
    assert [lab.node_detail(n["name"])["resets"] for n in later] == [0, 0]

    def discover(n):
        terraform.env["LATER_PW"] = n["password"]
        r = terraform.bmplan("nodes", "discover", n["bmc_url"].split("://", 1)[1], "--username", n["username"],
                             "--password-env", "LATER_PW", "--ca-cert", lab.manifest["ca_cert"],
                             "--name-prefix", "rack-", "--json")
        print(r.stderr)
        return r

    for n in later:
        r = discover(n)
        assert json.loads(r.stdout or "[]") == [], r.stdout + r.stderr
    assert [n["serial"] for n in json.loads(terraform.bmplan("nodes", "list", "--json").stdout)] \
        == [first["serial"]]

    # They are racked and cabled: discovery finds them, and each takes its profile at once.
    for n in later:
        rr = requests.put(f"{lab.control}/nodes/{n['name']}/faults", json={}, timeout=10)
        assert rr.status_code < 300, rr.text
        r = discover(n)
        assert r.returncode == 0, r.stdout + r.stderr
        assert [o["result"] for o in json.loads(r.stdout)] == ["enrolled"], r.stdout
        node = next(x for x in json.loads(terraform.bmplan("nodes", "list", "--json").stdout)
                    if x["serial"] == n["serial"])
        assert node["name"].startswith("rack-"), node
        h = history(terraform, node["name"])
        assert h["sequence"] == "available [offline profile]", h
        took = [e["what"] for e in h["events"] if e["action"] == "node.offline_profile"]
        expected = ("took profile web, assigned to its serial number " + n["serial"] if n is by_serial
                    else f"took profile edge, assigned to its slot {slot}")
        assert took == [expected], took

    # The next plan shows the profiles' values to put on them; the apply configures each, once.
    r = terraform.run("plan", "-input=false", "-no-color", "-detailed-exitcode", cwd=d)
    assert r.returncode == 2 and re.search(r'"ProcTurboMode"\s+= "Enabled" -> "Disabled"', r.stdout), r.stdout
    run_ok(terraform, d, "apply", "-auto-approve")
    detail = lab.node_detail(by_serial["name"])
    assert detail["bios"]["ProcTurboMode"] == "Disabled" and detail["resets"] == 1
    assert detail["bios"]["SriovGlobalEnable"] == "Disabled", "web, not edge"
    detail = lab.node_detail(by_slot["name"])
    assert detail["bios"]["SriovGlobalEnable"] == "Enabled" and detail["resets"] == 1, detail["bios"]
    assert lab.node_detail(first["name"])["resets"] == 0, "the node without the profile is untouched"
    r = terraform.run("plan", "-input=false", "-no-color", "-detailed-exitcode", cwd=d)
    assert r.returncode == 0, r.stdout + r.stderr


def test_an_adopted_server_becomes_a_host_its_power_is_managed_and_delete_cleans_it(terraform, start_lab):
    lab = start_lab("--nodes", "1", "--tls", "--power-delay-ms", "100", "--task-delay-ms", "100")
    n = lab.manifest["nodes"][0]
    assert terraform.bmplan("projects", "create", "lab").returncode == 0
    terraform.env["BAREMETAL_PROJECT"] = "lab"

    def config(power):
        return f'''
terraform {{
  required_providers {{
    baremetal = {{ source = "bmplan/baremetal" }}
  }}
}}
provider "baremetal" {{
  ca_cert = "{lab.manifest['ca_cert']}"
}}
resource "baremetal_node" "n" {{
  name      = "{n['name']}"
  bmc_url   = "{n['bmc_url']}"
  system_id = "{n['system_id']}"
  username  = "{n['username']}"
  password  = "{n['password']}"
}}
resource "baremetal_host" "legacy" {{
  name  = "legacy"
  node  = baremetal_node.n.name
  adopt = true
  power = "{power}"
}}
'''

    d = terraform.workdir("adopt", config("on"))
    run_ok(terraform, d, "apply", "-auto-approve")
    listed = {x["name"]: x for x in json.loads(terraform.bmplan("nodes", "list", "--json").stdout)}
    assert listed[n["name"]]["state"] == "active"
    detail = lab.node_detail(n["name"])
    assert detail["resets"] == 0 and detail["os"]["image"] == "factory", "adopted as it runs, no deployment"
    r = terraform.run("plan", "-input=false", "-no-color", "-detailed-exitcode", cwd=d)
    assert r.returncode == 0, r.stdout + r.stderr

    # Power off through the configuration; on again out of band: the plan shows it.
    (d / "main.tf").write_text(config("off"))
    run_ok(terraform, d, "apply", "-auto-approve")
    assert lab.node_detail(n["name"])["power_state"] == "Off"
    s = requests.Session()
    s.trust_env = False
    s.verify = lab.manifest["ca_cert"]
    r = s.post(f"{n['bmc_url']}/redfish/v1/Systems/{n['system_id']}/Actions/ComputerSystem.Reset",
               json={"ResetType": "On"}, auth=(n["username"], n["password"]), timeout=10)
    assert r.status_code < 300, r.text
    time.sleep(0.5)
    r = terraform.run("plan", "-input=false", "-no-color", "-detailed-exitcode", cwd=d)
    assert r.returncode == 2 and re.search(r'power\s+= "on" -> "off"', r.stdout), r.stdout
    run_ok(terraform, d, "apply", "-auto-approve")
    assert lab.node_detail(n["name"])["power_state"] == "Off"

    # Destroying the host cleans the node and makes it available.
    run_ok(terraform, d, "destroy", "-auto-approve", "-target=baremetal_host.legacy")
    listed = {x["name"]: x for x in json.loads(terraform.bmplan("nodes", "list", "--json").stdout)}
    assert listed[n["name"]]["state"] == "available"
    assert lab.node_detail(n["name"])["os"] is None
    h = history(terraform, n["name"])
    assert sum(1 for e in h["events"] if e["action"] == "node.power") >= 2, h["events"]
    assert h["states"] == ["available", "manageable", "active", "deleting", "cleaning", "available"], h["sequence"]
    assert "active [power off]" in h["sequence"], h["sequence"]
    run_ok(terraform, d, "destroy", "-auto-approve")
