"""A minimal TURN client over UDP (RFC 8656 / 5389 framing) for the coturn of a test stack:
Allocate with long-term credentials (MESSAGE-INTEGRITY, key MD5(user:realm:password)) and
CreatePermission. Enough to see coturn accept Talkee's REST credentials, refuse wrong or
expired ones, and refuse to relay to private addresses; no media is sent."""

import hashlib
import hmac
import ipaddress
import os
import socket
import struct
from dataclasses import dataclass, field

MAGIC = 0x2112A442
ALLOCATE, CREATE_PERMISSION = 0x0003, 0x0008
USERNAME, MESSAGE_INTEGRITY, ERROR_CODE, REALM, NONCE = 0x0006, 0x0008, 0x0009, 0x0014, 0x0015
XOR_PEER_ADDRESS, XOR_RELAYED_ADDRESS, REQUESTED_TRANSPORT = 0x0012, 0x0016, 0x0019


@dataclass
class Answer:
    success: bool
    error: int | None
    attributes: dict[int, bytes] = field(default_factory=dict)


def _attribute(kind: int, value: bytes) -> bytes:
    return struct.pack("!HH", kind, len(value)) + value + b"\0" * (-len(value) % 4)


def _xor_address(address: str, port: int) -> bytes:
    packed = ipaddress.IPv4Address(address).packed
    xored = bytes(a ^ b for a, b in zip(packed, struct.pack("!I", MAGIC), strict=True))
    return struct.pack("!BBH", 0, 1, port ^ (MAGIC >> 16)) + xored


def _parse(data: bytes) -> tuple[int, dict[int, bytes]]:
    kind, length = struct.unpack("!HH", data[:4])
    attributes: dict[int, bytes] = {}
    offset = 20
    while offset < 20 + length:
        akind, alength = struct.unpack("!HH", data[offset : offset + 4])
        attributes.setdefault(akind, data[offset + 4 : offset + 4 + alength])
        offset += 4 + alength + (-alength % 4)
    return kind, attributes


class TurnClient:
    def __init__(self, host: str, port: int, username: str, password: str) -> None:
        self.server = (host, port)
        self.username, self.password = username, password
        self.realm = b""
        self.nonce = b""
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(5)

    def close(self) -> None:
        self.sock.close()

    def _request(self, method: int, attributes: list[bytes], *, sign: bool) -> Answer:
        body = b"".join(attributes)
        if sign:
            body += _attribute(USERNAME, self.username.encode()) + _attribute(REALM, self.realm)
            body += _attribute(NONCE, self.nonce)
        transaction = os.urandom(12)
        if sign:
            # The length in the header counts MESSAGE-INTEGRITY (24 bytes) before it is computed.
            header = struct.pack("!HHI", method, len(body) + 24, MAGIC) + transaction
            key = hashlib.md5(f"{self.username}:{self.realm.decode()}:{self.password}".encode()).digest()
            body += _attribute(MESSAGE_INTEGRITY, hmac.new(key, header + body, hashlib.sha1).digest())
        message = struct.pack("!HHI", method, len(body), MAGIC) + transaction + body
        for _ in range(3):
            self.sock.sendto(message, self.server)
            try:
                while True:
                    data, _ = self.sock.recvfrom(4096)
                    if data[8:20] == transaction:
                        break
                break
            except TimeoutError:
                continue
        else:
            raise TimeoutError("no answer from the TURN server")
        kind, attrs = _parse(data)
        if kind & 0x0110 == 0x0100:
            return Answer(True, None, attrs)
        code = attrs.get(ERROR_CODE, b"\0\0\0\0")
        return Answer(False, code[2] * 100 + code[3], attrs)

    def allocate(self) -> Answer:
        transport = _attribute(REQUESTED_TRANSPORT, bytes([17, 0, 0, 0]))
        first = self._request(ALLOCATE, [transport], sign=False)
        if first.error != 401:
            return first
        self.realm, self.nonce = first.attributes[REALM], first.attributes[NONCE]
        answer = self._request(ALLOCATE, [transport], sign=True)
        if answer.error == 438:  # stale nonce: once more with the new one
            self.nonce = answer.attributes[NONCE]
            answer = self._request(ALLOCATE, [transport], sign=True)
        return answer

    def permit(self, peer: str) -> Answer:
        return self._request(CREATE_PERMISSION, [_attribute(XOR_PEER_ADDRESS, _xor_address(peer, 9))], sign=True)


def relayed_address(answer: Answer) -> tuple[str, int]:
    value = answer.attributes[XOR_RELAYED_ADDRESS]
    port = struct.unpack("!H", value[2:4])[0] ^ (MAGIC >> 16)
    address = bytes(a ^ b for a, b in zip(value[4:8], struct.pack("!I", MAGIC), strict=True))
    return str(ipaddress.IPv4Address(address)), port


SEND_INDICATION, DATA_INDICATION, DATA = 0x0016, 0x0017, 0x0013


def send_to_peer(client: TurnClient, peer: tuple[str, int], data: bytes) -> None:
    """A Send indication: `data` relayed to `peer` (needs a permission for its address)."""
    body = _attribute(XOR_PEER_ADDRESS, _xor_address(*peer)) + _attribute(DATA, data)
    client.sock.sendto(struct.pack("!HHI", SEND_INDICATION, len(body), MAGIC) + os.urandom(12) + body, client.server)


def receive_from_peer(client: TurnClient) -> bytes:
    """The next Data indication's payload."""
    while True:
        packet, _ = client.sock.recvfrom(4096)
        kind, attributes = _parse(packet)
        if kind == DATA_INDICATION:
            return attributes[DATA]
