"""The envelope kinds this instance understands and who handles each.

Federation is a transport: it knows peers, keys, signatures and the durable outbox/inbox,
never chats, messages or devices. The app that owns a kind of federated data registers a
handler for its envelope kinds at start-up (its `AppConfig.ready()`, from its own
`federation.py`); the inbox calls it, one origin at a time and in arrival order.

A handler has two steps:
- `prepare(origin, body)` (optional) runs with no transaction open: it may fetch from the
  peer (a forwarded send's files) and store what it fetched. It must be idempotent (it
  may run again if the envelope is handled later). What it returns is handed to `apply`.
- `apply(origin, body)` — or `apply(origin, body, prepared)` for a kind with a `prepare`
  step — runs inside the transaction that marks the envelope handled, so the envelope
  takes effect exactly once. It makes no network call.

Either may raise `Refused` (final, recorded on the envelope) or `RetryLater` (the envelope
and the origin's later ones stay pending, in order, for the inbox sweeper)."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Apply = Callable[..., None]
Prepare = Callable[[str, dict[str, Any]], Any]


class Refused(Exception):
    """The envelope is not acceptable; it is marked handled with this reason."""


class RetryLater(Exception):
    """The envelope cannot be handled now (a peer we must fetch from is unreachable): it
    and the origin's later envelopes stay pending, in order, for the inbox sweeper."""


@dataclass(frozen=True)
class Handler:
    apply: Apply
    prepare: Prepare | None = None
    # Which bodies need the prepare step (the others are applied straight away, in a batch).
    needs_prepare: Callable[[dict[str, Any]], bool] | None = None

    def prepares(self, body: dict[str, Any]) -> bool:
        return self.prepare is not None and (self.needs_prepare is None or self.needs_prepare(body))


def _ping(origin: str, body: dict[str, Any]) -> None:
    """Carries nothing; used to test the transport."""


_HANDLERS: dict[str, Handler] = {"ping": Handler(_ping)}


def register_handler(
    kind: str,
    apply: Apply,
    *,
    prepare: Prepare | None = None,
    needs_prepare: Callable[[dict[str, Any]], bool] | None = None,
) -> None:
    """Who handles envelopes of `kind` (once per kind; at start-up). With a `prepare` step,
    `needs_prepare(body)` says which envelopes need it (all of them when not given)."""
    handler = Handler(apply, prepare, needs_prepare)
    existing = _HANDLERS.get(kind)
    if existing is not None and existing != handler:
        raise ValueError(f"envelope kind {kind!r} already has a handler")
    _HANDLERS[kind] = handler


def handler_for(kind: str) -> Handler:
    return _HANDLERS[kind]


def is_known_kind(kind: object) -> bool:
    return isinstance(kind, str) and kind in _HANDLERS


# Extra fields of /.well-known/talkee/server contributed by other apps (the DNS tunnel's key).
_DISCOVERY_FIELDS: list[Callable[[], dict[str, Any]]] = []


def register_discovery_fields(fields: Callable[[], dict[str, Any]]) -> None:
    if fields not in _DISCOVERY_FIELDS:
        _DISCOVERY_FIELDS.append(fields)


def discovery_fields() -> dict[str, Any]:
    extra: dict[str, Any] = {}
    for fields in _DISCOVERY_FIELDS:
        extra.update(fields())
    return extra
