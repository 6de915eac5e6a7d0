"""Periodic jobs inside the server process, for the embedded default.

With no broker (`make run` on a fresh machine) the Celery beat schedule is driven by a
daemon thread: the same task functions, called through Celery's `apply()` on their
schedule. With a broker, `make worker` runs the real worker + beat instead.

Once the server's event loop is known (the first request or socket), jobs run through
it, so the events they publish reach sockets on the in-memory channel layer, which only
works from its own loop.
"""

import asyncio
import logging
import threading
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import close_old_connections

from apps.core.eventloop import server_loop_from_a_thread
from talkee.celery import app as celery_app

logger = logging.getLogger("talkee.jobs")
_started = threading.Event()


def _run(task: Any) -> None:
    loop = server_loop_from_a_thread()
    if loop is None:
        task.apply()
        return
    future = asyncio.run_coroutine_threadsafe(sync_to_async(task.apply, thread_sensitive=False)(), loop)
    future.result(timeout=300)


def _run_forever(stop: threading.Event) -> None:
    celery_app.loader.import_default_modules()
    schedule = {name: float(str(entry["schedule"])) for name, entry in settings.CELERY_BEAT_SCHEDULE.items()}
    next_run = dict.fromkeys(schedule, time.monotonic())
    while not stop.wait(0.5):
        now = time.monotonic()
        for name, interval in schedule.items():
            if now < next_run[name]:
                continue
            next_run[name] = now + interval
            task_name = str(settings.CELERY_BEAT_SCHEDULE[name]["task"])
            try:
                _run(celery_app.tasks[task_name])
            except Exception:
                logger.exception("periodic job failed", extra={"job": name})
            finally:
                close_old_connections()


def start_inprocess_jobs() -> threading.Event | None:
    """Start the in-process scheduler once per process, when configured to."""
    if not settings.TALKEE_INPROCESS_JOBS or _started.is_set():
        return None
    _started.set()
    stop = threading.Event()
    threading.Thread(target=_run_forever, args=(stop,), name="talkee-jobs", daemon=True).start()
    logger.info("in-process periodic jobs started", extra={"jobs": sorted(settings.CELERY_BEAT_SCHEDULE)})
    return stop
