# A tenant network without DHCP: hosts on it get static addresses from the inventory, IPv4 and IPv6,
# written into their network configuration with the gateways as default routes.
resource "baremetal_network" "prod" {
  name    = "prod"
  vlan_id = 100
  mtu     = 9000

  subnet {
    cidr        = "10.20.0.0/24"
    gateway     = "10.20.0.1"
    dns_servers = ["10.20.0.53"]
    ranges      = ["10.20.0.100-10.20.0.199"]
    reserved    = ["10.20.0.150"]
  }
  subnet {
    cidr    = "fd00:20::/64"
    gateway = "fd00:20::1"
  }
}

# A network whose IPv6 hosts configure themselves from router advertisements.
resource "baremetal_network" "storage" {
  name    = "storage"
  vlan_id = 200

  subnet {
    cidr = "fd00:200::/64"
    mode = "slaac"
  }
}

resource "baremetal_network" "provisioning" {
  name    = "provisioning"
  vlan_id = 10
  role    = "provisioning"
}
