# Deployment plans on the lab: a golden image plus a cloud-init template rendered per host. The
# web hosts deploy the image with the `web` plan (web-2 overrides a variable); db-1 deploys by URL
# with user data of its own. `terraform plan` checks the template (an unknown variable is an
# error at its line and column), shows each host's rendered user data as a diff (the secret
# variable masked), and a change of the template rebuilds only the hosts that use it.
#
#   bmplan lab --nodes 3 --tls --manifest /tmp/lab/lab.json &
#   head -c 1048576 /dev/urandom > /tmp/images/os.iso
#   (cd /tmp/images && python3 -m http.server --bind 127.0.0.1 8089 &)
#   bmplan projects create lab
#   export BAREMETAL_PROJECT=lab
#   terraform apply -var lab_manifest=/tmp/lab/lab.json \
#     -var image_url=http://127.0.0.1:8089/os.iso \
#     -var image_checksum=sha256:$(sha256sum /tmp/images/os.iso | cut -d' ' -f1) \
#     -var token=s3cret

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

variable "token" {
  type        = string
  sensitive   = true
  description = "A secret the template writes on each host: masked in the plan, never in state."
}

variable "token_version" {
  type        = number
  default     = 1
  description = "Bump it when the token changes: Terraform cannot see a write-only value change."
}

variable "motd" {
  type    = string
  default = "managed by terraform"
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

resource "baremetal_deployment_plan" "web" {
  name     = "web"
  hostname = "{{ host.name }}.{{ var.role }}.lab.example"
  user_data = <<-EOT
    #cloud-config
    hostname: {{ host.hostname }}
    write_files:
      - path: /etc/motd
        content: "{{ var.motd }} ({{ plan.name }} on {{ image.name }}, {{ image.os_family }})"
      - path: /etc/app/token
        content: "{{ var.token }}"
  EOT
  variables = {
    role = "web"
    motd = var.motd
  }
  # Write-only (Terraform 1.11+): sealed in the inventory, never in the plan or state.
  secret_variables_wo = {
    token = var.token
  }
  secret_variables_wo_version = var.token_version
}

resource "baremetal_host" "web" {
  count           = 2
  name            = "web-${count.index + 1}"
  flavor          = baremetal_flavor.compute.name
  image           = baremetal_image.installer.ref
  deployment_plan = baremetal_deployment_plan.web.ref
  plan_variables  = count.index == 1 ? { role = "canary" } : null
  wait            = "power_off"
}

resource "baremetal_host" "db" {
  name           = "db-1"
  flavor         = baremetal_flavor.compute.name
  image_url      = var.image_url
  image_checksum = var.image_checksum
  user_data      = "#cloud-config\nhostname: db-1\n"
  wait           = "power_off"
  depends_on     = [baremetal_host.web]
}

output "hosts" {
  value = merge({ for h in baremetal_host.web : h.name => h.node }, { (baremetal_host.db.name) = baremetal_host.db.node })
}

output "user_data_sha256" {
  value = merge({ for h in baremetal_host.web : h.name => h.user_data_sha256 }, { (baremetal_host.db.name) = baremetal_host.db.user_data_sha256 })
}
