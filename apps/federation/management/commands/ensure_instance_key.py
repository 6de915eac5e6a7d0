from typing import Any

from django.core.management.base import BaseCommand

from apps.core.b64 import b64
from apps.federation.instance_key import ensure_instance_key, instance_signing_key, key_path


class Command(BaseCommand):
    help = "Create the instance's Ed25519 key on first run; never replaces an existing one."

    def handle(self, *args: Any, **options: Any) -> None:
        created = ensure_instance_key()
        public = b64(bytes(instance_signing_key().verify_key))
        state = "created" if created else "kept"
        self.stdout.write(f"instance key {state}: {key_path()} (public {public})")
