# A host is imported by its name within the provider's project.
terraform import baremetal_host.web1 web1
