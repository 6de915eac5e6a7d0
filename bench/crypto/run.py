"""Times the client crypto core in Chromium: KeyPackage generation, encrypt/decrypt,
an add-100-members commit and a vault unlock, all through the real MLS worker.

Usage (from the repository root, after `cd web && npm ci && npm run build:harness`):

    .venv/bin/python bench/crypto/run.py [--json]
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import sys
import threading
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

HARNESS_DIR = Path(__file__).resolve().parents[2] / "web" / "dist-harness"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript"}

    def log_message(self, format: str, *args: Any) -> None:
        pass


def run(options: dict[str, int]) -> dict[str, Any]:
    if not (HARNESS_DIR / "index.html").is_file():
        sys.exit(f"{HARNESS_DIR} is missing: run `cd web && npm run build:harness` first")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=HARNESS_DIR))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{server.server_port}/index.html")
            page.wait_for_function("window.talkeeHarness !== undefined")
            result = page.evaluate("(o) => window.talkeeHarness.bench(o)", options)
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    if "error" in result:
        sys.exit(f"benchmark failed: {result['error']['name']}: {result['error']['message']}")
    return dict(result["ok"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keypackages", type=int, default=20)
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--unlocks", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    args = parser.parse_args()
    figures = run(
        {"keyPackages": args.keypackages, "messages": args.messages, "members": args.members, "unlocks": args.unlocks}
    )
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"{figures['userAgent']} ({figures['hardwareConcurrency']} cores)")
    rows = [
        ("KeyPackage generation (worker RPC + vault write)", "keyPackageInWorker"),
        ("KeyPackage generation (page, no storage)", "keyPackageInPage"),
        ("add 1 member: commit + Welcome + join", "addOneMemberAndJoin"),
        ("encrypt 100 B (2 members)", "encrypt100B"),
        ("decrypt 100 B (2 members)", "decrypt100B"),
        ("add 100 members in one commit", "add100MembersCommit"),
        ("encrypt 100 B (101 members)", "encrypt100BIn101MemberGroup"),
        ("vault unlock (Argon2id t=3 m=64 MiB)", "vaultUnlock"),
    ]
    print(f"{'operation':<52} {'runs':>5} {'mean ms':>9} {'min ms':>8} {'max ms':>8}")
    for label, key in rows:
        t = figures[key]
        print(f"{label:<52} {t['runs']:>5} {t['meanMs']:>9.1f} {t['minMs']:>8.1f} {t['maxMs']:>8.1f}")
    print(
        f"KeyPackage {figures['keyPackageBytes']} B; add-100 commit {figures['add100CommitBytes']} B, "
        f"Welcome {figures['add100WelcomeBytes']} B"
    )


if __name__ == "__main__":
    main()
