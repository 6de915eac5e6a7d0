"""Markdown tables and target ratios from one run directory of run_all.sh.

usage: python bench/delivery/report.py /tmp/talkee-bench/run-<time>
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

KV = re.compile(r"(\w+)=([-\w./]+)")


def num(v: str) -> float:
    return float(re.sub(r"(ms|/s|KiB)$", "", v))


def ceiling_lines(path: Path) -> list[dict[str, Any]]:
    rows = []
    if not path.exists():
        return rows
    for line in path.read_text().splitlines():
        if line.startswith(("CHAT ", "FANOUT ")):
            head, _, cpu = line.partition("cpu_s_per_1k:")
            row: dict[str, Any] = {"kind": line.split()[0]}
            row.update(KV.findall(head))
            m = re.search(r"server=([\d.]+)", cpu)
            row["cpu_s_per_1k"] = m.group(1) if m else "-"
            rows.append(row)
    return rows


def f(v: float, nd: int = 0) -> str:
    return "-" if v != v else f"{v:,.{nd}f}"  # NaN -> dash


def verdict(ok: bool) -> str:
    return "**met**" if ok else "**missed**"


def main() -> None:
    run = Path(sys.argv[1])
    res = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines() if line.strip()]
    ceil = ceiling_lines(run / "ceiling.log")
    servers = list(dict.fromkeys(r["server"] for r in res))
    out: list[str] = []

    def talkee(server: str, phase: str, **match: Any) -> dict[str, Any] | None:
        for r in res:
            if r["server"] == server and r["phase"] == phase and all(r.get(k) == v for k, v in match.items()):
                return r
        return None

    def bare(server: str, kind: str, key: str, value: str) -> dict[str, Any] | None:
        for r in ceil:
            if r["kind"] == kind and r["server"] == f"ceiling/{server}" and r.get(key) == value:
                return r
        return None

    out.append("### (a) 1:1 chat, closed loop, 256 B ciphertext: msg/s (p50/p99 ms) and server CPU s per 1,000 msgs")
    out.append(
        "| server | 1 sender | 8 senders | 32 senders | CPU s/1k @32 | bare: 1 | bare: 8 | bare: 32 "
        "| bare CPU s/1k @32 |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|")
    for s in servers:
        cells, bcells = [], []
        for n in (1, 8, 32):
            r = talkee(s, "chat", senders=n)
            cells.append("-" if r is None else f"{f(r['rate'])} ({f(r['p50_ms'], 1)}/{f(r['p99_ms'], 1)})")
            b = bare(s, "CHAT", "senders", str(n))
            bcells.append("-" if b is None else f"{f(num(b['rate']))} ({b['p50']}/{b['p99']})")
        r32 = talkee(s, "chat", senders=32)
        b32 = bare(s, "CHAT", "senders", "32")
        out.append(
            f"| {s} | {' | '.join(cells)} | {f(r32['srv_cpu_s_per_1k'], 2) if r32 else '-'} | {' | '.join(bcells)} "
            f"| {b32['cpu_s_per_1k'] if b32 else '-'} |"
        )
    out.append("")
    out.append("### (b) open loop, fixed 200 msg/s over 8 pairs: send → peer socket latency")
    out.append("| server | offered msg/s | received | p50 ms | p95 ms | p99 ms | max ms | `sent` ack p50 ms |")
    out.append("|---|---|---|---|---|---|---|---|")
    for s in servers:
        r = talkee(s, "latency")
        if r:
            out.append(
                f"| {s} | {f(r['rate_offered'])} | {r['received']}/{r['msgs']} | {f(r['p50_ms'], 1)} | "
                f"{f(r['p95_ms'], 1)} | {f(r['p99_ms'], 1)} | {f(r['max_ms'], 1)} | {f(r['ack_p50_ms'], 1)} |"
            )
    out.append("")
    out.append("### (c) fan-out, 20 messages: time until every member socket got it, p50 / p99 ms")
    out.append(
        "| server | 50 devices | 1,000 devices | CPU ms/msg @1k | bare: 50 | bare: 1,000 | bare CPU ms/msg @1k |"
    )
    out.append("|---|---|---|---|---|---|---|")
    for s in servers:
        r50 = talkee(s, "fanout", group=50)
        r1k = talkee(s, "fanout", group=1000)
        b50 = bare(s, "FANOUT", "group", "50")
        b1k = bare(s, "FANOUT", "group", "1000")

        def tcell(r: dict[str, Any] | None) -> str:
            return "-" if r is None else f"{f(r['all_p50_ms'], 1)} / {f(r['all_p99_ms'], 1)}"

        def bcell(b: dict[str, Any] | None) -> str:
            return "-" if b is None else f"{b['all_delivered_p50']} / {b['p99']}"

        out.append(
            f"| {s} | {tcell(r50)} | {tcell(r1k)} | {f(r1k['srv_cpu_ms_per_msg']) if r1k else '-'} | "
            f"{bcell(b50)} | {bcell(b1k)} | {b1k['server_cpu_ms_per_msg'] if b1k else '-'} |"
        )
    out.append("")
    out.append("Connect of the 1,000 members (auth + replay + presence):")
    for s in servers:
        r1k = talkee(s, "fanout", group=1000)
        if r1k:
            out.append(
                f"- {s}: {f(r1k['connect_s'], 1)} s to authenticate, +{f(r1k['quiet_wait_s'], 1)} s until the server "
                f"was quiet; {r1k['presence_frames']:,} presence frames delivered; "
                f"{f(r1k['connect_srv_cpu_s'], 1)} s of server CPU"
            )
    out.append("")
    out.append("### (d) server RSS with idle authenticated sockets")
    out.append("| server | permessage-deflate | RSS at start | 1,000 | 10,000 | KiB/socket (1k→10k) |")
    out.append("|---|---|---|---|---|---|")
    for r in res:
        if r["phase"] == "idle":
            lv = {x["sockets"]: x["rss_kib"] for x in r["levels"]}
            cells = [f"{lv[k] / 1024:.0f} MiB" if k in lv else "-" for k in (1000, 10000)]
            out.append(
                f"| {r['server']} | {'offered' if r['deflate'] else 'no'} | {r['rss0_kib'] / 1024:.0f} MiB | "
                f"{' | '.join(cells)} | {f(r['kib_per_socket'], 1)} |"
            )
    pg = run / "pgbench.log"
    if pg.exists():
        out.append("")
        pgb = " ; ".join(pg.read_text().split("\n")).strip(" ;")
        out.append(f"### (e) `pgbench -N` (scale 10, 8 clients, 10 s): {pgb}")

    out.append("")
    out.append("### Targets (ratios in this run)")
    out.append("| target | " + " | ".join(servers) + " |")
    out.append("|---|" + "---|" * len(servers))
    rows: dict[str, list[str]] = {k: [] for k in ("a1", "a2", "b", "c1", "c2", "d")}
    for s in servers:
        r32, b32 = talkee(s, "chat", senders=32), bare(s, "CHAT", "senders", "32")
        if r32 and b32:
            ratio = r32["rate"] / num(b32["rate"])
            rows["a1"].append(f"{ratio:.0%} of {f(num(b32['rate']))} → {verdict(ratio >= 0.6)}")
        else:
            rows["a1"].append("-")
        rows["a2"].append(f"{r32['srv_cpu_s_per_1k']:.2f} ms → {verdict(r32['srv_cpu_s_per_1k'] <= 2)}" if r32 else "-")
        rb = talkee(s, "latency")
        rows["b"].append(f"{rb['p99_ms']:.1f} ms → {verdict(rb['p99_ms'] <= 50)}" if rb else "-")
        r50 = talkee(s, "fanout", group=50)
        rows["c1"].append(f"{r50['all_p99_ms']:.1f} ms → {verdict(r50['all_p99_ms'] <= 50)}" if r50 else "-")
        r1k, b1k = talkee(s, "fanout", group=1000), bare(s, "FANOUT", "group", "1000")
        if r1k and b1k:
            ratio = r1k["all_p99_ms"] / num(b1k["p99"])
            rows["c2"].append(f"{ratio:.1f}x ({r1k['all_p99_ms']:.0f} vs {b1k['p99']}) → {verdict(ratio <= 2)}")
        else:
            rows["c2"].append("-")
        rd = [r for r in res if r["server"] == s and r["phase"] == "idle" and not r["deflate"]]
        rows["d"].append(f"{rd[0]['kib_per_socket']:.1f} KiB → {verdict(rd[0]['kib_per_socket'] <= 45)}" if rd else "-")
    names = {
        "a1": "(a) 32 senders ≥ 60 % of bare msg/s",
        "a2": "(a) ≤ 2 ms server CPU per message",
        "b": "(b) p99 ≤ 50 ms at 200 msg/s",
        "c1": "(c) 50-member fan-out p99 ≤ 50 ms",
        "c2": "(c) 1,000-device fan-out p99 ≤ 2x bare",
        "d": "(d) ≤ 45 KiB per idle socket",
    }
    for k, name in names.items():
        out.append(f"| {name} | " + " | ".join(rows[k]) + " |")
    print("\n".join(out))


if __name__ == "__main__":
    main()
