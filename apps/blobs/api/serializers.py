from rest_framework import serializers

from apps.core.api_fields import BIGINT_MAX, StrictUUIDField


class CreateBlobSerializer(serializers.Serializer[None]):
    """Start an upload. Anything else sent along (a file name, a type) is ignored and
    never stored: those travel only inside the encrypted message."""

    chat_id = StrictUUIDField()
    size = serializers.IntegerField(min_value=1, max_value=BIGINT_MAX)


class BlobCreatedSerializer(serializers.Serializer[None]):
    id = serializers.UUIDField()
    size = serializers.IntegerField()
    chunk_size = serializers.IntegerField()
    chunk_count = serializers.IntegerField()
    expires_at = serializers.DateTimeField()


class UploadStatusSerializer(serializers.Serializer[None]):
    id = serializers.UUIDField()
    size = serializers.IntegerField()
    chunk_size = serializers.IntegerField()
    chunk_count = serializers.IntegerField()
    received = serializers.ListField(child=serializers.IntegerField())
    complete = serializers.BooleanField()


class ChunkStoredSerializer(serializers.Serializer[None]):
    index = serializers.IntegerField()
    length = serializers.IntegerField()


class BlobCompletedSerializer(serializers.Serializer[None]):
    id = serializers.UUIDField()
    size = serializers.IntegerField()
