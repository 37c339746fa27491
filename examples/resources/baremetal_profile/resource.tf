# Settings every server shares.
resource "baremetal_profile" "base" {
  name = "base"
  bios = {
    SriovGlobalEnable = "Enabled"
  }
}

# Compute servers: the base, plus their own BIOS, boot, firmware and RAID settings.
resource "baremetal_profile" "compute" {
  name     = "compute"
  template = baremetal_profile.base.name
  bios = {
    ProcTurboMode = "Disabled"
    SysProfile    = "PerfOptimized"
  }

  boot {
    mode        = "UEFI"
    secure_boot = true
  }

  firmware {
    component = "BIOS"
    version   = "2.19.1"
    image_url = "http://images.example.internal/dell/bios-2.19.1.exe"
  }

  # Ports of its nodes that list no networks get these; bonded ports form one LACP port-channel.
  network_connection {
    networks  = ["prod"]
    bond_mode = "lacp"
  }

  raid {
    volume {
      name   = "OS"
      level  = "RAID1"
      drives = 2
    }
  }

  timeouts {
    update = "45m"
  }
}

# Offline configuration: servers not installed yet take this profile as soon as they are enrolled
# (or discovered), by serial number or by the slot their chassis reports (rack/U); the next apply
# configures them.
resource "baremetal_profile" "rack9" {
  name     = "rack9"
  template = baremetal_profile.compute.name
  serials  = ["CN7016390B0042", "CN7016390B0043"]
  slots    = ["r9/1", "r9/2"]
}
