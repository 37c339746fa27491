# An image is imported by its name.
terraform import baremetal_image.debian12 debian-12
