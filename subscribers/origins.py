"""Cross-site form posts: the pages that send mail accept a POST only from the app's own pages or the board's.

A browser names the page a form was posted from in `Origin` (on every POST since 2019-2020) and says how it
relates to us in `Sec-Fetch-Site`. Without either header the request did not come from a browser page (curl, a
script, an old client): refusing it would stop no one, since such a client writes whatever headers it likes, and
cross-site request forgery needs a victim's browser, which sends them. Those requests are let through, to the
per-client limits like any other.

Token-carrying routes are not checked: a one-click unsubscribe comes from a mail client (no Origin, or its own),
and /confirm, /preferences and /unsubscribe already need the link's secret.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from flask import Flask, request

from digest.settings import Settings, origin_of

from .context import error_page

# The endpoints whose POST may send mail to any address typed in: sign-up and /manage (lost links).
CHECKED_ENDPOINTS = frozenset({"pages.subscribe", "pages.manage"})
log = logging.getLogger(__name__)


def allowed(origin: str | None, fetch_site: str | None, settings: Settings) -> bool:
    """Whether a form post with these headers may go on."""
    fetch_site = (fetch_site or "").strip().lower()
    if origin is not None and origin.strip() == "null":
        # Sent by a page under `Referrer-Policy: no-referrer` (ours behind a link, or a board's), a sandboxed frame
        # or a redirect across sites: only the browser's own word that the page is ours lets it through.
        return fetch_site == "same-origin"
    if origin is not None:
        # A browser sends scheme://host[:port] and nothing more; anything else names no page of ours either.
        parts = urlsplit(origin.strip())
        if parts.path or parts.query or parts.fragment or "@" in parts.netloc:
            return False
        own = origin_of(origin)
        return own is not None and (own == settings.own_origin or own in settings.signup_origins)
    return fetch_site not in ("cross-site", "same-site")


def install(app: Flask, settings: Settings) -> None:
    """Refuse cross-site POSTs to CHECKED_ENDPOINTS before their view runs (nothing is read, counted or sent)."""
    @app.after_request
    def _referrer_to_ourselves(response):
        # A page with no token in its URL (the sign-up form) may name itself to us: under the app-wide
        # "no-referrer" a browser posts its form with `Origin: null`, which says nothing. Pages behind a link keep
        # "no-referrer" (their URL is a capability); "same-origin" never sends anything to another site either.
        if not request.view_args:
            response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    @app.before_request
    def _refuse_cross_site():
        if request.method != "POST" or request.endpoint not in CHECKED_ENDPOINTS:
            return None
        origin, fetch_site = request.headers.get("Origin"), request.headers.get("Sec-Fetch-Site")
        if allowed(origin, fetch_site, settings):
            return None
        log.info("cross-site form post refused",
                 extra={"endpoint": request.endpoint, "origin": (origin or "")[:200], "fetch_site": fetch_site})
        return error_page(403, "This form cannot be sent from another site",
                          f"For your safety we only accept this form from our own page. Please use the form at "
                          f"{settings.base_url}{request.path}.")
