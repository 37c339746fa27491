# Provider configuration. Every attribute can come from a BAREMETAL_* environment variable instead.
terraform {
  required_providers {
    baremetal = { source = "bmplan/baremetal" }
  }
}

provider "baremetal" {
  inventory       = "sqlite:///tmp/baremetal-example/inventory.db"
  project         = "platform"
  role            = "admin"
  max_parallel    = 20
  default_timeout = "30m"
}
