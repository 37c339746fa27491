# A host is imported by its name within the provider's project. Its deployment (image, checksum,
# networks, SSH keys, wait strategy, failover policy, and the user data, kept sealed) reads back.
terraform import baremetal_host.web1 web1
