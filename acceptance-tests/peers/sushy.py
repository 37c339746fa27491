"""Start sushy-emulator (sushy-tools 2.2.0) with its fake driver on loopback, for tests."""

import os
import socket
import subprocess
import sys
import time

import requests


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SushyEmulator:
    """One sushy-emulator process serving `systems` (dicts of the fake driver's format)."""

    def __init__(self, tmp_path, systems, startup_timeout=30):
        self.port = free_port()
        state = tmp_path / "sushy-state"
        state.mkdir()
        config = tmp_path / "sushy.conf"
        config.write_text(
            "SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\n"
            f"SUSHY_EMULATOR_LISTEN_PORT = {self.port}\n"
            "SUSHY_EMULATOR_FAKE_DRIVER = True\n"
            f"SUSHY_EMULATOR_STATE_DIR = {str(state)!r}\n"
            f"SUSHY_EMULATOR_FAKE_SYSTEMS = {systems!r}\n"
        )
        self.log = open(tmp_path / "sushy.log", "w")
        exe = os.path.join(os.path.dirname(sys.executable), "sushy-emulator")
        self.proc = subprocess.Popen([exe, "--config", str(config)], stdout=self.log, stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}"
        self.wait_ready("sushy-emulator", "/redfish/v1", startup_timeout)

    def wait_ready(self, what, path, startup_timeout):
        """Waits until the service root answers 200; fails with the log's name if it exits."""
        deadline = time.monotonic() + startup_timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{what} exited with {self.proc.returncode}; see {self.log.name}")
            try:
                if requests.get(self.url + path, timeout=2).status_code == 200:
                    return
            except requests.exceptions.ConnectionError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{what} did not start")
            time.sleep(0.1)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()
