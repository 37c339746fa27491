# A network is imported by its name.
terraform import baremetal_network.prod prod
