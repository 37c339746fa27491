data "baremetal_node" "by_serial" {
  serial = "2JWWFZ9"
}

output "bmc" {
  value = data.baremetal_node.by_serial.bmc_url
}
