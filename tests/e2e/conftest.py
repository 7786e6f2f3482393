"""End-to-end fixtures: `digest serve` on a free local port, Debian's Chromium through Playwright, axe-core.

The database is SQLite by default to keep the suite fast; E2E_DATABASES=sqlite,postgresql runs every e2e test
on both (the server and the tests only ever see a URL).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from digest.settings import Settings

from ..conftest import fresh_database, write_artifact
from ..support.serve import cli_env, free_port, serving

REPO = Path(__file__).resolve().parents[2]
# Screenshots for the README go to test-artifacts/ (a test run leaves the work tree as it found it);
# scripts/refresh-screenshots points this at docs/screenshots/ to update the committed ones.
SHOTS = Path(os.environ.get("SCREENSHOTS_DIR") or REPO / "test-artifacts" / "screenshots")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
BLOCKING = ("serious", "critical")


@pytest.fixture(params=[d.strip() for d in os.environ.get("E2E_DATABASES", "sqlite").split(",") if d.strip()])
def db_url(request, tmp_path, sqlite_template):
    """A migrated, empty database (overrides the suite's fixture: SQLite only unless E2E_DATABASES says more)."""
    return fresh_database(request.param, request, tmp_path, sqlite_template)


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def settings(db_url, tmp_path, port) -> Settings:
    """The settings the server runs with: the tests build links and run digests with the same ones."""
    return Settings(database_url=db_url, outbox_dir=tmp_path / "outbox", base_url=f"http://127.0.0.1:{port}",
                    claim_lease_seconds=600)


def digest_cli(settings: Settings, *args: str) -> str:
    """Run the real `digest` command; return its stdout (a failure shows its stderr)."""
    done = subprocess.run([str(Path(sys.executable).with_name("digest")), *args], env=cli_env(settings),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"digest {' '.join(args)} exited {done.returncode}: {done.stderr}"
    return done.stdout


@pytest.fixture
def server(settings, port, tmp_path):
    """`digest serve` as a subprocess on a free port; yields its base URL once /healthz answers."""
    with serving(port, cli_env(settings), tmp_path / "serve.log"):
        yield settings.base_url


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, one per session (never Playwright's downloaded build)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium; scripts/test "
                    "does this). The browser tests never skip.")
    if not AXE.exists():
        pytest.fail(f"{AXE.relative_to(REPO)} is missing: run `npm ci` in the repository (scripts/test does this).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def _context(browser, **options):
    # bypass_csp where JavaScript runs: the app's CSP (rightly) forbids inline scripts, and axe is injected as
    # one. Pages with JavaScript off see the real policy, so a style it blocked would show.
    defaults = {"viewport": PHONE, "bypass_csp": options.get("java_script_enabled", True)}
    context = browser.new_context(**(defaults | options))
    context.set_default_timeout(10_000)
    return context


def _watch(page, problems: list[str]):
    """Collect what the browser complains about: CSP refusals, script errors (HTTP error pages are expected)."""
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    return page


@pytest.fixture
def page(browser):
    """A fresh phone-sized page with JavaScript on (axe runs in it)."""
    context, problems = _context(browser), []
    yield _watch(context.new_page(), problems)
    context.close()
    assert not problems, problems


@pytest.fixture
def new_page(browser):
    """Open more pages: new_page(java_script_enabled=False, viewport=DESKTOP)."""
    contexts, problems = [], []

    def make(**options):
        contexts.append(_context(browser, **options))
        return _watch(contexts[-1].new_page(), problems)

    yield make
    for c in contexts:
        c.close()
    assert not problems, problems


def check_page(page, name: str, axe: bool = True) -> list[dict]:
    """Assert the page fits its viewport's width and has no serious or critical axe violations; return them all.

    `axe=False` for pages opened with JavaScript off: axe runs as a page script.
    """
    width = page.viewport_size["width"]
    scroll_width = page.evaluate("document.scrollingElement.scrollWidth")
    assert scroll_width <= width, f"{name}: content is {scroll_width}px wide in a {width}px viewport"
    if not axe:
        return []
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    violations = result["violations"]
    for v in violations:
        targets = [n["target"] for n in v["nodes"]][:5]
        print(f"axe {name}: {v['impact']} {v['id']}: {v['help']} ({len(v['nodes'])} nodes: {json.dumps(targets)})")
    AXE_LOG.append({"page": name, "url": page.url, "violations": [
        {"id": v["id"], "impact": v["impact"], "nodes": len(v["nodes"])} for v in violations]})
    blocking = [v for v in violations if v["impact"] in BLOCKING]
    assert not blocking, f"{name}: axe found {[(v['id'], v['impact']) for v in blocking]}"
    return violations


AXE_LOG: list[dict] = []  # every page checked in this session, written to test-artifacts/axe.json at the end


@pytest.fixture(scope="session", autouse=True)
def _axe_report():
    yield
    if AXE_LOG:
        write_artifact("axe.json", AXE_LOG)
