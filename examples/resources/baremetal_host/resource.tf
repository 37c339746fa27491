# A node of the flavor, allocated to the provider's project, taking on the profile (over the node's
# own), with an operating system deployed through the BMC's virtual media.
resource "baremetal_host" "web1" {
  name    = "web1"
  flavor  = "compute-large"
  profile = "compute"

  # Downloaded and checked before any node is touched; changing it rebuilds the host in place.
  # A cloud image: the deploy agent writes it to the root disk (an `iso` would boot as an installer).
  image_url      = "http://images.example.internal/ubuntu-24.04-server-cloudimg-amd64.img"
  image_checksum = "sha256:2f5c2a6b4f3e8d1c0b9a8f7e6d5c4b3a29181716151413121110090807060504"
  image_format   = "qcow2"
  root_device {
    size_gib   = 480
    rotational = false
  }
  networks       = ["prod"]
  # A fixed address on prod (the other family gets the next free one); `addresses` shows both.
  address {
    network = "prod"
    address = "10.20.0.120"
  }
  ssh_keys       = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExampleKeyOnly ops@example"]
  user_data      = <<-EOT
    #cloud-config
    packages: [nginx]
  EOT
  wait           = "callback" # the installed system's cloud-init calls back

  # Stateless computing: when the node fails, the host moves to a standby node.
  failover {
    standby_nodes     = ["r9u01", "r9u02"]
    standby_flavor    = "compute-large"
    unreachable_after = "5m"
  }

  timeouts {
    create = "45m"
    delete = "30m"
  }
}

output "web1_node" {
  value = baremetal_host.web1.node
}

output "web1_addresses" {
  value = baremetal_host.web1.addresses["prod"]
}
