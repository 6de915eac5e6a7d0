"""Signed requests to a peer for the apps that fetch from one: addresses and their domain,
a signed JSON GET, a peer's file in signed ranged GETs. Every call here is network I/O:
callers make it with no transaction open (and store what it brought in a short one).

Remote users and their devices are the accounts and devices apps' (their `federation.py`)."""

import json
import urllib.parse
from collections.abc import Iterator
from typing import Any

from django.conf import settings

from apps.core.errors import NotFound, ServiceError
from apps.federation import discovery
from apps.federation.services import signed_call

# A file of a chat homed elsewhere is fetched in ranges of at most this many bytes
# (each one signed request, well under TALKEE_FEDERATION_MAX_BODY_BYTES).
BLOB_PIECE_BYTES = 4 * 1024 * 1024


class PeerUnavailable(ServiceError):
    status = 503
    code = "peer_unreachable"


def domain_of(address: str) -> str:
    return address.rsplit("@", 1)[1] if "@" in address else settings.TALKEE_DOMAIN


def is_remote(address: str) -> bool:
    return domain_of(address) != str(settings.TALKEE_DOMAIN)


def signed_get(domain: str, path: str, query: list[tuple[str, str]]) -> dict[str, Any]:
    """A signed GET to a peer over mutual TLS; its JSON answer, or a clear error (404 passes
    through)."""
    try:
        status, raw = signed_call(domain, "GET", f"{path}?{urllib.parse.urlencode(query, safe='@')}")
    except discovery.DiscoveryError as exc:
        raise PeerUnavailable(f"{domain} cannot be reached; try again later.") from exc
    if status == 404:
        raise NotFound(f"No such user on {domain}.", code="user_not_found")
    if status != 200:
        raise PeerUnavailable(f"{domain} answered {status}; try again later.")
    try:
        document = json.loads(raw)
    except ValueError as exc:
        raise PeerUnavailable(f"{domain} answered something that is not JSON.") from exc
    if not isinstance(document, dict):
        raise PeerUnavailable(f"{domain} answered something unexpected.")
    return document


def signed_pieces(domain: str, path: str, first: int, last: int) -> Iterator[bytes]:
    """Bytes first..last of a peer's blob, one signed ranged GET per piece."""
    start = first
    while start <= last:
        end = min(last, start + BLOB_PIECE_BYTES - 1)
        try:
            status, raw = signed_call(domain, "GET", path, extra_headers={"Range": f"bytes={start}-{end}"})
        except discovery.DiscoveryError as exc:
            raise PeerUnavailable(f"{domain} cannot be reached; try again later.") from exc
        if status == 404:
            raise NotFound("No such blob.", code="blob_not_found")
        if 400 <= status < 500 and status != 429:
            raise ServiceError(f"{domain} refused a file ({status}).", code="peer_refused", status=502)
        if status != 206 or len(raw) != end - start + 1:
            raise PeerUnavailable(f"{domain} answered {status} for a file; try again later.")
        yield raw
        start = end + 1
