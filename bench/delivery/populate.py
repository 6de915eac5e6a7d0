"""Fill the bench database with users, devices, sessions and chats; write the tokens.

Run by setup.sh with the production settings (DATABASE_URL, REDIS_URL,
DJANGO_SETTINGS_MODULE=talkee.settings.prod, SECRET_KEY). Two paths:

- the real services for the 1:1 pairs (do_register, do_issue_challenge + an Ed25519
  signature by the device key, do_login, do_create_chat "direct"), and for both fan-out
  groups (do_create_chat "group", which also writes the members' "joined" notices);
- bulk ORM inserts for the thousands of other accounts (users with one copied Argon2
  hash, devices with real Ed25519 keys, sessions, device cursors, direct chats), which
  is what the services would store minus the per-row Argon2 and round trips.

`populate.py reset` moves every device cursor to the stream's end, so the next run's
sockets replay nothing from an earlier run (the bench does not ack), and takes the 999
members out of the late-join 1,000-device group again.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "talkee.settings.prod")

import django  # noqa: E402

django.setup()

from blake3 import blake3  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import transaction  # noqa: E402
from nacl.public import PrivateKey  # noqa: E402
from nacl.signing import SigningKey  # noqa: E402

from apps.accounts import services as accounts  # noqa: E402
from apps.accounts.models import Session, User  # noqa: E402
from apps.accounts.tokens import new_token, token_hash  # noqa: E402
from apps.chats import services as chats  # noqa: E402
from apps.chats.models import Chat, Membership  # noqa: E402
from apps.devices.models import Device  # noqa: E402
from apps.messages.models import DeviceCursor  # noqa: E402
from apps.messages.stream import current_position  # noqa: E402

PASSWORD = "bench password 0123456789"
BATCH = 2000


def log(msg: str) -> None:
    print(f"[populate {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def service_account(name: str) -> dict[str, object]:
    """Register + challenge + signed login through the project's services."""
    user = accounts.do_register(name, PASSWORD, blake3(os.urandom(32)).digest())
    key = SigningKey.generate()
    nonce = accounts.do_issue_challenge(name)
    result = accounts.do_login(
        name,
        PASSWORD,
        nonce,
        key.sign(nonce.encode()).signature,
        str(uuid.uuid4()),
        bytes(key.verify_key),
        bytes(PrivateKey.generate().public_key),
        "bench",
    )
    return {"user": user, "token": result.token, "device_id": result.device.pk}


def bulk_accounts(prefix: str, count: int, password_hash: str) -> list[dict[str, object]]:
    """`count` users with one device and one session each, stored in bulk."""
    domain = settings.TALKEE_DOMAIN
    users = User.objects.bulk_create(
        [User(username=f"{prefix}{i}@{domain}", domain=domain, password=password_hash) for i in range(count)],
        batch_size=BATCH,
    )
    devices = Device.objects.bulk_create(
        [
            Device(
                user=u,
                client_device_id=uuid.uuid4(),
                ed25519_pub=bytes(SigningKey.generate().verify_key),
                x25519_pub=bytes(PrivateKey.generate().public_key),
                label="bench",
            )
            for u in users
        ],
        batch_size=BATCH,
    )
    tokens = [new_token() for _ in devices]
    Session.objects.bulk_create(
        [Session(token_hash=token_hash(t), user=u, device=d) for t, u, d in zip(tokens, users, devices, strict=True)],
        batch_size=BATCH,
    )
    now = current_position()
    DeviceCursor.objects.bulk_create([DeviceCursor(device=d, pos=now, floor=now) for d in devices], batch_size=BATCH)
    return [{"user": u, "token": t, "device_id": d.pk} for u, t, d in zip(users, tokens, devices, strict=True)]


def bulk_direct_chats(accounts_: list[dict[str, object]]) -> list[str]:
    """Pair accounts 2i and 2i+1 into direct chats, in bulk."""
    chat_rows, members = [], []
    for i in range(0, len(accounts_) - 1, 2):
        a, b = accounts_[i]["user"], accounts_[i + 1]["user"]
        assert isinstance(a, User) and isinstance(b, User)
        low, high = sorted((a.pk, b.pk))
        chat = Chat(id=uuid.uuid4(), kind=Chat.Kind.DIRECT, direct_pair=f"{low}:{high}")
        chat_rows.append(chat)
        members += [
            Membership(chat=chat, user=a, role=Membership.Role.OWNER),
            Membership(chat=chat, user=b, role=Membership.Role.MEMBER),
        ]
    Chat.objects.bulk_create(chat_rows, batch_size=BATCH)
    Membership.objects.bulk_create(members, batch_size=BATCH)
    return [str(c.id) for c in chat_rows]


def device(acc: dict[str, object]) -> dict[str, object]:
    return {"token": acc["token"], "device_id": acc["device_id"]}


def populate(args: argparse.Namespace) -> dict[str, object]:
    tag = uuid.uuid4().hex[:6]
    out: dict[str, object] = {"created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "tag": tag}

    t = time.monotonic()
    pair_accounts = [service_account(f"bp{tag}{i}") for i in range(2 * args.pairs)]
    pairs = []
    for i in range(args.pairs):
        a, b = pair_accounts[2 * i], pair_accounts[2 * i + 1]
        assert isinstance(a["user"], User) and isinstance(b["user"], User)
        chat, _ = chats.do_create_chat(a["user"], Chat.Kind.DIRECT, [b["user"].username])
        pairs.append({"chat_id": str(chat.id), "a": device(a), "b": device(b)})
    out["pairs"] = pairs
    log(f"{args.pairs} direct pairs via register/challenge/login/create_chat in {time.monotonic() - t:.1f}s")

    first = pair_accounts[0]["user"]
    assert isinstance(first, User)
    password_hash = first.password  # one real Argon2 hash, reused by the bulk accounts

    # group50 is created with its members. group1000 only with its owner: the load
    # generator adds the other 999 through the HTTP API once their sockets are online
    # (see loadgen.py, fan-out), and `reset` takes them out again.
    for name, size, with_members in (("group50", args.group_small, True), ("group1000", args.group_large, False)):
        t = time.monotonic()
        members = bulk_accounts(f"bg{tag}{size}x", size, password_hash)
        owner = members[0]["user"]
        assert isinstance(owner, User)
        addresses = [m["user"].username for m in members]  # type: ignore[union-attr]
        with transaction.atomic():
            chat, _ = chats.do_create_chat(
                owner, Chat.Kind.GROUP, addresses[1:] if with_members else [], encrypted_name=os.urandom(48)
            )
        out[name] = {
            "chat_id": str(chat.id),
            "devices": [device(m) for m in members],
            "addresses": addresses,
            "members_preadded": with_members,
        }
        log(f"{name}: {size} devices (bulk) + do_create_chat in {time.monotonic() - t:.1f}s")

    t = time.monotonic()
    idle = bulk_accounts(f"bi{tag}x", args.idle, password_hash)
    bulk_direct_chats(idle)
    out["idle"] = [device(m) for m in idle]
    log(f"idle: {args.idle} devices in {args.idle // 2} direct chats (bulk) in {time.monotonic() - t:.1f}s")
    return out


def reset(fixture: str) -> None:
    """Before each server's run: every device resumes at the stream's end (no replay of
    earlier runs; the bench does not ack), and the late-join group is back to its owner."""
    data = json.loads(Path(fixture).read_text())
    late = data["group1000"]
    if not late.get("members_preadded"):
        removed, _ = Membership.objects.filter(chat_id=late["chat_id"]).exclude(role=Membership.Role.OWNER).delete()
        log(f"group1000: {removed} memberships removed")
    now = current_position()
    n = DeviceCursor.objects.update(pos=now)
    log(f"{n} device cursors set to {now}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("action", choices=["populate", "reset"])
    ap.add_argument("--out", "--fixture", default="/tmp/talkee-bench/fixture.json")
    ap.add_argument("--pairs", type=int, default=50)
    ap.add_argument("--group-small", type=int, default=50)
    ap.add_argument("--group-large", type=int, default=1000)
    ap.add_argument("--idle", type=int, default=10_000)
    args = ap.parse_args()
    if args.action == "reset":
        reset(args.out)
        return
    data = populate(args)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(data))
    log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
