"""How much a message costs through the DNS tunnel: queries and wall time per send and
per sync, over the authoritative gateway (UDP) and over DoH. Not a test, not run by CI.

    .venv/bin/python manage.py dns_gateway --port 5353 &        # beside a running server
    .venv/bin/python bench/transport/roundtrip.py --url http://127.0.0.1:8000 --dns 127.0.0.1:5353 [-n 50] [--unbound]

With --unbound, a third path goes through Debian's unbound started on a free loopback port
with a stub zone for the tunnel zone pointing at --dns (tests/support/dns.py starts it).

Two throwaway accounts are registered through the HTTP API (raise the register throttle
or run it against a fresh instance)."""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from nacl.public import PrivateKey
from nacl.signing import SigningKey

from tests.transport.tunnelclient import Resolver, TunnelClient


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def post(url: str, body: dict[str, Any], token: str | None = None) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def account(url: str) -> tuple[str, str]:
    name = "bench" + uuid.uuid4().hex[:10]
    password = "bench password 0123456789"
    post(f"{url}/v1/accounts/register", {"username": name, "password": password, "recovery_hash": b64(os.urandom(32))})
    key = SigningKey.generate()
    nonce = post(f"{url}/v1/auth/challenge", {"username": name})["nonce"]
    device = {
        "client_device_id": str(uuid.uuid4()),
        "ed25519_pub": b64(bytes(key.verify_key)),
        "x25519_pub": b64(bytes(PrivateKey.generate().public_key)),
        "label": "bench",
    }
    body = {"username": name, "password": password, "device": device, "nonce": nonce}
    login = post(f"{url}/v1/auth/login", body | {"signature": b64(key.sign(nonce.encode()).signature)})
    return name, login["token"]


def ciphertext_bytes(body: Any) -> int:
    """Bytes of message ciphertext in a sync page (what a person waits for, not DNS bytes)."""
    events = body.get("events", []) if isinstance(body, dict) else []
    return sum(len(base64.b64decode(e["message"]["ciphertext"])) for e in events if e.get("type") == "event")


def measure(label: str, client: TunnelClient, op: Any, n: int) -> None:
    times, queries, payload = [], [], 0
    for _ in range(n):
        before = len(client.resolver.sent)
        start = time.perf_counter()
        status, body = client.call(op())
        times.append((time.perf_counter() - start) * 1000)
        queries.append(len(client.resolver.sent) - before)
        assert status in (200, 201), status
        payload += ciphertext_bytes(body)
    ranked = sorted(times)
    rate = f"  ciphertext {payload / 1024 / (sum(times) / 1000):6.1f} KB/s" if payload else ""
    print(
        f"{label:<28} n={n:<4} queries/op={statistics.mean(queries):5.1f}  "
        f"ms/op p50={statistics.median(times):6.1f}  p90={ranked[int(n * 0.9) - 1]:6.1f}  "
        f"p95={ranked[max(0, int(n * 0.95) - 1)]:6.1f}{rate}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--dns", default="127.0.0.1:5353")
    parser.add_argument("-n", type=int, default=50)
    parser.add_argument("--size", type=int, default=400, help="ciphertext bytes per message")
    parser.add_argument("--unbound", action="store_true", help="also through unbound on loopback")
    args = parser.parse_args()
    host, port = args.dns.rsplit(":", 1)
    with urllib.request.urlopen(f"{args.url}/.well-known/talkee/server", timeout=10) as response:
        info = json.loads(response.read())
    _, alice_token = account(args.url)
    bob, bob_token = account(args.url)
    chat = post(f"{args.url}/v1/chats", {"kind": "direct", "members": [f"{bob}@{info['domain']}"]}, alice_token)
    key = base64.b64decode(info["tunnel_x25519_pub"])

    def send() -> dict[str, Any]:
        return {
            "op": "send",
            "chat_id": chat["id"],
            "client_message_id": uuid.uuid4().hex,
            "kind": "application",
            "epoch": 0,
            "ciphertext": b64(os.urandom(args.size)),
        }

    paths = [
        ("udp gateway", Resolver("udp", (host, int(port)))),
        ("doh (POST /dns-query)", Resolver("doh-post", url=args.url)),
    ]
    with ExitStack() as stack:
        if args.unbound:
            from tests.support.dns import unbound

            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            resolver = stack.enter_context(unbound(workdir, info["tunnel_zone"], int(port)))
            paths.append(("udp via unbound", Resolver("udp", resolver.address, attempts=5, timeout=3.0)))
        for label, path in paths:
            sender = TunnelClient(path, key, info["tunnel_zone"], alice_token)
            reader = TunnelClient(path, key, info["tunnel_zone"], bob_token)
            measure(f"{label} send", sender, send, args.n)
            measure(f"{label} sync", reader, lambda: {"op": "sync", "cursor": 0, "timeout": 0}, max(5, args.n // 5))


if __name__ == "__main__":
    main()
