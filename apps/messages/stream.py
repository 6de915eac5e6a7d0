"""The one place stream positions are handed out (see models.py for why)."""

from django.db import connection, transaction

from apps.messages.models import StreamPosition


def allocate_positions(count: int = 1) -> int:
    """Reserve `count` consecutive positions and return the first.

    Must run inside the writing transaction, as late as possible: the counter row stays
    locked until commit, which is what makes positions visible in commit order."""
    assert transaction.get_connection().in_atomic_block, "allocate positions inside the writing transaction"
    table = StreamPosition._meta.db_table
    update = f"UPDATE {table} SET pos = pos + %s WHERE id = 1 RETURNING pos"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(update, [count])
        row = cursor.fetchone()
        if row is None:
            # The migration creates the row; a flushed database (tests) may not have it.
            cursor.execute(f"INSERT INTO {table} (id, pos) VALUES (1, 0) ON CONFLICT (id) DO NOTHING")  # noqa: S608
            cursor.execute(update, [count])
            row = cursor.fetchone()
    assert row is not None
    return int(row[0]) - count + 1


def current_position() -> int:
    return int(StreamPosition.objects.filter(pk=1).values_list("pos", flat=True).first() or 0)
