"""Serializer fields shared by every API: binary values travel as standard base64, and a
field documented as a string accepts only a JSON string."""

import binascii
import re
import uuid
from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.b64 import b64, unb64


@extend_schema_field(OpenApiTypes.BYTE)
class Base64BytesField(serializers.Field[bytes, str, str, Any]):
    """Standard base64 in JSON ↔ bytes in Python, with length bounds checked at the edge."""

    default_error_messages = {
        "invalid": "Must be standard base64.",
        "exact": "Must decode to exactly {length} bytes.",
        "max": "Must decode to at most {max_length} bytes.",
        "min": "Must decode to at least {min_length} bytes.",
    }

    def __init__(
        self,
        *,
        length: int | None = None,
        max_length: int | None = None,
        min_length: int | None = None,
        **kwargs: Any,
    ) -> None:
        self.length = length
        self.max_length = max_length
        self.min_length = min_length
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> bytes:
        if not isinstance(data, str):
            self.fail("invalid")
        # Refuse long input before decoding so an oversized value costs nothing.
        limit = self.length or self.max_length
        if limit is not None and len(data) > (limit + 2) // 3 * 4:
            if self.length is not None:
                self.fail("exact", length=self.length)
            self.fail("max", max_length=limit)
        try:
            value = unb64(data)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            self.fail("invalid")
        if self.length is not None and len(value) != self.length:
            self.fail("exact", length=self.length)
        if self.max_length is not None and len(value) > self.max_length:
            self.fail("max", max_length=self.max_length)
        if self.min_length is not None and len(value) < self.min_length:
            self.fail("min", min_length=self.min_length)
        return value

    def to_representation(self, value: bytes) -> str:
        return b64(value)


class StrictCharField(serializers.CharField):
    """A JSON string and nothing else: DRF's CharField would quietly take 12345 as "12345"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


# Ids, positions, epochs and sizes are PostgreSQL bigints: a larger number in a request is
# refused at the edge (400), not by the database (500).
BIGINT_MAX = 2**63 - 1

# `alice`, or `alice@chat.example.org`: the part before `@` as usernames are made
# (apps.accounts.services.USERNAME_RE, looser in length for other instances).
_LOCALPART = re.compile(r"[a-z0-9._-]{1,64}")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def is_address(value: str) -> bool:
    """Whether `value` (lowercase) names a user: a local username, or one at an instance
    named by a public DNS name (at least two labels, an alphabetic top label: no IP
    literal, no single-label host) or at one the settings map (TALKEE_FEDERATION_HOSTS).
    Anything else never reaches a lookup, here or at another instance."""
    local, at, domain = value.partition("@")
    if not _LOCALPART.fullmatch(local):
        return False
    if not at or domain == settings.TALKEE_DOMAIN or domain in settings.TALKEE_FEDERATION_HOSTS:
        return True
    labels = domain.split(".")
    return (
        len(domain) <= 253
        and len(labels) >= 2
        and all(_LABEL.fullmatch(label) for label in labels)
        and labels[-1].isalpha()
        and len(labels[-1]) >= 2
    )


def check_address(value: str) -> str:
    """A user's address from a request (path or body); a 400 in the API's shape if it is none."""
    if not is_address(value.strip().lower()):
        raise serializers.ValidationError({"address": [f"Not a user address: {value[:100]!r}."]})
    return value


class AddressField(StrictCharField):
    """`alice` or `alice@instance.example`; see `is_address`."""

    default_error_messages = {"not_address": "Not a user address: {value!r}."}

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 300)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if not is_address(value.strip().lower()):
            self.fail("not_address", value=value[:100])
        return value


class StrictUUIDField(serializers.UUIDField):
    """A UUID written as a JSON string; DRF's UUIDField would also take a number."""

    def to_internal_value(self, data: Any) -> uuid.UUID:
        if not isinstance(data, str):
            self.fail("invalid", value=type(data).__name__)
        return uuid.UUID(str(super().to_internal_value(data)))


class BoundedListField(serializers.ListField):
    """A list whose length is checked before its items.

    DRF validates every item first and reports each bad one, so a 3 MB list of junk
    costs seconds of CPU and answers with tens of MB of errors; this refuses it at once.
    """

    def to_internal_value(self, data: Any) -> list[Any]:
        if isinstance(data, list) and self.max_length is not None and len(data) > self.max_length:
            self.fail("max_length", max_length=self.max_length)
        return list(super().to_internal_value(data))


def validated(serializer_class: type[serializers.Serializer[Any]], data: Any) -> dict[str, Any]:
    """Validate request data at the edge: the serializer's data, or a 400 in the API's shape."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)
