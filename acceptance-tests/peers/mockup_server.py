"""Serve a Redfish mockup tree (the DMTF mockup layout: `<path>/index.json`) with sushy-tools'
`sushy-static` (a static Redfish mockup server from PyPI, not our code) on loopback."""

import os
import subprocess
import sys

from peers.sushy import SushyEmulator, free_port


class MockupServer(SushyEmulator):
    """One `sushy-static` process; started, waited for and stopped as sushy-emulator is."""

    def __init__(self, tmp_path, tree, startup_timeout=30):
        self.port = free_port()
        self.log = open(tmp_path / f"sushy-static-{self.port}.log", "w")
        exe = os.path.join(os.path.dirname(sys.executable), "sushy-static")
        self.proc = subprocess.Popen(
            [exe, "-i", "127.0.0.1", "-p", str(self.port), "-m", str(tree)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        self.wait_ready("sushy-static", "/redfish/v1/", startup_timeout)
