"""Browser tests of the Talkee PWA (web/src → static/app) in Debian's Chromium,
against a live daphne on the test database.

The app must be built (`cd web && npm run build`); it is built here when static/app is
missing. Screenshots of the main screens go to test-artifacts/app/.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Error, Page, Response, expect

from tests.conftest import BLOB_DIR, ROOT, LiveServer, federation_hosts_env, start_daphne, stop
from tests.e2e.crypto.conftest import Harness
from tests.federation.conftest import S2sListener, instance_a_s2s  # noqa: F401 (fixture)
from tests.federation.pki import Pki
from tests.support.federation import InstanceB

APP_DIR = ROOT / "static" / "app"
ARTIFACTS = ROOT / "test-artifacts" / "app"
PASSWORD = "a long test password 42"
# Argon2id (64 MiB) in WASM, ML-KEM-1024 KeyPackages and MLS commits take a few seconds.
SLOW = 30_000
ASYNC_UNSAFE = "DJANGO_ALLOW_ASYNC_UNSAFE"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """The sync Playwright API keeps an event loop in this thread, so Django takes the
    test's plain synchronous ORM calls (dump, flush) for async code. Allowed here only,
    for these tests, and never for the servers they start."""
    previous = os.environ.get(ASYNC_UNSAFE)
    os.environ[ASYNC_UNSAFE] = "true"
    yield
    if previous is None:
        os.environ.pop(ASYNC_UNSAFE, None)
    else:
        os.environ[ASYNC_UNSAFE] = previous


@pytest.fixture(scope="session")
def built_app() -> Path:
    if not (APP_DIR / "index.html").is_file():
        result = subprocess.run(["npm", "run", "build"], cwd=ROOT / "web", capture_output=True, text=True)
        if result.returncode != 0:
            pytest.fail(f"`cd web && npm run build` failed:\n{result.stdout}\n{result.stderr}", pytrace=False)
    return APP_DIR


@pytest.fixture(scope="session")
def app_server(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: Any, built_app: Path, federation_pki: Pki
) -> Iterator[LiveServer]:
    """daphne serving the built app and the API; throttles relaxed for many sign-ups from one IP.
    It is instance A (`localhost`) of the federation tests: its certificate and the peers' map."""
    # The session's blob directory: the Celery worker and A's s2s listener (which also
    # store and serve files for A) use it too.
    blob_dir = BLOB_DIR
    server = start_daphne(
        tmp_path_factory.mktemp("app-daphne"),
        name="app-daphne",
        extra_env={
            "THROTTLE_LOGIN_IP": "1000/min",
            "THROTTLE_LOGIN_USER": "1000/min",
            "THROTTLE_REGISTER_IP": "1000/min",
            "DJANGO_ALLOW_ASYNC_UNSAFE": "",  # the server keeps Django's async-safety checks
            "TALKEE_FEDERATION_HOSTS": federation_hosts_env(),
            **federation_pki.env("localhost"),
        },
    )
    server.blob_dir = blob_dir  # type: ignore[attr-defined]
    yield server
    stop(server.process)


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


@dataclass
class Person:
    """One user in their own browser context (their own IndexedDB: one device)."""

    name: str
    context: BrowserContext
    page: Page
    server: LiveServer
    typed: list[str]

    def open(self) -> None:
        self.page.goto(self.server.url + "/")

    def sign_up(self, state: str = "Connected", shots: bool = False) -> None:
        page = self.page
        self.open()
        if shots:
            shot(page, "00a-welcome")
            assert_controls_named(page)
        page.get_by_role("button", name="Create account").first.click()
        page.get_by_label("Username").fill(self.name)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_label("Repeat password").fill(PASSWORD)
        page.locator("form").get_by_role("button", name="Create account").click()
        phrase = page.get_by_role("list", name="Recovery phrase")
        expect(phrase).to_be_visible()
        words = phrase.locator("li").all_inner_texts()
        assert len(words) == 12
        self.words = words
        if shots:
            shot(page, "00b-recovery-phrase")
        page.get_by_role("button", name="I have written it down").click()
        if shots:
            shot(page, "00c-confirm-phrase")
        for index in (3, 7, 11):
            page.get_by_label(f"Word {index}", exact=True).fill(words[index - 1])
        page.get_by_role("button", name="Confirm and create account").click()
        expect(page.get_by_role("status", name="Connection")).to_have_text(state, timeout=SLOW)

    def sign_in(self, state: str = "Connected", phrase: list[str] | None = None) -> None:
        """Sign in on this browser as a new device of an existing account (with the recovery
        phrase, the device certifies itself with the account's identity key)."""
        page = self.page
        self.open()
        page.get_by_role("button", name="Sign in").first.click()
        page.get_by_label("Username").fill(self.name)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        if phrase is not None:
            page.get_by_label(re.compile("^Recovery phrase")).fill(" ".join(phrase))
        page.locator("form").get_by_role("button", name="Sign in").click()
        expect(self.banner()).to_have_text(state, timeout=SLOW)

    def start_direct(self, other: str) -> None:
        self.page.get_by_label("Username to message").fill(other)
        self.page.get_by_role("button", name="Start chat").click()
        expect(self.composer).to_be_visible(timeout=SLOW)

    def create_group(self, name: str, members: list[Person], kind: str = "group") -> None:
        """A group (or channel) with `members`, made from the chat list; it opens."""
        page = self.page
        page.get_by_role("button", name="New group or channel").click()
        page.get_by_label("Name", exact=True).fill(name)
        page.get_by_label("Members (usernames, comma-separated)").fill(", ".join(m.name for m in members))
        if kind != "group":
            page.get_by_label("Kind").select_option(kind)
        page.get_by_role("button", name="Create", exact=True).click()
        expect(self.composer).to_be_visible(timeout=SLOW)

    def open_chat(self, title: str) -> None:
        self.page.get_by_role("button", name=re.compile(rf"^Open chat .*{re.escape(title)}")).click()

    @property
    def composer(self) -> Any:
        return self.page.get_by_role("textbox", name="Message", exact=True)

    @property
    def log(self) -> Any:
        return self.page.get_by_role("log", name="Messages")

    def say(self, text: str) -> None:
        self.typed.append(text)
        self.composer.fill(text)
        self.composer.press("Enter")

    def message(self, text: str) -> Any:
        exact = self.page.locator(".text").filter(has_text=re.compile(rf"^{re.escape(text)}$"))
        return self.log.locator("li.msg").filter(has=exact)

    def expect_message(self, text: str) -> None:
        expect(self.message(text)).to_have_count(1, timeout=SLOW)

    def banner(self) -> Any:
        return self.page.get_by_role("status", name="Connection")

    def attach(self, *paths: str) -> None:
        """Pick files with the composer's attach button; they wait with a preview until Send."""
        self.page.get_by_label("Attach file").set_input_files(list(paths))
        self.send_staged(len(paths))

    def send_staged(self, count: int = 1) -> None:
        """Send the files waiting above the text box (what is written is the caption)."""
        self.page.get_by_role("button", name="Send file" if count == 1 else f"Send {count} files").click()

    def set_display_name(self, name: str, screenshot: str | None = None) -> None:
        """Settings → Profile: the display name, sealed under this person's profile key."""
        page = self.page
        self.typed.append(name)
        page.get_by_role("button", name="Settings").click()
        page.get_by_label("Display name").fill(name)
        page.get_by_role("button", name="Save name").click()
        expect(page.get_by_role("status", name="Profile")).to_have_text("Your display name was saved.", timeout=SLOW)
        if screenshot is not None:
            assert_controls_named(page)
            shot(page, screenshot)
        page.get_by_role("button", name="Close settings").click()


def watch_csp(page: Page, violations: list[str], tag: str = "") -> None:
    """Collect every Content-Security-Policy violation the page meets: Chromium's own console
    line ("Refused to ... violates the following Content Security Policy directive") and the
    page's `securitypolicyviolation` events (also those Chromium does not log)."""
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e => console.error("
        "'securitypolicyviolation: Content Security Policy ' + e.violatedDirective + ' ' + e.blockedURI))"
    )

    def on_console(msg: ConsoleMessage) -> None:
        if "Content Security Policy" in msg.text:
            violations.append(f"[{tag}] {msg.text}")

    page.on("console", on_console)


@pytest.fixture
def people(browser: Browser, app_server: LiveServer, request: pytest.FixtureRequest) -> Iterator[Any]:
    """Factory of Persons, each in a fresh context sized like a desktop."""
    contexts: list[BrowserContext] = []
    typed: list[str] = []
    logs: list[str] = []
    violations: list[str] = []
    suffix = uuid.uuid4().hex[:5]

    def make(
        name: str, viewport: dict[str, int] | None = None, label: str | None = None, locale: str | None = None
    ) -> Person:
        """`label` names this browser in the console log (several devices of one user);
        `locale` is the browser's language (navigator.languages), e.g. "ru-RU"."""
        options: dict[str, Any] = {"viewport": viewport or {"width": 1280, "height": 800}}
        if locale is not None:
            options["locale"] = locale
        context = browser.new_context(**options)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(SLOW)
        tag = label or name
        logs.append(f"--- {tag}")

        def on_console(msg: ConsoleMessage) -> None:
            logs.append(f"[{tag}] {msg.type}: {msg.text}")

        def on_error(err: Error) -> None:
            logs.append(f"[{tag}] pageerror: {err}")

        def on_response(response: Response) -> None:
            if response.status >= 400:
                logs.append(f"[{tag}] http {response.status} {response.request.method} {response.url}")

        watch_csp(page, violations, tag)
        page.on("console", on_console)
        page.on("pageerror", on_error)
        page.on("response", on_response)
        person = Person(f"{name}{suffix}", context, page, app_server, typed)
        return person

    make.typed = typed  # type: ignore[attr-defined]
    yield make
    for context in contexts:
        context.close()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"console-{request.node.name}.log").write_text("\n".join(logs))
    if violations:
        pytest.fail("Content-Security-Policy violations:\n" + "\n".join(violations))


# Every value of every object store of every IndexedDB database of the page, and its
# localStorage and sessionStorage, searched for the UTF-8 bytes of each needle (binary
# values byte for byte, strings as text). Returns the places a needle was found.
FIND_IN_BROWSER_STORAGE = """async (needles) => {
  const enc = new TextEncoder();
  const wanted = needles.map((n) => ({ text: n, bytes: enc.encode(n) }));
  const hits = [];
  const has = (hay, needle) => {
    outer: for (let i = 0; i + needle.length <= hay.length; i++) {
      for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
      return true;
    }
    return false;
  };
  const scan = (value, where, depth = 0) => {
    if (value === null || value === undefined || depth > 8) return;
    if (typeof value === "string") {
      for (const w of wanted) if (value.includes(w.text)) hits.push(`${where}: ${w.text}`);
    } else if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
      const bytes = value instanceof ArrayBuffer
        ? new Uint8Array(value)
        : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
      for (const w of wanted) if (has(bytes, w.bytes)) hits.push(`${where}: ${w.text}`);
    } else if (typeof value === "object") {
      for (const [k, v] of Object.entries(value)) scan(v, `${where}.${k}`, depth + 1);
    }
  };
  let stores = 0;
  const keysSeen = [];
  for (const info of await indexedDB.databases()) {
    const db = await new Promise((resolve, reject) => {
      const open = indexedDB.open(info.name);
      open.onsuccess = () => resolve(open.result);
      open.onerror = () => reject(open.error);
    });
    for (const name of db.objectStoreNames) {
      stores++;
      const read = (call) => new Promise((resolve, reject) => {
        const req = db.transaction(name).objectStore(name)[call]();
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => reject(req.error);
      });
      const [keys, values] = [await read("getAllKeys"), await read("getAll")];
      values.forEach((v, i) => scan(v, `${info.name}/${name}/${String(keys[i])}`));
      keysSeen.push(...keys.map((k) => `${info.name}/${name}/${String(k)}`));
    }
    db.close();
  }
  for (const [label, storage] of [["localStorage", localStorage], ["sessionStorage", sessionStorage]]) {
    for (let i = 0; i < storage.length; i++) scan(storage.getItem(storage.key(i)), `${label}/${storage.key(i)}`);
  }
  return { stores, hits, keys: keysSeen };
}"""


def unlock(person: Person, screenshot: str | None = None) -> None:
    """The lock screen after a reload (no chat in the address: none is opened) names the account."""
    person.page.goto(person.server.url + "/")
    expect(person.page.locator(".lock-account")).to_have_text(re.compile(rf"^{re.escape(person.name)}@"))
    if screenshot is not None:
        shot(person.page, screenshot)
    person.page.get_by_label("Password").fill(PASSWORD)
    person.page.get_by_role("button", name="Unlock").click()
    expect(person.banner()).to_have_text("Connected", timeout=SLOW)


def assert_private(server: LiveServer, texts: list[str], contents: list[bytes] = ()) -> None:  # type: ignore[assignment]
    """Privacy scan: no plaintext the test typed (or file it sent) is in any table,
    in the blob storage or in the server's log."""
    from tests.support.database import dump_database

    dump = dump_database()
    log = server.log().encode()
    blob_dir: Path = server.blob_dir  # type: ignore[attr-defined]
    stored = b"\n".join(p.read_bytes() for p in blob_dir.rglob("*") if p.is_file())
    names = "\n".join(str(p) for p in blob_dir.rglob("*")).encode()
    assert texts, "the scan needs the typed texts"
    for text in texts:
        needle = text.encode()
        assert needle not in dump, f"plaintext {text!r} found in the database"
        assert needle not in log, f"plaintext {text!r} found in the server log"
        assert needle not in stored and needle not in names, f"plaintext {text!r} found in the blob storage"
    for content in contents:
        for store, where in ((dump, "database"), (log, "server log"), (stored, "blob storage")):
            assert content not in store, f"file contents found in the {where}"


def assert_sizes_private(server: LiveServer, sizes: list[int]) -> None:
    """Privacy scan for file sizes: every blob is one of the padded sizes, and no number
    column of any table (nor the server log) holds a file's true size."""
    from django.db import connection

    from apps.blobs.models import Blob
    from apps.blobs.sizes import ACCEPTED_SIZES

    blobs = list(Blob.objects.all())
    assert blobs, "the scan needs blobs"
    for blob in blobs:
        assert blob.size in ACCEPTED_SIZES, f"blob {blob.id} has a size ({blob.size}) that is no bucket"
        if blob.storage_name:
            assert (Path(server.blob_dir) / blob.storage_name).stat().st_size == blob.size  # type: ignore[attr-defined]
    log = server.log()
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            for row in cursor.fetchall():
                for size in sizes:
                    assert size not in [v for v in row if isinstance(v, int) and not isinstance(v, bool)], (
                        f"a file's true size {size} is in table {table}"
                    )
    numbers = log_numbers(log)
    for size in sizes:
        assert size not in numbers, f"a file's true size {size} is in the server log"


UUID_OR_HEX = re.compile(r"\b[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\b|\b[0-9a-f]{16,}\b")
TIMINGS = re.compile(r'"(?:ms|ts)": ("[^"]*"|[0-9.]+)')


def log_numbers(log: str) -> set[int]:
    """The whole numbers a server log states: ids (UUIDs, hex digests) and the timing fields
    (`ts`, `ms`) are left out, so a random UUID group that happens to read "2995" is not taken
    for a size; a decimal's parts are not whole numbers either."""
    text = TIMINGS.sub("", UUID_OR_HEX.sub("", log))
    return {int(n) for n in re.findall(r"(?<![\w.])\d+(?![\w.])", text)}


@pytest.fixture
def instance_b(
    app_server: LiveServer,
    celery_worker_process: Path,
    instance_a_s2s: S2sListener,  # noqa: F811 (the fixture imported above)
    federation_pki: Pki,
    tmp_path: Path,
) -> Iterator[InstanceB]:
    """B (`b.test`, 127.0.0.3): its own daphne, s2s listener, worker and database."""
    b = InstanceB(tmp_path, instance_a_s2s.address, federation_pki)
    b.start()
    try:
        yield b
    finally:
        b.stop()
        b.drop()


def pair(people: Any) -> tuple[Person, Person]:
    """Alice and Bob, signed up, in a direct chat Alice started."""
    alice = people("alice")
    bob = people("bob")
    alice.sign_up()
    bob.sign_up()
    alice.start_direct(bob.name)
    alice.say("Hello from Alice")
    bob.open_chat(alice.name)
    bob.expect_message("Hello from Alice")
    return alice, bob


NAMELESS_CONTROLS = """() => [...document.querySelectorAll('button, input, select, textarea, a[href]')]
  .filter(el => el.getClientRects().length > 0 || el.type === 'file')
  .filter(el => {
    const own = el.getAttribute('aria-label') || el.getAttribute('title') || '';
    const labels = el.labels ? [...el.labels].map(l => l.textContent).join(' ') : '';
    const text = (el.tagName === 'BUTTON' || el.tagName === 'A') ? el.textContent : '';
    return !(own + labels + text).trim();
  })
  .map(el => el.outerHTML.slice(0, 160))"""


def assert_controls_named(page: Page) -> None:
    """Every visible control has an accessible name (tests and screen readers rely on it)."""
    assert page.evaluate(NAMELESS_CONTROLS) == []


def on_b(person: Person, b: InstanceB) -> Person:
    """The person's browser talks to B (its own origin, 127.0.0.3) instead of A."""
    assert b.process is not None
    person.server = LiveServer(b.url, b.url.replace("http://", "ws://"), b.process, b.log_path)
    return person


@dataclass
class Ghost:
    """A device the operator makes for someone: its own keys and a genuine MLS KeyPackage."""

    worker: Any
    device_id: str
    keys: dict[str, str]
    keypackage: bytes


def make_ghost(context: BrowserContext, harness_url: str, user: str) -> Ghost:
    """The operator's ghost for `user`, made in the crypto harness (a page of `context`)."""
    page = context.new_page()
    page.goto(harness_url)
    page.wait_for_function("() => window.talkeeHarness !== undefined")
    worker = Harness(page).worker()
    device_id = str(uuid.uuid4())
    keys = worker.setupDevice({"password": PASSWORD, "user": user, "deviceId": device_id, "dbName": "ghost-vault"})
    [keypackage] = worker.makeKeyPackages(1)
    return Ghost(worker, device_id, keys, keypackage)


# ---- Web Push in the browser (test_app_push, test_app_mentions) ---------------------------

NOTIFICATIONS = """async (tag) => {
  const registration = await navigator.serviceWorker.ready;
  const shown = await registration.getNotifications(tag ? {tag} : {});
  return shown.map(n => ({title: n.title, body: n.body, tag: n.tag, actions: n.actions.map(a => a.title)}));
}"""


def deliver_push(person: Person, data: bytes) -> None:
    page = person.page
    page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=SLOW)
    cdp = person.context.new_cdp_session(page)
    registrations: list[dict[str, Any]] = []
    cdp.on("ServiceWorker.workerRegistrationUpdated", lambda event: registrations.extend(event["registrations"]))
    cdp.send("ServiceWorker.enable")
    deadline = time.monotonic() + 10
    scope = person.server.url + "/"
    while not any(r["scopeURL"] == scope and not r["isDeleted"] for r in registrations):
        assert time.monotonic() < deadline, registrations
        page.wait_for_timeout(100)
    registration = next(r for r in registrations if r["scopeURL"] == scope and not r["isDeleted"])
    cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": person.server.url, "registrationId": registration["registrationId"], "data": data.decode()},
    )
    cdp.detach()


def notifications(person: Person, tag: str, count: int = 1) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 15
    while True:
        shown = person.page.evaluate(NOTIFICATIONS, tag)
        if len(shown) >= count or time.monotonic() > deadline:
            return list(shown)
        person.page.wait_for_timeout(200)
