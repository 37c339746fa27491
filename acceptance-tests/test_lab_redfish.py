"""The lab's Redfish BMCs, driven by `requests` (not our client): what a real BMC would do, the lab
must do too."""

import re
import time

import pytest
import requests


def wait_until(predicate, timeout=20, interval=0.1, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}")


def test_service_root_is_open_but_collections_need_credentials(tls_lab, bmc_of):
    node = tls_lab.node()
    root = requests.get(node["bmc_url"] + "/redfish/v1", verify=tls_lab.manifest["ca_cert"], timeout=10)
    assert root.status_code == 200
    body = root.json()
    assert body["Systems"]["@odata.id"] == "/redfish/v1/Systems"
    assert body["Links"]["Sessions"]["@odata.id"] == "/redfish/v1/SessionService/Sessions"
    assert root.headers["OData-Version"] == "4.0"
    anon = requests.get(node["bmc_url"] + "/redfish/v1/Systems", verify=tls_lab.manifest["ca_cert"], timeout=10)
    assert anon.status_code == 401
    assert anon.json()["error"]["@Message.ExtendedInfo"][0]["MessageId"].endswith("NoValidSession")


def test_wrong_password_is_refused(tls_lab):
    node = tls_lab.node()
    r = requests.get(
        node["bmc_url"] + f"/redfish/v1/Systems/{node['system_id']}",
        auth=(node["username"], "not-the-password"),
        verify=tls_lab.manifest["ca_cert"],
        timeout=10,
    )
    assert r.status_code == 401


def test_tls_verifies_against_the_lab_ca_and_plain_http_shares_the_port(tls_lab, bmc_of):
    node = tls_lab.node()
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(node["bmc_url"] + "/redfish/v1", verify=True, timeout=10)
    assert node["bmc_url"].startswith("https://127.0.0.1:")
    assert node["bmc_http_url"] == node["bmc_url"].replace("https://", "http://")
    http = bmc_of(tls_lab, node, https=False)
    assert http.get(http.sys).json()["SerialNumber"] == node["serial"]


def test_systems_match_the_manifest_and_hardware_varies(tls_lab, bmc_of):
    vendors, models = set(), set()
    for node in tls_lab.manifest["nodes"]:
        bmc = bmc_of(tls_lab, node)
        members = bmc.get("/redfish/v1/Systems").json()["Members"]
        assert [m["@odata.id"] for m in members] == [bmc.sys]
        system = bmc.get(bmc.sys).json()
        assert system["SerialNumber"] == node["serial"]
        assert system["UUID"] == node["uuid"]
        assert system["ProcessorSummary"]["Count"] >= 1
        assert system["MemorySummary"]["TotalSystemMemoryGiB"] >= 128
        vendors.add(system["Manufacturer"])
        models.add(system["Model"])
        nics = [bmc.get(m["@odata.id"]).json() for m in bmc.get(bmc.sys + "/EthernetInterfaces").json()["Members"]]
        # The host's side of the host interface to the BMC (XClarity's `ToManager`) is no cabled NIC.
        macs = [n["MACAddress"] for n in nics if "HostInterface" not in n.get("Links", {})]
        assert macs == node["macs"]
        if system["Manufacturer"] == "Lenovo":
            assert any("HostInterface" in n.get("Links", {}) for n in nics)
        assert 2 <= len(macs) <= 4
        storage = bmc.get(bmc.sys + "/Storage").json()["Members"]
        ctl = bmc.get(storage[0]["@odata.id"]).json()
        assert len(ctl["Drives"]) >= 2
        drive = bmc.get(ctl["Drives"][0]["@odata.id"]).json()
        assert drive["CapacityBytes"] > 0 and drive["MediaType"] in ("SSD", "HDD")
    assert len(vendors) == 4
    assert len(models) >= 4


def test_lldp_neighbour_matches_the_manifest_cabling(tls_lab, bmc_of):
    node = tls_lab.node()
    bmc = bmc_of(tls_lab, node)
    chassis = bmc.get("/redfish/v1/Chassis").json()["Members"][0]["@odata.id"]
    adapters = bmc.get(chassis + "/NetworkAdapters").json()["Members"]
    ports = bmc.get(adapters[0]["@odata.id"] + "/Ports").json()["Members"]
    for i, port_ref in enumerate(ports[:2]):
        port = bmc.get(port_ref["@odata.id"]).json()
        lldp = port["Ethernet"]["LLDPReceive"]
        assert lldp["SystemName"] == node["switch"]
        # The schema's form for LLDP identifiers: colon-separated upper-case hex octets, here the
        # bytes of the interface name (PortIdSubtype IfName).
        assert re.fullmatch(r"[0-9A-F]{2}(:[0-9A-F]{2})*", lldp["PortId"]), lldp["PortId"]
        assert lldp["PortIdSubtype"] == "IfName"
        assert bytes.fromhex(lldp["PortId"].replace(":", "")).decode() == node["switch_ports"][i]
        assert port["Ethernet"]["AssociatedMACAddresses"] == [node["macs"][i]]


def test_session_login_token_logout_and_expiry(tls_lab, bmc_of):
    node = tls_lab.node()
    base = node["bmc_url"]
    ca = tls_lab.manifest["ca_cert"]
    login = requests.post(
        base + "/redfish/v1/SessionService/Sessions",
        json={"UserName": node["username"], "Password": node["password"]},
        verify=ca,
        timeout=10,
    )
    assert login.status_code == 201
    token, location = login.headers["X-Auth-Token"], login.headers["Location"]
    system = base + f"/redfish/v1/Systems/{node['system_id']}"
    assert requests.get(system, headers={"X-Auth-Token": token}, verify=ca, timeout=10).status_code == 200
    assert requests.delete(base + location, headers={"X-Auth-Token": token}, verify=ca, timeout=10).status_code == 204
    assert requests.get(system, headers={"X-Auth-Token": token}, verify=ca, timeout=10).status_code == 401
    # A second session, expired by the lab, must be refused too (clients re-login on 401).
    token2 = requests.post(
        base + "/redfish/v1/SessionService/Sessions",
        json={"UserName": node["username"], "Password": node["password"]},
        verify=ca,
        timeout=10,
    ).headers["X-Auth-Token"]
    assert requests.post(f"{tls_lab.control}/nodes/{node['name']}/expire-sessions", timeout=10).json()["expired"] == 1
    assert requests.get(system, headers={"X-Auth-Token": token2}, verify=ca, timeout=10).status_code == 401


def test_bios_settings_are_staged_then_applied_by_exactly_one_reset(tls_lab, bmc_of):
    node = tls_lab.node()
    bmc = bmc_of(tls_lab, node)
    bios = bmc.get(bmc.sys + "/Bios").json()
    assert bios["Attributes"]["ProcVirtualization"] == "Enabled"
    settings_uri = bios["@Redfish.Settings"]["SettingsObject"]["@odata.id"]
    assert "OnReset" in bios["@Redfish.Settings"]["SupportedApplyTimes"]
    r = bmc.patch(
        settings_uri,
        {"Attributes": {"ProcVirtualization": "Disabled", "SriovGlobalEnable": "Enabled"},
         "@Redfish.SettingsApplyTime": {"ApplyTime": "OnReset"}},
    )
    assert r.status_code in (200, 202, 204), r.text
    assert bmc.get(settings_uri).json()["Attributes"] == {"ProcVirtualization": "Disabled", "SriovGlobalEnable": "Enabled"}
    assert bmc.get(bmc.sys + "/Bios").json()["Attributes"]["ProcVirtualization"] == "Enabled"
    assert tls_lab.stats()["nodes"][node["name"]]["resets"] == 0
    bmc.reset("ForceRestart")
    bmc.wait_power("On")
    attrs = bmc.get(bmc.sys + "/Bios").json()["Attributes"]
    assert attrs["ProcVirtualization"] == "Disabled" and attrs["SriovGlobalEnable"] == "Enabled"
    assert bmc.get(settings_uri).json()["Attributes"] == {}
    stats = tls_lab.stats()["nodes"][node["name"]]
    assert stats["resets"] == 1
    assert stats["applied"][0]["bios"] == {"ProcVirtualization": "Disabled", "SriovGlobalEnable": "Enabled"}


def test_bios_registry_describes_types_and_bad_values_are_rejected_whole(tls_lab, bmc_of):
    node = tls_lab.node()
    bmc = bmc_of(tls_lab, node)
    bios = bmc.get(bmc.sys + "/Bios").json()
    registry_file = bmc.get("/redfish/v1/Registries/" + bios["AttributeRegistry"]).json()
    registry = bmc.get(registry_file["Location"][0]["Uri"]).json()
    attrs = {a["AttributeName"]: a for a in registry["RegistryEntries"]["Attributes"]}
    assert attrs["BootMode"]["Type"] == "Enumeration"
    assert {v["ValueName"] for v in attrs["BootMode"]["Value"]} == {"Uefi", "Bios"}
    assert attrs["SystemServiceTag"]["ReadOnly"] is True
    assert attrs["PowerOnDelaySec"]["UpperBound"] == 120
    settings_uri = bios["@Redfish.Settings"]["SettingsObject"]["@odata.id"]
    r = bmc.patch(settings_uri, {"Attributes": {"NoSuchKnob": "On", "BootMode": "Floppy", "ProcTurboMode": "Disabled"}})
    assert r.status_code == 400
    ids = sorted(m["MessageId"] for m in r.json()["error"]["@Message.ExtendedInfo"])
    assert ids == ["Base.1.8.PropertyUnknown", "Base.1.8.PropertyValueNotInList"]
    # All or nothing: the valid attribute in the rejected request was not staged.
    assert bmc.get(settings_uri).json()["Attributes"] == {}


def test_stale_if_match_gets_412_and_the_current_etag_succeeds(tls_lab, bmc_of):
    bmc = bmc_of(tls_lab, tls_lab.node())
    first = bmc.get(bmc.sys)
    etag = first.headers["ETag"]
    ok = bmc.patch(bmc.sys, {"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}},
                   headers={"If-Match": etag})
    assert ok.status_code == 204
    stale = bmc.patch(bmc.sys, {"Boot": {"BootSourceOverrideTarget": "Hdd"}}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert stale.json()["error"]["@Message.ExtendedInfo"][0]["MessageId"].endswith("PreconditionFailed")
    assert bmc.get(bmc.sys).json()["Boot"]["BootSourceOverrideTarget"] == "Pxe"
    fresh = bmc.get(bmc.sys).headers["ETag"]
    assert fresh != etag
    assert bmc.patch(bmc.sys, {"Boot": {"BootSourceOverrideTarget": "Hdd"}}, headers={"If-Match": fresh}).status_code == 204


def test_power_transitions_take_time_and_refuse_overlapping_resets(tls_lab, bmc_of):
    bmc = bmc_of(tls_lab, tls_lab.node())
    bmc.reset("GracefulShutdown")
    assert bmc.get(bmc.sys).json()["PowerState"] == "PoweringOff"
    busy = bmc.post(f"{bmc.sys}/Actions/ComputerSystem.Reset", {"ResetType": "On"})
    assert busy.status_code == 409
    bmc.wait_power("Off")
    bmc.reset("On")
    bmc.wait_power("On")
    bad = bmc.post(f"{bmc.sys}/Actions/ComputerSystem.Reset", {"ResetType": "Explode"})
    assert bad.status_code == 400


def test_virtual_media_insert_boot_once_from_cd_and_eject(tls_lab, bmc_of):
    node = tls_lab.node()
    bmc = bmc_of(tls_lab, node)
    vms = bmc.get(bmc.mgr + "/VirtualMedia").json()["Members"]
    cd = next(m["@odata.id"] for m in vms if "CD" in bmc.get(m["@odata.id"]).json()["MediaTypes"])
    image = "http://127.0.0.1:9/images/installer.iso"
    r = bmc.post(cd + "/Actions/VirtualMedia.InsertMedia", {"Image": image, "Inserted": True, "WriteProtected": True,
                                                             "TransferProtocolType": "HTTP"})
    assert r.status_code == 204, r.text
    media = bmc.get(cd).json()
    assert media["Inserted"] is True and media["Image"] == image
    again = bmc.post(cd + "/Actions/VirtualMedia.InsertMedia", {"Image": image, "TransferProtocolType": "HTTP"})
    assert again.status_code == 409
    allowed = bmc.get(bmc.sys).json()["Boot"]["BootSourceOverrideTarget@Redfish.AllowableValues"]
    target = "UsbCd" if "UsbCd" in allowed else "Cd"
    assert bmc.patch(bmc.sys, {"Boot": {"BootSourceOverrideTarget": target, "BootSourceOverrideEnabled": "Once"}}).status_code == 204
    bmc.reset("ForceRestart")
    bmc.wait_power("On")
    detail = tls_lab.node_detail(node["name"])
    assert detail["last_boot_source"] == f"Cd:{image}"
    # A one-time override is consumed by the boot.
    assert bmc.get(bmc.sys).json()["Boot"]["BootSourceOverrideEnabled"] == "Disabled"
    assert bmc.post(cd + "/Actions/VirtualMedia.EjectMedia", {}).status_code == 204
    assert bmc.get(cd).json()["Inserted"] is False


def test_raid_volume_creation_is_staged_until_reset_with_a_task_monitor(tls_lab, bmc_of):
    node = tls_lab.node()
    bmc = bmc_of(tls_lab, node)
    ctl_uri = bmc.get(bmc.sys + "/Storage").json()["Members"][0]["@odata.id"]
    ctl = bmc.get(ctl_uri).json()
    volumes = bmc.get(ctl_uri + "/Volumes").json()
    assert "OnReset" in volumes["@Redfish.OperationApplyTimeSupport"]["SupportedValues"]
    before = len(volumes["Members"])
    used = set()
    for v in volumes["Members"]:
        used |= {d["@odata.id"] for d in bmc.get(v["@odata.id"]).json()["Links"]["Drives"]}
    free = [d["@odata.id"] for d in ctl["Drives"] if d["@odata.id"] not in used]
    assert free, "factory layout leaves no free drive"
    r = bmc.post(ctl_uri + "/Volumes", {"RAIDType": "RAID0", "Name": "scratch",
                                          "Links": {"Drives": [{"@odata.id": free[0]}]},
                                          "@Redfish.OperationApplyTime": "OnReset"})
    assert r.status_code == 202, r.text
    monitor = r.headers["Location"]
    assert bmc.get(monitor).status_code == 202
    assert len(bmc.get(ctl_uri + "/Volumes").json()["Members"]) == before
    bmc.reset("ForceRestart")
    bmc.wait_power("On")
    done = bmc.get(monitor)
    assert done.status_code == 200 and done.json()["TaskState"] == "Completed"
    assert len(bmc.get(ctl_uri + "/Volumes").json()["Members"]) == before + 1
    bad = bmc.post(ctl_uri + "/Volumes", {"RAIDType": "RAID5", "Links": {"Drives": [{"@odata.id": free[0]}]}})
    assert bad.status_code == 400
    assert tls_lab.stats()["nodes"][node["name"]]["resets"] == 1


def test_firmware_simple_update_completes_through_the_task_monitor_or_fails_when_told(tls_lab, bmc_of):
    node = tls_lab.node()
    bmc = bmc_of(tls_lab, node)
    r = bmc.post("/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
                 {"ImageURI": "http://127.0.0.1:9/fw/nic1-23.1.0.bin", "@Redfish.OperationApplyTime": "Immediate"})
    assert r.status_code == 202, r.text
    monitor = r.headers["Location"]
    first = bmc.get(monitor)
    assert first.status_code == 202 and "Retry-After" in first.headers
    done = wait_until(lambda: (lambda m: m if m.status_code == 200 else None)(bmc.get(monitor)), what="firmware task")
    assert done.json()["TaskState"] == "Completed"
    assert bmc.get("/redfish/v1/UpdateService/FirmwareInventory/NIC1").json()["Version"] == "23.1.0"
    requests.put(f"{tls_lab.control}/nodes/{node['name']}/faults", json={"task_fail": True}, timeout=10).raise_for_status()
    r = bmc.post("/redfish/v1/UpdateService/Actions/UpdateService.SimpleUpdate",
                 {"ImageURI": "http://127.0.0.1:9/fw/bios-9.9.9.bin", "@Redfish.OperationApplyTime": "Immediate"})
    failed = wait_until(lambda: (lambda m: m if m.status_code == 200 else None)(bmc.get(r.headers["Location"])),
                        what="failing task")
    assert failed.json()["TaskState"] == "Exception"
    assert bmc.get("/redfish/v1/UpdateService/FirmwareInventory/BIOS").json()["Version"] != "9.9.9"


def test_health_set_through_control_shows_in_redfish(tls_lab, bmc_of):
    node = tls_lab.node()
    bmc = bmc_of(tls_lab, node)
    requests.put(f"{tls_lab.control}/nodes/{node['name']}/health", json={"health": "Critical"}, timeout=10).raise_for_status()
    assert bmc.get(bmc.sys).json()["Status"]["Health"] == "Critical"
    chassis = bmc.get("/redfish/v1/Chassis").json()["Members"][0]["@odata.id"]
    temps = bmc.get(chassis + "/Thermal").json()["Temperatures"]
    assert any(t["Status"]["Health"] == "Critical" for t in temps)
    assert tls_lab.stats()["nodes"][node["name"]]["health"] == "Critical"


def test_secure_boot_enable_takes_effect_at_the_next_boot(tls_lab, bmc_of):
    bmc = bmc_of(tls_lab, tls_lab.node())
    assert bmc.patch(bmc.sys + "/SecureBoot", {"SecureBootEnable": True}).status_code == 204
    sb = bmc.get(bmc.sys + "/SecureBoot").json()
    assert sb["SecureBootEnable"] is True and sb["SecureBootCurrentBoot"] == "Disabled"
    bmc.reset("ForceRestart")
    bmc.wait_power("On")
    assert bmc.get(bmc.sys + "/SecureBoot").json()["SecureBootCurrentBoot"] == "Enabled"
