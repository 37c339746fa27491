# A node of the flavor, allocated to the provider's project, taking on the profile.
resource "baremetal_host" "web1" {
  name    = "web1"
  flavor  = "compute-large"
  profile = "compute"
}

output "web1_node" {
  value = baremetal_host.web1.node
}
