"""TLS failures say what happened and what to do. A BMC that presents a self-signed CA certificate as
its own (common on BMCs out of the box) is served here by Python's ssl module with a certificate
made by `cryptography`, not by our code."""

import datetime
import hashlib
import http.server
import ipaddress
import os
import ssl
import subprocess
import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import bmplan_path


class Root(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        body = b'{"@odata.id": "/redfish/v1/", "RedfishVersion": "1.15.0", "Systems": {"@odata.id": "/redfish/v1/Systems"}}'
        status = 200 if self.path.rstrip("/") == "/redfish/v1" else 404
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def self_signed_ca_bmc(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bmc.example")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = tmp_path / "bmc.pem"
    key_pem = tmp_path / "bmc.key"
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Root)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert_pem), str(key_pem))
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    fingerprint = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    yield f"https://127.0.0.1:{srv.server_address[1]}", cert_pem, fingerprint
    srv.shutdown()


def inspect(url, *extra):
    return subprocess.run(
        [bmplan_path(), "inspect", url, "--username", "root", "--password-env", "TLS_TEST_PASSWORD", "--timeout", "10", *extra],
        capture_output=True, text=True, timeout=60, env={**os.environ, "TLS_TEST_PASSWORD": "pw"},
    )


def test_a_self_signed_ca_certificate_is_named_with_what_to_do(self_signed_ca_bmc):
    url, cert, fingerprint = self_signed_ca_bmc
    for extra in ([], ["--ca-cert", str(cert)]):
        r = inspect(url, *extra)
        assert r.returncode == 4, r.stderr
        assert "the server's certificate is a CA certificate used as an end-entity (self-signed)" in r.stderr, r.stderr
        assert "--fingerprint" in r.stderr and "--ca-cert" in r.stderr, r.stderr
    # The fix it names works: pinned, the handshake passes (the BMC then has no Systems: not TLS).
    r = inspect(url, "--fingerprint", fingerprint)
    assert "TLS" not in r.stderr and "certificate" not in r.stderr, r.stderr
    assert r.returncode == 1, r.stderr
