from typing import Any

from django.conf import settings
from rest_framework import serializers

from apps.chats.models import TTL_MAX_SECONDS, Chat, Membership
from apps.core.api_fields import BIGINT_MAX, AddressField, Base64BytesField

# A sealed name carries the group's name and, when it has one, its small picture (web/src/app/groupMeta.ts).
NAME_MAX_BYTES = 24 * 1024


class MemberSerializer(serializers.ModelSerializer[Membership]):
    user = serializers.CharField(source="user.username")

    class Meta:
        model = Membership
        fields = ["user", "role", "joined"]


class ChatSerializer(serializers.ModelSerializer[Chat]):
    encrypted_name = Base64BytesField(allow_null=True)
    mls_group_id = Base64BytesField(allow_null=True)
    members = serializers.SerializerMethodField()
    favourite = serializers.SerializerMethodField()
    role = serializers.SerializerMethodField()
    home = serializers.SerializerMethodField(help_text="the instance that orders this chat (its creator's)")

    class Meta:
        model = Chat
        fields = [
            "id",
            "kind",
            "home",
            "encrypted_name",
            "name_epoch",
            "mls_group_id",
            "epoch",
            "ttl_seconds",
            "created",
            "members",
            "role",
            "favourite",
        ]

    def _mine(self, chat: Chat) -> Membership | None:
        user_id = self.context["user_id"]
        return next((m for m in chat.memberships.all() if m.user_id == user_id), None)

    def get_home(self, chat: Chat) -> str:
        return chat.home or str(settings.TALKEE_DOMAIN)

    def get_members(self, chat: Chat) -> list[dict[str, Any]]:
        return list(MemberSerializer(chat.memberships.all(), many=True).data)

    def get_favourite(self, chat: Chat) -> bool:
        mine = self._mine(chat)
        return bool(mine and mine.is_favourite)

    def get_role(self, chat: Chat) -> str | None:
        mine = self._mine(chat)
        return mine.role if mine else None


class ChatCreateSerializer(serializers.Serializer[None]):
    kind = serializers.ChoiceField(choices=Chat.Kind.choices)
    members = serializers.ListField(child=AddressField(), max_length=1000)
    id = serializers.UUIDField(required=False)
    encrypted_name = Base64BytesField(max_length=NAME_MAX_BYTES, required=False, allow_null=True)
    mls_group_id = Base64BytesField(max_length=256, required=False, allow_null=True)
    ttl_seconds = serializers.IntegerField(min_value=1, max_value=TTL_MAX_SECONDS, required=False, allow_null=True)


class AddMembersSerializer(serializers.Serializer[None]):
    users = serializers.ListField(child=AddressField(), min_length=1, max_length=1000)
    role = serializers.ChoiceField(choices=[Membership.Role.MEMBER, Membership.Role.ADMIN], default="member")


class RoleSerializer(serializers.Serializer[None]):
    role = serializers.ChoiceField(choices=Membership.Role.choices)


class NameSerializer(serializers.Serializer[None]):
    encrypted_name = Base64BytesField(max_length=NAME_MAX_BYTES)
    epoch = serializers.IntegerField(min_value=0, max_value=BIGINT_MAX)


class TimerSerializer(serializers.Serializer[None]):
    """`null` turns the chat's self-destruct default off."""

    ttl_seconds = serializers.IntegerField(min_value=1, max_value=TTL_MAX_SECONDS, allow_null=True)
