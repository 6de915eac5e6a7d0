from django.db import migrations


def create_stream_row(apps, schema_editor):  # type: ignore[no-untyped-def]
    StreamPosition = apps.get_model("talkee_messages", "StreamPosition")
    StreamPosition.objects.get_or_create(pk=1, defaults={"pos": 0})


class Migration(migrations.Migration):
    dependencies = [("talkee_messages", "0001_initial")]

    operations = [migrations.RunPython(create_stream_row, migrations.RunPython.noop)]
