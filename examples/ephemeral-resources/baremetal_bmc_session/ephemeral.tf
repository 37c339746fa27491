# A Redfish session on r1u01's BMC for this run only: its token never enters a plan or state, and
# the session is deleted on the BMC when the run ends.
ephemeral "baremetal_bmc_session" "r1u01" {
  node = "r1u01"
}

# Ephemeral values go where Terraform accepts them: here, a provisioner that reads the BMC's
# event log with the session (the token is sent only to the BMC's own URL).
resource "terraform_data" "sel_snapshot" {
  provisioner "local-exec" {
    command = "curl -sf --cacert bmc-ca.pem -H \"X-Auth-Token: $TOKEN\" \"$URL/redfish/v1/Managers\""
    environment = {
      TOKEN = ephemeral.baremetal_bmc_session.r1u01.token
      URL   = ephemeral.baremetal_bmc_session.r1u01.url
    }
  }
}
