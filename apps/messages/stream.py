"""The one place stream positions are handed out and the stream's readable end is read.

Every row a device must see carries a position; a device's cursor is the highest position
it has processed, and resume replays every visible row after it. So a reader must never
advance past a position whose transaction might still commit: that row would fall behind
every cursor that moved past it.

**PostgreSQL** (many writers, after Synapse's multi-writer id generator): positions come
from a sequence, so writers in different chats never wait on each other. A writer marks
itself in flight before it draws a position: it takes a *shared* transaction-level
advisory lock keyed by the sequence's next value (which is at most the position it then
draws) and holds it until commit or rollback — a crashed writer's lock goes with its
backend. The stream's readable end (`current_position`, "persisted up to") is the
sequence's last value, capped just below the lowest key still locked. It reads the
sequence first and the locks second: a writer that drew a position at or below that last
value had taken its lock before, so the lock is seen unless it has ended — and a lock is
released only once the transaction's rows are visible. Positions of rolled-back writers
are gaps, which readers skip.

Live frames are published only once everything below them has ended (`wait_persisted`),
so a socket never forwards position N while a lower position M might still commit: a
client that processed N and resumes from it cannot skip M.

**SQLite** (one writer at a time): the counter row (id=1), updated inside the writing
transaction; its row lock makes positions visible in commit order.
"""

from collections.abc import Iterable

from django.db import OperationalError, connection, transaction

from apps.messages.models import StreamPosition

SEQUENCE = "talkee_stream_pos"
# Advisory-lock keys of in-flight positions: this prefix in the top 16 bits, the
# position in the low 48 (positions stay far below 2**48).
LOCK_SPACE = 0x7A1E << 48
WAIT_SECONDS = 10

# The in-flight lock's key: the sequence's next value, at most the position drawn after it.
DRAW_KEY = f"{LOCK_SPACE} + last_value + CASE WHEN is_called THEN 1 ELSE 0 END"
# The shared lock first (a MATERIALIZED CTE is scanned before the outer projection that
# draws), then the positions.
_DRAW = f"""
WITH inflight AS MATERIALIZED (
    SELECT pg_advisory_xact_lock_shared({DRAW_KEY}) FROM {SEQUENCE}
)
SELECT nextval('{SEQUENCE}') FROM inflight, generate_series(1, %s) ORDER BY 1
"""  # noqa: S608

# Keys (as positions) of other transactions' in-flight locks, in this database.
_INFLIGHT = f"""
SELECT ((k.classid::bigint << 32) | k.objid::bigint) - {LOCK_SPACE} AS pos
FROM pg_locks k
WHERE k.locktype = 'advisory' AND k.objsubid = 1 AND k.mode = 'ShareLock'
  AND k.classid::bigint >= {LOCK_SPACE >> 32} AND k.classid::bigint < {(LOCK_SPACE >> 32) + 65536}
  AND k.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND k.pid <> pg_backend_pid()
"""  # noqa: S608

# The sequence's last value first (materialised), then the lowest in-flight key at or
# below it (a subplan correlated with that value, so evaluated after it).
PERSISTED_CTE = f"drawn AS MATERIALIZED (SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS pos FROM {SEQUENCE})"  # noqa: S608
PERSISTED = f"LEAST(drawn.pos, (SELECT min(f.pos) - 1 FROM ({_INFLIGHT}) f WHERE f.pos <= drawn.pos))"  # noqa: S608
_PERSISTED = f"WITH {PERSISTED_CTE} SELECT {PERSISTED} FROM drawn"  # noqa: S608

# For a statement that draws its own position (with DRAW_KEY, as _DRAW): evaluated after
# the draw, the lower positions still in flight (what its live publish waits for).
INFLIGHT_BELOW = f"(SELECT array_agg(f.pos) FROM ({_INFLIGHT}) f WHERE f.pos < position.pos)"  # noqa: S608


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
    """Other transactions' in-flight positions (lock keys) below `position`."""
    if not uses_sequence():
        return []
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT f.pos FROM ({_INFLIGHT}) f WHERE f.pos < %s", [position])  # noqa: S608
        return [int(row[0]) for row in cursor.fetchall()]


def wait_persisted(position: int, inflight: Iterable[int] | None = None) -> bool:
    """Wait (outside any writing transaction) until no position below `position` is in
    flight; `inflight` = those seen in flight by the writer itself, if it looked. True
    when that is so; False after WAIT_SECONDS (a writer stuck in an open transaction)."""
    keys = sorted(set(inflight_below(position) if inflight is None else inflight))
    if not keys:
        return True
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SET LOCAL lock_timeout = '{WAIT_SECONDS}s'")
            for key in keys:
                # Exclusive: granted once every writer holding the key shared has ended.
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_SPACE + key])
    except OperationalError:
        return False
    return True
