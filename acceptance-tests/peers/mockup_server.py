"""Serve a Redfish mockup tree (the DMTF mockup layout: `<path>/index.json`) with sushy-tools'
`sushy-static` (a static Redfish mockup server from PyPI, not our code) on loopback."""

import os
import subprocess
import sys
import time

import requests

from peers.sushy import free_port


class MockupServer:
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
        deadline = time.monotonic() + startup_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"sushy-static exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if requests.get(self.url + "/redfish/v1/", timeout=2).status_code == 200:
                    break
            except requests.exceptions.ConnectionError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("sushy-static did not start")
            time.sleep(0.1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
