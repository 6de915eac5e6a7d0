"""Each user's key log: an append-only, hash-chained list of identity-key and device-certificate
changes, with a head the instance signs (issue 20, the key-transparency idea at one instance).

    h(-1) = BLAKE3("talkee-keylog-v1" || 0x00 || user)
    h(i)  = BLAKE3(h(i-1) || kind (1 byte) || u32 len(body) || body)
    head signature = Ed25519(instance key, "talkee-keylog-head-v1" || 0x00 || user || 0x00 || u64 size || h(size-1))

Entries are appended in the same transaction as the change they record (a certificate
stored, a certified device revoked). What a client can prove with it: the log it sees now
extends the one it saw before (the server cannot rewrite a user's history for that client),
and the keys the server lists are the ones its log says; the owner's client sees every
identity key logged for its account. What it cannot: that two clients see the same log (no
gossip of heads between clients yet), nor anything about a user of another instance.
"""

import struct
from dataclasses import dataclass

from blake3 import blake3

from apps.accounts.models import User
from apps.devices.models import KeyLogEntry
from apps.federation.instance_key import instance_signing_key

LOG_LABEL = b"talkee-keylog-v1"
HEAD_LABEL = b"talkee-keylog-head-v1"


def seed_hash(username: str) -> bytes:
    return blake3(LOG_LABEL + b"\x00" + username.encode()).digest()


def chain(previous: bytes, kind: int, body: bytes) -> bytes:
    return blake3(previous + bytes([kind]) + struct.pack(">I", len(body)) + body).digest()


def append(user: User, kind: KeyLogEntry.Kind, body: bytes) -> None:
    """Append one entry for `user` (inside the caller's transaction; the user row is locked
    so that two changes at once get consecutive indexes)."""
    User.objects.select_for_update().filter(pk=user.pk).values_list("pk", flat=True).first()
    last = KeyLogEntry.objects.filter(user=user).order_by("-index").values("index", "entry_hash").first()
    index = 0 if last is None else int(last["index"]) + 1
    previous = seed_hash(user.username) if last is None else bytes(last["entry_hash"])
    KeyLogEntry.objects.create(user=user, index=index, kind=kind, body=body, entry_hash=chain(previous, kind, body))


@dataclass(frozen=True)
class SignedLog:
    size: int
    head: bytes
    signature: bytes
    entries: list[tuple[int, int, bytes]]  # (index, kind, body) from the asked position on


def signed_log(user: User, start: int = 0) -> SignedLog:
    """The log's head (signed) and its entries from `start` on."""
    last = KeyLogEntry.objects.filter(user=user).order_by("-index").values("index", "entry_hash").first()
    size = 0 if last is None else int(last["index"]) + 1
    # Only up to the head read above: an entry appended meanwhile waits for the next read
    # (served with it, a client would see more entries than the head covers: a false fork).
    rows = list(
        KeyLogEntry.objects.filter(user=user, index__gte=max(0, start), index__lt=size)
        .order_by("index")
        .values_list("index", "kind", "body")
    )
    head = seed_hash(user.username) if last is None else bytes(last["entry_hash"])
    message = HEAD_LABEL + b"\x00" + user.username.encode() + b"\x00" + struct.pack(">Q", size) + head
    signature = instance_signing_key().sign(message).signature
    return SignedLog(size, head, signature, [(int(i), int(k), bytes(b)) for i, k, b in rows])
