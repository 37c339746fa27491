"""Golden images under the real Terraform CLI (`examples/golden-images`): a `baremetal_image` is
registered, two hosts on the lab deploy it by name, a plan after shows nothing, the data source
lists the hosts that deploy it, a new checksum rebuilds both hosts and a new URL for the same bits
does not, an image that hosts still deploy is not deleted (and the refusal is audited), import reads
an image back, and bad attributes are errors at their lines."""

import hashlib
import json
import pathlib
import re

from conftest import settle_import
from test_host_lifecycle import ImageServer, run_ok, sha256

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "golden-images" / "main.tf"


def plan_code(terraform, d, *var):
    r = terraform.run("plan", "-input=false", "-no-color", "-detailed-exitcode", *var, cwd=d)
    assert r.returncode in (0, 2), r.stdout + r.stderr
    return r


def test_hosts_deploy_a_golden_image_by_name_and_a_new_checksum_rebuilds_them(terraform, start_lab):
    lab = start_lab("--nodes", "3", "--tls", "--power-delay-ms", "100", "--task-delay-ms", "100")
    v1, v2 = b"golden v1\n" * 40000, b"golden v2\n" * 40000
    images = ImageServer({"v1.iso": v1, "v1-mirror.iso": v1, "v2.iso": v2})
    try:
        assert terraform.bmplan("projects", "create", "lab").returncode == 0
        terraform.env["BAREMETAL_PROJECT"] = "lab"
        d = terraform.workdir("golden", EXAMPLE.read_text())
        var = lambda url, body: ["-var", f"lab_manifest={lab.manifest_path}",  # noqa: E731
                                 "-var", f"image_url={url}", "-var", f"image_checksum={sha256(body)}"]
        v1_var = var(f"{images.base}/v1.iso", v1)
        run_ok(terraform, d, "apply", "-auto-approve", *v1_var)
        out = json.loads(terraform.run("output", "-json", cwd=d).stdout)
        hosts = out["hosts"]["value"]
        assert sorted(hosts) == ["web-1", "web-2"]
        assert out["deployed_checksums"]["value"] == {"web-1": sha256(v1), "web-2": sha256(v1)}
        assert out["image_hosts"]["value"] == ["lab/web-1", "lab/web-2"]
        for node in hosts.values():
            detail = lab.node_detail(node)["os"]
            assert detail["image"] == f"{images.base}/v1.iso", detail
            assert detail["image_sha256"] == hashlib.sha256(v1).hexdigest()
        # The host's state names the image and keeps no URL of its own.
        state = json.loads(terraform.run("show", "-json", cwd=d).stdout)
        web = [r["values"] for r in state["values"]["root_module"]["resources"] if r["type"] == "baremetal_host"]
        assert [(w["image"], w["image_url"], w["image_checksum"]) for w in web] == \
            [(f"lab-installer@{sha256(v1)}", None, sha256(v1))] * 2, web
        assert plan_code(terraform, d, *v1_var).returncode == 0, "nothing to do after the apply"
        capture_refusals(terraform, lab, v1_var)

        # The same bits at another URL: the image changes, no host is rebuilt.
        mirror = var(f"{images.base}/v1-mirror.iso", v1)
        r = plan_code(terraform, d, *mirror)
        assert r.returncode == 2 and "1 to change" in r.stdout and "Rebuild" not in r.stdout + r.stderr, r.stdout
        run_ok(terraform, d, "apply", "-auto-approve", *mirror)
        assert plan_code(terraform, d, *mirror).returncode == 0

        # A new checksum on the image: both hosts are rebuilt in place, from the new bits.
        v2_var = var(f"{images.base}/v2.iso", v2)
        r = plan_code(terraform, d, *v2_var)
        assert r.returncode == 2 and r.stdout.count("generation     = 1 -> 2") == 2, r.stdout + r.stderr
        said = " ".join(r.stdout.split())
        assert "redeployed in place" in said and "image_checksum changed" in said, r.stdout
        r = run_ok(terraform, d, "apply", "-auto-approve", *v2_var)
        assert "0 added, 3 changed, 0 destroyed" in r.stdout, r.stdout
        for node in hosts.values():
            assert lab.node_detail(node)["os"]["image_sha256"] == hashlib.sha256(v2).hexdigest()
        assert plan_code(terraform, d, *v2_var).returncode == 0

        # Import the image into another configuration, then try to delete it there: refused while
        # the hosts deploy it, and audited; nothing is deleted.
        only = terraform.workdir("image-only", IMAGE_ONLY)
        r = terraform.run("import", "-input=false", "-no-color", *v2_var, "baremetal_image.installer", "lab-installer",
                          cwd=only)
        assert r.returncode == 0, r.stdout + r.stderr
        settle_import(terraform, only, *v2_var)
        r = terraform.run("destroy", "-auto-approve", "-input=false", "-no-color", *v2_var, cwd=only)
        assert r.returncode == 1 and "Image in use" in r.stderr, r.stdout + r.stderr
        assert "lab/web-1, lab/web-2" in r.stderr.replace("\n", " "), r.stderr
        audit = json.loads(terraform.bmplan("audit", "--format", "json").stdout)
        denied = [e for e in audit if e["action"] == "image.delete" and e["outcome"] == "denied"]
        assert len(denied) == 1, audit
        assert plan_code(terraform, d, *v2_var).returncode == 0, "the image is still there"

        # Everything destroyed: the hosts first, then the image (audited).
        run_ok(terraform, d, "destroy", "-auto-approve", *v2_var)
        audit = [(e["action"], e["outcome"]) for e in json.loads(terraform.bmplan("audit", "--format", "json").stdout)]
        actions = [a for a, o in audit if o == "ok"]
        assert actions.count("image.register") == 1 and actions.count("image.update") == 2, audit
        assert actions.count("image.use") == 4 and actions.count("image.delete") == 1, audit
    finally:
        images.stop()


CAPTURE_ACTION = """
terraform {
  required_providers {
    baremetal = { source = "bmplan/baremetal" }
  }
}
variable "lab_manifest" { type = string }
variable "image_url" { type = string }
variable "image_checksum" { type = string }

provider "baremetal" {}

action "baremetal_image_capture" "web" {
  config {
    host = "%s"
    name = "%s"
  }
}
"""


def capture_refusals(terraform, lab, var):
    """Captures the engine refuses before anything is touched (the success path needs the deploy
    agent on a real machine: test_vm_rig.py), each audited: a name an image has, a host that is
    not active; through `bmplan images capture` and the Terraform action (1.14 and later)."""
    def touched():
        return {n: (lab.node_detail(n)["power_state"], lab.node_detail(n)["resets"])
                for n in ("r1u01", "r1u02", "r1u03")}

    before = touched()

    def capture(host, name):
        return terraform.bmplan("images", "capture", host, "--name", name, timeout=120)

    r = capture("web-1", "lab-installer")
    assert r.returncode != 0 and 'image "lab-installer" exists already' in r.stderr, r.stdout + r.stderr
    assert terraform.bmplan("hosts", "create", "idle", "--flavor", "compute").returncode == 0
    r = capture("idle", "idle-image")
    assert r.returncode != 0 and "is allocated, not active: only an active host is captured" in r.stderr, \
        r.stdout + r.stderr
    refused = 2
    from test_provider_newer_kinds import version
    if version(terraform) >= (1, 14):
        a = terraform.workdir("capture-action", CAPTURE_ACTION % ("idle", "idle-image"))
        r = terraform.run("apply", "-auto-approve", "-input=false", "-no-color", *var,
                          "-invoke=action.baremetal_image_capture.web", cwd=a)
        assert r.returncode == 1 and "only an active host is captured" in " ".join(r.stderr.split()), \
            r.stdout + r.stderr
        refused += 1
        a = terraform.workdir("capture-unknown", CAPTURE_ACTION % ("nobody", "x"))
        r = terraform.run("apply", "-auto-approve", "-input=false", "-no-color", *var,
                          "-invoke=action.baremetal_image_capture.web", cwd=a)
        assert r.returncode == 1 and "Unknown host" in r.stderr, r.stdout + r.stderr
    assert terraform.bmplan("hosts", "delete", "idle").returncode == 0
    audit = json.loads(terraform.bmplan("audit", "--format", "json").stdout)
    rows = [e["outcome"] for e in audit if e["action"] == "image.capture"]
    assert rows == ["denied"] * refused, rows
    # Nothing was touched: no power change, no image registered.
    assert touched() == before
    listed = json.loads(terraform.bmplan("images", "list", "--json").stdout)
    assert [i["name"] for i in listed] == ["lab-installer"], listed


IMAGE_ONLY = """
terraform {
  required_providers {
    baremetal = { source = "bmplan/baremetal" }
  }
}
variable "lab_manifest" { type = string }
variable "image_url" { type = string }
variable "image_checksum" { type = string }

provider "baremetal" {}

resource "baremetal_image" "installer" {
  name      = "lab-installer"
  url       = var.image_url
  checksum  = var.image_checksum
  format    = "iso"
  os_family = "debian"
}
"""

BAD = """
terraform {
  required_providers {
    baremetal = { source = "bmplan/baremetal" }
  }
}
provider "baremetal" {}

resource "baremetal_image" "a" {
  name     = "a"
  url      = "ftp://store/a.raw"
  checksum = "sha256:abc"
}

resource "baremetal_host" "h" {
  name           = "h"
  flavor         = "f"
  image          = "a"
  image_url      = "http://store/b.raw"
  image_checksum = "sha256:0000000000000000000000000000000000000000000000000000000000000000"
}
"""


def test_bad_image_attributes_and_an_image_beside_an_image_url_are_errors_at_their_lines(terraform):
    d = terraform.workdir("bad-images", BAD)
    r = terraform.run("validate", "-no-color", cwd=d)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "main.tf line 11" in r.stderr and "must start with http:// or https://" in r.stderr, r.stderr
    assert "main.tf line 12" in r.stderr and "64 hex digits" in r.stderr, r.stderr
    # A host that names an image and an image_url too: an error at the plan, at its line.
    bad_host = BAD.replace('"ftp://store/a.raw"', '"http://store/a.raw"').replace('"sha256:abc"', '"sha256:' + "a" * 64 + '"')
    d = terraform.workdir("bad-host", bad_host)
    r = terraform.run("plan", "-input=false", "-no-color", cwd=d)
    assert r.returncode == 1
    said = " ".join(r.stderr.split())
    assert "main.tf line 19" in said and "image_url comes from the golden image named by image" in said, r.stderr
    assert "main.tf line 20" in said and "set image or image_url, not both" in said, r.stderr


PLANS = ROOT / "examples" / "deployment-plans" / "main.tf"


def rendered(host, role, motd="managed by terraform", token="s3cret-t0ken", extra=""):
    return ("#cloud-config\n"
            f"hostname: {host}.{role}.lab.example\n"
            "write_files:\n"
            "  - path: /etc/motd\n"
            f'    content: "{motd} (web on lab-installer, debian)"\n'
            "  - path: /etc/app/token\n"
            f'    content: "{token}"\n' + extra)


def test_a_deployment_plan_renders_per_host_shows_its_rendered_diff_and_rebuilds_only_its_hosts(
        terraform, start_lab):
    lab = start_lab("--nodes", "3", "--tls", "--power-delay-ms", "100", "--task-delay-ms", "100")
    iso = b"golden plan\n" * 30000
    images = ImageServer({"os.iso": iso})
    try:
        assert terraform.bmplan("projects", "create", "lab").returncode == 0
        terraform.env["BAREMETAL_PROJECT"] = "lab"
        d = terraform.workdir("plans", PLANS.read_text())
        var = ["-var", f"lab_manifest={lab.manifest_path}", "-var", f"image_url={images.base}/os.iso",
               "-var", f"image_checksum={sha256(iso)}", "-var", "token=s3cret-t0ken"]
        r = run_ok(terraform, d, "apply", "-auto-approve", *var)
        assert "s3cret-t0ken" not in r.stdout + r.stderr
        out = json.loads(terraform.run("output", "-json", cwd=d).stdout)
        hosts = out["hosts"]["value"]
        want = {"web-1": rendered("web-1", "web"), "web-2": rendered("web-2", "canary")}
        digest = {h: hashlib.sha256(t.encode()).hexdigest() for h, t in want.items()}
        digest["db-1"] = hashlib.sha256(b"#cloud-config\nhostname: db-1\n").hexdigest()
        assert out["user_data_sha256"]["value"] == digest, out
        for name, node in hosts.items():
            seed = lab.node_detail(node)["os"]["seed"]
            # What the installer found on its config drive: the rendered user data and hostname.
            assert seed["user_data_sha256"] == digest[name], (name, seed)
            assert seed["hostname"] == {"web-1": "web-1.web.lab.example", "web-2": "web-2.canary.lab.example",
                                        "db-1": "db-1"}[name], seed
        state = (d / "terraform.tfstate").read_text()
        assert "s3cret-t0ken" not in state and "write_files" not in state.split('"baremetal_host"')[1], \
            "no secret in the state, and no rendering of the plan in a host's"
        assert plan_code(terraform, d, *var).returncode == 0, "nothing to do after the apply"

        # A template with an unknown variable: the plan fails at its location.
        typo = PLANS.read_text().replace("{{ var.motd }}", "{{ var.mtod }}")
        (d / "main.tf").write_text(typo)
        r = terraform.run("plan", "-input=false", "-no-color", *var, cwd=d)
        said = " ".join(r.stderr.split())
        assert r.returncode == 1, r.stdout + r.stderr
        assert 'main.tf line 93, in resource "baremetal_deployment_plan" "web"' in said, r.stderr
        assert 'template line 5, column 15: unknown variable "var.mtod"; did you mean "var.motd"?' in said, r.stderr

        # A change of the template: the plan shows each web host's rendered diff (the token
        # masked) and rebuilds only the web hosts; db-1 is not touched.
        changed = PLANS.read_text().replace('        content: "{{ var.token }}"\n',
                                            '        content: "{{ var.token }}"\n    runcmd:\n      - [ echo, "{{ host.networks }}{{ host.project }}" ]\n')
        (d / "main.tf").write_text(changed)
        r = plan_code(terraform, d, *var)
        text = r.stdout + r.stderr
        assert r.returncode == 2, text
        assert "s3cret-t0ken" not in text and '+runcmd:' in text and '+  - [ echo, "lab" ]' in text, text
        assert 'content: "(sensitive)"' in text, text
        assert len(re.findall(r"generation\s+= 1 -> 2", text)) == 2, text
        assert "baremetal_host.db will be updated" not in text, text
        r = run_ok(terraform, d, "apply", "-auto-approve", *var)
        assert "0 added, 3 changed, 0 destroyed" in r.stdout, r.stdout
        for name in ("web-1", "web-2"):
            role = "web" if name == "web-1" else "canary"
            body = rendered(name, role) + 'runcmd:\n  - [ echo, "lab" ]\n'
            assert lab.node_detail(hosts[name])["os"]["seed"]["user_data_sha256"] == \
                hashlib.sha256(body.encode()).hexdigest(), name
        db = lab.node_detail(hosts["db-1"])
        assert db["os"]["seed"]["user_data_sha256"] == digest["db-1"]
        assert plan_code(terraform, d, *var).returncode == 0

        # A new secret: the provider tells it from the sealed one (Terraform cannot see a
        # write-only value change), so the plan's ref is known after apply and its hosts are
        # decided then; they are rebuilt with it, and the secret is shown nowhere.
        var2 = var[:-1] + ["token=n3w-t0ken"]
        r = plan_code(terraform, d, *var2)
        assert r.returncode == 2 and "n3w-t0ken" not in r.stdout + r.stderr, r.stdout
        assert "ref" in r.stdout and "(known after apply)" in r.stdout, r.stdout
        r = run_ok(terraform, d, "apply", "-auto-approve", *var2)
        assert "n3w-t0ken" not in r.stdout + r.stderr
        body = rendered("web-1", "web", token="n3w-t0ken") + 'runcmd:\n  - [ echo, "lab" ]\n'
        assert lab.node_detail(hosts["web-1"])["os"]["seed"]["user_data_sha256"] == \
            hashlib.sha256(body.encode()).hexdigest()
        assert lab.node_detail(hosts["db-1"])["os"]["seed"]["user_data_sha256"] == digest["db-1"]
        assert plan_code(terraform, d, *var2).returncode == 0
        # Bumping the secrets' version alone changes the ref, and the hosts follow it; what they
        # render is the same, so nothing is rebuilt.
        var3 = var2 + ["-var", "token_version=2"]
        r = plan_code(terraform, d, *var3)
        assert r.returncode == 2 and "Plan: 0 to add, 3 to change" in r.stdout, r.stdout
        assert "generation" not in r.stdout and "Rebuild" not in r.stdout, r.stdout
        run_ok(terraform, d, "apply", "-auto-approve", *var3)
        assert plan_code(terraform, d, *var3).returncode == 0
        run_ok(terraform, d, "destroy", "-auto-approve", *var3)
        audit = [e["action"] for e in json.loads(terraform.bmplan("audit", "--format", "json").stdout)]
        assert audit.count("deployment_plan.put") == 4 and audit.count("deployment_plan.delete") == 1, audit
        assert "s3cret-t0ken" not in terraform.bmplan("audit", "--format", "json").stdout
    finally:
        images.stop()
