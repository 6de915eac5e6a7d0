"""Session tokens: 32 random bytes for the client, BLAKE3 of them for the database."""

import base64
import secrets

from blake3 import blake3


def new_token() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()


def token_hash(token: str) -> bytes:
    return blake3(token.encode()).digest()
