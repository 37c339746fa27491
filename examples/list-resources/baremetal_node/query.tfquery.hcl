# Servers enrolled in the inventory (by `bmplan nodes enroll`, discovery, or another configuration)
# and ready for use. `terraform query` lists them; with -generate-config-out it writes a
# `baremetal_node` block and an `import` block for each, to adopt them into this configuration:
#
#   terraform query -generate-config-out=nodes.tf
list "baremetal_node" "ready" {
  provider = baremetal
  limit    = 500

  config {
    state   = "available"
    managed = true
    rack    = "r1"
  }
}
