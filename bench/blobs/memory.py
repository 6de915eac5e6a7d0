"""Peak memory of a live daphne while a 64 MiB blob goes up and comes back down.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/talkee_bench_blobs \\
        .venv/bin/python manage.py migrate --noinput
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/talkee_bench_blobs \\
        .venv/bin/python bench/blobs/memory.py [daphne|uvicorn]

Starts `python -m talkee.server` on a free port (blobs in a temporary directory),
registers a user over HTTP, then measures each phase: the server's VmRSS is sampled
every 10 ms and its VmHWM (peak RSS) read after each phase. Prints a Markdown table.
"""

import base64
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from blake3 import blake3
from nacl.public import PrivateKey
from nacl.signing import SigningKey

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))

from apps.blobs.sizes import encrypted_size  # noqa: E402

MIB = 1024 * 1024


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


class Sampler(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.running = pid, 0, True

    def run(self) -> None:
        while self.running:
            self.peak = max(self.peak, status_kib(self.pid, "VmRSS"))
            time.sleep(0.01)

    def reset(self) -> None:
        self.peak = status_kib(self.pid, "VmRSS")


class Client:
    def __init__(self, port: int) -> None:
        self.port, self.token = port, ""

    def call(self, method: str, path: str, body: bytes | None = None, **headers: str) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response.status, data

    def json(self, method: str, path: str, payload: dict[str, Any]) -> Any:
        status, data = self.call(method, path, json.dumps(payload).encode(), **{"Content-Type": "application/json"})
        assert status < 300, (status, data)
        return json.loads(data) if data else None

    def download(self, blob_id: str, delay_per_piece: float = 0.0, window: int = 0, size: int = 0) -> bytes:
        hasher = blake3()
        ranges = [(a, min(a + window, size) - 1) for a in range(0, size, window)] if window else [None]
        for span in ranges:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=300)
            headers = {"Authorization": f"Bearer {self.token}"}
            if span:
                headers["Range"] = f"bytes={span[0]}-{span[1]}"
            conn.request("GET", f"/v1/blobs/{blob_id}", headers=headers)
            response = conn.getresponse()
            assert response.status in (200, 206), response.status
            while piece := response.read(64 * 1024):
                hasher.update(piece)
                if delay_per_piece:
                    time.sleep(delay_per_piece)
            conn.close()
        return hasher.digest()

    def upload(self, chat_id: str, data: bytes) -> str:
        blob = self.json("POST", "/v1/blobs", {"chat_id": chat_id, "size": len(data)})
        step = blob["chunk_size"]
        for index in range(blob["chunk_count"]):
            status, answer = self.call(
                "PUT",
                f"/v1/blobs/{blob['id']}/chunks/{index}",
                data[index * step : (index + 1) * step],
                **{"Content-Type": "application/octet-stream"},
            )
            assert status == 201, answer
        self.json("POST", f"/v1/blobs/{blob['id']}/complete", {})
        return str(blob["id"])


def register(client: Client) -> None:
    name = f"bench{uuid.uuid4().hex[:8]}"
    password = "correct horse battery staple"
    entropy = os.urandom(16)
    proof = blake3(b"talkee-recovery-proof-v1\x00" + name.encode() + b"\x00" + entropy).digest()
    client.json(
        "POST",
        "/v1/accounts/register",
        {"username": name, "password": password, "recovery_hash": b64(blake3(proof).digest())},
    )
    signing, box = SigningKey.generate(), PrivateKey.generate()
    nonce = client.json("POST", "/v1/auth/challenge", {"username": name})["nonce"]
    login = client.json(
        "POST",
        "/v1/auth/login",
        {
            "username": name,
            "password": password,
            "device": {
                "client_device_id": str(uuid.uuid4()),
                "ed25519_pub": b64(bytes(signing.verify_key)),
                "x25519_pub": b64(bytes(box.public_key)),
                "label": "bench",
            },
            "nonce": nonce,
            "signature": b64(signing.sign(nonce.encode()).signature),
        },
    )
    client.token = login["token"]


def server_command(kind: str, port: int) -> list[str]:
    if kind == "uvicorn":
        # The other ASGI server ARCHITECTURE.md allows: for comparison only.
        return [sys.executable, "-m", "uvicorn", "talkee.asgi:application", "--port", str(port), "--no-access-log"]
    return [sys.executable, "-m", "talkee.server", "--port", str(port)]


def main() -> None:
    assert os.environ.get("DATABASE_URL"), "set DATABASE_URL to a migrated database"
    kind = sys.argv[1] if len(sys.argv) > 1 else "daphne"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    blob_dir = tempfile.mkdtemp(prefix="talkee-bench-blobs-")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "talkee.settings.dev"),
        "DEBUG": "false",
        "TALKEE_BLOB_DIR": blob_dir,
        "TALKEE_INPROCESS_JOBS": "false",
        "THROTTLE_REGISTER_IP": "1000/min",
        "THROTTLE_LOGIN_IP": "1000/min",
    }
    server = subprocess.Popen(
        server_command(kind, port),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(150):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.2)
        client = Client(port)
        register(client)
        chat = client.json("POST", "/v1/chats", {"kind": "group", "members": []})
        warm = client.upload(chat["id"], os.urandom(encrypted_size(2 * MIB)))
        client.download(warm)
        sampler = Sampler(server.pid)
        sampler.start()
        baseline = status_kib(server.pid, "VmRSS")
        rows = [("after start-up and a 2 MiB warm-up round trip", 0.0, baseline, status_kib(server.pid, "VmHWM"))]
        size = encrypted_size(64 * MIB)
        data = os.urandom(size)
        expected = blake3(data).digest()
        phases: list[tuple[str, Any]] = []
        holder: dict[str, str] = {}

        def up() -> None:
            holder["id"] = client.upload(chat["id"], data)

        phases.append(("upload 64 MiB bucket (65 PUTs of 1 MiB + complete)", up))
        phases.append(("download whole blob, fast reader", lambda: client.download(holder["id"]) == expected))
        phases.append(
            (
                "download in 1 MiB Range windows, slow reader",
                lambda: client.download(holder["id"], delay_per_piece=0.004, window=MIB, size=size) == expected,
            )
        )
        phases.append(
            (
                "download whole blob, slow reader (~16 MB/s)",
                lambda: client.download(holder["id"], delay_per_piece=0.004) == expected,
            )
        )
        for label, action in phases:
            sampler.reset()
            started = time.monotonic()
            result = action()
            assert result is not False, label
            rows.append((label, time.monotonic() - started, sampler.peak, status_kib(server.pid, "VmHWM")))
        sampler.running = False
        print(f"server: {kind}\n")
        print("| phase | seconds | peak VmRSS during phase | growth over baseline | VmHWM after |")
        print("|---|---|---|---|---|")
        for label, seconds, peak, hwm in rows:
            print(
                f"| {label} | {seconds:.2f} | {peak / 1024:.1f} MiB | {(peak - baseline) / 1024:+.1f} MiB "
                f"| {hwm / 1024:.1f} MiB |"
            )
    finally:
        server.terminate()
        server.wait(timeout=10)
        for path in sorted(Path(blob_dir).rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        Path(blob_dir).rmdir()


if __name__ == "__main__":
    main()
