"""The Flask application: configuration in, routes registered, every error a clear page."""

from __future__ import annotations

import traceback
from datetime import datetime
from typing import Callable

from flask import Flask, g, request
from sqlalchemy import Engine
from werkzeug.exceptions import HTTPException

from digest.carriers.base import Transport
from digest.runtime import utc_now
from digest.settings import Settings
from digest.tokens import TokenError

from .context import SiteRuntime, error_page, without_addresses
from .mailer import Mailer, ThreadMailer

MAX_BODY = 64 * 1024  # the largest honest form is a few KB


def create_app(settings: Settings, engine: Engine | None = None, transport: Transport | None = None,
               clock: Callable[[], datetime] = utc_now, mailer: Mailer | None = None,
               mail_delay: float = 0.05) -> Flask:
    """Build the app over the engine's core; everything it needs is passed in here. Page mail leaves through
    `mailer` (default: a background thread of this process, `mail_delay` seconds after each answer)."""
    # Static files (the sign-up form's timezone script) are served from our own origin: the CSP allows
    # scripts from 'self' only, never inline ones.
    app = Flask(__name__, template_folder=str(settings.templates_dir / "pages"),
                static_folder=str(settings.templates_dir / "static"), static_url_path="/static")
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY, MAX_FORM_MEMORY_SIZE=MAX_BODY)
    # Built now, so a database that cannot be reached or a carrier that cannot start fails the start, not a page.
    # The transport is never closed: the outbox indexes each mail as it is written.
    runtime = SiteRuntime(settings, engine=engine, transport=transport, clock=clock, autoclose=True)
    app.extensions["digest"] = runtime.prepare("engine", "taxonomy", "transport")
    runtime.mailer = mailer or ThreadMailer(runtime, delay=mail_delay)

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

    # A link that does not verify (forged, truncated, revoked, other purpose or gone) looks the same wherever it
    # is used: the 404 page.
    app.register_error_handler(TokenError, lambda _e: error_page(404))

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
