# A switch is imported by its name in the inventory.
terraform import baremetal_switch.tor1 tor1
