"""Chromium submits the sign-up form from a page on another site (refused) and from the board's own page
(DIGEST_SIGNUP_ORIGINS, accepted), against the real `digest serve`. The pages "on" those sites are served by
Playwright's router: no network, no second server."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from digest import db
from digest.models import Subscriber

from ..support.serve import cli_env, serving

BOARD = "http://jobs.example.com"


def serve_html(body: str):
    """A route handler answering every request with `body`."""
    return lambda route: route.fulfill(status=200, content_type="text/html", body=body)


def test_a_real_browser_posting_from_another_site_is_refused(settings, port, tmp_path, browser):
    env = cli_env(settings) | {"DIGEST_SIGNUP_ORIGINS": BOARD}
    form = (f'<!doctype html><html lang="en"><title>x</title><form method="post" action="{settings.base_url}/subscribe">'
            f'<input name="email" value="{{}}"><input name="timezone" value="UTC"><button>Go</button></form>')
    seen = {}
    with serving(port, env, tmp_path / "serve.log"):
        context = browser.new_context()
        try:
            page = context.new_page()
            for site, address in (("http://evil.example", "forged@example.com"), (BOARD, "embedded@example.com")):
                page.route(f"{site}/**", serve_html(form.format(address)))
                page.goto(f"{site}/page")
                with page.expect_navigation():
                    page.click("button")
                seen[site] = page.locator("h1").inner_text()
        finally:
            context.close()
    assert seen == {"http://evil.example": "This form cannot be sent from another site", BOARD: "Check your inbox"}
    engine = db.make_engine(settings.database_url)
    try:
        with Session(engine) as s:
            stored = dict(s.execute(select(Subscriber.email, Subscriber.status)).all())
    finally:
        engine.dispose()
    assert stored == {"embedded@example.com": "pending"}
