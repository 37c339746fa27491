# A golden image: registered in the inventory by name, fetched once into the engine's image cache
# (verified against its checksum as it streams) and served to every deploy agent of the fleet.
resource "baremetal_image" "debian12" {
  name      = "debian-12"
  url       = "https://images.example.com/debian-12-genericcloud-amd64.raw.zst"
  checksum  = "sha256:6e1d1b5dbbd1f6a4b5c0f0f4b4c6fd6b1a2ad9d1d8d4ae2d6e0c6b2f0c7e0a11"
  format    = "raw.zst"
  os_family = "debian"
}

# Hosts deploy it by its ref (NAME@CHECKSUM): a new checksum on the image shows as a rebuild of
# every host that deploys it, in the same plan; a new URL for the same bits rebuilds nothing.
resource "baremetal_host" "web" {
  name   = "web-1"
  flavor = "compute"
  image  = baremetal_image.debian12.ref
}

output "debian12_size" {
  # Known once the engine has fetched and verified the image.
  value = baremetal_image.debian12.size_bytes
}
