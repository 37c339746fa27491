# Golden images on the lab: one `baremetal_image` registered in the inventory, and two hosts that
# deploy it by reference instead of by URL. The image's checksum is the hosts' (computed): a new
# checksum on the image rebuilds both hosts in place; a new URL for the same bits does not. The
# data source lists the hosts that deploy the image; deleting an image a host still deploys is
# refused. An image the deploy agent writes (raw, qcow2, raw.zst…) is fetched once into the
# engine's image cache and served to every agent (see docs/guides/images.md); the lab's
# installers are ISOs, which the BMC's virtual media reads from the image's URL.
#
#   bmplan lab --nodes 3 --tls --manifest /tmp/lab/lab.json &
#   head -c 1048576 /dev/urandom > /tmp/images/os.iso
#   (cd /tmp/images && python3 -m http.server --bind 127.0.0.1 8089 &)
#   bmplan projects create lab
#   export BAREMETAL_PROJECT=lab
#   terraform apply -var lab_manifest=/tmp/lab/lab.json \
#     -var image_url=http://127.0.0.1:8089/os.iso \
#     -var image_checksum=sha256:$(sha256sum /tmp/images/os.iso | cut -d' ' -f1)
#   terraform output image_hosts      # ["lab/web-1", "lab/web-2"]

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
  description = "The installer image, served over HTTP where the lab's BMCs can fetch it."
}

variable "image_checksum" {
  type        = string
  description = "sha256:<hex> or sha512:<hex> of the image."
}

locals {
  lab   = jsondecode(file(var.lab_manifest))
  nodes = { for n in local.lab.nodes : n.name => n }
}

provider "baremetal" {
  ca_cert         = local.lab.ca_cert
  default_timeout = "10m"
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
}

resource "baremetal_flavor" "compute" {
  name       = "compute"
  cpus       = 1
  depends_on = [baremetal_node.lab]
}

resource "baremetal_image" "installer" {
  name      = "lab-installer"
  url       = var.image_url
  checksum  = var.image_checksum
  format    = "iso"
  os_family = "debian"
}

resource "baremetal_host" "web" {
  count  = 2
  name   = "web-${count.index + 1}"
  flavor = baremetal_flavor.compute.name
  # The image's ref (NAME@CHECKSUM): Terraform registers the image before the hosts that deploy
  # it, and a new checksum on the image shows as a rebuild of both hosts in the same plan.
  image = baremetal_image.installer.ref
  wait  = "power_off"
}

data "baremetal_image" "installer" {
  name       = baremetal_image.installer.name
  depends_on = [baremetal_host.web]
}

output "hosts" {
  value = { for h in baremetal_host.web : h.name => h.node }
}

output "image_hosts" {
  value = data.baremetal_image.installer.hosts
}

output "deployed_checksums" {
  value = { for h in baremetal_host.web : h.name => h.image_checksum }
}
