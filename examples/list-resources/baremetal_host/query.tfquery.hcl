# The provider's project's hosts that run: each one found can be imported by its name.
#
#   terraform query -generate-config-out=hosts.tf
list "baremetal_host" "running" {
  provider = baremetal

  config {
    state = "active"
  }
}
