"""Uploads against a real daphne: cut connections, concurrency, memory."""

import asyncio
import os
import socket
import struct
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from blake3 import blake3

from apps.blobs.models import Blob, BlobAttachment, BlobChunk
from apps.blobs.sizes import encrypted_size
from tests.blobs.conftest import MEDIUM, stored_files
from tests.blobs.liveclient import LiveClient
from tests.conftest import b64, make_chat, start_daphne, stop
from tests.messages.wsclient import SocketDevice

pytestmark = pytest.mark.django_db(transaction=True)

ONE_MIB = 1024 * 1024


def parts_of(data: bytes, step: int = ONE_MIB) -> list[bytes]:
    return [data[i : i + step] for i in range(0, len(data), step)]


def cut(sock: socket.socket) -> None:
    """Drop the connection the rude way (RST), like a phone losing its network."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def test_a_chunk_cut_short_stores_nothing_and_the_upload_resumes(make_account, live_server_daphne, blob_dir) -> None:
    alice = make_account()
    chat = make_chat(alice, "group")
    client = LiveClient(live_server_daphne.url, alice.token)
    data = os.urandom(MEDIUM)
    parts = parts_of(data)
    blob = client.post_json("/v1/blobs", {"chat_id": chat["id"], "size": MEDIUM}).json()
    assert client.put_chunk(blob["id"], 0, parts[0]).status == 201
    files_before = stored_files(blob_dir)
    # chunk 1: the connection dies half-way through the body
    sock = client.raw_socket()
    sock.sendall(client.chunk_request_head(blob["id"], 1, len(parts[1])))
    sock.sendall(parts[1][: len(parts[1]) // 2])
    time.sleep(0.3)
    cut(sock)
    time.sleep(0.5)
    status = client.request("GET", f"/v1/blobs/{blob['id']}/chunks").json()
    assert status["received"] == [0]
    assert list(BlobChunk.objects.filter(blob_id=blob["id"]).values_list("index", flat=True)) == [0]
    assert stored_files(blob_dir) == files_before  # no partial file left anywhere
    # chunk 2: the whole body arrives but the answer is lost; sending it again is harmless
    sock = client.raw_socket()
    sock.sendall(client.chunk_request_head(blob["id"], 2, len(parts[2])) + parts[2])
    deadline = time.monotonic() + 30
    while not BlobChunk.objects.filter(blob_id=blob["id"], index=2).exists():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    cut(sock)
    assert client.put_chunk(blob["id"], 2, parts[2]).status == 200
    # resume from what the server says it holds
    held = set(client.request("GET", f"/v1/blobs/{blob['id']}/chunks").json()["received"])
    assert held == {0, 2}
    early = client.post_json(f"/v1/blobs/{blob['id']}/complete")
    assert early.status == 409
    assert client.request("GET", f"/v1/blobs/{blob['id']}").status == 409
    for index in sorted(set(range(len(parts))) - held):
        assert client.put_chunk(blob["id"], index, parts[index]).status == 201
    assert client.post_json(f"/v1/blobs/{blob['id']}/complete").status == 200
    assert client.download_digest(blob["id"]) == (200, blake3(data).digest(), MEDIUM)


def test_concurrent_uploads_and_racing_chunks(make_account, live_server_daphne) -> None:
    alice, bob = make_account(), make_account()
    chat = make_chat(alice, "group", bob)
    clients = [LiveClient(live_server_daphne.url, a.token) for a in (alice, bob)]
    payloads = [os.urandom(MEDIUM) for _ in range(6)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        ids = list(pool.map(lambda i: clients[i % 2].upload(chat["id"], payloads[i]), range(6)))
    assert len(set(ids)) == 6
    for blob_id, data in zip(ids, payloads, strict=True):
        assert clients[1].download_digest(blob_id) == (200, blake3(data).digest(), MEDIUM)
    # eight requests race for the same chunk, half of them with other bytes
    client = clients[0]
    blob = client.post_json("/v1/blobs", {"chat_id": chat["id"], "size": MEDIUM}).json()
    one, other = os.urandom(ONE_MIB), os.urandom(ONE_MIB)
    bodies = [one, other] * 4
    start = threading.Barrier(len(bodies))

    def racer(data: bytes) -> int:
        start.wait()
        return client.put_chunk(blob["id"], 0, data).status

    with ThreadPoolExecutor(max_workers=len(bodies)) as pool:
        statuses = list(pool.map(racer, bodies))
    stored = BlobChunk.objects.get(blob_id=blob["id"], index=0)
    winner = one if bytes(stored.digest) == blake3(one).digest() else other
    assert bytes(stored.digest) == blake3(winner).digest()
    for data, code in zip(bodies, statuses, strict=True):
        assert code in ((200, 201) if data is winner else (409,)), statuses
    assert statuses.count(201) == 1


def vm(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(key)


@pytest.mark.slow
def test_64_mib_upload_and_download_keep_server_memory_flat(make_account, tmp_path) -> None:
    alice = make_account()
    chat = make_chat(alice, "group")
    # Under uvicorn, the server the README recommends for production: daphne has no
    # back-pressure for response bodies, so a client that reads slowly (a loaded machine)
    # makes it buffer the download (bench/blobs/README.md measures both).
    server = start_daphne(tmp_path, "uvicorn-rss", {"TALKEE_SERVER": "uvicorn"})
    try:
        client = LiveClient(server.url, alice.token)
        # warm up: every module and code path loaded before the baseline is taken
        small = os.urandom(encrypted_size(2 * 1024 * 1024))
        warm = client.upload(chat["id"], small)
        assert client.download_digest(warm)[0] == 200
        baseline = vm(server.process.pid, "VmHWM")
        size = encrypted_size(64 * 1024 * 1024)
        data = os.urandom(size)
        blob_id = client.upload(chat["id"], data)
        after_upload = vm(server.process.pid, "VmHWM")
        assert client.download_digest(blob_id) == (200, blake3(data).digest(), size)
        after_download = vm(server.process.pid, "VmHWM")
        assert Blob.objects.get(pk=blob_id).size == size
        growth = after_download - baseline
        print(
            f"\nserver VmHWM: baseline {baseline / ONE_MIB:.1f} MiB, after 64 MiB upload "
            f"{after_upload / ONE_MIB:.1f} MiB, after download {after_download / ONE_MIB:.1f} MiB"
        )
        assert growth < 64 * ONE_MIB, f"peak RSS grew by {growth / ONE_MIB:.1f} MiB"
    finally:
        stop(server.process)


def test_a_websocket_send_frame_carries_blob_ids(make_account, live_server_daphne) -> None:
    alice = make_account()
    chat = make_chat(alice, "group")
    client = LiveClient(live_server_daphne.url, alice.token)
    blob_id = client.upload(chat["id"], os.urandom(encrypted_size(32 * 1024)))
    other = make_chat(alice, "group")
    foreign = client.upload(other["id"], os.urandom(encrypted_size(32 * 1024)))

    def frame(blob_ids: list[str]) -> dict:
        return {
            "type": "send",
            "chat_id": chat["id"],
            "client_message_id": uuid.uuid4().hex,
            "kind": "application",
            "epoch": 0,
            "ciphertext": b64(os.urandom(64)),
            "blob_ids": blob_ids,
        }

    async def scenario() -> tuple[dict, dict]:
        device = SocketDevice(live_server_daphne.ws_url, alice.token)
        await device.connect()
        await device.send(frame([blob_id]))
        sent = await device.until(lambda f: f["type"] in ("sent", "error"))
        await device.send(frame([foreign]))
        refused = await device.until(lambda f: f["type"] == "error")
        await device.close()
        return sent, refused

    sent, refused = asyncio.run(scenario())
    assert sent["type"] == "sent"
    assert BlobAttachment.objects.filter(message_id=sent["id"], blob_id=blob_id).exists()
    assert refused["code"] == "invalid_blob"
