"""End-to-end sealing of tunnel frames (resolvers see every name and answer).

A client keeps an ephemeral X25519 key pair for a while and numbers its requests. The
two sides agree on keys with libsodium's `crypto_kx` (the server's key is the curve25519
form of the instance's Ed25519 key, published as `tunnel_x25519_pub` in
/.well-known/talkee/server); every frame is XChaCha20-Poly1305 (IETF) under them:

    request = 0x01 | client_pk (32) | counter (8, big-endian) | AEAD(client tx key, nonce, json)
    reply   = 0x00 | AEAD(server tx key, nonce, json)          AAD = 0x00 | request header

`nonce` is 16 zero bytes then the counter: one counter is used once per key pair and
direction (the server refuses a counter it has seen, `services.check_fresh`), so no
nonce is ever reused. The request's AAD is its header, so the key and counter cannot be
swapped; the reply is bound to the request it answers.
"""

from dataclasses import dataclass
from functools import cache

from nacl import bindings
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey

from apps.federation.instance_key import instance_signing_key

VERSION = 1
HEADER = 1 + 32 + 8
REPLY_OK = 0


class SealError(ValueError):
    """A frame that is not ours, or was changed on the way."""


@dataclass(frozen=True)
class OpenedRequest:
    client_pk: bytes
    counter: int
    header: bytes
    plaintext: bytes
    reply_key: bytes


@cache
def tunnel_private_key() -> PrivateKey:
    """The instance's tunnel key: its Ed25519 key in curve25519 form (one key to pin)."""
    return instance_signing_key().to_curve25519_private_key()


def tunnel_public_key() -> bytes:
    return bytes(tunnel_private_key().public_key)


def nonce_for(counter: int) -> bytes:
    return bytes(16) + counter.to_bytes(8, "big")


def open_request(frame: bytes, server_key: PrivateKey | None = None) -> OpenedRequest:
    """Check and decrypt a request frame (server side)."""
    key = server_key or tunnel_private_key()
    if len(frame) < HEADER + bindings.crypto_aead_xchacha20poly1305_ietf_ABYTES or frame[0] != VERSION:
        raise SealError("not a tunnel frame")
    header, ciphertext = frame[:HEADER], frame[HEADER:]
    client_pk, counter = header[1:33], int.from_bytes(header[33:41], "big")
    try:
        rx, tx = bindings.crypto_kx_server_session_keys(bytes(key.public_key), bytes(key), client_pk)
        plaintext = bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(ciphertext, header, nonce_for(counter), rx)
    except (CryptoError, ValueError, TypeError) as exc:
        raise SealError("frame does not authenticate") from exc
    return OpenedRequest(client_pk, counter, header, plaintext, tx)


def seal_reply(request: OpenedRequest, plaintext: bytes) -> bytes:
    aad = bytes([REPLY_OK]) + request.header
    sealed = bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
        plaintext, aad, nonce_for(request.counter), request.reply_key
    )
    return aad[:1] + sealed


# ---- the client's half (used by tests and tools; the PWA has its own in TypeScript) ----


@dataclass
class ClientSession:
    """An ephemeral key pair and its request counter, as a tunnel client keeps them."""

    server_pk: bytes
    secret: bytes
    public: bytes
    counter: int = 0

    @classmethod
    def new(cls, server_pk: bytes, seed: bytes | None = None) -> "ClientSession":
        if seed is None:
            public, secret = bindings.crypto_kx_keypair()
        else:
            public, secret = bindings.crypto_kx_seed_keypair(seed)
        return cls(server_pk, secret, public)

    def keys(self) -> tuple[bytes, bytes]:
        """(rx, tx) of the client."""
        rx, tx = bindings.crypto_kx_client_session_keys(self.public, self.secret, self.server_pk)
        return rx, tx

    def seal(self, plaintext: bytes) -> tuple[bytes, int]:
        self.counter += 1
        header = bytes([VERSION]) + self.public + self.counter.to_bytes(8, "big")
        sealed = bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
            plaintext, header, nonce_for(self.counter), self.keys()[1]
        )
        return header + sealed, self.counter

    def open_reply(self, reply: bytes, counter: int) -> bytes:
        """The reply's plaintext; raises SealError for a changed answer."""
        if not reply or reply[0] != REPLY_OK:
            raise SealError("not a reply")
        header = bytes([VERSION]) + self.public + counter.to_bytes(8, "big")
        try:
            return bytes(
                bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
                    reply[1:], bytes([REPLY_OK]) + header, nonce_for(counter), self.keys()[0]
                )
            )
        except CryptoError as exc:
            raise SealError("reply does not authenticate") from exc
