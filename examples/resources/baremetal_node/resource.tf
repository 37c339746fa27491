variable "bmc_password" {
  type      = string
  sensitive = true
}

resource "baremetal_node" "r1u01" {
  name                = "r1u01"
  bmc_url             = "https://10.1.0.11"
  username            = "root"
  password_wo         = var.bmc_password # write-only: never in Terraform state (Terraform 1.11+)
  password_wo_version = 1
  ca_cert             = "${path.module}/bmc-ca.pem" # the PEM bundle of the CA that issued the BMCs' certificates
  rack                = "r1"
  profile             = "compute"

  port {
    switch   = "tor1"
    port     = "Gi0/1"
    networks = ["prod"]
    pxe      = true
  }

  # Two NICs bonded: one port-channel on tor1 carrying the profile's networks.
  port {
    switch = "tor1"
    port   = "Gi0/2"
    bond   = "bond0"
  }
  port {
    switch = "tor1"
    port   = "Gi0/3"
    bond   = "bond0"
  }

  timeouts {
    create = "40m"
  }
}

output "r1u01_serial" {
  value = baremetal_node.r1u01.serial
}
