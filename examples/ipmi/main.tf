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
#
# The host below is deployed by network boot (docs/guides/hosts.md, "Network boot"): IPMI has no
# virtual media, so the deploy agent boots by PXE from the NIC `pxe_mac` names, and the site's DHCP
# points iPXE to the deployment endpoint (the rig's dnsmasq points it to 10.231.0.1:8081). Put an
# image in the rig's origin first (scripts/build-os-image.sh builds Debian's; link it into the
# rig's DIR/www) and pass its checksum:
#
#   BAREMETAL_AGENT_ISO=$(scripts/build-agent-iso.sh)/agent.iso \
#     sudo -E ip netns exec bmrig terraform apply -var bmc_password=password -var image_checksum=sha256:…

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

variable "pxe_mac" {
  type        = string
  default     = "52:54:00:23:00:01"
  description = "The MAC of the NIC the server network-boots from (the rig's VM 1 by default)."
}

variable "image_url" {
  type    = string
  default = "http://10.231.0.1:8080/debian-12.raw.zst"
}

variable "image_checksum" {
  type        = string
  description = "sha256:… of the image (scripts/build-os-image.sh writes SHA256SUMS)."
}

provider "baremetal" {
  # Where the provisioning network's DHCP sends iPXE for its script: a fixed address and port.
  media_listen = "10.231.0.1:8081"
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
  boot_interface      = "pxe" # the default over IPMI, which has no virtual media
  pxe_mac             = var.pxe_mac
}

resource "baremetal_host" "web" {
  name           = "web-ipmi"
  node           = baremetal_node.old.name
  image_url      = var.image_url
  image_checksum = var.image_checksum
  wait           = "callback" # IPMI reports no boot progress: the deployed system calls back
  timeouts {
    create = "30m"
  }
}

output "fru" {
  value = {
    manufacturer = baremetal_node.old.manufacturer
    serial       = baremetal_node.old.serial
    power        = baremetal_node.old.power
  }
}
