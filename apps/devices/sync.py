"""History-sync bundles: an already-synced device seals a chat's history for a new device
of the same user (libsodium crypto_box_seal to its X25519 key) and the server passes it
on. The server sees only (from_device, to_device, chat, ciphertext)."""

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from apps.accounts.models import Session
from apps.chats.selectors import membership_of
from apps.core.errors import Forbidden, NotFound, ServiceError
from apps.devices.models import Device
from apps.messages.delivery import add_inbox_rows
from apps.messages.models import DeviceCursor, DeviceInbox


def do_store_sync_bundle(session: Session, to_device_id: int, chat_id: uuid.UUID, ciphertext: bytes) -> DeviceInbox:
    if len(ciphertext) > settings.TALKEE_SYNC_BUNDLE_MAX_BYTES:
        raise ServiceError(
            f"A bundle may be at most {settings.TALKEE_SYNC_BUNDLE_MAX_BYTES} bytes; split larger histories.",
            code="bundle_too_large",
            status=413,
        )
    target = Device.objects.filter(pk=to_device_id).first()
    if target is None or target.user_id != session.user_id:
        raise Forbidden("History bundles go only to your own devices.", code="not_your_device")
    if membership_of(chat_id, session.user_id) is None:
        raise NotFound("No such chat.", code="chat_not_found")
    with transaction.atomic():
        (row,) = add_inbox_rows(
            [
                DeviceInbox(
                    device=target,
                    kind=DeviceInbox.Kind.SYNC_BUNDLE,
                    chat_id=chat_id,
                    payload=ciphertext,
                    from_device_id=session.device_id,
                )
            ]
        )
    return row


def purge_stale_sync_bundles() -> int:
    """Drop bundles older than the TTL (24 h) or already acknowledged by their device."""
    cutoff = timezone.now() - timedelta(seconds=settings.TALKEE_SYNC_BUNDLE_TTL_SECONDS)
    acked = DeviceCursor.objects.filter(device_id=models.OuterRef("device_id"), pos__gte=models.OuterRef("pos"))
    deleted, _ = (
        DeviceInbox.objects.filter(kind=DeviceInbox.Kind.SYNC_BUNDLE)
        .filter(models.Q(created__lt=cutoff) | models.Exists(acked))
        .delete()
    )
    return deleted
