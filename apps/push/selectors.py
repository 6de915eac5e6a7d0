import uuid

from django.db.models import Q
from django.utils import timezone

from apps.push.models import ChatMute, PushPreference, PushSubscription


def subscribed_devices_of_chat(chat_id: uuid.UUID | str, *, except_user: int | None, call: bool) -> list[int]:
    """Devices of the chat's members with a push subscription: not the sender's, and not
    those that muted the chat — for a call, only those that also chose calls not to ring
    in muted chats."""
    rows = PushSubscription.objects.filter(device__user__memberships__chat_id=chat_id)
    if except_user is not None:
        rows = rows.exclude(device__user_id=except_user)
    muted = ChatMute.objects.filter(chat_id=chat_id).filter(Q(until__isnull=True) | Q(until__gt=timezone.now()))
    if call:
        silenced = PushPreference.objects.filter(calls_when_muted=False).values("device_id")
        muted = muted.filter(device_id__in=silenced)
    rows = rows.exclude(device_id__in=muted.values("device_id"))
    return list(rows.values_list("device_id", flat=True).distinct())


def calls_when_muted(device_id: int) -> bool:
    """Whether calls ring on the device in chats it muted (yes unless it said no)."""
    value = PushPreference.objects.filter(device_id=device_id).values_list("calls_when_muted", flat=True).first()
    return True if value is None else value


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
