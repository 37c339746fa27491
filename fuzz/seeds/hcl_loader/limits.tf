variable "n" {
  type    = number
  default = "ten"
}
locals {
  big  = range(2000000000)
  wide = format("%0999999999d", 1)
  deep = [[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]
  text = <<EOT
${local.wide} %{ for x in range(3) }${x}%{ endfor }
EOT
}
resource "baremetal_network" "n" {
  count   = 1000000000
  name    = "n${count.index}"
  vlan_id = 4095
}
