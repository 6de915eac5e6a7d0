"""The PWA runs under a strict Content-Security-Policy, and a violation fails the browser suite
(every `people` page is watched by `watch_csp`; this checks the watcher itself sees one)."""

import re

from playwright.sync_api import Browser

from tests.conftest import LiveServer
from tests.e2e.app.conftest import watch_csp


def test_the_app_is_served_with_the_policy_and_a_violation_is_caught(browser: Browser, app_server: LiveServer) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        violations: list[str] = []
        watch_csp(page, violations)
        answer = page.goto(f"{app_server.url}/")
        assert answer is not None and answer.status == 200
        policy = answer.headers["content-security-policy"]
        directives = {d.strip().split(" ", 1)[0]: d.strip().split(" ", 1)[1] for d in policy.split(";")}
        assert directives["default-src"] == "'self'"
        assert directives["script-src"] == "'self' 'wasm-unsafe-eval'"
        assert directives["frame-ancestors"] == "'none'"
        assert directives["object-src"] == "'none'"
        assert directives["base-uri"] == "'none'"
        page.wait_for_load_state("networkidle")
        assert violations == []
        # An inline script and an image from elsewhere: both refused and both reported.
        page.evaluate(
            "() => { const s = document.createElement('script'); s.textContent = 'window.__ran = 1';"
            " document.body.appendChild(s);"
            " const i = document.createElement('img'); i.src = 'https://elsewhere.invalid/x.png';"
            " document.body.appendChild(i); }"
        )
        page.wait_for_timeout(500)
        assert page.evaluate("() => window.__ran") is None
        assert any(re.search(r"script-src", v) for v in violations), violations
        assert any(re.search(r"img-src", v) for v in violations), violations
    finally:
        context.close()


def test_the_api_docs_render_under_the_policy(browser: Browser, app_server: LiveServer) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        violations: list[str] = []
        watch_csp(page, violations)
        answer = page.goto(f"{app_server.url}/v1/docs")
        assert answer is not None and answer.status == 200
        assert "default-src 'self'" in answer.headers["content-security-policy"]
        page.locator(".swagger-ui .info .title").wait_for()
        page.wait_for_load_state("networkidle")
        assert violations == []
    finally:
        context.close()
