variable "app_token" {
  type      = string
  sensitive = true
}

variable "ssh_key" {
  type = string
}

resource "baremetal_image" "debian12" {
  name     = "debian-12"
  url      = "https://images.example.com/debian-12.raw.zst"
  checksum = "sha256:6e1d1b5dbbd1f6a4b5c0f0f4b4c6fd6b1a2ad9d1d8d4ae2d6e0c6b2f0c7e0a11"
}

# A deployment plan: a cloud-init template rendered per host. `terraform plan` checks it (an
# unknown variable is an error at its line and column of the template) and shows each host's
# rendered user data as a diff, with secret variables masked.
resource "baremetal_deployment_plan" "web" {
  name     = "web"
  hostname = "{{ host.name }}.{{ var.site }}.example.com"
  user_data = <<-EOT
    #cloud-config
    hostname: {{ host.hostname }}
    ssh_authorized_keys: {{ host.ssh_keys }}
    write_files:
      - path: /etc/app/role
        content: "{{ var.role }} on {{ image.name }}"
      - path: /etc/app/token
        content: "{{ var.token }}"
  EOT
  variables = {
    site = "fra1"
    role = "web"
  }
  # Write-only (Terraform 1.11+): sealed in the inventory, never in the plan or state.
  secret_variables_wo = {
    token = var.app_token
  }
}

# Hosts use it by its ref: a change of the template rebuilds exactly the hosts that use it.
resource "baremetal_host" "canary" {
  name            = "web-canary"
  flavor          = "compute"
  image           = baremetal_image.debian12.ref
  deployment_plan = baremetal_deployment_plan.web.ref
  plan_variables  = { role = "canary" }
  ssh_keys        = [var.ssh_key]
}
