"""Secrets stay out of Terraform, and the provider's socket is Terraform's alone.

- With write-only passwords (`password_wo`, Terraform 1.11+), no BMC or switch password appears in
  `terraform.tfstate`, a saved plan (the file and `terraform show -json` of it), `terraform show
  -json` of the state, or the provider's log, on both CLIs. Bumping `password_wo_version` sends them
  again (an in-place update, no reset) and still keeps them out.
- A legacy `password` is accepted with Terraform's deprecation warning; an import never fills it
  (nor any secret) from the inventory.
- The plugin listens on a Unix socket in a directory only its user can open; another local user
  cannot connect; the same user without Terraform's client certificate, or with another P-521
  certificate, is refused by TLS; with the certificate Terraform gave, HTTP/2 is served.
"""

import base64
import json
import os
import pathlib
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import zipfile

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import SOURCE, provider_dir

ROOT = pathlib.Path(__file__).resolve().parent.parent
LAB_EXAMPLE = ROOT / "examples" / "lab" / "main.tf"
COOKIE = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2"


def secrets_of(lab):
    out = {n["password"] for n in lab.manifest["nodes"]}
    for sw in lab.manifest["switches"]:
        out.add(sw["password"])
        if sw.get("enable_password"):
            out.add(sw["enable_password"])
    assert all(len(s) >= 6 for s in out), out
    return out


def hits(text, secrets):
    return sorted(s for s in secrets if s in text)


def run_ok(tf, d, *args):
    r = tf.run(*args, cwd=d)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


def test_no_password_reaches_state_plans_or_logs(terraform, start_lab):
    lab = start_lab("--nodes", "2", "--tls")
    secrets = secrets_of(lab)
    var = ("-var", f"lab_manifest={lab.manifest_path}")
    d = terraform.workdir("fleet", LAB_EXAMPLE.read_text())
    run_ok(terraform, d, "apply", "-auto-approve", "-input=false", "-no-color", *var)

    # A change of password_wo_version: the saved plan updates the nodes and the switch in place.
    (d / "main.tf").write_text(LAB_EXAMPLE.read_text().replace("password_wo_version = 1", "password_wo_version = 2"))
    r = run_ok(terraform, d, "plan", "-input=false", "-no-color", "-out=tfplan", *var)
    assert "3 to change" in r.stdout, r.stdout
    plan_json = run_ok(terraform, d, "show", "-json", "tfplan").stdout
    with zipfile.ZipFile(d / "tfplan") as z:
        plan_files = "".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
    run_ok(terraform, d, "apply", "-input=false", "-no-color", "tfplan")

    state = (d / "terraform.tfstate").read_text()
    state_json = run_ok(terraform, d, "show", "-json").stdout
    log = terraform.log.read_text(errors="replace")
    found = {
        "terraform.tfstate": hits(state, secrets),
        "saved plan": hits(plan_files, secrets),
        "show -json tfplan": hits(plan_json, secrets),
        "show -json": hits(state_json, secrets),
        "provider log": hits(log, secrets),
    }
    assert found == {k: [] for k in found}, found
    # The write-only attributes are null in state; the versions are there.
    nodes = [r for r in json.loads(state_json)["values"]["root_module"]["resources"]
             if r["type"] == "baremetal_node"]
    assert len(nodes) == 2
    assert all(n["values"]["password_wo"] is None and n["values"]["password"] is None for n in nodes)
    assert all(n["values"]["password_wo_version"] == 2 for n in nodes)
    # The inventory still holds them, sealed: a refresh reaches every BMC and finds nothing to do.
    # With TF_LOG_PROVIDER=DEBUG, Terraform's own log (on stderr) carries the provider's lines at
    # their level (go-plugin's JSON lines, parsed by Terraform), and still no password.
    terraform.env["TF_LOG_PROVIDER"] = "DEBUG"
    try:
        r = terraform.run("plan", "-input=false", "-no-color", "-detailed-exitcode", *var, cwd=d)
    finally:
        del terraform.env["TF_LOG_PROVIDER"]
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    provider_lines = [l for l in r.stderr.splitlines() if "provider.terraform-provider-baremetal" in l]
    assert any("[INFO]" in l and "configuring" in l for l in provider_lines), r.stderr[-3000:]
    assert hits(r.stderr, secrets) == []


def test_a_legacy_password_is_deprecated_and_an_import_reads_back_no_secret(terraform, start_lab):
    lab = start_lab("--nodes", "1")
    n = lab.node("r1u01")
    config = f"""
terraform {{
  required_providers {{
    baremetal = {{ source = "{SOURCE}" }}
  }}
}}

resource "baremetal_node" "n" {{
  name      = "r1u01"
  bmc_url   = "{n["bmc_url"]}"
  system_id = "{n["system_id"]}"
  username  = "{n["username"]}"
  password  = "{n["password"]}"
  insecure  = true
}}
"""
    d = terraform.workdir("legacy", config)
    r = run_ok(terraform, d, "apply", "-auto-approve", "-input=false", "-no-color")
    assert "Deprecated" in r.stdout + r.stderr and "password_wo" in r.stdout + r.stderr, r.stdout + r.stderr
    fresh = terraform.workdir("imported", config)
    run_ok(terraform, fresh, "import", "-input=false", "-no-color", "baremetal_node.n", "r1u01")
    values = json.loads(run_ok(terraform, fresh, "show", "-json").stdout)["values"]["root_module"]["resources"][0]["values"]
    assert values["password"] is None and values["password_wo"] is None
    assert n["password"] not in (fresh / "terraform.tfstate").read_text()


def p521_cert(cn):
    key = ec.generate_private_key(ec.SECP521R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    import datetime
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA512()))
    return (cert.public_bytes(serialization.Encoding.PEM).decode(),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()).decode())


def speak_h2(sock_path, server_der, cert=None, tmp=None):
    """Connects over TLS (as go-plugin does: the server's certificate as the only root, ALPN h2) and
    sends the HTTP/2 preface; returns the type of the first frame the server sends back."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cadata=ssl.DER_cert_to_PEM_cert(server_der))
    ctx.set_alpn_protocols(["h2"])
    if cert:
        cpath, kpath = tmp / "c.pem", tmp / "k.pem"
        cpath.write_text(cert[0])
        kpath.write_text(cert[1])
        ctx.load_cert_chain(cpath, kpath)
    raw = socket.socket(socket.AF_UNIX)
    raw.settimeout(10)
    raw.connect(sock_path)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    try:
        assert s.selected_alpn_protocol() == "h2"
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
        head = s.recv(9)
        if len(head) < 9:
            raise ConnectionError("closed")
        return head[3]
    finally:
        s.close()


def test_the_plugin_socket_is_private_and_needs_terraforms_certificate(tmp_path):
    cert = p521_cert("terraform")
    env = dict(os.environ, TF_PLUGIN_MAGIC_COOKIE=COOKIE, PLUGIN_PROTOCOL_VERSIONS="5,6",
               PLUGIN_CLIENT_CERT=cert[0])
    exe = str(pathlib.Path(provider_dir()) / "terraform-provider-baremetal")

    # A socket directory too deep for a Unix socket path (108 bytes): a clear refusal, not a bind
    # error. (pytest's own tmp_path grows past it once its run counter has three digits.)
    deep = tmp_path / ("d" * 80)
    deep.mkdir()
    r = subprocess.run([exe], capture_output=True, text=True, timeout=30,
                       env=dict(env, PLUGIN_UNIX_SOCKET_DIR=str(deep)))
    assert r.returncode != 0 and "a Unix socket path takes at most 107" in r.stderr, r.stderr
    assert r.stdout == "" and list(deep.iterdir()) == [], "nothing printed, nothing left behind"
    short = pathlib.Path(tempfile.mkdtemp(prefix="bmsock-"))
    env["PLUGIN_UNIX_SOCKET_DIR"] = str(short)

    # Run by hand (no cookie): it says what it is and exits 1.
    r = subprocess.run([exe], capture_output=True, text=True, timeout=30,
                       env={k: v for k, v in env.items() if k != "TF_PLUGIN_MAGIC_COOKIE"})
    assert r.returncode == 1 and "Terraform provider plugin" in r.stderr, r.stderr

    p = subprocess.Popen([exe], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline().strip()
        core, proto, net, path, kind, server_cert = line.split("|")
        assert (core, proto, net, kind) == ("1", "6", "unix", "grpc"), line
        server_der = base64.b64decode(server_cert + "=" * (-len(server_cert) % 4))
        sock_dir = pathlib.Path(path).parent
        assert sock_dir.parent == short
        assert oct(sock_dir.stat().st_mode & 0o777) == "0o700"

        # With Terraform's certificate: HTTP/2 is served (the server's SETTINGS frame comes back).
        assert speak_h2(path, server_der, cert, tmp_path) == 4

        # The same user without a certificate, or with another P-521 certificate: refused.
        for other in (None, p521_cert("terraform")):
            with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
                speak_h2(path, server_der, other, tmp_path)

        # Another local user cannot even reach the socket.
        if os.geteuid() != 0:
            pytest.fail("this check runs as root (as scripts/test.sh does), to switch to another user")
        probe = ("import socket,sys\ns=socket.socket(socket.AF_UNIX)\n"
                 "try:\n s.connect(sys.argv[1])\nexcept PermissionError:\n sys.exit(13)\nsys.exit(0)\n")
        r = subprocess.run(["runuser", "-u", "nobody", "--", "python3", "-c", probe, path],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 13, (r.returncode, r.stderr)

        # SIGTERM: a clean stop, the socket directory removed.
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=20) == 0
        assert not sock_dir.exists()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        shutil.rmtree(short, ignore_errors=True)
