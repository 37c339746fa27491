variable "tor_password" {
  type      = string
  sensitive = true
}

resource "baremetal_switch" "tor1" {
  name                = "tor1"
  driver              = "cisco_ios"
  address             = "10.0.0.2:22"
  username            = "admin"
  password_wo         = var.tor_password
  password_wo_version = 1
  rack                = "r1"
}
