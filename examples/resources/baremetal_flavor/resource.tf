resource "baremetal_flavor" "compute_large" {
  name       = "compute-large"
  cpus       = 64
  memory_gib = 512
  arch       = "x86_64"
  traits     = ["nvme"]
}

output "compute_large_free" {
  value = baremetal_flavor.compute_large.available_nodes
}
