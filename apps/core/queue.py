"""Queueing a Celery task after a commit, when the broker may be briefly gone.

What the task was queued for is already committed (a message, an envelope): a broker that
is down (Redis restarting) must not turn that into a failed request. The task is skipped
with a warning and the periodic sweep named by `recovered_by` picks the work up later."""

import logging
from typing import Any

from kombu.exceptions import OperationalError as BrokerUnavailable
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger("talkee.queue")

QUEUE_ERRORS = (BrokerUnavailable, RedisConnectionError, RedisTimeoutError)


def enqueue(task: Any, args: tuple[Any, ...] = (), *, recovered_by: str, **options: Any) -> bool:
    """`task.apply_async(args, **options)`; False (and a warning) when the broker is unreachable."""
    try:
        task.apply_async(args, **options)
    except QUEUE_ERRORS as exc:
        logger.warning(
            "task queue unreachable; %s",
            recovered_by,
            extra={"task": getattr(task, "name", repr(task)), "error_type": type(exc).__name__},
        )
        return False
    return True
