"""The one place stream positions are handed out and the stream's readable end is read.

Every row a device must see carries a position; a device's cursor is the highest position
it has processed, and resume replays every visible row after it. So a reader must never
advance past a position whose transaction might still commit: that row would fall behind
every cursor that moved past it.

**PostgreSQL** (many writers, after Synapse's multi-writer id generator): positions come
from a sequence, so writers in different chats never wait on each other. A writer marks
itself in flight before it draws a position: it takes a *shared* transaction-level
advisory lock keyed by the sequence's next value (its guard: at most the position it then
draws), and right after the draw one keyed by its exact position; it holds both until
commit or rollback — a crashed writer's locks go with its backend. The stream's readable
end (`current_position`, "persisted up to") is the sequence's last value, capped just below
the lowest position still locked (a writer's exact key, or its guard while it has none). It
reads the sequence first and the locks second: a writer that drew a position at or below
that last value had taken its guard before, so it is seen unless it has ended — and a lock
is released only once the transaction's rows are visible. Positions of rolled-back writers
are gaps, which readers skip.

Live frames are published only once everything below them has ended (`wait_persisted`),
so a socket never forwards position N while a lower position M might still commit: a
client that processed N and resumes from it cannot skip M.

**SQLite** (one writer at a time): the counter row (id=1), updated inside the writing
transaction; its row lock makes positions visible in commit order.
"""

from collections.abc import Iterable
from contextlib import nullcontext

from django.db import OperationalError, connection, transaction

from apps.messages.models import StreamPosition

SEQUENCE = "talkee_stream_pos"
# Advisory-lock keys, the space in the top 16 bits and a position in the low 48
# (positions stay far below 2**48). A writer holds two, shared, until it ends: a *guard*
# taken before it draws (the sequence's next value: at most the position it then draws)
# and, right after the draw, its *exact* (lowest) position. A writer seen with an exact
# key is in flight from that position on; one seen with a guard only is between the two
# steps, and counts from its guard.
GUARD_SPACE = 0x7A1E << 48
EXACT_SPACE = 0x7A1F << 48
WAIT_SECONDS = 10

# The guard's key.
DRAW_KEY = f"{GUARD_SPACE} + last_value + CASE WHEN is_called THEN 1 ELSE 0 END"
# The guard first (a MATERIALIZED CTE is scanned before what reads it), then the draw,
# then the exact key of the lowest position drawn.
_DRAW = f"""
WITH guard AS MATERIALIZED (
    SELECT pg_advisory_xact_lock_shared({DRAW_KEY}) FROM {SEQUENCE}
), drawn AS MATERIALIZED (
    SELECT nextval('{SEQUENCE}') AS pos FROM guard, generate_series(1, %s)
), exact AS MATERIALIZED (
    SELECT pg_advisory_xact_lock_shared({EXACT_SPACE} + min(pos)) FROM drawn
)
SELECT pos FROM drawn, exact ORDER BY pos
"""  # noqa: S608

# Other transactions in flight in this database: per writer, the lowest position it may
# still commit (`pos`) and the lock key that is held until it ends (`lock`).
_INFLIGHT = f"""
SELECT l.lock - CASE WHEN l.lock >= {EXACT_SPACE} THEN {EXACT_SPACE} ELSE {GUARD_SPACE} END AS pos, l.lock
FROM (
    SELECT COALESCE(min(k.key) FILTER (WHERE k.key >= {EXACT_SPACE}), min(k.key)) AS lock
    FROM (
        SELECT p.pid, (p.classid::bigint << 32) | p.objid::bigint AS key
        FROM pg_locks p
        WHERE p.locktype = 'advisory' AND p.objsubid = 1 AND p.mode = 'ShareLock'
          AND p.classid::bigint >= {GUARD_SPACE >> 32} AND p.classid::bigint < {(EXACT_SPACE >> 32) + 65536}
          AND p.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND p.pid <> pg_backend_pid()
    ) k
    GROUP BY k.pid
) l
"""  # noqa: S608

# The sequence's last value first (materialised), then the lowest in-flight position at or
# below it (a subplan correlated with that value, so evaluated after it).
PERSISTED_CTE = f"drawn AS MATERIALIZED (SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS pos FROM {SEQUENCE})"  # noqa: S608
PERSISTED = f"LEAST(drawn.pos, (SELECT min(f.pos) - 1 FROM ({_INFLIGHT}) f WHERE f.pos <= drawn.pos))"  # noqa: S608
_PERSISTED = f"WITH {PERSISTED_CTE} SELECT {PERSISTED} FROM drawn"  # noqa: S608

# For a statement that draws its own position (guard DRAW_KEY, then EXACT_SPACE + pos, as
# _DRAW): evaluated after the draw, the locks of lower positions still in flight (what its
# live publish waits for).
INFLIGHT_BELOW = f"(SELECT array_agg(f.lock) FROM ({_INFLIGHT}) f WHERE f.pos < position.pos)"  # noqa: S608

# Exclusive on each: granted once the writer holding it shared has ended. The timeout is
# set for this statement's own transaction, before the waits.
_WAIT = """
WITH timeout AS MATERIALIZED (SELECT set_config('lock_timeout', %s, true))
SELECT count(pg_advisory_xact_lock(k)) FROM timeout, unnest(%s::bigint[]) AS k
"""


def uses_sequence() -> bool:
    return connection.vendor == "postgresql"


def allocate_positions(count: int = 1) -> list[int]:
    """Reserve `count` positions (ascending, not necessarily consecutive on PostgreSQL).

    Must run inside the writing transaction: the position stays in flight until it ends."""
    assert transaction.get_connection().in_atomic_block, "allocate positions inside the writing transaction"
    with connection.cursor() as cursor:
        if uses_sequence():
            cursor.execute(_DRAW, [count])
            return [int(row[0]) for row in cursor.fetchall()]
        table = StreamPosition._meta.db_table
        update = f"UPDATE {table} SET pos = pos + %s WHERE id = 1 RETURNING pos"  # noqa: S608
        cursor.execute(update, [count])
        row = cursor.fetchone()
        if row is None:
            # The migration creates the row; a flushed database (tests) may not have it.
            cursor.execute(f"INSERT INTO {table} (id, pos) VALUES (1, 0) ON CONFLICT (id) DO NOTHING")  # noqa: S608
            cursor.execute(update, [count])
            row = cursor.fetchone()
    assert row is not None
    last = int(row[0])
    return list(range(last - count + 1, last + 1))


def allocate_position() -> int:
    return allocate_positions(1)[0]


def current_position() -> int:
    """The stream's readable end: every position up to here has committed or rolled back."""
    if uses_sequence():
        with connection.cursor() as cursor:
            cursor.execute(_PERSISTED)
            row = cursor.fetchone()
        return int(row[0]) if row and row[0] is not None else 0
    return int(StreamPosition.objects.filter(pk=1).values_list("pos", flat=True).first() or 0)


def inflight_below(position: int) -> list[int]:
    """The locks of other transactions' in-flight positions below `position`."""
    if not uses_sequence():
        return []
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT f.lock FROM ({_INFLIGHT}) f WHERE f.pos < %s", [position])  # noqa: S608
        return [int(row[0]) for row in cursor.fetchall()]


def wait_persisted(position: int, inflight: Iterable[int] | None = None) -> bool:
    """Wait (outside any writing transaction) until no position below `position` is in
    flight; `inflight` = the locks the writer itself saw in flight below it, if it looked.
    True when that is so; False after WAIT_SECONDS (a writer stuck in an open transaction)."""
    keys = sorted(set(inflight_below(position) if inflight is None else inflight))
    if not keys:
        return True
    try:
        # Under autocommit one statement is its own transaction: the exclusive locks go
        # with it (inside an atomic block, with the block).
        with transaction.atomic() if connection.in_atomic_block else nullcontext(), connection.cursor() as cursor:
            cursor.execute(_WAIT, [f"{WAIT_SECONDS}s", keys])
    except OperationalError:
        return False
    return True
