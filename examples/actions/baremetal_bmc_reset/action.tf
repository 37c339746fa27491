# Restart a BMC that stopped answering some requests; the server keeps running:
#   terraform apply -invoke=action.baremetal_bmc_reset.r1u01
action "baremetal_bmc_reset" "r1u01" {
  config {
    node    = "r1u01"
    timeout = "10m"
  }
}
