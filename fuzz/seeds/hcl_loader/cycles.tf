locals {
  a = local.b
  b = local.c
  c = local.a
}
resource "baremetal_network" "a" {
  name    = baremetal_network.b.name
  vlan_id = 301
}
resource "baremetal_network" "b" {
  name    = baremetal_network.a.name
  vlan_id = 302
}
