"""The Flask application: configuration in, routes registered, every error a clear page."""

from __future__ import annotations

import re
import traceback
from datetime import UTC, datetime
from typing import Callable

from flask import Flask, g, render_template, request
from sqlalchemy import Engine
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from digest import db
from digest.subscribers import address_hash
from digest.settings import Settings
from digest.taxonomy import load_taxonomy
from digest.transports import Transport, make_transport

from .mailer import Mailer, ThreadMailer

MAX_BODY = 64 * 1024  # the largest honest form is a few KB

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


def create_app(settings: Settings, engine: Engine | None = None, transport: Transport | None = None,
               clock: Callable[[], datetime] = lambda: datetime.now(UTC), mailer: Mailer | None = None,
               mail_delay: float = 0.05) -> Flask:
    """Build the app over the engine's core; everything it needs is passed in here. Page mail leaves through
    `mailer` (default: a background thread of this process, `mail_delay` seconds after each answer)."""
    # Static files (the sign-up form's timezone script) are served from our own origin: the CSP allows
    # scripts from 'self' only, never inline ones.
    app = Flask(__name__, template_folder=str(settings.templates_dir / "pages"),
                static_folder=str(settings.templates_dir / "static"), static_url_path="/static")
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY, MAX_FORM_MEMORY_SIZE=MAX_BODY)
    engine = engine or db.make_engine(settings.database_url)
    db.ensure_schema(engine)
    tax = load_taxonomy()
    transport = transport or make_transport(settings, autoclose=True)  # never closed: index each mail
    core = app.extensions["digest"] = {
        "settings": settings, "engine": engine, "tax": tax, "clock": clock, "transport": transport,
    }
    core["mailer"] = mailer or ThreadMailer(core, delay=mail_delay)

    @app.teardown_request
    def _close_session(_exc):
        session = g.pop("session", None)
        if session is not None:
            session.close()

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException):
        page, status = error_page(e.code or 500)
        # The page replaces werkzeug's, not its headers: a 405 keeps `Allow` (RFC 9110 requires it).
        kept = {k: v for k, v in e.get_headers() if k.lower() == "allow"}
        return page, status, kept

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):  # the one place an unknown failure becomes a page, logged in full
        # In full but without addresses: a provider's refusal or a database error may quote one.
        route = request.url_rule.rule if request.url_rule else "(no route)"  # never the path: it holds a token
        app.logger.error("unhandled error on %s %s\n%s", request.method, route,
                         without_addresses("".join(traceback.format_exception(e))))
        return error_page(500)

    @app.after_request
    def _headers(response):
        # Links carry capabilities: never leak them onward, never cache pages that show personal data.
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")  # frame-ancestors for browsers without CSP 2
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; "
                                    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
        return response

    from . import feedback_pages, origins, test_copy  # noqa: F401  (their routes and checks join the blueprint)
    from .views import bp

    app.register_blueprint(bp)
    origins.install(app, settings)
    return app


ADDRESS = re.compile(r"[^\s<>\"'(),;:@]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")


def without_addresses(text: str) -> str:
    """`text` with every email address replaced by a short hash of it (the suppression list's hash)."""
    return ADDRESS.sub(lambda m: f"<address {address_hash(m.group())[:12]}>", text)


def error_page(status: int, title: str | None = None, text: str | None = None):
    default_title, default_text = MESSAGES.get(status, MESSAGES[400])
    return render_template("error.html", title=title or default_title, text=text or default_text), status


def core() -> dict:
    from flask import current_app

    return current_app.extensions["digest"]


def session() -> Session:
    """The request's session, opened on first use and closed at teardown."""
    if "session" not in g:
        g.session = Session(core()["engine"], expire_on_commit=False)
    return g.session
