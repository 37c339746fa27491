# Capture an active host into a new golden image, then deploy it elsewhere by name:
#   terraform apply -invoke=action.baremetal_image_capture.web
# The host is shut down, the deploy agent generalises a snapshot of its disk (machine-id, SSH host
# keys, cloud-init state, logs, then the script) and streams it into the image store; the host
# then boots its OS again, unchanged.
action "baremetal_image_capture" "web" {
  config {
    host             = "web-1"
    name             = "web-golden-2026-12"
    script           = "apt-get clean; rm -rf /var/cache/apt/archives/*.deb"
    shutdown_timeout = "2m"
    timeout          = "45m"
  }
}

# The captured image, read back: hosts deploy it with `image = "web-golden-2026-12"`.
data "baremetal_image" "web_golden" {
  name = "web-golden-2026-12"
}
