"""A client's send and ack requests, validated as the API validates them, for the other ways
in (the DNS tunnel, apps/transport): the same serializers, the same 400s."""

from typing import Any

from apps.core.api_fields import validated
from apps.messages.api.serializers import AckSerializer, SendSerializer


def validated_send(data: Any) -> dict[str, Any]:
    return validated(SendSerializer, data)


def validated_ack(data: Any) -> dict[str, Any]:
    return validated(AckSerializer, data)
