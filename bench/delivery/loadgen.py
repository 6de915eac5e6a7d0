"""Load generator for Talkee's delivery path: real devices over /v1/ws, 127.0.0.1 only.

Every socket authenticates with a session token from the fixture (setup.sh), waits for
`synced`, then:

  chat     closed loop in 1:1 chats: each sender sends one `send` frame and waits for
           its `sent` ack AND the peer socket's `event` frame, then sends the next one.
  latency  open loop at a fixed total rate over 8 pairs; send -> peer socket latency.
  fanout   one member of a group sends; time until every member socket (sender's own
           included) got the `event` (phases fanout50, fanout1000, storm1000).
  idle     server RSS with N idle authenticated sockets.

The ciphertext is random bytes of --size (a padded-size bucket), whose first 12 bytes
carry the send time and a counter, so a receiver knows which send it is seeing without
any help from the server. Latency = peer receipt - send (one clock, one process).
Server CPU = utime+stime of --pid from /proc. All loops are bounded by a duration, a
message count or a timeout. Each result is printed and appended as JSON to --results.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import struct
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection, connect

CLK = os.sysconf("SC_CLK_TCK")
STAMP = struct.Struct(">dI")  # send time (perf_counter), counter: 12 bytes = 16 base64 chars


# --- process accounting --------------------------------------------------------------
def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / CLK


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_of_comm(name: str) -> float:
    total = 0.0
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/comm") as f:
                if f.read().strip() != name:
                    continue
            total += cpu_s(int(d))
        except OSError:
            pass
    return total


def machine_busy() -> float:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v) - v[3] - v[4]) / CLK


class Snap:
    def __init__(self, pid: int) -> None:
        self.t = time.perf_counter()
        self.srv = cpu_s(pid)
        self.redis = cpu_of_comm("redis-server")
        self.pg = cpu_of_comm("postgres")
        self.me = sum(os.times()[:2])
        self.busy = machine_busy()

    def until(self, other: Snap) -> dict[str, float]:
        wall = other.t - self.t
        return {
            "wall": wall,
            "srv": other.srv - self.srv,
            "redis": other.redis - self.redis,
            "pg": other.pg - self.pg,
            "loadgen": other.me - self.me,
            "busy_cores": (other.busy - self.busy) / wall,
        }


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(p / 100 * (len(xs) - 1))))]


async def wait_quiet(pid: int, limit: float, idle_share: float = 0.05) -> float:
    """Wait until the server uses < idle_share of a core over 1 s (at most `limit` s)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < limit:
        c0 = cpu_s(pid)
        await asyncio.sleep(1.0)
        if cpu_s(pid) - c0 < idle_share:
            break
    return time.perf_counter() - t0


# --- sockets -----------------------------------------------------------------------
class Dev:
    """One authenticated device socket and a reader task dispatching its frames."""

    def __init__(self, ws: ClientConnection, device_id: int) -> None:
        self.ws = ws
        self.device_id = device_id
        self.on_event: Callable[[dict[str, Any], float], None] | None = None
        self.on_other: Callable[[dict[str, Any]], None] | None = None
        self.counts: dict[str, int] = {}
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                now = time.perf_counter()
                assert isinstance(raw, str)
                # Frames are compact JSON that start with their type: skip parsing the
                # ones this bench does not look at (presence, typing).
                kind = raw[9:24].split('"', 1)[0] if raw.startswith('{"type":"') else "?"
                self.counts[kind] = self.counts.get(kind, 0) + 1
                if kind == "event":
                    if self.on_event is not None:
                        self.on_event(json.loads(raw), now)
                elif kind in ("sent", "error") and self.on_other is not None:
                    self.on_other(json.loads(raw))
        except websockets.ConnectionClosed:
            pass


async def open_dev(url: str, dev: dict[str, Any], sem: asyncio.Semaphore, compression: str | None) -> Dev:
    async with sem:
        for attempt in range(5):
            try:
                ws = await connect(
                    url,
                    open_timeout=60,
                    ping_interval=None,
                    max_queue=None,
                    max_size=None,
                    compression=compression,
                )
                break
            except (OSError, websockets.InvalidHandshake, TimeoutError):
                if attempt == 4:
                    raise
                await asyncio.sleep(0.2 * (attempt + 1))
        await ws.send(json.dumps({"type": "auth", "token": dev["token"]}))
        async with asyncio.timeout(120):
            while True:
                frame = json.loads(await ws.recv())
                if frame["type"] == "synced":
                    break
                if frame["type"] == "error":
                    raise RuntimeError(f"auth failed: {frame}")
        return Dev(ws, int(dev["device_id"]))


async def open_many(
    url: str, devs: list[dict[str, Any]], conc: int = 64, compression: str | None = None
) -> tuple[list[Dev], float]:
    sem = asyncio.Semaphore(conc)
    t0 = time.perf_counter()
    res = await asyncio.gather(*[open_dev(url, d, sem, compression) for d in devs], return_exceptions=True)
    dt = time.perf_counter() - t0
    bad = [r for r in res if isinstance(r, BaseException)]
    if bad:
        print(f"  !! {len(bad)} connects failed, e.g. {bad[0]!r}", flush=True)
    return [r for r in res if isinstance(r, Dev)], dt


async def close_all(devs: list[Dev]) -> None:
    for d in devs:
        if d.task is not None:
            d.task.cancel()
    await asyncio.gather(*[asyncio.wait_for(d.ws.close(), 10) for d in devs], return_exceptions=True)


class Payload:
    def __init__(self, size: int) -> None:
        self.body = bytearray(os.urandom(max(size, STAMP.size)))

    def make(self, counter: int) -> str:
        STAMP.pack_into(self.body, 0, time.perf_counter(), counter)
        return base64.b64encode(self.body).decode()


def stamp_of(frame: dict[str, Any]) -> tuple[float, int]:
    ts, counter = STAMP.unpack(base64.b64decode(frame["message"]["ciphertext"][:16]))
    return ts, counter


def send_frame(chat_id: str, ciphertext: str) -> str:
    return json.dumps(
        {
            "type": "send",
            "chat_id": chat_id,
            "client_message_id": uuid.uuid4().hex,
            "kind": "application",
            "epoch": 0,
            "ciphertext": ciphertext,
        }
    )


class Reporter:
    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a

    def emit(self, line: str, record: dict[str, Any]) -> None:
        print(line, flush=True)
        record.update(server=self.a.label, size=self.a.size, time=time.strftime("%H:%M:%S"))
        if self.a.results:
            with open(self.a.results, "a") as f:
                f.write(json.dumps(record) + "\n")


# --- (a) closed-loop 1:1 throughput ----------------------------------------------------
async def mode_chat(a: argparse.Namespace, rep: Reporter, fx: dict[str, Any], senders: int, first_pair: int) -> None:
    pairs = fx["pairs"][first_pair : first_pair + senders]
    if len(pairs) < senders:
        sys.exit(f"fixture has too few pairs for {senders} senders from pair {first_pair}")
    if a.url2:
        # Two server processes: pair i's sender on one, its peer on the other (alternating),
        # so every message crosses processes through the channel layer.
        wanted = [d for p in pairs for d in (p["a"], p["b"])]
        on_second = [(k // 2 + k) % 2 == 1 for k in range(len(wanted))]
        first_devs, _ = await open_many(a.url, [d for d, o in zip(wanted, on_second, strict=True) if not o])
        second_devs, _ = await open_many(a.url2, [d for d, o in zip(wanted, on_second, strict=True) if o])
        by_id = {d.device_id: d for d in first_devs + second_devs}
        devs = [by_id[int(d["device_id"])] for d in wanted]
    else:
        devs, _ = await open_many(a.url, [d for p in pairs for d in (p["a"], p["b"])])
    state = {"measure": False, "count": 0, "errors": 0, "timeouts": 0}
    lat: list[float] = []
    got_peer = [asyncio.Event() for _ in pairs]
    got_sent = [asyncio.Event() for _ in pairs]
    for i, p in enumerate(pairs):
        snd, rcv = devs[2 * i], devs[2 * i + 1]

        def on_peer(frame: dict[str, Any], now: float, i: int = i, chat: str = p["chat_id"]) -> None:
            if frame.get("chat_id") != chat:
                return
            if state["measure"]:
                lat.append(now - stamp_of(frame)[0])
            got_peer[i].set()

        def on_ack(frame: dict[str, Any], i: int = i) -> None:
            if frame["type"] == "error":
                state["errors"] += 1
                if state["errors"] <= 3:
                    print(f"  !! error frame {frame}", flush=True)
                got_peer[i].set()
            got_sent[i].set()

        rcv.on_event = on_peer
        snd.on_other = on_ack
        snd.start()
        rcv.start()
    payload = Payload(a.size)
    stop = asyncio.Event()

    async def sender(i: int) -> None:
        ws, chat, n = devs[2 * i].ws, pairs[i]["chat_id"], 0
        while not stop.is_set():
            n += 1
            got_peer[i].clear()
            got_sent[i].clear()
            await ws.send(send_frame(chat, payload.make(n)))
            try:
                async with asyncio.timeout(10):
                    await got_peer[i].wait()
                    await got_sent[i].wait()
            except TimeoutError:
                state["timeouts"] += 1
                continue
            if state["measure"]:
                state["count"] += 1

    tasks = [asyncio.create_task(sender(i)) for i in range(senders)]
    await asyncio.sleep(a.warmup)
    state["measure"] = True
    s0 = Snap(a.pid)
    second0 = cpu_s(a.pid2) if a.pid2 else 0.0
    await asyncio.sleep(a.dur)
    s1 = Snap(a.pid)
    second1 = cpu_s(a.pid2) if a.pid2 else 0.0
    state["measure"] = False
    stop.set()
    await asyncio.wait(tasks, timeout=12)
    d = s0.until(s1)
    d["srv"] += second1 - second0  # both server processes
    n = state["count"]

    def per1k(x: float) -> float:
        return x / n * 1000 if n else float("nan")

    rec = {
        "phase": "chat",
        "processes": 2 if a.url2 else 1,
        "senders": senders,
        "msgs": n,
        "rate": n / d["wall"],
        "p50_ms": pct(lat, 50) * 1000,
        "p95_ms": pct(lat, 95) * 1000,
        "p99_ms": pct(lat, 99) * 1000,
        "srv_cpu_s_per_1k": per1k(d["srv"]),
        "redis_cpu_s_per_1k": per1k(d["redis"]),
        "pg_cpu_s_per_1k": per1k(d["pg"]),
        "loadgen_cpu_s_per_1k": per1k(d["loadgen"]),
        "busy_cores": d["busy_cores"],
        "srv_cores": d["srv"] / d["wall"],
        "errors": state["errors"],
        "timeouts": state["timeouts"],
    }
    rep.emit(
        f"CHAT server={a.label} processes={rec['processes']} size={a.size} senders={senders} msgs={n} "
        f"rate={rec['rate']:.0f}/s "
        f"p50={rec['p50_ms']:.1f}ms p99={rec['p99_ms']:.1f}ms cpu_s_per_1k: server={rec['srv_cpu_s_per_1k']:.2f} "
        f"redis={rec['redis_cpu_s_per_1k']:.2f} pg={rec['pg_cpu_s_per_1k']:.2f} "
        f"loadgen={rec['loadgen_cpu_s_per_1k']:.2f} | server_cores={rec['srv_cores']:.2f} "
        f"machine_busy={d['busy_cores']:.2f}/2 errors={state['errors']} timeouts={state['timeouts']}",
        rec,
    )
    await close_all(devs)


# --- (b) open-loop latency at a fixed rate ---------------------------------------------
async def mode_latency(a: argparse.Namespace, rep: Reporter, fx: dict[str, Any], first_pair: int) -> None:
    npairs = a.latency_pairs
    pairs = fx["pairs"][first_pair : first_pair + npairs]
    devs, _ = await open_many(a.url, [d for p in pairs for d in (p["a"], p["b"])])
    measure = {"from": 0, "to": 0}
    lat: list[float] = []
    ack_lat: list[float] = []
    received: set[int] = set()
    sent_at: dict[str, float] = {}
    errors = 0
    for i, p in enumerate(pairs):

        def on_peer(frame: dict[str, Any], now: float, chat: str = p["chat_id"]) -> None:
            if frame.get("chat_id") != chat:
                return
            ts, counter = stamp_of(frame)
            if measure["from"] <= counter < measure["to"]:
                lat.append(now - ts)
                received.add(counter)

        def on_ack(frame: dict[str, Any]) -> None:
            nonlocal errors
            if frame["type"] == "error":
                errors += 1
                return
            t = sent_at.pop(frame["client_message_id"], None)
            if t is not None:
                ack_lat.append(time.perf_counter() - t)

        devs[2 * i + 1].on_event = on_peer
        devs[2 * i].on_other = on_ack
        devs[2 * i].start()
        devs[2 * i + 1].start()
    payload = Payload(a.size)
    rate = a.rate
    warm_n = int(a.warmup * rate)
    total = warm_n + int(a.dur * rate)
    measure.update({"from": warm_n, "to": total})
    t0 = time.perf_counter() + 0.1
    s0: Snap | None = None
    late = 0
    for k in range(total):  # one global schedule, round-robin over the pairs
        due = t0 + k / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.05:
            late += 1
        if k == warm_n:
            s0 = Snap(a.pid)
        i = k % npairs
        frame = send_frame(pairs[i]["chat_id"], payload.make(k))
        if k >= warm_n:
            sent_at[json.loads(frame)["client_message_id"]] = time.perf_counter()
        await devs[2 * i].ws.send(frame)
    s1 = Snap(a.pid)
    deadline = time.perf_counter() + 10
    while len(received) < total - warm_n and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)
    assert s0 is not None
    d = s0.until(s1)
    n = total - warm_n
    rec = {
        "phase": "latency",
        "rate_target": rate,
        "rate_offered": n / d["wall"],
        "msgs": n,
        "received": len(received),
        "lost": n - len(received),
        "p50_ms": pct(lat, 50) * 1000,
        "p95_ms": pct(lat, 95) * 1000,
        "p99_ms": pct(lat, 99) * 1000,
        "max_ms": max(lat, default=float("nan")) * 1000,
        "ack_p50_ms": pct(ack_lat, 50) * 1000,
        "ack_p99_ms": pct(ack_lat, 99) * 1000,
        "srv_cpu_s_per_1k": d["srv"] / n * 1000,
        "srv_cores": d["srv"] / d["wall"],
        "busy_cores": d["busy_cores"],
        "late_sends": late,
        "errors": errors,
    }
    rep.emit(
        f"LATENCY server={a.label} size={a.size} target={rate}/s offered={rec['rate_offered']:.0f}/s msgs={n} "
        f"lost={rec['lost']} p50={rec['p50_ms']:.1f}ms p95={rec['p95_ms']:.1f}ms p99={rec['p99_ms']:.1f}ms "
        f"max={rec['max_ms']:.1f}ms sent_ack_p50={rec['ack_p50_ms']:.1f}ms server_cores={rec['srv_cores']:.2f} "
        f"machine_busy={d['busy_cores']:.2f}/2 late_sends={late} errors={errors}",
        rec,
    )
    await close_all(devs)


# --- (c) fan-out to a group --------------------------------------------------------------
def http_add_members(ws_url: str, token: str, chat_id: str, addresses: list[str]) -> int:
    """POST /v1/chats/{id}/members as the group's owner (the real API path)."""
    base = ws_url.replace("ws://", "http://", 1).split("/v1/", 1)[0]
    req = urllib.request.Request(
        f"{base}/v1/chats/{chat_id}/members",
        data=json.dumps({"users": addresses}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=120) as answer:
        return int(answer.status)


async def mode_fanout(a: argparse.Namespace, rep: Reporter, fx: dict[str, Any], key: str, storm: bool) -> None:
    """Members' sockets online, then 20 messages from member 0.

    group50 exists with its members, so connecting them is the ordinary path (each
    connect announces presence to the group). For group1000 that would be a presence
    storm of ~N^2/2 = 500k frames before the first message, which costs 35-75 s of
    server CPU here: by default ("fanout1000") the 1,000 devices connect as non-members
    and the owner adds the 999 others in one POST /v1/chats/{id}/members, so each socket
    joins the chat's group through its "joined" device event. "storm1000" adds them first
    and connects afterwards, to measure the storm."""
    group = fx[key]
    chat = group["chat_id"]
    late_join = not group.get("members_preadded", True)
    add_s = float("nan")
    if late_join and storm:
        try:
            await asyncio.to_thread(http_add_members, a.url, group["devices"][0]["token"], chat, group["addresses"][1:])
        except OSError as exc:  # urllib's HTTPError / URLError
            print(f"  !! {key}: POST members failed ({exc}); phase skipped", flush=True)
            return
    s_conn = Snap(a.pid)
    devs, dt = await open_many(a.url, group["devices"])
    for d in devs:
        d.start()
    if late_join and not storm:
        await wait_quiet(a.pid, 30)
        t_add = time.perf_counter()
        try:
            status = await asyncio.to_thread(
                http_add_members, a.url, group["devices"][0]["token"], chat, group["addresses"][1:]
            )
        except OSError as exc:  # urllib's HTTPError / URLError
            print(f"  !! {key}: POST members failed ({exc}); phase skipped", flush=True)
            await close_all(devs)
            return
        deadline = time.perf_counter() + 60
        while sum(1 for d in devs[1:] if d.counts.get("device_event")) < len(devs) - 1:
            if time.perf_counter() > deadline:
                print("  !! not every socket got its joined event within 60 s", flush=True)
                break
            await asyncio.sleep(0.05)
        add_s = time.perf_counter() - t_add
        print(f"  {key}: POST members -> {status}; all sockets had their joined event after {add_s:.2f}s", flush=True)
    quiet = await wait_quiet(a.pid, a.quiet_limit)
    s_q = Snap(a.pid)
    presence = sum(d.counts.get("presence", 0) for d in devs)
    conn = s_conn.until(s_q)
    print(
        f"  {key}: {len(devs)} sockets authenticated in {dt:.1f}s; server busy {quiet:.1f}s more until quiet; "
        f"{presence} presence frames reached the sockets; server CPU for connect+presence {conn['srv']:.1f}s",
        flush=True,
    )
    n_socks = len(devs)
    cur = {"m": -1, "n": 0, "lat": []}
    done = asyncio.Event()
    for d in devs:

        def on_event(frame: dict[str, Any], now: float) -> None:
            if frame.get("chat_id") != chat:
                return
            ts, counter = stamp_of(frame)
            if counter == cur["m"]:
                cur["lat"].append(now - ts)
                cur["n"] += 1
                if cur["n"] >= n_socks:
                    done.set()

        d.on_event = on_event
    payload = Payload(a.size)
    all_t: list[float] = []
    first_t: list[float] = []
    lost = 0
    s0 = Snap(a.pid)
    for m in range(a.msgs):
        cur.update({"m": m, "n": 0, "lat": []})
        done.clear()
        await devs[0].ws.send(send_frame(chat, payload.make(m)))
        try:
            await asyncio.wait_for(done.wait(), a.fanout_timeout)
        except TimeoutError:
            lost += n_socks - cur["n"]
            print(f"  !! message {m}: {cur['n']}/{n_socks} sockets got it within {a.fanout_timeout}s", flush=True)
        if cur["lat"]:
            all_t.append(max(cur["lat"]))
            first_t.append(min(cur["lat"]))
        await asyncio.sleep(0.2)
    d = s0.until(Snap(a.pid))
    rec = {
        "phase": "fanout",
        "group": n_socks,
        "msgs": a.msgs,
        "all_p50_ms": pct(all_t, 50) * 1000,
        "all_p99_ms": pct(all_t, 99) * 1000,
        "first_p50_ms": pct(first_t, 50) * 1000,
        "lost": lost,
        "srv_cpu_ms_per_msg": d["srv"] / a.msgs * 1000,
        "connect_s": dt,
        "quiet_wait_s": quiet,
        "presence_frames": presence,
        "connect_srv_cpu_s": conn["srv"],
        "mode": "late_join" if late_join and not storm else "connect_as_members",
        "join_s": add_s,
    }
    rep.emit(
        f"FANOUT server={a.label} size={a.size} group={n_socks} msgs={a.msgs} all_delivered_p50="
        f"{rec['all_p50_ms']:.1f}ms p99={rec['all_p99_ms']:.1f}ms first_p50={rec['first_p50_ms']:.1f}ms "
        f"lost={lost} server_cpu_ms_per_msg={rec['srv_cpu_ms_per_msg']:.0f} mode={rec['mode']}",
        rec,
    )
    await close_all(devs)


# --- (d) idle sockets ------------------------------------------------------------------------
async def mode_idle(a: argparse.Namespace, rep: Reporter, fx: dict[str, Any]) -> None:
    levels = [int(x) for x in a.levels.split(",")]
    pool = fx["idle"]
    if levels[-1] > len(pool):
        sys.exit(f"fixture has {len(pool)} idle devices, fewer than {levels[-1]}")
    compression = "deflate" if a.deflate else None
    socks: list[Dev] = []
    base = rss_kib(a.pid)
    rows = []
    for lvl in levels:
        need = lvl - len(socks)
        if need > 0:
            s0 = Snap(a.pid)
            new, dt = await open_many(a.url, pool[len(socks) : lvl], compression=compression)
            socks += new
            d = s0.until(Snap(a.pid))
            print(
                f"  opened+authenticated {len(new)} in {dt:.1f}s ({len(new) / dt:.0f}/s, server "
                f"{d['srv'] / max(len(new), 1) * 1000:.2f} ms CPU each)",
                flush=True,
            )
        await wait_quiet(a.pid, 30)
        await asyncio.sleep(a.settle)
        r = rss_kib(a.pid)
        rows.append((len(socks), r))
        print(f"  IDLE server={a.label} sockets={len(socks)} rss_kib={r}", flush=True)
    (n1, r1), (n2, r2) = rows[0], rows[-1]
    rec = {
        "phase": "idle",
        "deflate": bool(a.deflate),
        "rss0_kib": base,
        "levels": [{"sockets": n, "rss_kib": r} for n, r in rows],
        "kib_per_socket": (r2 - r1) / (n2 - n1) if n2 > n1 else (r1 - base) / max(n1, 1),
        "kib_per_socket_from0": (r1 - base) / max(n1, 1),
    }
    rep.emit(
        f"IDLE server={a.label} deflate={bool(a.deflate)} rss0={base}KiB "
        + " ".join(f"{n}:{r}KiB" for n, r in rows)
        + f" marginal={rec['kib_per_socket']:.1f}KiB/socket",
        rec,
    )
    for s in socks:
        s.ws.transport.abort()


async def run(a: argparse.Namespace) -> None:
    with open(a.fixture) as f:
        fx = json.load(f)
    rep = Reporter(a)
    for phase in a.phases.split(","):
        t = time.perf_counter()
        if phase == "idle":
            await mode_idle(a, rep, fx)
            await wait_quiet(a.pid, 60)
        elif phase == "chat":
            first = 0
            for s in [int(x) for x in a.senders.split(",")]:
                await mode_chat(a, rep, fx, s, first)
                first += s
                await wait_quiet(a.pid, 10)
        elif phase == "latency":
            await mode_latency(a, rep, fx, a.latency_first_pair)
        elif phase in ("fanout50", "fanout1000", "storm1000"):
            await mode_fanout(a, rep, fx, "group50" if phase == "fanout50" else "group1000", phase == "storm1000")
        else:
            sys.exit(f"unknown phase {phase}")
        print(f"  [{phase} took {time.perf_counter() - t:.0f}s]", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True, help="ws://127.0.0.1:PORT/v1/ws")
    ap.add_argument("--pid", type=int, required=True, help="server process id (CPU, RSS)")
    ap.add_argument("--url2", default="", help="a second server process (chat phase: peers split over both)")
    ap.add_argument("--pid2", type=int, default=0, help="the second server's process id (CPU)")
    ap.add_argument("--fixture", default="/tmp/talkee-bench/fixture.json")
    ap.add_argument("--label", default="")
    ap.add_argument("--results", default="")
    ap.add_argument("--phases", default="idle,chat,latency,fanout50,fanout1000")
    ap.add_argument("--size", type=int, default=256, help="ciphertext bytes (a padded-size bucket)")
    ap.add_argument("--senders", default="1,8,32")
    ap.add_argument("--dur", type=float, default=8)
    ap.add_argument("--warmup", type=float, default=2)
    ap.add_argument("--rate", type=float, default=200)
    ap.add_argument("--latency-pairs", type=int, default=8)
    ap.add_argument("--latency-first-pair", type=int, default=41)
    ap.add_argument("--msgs", type=int, default=20)
    ap.add_argument("--fanout-timeout", type=float, default=30)
    ap.add_argument("--quiet-limit", type=float, default=120)
    ap.add_argument("--levels", default="1000,10000")
    ap.add_argument("--settle", type=float, default=3)
    ap.add_argument("--deflate", action="store_true", help="offer permessage-deflate like a browser")
    a = ap.parse_args()
    if not a.url.startswith("ws://127.0.0.1:"):
        sys.exit("this bench only talks to 127.0.0.1")
    random.seed()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(run(a))


if __name__ == "__main__":
    main()
