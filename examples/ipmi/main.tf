# A server whose BMC speaks IPMI only (docs/guides/bmc.md#ipmi): enrolled as ipmi://, its FRU,
# power and sensors read through Debian's ipmitool. Try it on the VM rig, whose virtualbmc answers
# IPMI for VM n on 127.0.0.1:6230+n inside the rig's namespace:
#
#   sudo .venv/bin/python scripts/vmrig.py up --dir /tmp/rig --vms 1
#   sudo -E ip netns exec bmrig terraform apply -var bmc_password=password
#   sudo -E ip netns exec bmrig bmplan nodes power old-r1u07 on
#   sudo -E ip netns exec bmrig bmplan nodes boot old-r1u07 pxe --persistent
#   bmplan nodes events old-r1u07      # the SEL (virtualbmc has none: "not supported")
#   bmplan nodes console old-r1u07     # serial-over-LAN where the BMC offers it; Ctrl-] detaches
#
# A profile with BIOS, RAID, firmware or secure boot settings on this node is refused at plan:
# IPMI has none of them. A profile with only a boot mode works.

terraform {
  required_providers {
    baremetal = { source = "bmplan/baremetal" }
  }
}

variable "bmc_url" {
  type        = string
  default     = "ipmi://127.0.0.1:6231"
  description = "ipmi://host[:port][?cipher_suite=N]; name the cipher suite for a BMC that does not answer ipmitool's cipher suite probe."
}

variable "bmc_password" {
  type      = string
  sensitive = true
}

resource "baremetal_profile" "uefi" {
  name = "uefi-only"
  boot {
    mode = "UEFI"
  }
}

resource "baremetal_node" "old" {
  name                = "old-r1u07"
  bmc_url             = var.bmc_url
  username            = "admin"
  password_wo         = var.bmc_password # sealed in the inventory, never in state
  password_wo_version = 1
  profile             = baremetal_profile.uefi.name
}

output "fru" {
  value = {
    manufacturer = baremetal_node.old.manufacturer
    serial       = baremetal_node.old.serial
    power        = baremetal_node.old.power
  }
}
