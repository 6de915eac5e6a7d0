import signal
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.adminpanel.backup import BackupError, do_backup


def _stop(signum: int, frame: FrameType | None) -> None:
    # SIGTERM (docker stop, systemd) and Ctrl-C unwind the backup: the temporary files are
    # removed, pg_dump is stopped, and one line says what happened (no traceback).
    raise SystemExit(f"backup interrupted by signal {signum}; no archive was written")


class Command(BaseCommand):
    help = (
        "Write one archive with a consistent snapshot of the database, the blob store and the instance's "
        "keys (README, Operations: Backup and restore). PATH is a new file, or a directory to put "
        "talkee-backup-<time>.tar in."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        try:
            summary = do_backup(options["path"])
        except BackupError as error:
            raise CommandError(f"Backup failed, no archive was written: {error}") from None
        self.stdout.write(
            f"Backup written: {summary.archive} ({summary.archive_bytes} bytes; {summary.blob_files} blob files, "
            f"{summary.blob_bytes} bytes; {summary.key_files} key files). It holds the instance's private keys: "
            "keep it as safe as the keys themselves."
        )
        if not summary.key_files:
            self.stderr.write(
                f"Warning: {settings.TALKEE_KEY_DIR} holds no key files; a restore from this archive "
                "starts with a new instance key, which peers that pinned the old one refuse."
            )
