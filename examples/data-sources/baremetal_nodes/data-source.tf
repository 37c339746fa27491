data "baremetal_nodes" "free_compute" {
  state  = "available"
  flavor = "compute-large"
}

output "free_compute" {
  value = data.baremetal_nodes.free_compute.names
}
