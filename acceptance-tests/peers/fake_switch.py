"""Run one fake-switches switch over SSH on loopback.

The stock `fake-switches` command is broken on Python 3 (it passes the enable password as bytes, so
`enable` always fails) and starts SSH only, so this small launcher builds the switch itself.

    python -m peers.fake_switch --model cisco_generic --port 2222 --hostname sw1 \
        --username admin --password pw --enable-password en --ports 8
"""

import argparse
import logging
import sys


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="cisco_generic")
    p.add_argument("--listen", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--hostname", default="fake0")
    p.add_argument("--username", default="admin")
    p.add_argument("--password", required=True)
    p.add_argument("--enable-password", required=True)
    p.add_argument("--ports", type=int, default=0, help="GigabitEthernet0/1..N instead of the model's default ports")
    p.add_argument("--http-port", type=int, default=0, help="also serve Arista eAPI (command-api) on this port")
    a = p.parse_args(argv)
    if not a.listen.startswith("127.") and a.listen != "::1":
        sys.exit("fake_switch: refusing to listen anywhere but loopback")

    from twisted.internet import reactor
    from fake_switches import switch_configuration, switch_factory
    from fake_switches.transports.http_service import SwitchHttpService
    from fake_switches.transports.ssh_service import SwitchSshService

    core_class = switch_factory.DEFAULT_MAPPING[a.model]
    ports = core_class.get_default_ports()
    if a.ports:
        ports = [switch_configuration.Port(f"GigabitEthernet0/{n}") for n in range(1, a.ports + 1)]
    config = switch_configuration.SwitchConfiguration(
        a.listen, name=a.hostname, privileged_passwords=[a.enable_password], ports=ports
    )
    core = core_class(config)
    SwitchSshService(a.listen, port=a.port, switch_core=core,
                     users={a.username: a.password.encode()}).hook_to_reactor(reactor)
    if a.http_port:
        SwitchHttpService(a.listen, port=a.http_port, switch_core=core,
                          users={a.username: a.password.encode()}).hook_to_reactor(reactor)
    logging.basicConfig(level=logging.WARNING)
    print(f"fake_switch: {a.model} {a.hostname} listening on {a.listen}:{a.port}", flush=True)
    reactor.run()


if __name__ == "__main__":
    main()
