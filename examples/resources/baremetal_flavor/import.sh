# A flavor is imported by its name.
terraform import baremetal_flavor.compute_large compute-large
