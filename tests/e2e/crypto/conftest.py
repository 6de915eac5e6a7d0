"""Browser tests of the client crypto core (web/src) in Debian's Chromium.

They drive web/harness (built by `cd web && npm run build:harness` into
web/dist-harness/), served here over loopback. No database is needed.
"""

from __future__ import annotations

import base64
import functools
import http.server
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

HARNESS_DIR = Path(__file__).resolve().parents[3] / "web" / "dist-harness"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: long-running browser test (64 MiB file round trip)")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".wasm": "application/wasm",
        ".map": "application/json",
    }

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="session")
def harness_url() -> Iterator[str]:
    if not (HARNESS_DIR / "index.html").is_file():
        pytest.fail(
            f"{HARNESS_DIR} is missing: build the crypto harness first with "
            "`cd web && npm ci && npm run build:harness`",
            pytrace=False,
        )
    handler = functools.partial(_QuietHandler, directory=str(HARNESS_DIR))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="crypto-harness-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/index.html"
    finally:
        server.shutdown()
        server.server_close()


class HarnessError(Exception):
    """An error thrown by the crypto core in the page, with its JS error name."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def b64(data: bytes) -> dict[str, str]:
    """Bytes as the harness expects them."""
    return {"b64": base64.b64encode(data).decode()}


def unwire(value: Any) -> Any:
    """Harness values back to Python: {"b64": ...} becomes bytes."""
    if isinstance(value, dict):
        if set(value) == {"b64"}:
            return base64.b64decode(value["b64"])
        return {k: unwire(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwire(v) for v in value]
    return value


class Harness:
    def __init__(self, page: Page) -> None:
        self.page = page

    def raw(self, name: str, *args: Any) -> Any:
        return self.page.evaluate("([n, a]) => window.talkeeHarness[n](...a)", [name, list(args)])

    def call(self, name: str, *args: Any) -> Any:
        result = self.raw(name, *args)
        if isinstance(result, dict) and "error" in result:
            raise HarnessError(result["error"]["name"], result["error"]["message"])
        if isinstance(result, dict) and "ok" in result:
            return unwire(result["ok"])
        return unwire(result)

    def worker(self) -> MlsWorker:
        return MlsWorker(self, self.raw("spawnWorker"))

    @staticmethod
    def error_of(action: Callable[[], object]) -> str:
        """The JS error name `action` fails with ("" when it succeeds)."""
        try:
            action()
        except HarnessError as err:
            return err.name
        return ""


class MlsWorker:
    """One MLS Web Worker in the page, called through its comlink RPC."""

    def __init__(self, harness: Harness, worker_id: int) -> None:
        self.harness = harness
        self.id = worker_id

    def __getattr__(self, method: str) -> Any:
        def call(*args: Any) -> Any:
            wired = [b64(a) if isinstance(a, bytes) else a for a in args]
            wired = [[b64(x) if isinstance(x, bytes) else x for x in a] if isinstance(a, list) else a for a in wired]
            return self.harness.call("rpc", self.id, method, wired)

        return call

    def kill(self) -> None:
        self.harness.raw("killWorker", self.id)


@pytest.fixture
def harness(page: Page, harness_url: str) -> Harness:
    page.goto(harness_url)
    page.wait_for_function("window.talkeeHarness !== undefined")
    h = Harness(page)
    assert h.call("ready") is True
    return h
