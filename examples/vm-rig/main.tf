# Real operating systems on the VM rig (docs/guides/vm-rig.md): every VM of the rig enrolled through
# sushy-emulator's Redfish, and one host per VM deployed from a Debian cloud image by the deploy agent
# (written to the VM's disk, the config drive as a partition, booted from disk), each calling back
# once cloud-init ran. `terraform destroy` wipes the disks and gives the VMs back to the pool.
#
#   sudo .venv/bin/python scripts/vmrig.py up --dir /tmp/rig --vms 2
#   cp "$(sudo scripts/build-os-image.sh)"/debian-12.raw.zst /tmp/rig/www/
#   export BAREMETAL_AGENT_ISO="$(scripts/build-agent-iso.sh)"/agent.iso
#   bmplan projects create lab && export BAREMETAL_PROJECT=lab
#   sudo -E ip netns exec bmrig terraform apply -var rig_manifest=/tmp/rig/manifest.json \
#     -var image_checksum=sha256:$(sha256sum /tmp/rig/www/debian-12.raw.zst | cut -d' ' -f1)
#   tail -f /tmp/rig/bmrig-vm-1-serial.log                  # the agent, then Debian booting
#   sudo -E ip netns exec bmrig bmplan hosts log vm-1-web    # what the deployment printed

terraform {
  required_providers {
    baremetal = { source = "bmplan/baremetal" }
  }
}

variable "rig_manifest" {
  type        = string
  description = "Path of the manifest `scripts/vmrig.py up` writes."
}

variable "image_checksum" {
  type        = string
  description = "sha256:<hex> of debian-12.raw.zst."
}

variable "ssh_key" {
  type    = string
  default = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmplanRigExampleKeyOnly rig@example"
}

locals {
  rig   = jsondecode(file(var.rig_manifest))
  nodes = { for n in local.rig.nodes : n.name => n }
}

provider "baremetal" {
  # The deployment endpoint on the rig's bridge, where the VMs' agents and cloud-init reach it.
  media_listen = "10.231.0.1:0"
}

resource "baremetal_node" "vm" {
  for_each            = local.nodes
  name                = each.key
  bmc_url             = each.value.bmc_url
  system_id           = each.value.system_id
  username            = each.value.username
  password_wo         = each.value.password
  password_wo_version = 1
}

resource "baremetal_host" "web" {
  for_each       = local.nodes
  name           = "${each.key}-web"
  node           = baremetal_node.vm[each.key].name
  image_url      = "http://10.231.0.1:8080/debian-12.raw.zst"
  image_checksum = var.image_checksum
  image_format   = "raw.zst" # the name says so too; written by the deploy agent
  ssh_keys       = [var.ssh_key]
  wait           = "callback"

  # The VM's one disk, by the serial the rig gives it.
  root_device {
    serial = "bmrig-${each.key}-disk"
  }

  timeouts {
    create = "30m"
    delete = "30m"
  }
}
