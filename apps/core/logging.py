"""JSON log lines on stdout: one object per line, easy to ship and to grep in tests."""

import json
import logging
from datetime import UTC, datetime

_RESERVED = set(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    """Our own loggers' (`talkee.*`) extra fields become fields of the line; other libraries'
    extras are left out (Celery's carry task arguments: chat and device ids), except the
    request id every line gets."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        ours = record.name == "talkee" or record.name.startswith("talkee.")
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_") and (ours or key == "request_id"):
                line[key] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


# The API's own paths (answered in the JSON error shape by apps/core/errors.py).
API_PREFIXES = ("/v1/", "/s2s/", "/healthz", "/readyz", "/metrics", "/.well-known/")


class DropApiPathRecords(logging.Filter):
    """For django.request: its lines quote the path, and API paths hold ids (chats, devices,
    messages). API errors are logged by ApiErrorMiddleware and request lines by
    RequestLogMiddleware, both naming the route instead; other paths keep Django's lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        path = getattr(getattr(record, "request", None), "path", "")
        return not (isinstance(path, str) and path.startswith(API_PREFIXES))
