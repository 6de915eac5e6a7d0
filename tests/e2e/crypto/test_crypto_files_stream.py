"""Streamed file encryption (secretstream, padded buckets) in Chromium."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

KiB = 1024
MiB = 1024 * KiB
CHUNK = 64 * KiB


def encrypted_size(bucket: int) -> int:
    return 24 + bucket + 17 * -(-bucket // CHUNK)


def bucket_for(size: int) -> int:
    return next(b for b in (32 * KiB, 128 * KiB, 512 * KiB, 2 * MiB, 8 * MiB, 32 * MiB, 64 * MiB) if size <= b)


@pytest.mark.parametrize(
    "size",
    [0, 1, 32 * KiB - 1, 32 * KiB, 32 * KiB + 1, 128 * KiB, 128 * KiB + 1, 512 * KiB + 1, 2 * MiB, 2 * MiB + 1],
)
def test_round_trip_at_bucket_edges(harness: Any, size: int) -> None:
    run = harness.call("fileRoundTrip", size)
    assert run["error"] is None
    assert run["ok"] is True  # BLAKE3 of what went in == BLAKE3 of what came out
    assert run["decryptedBytes"] == size
    assert run["encryptedBytes"] == encrypted_size(bucket_for(size)) == run["expectedEncryptedSize"]


def renderer_rss() -> dict[int, int]:
    """Resident memory of each Chromium renderer process (pages and their workers), in bytes."""
    sizes: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            if b"--type=renderer" not in cmdline or b"chromium" not in cmdline:
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes[int(proc.name)] = int(line.split()[1]) * 1024
        except OSError:
            continue
    return sizes


def rss_growth(base: dict[int, int], now: dict[int, int]) -> int:
    """Largest growth of a renderer that existed at `base` (a spare renderer starting later is ignored)."""
    return max((now.get(pid, size) - size for pid, size in base.items()), default=0)


def js_heap(cdp: Any) -> int:
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return int(next(m["value"] for m in metrics if m["name"] == "JSHeapUsedSize"))


def peak_during(harness: Any, cdp: Any, base_rss: dict[int, int], poll: str) -> tuple[int, int, Any]:
    """Samples JS heap and renderer RSS growth until harness.<poll>() reports done."""
    peak_heap, peak_rss = 0, 0
    deadline = time.monotonic() + 120
    while True:
        peak_heap = max(peak_heap, js_heap(cdp))
        peak_rss = max(peak_rss, rss_growth(base_rss, renderer_rss()))
        status = harness.raw(poll)
        if status is None or status["done"]:
            return peak_heap, peak_rss, status
        assert time.monotonic() < deadline, "64 MiB round trip took over 2 minutes"
        time.sleep(0.05)


@pytest.mark.slow
def test_64_mib_streamed_round_trip_stays_small_in_memory(harness: Any) -> None:
    cdp = harness.page.context.new_cdp_session(harness.page)
    cdp.send("Performance.enable")
    cdp.send("HeapProfiler.collectGarbage")
    base_heap, base_rss = js_heap(cdp), renderer_rss()

    harness.raw("startFileRoundTrip", 64 * MiB)
    peak_heap, rss_growth_peak, run = peak_during(harness, cdp, base_rss, "fileStatus")
    assert run["error"] is None
    assert run["ok"] is True
    assert run["decryptedBytes"] == 64 * MiB
    assert run["encryptedBytes"] == encrypted_size(64 * MiB) == 67_126_296

    heap_growth = peak_heap - base_heap
    print(
        f"64 MiB round trip: {run['ms']:.0f} ms, "
        f"JS heap +{heap_growth / MiB:.1f} MiB, renderer RSS +{rss_growth_peak / MiB:.1f} MiB"
    )
    assert heap_growth < 16 * MiB
    # Garbage awaiting GC, not data held: one whole copy alone would be +64 MiB (see the
    # control below). On a loaded machine the renderer's GC lags (+38 MiB seen with other
    # browsers running), so the bound sits just under the control's threshold.
    assert rss_growth_peak < 44 * MiB

    # Control: really holding 64 MiB is visible to the same measurement.
    cdp.send("HeapProfiler.collectGarbage")
    before = renderer_rss()
    harness.raw("holdBytes", 64 * MiB)
    assert rss_growth(before, renderer_rss()) > 48 * MiB
    harness.raw("releaseBytes")
