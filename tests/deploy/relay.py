"""A test stack whose coturn relays for real on this machine.

In production coturn announces the server's public address (TURN_EXTERNAL_IP) and relays
between browsers' relayed addresses there. A test stack has no public address, and coturn
refuses every private one as a peer (docker/turnserver.conf). So this override gives coturn a
fixed address on the project's network, announces that address, and allows exactly it as a
peer (`--allowed-peer-ip`, appended to the project's own coturn command): two allocations on
this coturn can reach each other, every other private, loopback or link-local peer stays
refused. Browsers on this machine reach coturn through its published loopback port, so
TALKEE_TURN_URLS names that (Chromium's --host-resolver-rules do not apply to TURN servers)."""

import ipaddress
import os
from pathlib import Path

import yaml

from tests.deploy.dockerstack import Stack


def _routes() -> list[ipaddress.IPv4Network]:
    """This machine's IPv4 routes (/proc/net/route: little-endian hex destination and mask)."""
    routes = []
    for line in Path("/proc/net/route").read_text().splitlines()[1:]:
        fields = line.split()
        destination = ipaddress.IPv4Address(bytes.fromhex(fields[1])[::-1])
        mask = ipaddress.IPv4Address(bytes.fromhex(fields[7])[::-1])
        routes.append(ipaddress.IPv4Network(f"{destination}/{mask}", strict=False))
    return routes


def _free_subnet() -> ipaddress.IPv4Network:
    used = [net for net in _routes() if net.prefixlen > 0]  # the default route overlaps everything
    for _ in range(100):
        candidate = ipaddress.IPv4Network(f"10.{os.urandom(1)[0]}.{os.urandom(1)[0]}.0/24")
        if not any(candidate.overlaps(net) for net in used):
            return candidate
    raise RuntimeError("no free /24 for the relay test network")


def add_relay_override(stack: Stack) -> str:
    """Write and add the override; returns coturn's address."""
    config = yaml.safe_load(stack.compose("config").stdout)
    subnet = _free_subnet()
    turn_ip = str(subnet.network_address + 10)
    command = [arg for arg in config["services"]["coturn"]["command"] if not arg.startswith("--external-ip=")]
    override = {
        "networks": {"default": {"ipam": {"config": [{"subnet": str(subnet)}]}}},
        "services": {
            "coturn": {
                "networks": {"default": {"ipv4_address": turn_ip}},
                # --verbose: coturn logs each request it processed (session, realm, the REST user
                # name — no addresses in those lines), so the test can read the allocations.
                "command": [*command, f"--external-ip={turn_ip}", f"--allowed-peer-ip={turn_ip}", "--verbose"],
            }
        },
    }
    port = stack.ports["turn"]
    stack.set_env("TALKEE_TURN_URLS", f"turn:127.0.0.1:{port}?transport=udp,turn:127.0.0.1:{port}?transport=tcp")
    path = stack.tmp / "compose.relay.yaml"
    path.write_text(yaml.safe_dump(override))
    stack.extra_files.append(path)
    return turn_ip
