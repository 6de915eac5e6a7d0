from typing import Any

from django.apps import AppConfig


class PushConfig(AppConfig):
    name = "apps.push"
    label = "push"

    def ready(self) -> None:
        # Push sits above messages: messages announces, push listens (never the reverse).
        from apps.messages.signals import call_signalled, device_events_stored, message_stored

        message_stored.connect(_on_message_stored, dispatch_uid="push.message_stored")
        call_signalled.connect(_on_call_signalled, dispatch_uid="push.call_signalled")
        device_events_stored.connect(_on_device_events, dispatch_uid="push.device_events_stored")


def _on_message_stored(
    sender: object, *, chat_id: str, user_id: int | None, kind: str, wake: list[str] | None = None, **_: Any
) -> None:
    from apps.push import services

    if kind == "application":
        services.queue_chat_notice(chat_id, user_id, services.MESSAGE, wake)


def _on_call_signalled(sender: object, *, chat_id: str, user_id: int | None, **_: Any) -> None:
    from apps.push import services

    services.queue_chat_notice(chat_id, user_id, services.CALL)


def _on_device_events(sender: object, *, pairs: list[tuple[int, str]], **_: Any) -> None:
    from apps.push import services

    services.queue_device_notices(pairs)
