"""The access log of `digest serve`: one line per request, written when its answer has been sent.

`2026-12-07T09:00:01Z 5c0f2a9e41b7 POST /unsubscribe/… 200 4187 12.3ms`: time (UTC), the client's network as
a keyed hash (the rate limits' own, so the log can tell one client from another without keeping its address),
method, path, status, bytes of body, duration. Paths carry capabilities: the token of a link route is written
`…`, as is any segment that could be a token or an address wherever it stands (long, or holding an `@`), and the
query string is never written (`?…` says there was one). Nothing else of the request is kept.
"""

from __future__ import annotations

import logging
import time
from typing import Callable, Iterable
from urllib.parse import quote

from .limits import Network, client_ip, client_key

log = logging.getLogger("jobdigest.access")

TOKEN_ROUTES = frozenset({"confirm", "preferences", "unsubscribe", "feedback"})  # /<route>/<token>[/...]
LONG = 24  # a segment this long is taken for a token wherever it stands (routes and static names are shorter)
HIDDEN = "…"
_SAFE = "!$&'()*+,;=:-._~"  # kept as they are in a segment; anything else (spaces, control bytes) is escaped


def redact(path: str, query: str = "") -> str:
    """The path as the log shows it: tokens, addresses and the query string left out."""
    parts = path.split("/")
    for i, part in enumerate(parts):
        token = i == 2 and parts[1].lower() in TOKEN_ROUTES
        parts[i] = HIDDEN if token or len(part) >= LONG or "@" in part else quote(part, safe=_SAFE)
    return "/".join(parts) + ("?" + HIDDEN if query else "")


class AccessLog:
    """WSGI middleware: logs each request at INFO on `jobdigest.access` once its body has been sent."""

    def __init__(self, app: Callable, key: str, trusted_proxies: tuple[Network, ...] = (),
                 clock: Callable[[], float] = time.monotonic):
        self.app, self.key, self.trusted_proxies, self.clock = app, key, trusted_proxies, clock

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        started = self.clock()
        status: list[str] = []

        def recording(code: str, headers, exc_info=None):
            status[:] = [code.split(" ", 1)[0]]
            return start_response(code, headers, exc_info) if exc_info else start_response(code, headers)

        body = self.app(environ, recording)
        return _Counted(body, lambda size: self._line(environ, status[0] if status else "-", size, started))

    def _line(self, environ: dict, status: str, size: int, started: float) -> None:
        client = client_key(self.key, client_ip(environ, self.trusted_proxies))[:12]
        path = redact(environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", ""))
        method = quote(environ.get("REQUEST_METHOD", "-")[:16], safe="")
        duration = (self.clock() - started) * 1000
        log.info("%s %s %s %s %d %.1fms", client, method, path, status, size, duration,
                 extra={"client": client, "method": method, "path": path, "status": status, "size": size,
                        "duration_ms": round(duration, 1)})


class _Counted:
    """The app's body, passed on while its bytes are counted; the line is written when the server closes it."""

    def __init__(self, body: Iterable[bytes], done: Callable[[int], None]):
        self.body, self.done, self.size = body, done, 0

    def __iter__(self):
        for chunk in self.body:
            self.size += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            if hasattr(self.body, "close"):
                self.body.close()
        finally:
            self.done(self.size)


def handler(stream) -> logging.Handler:
    """A handler that writes the lines as above, times in UTC."""
    out = logging.StreamHandler(stream)
    formatter = logging.Formatter("%(asctime)s %(message)s", datefmt="%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime
    out.setFormatter(formatter)
    return out
