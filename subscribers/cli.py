"""`digest serve`: the web app on a real local HTTP server (waitress), registered as a digest plugin command.

For one machine, on loopback or behind a reverse proxy; production is API Gateway (README "The subscriber
pages"). The limits below keep a careless or slow client from holding the server: waitress would otherwise
buffer up to 1 GiB of body before Flask's limit is applied, and its 100 connections can be held open by idle
half-sent requests for 2 minutes each.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import sys

import click

# Passed to waitress.create_server, with max_request_body_size = the app's MAX_BODY (64 KB): a bigger body is
# refused with 413 as soon as its Content-Length (or its chunks so far) say so, never buffered to a temp file.
SERVER_LIMITS = dict(
    max_request_header_size=32 * 1024,  # our requests carry no cookies; a browser's headers are a few KB
    channel_timeout=5,  # seconds a connection may sit idle (keep-alive, or a request that stopped arriving)
    cleanup_interval=1,  # how often idle connections are looked for: one is closed 5-6 s after its last byte
    connection_limit=200,  # then new connections wait in the listen backlog until idle ones are closed
    backlog=1024,
)


def is_loopback(host: str) -> bool:
    """Whether `host` can only be reached from this machine."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64), help="Worker threads.")
@click.option("--access-log", default="-", show_default=True, metavar="FILE",
              help="Append one line per request here ('-': stderr, 'off': none); tokens in paths are left out.")
def serve(host: str, port: int, threads: int, access_log: str):
    """Serve the subscriber pages (sign up, confirm, preferences, unsubscribe).

    For one machine, on loopback or behind a reverse proxy (set DIGEST_TRUSTED_PROXIES to its address); in
    production the pages run on API Gateway. Anything but loopback needs a signing key of your own.

    The access log has one line per request: time (UTC), the client's network as a keyed hash, method, path
    with tokens written as '…' (no query string), status, bytes, duration.

    \b
    Example:
      DIGEST_BASE_URL=http://127.0.0.1:8000 digest serve --port 8000
    """
    from digest.settings import DEV_SECRET_KEY, MAKE_KEY, Settings

    from .app import MAX_BODY, create_app

    from waitress.server import create_server

    settings = Settings.from_env()
    if DEV_SECRET_KEY in settings.secret_keys and not is_loopback(host):
        raise click.ClickException(
            f"refusing to serve on {host} with the development signing key: anyone could forge links. Set "
            f"DIGEST_SECRET_KEYS to a key of your own (make one with: {MAKE_KEY}), or serve on 127.0.0.1")
    app = create_app(settings)
    wsgi = app if access_log == "off" else _logged(app, settings, access_log)
    try:  # bind first, so a port in use or an impossible host is one line, not a traceback
        server = create_server(wsgi, host=host, port=port, threads=threads, ident="jobdigest",
                               max_request_body_size=MAX_BODY, **SERVER_LIMITS)
    except (OSError, ValueError) as e:  # ValueError: waitress cannot resolve the host
        raise click.ClickException(f"cannot listen on {host}:{port}: {getattr(e, 'strerror', None) or e}") from e
    mailer = app.extensions["digest"].mailer
    mailer.start()  # also takes up page mail an earlier process stored but never sent
    signal.signal(signal.SIGTERM, _stop)  # a service manager's stop is a clean shutdown too
    click.echo(f"serving on http://{host}:{port} (Ctrl-C stops)", err=True)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        mailer.close()  # the mail pages accepted before the stop still leaves
        click.echo(f"stopped; {mailer.handled} page mail requests handled", err=True)


def _logged(app, settings, path: str):
    """The app behind the access log, which writes to `path` ('-': stderr)."""
    from .access_log import AccessLog, handler, log

    try:
        stream = sys.stderr if path == "-" else open(path, "a", encoding="utf-8", buffering=1)  # noqa: SIM115
    except OSError as e:
        raise click.ClickException(f"cannot write the access log {path}: {e.strerror}") from e
    log.addHandler(handler(stream))
    log.setLevel(logging.INFO)
    log.propagate = False  # the lines go where --access-log says, once
    return AccessLog(app, settings.secret_keys[0], settings.trusted_proxies)


def _stop(_signum, _frame):
    raise KeyboardInterrupt
