from django.db.models import Count, QuerySet

from apps.devices.models import Device


def devices_of(user_id: int) -> QuerySet[Device]:
    return Device.objects.filter(user_id=user_id).annotate(keypackage_count=Count("keypackages")).order_by("created")
