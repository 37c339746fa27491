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
        "baremetal_flavor", "baremetal_host", "baremetal_network", "baremetal_node", "baremetal_profile",
        "baremetal_switch"]
    assert sorted(s["data_source_schemas"]) == ["baremetal_drift", "baremetal_node", "baremetal_nodes"]
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
    assert len(examples) == 9
    for i, ex in enumerate(examples):
        d = terraform.workdir(f"example{i}", HEADER + ex.read_text())
        r = terraform.run("validate", "-no-color", cwd=d)
        assert r.returncode == 0, f"{ex}: {r.stdout}{r.stderr}"
        assert (ex.parent / "import.sh").exists() or ex.name == "data-source.tf", ex
