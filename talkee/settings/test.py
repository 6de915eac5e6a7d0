"""`make test`: the real PostgreSQL and Redis on loopback unless told otherwise."""

import os
import sys

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/talkee")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("TALKEE_INPROCESS_JOBS", "false")
# Web Push on, towards the tests' push-service stand-in on loopback (tests/push/).
os.environ.setdefault("TALKEE_VAPID_SUBJECT", "mailto:operator@localhost")
os.environ.setdefault("TALKEE_PUSH_ALLOW_LOOPBACK", "true")
os.environ.setdefault("TALKEE_PUSH_RETRY_BASE_SECONDS", "0.5")

from talkee.settings.base import *  # noqa: F403
from talkee.settings.base import env

# Separate names let two test runs share one PostgreSQL/Redis (set both per run).
DATABASES["default"]["TEST"] = {"NAME": env.str("TALKEE_TEST_DB", default="test_talkee")}  # noqa: F405
DEBUG = False
SECRET_KEY = "test-only-key"  # noqa: S105
CACHES["default"]["KEY_PREFIX"] = env.str("CACHE_KEY_PREFIX", default="talkee-test")  # noqa: F405

# The pytest process itself: threads of its own (asyncio.to_thread around the test client,
# which keeps its connection open on purpose; Channels' executors) end without closing their
# connections, and a pool keeps each such connection checked out for good — over the whole
# suite it ran dry (PoolTimeout in a late test). Plain connections go with their thread. The
# servers and workers the tests start (other processes) keep the production pool.
if "pytest" in sys.modules:
    DATABASES["default"].get("OPTIONS", {}).pop("pool", None)  # noqa: F405
