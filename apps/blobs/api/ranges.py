"""`Range: bytes=…` for blob downloads: one range per request (what media players send)."""

import re

from apps.core.errors import ServiceError

_SINGLE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)
# A position of more digits than this is past any blob; int() of thousands of digits raises.
_MAX_DIGITS = 19


def _position(digits: str) -> int:
    return int(digits) if len(digits) <= _MAX_DIGITS else 10**_MAX_DIGITS


class RangeNotSatisfiable(ServiceError):
    status = 416
    code = "range_not_satisfiable"


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) inclusive for a `Range` header, None to send everything.

    A unit other than bytes is ignored (RFC 9110 §14.2); a bytes range that is malformed,
    multiple or outside the blob is refused with 416."""
    if not header or not header.strip().lower().startswith("bytes"):
        return None
    match = _SINGLE.match(header)
    if match is None:
        raise RangeNotSatisfiable("Send one byte range: bytes=first-last, bytes=first- or bytes=-suffix.")
    first, last = match.groups()
    if not first and not last:
        raise RangeNotSatisfiable("The byte range is empty.")
    if not first:
        suffix = _position(last)
        if suffix == 0:
            raise RangeNotSatisfiable("A suffix range needs at least one byte.")
        return max(0, size - suffix), size - 1
    start = _position(first)
    end = size - 1 if not last else min(_position(last), size - 1)
    if start >= size or (last and _position(last) < start):
        raise RangeNotSatisfiable(f"The blob has {size} bytes.")
    return start, end
