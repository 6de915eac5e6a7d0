from django.conf import settings
from rest_framework import serializers

from apps.core.api_fields import BIGINT_MAX, AddressField, Base64BytesField, BoundedListField
from apps.core.b64 import b64
from apps.devices.models import Device


class DeviceSerializer(serializers.ModelSerializer[Device]):
    ed25519_pub = Base64BytesField(length=32)
    x25519_pub = Base64BytesField(length=32)
    keypackage_count = serializers.IntegerField(read_only=True)
    current = serializers.SerializerMethodField()
    signed_in = serializers.BooleanField(read_only=True, default=True)
    certificate = Base64BytesField(allow_null=True, read_only=True)
    sealed_identity = serializers.SerializerMethodField()

    class Meta:
        model = Device
        fields = [
            "id",
            "client_device_id",
            "label",
            "ed25519_pub",
            "x25519_pub",
            "created",
            "last_seen",
            "keypackage_count",
            "current",
            "signed_in",
            "certificate",
            "sealed_identity",
        ]

    def get_current(self, device: Device) -> bool:
        return bool(device.pk == self.context.get("current_device_id"))

    def get_sealed_identity(self, device: Device) -> str | None:
        """The identity key sealed to this device by the device that approved it: shown to that device only."""
        if device.pk != self.context.get("current_device_id") or device.sealed_identity is None:
            return None
        return b64(device.sealed_identity)


class KeyPackageUploadSerializer(serializers.Serializer[None]):
    keypackages = BoundedListField(
        child=Base64BytesField(max_length=settings.TALKEE_KEYPACKAGE_MAX_BYTES),
        min_length=1,
        max_length=settings.TALKEE_KEYPACKAGE_BATCH_MAX,
    )


class SyncBundleSerializer(serializers.Serializer[None]):
    to_device_id = serializers.IntegerField(min_value=1, max_value=BIGINT_MAX)
    chat_id = serializers.UUIDField()
    # The cap is checked in the service so the answer is 413, not 400.
    ciphertext = Base64BytesField(min_length=1)


class KeyPackageClaimSerializer(serializers.Serializer[None]):
    users = BoundedListField(child=AddressField(), min_length=1, max_length=100)
    # Only these devices of those users (adding one new device must not use up its siblings' pools).
    device_ids = BoundedListField(
        child=serializers.IntegerField(min_value=1, max_value=BIGINT_MAX), min_length=1, max_length=100, required=False
    )


class ClaimedKeyPackageSerializer(serializers.Serializer[dict[str, object]]):
    device_id = serializers.IntegerField()
    client_device_id = serializers.UUIDField()
    keypackage = Base64BytesField(allow_null=True)
    # The user's identity key and this device's certificate (null: none set / uncertified).
    identity_key = Base64BytesField(allow_null=True, default=None)
    certificate = Base64BytesField(allow_null=True, default=None)


class CertificateSerializer(serializers.Serializer[None]):
    identity_key = Base64BytesField(length=32)
    certificate = Base64BytesField(min_length=1, max_length=1024)
    # Approving another device: the identity key sealed to that device's X25519 key.
    sealed_identity = Base64BytesField(min_length=1, max_length=512, required=False)
