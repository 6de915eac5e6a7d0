"""Push tasks: they take ids, run in the worker, and are safe to run twice."""

from typing import Any

from celery import shared_task

from apps.push import services


@shared_task(acks_late=True, ignore_result=True)
def notify_chat(chat_id: str, user_id: int | None, kind: str, wake: list[str] | None = None) -> int:
    return services.do_fan_out(chat_id, user_id, kind, wake)


@shared_task(acks_late=True, ignore_result=True)
def notify_devices(pairs: list[list[Any]]) -> int:
    return services.do_fan_out_devices([(int(d), str(c)) for d, c in pairs])


@shared_task(acks_late=True, ignore_result=True)
def flush_device_window(device_id: int) -> None:
    services.do_flush_window(device_id)


@shared_task(acks_late=True, ignore_result=True)
def push_to_device(device_id: int, kind: str, chat_ref: str | None, attempt: int) -> None:
    delay = services.do_push(device_id, kind, chat_ref, attempt)
    if delay is not None:
        services.schedule(push_to_device, (device_id, kind, chat_ref, attempt + 1), countdown=delay)
