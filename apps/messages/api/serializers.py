from django.conf import settings
from rest_framework import serializers

from apps.core.api_fields import BIGINT_MAX, Base64BytesField, StrictUUIDField
from apps.messages.models import Message


class WelcomeSerializer(serializers.Serializer[None]):
    device_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=BIGINT_MAX), min_length=1, max_length=10_000
    )
    payload = Base64BytesField(max_length=settings.TALKEE_HANDSHAKE_MAX_BYTES)


class SendSerializer(serializers.Serializer[None]):
    """One message, over HTTP or as a WebSocket `send` frame."""

    client_message_id = serializers.CharField(min_length=8, max_length=64)
    kind = serializers.ChoiceField(choices=Message.Kind.choices)
    epoch = serializers.IntegerField(min_value=0, max_value=BIGINT_MAX)
    ciphertext = Base64BytesField(max_length=settings.TALKEE_HANDSHAKE_MAX_BYTES)
    edit_hash = Base64BytesField(length=32, required=False, allow_null=True)
    ttl_seconds = serializers.IntegerField(min_value=1, max_value=365 * 86400, required=False, allow_null=True)
    burn_on_read = serializers.BooleanField(required=False, default=False)
    welcome = WelcomeSerializer(required=False, allow_null=True)
    # Completed uploads of this chat (apps/blobs) that the message's encrypted payload refers to.
    blob_ids = serializers.ListField(child=StrictUUIDField(), max_length=10, required=False)
    wake = serializers.ListField(
        child=serializers.RegexField(r"^[^\s@:]{1,150}@[^\s@:]{1,253}$", max_length=404),
        max_length=50,
        required=False,
        help_text="The members (user@domain) this message mentions: their devices are pushed even where they muted "
        "the chat, unless they chose otherwise. Used for the push and forgotten; names that are not members are "
        "ignored. The server learns who was mentioned (README, Push notifications).",
    )


class SentSerializer(serializers.Serializer[None]):
    id = serializers.IntegerField(allow_null=True)
    seq = serializers.IntegerField(allow_null=True)
    forwarded = serializers.BooleanField(required=False, help_text="202: queued for the chat's home instance")


class EditSerializer(serializers.Serializer[None]):
    edit_secret = Base64BytesField(length=32)
    ciphertext = Base64BytesField(max_length=settings.TALKEE_APPLICATION_MAX_BYTES)


class DeleteSerializer(serializers.Serializer[None]):
    edit_secret = Base64BytesField(length=32, required=False, allow_null=True)


class ReactionSerializer(serializers.Serializer[None]):
    ciphertext = Base64BytesField(max_length=settings.TALKEE_REACTION_MAX_BYTES, min_length=1)
    remove_hash = Base64BytesField(length=32)


class RemoveReactionSerializer(serializers.Serializer[None]):
    remove_secret = Base64BytesField(length=32, required=False, allow_null=True)


class AckSerializer(serializers.Serializer[None]):
    cursor = serializers.IntegerField(min_value=0, max_value=BIGINT_MAX)


class HistoryQuerySerializer(serializers.Serializer[None]):
    after_seq = serializers.IntegerField(min_value=0, max_value=BIGINT_MAX, required=False, default=0)
    before_seq = serializers.IntegerField(
        min_value=1, max_value=BIGINT_MAX, required=False, allow_null=True, default=None
    )
    limit = serializers.IntegerField(min_value=1, max_value=200, required=False, default=50)
