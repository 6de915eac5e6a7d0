"""A Janus SFU of the test's own: Debian's `janus` as a real process on loopback, with a
config dir the test writes — only the VideoRoom plugin, the WebSockets transport for
clients, the HTTP transport for the admin API only, token auth and an admin secret."""

import glob
import json
import secrets
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import _wait_for_port, free_port, stop
from tests.support.packages import debian_program

LIB = "/usr/lib/x86_64-linux-gnu/janus"


def _all_but(folder: str, *keep: str) -> str:
    names = sorted(Path(p).name for p in glob.glob(f"{LIB}/{folder}/*.so"))
    return ",".join(n for n in names if n not in keep)


@dataclass
class Janus:
    dir: Path
    ws_port: int = field(default_factory=free_port)
    admin_port: int = field(default_factory=free_port)
    admin_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    process: subprocess.Popen[bytes] | None = None

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}/admin"

    @property
    def settings(self) -> dict[str, str]:
        return {
            "TALKEE_JANUS_URL": self.ws_url,
            "TALKEE_JANUS_ADMIN_URL": self.admin_url,
            "TALKEE_JANUS_ADMIN_SECRET": self.admin_secret,
        }

    def write_config(self) -> None:
        conf = self.dir / "conf"
        conf.mkdir(parents=True, exist_ok=True)
        (self.dir / "recordings").mkdir(exist_ok=True)
        (conf / "janus.jcfg").write_text(
            f"""general: {{
  configs_folder = "{conf}"
  plugins_folder = "{LIB}/plugins"
  transports_folder = "{LIB}/transports"
  events_folder = "{LIB}/events"
  loggers_folder = "{LIB}/loggers"
  log_to_stdout = true
  debug_level = 4
  admin_secret = "{self.admin_secret}"
  token_auth = true
  server_name = "talkee-test-janus"
  session_timeout = 60
}}
media: {{
  rtp_port_range = "20000-40000"
}}
nat: {{
  nice_debug = false
  ignore_mdns = true
}}
plugins: {{
  disable = "{_all_but("plugins", "libjanus_videoroom.so")}"
}}
transports: {{
  disable = "{_all_but("transports", "libjanus_websockets.so", "libjanus_http.so")}"
}}
events: {{
  broadcast = false
  disable = "{_all_but("events")}"
}}
loggers: {{
  disable = "{_all_but("loggers")}"
}}
"""
        )
        (conf / "janus.transport.websockets.jcfg").write_text(
            f"""general: {{
  json = "compact"
  ws = true
  ws_port = {self.ws_port}
  ws_ip = "127.0.0.1"
  wss = false
}}
admin: {{
  admin_ws = false
  admin_wss = false
}}
"""
        )
        (conf / "janus.transport.http.jcfg").write_text(
            f"""general: {{
  json = "compact"
  http = false
  https = false
}}
admin: {{
  admin_base_path = "/admin"
  admin_http = true
  admin_port = {self.admin_port}
  admin_ip = "127.0.0.1"
  admin_https = false
}}
"""
        )
        (conf / "janus.plugin.videoroom.jcfg").write_text(
            f"""general: {{
  admin_key = "{self.admin_secret}"
  lock_rtp_forward = true
}}
"""
        )

    def start(self) -> None:
        program = debian_program("janus", "janus")
        self.write_config()
        log = (self.dir / "janus.log").open("wb")
        self.process = subprocess.Popen(
            [program, "-F", str(self.dir / "conf"), "-C", str(self.dir / "conf" / "janus.jcfg")],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.dir / "recordings",  # where the VideoRoom's recorder writes (rooms have no rec_dir)
        )
        _wait_for_port(self.ws_port, self.process)
        _wait_for_port(self.admin_port, self.process)

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)

    def log(self) -> str:
        return (self.dir / "janus.log").read_text(errors="replace")

    def admin(self, janus_request: str, **body: Any) -> dict[str, Any]:
        """A request to the admin API, as the operator makes it."""
        payload = {
            "janus": janus_request,
            "transaction": secrets.token_hex(8),
            "admin_secret": self.admin_secret,
            **body,
        }
        req = urllib.request.Request(
            self.admin_url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=5) as response:
            result: dict[str, Any] = json.loads(response.read())
        return result

    def tokens(self) -> set[str]:
        listed = self.admin("list_tokens")
        return {t["token"] for t in listed.get("data", {}).get("tokens", [])}


def started_janus(tmp: Path) -> Janus:
    janus = Janus(tmp / "janus")
    janus.start()
    deadline = time.monotonic() + 10
    while True:
        try:
            janus.admin("ping")
            return janus
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def mjr_packets(path: Path) -> list[bytes]:
    """The RTP packets of a Janus recording (.mjr, version 2: "MJR00002", a JSON header,
    then "MEET" + 4-byte time + 2-byte length + packet for each)."""
    data = path.read_bytes()
    assert data[:8] == b"MJR00002", data[:8]
    at = 8
    header_length = int.from_bytes(data[at : at + 2], "big")
    at += 2 + header_length
    packets = []
    while at + 10 <= len(data):
        assert data[at : at + 4] == b"MEET", (path, at)
        length = int.from_bytes(data[at + 8 : at + 10], "big")
        packets.append(data[at + 10 : at + 10 + length])
        at += 10 + length
    return packets


def rtp_payload(packet: bytes) -> tuple[bool, bytes]:
    """(marker bit, payload) of an RTP packet."""
    csrc = packet[0] & 0x0F
    at = 12 + 4 * csrc
    if packet[0] & 0x10:  # header extension
        at += 4 + 4 * int.from_bytes(packet[at + 2 : at + 4], "big")
    end = len(packet) - (packet[-1] if packet[0] & 0x20 else 0)  # padding
    return bool(packet[1] & 0x80), packet[at:end]


def vp8_frames(packets: list[bytes]) -> list[bytes]:
    """Whole VP8 frames, as the sender's encoder (and our frame transform) made them:
    RTP payloads without their VP8 payload descriptors (RFC 7741 §4.2), joined up to the marker."""
    frames, current = [], b""
    for packet in packets:
        if len(packet) < 12 or (packet[1] & 0x7F) < 96:
            continue
        marker, payload = rtp_payload(packet)
        if not payload:
            continue
        at = 1
        if payload[0] & 0x80:
            ext = payload[1]
            at = 2
            if ext & 0x80:
                at += 2 if payload[at] & 0x80 else 1
            if ext & 0x40:
                at += 1
            if ext & 0x30:
                at += 1
        current += payload[at:]
        if marker:
            frames.append(current)
            current = b""
    return frames
