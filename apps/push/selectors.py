import uuid

from django.db.models import Q
from django.utils import timezone

from apps.push.models import ChatMute, PushSubscription


def subscribed_devices_of_chat(chat_id: uuid.UUID | str, *, except_user: int | None, skip_muted: bool) -> list[int]:
    """Devices of the chat's members with a push subscription (not the sender's, and not
    those that muted the chat when `skip_muted`)."""
    rows = PushSubscription.objects.filter(device__user__memberships__chat_id=chat_id)
    if except_user is not None:
        rows = rows.exclude(device__user_id=except_user)
    if skip_muted:
        muted = ChatMute.objects.filter(chat_id=chat_id).filter(Q(until__isnull=True) | Q(until__gt=timezone.now()))
        rows = rows.exclude(device_id__in=muted.values("device_id"))
    return list(rows.values_list("device_id", flat=True).distinct())


def mutes_of(device_id: int) -> list[ChatMute]:
    now = timezone.now()
    return list(ChatMute.objects.filter(device_id=device_id).filter(Q(until__isnull=True) | Q(until__gt=now)))


def muted_device_chats(device_ids: list[int]) -> set[tuple[int, str]]:
    """(device, chat) pairs these devices muted for now."""
    rows = (
        ChatMute.objects.filter(device_id__in=device_ids)
        .filter(Q(until__isnull=True) | Q(until__gt=timezone.now()))
        .values_list("device_id", "chat_id")
    )
    return {(device_id, str(chat_id)) for device_id, chat_id in rows}
