import binascii
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.core.api_fields import StrictCharField
from apps.core.b64 import b64url, unb64url
from apps.push.webpush import MAX_ENDPOINT_CHARS


@extend_schema_field(OpenApiTypes.STR)
class Base64UrlBytesField(serializers.Field[bytes, str, str, Any]):
    """base64url (with or without padding), as `PushSubscription.toJSON()` gives the keys."""

    default_error_messages = {"invalid": "Must be base64url of {length} bytes."}

    def __init__(self, *, length: int, **kwargs: Any) -> None:
        self.length = length
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> bytes:
        if not isinstance(data, str) or len(data) > (self.length + 2) // 3 * 4:
            self.fail("invalid", length=self.length)
        try:
            value = unb64url(data)
        except (binascii.Error, ValueError):
            self.fail("invalid", length=self.length)
        if len(value) != self.length:
            self.fail("invalid", length=self.length)
        return value

    def to_representation(self, value: bytes) -> str:
        return b64url(value)


class SubscriptionKeysSerializer(serializers.Serializer[Any]):
    p256dh = Base64UrlBytesField(length=65)
    auth = Base64UrlBytesField(length=16)


class SubscriptionSerializer(serializers.Serializer[Any]):
    endpoint = StrictCharField(max_length=MAX_ENDPOINT_CHARS)
    keys = SubscriptionKeysSerializer()


class MuteSerializer(serializers.Serializer[Any]):
    """Either `until` (a time in the future) or `always: true`."""

    until = serializers.DateTimeField(required=False)
    always = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("always") == ("until" in attrs):
            raise serializers.ValidationError("Give either until or always: true.")
        return attrs


class MuteOutSerializer(serializers.Serializer[Any]):
    chat_id = serializers.UUIDField()
    until = serializers.DateTimeField(allow_null=True)


class PreferencesSerializer(serializers.Serializer[Any]):
    calls_when_muted = serializers.BooleanField(
        help_text="Calls ring on this device in chats it muted (true unless it chose otherwise)."
    )
    mentions_when_muted = serializers.BooleanField(
        help_text="A message that mentions this device's user wakes it in chats it muted "
        "(true unless it chose otherwise)."
    )


class PreferencesChangeSerializer(serializers.Serializer[Any]):
    calls_when_muted = serializers.BooleanField(required=False)
    mentions_when_muted = serializers.BooleanField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs:
            raise serializers.ValidationError("Give calls_when_muted, mentions_when_muted or both.")
        return attrs


class VapidSerializer(serializers.Serializer[Any]):
    public_key = serializers.CharField(help_text="The VAPID application server key: a P-256 point, base64url.")
