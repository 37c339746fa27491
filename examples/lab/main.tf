# The lab fleet as code: every node of a `bmplan lab` manifest gets the "compute" profile (BIOS, boot
# RAID and BIOS firmware all differ from the lab's factory state) and its switch ports on the "prod" VLAN.
#
#   bmplan lab --nodes 8 --tls --manifest /tmp/lab/lab.json &
#   bmplan plan  examples/lab -var lab_manifest=/tmp/lab/lab.json
#   bmplan apply examples/lab -var lab_manifest=/tmp/lab/lab.json -auto-approve
#   bmplan drift examples/lab -var lab_manifest=/tmp/lab/lab.json --format markdown

terraform {
  required_providers {
    baremetal = { source = "bmplan/baremetal" }
  }
}

variable "lab_manifest" {
  type        = string
  description = "Path of the JSON manifest that `bmplan lab --manifest` writes."
}

variable "prod_vlan" {
  type    = number
  default = 100
}

locals {
  lab      = jsondecode(file(var.lab_manifest))
  nodes    = { for n in local.lab.nodes : n.name => n }
  switches = { for s in local.lab.switches : s.name => s }
}

provider "baremetal" {
  ca_cert      = local.lab.ca_cert
  max_parallel = 10
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
  vlan_id = var.prod_vlan
}

# Settings every server shares; "compute" inherits them.
resource "baremetal_profile" "base" {
  name = "base"
  bios = {
    SriovGlobalEnable = "Enabled"
    PowerOnDelaySec   = 30
  }
}

resource "baremetal_profile" "compute" {
  name     = "compute"
  template = baremetal_profile.base.name
  bios = {
    ProcTurboMode = "Disabled"
    SysProfile    = "PerfOptimized"
  }
  boot {
    mode        = "UEFI"
    secure_boot = true
  }
  # The lab reads the version from the image's name and does not download it.
  firmware {
    component = "BIOS"
    version   = "9.9.9"
    image_url = "http://images.lab.invalid/bios-9.9.9.bin"
  }
  raid {
    volume {
      name   = "OS"
      level  = "RAID1"
      drives = 2
    }
    volume {
      name   = "data"
      level  = "RAID0"
      drives = 1
    }
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
  profile             = baremetal_profile.compute.name

  dynamic "port" {
    for_each = each.value.switch_ports
    content {
      switch   = baremetal_switch.tor[each.value.switch].name
      port     = port.value
      networks = [baremetal_network.prod.name]
    }
  }
}
