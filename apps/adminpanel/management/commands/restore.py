from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.adminpanel.backup import BackupError, do_restore


class Command(BaseCommand):
    help = (
        "Restore an archive written by `manage.py backup` into this (stopped, fresh) instance: database, "
        "blob store and keys. Every checksum is verified before anything changes; a database that "
        "already holds data is replaced only with --force. Run `manage.py migrate` afterwards."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)
        parser.add_argument(
            "--force", action="store_true", help="replace a database that already holds data (it is lost)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            summary = do_restore(options["path"], force=options["force"])
        except BackupError as error:
            raise CommandError(f"Restore failed: {error}") from None
        self.stdout.write(
            f"Restored {summary.domain}: the database, {summary.blob_files} blob files and "
            f"{summary.key_files} key files. Next: `manage.py migrate`, then start the instance."
        )
