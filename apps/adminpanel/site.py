"""The operator's admin site. Admin actions are structured log lines on stdout only:
Django's LogEntry table is never written (it would be a record of who did what to whom
inside the database)."""

import logging
from collections.abc import Iterable
from typing import Any

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

audit = logging.getLogger("talkee.admin")


def log_admin_action(request: HttpRequest, action: str, objects: Iterable[Model], **extra: Any) -> None:
    user = getattr(request, "user", None)
    for obj in objects:
        audit.info(
            "admin action",
            extra={
                "who": getattr(user, "username", None),
                "what": action,
                "model": obj._meta.label,
                "object_id": str(obj.pk),
                **extra,
            },
        )


class EphemeralLogModelAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Replaces every LogEntry write of ModelAdmin with a JSON log line."""

    def log_addition(self, request: HttpRequest, obj: Model, message: Any) -> None:  # type: ignore[override]
        log_admin_action(request, "add", [obj])

    def log_change(self, request: HttpRequest, obj: Model, message: Any) -> None:  # type: ignore[override]
        log_admin_action(request, "change", [obj])

    def log_deletion(self, request: HttpRequest, obj: Model, object_repr: str) -> None:  # type: ignore[override]
        log_admin_action(request, "delete", [obj])

    def log_deletions(self, request: HttpRequest, queryset: Any) -> None:  # type: ignore[override]
        log_admin_action(request, "delete", list(queryset))


class TalkeeAdminSite(admin.AdminSite):
    site_header = "Talkee administration"
    site_title = "Talkee admin"
    index_title = "Instance"


admin_site = TalkeeAdminSite(name="admin")
