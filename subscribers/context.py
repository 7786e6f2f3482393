"""What a request needs from the app: its runtime (settings, engine, taxonomy, clock, transport, mailer), its
database session, and the error page; views import these, never app.py (which registers the views)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from flask import current_app, g, render_template
from sqlalchemy.orm import Session

from digest.runtime import Runtime
from digest.subscribers import address_hash

if TYPE_CHECKING:
    from .mailer import Mailer

MESSAGES = {
    400: ("That did not work", "The request could not be understood. Please go back and try again."),
    403: ("Not allowed", "This page cannot be used that way."),
    404: ("This link is not valid", "The link may be incomplete or no longer in use. Links from our emails "
                                   "work when opened exactly as they arrived."),
    405: ("Not allowed", "This page cannot be used that way."),
    413: ("Too much data", "The form sent more data than any of our pages accept."),
    415: ("Unsupported form", "Please use the form on the page."),
    429: ("Too many requests", "Please wait a few minutes and try again."),
    500: ("Something went wrong", "We could not finish that. Nothing was changed; please try again later."),
}


ADDRESS = re.compile(r"[^\s<>\"'(),;:@]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def without_addresses(text: str) -> str:
    """`text` with every email address replaced by a short hash of it (the suppression list's hash)."""
    return ADDRESS.sub(lambda m: f"<address {address_hash(m.group())[:12]}>", text)


def error_page(status: int, title: str | None = None, text: str | None = None):
    default_title, default_text = MESSAGES.get(status, MESSAGES[400])
    return render_template("error.html", title=title or default_title, text=text or default_text), status


class SiteRuntime(Runtime):
    """The web app's runtime: the engine's, plus the mailer that sends what a page asked for after its answer."""

    mailer: Mailer


def core() -> SiteRuntime:
    """The app's runtime (create_app builds it)."""
    return current_app.extensions["digest"]


def session() -> Session:
    """The request's session, opened on first use and closed at teardown."""
    if "session" not in g:
        g.session = core().session()
    return g.session
