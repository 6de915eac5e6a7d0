"""talkee-cli (web/cli, bin/talkee-cli) driven from a test: each command a real Node
process with its own vault file, against a real server (or only a DNS resolver)."""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import ROOT

CLI = ROOT / "bin" / "talkee-cli"
BUILT = ROOT / "web" / "dist-cli" / "talkee-cli.mjs"
PASSWORD = "a long test password 42"


def build_cli() -> None:
    """`npm run build:cli` when the bundle is missing or older than a source it is built from."""
    sources = [*(ROOT / "web" / "src").rglob("*.ts"), *(ROOT / "web" / "cli").rglob("*.ts")]
    if BUILT.is_file() and BUILT.stat().st_mtime >= max(p.stat().st_mtime for p in sources):
        return
    result = subprocess.run(["npm", "run", "build:cli"], cwd=ROOT / "web", capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"`cd web && npm run build:cli` failed:\n{result.stdout}\n{result.stderr}")


@dataclass
class Listener:
    """A running `talkee-cli listen`: its lines as they are printed."""

    process: subprocess.Popen[str]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    seen: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    ready: threading.Event = field(default_factory=threading.Event)

    def start(self) -> None:
        def pump() -> None:
            assert self.process.stdout is not None
            for line in self.process.stdout:
                self.lines.put(line.rstrip("\n"))

        def pump_errors() -> None:
            assert self.process.stderr is not None
            for line in self.process.stderr:
                self.errors.append(line)
                if line.startswith("Listening as "):
                    self.ready.set()

        threading.Thread(target=pump, daemon=True).start()
        threading.Thread(target=pump_errors, daemon=True).start()

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Signed in and caught up: what arrives from now on is printed."""
        if not self.ready.wait(timeout):
            raise AssertionError(f"listen did not start: {''.join(self.errors)}")

    def expect(self, text: str, timeout: float = 60.0) -> str:
        """The next printed message whose text is `text` (earlier ones are kept in `seen`)."""
        while True:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"listen printed no {text!r}; it printed {self.seen}") from None
            self.seen.append(line)
            if line.endswith("\t" + text):
                return line

    def stop(self) -> int:
        """Ctrl-C; its exit code."""
        self.process.send_signal(2)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@dataclass
class Cli:
    """One CLI user: a vault file and the way to the server (an URL, or a DNS resolver)."""

    vault: Path
    server: str
    dns: str | None = None
    extra_env: dict[str, str] = field(default_factory=dict)
    # Where the tunnel goes when the socket and HTTPS fail (never the machine's own resolver here).
    fallback: str = "off"

    def argv(self, args: Sequence[str]) -> list[str]:
        transport = ["--dns-fallback", self.fallback] if self.dns is None else ["--dns", self.dns]
        return [str(CLI), "--server", self.server, "--vault", str(self.vault), *transport, *args]

    def env(self, phrase: str | None = None) -> dict[str, str]:
        env = {**os.environ, "TALKEE_PASSWORD": PASSWORD, **self.extra_env}
        if phrase is not None:
            env["TALKEE_RECOVERY_PHRASE"] = phrase
        return env

    def run(
        self, *args: str, phrase: str | None = None, timeout: float = 120.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(self.argv(args), env=self.env(phrase), capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(
                f"talkee-cli {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def listen(self) -> Listener:
        process = subprocess.Popen(
            self.argv(["listen"]), env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        listener = Listener(process)
        listener.start()
        listener.wait_ready()
        return listener

    def history(self, chat: str) -> list[tuple[str, str]]:
        """(sender, text) of each message `history CHAT` prints."""
        rows = [line.split("\t", 2) for line in self.run("history", chat).stdout.splitlines()]
        return [(r[1], r[2]) for r in rows if len(r) == 3]


class Trap:
    """A TCP port that counts every connection made to it (and closes it at once): given to
    the CLI as its server URL, it proves the CLI tried no HTTP and no WebSocket."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = int(self.sock.getsockname()[1])
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.sock.close()
