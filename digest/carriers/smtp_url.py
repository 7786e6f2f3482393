"""DIGEST_SMTP_URL read into where and how to hand messages over (settings.py checks it with this at start-up)."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

from ..db import mask_password
from ..errors import ConfigError
from .base import is_local_host

# scheme: (default port, how TLS is set up)
SCHEMES = {"smtp+starttls": (587, "starttls"), "smtps": (465, "implicit"), "smtp": (25, None)}
EXAMPLES = ("smtp+starttls://user:password@mail.example.com:587, smtps://user:password@mail.example.com:465 "
            "or smtp://127.0.0.1:25")
DEFAULT_TIMEOUT = 30.0  # seconds a connect or a reply may take


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to hand messages over, from DIGEST_SMTP_URL."""

    url: str = field(repr=False)
    host: str
    port: int
    tls: str | None  # "starttls", "implicit" or None (a relay on this machine)
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    cafile: str | None = None  # a private CA's certificates, instead of the system's
    timeout: float = DEFAULT_TIMEOUT

    @property
    def shown(self) -> str:
        """The URL with its password as ***: for messages and logs."""
        return mask_password(self.url, self.url)

    def masked(self, text: str) -> str:
        """`text` with the password in any form a server could echo (as written, decoded, base64) as ***."""
        text = mask_password(text, self.url)
        if self.password:
            plain = f"\0{self.username}\0{self.password}".encode()
            for secret in (self.password.encode(), plain):  # AUTH LOGIN and AUTH PLAIN send these in base64
                text = text.replace(base64.b64encode(secret).decode(), "***")
            text = text.replace(self.password, "***")
        return text


def parse_smtp_url(url: str) -> SmtpServer:
    """Read DIGEST_SMTP_URL; a URL that cannot work is one ConfigError line (password masked)."""

    def bad(why: str) -> ConfigError:
        shown = mask_password(url, url).encode("unicode_escape").decode("ascii")  # one line, whatever it holds
        return ConfigError(f"DIGEST_SMTP_URL {shown!r} {why}; for example {EXAMPLES}")

    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise bad("must start with smtp+starttls://, smtps:// or smtp://")
    if not parts.hostname:
        raise bad("names no server")
    try:
        port = parts.port or SCHEMES[scheme][0]
    except ValueError:
        raise bad("has a port that is not a number from 1 to 65535") from None
    if parts.path not in ("", "/") or parts.fragment:
        raise bad("must not have a path")
    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if bool(username) != bool(password):
        raise bad("must give both a user name and a password, or neither")
    if not ((username or "") + (password or "")).isascii():
        raise bad("has a user name or password that is not ASCII, which SMTP AUTH cannot send")
    tls = SCHEMES[scheme][1]
    if tls is None and not is_local_host(parts.hostname, loopback_only=True):
        raise bad("sends in clear text, which is only for a relay on this machine (127.0.0.1, ::1 or localhost): "
                  "use STARTTLS or TLS")
    try:
        options = parse_qsl(parts.query, keep_blank_values=True, strict_parsing=bool(parts.query))
    except ValueError:
        raise bad("has a query that is not name=value pairs") from None
    given = dict(options)
    if len(given) != len(options) or set(given) - {"cafile", "timeout"}:
        raise bad("takes only ?cafile=PATH (a private CA bundle) and &timeout=SECONDS, each once")
    if "cafile" in given and (tls is None or not given["cafile"]):
        raise bad("has a cafile, which only a TLS connection uses" if tls is None else "has an empty cafile")
    timeout = DEFAULT_TIMEOUT
    if "timeout" in given:
        try:
            timeout = float(given["timeout"])
        except ValueError:
            timeout = -1.0
        if not 1 <= timeout <= 600:
            raise bad("has a timeout that is not a number of seconds from 1 to 600")
    return SmtpServer(url=url.strip(), host=parts.hostname, port=port, tls=tls, username=username, password=password,
                      cafile=given.get("cafile"), timeout=timeout)
