provider "baremetal" {
  max_paralel = "ten"
  insecrue    = true
  ca_cert     = "/nonexistent/ca.pem"
  insecure    = true
}
resouce "baremetal_network" "x" {}
resource "baremetal_nework" "y" {
  name = "\u0000\u001b[31m"
}
resource "baremetal_node" "n" {
  name     = ""
  bmc_url  = "https://root:calvin@10.0.0.9:99999"
  username = ""
  password = "pw"
  port = { switch = "tor1" }
  dynamic "port" {
    content {}
  }
}
