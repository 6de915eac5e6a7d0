"""bench/push: how fast the notify path pushes to a push service, and how long until the
last of N offline members of a group is pushed after one message.

Not a test, not run by CI. A database of its own (`talkee_bench_push`, created and
migrated here), Redis db 11 under its own prefix, a real Celery worker (threads pool), and
the loopback push-service stand-in from tests/push (VAPID verified, every payload
decrypted). Usage:

    .venv/bin/python bench/push/run.py [--members 1000] [--concurrency 8]
"""

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT))
ENV = {
    "DJANGO_SETTINGS_MODULE": "talkee.settings.test",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/talkee_bench_push",
    "REDIS_URL": "redis://127.0.0.1:6379/11",
    "CACHE_KEY_PREFIX": "bench-push",
    "CHANNEL_LAYER_PREFIX": "bench-push-asgi",
    "TALKEE_PUSH_DEVICE_RATE": "100000/min",
}
os.environ.update(ENV)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", "DROP DATABASE IF EXISTS talkee_bench_push"])
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-qc", "CREATE DATABASE talkee_bench_push"], check=True
    )
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True)

    import django

    django.setup()
    from django.core.cache import cache

    from apps.accounts.models import User
    from apps.chats.models import Chat, Membership
    from apps.devices.models import Device
    from apps.messages.services import do_send_message
    from apps.push.models import PushSubscription
    from apps.push.vapid import vapid_public_key
    from tests.push.standin import PushServiceStandIn

    cache.clear()
    service = PushServiceStandIn(vapid_public_key())
    owner = User.objects.create_user("owner@localhost", domain="localhost")
    users = User.objects.bulk_create(
        [User(username=f"m{i}@localhost", domain="localhost") for i in range(args.members)]
    )
    devices = Device.objects.bulk_create(
        [
            Device(
                user=u,
                client_device_id=uuid.uuid4(),
                ed25519_pub=os.urandom(32),
                x25519_pub=os.urandom(32),
            )
            for u in users
        ]
    )
    subscribers = [service.subscribe() for _ in devices]
    PushSubscription.objects.bulk_create(
        [
            PushSubscription(device=d, endpoint=s.endpoint, p256dh=s.p256dh, auth=s.auth)
            for d, s in zip(devices, subscribers, strict=True)
        ]
    )
    chat = Chat.objects.create(kind="group")
    Membership.objects.bulk_create(
        [Membership(chat=chat, user=owner, role="owner")] + [Membership(chat=chat, user=u) for u in users]
    )

    log = open("/tmp/bench-push-worker.log", "wb")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "talkee",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(args.concurrency),
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
        ],
        cwd=ROOT,
        env={**os.environ, **ENV},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    time.sleep(6)
    try:
        started = time.monotonic()
        do_send_message(
            owner.pk, chat.pk, client_message_id="bench", kind="application", epoch=0, ciphertext=os.urandom(256)
        )
        deadline = started + 600
        while len(service.received) < args.members and time.monotonic() < deadline:
            time.sleep(0.05)
        received = sorted(r.at for r in service.received)
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        service.stop()
    first, last = received[0], received[-1]
    result = {
        "members": args.members,
        "worker_threads": args.concurrency,
        "pushed": len(received),
        "refused": len(service.refused),
        "coalesce_window_s": float(os.environ.get("TALKEE_PUSH_COALESCE_SECONDS", 3.0)),
        "first_push_after_s": round(first - started, 2),
        "last_push_after_s": round(last - started, 2),
        "pushes_per_second": round((len(received) - 1) / (last - first), 1) if last > first else None,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
