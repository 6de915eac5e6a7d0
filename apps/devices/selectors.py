import uuid

from django.db.models import Count, Exists, OuterRef, QuerySet

from apps.accounts.models import Session
from apps.devices.models import Device


def devices_of(user_id: int) -> QuerySet[Device]:
    return (
        Device.objects.filter(user_id=user_id)
        .annotate(
            keypackage_count=Count("keypackages"),
            # Signed out from another device (or logged out): the device stays until revoked.
            signed_in=Exists(Session.objects.filter(device_id=OuterRef("pk"))),
        )
        .order_by("created")
    )


def device_ids_of(address: str, client_device_ids: list[uuid.UUID]) -> list[int]:
    """This instance's ids of a user's devices named by their client device ids."""
    return list(
        Device.objects.filter(user__username=address, client_device_id__in=client_device_ids).values_list(
            "pk", flat=True
        )
    )
