# A profile is imported by its name.
terraform import baremetal_profile.compute compute
