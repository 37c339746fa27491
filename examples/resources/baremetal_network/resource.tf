resource "baremetal_network" "prod" {
  name    = "prod"
  vlan_id = 100
  mtu     = 9000
}

resource "baremetal_network" "provisioning" {
  name    = "provisioning"
  vlan_id = 10
  role    = "provisioning"
}
