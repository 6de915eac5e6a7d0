from django.conf import settings
from rest_framework import serializers

from apps.accounts.models import Block
from apps.core.api_fields import AddressField, Base64BytesField, StrictCharField, StrictUUIDField


def password_field() -> serializers.CharField:
    return StrictCharField(max_length=settings.TALKEE_PASSWORD_MAX_LENGTH, trim_whitespace=False)


class RegisterSerializer(serializers.Serializer[None]):
    username = StrictCharField(max_length=64)
    password = password_field()
    recovery_hash = Base64BytesField(length=32)


class RegisterAnswerSerializer(serializers.Serializer[None]):
    user = serializers.CharField()


class ChallengeSerializer(serializers.Serializer[None]):
    username = StrictCharField(max_length=300)


class ChallengeAnswerSerializer(serializers.Serializer[None]):
    nonce = serializers.CharField()


class DeviceKeysSerializer(serializers.Serializer[None]):
    client_device_id = StrictUUIDField()
    ed25519_pub = Base64BytesField(length=32)
    x25519_pub = Base64BytesField(length=32)
    label = StrictCharField(max_length=64, allow_blank=True, required=False, default="")  # type: ignore[assignment]


class LoginSerializer(serializers.Serializer[None]):
    username = StrictCharField(max_length=300)
    password = password_field()
    device = DeviceKeysSerializer()
    nonce = StrictCharField(max_length=64)
    signature = Base64BytesField(length=64)
    interactive = serializers.BooleanField(
        required=False,
        default=True,
        help_text="false: the client signs in again with a password it kept (not typed now); "
        "refused (401 signed_out) for a device signed out from another one.",
    )


class LoginAnswerSerializer(serializers.Serializer[None]):
    token = serializers.CharField()
    device_id = serializers.IntegerField()
    user = serializers.CharField()


class RecoverSerializer(serializers.Serializer[None]):
    username = StrictCharField(max_length=300)
    recovery_proof = Base64BytesField(length=32)
    new_password = password_field()


class ChangePasswordSerializer(serializers.Serializer[None]):
    current_password = password_field()
    new_password = password_field()
    log_out_other_devices = serializers.BooleanField(required=False, default=False)


class SignedOutAnswerSerializer(serializers.Serializer[None]):
    signed_out = serializers.IntegerField(help_text="How many other devices were signed out.")


class ProfileSerializer(serializers.Serializer[None]):
    version = serializers.IntegerField(
        min_value=1,
        max_value=2**53 - 1,
        help_text="Higher than the stored profile's version (409 stale_profile_version otherwise).",
    )
    ciphertext = Base64BytesField(
        min_length=1,
        help_text="The profile sealed by the client under its profile key (the server cannot open it); "
        "at most TALKEE_PROFILE_MAX_BYTES (413 profile_too_large).",
    )


class ProfileAnswerSerializer(serializers.Serializer[None]):
    user = serializers.CharField(help_text="localpart@domain")
    version = serializers.IntegerField()
    ciphertext = Base64BytesField()


class DeleteAccountSerializer(serializers.Serializer[None]):
    password = password_field()


class BlockRequestSerializer(serializers.Serializer[None]):
    user = AddressField(help_text="The address to block: `bob` (this instance) or `bob@their.server`.")


class BlockSerializer(serializers.Serializer[Block]):
    user = serializers.CharField(source="blocked.username", help_text="The blocked person's full address.")
    created = serializers.DateTimeField()
