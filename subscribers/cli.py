"""`digest serve`: the web app on a real local HTTP server (waitress), registered as a digest plugin command."""

from __future__ import annotations

import signal

import click


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--threads", default=4, show_default=True, type=click.IntRange(1, 64), help="Worker threads.")
def serve(host: str, port: int, threads: int):
    """Serve the subscriber pages (sign up, confirm, preferences, unsubscribe).

    \b
    Example:
      DIGEST_BASE_URL=http://127.0.0.1:8000 digest serve --port 8000
    """
    from digest.settings import Settings

    from .app import create_app

    from waitress.server import create_server

    app = create_app(Settings.from_env())
    try:  # bind first, so a port in use or an impossible host is one line, not a traceback
        server = create_server(app, host=host, port=port, threads=threads, ident="jobdigest")
    except (OSError, ValueError) as e:  # ValueError: waitress cannot resolve the host
        raise click.ClickException(f"cannot listen on {host}:{port}: {getattr(e, 'strerror', None) or e}") from e
    mailer = app.extensions["digest"]["mailer"]
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


def _stop(_signum, _frame):
    raise KeyboardInterrupt
