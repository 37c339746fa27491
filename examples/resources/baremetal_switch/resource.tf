variable "tor_password" {
  type      = string
  sensitive = true
}

resource "baremetal_switch" "tor1" {
  name     = "tor1"
  driver   = "cisco_ios"
  address  = "10.0.0.2:22"
  username = "admin"
  password = var.tor_password
  rack     = "r1"
}
