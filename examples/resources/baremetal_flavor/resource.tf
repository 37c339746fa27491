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

# GPUs are counted by inspection (Redfish processors of type GPU), never as CPUs: this flavor
# takes only servers with at least 8 A100s, and flavors without GPUs leave those servers for it.
resource "baremetal_flavor" "training" {
  name       = "training"
  cpus       = 64
  memory_gib = 1024
  gpus       = 8
  gpu_model  = "A100"
}
