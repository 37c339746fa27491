"""The provider binary under the real Terraform CLI (through dev_overrides): it starts, serves its
schema over tfplugin6, and marks credentials sensitive. Resources arrive with the provider issue."""

import json
import pathlib

from conftest import SOURCE

ROOT = pathlib.Path(__file__).resolve().parent.parent


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


def test_terraform_sees_every_resource_and_data_source_with_sensitive_credentials(tf):
    r = tf("providers", "schema", "-json", config=HEADER + 'provider "baremetal" {}\n')
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)["provider_schemas"][f"registry.terraform.io/{SOURCE}"]
    assert sorted(s["resource_schemas"]) == [
        "baremetal_deployment_plan", "baremetal_flavor", "baremetal_host", "baremetal_image", "baremetal_network",
        "baremetal_node", "baremetal_profile", "baremetal_switch"]
    assert sorted(s["data_source_schemas"]) == ["baremetal_drift", "baremetal_image", "baremetal_node",
                                                "baremetal_nodes"]
    node = s["resource_schemas"]["baremetal_node"]["block"]
    assert node["attributes"]["password"]["sensitive"] is True
    assert node["attributes"]["cpus"]["computed"] is True
    assert "timeouts" in node["block_types"]
    assert s["resource_schemas"]["baremetal_switch"]["block"]["attributes"]["password"]["sensitive"] is True
    # Every attribute is described.
    for kind in ("resource_schemas", "data_source_schemas"):
        for name, schema in s[kind].items():
            for attr, a in schema["block"]["attributes"].items():
                assert a.get("description"), f"{name}.{attr}"


def test_an_unknown_resource_type_is_refused_by_terraform(tf):
    r = tf("validate", "-json", config=HEADER + 'resource "baremetal_nope" "r1u01" {}\n')
    assert r.returncode == 1
    diags = json.loads(r.stdout)["diagnostics"]
    assert any(d["summary"] == "Invalid resource type" for d in diags), diags


def test_the_provider_example_plans_cleanly(tf):
    example = (ROOT / "examples" / "provider" / "provider.tf").read_text()
    r = tf("plan", "-input=false", "-no-color", config=example)
    assert r.returncode == 0, r.stderr
    assert "No changes" in r.stdout


def test_every_resource_and_data_source_example_validates(terraform):
    examples = sorted((ROOT / "examples" / "resources").glob("*/resource.tf")) + \
        sorted((ROOT / "examples" / "data-sources").glob("*/data-source.tf"))
    assert len(examples) == 12
    for i, ex in enumerate(examples):
        d = terraform.workdir(f"example{i}", HEADER + ex.read_text())
        # Files an example names beside it (a CA bundle) go with it.
        for extra in ex.parent.glob("*.pem"):
            (d / extra.name).write_text(extra.read_text())
        r = terraform.run("validate", "-no-color", cwd=d)
        assert r.returncode == 0, f"{ex}: {r.stdout}{r.stderr}"
        assert (ex.parent / "import.sh").exists() or ex.name == "data-source.tf", ex


def test_terraform_validate_applies_the_same_static_rules_as_bmplan(tf):
    """ValidateResourceConfig runs `planner::rules`, the rules `bmplan validate` applies: each
    mistake is an error at its attribute's line, and a password in a URL is never echoed."""
    config = HEADER + '''
resource "baremetal_node" "n" {
  name        = "n"
  bmc_url     = "https://root:hunter2@10.0.0.9"
  username    = "root"
  password    = "pw"
  ca_cert     = "/nonexistent/ca.pem"
}

resource "baremetal_switch" "s" {
  name     = "s"
  driver   = "cisco_ios"
  address  = "10.0.0.2:99999"
  username = "admin"
  password = "pw"
}

resource "baremetal_network" "x" {
  name    = ""
  vlan_id = 100
}
'''
    r = tf("validate", "-json", config=config)
    assert r.returncode == 1, r.stdout + r.stderr
    diags = json.loads(r.stdout)["diagnostics"]
    lines = {d["range"]["start"]["line"] for d in diags if "range" in d}
    text = json.dumps(diags)
    assert "carries a user or password" in text, diags
    # (Terraform's own snippet of the line shows the configuration as written; our detail does not.)
    assert all("hunter2" not in d["detail"] + d["summary"] for d in diags), diags
    assert "cannot read /nonexistent/ca.pem" in text, diags
    assert "the port 99999 is not a number from 1 to 65535" in text, diags
    assert "the name is empty" in text, diags
    # bmc_url (line 9), ca_cert (12), address (18), name (24) of the config above.
    assert {9, 12, 18, 24} <= lines, diags
