"""The tunnel's wire codec: how an encrypted frame becomes DNS names and TXT answers.

Upstream, a frame is base32 (RFC 4648, lowercase, no padding: resolvers may change the
case of a name) and cut into fragments that each fit one query name:

    <data>.<data>…<rid>-<seq>-<total>.u.<zone>      one fragment, labels of ≤ 63 characters, name ≤ 253

`rid` names the request (13 base32 characters = 8 random bytes), `seq` counts from 0 to
`total - 1`. The answer to a fragment is TXT "ok"; the answer to the last one carries the
first chunk of the reply. The reply is cut into chunks fetched one by one:

    <rid>-<seq>.d.<zone>                          TXT ["<seq>/<total>", base64 chunk…]

Chunks stay small enough for a 512-byte UDP answer even behind a 253-character question.
The web client has the same codec in `web/src/transport/tunnel.ts`.
"""

import base64
import binascii
import re
from dataclasses import dataclass

from apps.core.b64 import b64, unb64

MAX_NAME = 253
MAX_LABEL = 63
RID_CHARS = 13
MAX_FRAGMENTS = 256
# Chunk 0 rides on the answer to the last upload fragment, whose question may be a full
# 253-character name; later chunks answer short questions.
FIRST_CHUNK = 120
CHUNK = 220
MAX_TXT_STRING = 255

_B32 = re.compile(r"^[a-z2-7]+$")
_UPLOAD_HEADER = re.compile(r"^([a-z2-7]{13})-(\d{1,3})-(\d{1,3})$")
_DOWNLOAD_HEADER = re.compile(r"^([a-z2-7]{13})-(\d{1,3})$")


class CodecError(ValueError):
    """A name or answer that is not the tunnel's (the gateway answers FORMERR)."""


class NotOurZone(CodecError):
    """A name outside the delegated zone (REFUSED: we are not authoritative for it)."""


@dataclass(frozen=True)
class Upload:
    rid: str
    seq: int
    total: int
    data: str  # base32 characters of this fragment


@dataclass(frozen=True)
class Download:
    rid: str
    seq: int


def b32encode(data: bytes) -> str:
    return base64.b32encode(data).decode("ascii").rstrip("=").lower()


def b32decode(text: str) -> bytes:
    if text and not _B32.match(text):
        raise CodecError("not base32")
    padded = text.upper() + "=" * (-len(text) % 8)
    try:
        return base64.b32decode(padded)
    except (binascii.Error, ValueError) as exc:
        raise CodecError("not base32") from exc


def fragment_capacity(zone: str) -> int:
    """How many base32 characters of data one upload name can carry for `zone`."""
    suffix = 1 + RID_CHARS + 1 + 3 + 1 + 3 + len(".u.") + len(zone)
    room = MAX_NAME - suffix
    chars = room
    while chars + (chars + MAX_LABEL - 1) // MAX_LABEL - 1 > room:
        chars -= 1
    return chars


def upload_names(frame: bytes, rid: str, zone: str) -> list[str]:
    """The query names that carry `frame` (client side; the tests' DNS client uses it)."""
    text = b32encode(frame)
    size = fragment_capacity(zone)
    parts = [text[i : i + size] for i in range(0, len(text), size)]
    if not parts or len(parts) > MAX_FRAGMENTS:
        raise CodecError("frame too large for the tunnel")
    names = []
    for seq, part in enumerate(parts):
        labels = [part[i : i + MAX_LABEL] for i in range(0, len(part), MAX_LABEL)]
        names.append(".".join([*labels, f"{rid}-{seq}-{len(parts)}", "u", zone]))
    return names


def download_name(rid: str, seq: int, zone: str) -> str:
    return f"{rid}-{seq}.d.{zone}"


def parse_name(qname: str, zone: str) -> Upload | Download:
    """Read a query name of the tunnel; raises NotOurZone or CodecError."""
    name = qname.rstrip(".").lower()
    if len(name) > MAX_NAME:
        raise CodecError("name too long")
    if name != zone and not name.endswith("." + zone):
        raise NotOurZone(name)
    labels = name[: -len(zone) - 1].split(".") if name != zone else []
    if any(not label or len(label) > MAX_LABEL for label in labels):
        raise CodecError("bad label")
    if len(labels) >= 2 and labels[-1] == "d":
        match = _DOWNLOAD_HEADER.match(labels[-2])
        if match is None or len(labels) != 2:
            raise CodecError("bad download name")
        return Download(match[1], int(match[2]))
    if len(labels) >= 3 and labels[-1] == "u":
        match = _UPLOAD_HEADER.match(labels[-2])
        if match is None:
            raise CodecError("bad upload header")
        seq, total = int(match[2]), int(match[3])
        if not 0 < total <= MAX_FRAGMENTS or seq >= total:
            raise CodecError("bad fragment numbers")
        data = "".join(labels[:-2])
        if not _B32.match(data):
            raise CodecError("fragment is not base32")
        return Upload(match[1], seq, total, data)
    raise CodecError("not a tunnel name")


def reply_chunks(reply: bytes) -> list[bytes]:
    """The reply cut for TXT answers: a small first chunk, then full ones."""
    chunks = [reply[:FIRST_CHUNK]]
    chunks += [reply[i : i + CHUNK] for i in range(FIRST_CHUNK, len(reply), CHUNK)]
    return chunks


def txt_strings(seq: int, total: int, chunk: bytes) -> list[str]:
    text = b64(chunk)
    return [f"{seq}/{total}"] + [text[i : i + MAX_TXT_STRING] for i in range(0, len(text), MAX_TXT_STRING)]


def parse_txt(strings: list[str]) -> tuple[int, int, bytes]:
    """`(seq, total, chunk)` from one TXT answer (client side)."""
    if not strings:
        raise CodecError("empty answer")
    seq_text, _, total_text = strings[0].partition("/")
    try:
        seq, total = int(seq_text), int(total_text)
        chunk = unb64("".join(strings[1:]))
    except (ValueError, binascii.Error) as exc:
        raise CodecError("bad answer") from exc
    if not 0 <= seq < total:
        raise CodecError("bad answer numbers")
    return seq, total, chunk
