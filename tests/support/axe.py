"""axe-core (web/node_modules/axe-core, pinned in web/package.json) run on a live page.

The production Content-Security-Policy stays as it is: axe's source is evaluated through a
DevTools session (`Runtime.evaluate`, which the page's CSP does not govern), not added as a
script tag (inline: refused) or from another origin."""

from pathlib import Path
from typing import Any

from playwright.sync_api import Page

AXE_SOURCE = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "axe-core" / "axe.min.js"

# Serious and critical violations fail a test; the rest are reported in its message.
FAILING = ("serious", "critical")

RUN_AXE = """async () => {
  // axe's default rule set: WCAG 2.0 to 2.2 A and AA and its best practices (not its experimental rules).
  const result = await window.axe.run(document, { resultTypes: ["violations"] });
  return result.violations.map((v) => ({
    id: v.id,
    impact: v.impact,
    help: v.help,
    nodes: v.nodes.slice(0, 6).map((n) => n.target.join(" ") + " :: " + (n.failureSummary || "").replace(/\\s+/g, " ")),
  }));
}"""


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Every axe violation on the page as it is now (axe loaded into it once)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        session = page.context.new_cdp_session(page)
        try:
            answer = session.send("Runtime.evaluate", {"expression": AXE_SOURCE.read_text()})
            assert "exceptionDetails" not in answer, answer
        finally:
            session.detach()
    return list(page.evaluate(RUN_AXE))


def assert_accessible(page: Page, screen: str) -> list[dict[str, Any]]:
    """No serious or critical axe violation on this screen; returns the minor ones."""
    found = axe_violations(page)
    bad = [v for v in found if v["impact"] in FAILING]
    assert not bad, f"axe on {screen}: " + "\n".join(f"{v['impact']} {v['id']}: {v['help']} {v['nodes']}" for v in bad)
    return [v for v in found if v["impact"] not in FAILING]
