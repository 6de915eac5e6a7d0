"""Summarise a py-spy `--format raw --threads` profile: where the server's samples go.

usage: python bench/delivery/pyspy_summary.py profile.txt [--top 15]

Prints the share of samples per thread kind (event loop vs the sync worker thread that
runs every `database_sync_to_async` call), coarse buckets (ORM/PostgreSQL, DRF
validation, channel layer, WebSocket framing, JSON, asgiref thread hops), and the top
functions by inclusive and by self samples.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

FRAME = re.compile(r"^(?P<fn>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")

BUCKETS: list[tuple[str, tuple[str, ...]]] = [
    ("do_send_message (whole service call, sync thread)", ("do_send_message",)),
    ("  PostgreSQL round trips (psycopg execute/commit, in the service)", ("psycopg/", "psycopg_pool/")),
    ("  on_commit publish: async_to_sync -> group_send from the sync thread", ("_send_now",)),
    ("SendSerializer / DRF validation (event loop)", ("rest_framework/",)),
    ("session_for_token / chat_ids_of / stream_after (connect path)", ("session_for_token", "stream_after")),
    ("channels_redis (publish, subscribe, receive loop)", ("channels_redis/",)),
    ("redis-py client", ("redis/",)),
    ("WebSocket protocol (uvicorn / websockets / autobahn / twisted)", ("uvicorn/", "websockets/", "autobahn/")),
    ("twisted reactor / daphne", ("twisted/", "daphne/")),
    ("json encode/decode", ("json/",)),
    ("asgiref thread hops (sync_to_async / async_to_sync)", ("asgiref/",)),
    ("Channels consumer dispatch", ("channels/consumer.py", "channels/generic/", "channels/utils.py")),
    ("Talkee consumer code", ("apps/messages/consumers.py",)),
]


def parse(path: str) -> tuple[list[tuple[list[str], int]], int]:
    stacks = []
    total = 0
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            body, _, count = line.rpartition(" ")
            try:
                n = int(count)
            except ValueError:
                continue
            frames = body.split(";")
            stacks.append((frames, n))
            total += n
    return stacks, total


def short(frame: str) -> str:
    m = FRAME.match(frame)
    if not m:
        return frame
    file = m.group("file")
    for marker in ("site-packages/", "/work/main/", "lib/python3.11/"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{m.group('fn')} ({file})"


def thread_kind(frames: list[str]) -> str:
    joined = ";".join(frames)
    if "concurrent/futures/thread.py" in joined or ("_worker" in joined and "thread.py" in joined):
        return "sync worker thread (database_sync_to_async)"
    if "asyncio" in joined or "uvloop" in joined or "twisted" in joined or "run_forever" in joined:
        return "event loop thread"
    if "psycopg_pool/" in joined:
        return "psycopg pool background threads (mostly idle waits py-spy counts as active)"
    return "other"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("path")
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--focus", action="append", default=[], help="break a function down by its callees")
    a = ap.parse_args()
    stacks, total = parse(a.path)
    if not total:
        print("no samples")
        return
    kinds: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    buckets: Counter[str] = Counter()
    for frames, n in stacks:
        real = [f for f in frames if not f.startswith(("thread (", "process "))]
        kinds[thread_kind(real)] += n
        for name in {short(f) for f in real}:
            incl[name] += n
        if real:
            self_[short(real[-1])] += n
        joined = ";".join(real)
        for label, keys in BUCKETS:
            if any(k in joined for k in keys):
                buckets[label] += n

    def pc(n: int) -> str:
        return f"{100 * n / total:5.1f} %"

    print(f"{total} samples (active threads only)")
    print("\nby thread:")
    for k, n in kinds.most_common():
        print(f"  {pc(n)}  {k}")
    print("\nbuckets (inclusive; a sample can be in several):")
    for label, _ in BUCKETS:
        print(f"  {pc(buckets[label])}  {label}")
    print(f"\ntop {a.top} inclusive:")
    for name, n in incl.most_common(a.top + 12)[: a.top + 12]:
        if any(s in name for s in ("<module>", "run (", "_bootstrap", "run_forever", "_run_once", "main (")):
            continue
        print(f"  {pc(n)}  {name}")
    print(f"\ntop {a.top} self:")
    for name, n in self_.most_common(a.top):
        print(f"  {pc(n)}  {name}")
    for focus in a.focus:
        callees: Counter[str] = Counter()
        inside = 0
        for frames, n in stacks:
            names = [short(f) for f in frames]
            idx = next((i for i, x in enumerate(names) if x.startswith(focus + " ")), None)
            if idx is None:
                continue
            inside += n
            nxt = names[idx + 1] if idx + 1 < len(names) else "(self)"
            line = frames[idx + 1].rsplit(":", 1)[-1].rstrip(")") if idx + 1 < len(frames) else ""
            callees[
                f"{nxt}  <- line {FRAME.match(frames[idx]).group('line') if FRAME.match(frames[idx]) else '?'}"
            ] += n
            del line
        print(f"\n{focus}: {pc(inside)} of all samples; by the line of {focus} and callee:")
        for name, n in callees.most_common(a.top):
            print(f"  {pc(n)}  {name}")


if __name__ == "__main__":
    main()
