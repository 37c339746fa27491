# A one-off BIOS update, staged for the node's next reset:
#   terraform apply -invoke=action.baremetal_firmware_update.bios_r1u01
# (Firmware a profile pins, and keeps, belongs in the profile's `firmware` block instead.)
action "baremetal_firmware_update" "bios_r1u01" {
  config {
    node       = "r1u01"
    image_url  = "https://images.example.com/firmware/bios-2.19.1.bin"
    apply_time = "on_reset"
    timeout    = "30m"
  }
}
