"""The tunnel codec on its own: names within DNS limits, reassembly, and the known answers
the web client's tests check too (web/test/tunnel-vectors.json)."""

import json
import os

import pytest
from nacl.public import PrivateKey

from apps.transport import codec, sealing
from tests.conftest import ROOT

VECTORS = json.loads((ROOT / "web/test/tunnel-vectors.json").read_text())


@pytest.mark.parametrize("size", [1, 57, 300, 5000])
@pytest.mark.parametrize("zone", ["t.localhost", "tunnel." + "x" * 60 + ".example.org"])
def test_frames_become_names_within_dns_limits_and_reassemble(size: int, zone: str) -> None:
    frame = os.urandom(size)
    rid = codec.b32encode(os.urandom(8))
    names = codec.upload_names(frame, rid, zone)
    text = ""
    for seq, name in enumerate(names):
        assert len(name) <= 253
        assert all(0 < len(label) <= 63 for label in name.split("."))
        part = codec.parse_name(name.upper(), zone)  # resolvers may change the case
        assert part == codec.Upload(rid, seq, len(names), part.data)
        text += part.data
    assert codec.b32decode(text) == frame


def test_replies_are_chunked_for_512_byte_answers_and_reassemble() -> None:
    reply = os.urandom(3000)
    chunks = codec.reply_chunks(reply)
    assert len(chunks[0]) <= codec.FIRST_CHUNK
    assert all(len(c) <= codec.CHUNK for c in chunks)
    parsed = [codec.parse_txt(codec.txt_strings(i, len(chunks), c)) for i, c in enumerate(chunks)]
    assert [p[0] for p in parsed] == list(range(len(chunks)))
    assert b"".join(p[2] for p in parsed) == reply


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("example.org", codec.NotOurZone),
        ("xt.localhost", codec.NotOurZone),
        ("abc.t.localhost", codec.CodecError),
        ("abc.aaaaaaaaaaaaa-1-1.u.t.localhost", codec.CodecError),
        ("abc.aaaaaaaaaaaaa-0-0.u.t.localhost", codec.CodecError),
        ("ab0.aaaaaaaaaaaaa-0-1.u.t.localhost", codec.CodecError),
        ("aaaaaaaaaaaaa-x.d.t.localhost", codec.CodecError),
        ("more.aaaaaaaaaaaaa-1.d.t.localhost", codec.CodecError),
        ("a" * 250 + ".t.localhost", codec.CodecError),
    ],
)
def test_names_that_are_not_the_tunnels_are_refused(name: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        codec.parse_name(name, "t.localhost")


def test_known_answers_shared_with_the_web_client() -> None:
    server = PrivateKey(bytes.fromhex(VECTORS["server_secret"]))
    assert bytes(server.public_key).hex() == VECTORS["server_public"]
    client = sealing.ClientSession.new(bytes(server.public_key), seed=bytes.fromhex(VECTORS["client_seed"]))
    assert client.public.hex() == VECTORS["client_public"]
    client.counter = VECTORS["counter"] - 1
    frame, counter = client.seal(VECTORS["request_plaintext"].encode())
    assert frame.hex() == VECTORS["request_frame"]
    opened = sealing.open_request(frame, server)
    assert opened.plaintext.decode() == VECTORS["request_plaintext"]
    assert sealing.seal_reply(opened, VECTORS["reply_plaintext"].encode()).hex() == VECTORS["reply_frame"]
    assert client.open_reply(bytes.fromhex(VECTORS["reply_frame"]), counter).decode() == VECTORS["reply_plaintext"]
    assert codec.upload_names(frame, VECTORS["rid"], VECTORS["zone"]) == VECTORS["upload_names"]
    chunks = codec.reply_chunks(bytes(range(256)) * 2)
    assert [codec.txt_strings(i, len(chunks), c) for i, c in enumerate(chunks)] == VECTORS["reply_txt"]


def test_a_changed_byte_anywhere_breaks_the_frame() -> None:
    server = PrivateKey.generate()
    client = sealing.ClientSession.new(bytes(server.public_key))
    frame, counter = client.seal(b'{"op":"sync"}')
    for index in (0, 1, 33, 40, 41, len(frame) - 1):
        changed = bytearray(frame)
        changed[index] ^= 0x40
        with pytest.raises(sealing.SealError):
            sealing.open_request(bytes(changed), server)
    reply = sealing.seal_reply(sealing.open_request(frame, server), b"{}")
    with pytest.raises(sealing.SealError):
        client.open_reply(reply, counter + 1)  # a reply for another request
