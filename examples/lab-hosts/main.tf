# Two hosts deployed by flavor on the lab: the lab's nodes are enrolled, the image is checked against
# its checksum, each node's ports go to the provisioning network, its profile is staged, a cloud-init
# config drive is built and served from the provider's loopback endpoint, and the BMC's virtual media
# boots the installer. `terraform destroy` cleans the nodes (volumes deleted, drives erased, BIOS back
# to the node's profile) and gives them back to the pool.
#
#   bmplan lab --nodes 4 --tls --manifest /tmp/lab/lab.json &
#   head -c 1048576 /dev/urandom > /tmp/images/os.iso          # any file serves as the lab's installer
#   (cd /tmp/images && python3 -m http.server --bind 127.0.0.1 8089 &)
#   bmplan projects create lab
#   export BAREMETAL_PROJECT=lab
#   terraform apply -var lab_manifest=/tmp/lab/lab.json \
#     -var image_url=http://127.0.0.1:8089/os.iso \
#     -var image_checksum=sha256:$(sha256sum /tmp/images/os.iso | cut -d' ' -f1)
#   bmplan nodes list --json        # two nodes active
#   terraform destroy ...           # the same -var flags; both nodes available again
#   bmplan nodes history r1u01      # a node's life from the audit log:
#                                   # available [host lab/web-1] → deploying → active → … → available

terraform {
  required_providers {
    baremetal = { source = "bmplan/baremetal" }
  }
}

variable "lab_manifest" {
  type        = string
  description = "Path of the JSON manifest that `bmplan lab --manifest` writes."
}

variable "image_url" {
  type        = string
  description = "The OS image, served over HTTP where the lab's BMCs can fetch it (loopback)."
}

variable "image_checksum" {
  type        = string
  description = "sha256:<hex> or sha512:<hex> of the image."
}

variable "ssh_key" {
  type    = string
  default = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmplanLabExampleKeyOnly lab@example"
}

locals {
  lab      = jsondecode(file(var.lab_manifest))
  nodes    = { for n in local.lab.nodes : n.name => n }
  switches = { for s in local.lab.switches : s.name => s }
}

provider "baremetal" {
  ca_cert      = local.lab.ca_cert
  max_parallel = 10
  # Deployments and cleans wait at most this long (a resource's `timeouts` block can say more).
  default_timeout = "10m"
}

resource "baremetal_switch" "tor" {
  for_each = local.switches
  name     = each.key
  driver   = each.value.driver
  address  = each.value.address
  username = each.value.username
  # Write-only (Terraform 1.11+): sealed in the inventory, never in Terraform's plan or state.
  password_wo         = each.value.password
  enable_password_wo  = each.value.enable_password
  password_wo_version = 1
}

resource "baremetal_network" "prod" {
  name    = "prod"
  vlan_id = 100
}

# The hosts' network, without DHCP: each host gets static addresses from these subnets, written
# into its config drive's network configuration (`addresses` shows them; delete releases them).
resource "baremetal_network" "web" {
  name    = "web"
  vlan_id = 200
  subnet {
    cidr        = "10.20.0.0/24"
    gateway     = "10.20.0.1"
    dns_servers = ["10.20.0.53"]
    ranges      = ["10.20.0.10-10.20.0.99"]
  }
  subnet {
    cidr    = "fd00:20::/64"
    gateway = "fd00:20::1"
  }
}

resource "baremetal_network" "provisioning" {
  name    = "provisioning"
  vlan_id = 300
  role    = "provisioning"
}

resource "baremetal_network" "cleaning" {
  name    = "cleaning"
  vlan_id = 400
  role    = "cleaning"
}

# What every node is when no host runs on it.
resource "baremetal_profile" "pool" {
  name = "pool"
  bios = {
    ProcTurboMode = "Disabled"
  }
}

# What a web host runs with.
resource "baremetal_profile" "web" {
  name     = "web"
  template = baremetal_profile.pool.name
  bios = {
    ProcTurboMode = "Enabled"
  }
}

resource "baremetal_node" "lab" {
  for_each            = local.nodes
  name                = each.key
  bmc_url             = each.value.bmc_url
  system_id           = each.value.system_id
  username            = each.value.username
  password_wo         = each.value.password
  password_wo_version = 1
  rack                = each.value.rack
  profile             = baremetal_profile.pool.name

  port {
    switch   = baremetal_switch.tor[each.value.switch].name
    port     = each.value.switch_ports[0]
    mac      = each.value.macs[0]
    networks = [baremetal_network.prod.name]
  }
}

resource "baremetal_flavor" "compute" {
  name       = "compute"
  cpus       = 1
  arch       = "x86_64"
  depends_on = [baremetal_node.lab]
}

resource "baremetal_host" "web" {
  count          = 2
  name           = "web-${count.index + 1}"
  flavor         = baremetal_flavor.compute.name
  profile        = baremetal_profile.web.name
  image_url      = var.image_url
  image_checksum = var.image_checksum
  networks       = [baremetal_network.web.name]
  ssh_keys       = [var.ssh_key]
  # Write-only (Terraform 1.11+): sealed in the inventory, never in Terraform's plan or state; a
  # change of its text (seen by digest) redeploys the host.
  user_data_wo         = <<-EOT
    #cloud-config
    packages: [nginx]
  EOT
  user_data_wo_version = 1
  wait                 = "power_off"

  # The provisioning and cleaning networks must exist before a deployment or a clean uses them.
  depends_on = [baremetal_network.provisioning, baremetal_network.cleaning]
}

output "hosts" {
  value = { for h in baremetal_host.web : h.name => h.node }
}

output "addresses" {
  value = { for h in baremetal_host.web : h.name => h.addresses }
}
