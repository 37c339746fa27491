# An image registered elsewhere (another configuration, or captured from a host), with the hosts
# that deploy it: a pipeline can refuse to retire an image that is still in use.
data "baremetal_image" "base" {
  name = "debian-12"
}

output "base_in_use_by" {
  value = data.baremetal_image.base.hosts
}

resource "baremetal_host" "batch" {
  name   = "batch-1"
  flavor = "compute"
  image  = data.baremetal_image.base.ref
}
