"""A real Docker engine for the deployment tests, and docker/compose.yaml booted on it.

- `ensure_engine()`: installs Debian's docker.io, docker-compose and debootstrap when missing
  (CI is root on a fresh machine) and starts dockerd when none answers.
- `ensure_images()`: the local base image (debootstrap bookworm minbase + `docker import`),
  the stand-ins for the official images (tests/deploy/images/: Python, Node, PostgreSQL,
  Redis, coturn, Caddy), Janus's image from docker/janus/Dockerfile on the local base (it has
  no official image: the production Dockerfile itself, Debian's janus package) and Talkee's
  image from docker/Dockerfile with those as build args. Each third-party image is built only
  when its tag is missing; Talkee's and Janus's are rebuilt on every run, which costs seconds
  when nothing changed (the layers are cached).
- `Stack`: one compose project (`docker-compose -p <unique> -f docker/compose.yaml
  -f tests/deploy/compose.test.yaml`), its settings in an env file of its own (docker/.env is
  never read), published on loopback ports only; `down()` removes containers, networks and
  volumes.
"""

import http.client
import json
import os
import select
import shutil
import socket
import ssl
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import ROOT, free_port
from tests.federation.pki import Pki, make_pki

DEPLOY = Path(__file__).resolve().parent
IMAGES = DEPLOY / "images"
BASE_IMAGE = "talkee-test/debian:bookworm"
TALKEE_IMAGE = "talkee-test/talkee:local"
JANUS_IMAGE = "talkee-test/janus:local"
STAND_INS = ("python", "postgres", "redis", "coturn", "caddy")
ROOTFS_CACHE = Path(os.environ.get("TALKEE_TEST_ROOTFS", "/var/cache/talkee-test/rootfs-bookworm"))
TALKEE_UID = 10001  # the talkee user in docker/Dockerfile


def _sudo() -> list[str]:
    return [] if os.geteuid() == 0 else ["sudo", "-n"]


def run(
    args: list[str], *, check: bool = True, timeout: float = 1800, **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False, **kwargs)
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} exited {result.returncode}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
        )
    return result


def _debian_mirror() -> str:
    """The mirror apt uses on this machine (deb822 or one-line sources)."""
    for path in sorted(Path("/etc/apt").glob("sources.list*")) + sorted(Path("/etc/apt/sources.list.d").glob("*")):
        if not path.is_file():
            continue
        for line in path.read_text().splitlines():
            words = line.split()
            if line.startswith("URIs:") and "security" not in line:
                return words[1]
            if words[:1] == ["deb"] and "security" not in line:
                return next(w for w in words[1:] if w.startswith("http"))
    return "http://deb.debian.org/debian"


def _docker_answers() -> bool:
    try:
        return run(["docker", "info", "--format", "{{.ServerVersion}}"], check=False, timeout=20).returncode == 0
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False


def ensure_engine() -> None:
    missing = [tool for tool in ("dockerd", "docker-compose", "debootstrap") if shutil.which(tool) is None]
    if missing:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        run([*_sudo(), "apt-get", "install", "-y", "-q", "--no-install-recommends", "docker.io", "docker-compose",
             "debootstrap"], env=env)  # fmt: skip
    if _docker_answers():
        return
    log = open("/var/log/talkee-test-dockerd.log", "ab")  # kept open: the daemon outlives this process
    subprocess.Popen([*_sudo(), "dockerd"], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while not _docker_answers():
        if time.monotonic() > deadline:
            raise RuntimeError("dockerd did not start: see /var/log/talkee-test-dockerd.log")
        time.sleep(1)


def image_exists(tag: str) -> bool:
    return run(["docker", "image", "inspect", tag], check=False).returncode == 0


def docker_build(
    tag: str, context: Path, *, dockerfile: Path | None = None, args: dict[str, str] | None = None
) -> None:
    command = ["nice", "-n", "10", "docker", "build", "-q", "-t", tag]
    if dockerfile is not None:
        command += ["-f", str(dockerfile)]
    for name, value in (args or {}).items():
        command += ["--build-arg", f"{name}={value}"]
    # The classic builder: no BuildKit front-end image to pull, the same with any docker CLI.
    run([*command, str(context)], env={**os.environ, "DOCKER_BUILDKIT": "0"})


def _base_image() -> None:
    if image_exists(BASE_IMAGE):
        return
    if not (ROOTFS_CACHE / "etc" / "debian_version").exists():
        shutil.rmtree(ROOTFS_CACHE, ignore_errors=True)
        ROOTFS_CACHE.parent.mkdir(parents=True, exist_ok=True)
        run([*_sudo(), "nice", "-n", "10", "debootstrap", "--variant=minbase", "bookworm", str(ROOTFS_CACHE),
             _debian_mirror()])  # fmt: skip
    # The machine's own extra CAs (a TLS-inspecting egress proxy, say), so pip and npm inside the
    # builds trust what this machine trusts; the stand-ins' ca-certificates picks them up.
    extra = ROOTFS_CACHE / "usr/local/share/ca-certificates"
    extra.mkdir(parents=True, exist_ok=True)
    for cert in Path("/usr/local/share/ca-certificates").glob("*.crt"):
        shutil.copy(cert, extra / cert.name)
    tar = subprocess.Popen(["tar", "-C", str(ROOTFS_CACHE), "-c", "."], stdout=subprocess.PIPE)
    run(["docker", "import", "-c", 'CMD ["bash"]',
         "-c", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8",
         "-", BASE_IMAGE], stdin=tar.stdout)  # fmt: skip
    tar.wait()


def _node_image(tmp: Path) -> None:
    """Debian bookworm's Node is 18 (too old for Vite): copy this machine's Node 20 and npm."""
    if image_exists("talkee-test/node:local"):
        return
    node = shutil.which("node")
    assert node, "the Node stand-in copies this machine's Node.js 20 (README, set-up)"
    npm = Path(os.path.realpath(node)).parent.parent / "lib" / "node_modules" / "npm"
    if not npm.is_dir():
        npm = Path("/usr/lib/node_modules/npm")
    context = tmp / "node-image"
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir(parents=True)
    shutil.copy(IMAGES / "node" / "Dockerfile", context / "Dockerfile")
    shutil.copy(os.path.realpath(node), context / "node")
    shutil.copytree(npm, context / "npm", symlinks=True)
    docker_build("talkee-test/node:local", context)
    shutil.rmtree(context, ignore_errors=True)


def ensure_stand_in(name: str) -> str:
    """One stand-in for an official image (tests/deploy/images/<name>), built when missing."""
    _base_image()
    tag = f"talkee-test/{name}:local"
    if not image_exists(tag):
        docker_build(tag, IMAGES / name, args={"BASE_IMAGE": BASE_IMAGE})
    return tag


def ensure_images(tmp: Path) -> dict[str, str]:
    """Build what is missing; return the image variables for compose."""
    for name in STAND_INS:
        ensure_stand_in(name)
    _node_image(tmp)
    images = {
        "PYTHON_IMAGE": "talkee-test/python:local",
        "NODE_IMAGE": "talkee-test/node:local",
        "POSTGRES_IMAGE": "talkee-test/postgres:local",
        "REDIS_IMAGE": "talkee-test/redis:local",
        "COTURN_IMAGE": "talkee-test/coturn:local",
        "CADDY_IMAGE": "talkee-test/caddy:local",
        "JANUS_IMAGE": JANUS_IMAGE,
        "TALKEE_IMAGE": TALKEE_IMAGE,
    }
    docker_build(JANUS_IMAGE, ROOT / "docker" / "janus", args={"DEBIAN_IMAGE": BASE_IMAGE})
    docker_build(
        TALKEE_IMAGE,
        ROOT,
        dockerfile=ROOT / "docker" / "Dockerfile",
        # The PostgreSQL stand-in is Debian's 15: its client from Debian too (no other apt repository).
        args={"PYTHON_IMAGE": images["PYTHON_IMAGE"], "NODE_IMAGE": images["NODE_IMAGE"], "PG_CLIENT_MAJOR": "15"},
    )
    return images


def _free_udp_range(size: int) -> tuple[int, int]:
    """`size` consecutive ports free for UDP and TCP, below Linux's ephemeral range."""
    for _ in range(200):
        start = int.from_bytes(os.urandom(2), "big") % 10000 + 20000
        sockets: list[socket.socket] = []
        try:
            for port in range(start, start + size):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    sock = socket.socket(socket.AF_INET, kind)
                    sockets.append(sock)
                    sock.bind(("127.0.0.1", port))
            return start, start + size - 1
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free port range")


@dataclass
class Stack:
    """One compose project of docker/compose.yaml on this machine's loopback."""

    tmp: Path
    images: dict[str, str]
    domain: str = "talkee.test"
    project: str = field(default_factory=lambda: f"talkeetest{uuid.uuid4().hex[:10]}")
    ports: dict[str, int] = field(default_factory=dict)
    pki: Pki | None = None
    extra_files: list[Path] = field(default_factory=list)  # more -f overrides (tests/deploy/)
    extra_env: dict[str, str] = field(default_factory=dict)  # more variables for the env file

    def __post_init__(self) -> None:
        self.tmp.mkdir(parents=True, exist_ok=True)
        for name in ("http", "https", "s2s", "dns", "turn", "turns"):
            self.ports[name] = free_port()
        self.relay = _free_udp_range(32)
        self.janus_rtp = _free_udp_range(8)
        self._write_tls()
        settings = {
            **self.images,
            "TALKEE_DOMAIN": self.domain,
            "SECRET_KEY": os.urandom(32).hex(),
            "POSTGRES_PASSWORD": os.urandom(16).hex(),
            "TALKEE_TURN_SECRET": os.urandom(16).hex(),
            "TALKEE_VAPID_SUBJECT": "mailto:operator@example.org",
            "TURN_EXTERNAL_IP": "127.0.0.1",
            "TURN_MIN_PORT": str(self.relay[0]),
            "TURN_MAX_PORT": str(self.relay[1]),
            "TURN_RELAY_ADDRESS": "127.0.0.1",
            "TALKEE_JANUS_ADMIN_SECRET": os.urandom(16).hex(),
            "JANUS_RTP_MIN_PORT": str(self.janus_rtp[0]),
            "JANUS_RTP_MAX_PORT": str(self.janus_rtp[1]),
            "JANUS_RTP_ADDRESS": "127.0.0.1",
            "TALKEE_TLS_DIR": str(self.tmp / "tls" / "s2s"),
            "TALKEE_FEDERATION_TLS_CA": "/etc/talkee/tls/ca.pem",
            "TALKEE_TEST_TLS_DIR": str(self.tmp / "tls"),
            "CADDY_TLS": "/etc/talkee-test-tls/front.pem /etc/talkee-test-tls/front.key",
            "CADDY_CERT_ISSUER": "test",
            "TALKEE_WORKER_CONCURRENCY": "1",
            **{f"TALKEE_PUBLISH_{n.upper()}": f"127.0.0.1:{p}" for n, p in self.ports.items()},
            **self.extra_env,
        }
        self.env_file = self.tmp / "stack.env"
        self.env_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))

    def trust(self, *cas: Path) -> None:
        """The CA bundle the s2s listener checks peers against: its own CA and these."""
        bundle = self.tmp / "tls" / "s2s" / "ca.pem"
        bundle.chmod(0o644)
        bundle.write_bytes(b"".join(path.read_bytes() for path in (self.ca_file, *cas)))
        bundle.chmod(0o444)

    def _write_tls(self) -> None:
        """A test CA: the front's certificate, coturn's copy of it, the s2s listener's."""
        tls = self.tmp / "tls"
        self.pki = make_pki(tls / "ca", f"Talkee deploy test CA {self.project}", [self.domain])
        cert, key = self.pki.cert(self.domain), self.pki.key(self.domain)
        front = tls / "front"
        front.mkdir(parents=True, exist_ok=True)
        shutil.copy(cert, front / "front.pem")
        shutil.copy(key, front / "front.key")
        issued = tls / "caddy-data" / "caddy" / "certificates" / "test" / self.domain
        issued.mkdir(parents=True, exist_ok=True)
        shutil.copy(cert, issued / f"{self.domain}.crt")
        shutil.copy(key, issued / f"{self.domain}.key")
        s2s = tls / "s2s"
        s2s.mkdir(parents=True, exist_ok=True)
        shutil.copy(cert, s2s / "s2s.pem")
        shutil.copy(key, s2s / "s2s.key")
        shutil.copy(self.pki.ca, s2s / "ca.pem")
        for path in s2s.iterdir():
            os.chown(path, TALKEE_UID, TALKEE_UID)
            path.chmod(0o400 if path.suffix == ".key" else 0o444)

    def set_env(self, name: str, value: str) -> None:
        """Change (or add) one setting in this stack's env file (before `up`)."""
        lines = [line for line in self.env_file.read_text().splitlines() if line.partition("=")[0] != name]
        self.env_file.write_text("".join(f"{line}\n" for line in [*lines, f"{name}={value}"]))

    def env_value(self, name: str) -> str:
        """A setting from this stack's env file."""
        for line in self.env_file.read_text().splitlines():
            key, _, value = line.partition("=")
            if key == name:
                return value
        raise KeyError(name)

    @property
    def ca_file(self) -> Path:
        assert self.pki is not None
        return self.pki.ca

    compose_dir = ROOT / "docker"

    def compose_command(self, *args: str) -> tuple[list[str], dict[str, str]]:
        """docker-compose for this project; only the env file sets variables (docker/.env unread)."""
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "DOCKER_HOST", "LANG")}
        files = ["-f", str(ROOT / "docker" / "compose.yaml"), "-f", str(DEPLOY / "compose.test.yaml")]
        for extra in self.extra_files:
            files += ["-f", str(extra)]
        return ["docker-compose", "--env-file", str(self.env_file), "-p", self.project, *files, *args], env

    def compose(self, *args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        command, env = self.compose_command(*args)
        return run(command, check=check, timeout=timeout, env=env, cwd=self.compose_dir)

    def up(self, *extra: str) -> None:
        self.compose("up", "-d", "--no-build", *extra)
        self.wait_healthy()

    def down(self, *extra: str) -> None:
        self.compose("down", "--remove-orphans", *extra, check=False)

    def containers(self, service: str) -> list[str]:
        return self.compose("ps", "-q", service).stdout.split()

    def container_ip(self, container: str) -> str:
        networks = json.loads(run(["docker", "inspect", "-f", "{{json .NetworkSettings.Networks}}", container]).stdout)
        return str(next(iter(networks.values()))["IPAddress"])

    def logs(self, *services: str) -> str:
        return self.compose("logs", "--no-color", "--tail", "200", *services, check=False).stdout

    def wait_healthy(self, timeout: float = 180) -> None:
        """Every web container healthy and the front answering /healthz over TLS."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                status, _, body = self.request("GET", "/healthz", timeout=5)
                last = f"{status} {body[:200]!r}"
                if status == 200:
                    return
            except OSError as exc:
                last = repr(exc)
            time.sleep(1)
        raise RuntimeError(f"the stack did not become healthy: {last}\n{self.logs()}")

    def wait_network_quiet(self, quiet: float = 8, timeout: float = 90) -> None:
        """Wait until no interface or address of this machine has changed for `quiet` seconds.

        Containers' veth ends (and their IPv6 link-local addresses, a moment later) come and
        go while a stack settles; Chromium takes each change as a network change and aborts
        page loads (ERR_NETWORK_CHANGED) and restarts ICE gathering, so a browser test starts
        on a settled network."""
        monitor = subprocess.Popen(["ip", "-o", "monitor", "link", "address"], stdout=subprocess.PIPE, text=True)
        try:
            assert monitor.stdout is not None
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                ready, _, _ = select.select([monitor.stdout], [], [], quiet)
                if not ready:
                    return
                monitor.stdout.readline()
            raise RuntimeError(f"this machine's network kept changing for {timeout} s")
        finally:
            monitor.kill()
            monitor.wait()

    # --- talking to the front ------------------------------------------------------------
    def tls_context(self, *, maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        if maximum is not None:
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.maximum_version = maximum
        return context

    def connect_tls(self, context: ssl.SSLContext | None = None, timeout: float = 10) -> ssl.SSLSocket:
        sock = socket.create_connection(("127.0.0.1", self.ports["https"]), timeout=timeout)
        return (context or self.tls_context()).wrap_socket(sock, server_hostname=self.domain)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 30,
    ) -> tuple[int, dict[str, str], bytes]:
        stack = self

        class FrontConnection(http.client.HTTPSConnection):
            def connect(self) -> None:
                self.sock = stack.connect_tls(timeout=timeout)

        connection = FrontConnection(self.domain, self.ports["https"], timeout=timeout)
        try:
            connection.request(method, path, body=body, headers={"Host": self.domain, **(headers or {})})
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        # Production throttles sign-ups and logins per address and every test user comes from
        # this machine: a 429 waits its Retry-After, as a client would.
        for _ in range(10):
            status, answer_headers, raw = self.request(method, path, data, headers)
            if status != 429:
                break
            time.sleep(float(answer_headers.get("retry-after", "5")) + 0.5)
        assert 200 <= status < 300, f"{method} {path} → {status} {raw[:300]!r}"
        return json.loads(raw) if raw else {}
