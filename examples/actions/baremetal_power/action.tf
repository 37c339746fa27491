# On demand:   terraform apply -invoke=action.baremetal_power.cycle_r1u02
action "baremetal_power" "cycle_r1u02" {
  config {
    node    = "r1u02"
    power   = "cycle"
    timeout = "10m"
  }
}

# After every change of the node's settings: a reboot, shown with its progress in the apply.
action "baremetal_power" "reboot_r1u01" {
  config {
    node  = baremetal_node.r1u01.name
    power = "reboot"
  }
}

resource "baremetal_node" "r1u01" {
  name                = "r1u01"
  bmc_url             = "https://10.1.0.11"
  username            = "root"
  password_wo         = var.bmc_password
  password_wo_version = 1
  profile             = "compute"

  lifecycle {
    action_trigger {
      events  = [after_update]
      actions = [action.baremetal_power.reboot_r1u01]
    }
  }
}

variable "bmc_password" {
  type      = string
  sensitive = true
}
