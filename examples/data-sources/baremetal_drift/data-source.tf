# Fails the pipeline before a maintenance window when the fleet has drifted.
data "baremetal_drift" "fleet" {
  config_dir = "${path.module}/../fleet"
  vars = {
    lab_manifest = "/var/lib/bmplan/lab.json"
  }
}

check "no_drift" {
  assert {
    condition     = !data.baremetal_drift.fleet.drifted
    error_message = data.baremetal_drift.fleet.summary
  }
}
