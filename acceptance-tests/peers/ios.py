"""A minimal interactive IOS-style CLI client on paramiko, used to drive both the lab switch and the
fake-switches peer with the same commands."""

import re
import time

import paramiko

PROMPT = re.compile(r"(?:^|\n)[\w.-]+(?:\([\w-]+\))?[>#] ?$")
PASSWORD = re.compile(r"Password: ?$")
MORE = re.compile(r"--More-- ?$")


class IosShell:
    def __init__(self, host, port, username, password, timeout=15):
        self.client = paramiko.SSHClient()
        self.client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
        self.client.connect(host, port=port, username=username, password=password, look_for_keys=False,
                            allow_agent=False, timeout=timeout, banner_timeout=timeout, auth_timeout=timeout)
        self.chan = self.client.invoke_shell(width=250, height=1000)
        self.timeout = timeout
        self.banner = self.read_until(PROMPT)

    def read_until(self, *patterns, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        buf = ""
        while time.monotonic() < deadline:
            if self.chan.recv_ready():
                buf += self.chan.recv(65536).decode(errors="replace").replace("\r", "")
                for p in patterns:
                    if p.search(buf):
                        return buf
            elif self.chan.closed or self.chan.exit_status_ready():
                raise EOFError(f"session closed; got {buf!r}")
            else:
                time.sleep(0.01)
        raise TimeoutError(f"no prompt within {timeout or self.timeout}s; got {buf!r}")

    def send_raw(self, data):
        self.chan.send(data)

    def run(self, line):
        """Sends one line and returns what came back before the next prompt, without the echo."""
        self.chan.send(line + "\n")
        out = self.read_until(PROMPT, PASSWORD)
        lines = out.split("\n")
        if lines and lines[0].strip() == line.strip():
            lines = lines[1:]
        return "\n".join(lines[:-1])

    def enable(self, password):
        self.chan.send("enable\n")
        self.read_until(PASSWORD)
        self.chan.send(password + "\n")
        out = self.read_until(PROMPT)
        if not out.rstrip().endswith("#"):
            raise PermissionError(f"enable refused: {out!r}")

    def prompt(self):
        self.chan.send("\n")
        return self.read_until(PROMPT).strip().split("\n")[-1]

    def close(self):
        self.client.close()
