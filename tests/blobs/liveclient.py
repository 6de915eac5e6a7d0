"""A small HTTP client for the live daphne: raw bytes up, streamed bytes down."""

import http.client
import json
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from blake3 import blake3


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class LiveClient:
    def __init__(self, base_url: str, token: str) -> None:
        parts = urlsplit(base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.token = token

    def _connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=120)

    def request(self, method: str, path: str, body: bytes | None = None, **headers: str) -> Answer:
        connection = self._connection()
        try:
            connection.request(method, path, body=body, headers={"Authorization": f"Bearer {self.token}", **headers})
            response = connection.getresponse()
            return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            connection.close()

    def post_json(self, path: str, payload: dict[str, Any] | None = None, **headers: str) -> Answer:
        data = json.dumps(payload or {}).encode()
        return self.request("POST", path, data, **{"Content-Type": "application/json", **headers})

    def put_chunk(self, blob_id: str, index: int, data: bytes, **headers: str) -> Answer:
        return self.request(
            "PUT",
            f"/v1/blobs/{blob_id}/chunks/{index}",
            data,
            **{"Content-Type": "application/octet-stream", **headers},
        )

    def upload(self, chat_id: str, data: bytes, **headers: str) -> str:
        created = self.post_json("/v1/blobs", {"chat_id": chat_id, "size": len(data)}, **headers)
        assert created.status == 201, created.body
        blob = created.json()
        step = blob["chunk_size"]
        for index in range(blob["chunk_count"]):
            answer = self.put_chunk(blob["id"], index, data[index * step : (index + 1) * step], **headers)
            assert answer.status == 201, answer.body
        done = self.post_json(f"/v1/blobs/{blob['id']}/complete", **headers)
        assert done.status == 200, done.body
        return str(blob["id"])

    def download_digest(self, blob_id: str, **headers: str) -> tuple[int, bytes, int]:
        """(status, BLAKE3 of the body, body length), reading the body in pieces."""
        connection = self._connection()
        try:
            connection.request(
                "GET", f"/v1/blobs/{blob_id}", headers={"Authorization": f"Bearer {self.token}", **headers}
            )
            response = connection.getresponse()
            hasher, total = blake3(), 0
            while piece := response.read(256 * 1024):
                hasher.update(piece)
                total += len(piece)
            return response.status, hasher.digest(), total
        finally:
            connection.close()

    def raw_socket(self) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout=30)

    def chunk_request_head(self, blob_id: str, index: int, length: int) -> bytes:
        return (
            f"PUT /v1/blobs/{blob_id}/chunks/{index} HTTP/1.1\r\n"
            f"Host: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {self.token}\r\n"
            "Content-Type: application/octet-stream\r\n"
            f"Content-Length: {length}\r\n\r\n"
        ).encode()
