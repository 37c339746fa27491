"""Ground truth for a Redfish mockup tree, computed straight from its files by following the links
the way the DMTF schema defines them. Written apart from the Rust driver (a second reading of the
schema, in another language), so that a test comparing the two catches a misreading in either.

The rules, each from the schema (DSP0268 / the CSDL in Redfish-Publications):
- sockets: members of `ComputerSystem.Processors` whose `ProcessorType` is `CPU` (or absent, as in
  services older than the property) and whose `Status.State` is not `Absent`; cores and threads are
  their `TotalCores` and `TotalThreads` summed (a processor without `TotalThreads` has one thread
  per core). Other processor types (`GPU`, `FPGA`, ...) are accelerators.
- memory: the `Memory` members' `CapacityMiB` (not `Absent`), in GiB; and the system's own
  `MemorySummary.TotalSystemMemoryGiB`.
- drives: every distinct `Drive` a `Storage` member links (not `Absent`), plus the `Devices` of each
  `SimpleStorage` member; bytes are their `CapacityBytes`.
- MACs: the system's `EthernetInterfaces` that are not `Virtual`, not `Absent` and not the host's
  side of a `HostInterface`; and for each chassis the system links, its network adapters'
  `NetworkDeviceFunctions` (`Ethernet.MACAddress`/`PermanentMACAddress`), `Ports`
  (`Ethernet.AssociatedMACAddresses`) and `NetworkPorts` (`AssociatedNetworkAddresses`), plus HPE's
  `Oem.Hpe.PhysicalPorts[].MacAddress`. Only 48-bit addresses count.
- firmware: the members of `UpdateService.FirmwareInventory`.
- BIOS attributes: the keys of the system's `Bios.Attributes`.
- sensors: for each chassis the system links, the readings of its most complete source: the members
  of its `Sensors` collection, the fans of its `ThermalSubsystem`, or the `Temperatures`, `Fans`
  and `Voltages` of its deprecated `Thermal` and `Power` (real BMCs publish partial `Sensors`
  collections beside full `Thermal`/`Power`).
- health: `Status.HealthRollup`, else `Status.Health`.
"""

import json
import os
import re


class Tree:
    def __init__(self, root):
        self.root = root

    def get(self, uri):
        if not uri:
            return None
        path = uri.split("?")[0].split("#")[0].rstrip("/")
        assert path.startswith("/redfish/v1"), path
        rel = path[len("/redfish/v1"):].lstrip("/")
        try:
            with open(os.path.join(self.root, rel, "index.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def link(self, doc, name):
        v = (doc or {}).get(name)
        if isinstance(v, dict) and "@odata.id" in v:
            return v["@odata.id"]
        return None

    def members(self, uri):
        coll = self.get(uri) or {}
        out = []
        for m in coll.get("Members", []):
            d = self.get(m.get("@odata.id"))
            if d is not None:
                out.append((m["@odata.id"], d))
        return out


def absent(doc):
    return ((doc or {}).get("Status") or {}).get("State") == "Absent"


def mac48(s):
    if not isinstance(s, str):
        return None
    digits = re.sub(r"[^0-9a-fA-F]", "", s).lower()
    if len(digits) != 12 or set(digits) == {"0"}:
        return None
    return ":".join(digits[i:i + 2] for i in range(0, 12, 2))


def truth(root, system_id=None):
    t = Tree(root)
    service = t.get("/redfish/v1")
    systems = t.members(t.link(service, "Systems"))
    if system_id is None:
        assert len(systems) == 1, "name the system"
        _, sysdoc = systems[0]
    else:
        sysdoc = next(d for _, d in systems if d.get("Id") == system_id)

    sockets = cores = threads = 0
    accelerators = 0
    for _, p in t.members(t.link(sysdoc, "Processors")):
        if absent(p):
            continue
        kind = p.get("ProcessorType", "CPU")
        if kind == "CPU":
            sockets += 1
            cores += p.get("TotalCores") or 0
            threads += p.get("TotalThreads") or p.get("TotalCores") or 0
        elif kind not in ("Core", "Thread"):
            accelerators += 1

    dimm_mib = sum((m.get("CapacityMiB") or 0) for _, m in t.members(t.link(sysdoc, "Memory")) if not absent(m))

    drives = {}
    for _, st in t.members(t.link(sysdoc, "Storage")):
        for d in st.get("Drives", []):
            uri = d.get("@odata.id", "").rstrip("/")
            doc = t.get(uri)
            if doc is None or "error" in doc or absent(doc) or uri in drives:
                continue
            drives[uri] = doc.get("CapacityBytes") or 0
    simple = []
    for _, ss in t.members(t.link(sysdoc, "SimpleStorage")):
        for dev in ss.get("Devices", []):
            if not absent(dev):
                simple.append(dev.get("CapacityBytes") or 0)

    macs = set()
    for _, e in t.members(t.link(sysdoc, "EthernetInterfaces")):
        if e.get("EthernetInterfaceType") == "Virtual" or absent(e):
            continue
        if "HostInterface" in (e.get("Links") or {}):
            continue
        m = mac48(e.get("MACAddress")) or mac48(e.get("PermanentMACAddress"))
        if m:
            macs.add(m)
    chassis = [c["@odata.id"] for c in (sysdoc.get("Links") or {}).get("Chassis", [])]
    sensors = 0
    for c in dict.fromkeys(chassis):
        ch = t.get(c) or {}
        for _, a in t.members(t.link(ch, "NetworkAdapters")):
            if absent(a):
                continue
            for _, f in t.members(t.link(a, "NetworkDeviceFunctions")):
                eth = f.get("Ethernet") or {}
                m = mac48(eth.get("MACAddress")) or mac48(eth.get("PermanentMACAddress"))
                if m and not absent(f):
                    macs.add(m)
            for _, port in t.members(t.link(a, "Ports")):
                for m in ((port.get("Ethernet") or {}).get("AssociatedMACAddresses") or []):
                    if mac48(m):
                        macs.add(mac48(m))
            for _, port in t.members(t.link(a, "NetworkPorts")):
                for m in port.get("AssociatedNetworkAddresses") or []:
                    if mac48(m):
                        macs.add(mac48(m))
            for port in ((a.get("Oem") or {}).get("Hpe") or {}).get("PhysicalPorts") or []:
                if mac48(port.get("MacAddress")):
                    macs.add(mac48(port.get("MacAddress")))
        listed = len(t.members(t.link(ch, "Sensors")))
        sub = t.get(t.link(ch, "ThermalSubsystem")) or {}
        fans = len(t.members(t.link(sub, "Fans")))
        thermal = t.get(t.link(ch, "Thermal")) or {}
        power = t.get(t.link(ch, "Power")) or {}
        legacy = len(thermal.get("Temperatures", [])) + len(thermal.get("Fans", [])) + len(power.get("Voltages", []))
        sensors += max(listed, fans, legacy)

    update = t.get(t.link(service, "UpdateService")) or {}
    fw = t.link(update, "FirmwareInventory") or t.link(update.get("Links") or {}, "FirmwareInventory")
    firmware = len((t.get(fw) or {}).get("Members", [])) if fw else 0

    bios = t.get(t.link(sysdoc, "Bios")) or {}
    status = sysdoc.get("Status") or {}
    return {
        "system": sysdoc.get("Id"),
        "sockets": sockets,
        "cores": cores,
        "threads": threads,
        "accelerators": accelerators,
        "memory_gib_dimms": dimm_mib / 1024,
        "memory_gib_summary": (sysdoc.get("MemorySummary") or {}).get("TotalSystemMemoryGiB"),
        "drives": len(drives) + len(simple),
        "drive_bytes": sum(drives.values()) + sum(simple),
        "macs": sorted(macs),
        "firmware": firmware,
        "bios_attributes": len(bios.get("Attributes") or {}),
        "sensors": sensors,
        "health": status.get("HealthRollup") or status.get("Health"),
    }


def from_inspect(doc):
    """The same fields from `bmplan inspect --json`."""
    s = doc.get("sensors") or {}
    return {
        "system": doc.get("system_id"),
        "sockets": doc["cpu"].get("sockets") or 0,
        "cores": doc["cpu"].get("cores") or 0,
        "threads": doc["cpu"].get("threads") or 0,
        "accelerators": sum(a["count"] for a in doc.get("accelerators", [])),
        "memory_gib": doc.get("memory_gib"),
        "drives": len(doc.get("drives", [])),
        "drive_bytes": sum(d.get("capacity_bytes") or 0 for d in doc.get("drives", [])),
        "macs": sorted(n["mac"] for n in doc.get("nics", [])),
        "firmware": len(doc.get("firmware", [])),
        "bios_attributes": len(doc.get("bios") or {}),
        "sensors": len(s.get("temperatures", [])) + len(s.get("fans", [])) + len(s.get("other", [])),
        "health": doc.get("health"),
    }
