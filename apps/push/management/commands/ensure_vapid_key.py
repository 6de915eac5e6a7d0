from typing import Any

from django.core.management.base import BaseCommand

from apps.push.vapid import ensure_vapid_key, key_path, vapid_public_key


class Command(BaseCommand):
    help = "Create the instance's VAPID (Web Push) key on first run; never replaces an existing one."

    def handle(self, *args: Any, **options: Any) -> None:
        created = ensure_vapid_key()
        state = "created" if created else "kept"
        self.stdout.write(f"VAPID key {state}: {key_path()} (public {vapid_public_key()})")
