"""Any SMTP server: one connection kept across messages (STARTTLS or implicit TLS, login), errors sorted by kind.

The message goes as it was built (the same bytes the outbox writes and SES carries): MAIL FROM is DIGEST_FROM's
address, RCPT TO the subscriber, DATA the raw bytes. The server's reply codes become the transport error kinds the
run knows: 4xx "try later" is throttled (due again next run), 5xx for the recipient or the content is rejected
(final), a dropped connection, a 421 or a network error is unavailable (reconnect and try again, a few times),
and a server that refuses us altogether (login, sender, certificate) stops the run like a paused SES account.
"""

from __future__ import annotations

import logging
import random
import smtplib
import socket
import ssl
import threading
import time
from collections import Counter
from email.utils import parseaddr
from typing import Callable, Mapping

from ..errors import ConfigError
from ..settings import Settings
from .base import TransportError
from .real import check_real_carrier
from .retry import Breaker, RetryPolicy
from .smtp_url import EXAMPLES, SmtpServer, parse_smtp_url

log = logging.getLogger("digest.smtp")  # the name operators' log filters know (before the carriers package)


def tls_context(server: SmtpServer) -> ssl.SSLContext | None:
    """Certificates verified, hostname checked: the system's CAs, or only those of `cafile`."""
    if server.tls is None:
        return None
    try:
        return ssl.create_default_context(cafile=server.cafile)
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(f"DIGEST_SMTP_URL cafile {server.cafile}: {getattr(e, 'strerror', None) or e}") from None


class _Failed(Exception):
    """One attempt failed: its kind, whether trying the same message again may work, and why (masked)."""

    def __init__(self, kind: str, again: bool, why: str):
        super().__init__(why)
        self.kind, self.again = kind, again


def classify(error: BaseException) -> tuple[str, bool, bool]:
    """(TransportError kind, try the message again, keep the connection) for what smtplib or the network raised."""
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return "unavailable", True, False
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return "paused", False, False  # our login is refused: no message will go until the operator acts
    code = reply_code(error)
    if code == 421:  # "service not available, closing the channel": a new connection may be fine
        return "unavailable", True, False
    if 400 <= code < 500:
        return "throttled", True, True
    if 500 <= code < 600:
        if isinstance(error, (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError)):
            return "rejected", False, True  # this address, or this message: final for the week
        return "paused", False, False  # the sender, our greeting or the connection refused: nothing will go
    if isinstance(error, (smtplib.SMTPNotSupportedError, ssl.SSLCertVerificationError)):
        return "paused", False, False  # no STARTTLS or AUTH offered, a certificate that does not verify
    return "unavailable", True, False  # refused, reset, timed out, a TLS failure, a reply that made no sense


def reply_code(error: BaseException) -> int:
    """The SMTP reply code an error carries (0 when it carries none)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return next(iter(error.recipients.values()), (0, b""))[0]
    code = getattr(error, "smtp_code", 0)
    return code if isinstance(code, int) else 0


def describe(error: BaseException) -> str:
    """One line saying what the server answered or what the network did."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(error.recipients.values()), (0, b""))
        return f"RCPT TO refused: {code} {_text(reply)}"
    if isinstance(error, smtplib.SMTPSenderRefused):
        return f"MAIL FROM refused: {error.smtp_code} {_text(error.smtp_error)}"
    if isinstance(error, smtplib.SMTPDataError):
        return f"DATA refused: {error.smtp_code} {_text(error.smtp_error)}"
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{type(error).__name__}: {error.smtp_code} {_text(error.smtp_error)}"
    return f"{type(error).__name__}: {error}"


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())


class SmtpTransport:
    """Send each message with MAIL FROM, RCPT TO and DATA over one kept connection; return the server's reply."""

    name = "smtp"

    def __init__(self, server: SmtpServer, sender: str, *, policy: RetryPolicy = RetryPolicy(),
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                 rand: Callable[[], float] = random.random, autoclose: bool = False):
        self.server = server
        self.sender = sender
        self.context = tls_context(server)
        self.policy = policy
        self.autoclose = autoclose  # a caller that never closes (the web app): quit after each message
        self._sleep, self._rand = sleep, rand
        self.breaker = Breaker(policy, clock, f"the SMTP server {server.host}:{server.port}")
        self.connections = 0  # opened so far: one per run while the server keeps it
        self._conn: smtplib.SMTP | None = None
        self._lock = threading.Lock()  # one conversation at a time (the web app sends from several threads)

    def open(self) -> None:
        """Connect and log in now; raise what smtplib or the network raised."""
        with self._lock:
            self._connection()

    def send(self, key: str, to: str, raw: bytes, tags: Mapping[str, str] | None = None) -> str:
        """Hand one message to the server (retried by kind); raise TransportError saying which kind failed."""
        with self._lock:
            self.breaker.admit()
            try:
                reply = self._attempts(to, raw)
            except TransportError as e:
                self.breaker.settle(e.kind)
                raise
            self.breaker.settle(None)
            if self.autoclose:
                self._quit()
            return reply

    def close(self) -> None:
        """Say QUIT and close the connection (a later send opens a new one)."""
        with self._lock:
            self._quit()

    def _attempts(self, to: str, raw: bytes) -> str:
        tries: Counter[str] = Counter()
        while True:
            try:
                return self._transaction(to, raw)
            except _Failed as failed:
                tries[failed.kind] += 1
                if not failed.again or tries[failed.kind] >= self.policy.tries(failed.kind):
                    after = f" (after {tries[failed.kind]} tries)" if tries[failed.kind] > 1 else ""
                    raise TransportError(f"{failed}{after}", failed.kind) from None
                log.warning("smtp attempt failed; trying again",
                            extra={"kind": failed.kind, "error": str(failed), "try": tries[failed.kind]})
                self._sleep(self.policy.backoff(tries[failed.kind] - 1, self._rand))

    def _transaction(self, to: str, raw: bytes) -> str:
        """One MAIL/RCPT/DATA exchange; the connection is reset (kept) or dropped according to the failure."""
        try:
            conn = self._connection()
            code, reply = conn.mail(self.sender)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, self.sender)
            code, reply = conn.rcpt(to)
            if code not in (250, 251):
                raise smtplib.SMTPRecipientsRefused({to: (code, reply)})
            _code, reply = conn.data(raw)  # raw bytes: smtplib only dot-stuffs them, as SMTP requires
            return _text(reply)[:255] or "250"
        except (smtplib.SMTPException, OSError) as e:
            kind, again, keep = classify(e)
            if keep:
                self._reset()
            else:
                self._drop()
            # Servers often quote the address ("550 5.1.1 <ana@…>: …"): kept out of log lines and the ledger's error.
            why = self.server.masked(describe(e)).replace(to, "<recipient>")
            raise _Failed(kind, again, why) from None

    def _connection(self) -> smtplib.SMTP:
        if self._conn is not None:
            return self._conn
        s = self.server
        if s.tls == "implicit":
            conn = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=self.context)
        else:
            conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
        try:
            # Whole messages go in one write but TLS cuts them into records: without this, the last small record
            # waits for the server's delayed ACK (40 ms a message on Linux).
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.ehlo_or_helo_if_needed()
            if s.tls == "starttls":
                conn.starttls(context=self.context)  # SMTPNotSupportedError when the server does not offer it
                conn.ehlo()
            if s.username:
                conn.login(s.username, s.password or "")
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self.connections += 1
        log.info("smtp connected", extra={"server": s.shown, "tls": s.tls or "none", "connection": self.connections})
        return conn

    def _reset(self) -> None:
        """After a refused transaction on a good connection: RSET, or a new connection next time."""
        self._end("rset", keep=True)

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _quit(self) -> None:
        self._end("quit", keep=False)

    def _end(self, command: str, keep: bool) -> None:
        """Send RSET or QUIT on the kept connection; drop it after QUIT, or when the server is already gone."""
        if self._conn is None:
            return
        try:
            getattr(self._conn, command)()
        except (smtplib.SMTPException, OSError):
            keep = False  # already gone: nothing to reset or say goodbye to
        finally:
            if not keep:
                self._drop()


def make_smtp_transport(settings: Settings, *, policy: RetryPolicy = RetryPolicy(),
                        clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                        rand: Callable[[], float] = random.random, autoclose: bool = False) -> SmtpTransport:
    """Check the settings, connect and log in, and return a transport ready to send; ConfigError if it cannot."""
    check_real_carrier(settings, "smtp")
    if not settings.smtp_url:
        raise ConfigError("DIGEST_TRANSPORT=smtp needs DIGEST_SMTP_URL, for example " + EXAMPLES.split(",")[0])
    server = parse_smtp_url(settings.smtp_url)
    sender = parseaddr(settings.from_addr)[1]
    if "@" not in sender:
        raise ConfigError(f"DIGEST_FROM {settings.from_addr!r} has no address to send from")
    transport = SmtpTransport(server, sender, policy=policy, clock=clock, sleep=sleep, rand=rand, autoclose=autoclose)
    try:
        transport.open()  # before anyone is claimed: a server that cannot take mail costs nobody an attempt
    except (smtplib.SMTPException, OSError) as e:
        raise ConfigError(f"cannot start sending through {server.shown}: {server.masked(describe(e))}") from None
    log.info("smtp transport ready", extra={"server": server.shown, "tls": server.tls or "none",
                                            "login": bool(server.username)})
    if autoclose:
        transport.close()
    return transport
