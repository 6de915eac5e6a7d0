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


PREFERENCE_DEFAULTS = {"calls_when_muted": True, "mentions_when_muted": True}


def preferences(device_id: int) -> dict[str, bool]:
    """The device's push choices in muted chats: do calls ring, do mentions wake it (yes
    to both unless it said no)."""
    row = PushPreference.objects.filter(device_id=device_id).values(*PREFERENCE_DEFAULTS).first()
    return dict(PREFERENCE_DEFAULTS) if row is None else row


def woken_devices_of_chat(chat_id: uuid.UUID | str, addresses: list[str], *, except_user: int | None) -> list[int]:
    """Subscribed devices of the chat's members named in a message's wake list (the users
    it mentions), muted or not, except those that chose not to be woken in muted chats
    they muted. Names that are not members here are ignored."""
    rows = PushSubscription.objects.filter(
        device__user__memberships__chat_id=chat_id, device__user__username__in=addresses
    )
    if except_user is not None:
        rows = rows.exclude(device__user_id=except_user)
    asleep = ChatMute.objects.filter(chat_id=chat_id).filter(Q(until__isnull=True) | Q(until__gt=timezone.now()))
    asleep = asleep.filter(device_id__in=PushPreference.objects.filter(mentions_when_muted=False).values("device_id"))
    rows = rows.exclude(device_id__in=asleep.values("device_id"))
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
