"""docker/compose.yaml boots under a real Docker engine and serves Talkee through its TLS front.

One compose project for the module (tests/deploy/dockerstack.py): the project's own compose
file plus tests/deploy/compose.test.yaml (the test CA's certificate), local stand-ins for the
official images, Talkee's image built from docker/Dockerfile. Everything goes through the
front on a loopback port with the test CA, as a browser would; the project's containers,
networks and volumes are removed afterwards, also when a test fails.
"""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import socket
import ssl
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from tests.deploy.client import Device, Socket, direct_chat, login, register, send_frame, tls13_only_refuses
from tests.deploy.dockerstack import BASE_IMAGE, TALKEE_UID, Stack, ensure_engine, ensure_images, run
from tests.deploy.turn import TurnClient, relayed_address

# A cold machine builds the images first (several minutes); later runs reuse every layer.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(2400)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: Any) -> Iterator[Stack]:
    ensure_engine()
    tmp = tmp_path_factory.mktemp("deploy")
    the_stack = Stack(tmp / "stack", ensure_images(tmp))
    try:
        the_stack.up()
        yield the_stack
    finally:
        the_stack.down("-v", "-t", "5")
        left = run(["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={the_stack.project}"])
        volumes = run(
            ["docker", "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={the_stack.project}"]
        )
        assert left.stdout.strip() == "" and volumes.stdout.strip() == "", "the test stack was not removed"


def web_containers(stack: Stack) -> list[str]:
    return stack.containers("web")


def inspect(container: str, template: str) -> Any:
    return json.loads(run(["docker", "inspect", "-f", f"{{{{json {template}}}}}", container]).stdout)


# --- the front --------------------------------------------------------------------------------
def test_the_front_speaks_tls13_only_redirects_http_and_sets_hsts_and_security_headers(stack: Stack) -> None:
    with stack.connect_tls() as sock:
        assert sock.version() == "TLSv1.3"
    assert tls13_only_refuses(stack).startswith("refused"), "a TLS 1.2-only client got through"
    # Not through another name or no name either (Caddy's fallback policy has no certificate).
    for name in (None, "other.example"):
        loose = stack.tls_context(maximum=ssl.TLSVersion.TLSv1_2)
        loose.check_hostname = False
        loose.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", stack.ports["https"]), timeout=10) as raw:
            with pytest.raises(ssl.SSLError):
                loose.wrap_socket(raw, server_hostname=name).close()

    # Plain HTTP on the published port 80 answers only with a redirect to https.
    import http.client

    plain = http.client.HTTPConnection("127.0.0.1", stack.ports["http"], timeout=10)
    plain.request("GET", "/v1/docs?x=1", headers={"Host": stack.domain})
    redirect = plain.getresponse()
    assert redirect.status in (301, 308)
    assert redirect.getheader("Location") == f"https://{stack.domain}/v1/docs?x=1"
    plain.close()

    for path in ("/", "/healthz", "/readyz", "/.well-known/talkee/server"):
        status, headers, body = stack.request("GET", path)
        assert status == 200, (path, status, body[:200])
        hsts = headers["strict-transport-security"]
        assert "max-age=" in hsts and int(hsts.split("max-age=")[1].split(";")[0]) >= 31536000
        assert "includesubdomains" in hsts.lower()
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert "server" not in headers
    # The PWA is in the image and served at / (Node stage of docker/Dockerfile).
    status, headers, body = stack.request("GET", "/")
    assert headers["content-type"].startswith("text/html") and b"<script" in body
    well_known = json.loads(stack.request("GET", "/.well-known/talkee/server")[2])
    assert well_known["domain"] == stack.domain
    # The admin's pages come with their stylesheets (an operator signs in at /admin/).
    status, headers, body = stack.request("GET", "/static/admin/css/base.css")
    assert (status, headers["content-type"].split(";")[0]) == (200, "text/css") and b"{" in body
    # Another name than the instance's reaches no route (Caddy answers an empty page itself).
    assert b"database" not in stack.request("GET", "/healthz", headers={"Host": "other.example"})[2]


def test_containers_run_as_non_root_with_a_read_only_root_and_no_compilers(stack: Stack) -> None:
    for service in ("web", "worker", "beat", "s2s", "dns"):
        (container,) = stack.containers(service)[:1]
        assert run(["docker", "exec", container, "id", "-u"]).stdout.strip() == str(TALKEE_UID), service
        assert inspect(container, ".HostConfig.ReadonlyRootfs") is True, service
        assert "no-new-privileges:true" in inspect(container, ".HostConfig.SecurityOpt"), service
        assert inspect(container, ".HostConfig.RestartPolicy")["Name"] == "unless-stopped", service
    web = web_containers(stack)[0]
    assert run(["docker", "exec", web, "touch", "/app/x"], check=False).returncode != 0
    compilers = run(["docker", "exec", web, "sh", "-c", "command -v gcc cc c++ clang make"], check=False)
    assert compilers.stdout.strip() == "", compilers.stdout
    key = run(["docker", "exec", web, "stat", "-c", "%a %u", "/var/lib/talkee/keys/instance_ed25519"]).stdout.split()
    assert key == ["600", str(TALKEE_UID)]


# --- messages through the front -------------------------------------------------------------
def test_two_users_exchange_messages_over_the_socket_through_the_front(stack: Stack) -> None:
    alice, bob = register(stack, "alice"), register(stack, "bob")
    chat = direct_chat(stack, alice, bob)

    async def scenario() -> tuple[list[bytes], list[bytes]]:
        a, b = await Socket(alice).open(stack), await Socket(bob).open(stack)
        try:
            await a.send(send_frame(chat, b"hello bob"))
            await b.until(lambda f: f["type"] == "event")
            await b.send(send_frame(chat, b"hello alice"))
            await a.until(
                lambda f: f["type"] == "event" and base64.b64decode(f["message"]["ciphertext"]) == b"hello alice"
            )
            return a.texts(), b.texts()
        finally:
            await a.close()
            await b.close()

    alice_saw, bob_saw = asyncio.run(scenario())
    assert bob_saw == [b"hello bob"]
    assert alice_saw == [b"hello bob", b"hello alice"]


def test_restarting_web_while_messages_are_in_flight_loses_nothing(stack: Stack) -> None:
    alice, bob = register(stack, "alice"), register(stack, "bob")
    chat = direct_chat(stack, alice, bob)
    expected = [f"in flight {i}".encode() for i in range(8)]
    ids = [uuid.uuid4().hex for _ in expected]

    async def bob_cursor() -> int:
        socket = await Socket(bob).open(stack)
        await socket.close()
        assert socket.cursor is not None
        return socket.cursor

    start_cursor = asyncio.run(bob_cursor())
    command, env = stack.compose_command("restart", "web")
    restart = subprocess.Popen(
        command, env=env, cwd=stack.compose_dir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )

    async def alice_sends() -> None:
        """The first message on a socket open as the restart begins, the rest by the API during it;
        each retried with its client_message_id until the server answers (idempotent)."""
        socket = await Socket(alice).open(stack)
        await socket.send(send_frame(chat, expected[0], ids[0]))
        try:
            await socket.until(lambda f: f["type"] == "sent", timeout=5)
            first_done = True
        except (TimeoutError, Exception):
            first_done = False
        for text, cid in zip(expected[1:], ids[1:], strict=True):
            await asyncio.to_thread(send_by_api, text, cid)
            await asyncio.sleep(0.2)
        if not first_done:  # the socket died with the restart: resend the same message
            socket = await Socket(alice).open(stack)
            await socket.send(send_frame(chat, expected[0], ids[0]))
            await socket.until(lambda f: f["type"] == "sent", timeout=30)
        await socket.close()

    def send_by_api(text: bytes, cid: str) -> None:
        body = {
            "client_message_id": cid,
            "kind": "application",
            "epoch": 0,
            "ciphertext": base64.b64encode(text).decode(),
        }
        deadline = time.monotonic() + 60
        while True:
            try:
                stack.call("POST", f"/v1/chats/{chat}/messages", body, alice.token)
                return
            except (AssertionError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    asyncio.run(alice_sends())
    assert restart.wait(timeout=120) == 0, restart.stderr.read() if restart.stderr else ""
    stack.wait_healthy()

    async def bob_replays() -> list[dict[str, Any]]:
        socket = await Socket(bob).open(stack, cursor=start_cursor)
        await socket.close()
        return socket.events

    events = asyncio.run(bob_replays())
    texts = [base64.b64decode(e["message"]["ciphertext"]) for e in events if e["message"]["chat_id"] == chat]
    assert sorted(texts) == sorted(expected), texts  # every message, each once
    seqs = [e["message"]["seq"] for e in events if e["message"]["chat_id"] == chat]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(expected)


def established_on_8000(container: str) -> int:
    """Open TCP connections to port 8000 (0x1F40) inside one container."""
    table = run(["docker", "exec", container, "cat", "/proc/net/tcp", "/proc/net/tcp6"]).stdout
    rows = [line.split() for line in table.splitlines()]
    return sum(1 for row in rows if len(row) > 3 and row[1].endswith(":1F40") and row[3] == "01")


def test_scaled_web_serves_sockets_on_both_and_messages_cross_between_them(stack: Stack) -> None:
    stack.compose("up", "-d", "--no-build", "--no-recreate", "--scale", "web=2", "web")
    try:
        deadline = time.monotonic() + 120
        while True:
            webs = web_containers(stack)
            health = [inspect(c, ".State.Health.Status") for c in webs]
            if len(webs) == 2 and health == ["healthy", "healthy"]:
                break
            assert time.monotonic() < deadline, health
            time.sleep(1)
        time.sleep(2)  # the front looks the web containers up every second
        alice, bob = register(stack, "alice"), register(stack, "bob")
        chat = direct_chat(stack, alice, bob)
        first, second = (stack.container_ip(c) for c in webs)

        async def across() -> tuple[list[bytes], list[bytes]]:
            a = await Socket(alice).open(stack, direct_ip=first)
            b = await Socket(bob).open(stack, direct_ip=second)
            try:
                await a.send(send_frame(chat, b"from web 1"))
                await b.until(lambda f: f["type"] == "event")
                await b.send(send_frame(chat, b"from web 2"))
                await a.until(lambda f: f["type"] == "event" and f["message"]["seq"] == 2)
                return a.texts(), b.texts()
            finally:
                await a.close()
                await b.close()

        alice_saw, bob_saw = asyncio.run(across())
        assert bob_saw == [b"from web 1"] and alice_saw == [b"from web 1", b"from web 2"]

        async def through_the_front() -> list[int]:
            sockets = [await Socket(d).open(stack) for d in (alice, bob) * 4]
            try:
                return [established_on_8000(c) for c in webs]
            finally:
                for socket in sockets:
                    await socket.close()

        per_container = asyncio.run(through_the_front())
        assert all(n >= 2 for n in per_container), f"the front did not spread sockets: {per_container}"
    finally:
        stack.compose("up", "-d", "--no-build", "--no-recreate", "--scale", "web=1", "web")


# --- coturn --------------------------------------------------------------------------------------
def test_coturn_takes_talkees_turn_credentials_refuses_others_and_private_peers(stack: Stack) -> None:
    alice = register(stack, "alice")
    turn = stack.call("GET", "/v1/calls/turn", token=alice.token)
    assert turn["urls"] == [
        f"turn:{stack.domain}:3478?transport=udp",
        f"turn:{stack.domain}:3478?transport=tcp",
        f"turns:{stack.domain}:5349?transport=tcp",
    ]
    host, port = "127.0.0.1", stack.ports["turn"]

    client = TurnClient(host, port, turn["username"], turn["credential"])
    try:
        allocated = client.allocate()
        assert allocated.success, allocated.error
        relay_ip, relay_port = relayed_address(allocated)
        assert relay_ip == "127.0.0.1" and stack.relay[0] <= relay_port <= stack.relay[1]  # TURN_EXTERNAL_IP, range
        assert client.permit("8.8.8.8").success  # a public peer (no packet is sent)
        for private in ("127.0.0.1", "10.1.2.3", "172.17.0.1", "192.168.1.1", "169.254.1.1", "100.64.0.1"):
            refused = client.permit(private)
            assert (refused.success, refused.error) == (False, 403), private
    finally:
        client.close()

    wrong = TurnClient(host, port, turn["username"], base64.b64encode(b"x" * 20).decode())
    expiry, _, rest = turn["username"].partition(":")
    # A credential coturn would accept but for its expiry: signed with the right secret, in the past.
    secret = stack.env_value("TALKEE_TURN_SECRET").encode()
    old_name = f"{int(time.time()) - 60}:{rest}"
    old_password = base64.b64encode(hmac.new(secret, old_name.encode(), hashlib.sha1).digest()).decode()
    expired = TurnClient(host, port, old_name, old_password)
    try:
        assert wrong.allocate().error == 401
        assert expired.allocate().error == 401
    finally:
        wrong.close()
        expired.close()
    assert int(expiry) > time.time()
    # coturn says why it refused the private peers (it logs no allocation or address otherwise).
    assert "denied in the range: 172.16.0.0-172.31.255.255" in stack.logs("coturn")


# --- Janus ---------------------------------------------------------------------------------------
def wait_healthy_service(stack: Stack, service: str, timeout: float = 60) -> str:
    (container,) = stack.containers(service)
    deadline = time.monotonic() + timeout
    while (health := inspect(container, ".State.Health.Status")) != "healthy":
        assert time.monotonic() < deadline, f"{service}: {health}\n{stack.logs(service)}"
        time.sleep(1)
    return container


class GroupCallSocket:
    """One device in a group call, as the app joins it: a ticket by POST, then Janus's protocol
    through the front's proxy socket (/v1/group-call/ws)."""

    def __init__(self, stack: Stack, device: Device) -> None:
        self.stack, self.device = stack, device
        self.ws: Any = None

    async def join(self, chat: str) -> int:
        """Joins the chat's room as a publisher; returns the room."""
        status, _, raw = self.stack.request(
            "POST", f"/v1/chats/{chat}/group-call", headers={"Authorization": f"Bearer {self.device.token}"}
        )
        assert status == 200, (status, raw[:300], self.stack.logs("janus")[-2000:])
        grant = json.loads(raw)
        assert grant["path"] == "/v1/group-call/ws" and grant["expires_in"] > 0
        self.ws = await websockets.connect(
            f"wss://{self.stack.domain}:{self.stack.ports['https']}{grant['path']}",
            host="127.0.0.1",
            port=self.stack.ports["https"],
            ssl=self.stack.tls_context(),
            server_hostname=self.stack.domain,
            subprotocols=["janus-protocol"],  # type: ignore[list-item]
            open_timeout=20,
        )
        await self.ws.send(json.dumps({"talkee": "ticket", "ticket": grant["ticket"]}))
        assert await self.recv() == {"talkee": "ready", "room": grant["room"]}
        session = await self.request({"janus": "create"})
        assert session["janus"] == "success", session
        sid = session["data"]["id"]
        handle = await self.request({"janus": "attach", "plugin": "janus.plugin.videoroom", "session_id": sid})
        assert handle["janus"] == "success", handle
        body = {"request": "join", "ptype": "publisher", "room": grant["room"], "display": self.device.username}
        joined = await self.request(
            {"janus": "message", "session_id": sid, "handle_id": handle["data"]["id"], "body": body}
        )
        data = joined["plugindata"]["data"]
        assert data["videoroom"] == "joined" and data["room"] == grant["room"], joined
        return int(grant["room"])

    async def recv(self) -> dict[str, Any]:
        frame: dict[str, Any] = json.loads(await asyncio.wait_for(self.ws.recv(), 20))
        return frame

    async def request(self, body: dict[str, Any]) -> dict[str, Any]:
        """A Janus request; its answer (acks and others' events skipped)."""
        tx = uuid.uuid4().hex
        await self.ws.send(json.dumps({**body, "transaction": tx}))
        while (answer := await self.recv()).get("transaction") != tx or answer.get("janus") == "ack":
            pass
        return answer

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


def reaches_janus_ports(network: str, janus_ip: str) -> list[str]:
    """Which of Janus's API ports a fresh container on `network` can connect to (both tried at
    once; a connection on the same network takes milliseconds, a dropped one waits the 2 s)."""
    connect = f'timeout 2 bash -c "exec 3<>/dev/tcp/{janus_ip}/$p" 2>/dev/null'
    script = f"for p in 7088 8188; do ({connect} && echo $p) & done; wait"
    return sorted(run(["docker", "run", "--rm", "--network", network, BASE_IMAGE, "bash", "-c", script]).stdout.split())


def test_group_calls_go_through_the_stacks_janus_whose_apis_stay_on_the_private_network(stack: Stack) -> None:
    janus = wait_healthy_service(stack, "janus")
    alice, bob = register(stack, "alice"), register(stack, "bob")
    group = {"kind": "group", "members": [bob.username], "ttl_seconds": None}
    chat = str(stack.call("POST", "/v1/chats", group, alice.token)["id"])

    async def call() -> tuple[int, int, dict[str, Any]]:
        a, b = GroupCallSocket(stack, alice), GroupCallSocket(stack, bob)
        try:
            alice_room = await a.join(chat)
            bob_room = await b.join(chat)
            # Janus tells Alice, in the room, that Bob joined (notify_joining).
            while "joining" not in (event := await a.recv()).get("plugindata", {}).get("data", {}):
                pass
            return alice_room, bob_room, event["plugindata"]["data"]["joining"]
        finally:
            await a.close()
            await b.close()

    alice_room, bob_room, joining = asyncio.run(call())
    assert alice_room == bob_room
    assert joining["display"] == bob.username

    # Only the RTP range is published (UDP, on the configured address); Janus runs as a user
    # of its own, on a read-only root, without new privileges.
    first, last = (int(stack.env_value(n)) for n in ("JANUS_RTP_MIN_PORT", "JANUS_RTP_MAX_PORT"))
    published = inspect(janus, ".HostConfig.PortBindings")
    assert set(published) == {f"{port}/udp" for port in range(first, last + 1)}, published
    assert {b["HostIp"] for bindings in published.values() for b in bindings} == {"127.0.0.1"}
    assert run(["docker", "exec", janus, "id", "-u"]).stdout.strip() != "0"
    assert inspect(janus, ".HostConfig.ReadonlyRootfs") is True
    assert "no-new-privileges:true" in inspect(janus, ".HostConfig.SecurityOpt")

    # The admin API answers web on the stack's network, with the admin secret only...
    probe = (
        "import json, sys, urllib.request as u; r = u.Request('http://janus:7088/admin', "
        "data=json.dumps({'janus': 'list_sessions', 'transaction': 't', **json.loads(sys.argv[1])}).encode()); "
        "print(json.loads(u.urlopen(r, timeout=5).read())['janus'])"
    )
    web = stack.containers("web")[0]
    secret = stack.env_value("TALKEE_JANUS_ADMIN_SECRET")
    answers = [
        run(["docker", "exec", web, "python", "-c", probe, json.dumps(extra)]).stdout.strip()
        for extra in ({"admin_secret": secret}, {"admin_secret": "wrong"}, {})
    ]
    assert answers == ["success", "error", "error"]
    # ...and a container on another network reaches neither API, where one on the stack's does.
    janus_ip = stack.container_ip(janus)
    (own_network,) = inspect(janus, ".NetworkSettings.Networks")
    assert reaches_janus_ports(own_network, janus_ip) == ["7088", "8188"]
    assert reaches_janus_ports("bridge", janus_ip) == []


# --- what survives --------------------------------------------------------------------------------
def test_down_then_up_and_a_restore_onto_new_volumes_keep_users_messages_blobs_and_the_key(stack: Stack) -> None:
    alice, bob = register(stack, "alice"), register(stack, "bob")
    chat = direct_chat(stack, alice, bob)
    blob = stack.call("POST", "/v1/blobs", {"chat_id": chat, "size": 32809}, alice.token)
    content = bytes(range(256)) * 128 + bytes(41)
    assert len(content) == 32809 and blob["chunk_count"] == 1
    status, _, raw = stack.request(
        "PUT",
        f"/v1/blobs/{blob['id']}/chunks/0",
        content,
        {"Content-Type": "application/octet-stream", "Authorization": f"Bearer {alice.token}"},
    )
    assert status == 201, raw
    stack.call("POST", f"/v1/blobs/{blob['id']}/complete", {}, alice.token)
    sent = base64.b64encode(b"a file for bob").decode()
    body = {"client_message_id": uuid.uuid4().hex, "kind": "application", "epoch": 0, "ciphertext": sent}
    stack.call("POST", f"/v1/chats/{chat}/messages", {**body, "blob_ids": [blob["id"]]}, alice.token)
    key_before = json.loads(stack.request("GET", "/.well-known/talkee/server")[2])["ed25519_pub"]

    stack.down()
    assert stack.containers("web") == []
    stack.up()

    again = login(stack, bob.username)  # the account (Argon2 hash) is still there
    history = stack.call("GET", f"/v1/chats/{chat}/messages", token=again.token)["messages"]
    assert [m["ciphertext"] for m in history] == [sent]
    status, _, downloaded = stack.request(
        "GET", f"/v1/blobs/{blob['id']}", headers={"Authorization": f"Bearer {again.token}"}
    )
    assert status == 200 and downloaded == content
    assert json.loads(stack.request("GET", "/.well-known/talkee/server")[2])["ed25519_pub"] == key_before

    # The README's backup command, as an operator runs it in this stack (pg_dump of the
    # stack's PostgreSQL from the web image, the blob volume, the key volume).
    made = stack.compose("exec", "-T", "web", "python", "manage.py", "backup", "/var/lib/talkee/backups/", check=False)
    assert made.returncode == 0, made.stdout + made.stderr
    written = re.search(r"Backup written: (/var/lib/talkee/backups/\S+) \(\d+ bytes; (\d+) blob files", made.stdout)
    assert written is not None and int(written.group(2)) >= 1, made.stdout
    assert "Warning" not in made.stderr, made.stderr

    # The disaster: every volume gone (database, blobs, keys: a new host). The operator keeps
    # the archive, brings up PostgreSQL and Redis and runs the README's restore, then `up`.
    archive = stack.tmp / "restore.tar"
    run(["docker", "cp", f"{stack.containers('web')[0]}:{written.group(1)}", str(archive)])
    os.chown(archive, TALKEE_UID, TALKEE_UID)
    stack.down("-v", "-t", "5")
    assert (
        run(
            ["docker", "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={stack.project}"]
        ).stdout.strip()
        == ""
    )
    stack.compose("up", "-d", "postgres", "redis")
    restore = ["run", "--rm", "-v", f"{archive}:/tmp/restore.tar:ro", "migrate", "python", "manage.py", "restore"]
    restored = stack.compose(*restore, "/tmp/restore.tar", check=False)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    stack.up()
    again = login(stack, bob.username)
    history = stack.call("GET", f"/v1/chats/{chat}/messages", token=again.token)["messages"]
    assert [m["ciphertext"] for m in history] == [sent]
    status, _, downloaded = stack.request(
        "GET", f"/v1/blobs/{blob['id']}", headers={"Authorization": f"Bearer {again.token}"}
    )
    assert status == 200 and downloaded == content
    assert json.loads(stack.request("GET", "/.well-known/talkee/server")[2])["ed25519_pub"] == key_before


def test_production_refuses_to_start_without_its_settings(stack: Stack, tmp_path: Path) -> None:
    image = stack.images["TALKEE_IMAGE"]
    result = run(["docker", "run", "--rm", "--read-only", image, "python", "manage.py", "check"], check=False)
    assert result.returncode != 0
    for name in ("SECRET_KEY", "TALKEE_DOMAIN", "TALKEE_FEDERATION_TLS_CERT", "TALKEE_FEDERATION_TLS_KEY"):
        assert name in result.stderr, (name, result.stderr[-1000:])
    # The compose file itself names what docker/.env lacks before anything starts.
    empty = tmp_path / "empty.env"
    empty.write_text("")
    config = run(["docker-compose", "--env-file", str(empty), "-f", "compose.yaml", "config", "-q"], check=False,
                 cwd=Path(__file__).resolve().parents[2] / "docker")  # fmt: skip
    assert config.returncode != 0 and "in docker/.env" in config.stderr, config.stderr
