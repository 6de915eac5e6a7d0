"""What stands between a tunnel client and the gateway in the DNS tests: the gateway
process itself (`manage.py dns_gateway`), Debian's `unbound` as a real recursive resolver
(its own config in a temporary directory, on a free loopback port, no daemon, no chroot),
and a relay between unbound and the gateway that drops and truncates answers.

Every socket here is on loopback and on a free port; nothing binds port 53."""

import random
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dnslib import DNSRecord

from tests.conftest import ROOT, _wait_for_port, free_port, server_env, stop
from tests.support.packages import debian_program


@dataclass
class Gateway:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def gateway(log_dir: Path, extra_env: dict[str, str] | None = None) -> Iterator[Gateway]:
    """`manage.py dns_gateway` on 127.0.0.1 and a free port (UDP and TCP)."""
    port = free_port()
    log_path = log_dir / f"gateway-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "dns_gateway",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=ROOT,
            env=server_env(extra_env),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(port, process)
        yield Gateway(port, process, log_path)
    finally:
        stop(process)


def ensure_unbound() -> str:
    """The path of Debian's unbound, installed with apt-get if it is missing."""
    return debian_program("unbound", "unbound")


@dataclass
class Unbound:
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def unbound(
    workdir: Path, zone: str, upstream_port: int, *, caps_for_id: bool = False, cache_min_ttl: int = 0
) -> Iterator[Unbound]:
    """A recursive resolver that knows one thing: `zone` is served at 127.0.0.1@upstream_port
    (a stub zone, as the NS delegation would make it find the gateway). `cache_min_ttl`
    makes it keep answers that long whatever their TTL (some resolvers do)."""
    binary = ensure_unbound()
    port = free_port()
    config = workdir / f"unbound-{port}.conf"
    config.write_text(
        f"""server:
    verbosity: 1
    interface: 127.0.0.1
    port: {port}
    do-ip6: no
    do-daemonize: no
    chroot: ""
    username: ""
    directory: "{workdir}"
    pidfile: "{workdir}/unbound-{port}.pid"
    use-syslog: no
    logfile: ""
    num-threads: 1
    so-reuseport: no
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    do-not-query-localhost: no
    qname-minimisation: no
    use-caps-for-id: {"yes" if caps_for_id else "no"}
    infra-keep-probing: yes
    cache-min-ttl: {cache_min_ttl}
    local-zone: "localhost." nodefault
    domain-insecure: "{zone}"

stub-zone:
    name: "{zone}"
    stub-addr: 127.0.0.1@{upstream_port}
"""
    )
    log_path = workdir / f"unbound-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([binary, "-d", "-c", str(config)], stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_for_udp_dns(port, process)
        yield Unbound(port, process, log_path)
    finally:
        stop(process)


def _wait_for_udp_dns(port: int, process: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    """Until something answers a DNS query on 127.0.0.1:port (any answer will do)."""
    deadline = time.monotonic() + timeout
    probe = bytes(DNSRecord.question("probe.invalid", "A").pack())
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"resolver exited early with {process.returncode}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(0.5)
            sock.sendto(probe, ("127.0.0.1", port))
            try:
                sock.recv(4096)
                return
            except OSError:
                time.sleep(0.2)
    raise RuntimeError(f"no DNS answer on {port} after {timeout}s")


class FaultyRelay:
    """A UDP and TCP relay in front of the gateway, as a lossy path would be: over UDP it
    drops `drop` of the answers and truncates `truncate` of them (TC bit, answer removed,
    so the resolver asks again over TCP); TCP passes untouched. It counts what it did
    (`tcp`: the connections the gateway answered)."""

    def __init__(self, upstream_port: int, *, drop: float = 0.0, truncate: float = 0.0, seed: int = 26) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.drop, self.truncate = drop, truncate
        self.random = random.Random(seed)
        self.counts = {"udp": 0, "mixed_case": 0, "dropped": 0, "truncated": 0, "tcp": 0}
        self.lock = threading.Lock()
        self.port = free_port()
        relay = self

        class Udp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                data, sock = self.request
                answer = relay.ask_udp(data)
                if answer is not None:
                    sock.sendto(answer, self.client_address)

        class Tcp(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                relay.pipe_tcp(self.request)

        socketserver.ThreadingUDPServer.allow_reuse_address = True
        self.udp = socketserver.ThreadingUDPServer(("127.0.0.1", self.port), Udp)
        self.tcp = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Tcp)
        self.udp.daemon_threads = self.tcp.daemon_threads = True

    def ask_udp(self, data: bytes) -> bytes | None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(10)
            sock.sendto(data, self.upstream)
            try:
                answer = sock.recv(65535)
            except OSError:
                return None
        with self.lock:
            self.counts["udp"] += 1
            name = str(DNSRecord.parse(data).q.qname)
            self.counts["mixed_case"] += name != name.lower()
            roll = self.random.random()
            if roll < self.drop:
                self.counts["dropped"] += 1
                return None
            if roll < self.drop + self.truncate:
                self.counts["truncated"] += 1
                record = DNSRecord.parse(answer)
                record.rr, record.auth, record.ar = [], [], []
                record.header.tc = 1
                return bytes(record.pack())
        return answer

    def pipe_tcp(self, client: socket.socket) -> None:
        """Pass a TCP connection through; counts the connections the gateway answered."""
        with socket.create_connection(self.upstream, timeout=15) as upstream:
            client.settimeout(15)

            def forward(src: socket.socket, dst: socket.socket) -> None:
                answered = False
                try:
                    while data := src.recv(65535):
                        dst.sendall(data)
                        if src is upstream and not answered:
                            answered = True
                            with self.lock:
                                self.counts["tcp"] += 1
                except OSError:
                    pass
                finally:
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass

            back = threading.Thread(target=forward, args=(upstream, client), daemon=True)
            back.start()
            forward(client, upstream)
            back.join(timeout=15)

    def __enter__(self) -> "FaultyRelay":
        for server in (self.udp, self.tcp):
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        for server in (self.udp, self.tcp):
            server.shutdown()
            server.server_close()
