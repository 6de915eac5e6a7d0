from django.db import migrations

# PostgreSQL hands out stream positions from a sequence (see apps/messages/stream.py),
# starting after the last position the counter row gave; SQLite keeps the counter row.
SEQUENCE = "talkee_stream_pos"


def create_sequence(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    StreamPosition = apps.get_model("talkee_messages", "StreamPosition")
    last = StreamPosition.objects.filter(pk=1).values_list("pos", flat=True).first() or 0
    schema_editor.execute(f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE} AS bigint MINVALUE 1 START WITH {last + 1}")


def drop_sequence(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    StreamPosition = apps.get_model("talkee_messages", "StreamPosition")
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(f"SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM {SEQUENCE}")
        (last,) = cursor.fetchone()
    StreamPosition.objects.update_or_create(pk=1, defaults={"pos": last})
    schema_editor.execute(f"DROP SEQUENCE IF EXISTS {SEQUENCE}")


class Migration(migrations.Migration):
    dependencies = [("talkee_messages", "0004_reaction_home_id")]

    operations = [migrations.RunPython(create_sequence, drop_sequence)]
