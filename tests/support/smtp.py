"""A real SMTP server on loopback for the tests (aiosmtpd), and the certificates it needs.

`Mailhost` speaks SMTP over STARTTLS (required before anything else), over implicit TLS, or in clear, and requires
AUTH LOGIN/PLAIN over TLS before it takes mail. It keeps every message it accepted (the bytes of DATA as received),
counts the connections that greeted it, and answers by a script: per transaction (numbered from 1 at MAIL FROM) a
reply code, a dropped connection, an answer lost after the message was taken, or the whole server going down.

The certificates are made here: a throwaway CA and a server certificate for 127.0.0.1/localhost signed by it. The
client is pointed at that CA (`?cafile=`): its verification stays on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from email.policy import default as default_policy
from pathlib import Path
from typing import Callable
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from digest.cli import main
from digest.models import Delivery
from digest.settings import Settings

from ..conftest import NOW, listing
from .serve import free_port

USER = "digest-sender"
PASSWORD = "p@ss:w/rd s3cret%"  # characters a URL must escape: the transport must decode them, and mask them


@dataclass(frozen=True)
class Certificates:
    ca: Path  # what the client trusts
    cert: Path  # the server's chain
    key: Path


def make_certificates(directory: Path, hosts: tuple[str, ...] = ("localhost", "127.0.0.1")) -> Certificates:
    """A CA and a server certificate for `hosts`, valid for a day, written as PEM files under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)

    def build(subject: str, key, issuer: x509.Name, issuer_key, ca: bool) -> x509.Certificate:
        b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
             .issuer_name(issuer).public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
             .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        if ca:
            b = b.add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                              content_commitment=False, key_encipherment=False,
                                              data_encipherment=False, key_agreement=False, encipher_only=False,
                                              decipher_only=False), critical=True)
        else:
            names = [x509.IPAddress(ipaddress.ip_address(h)) if h[0].isdigit() else x509.DNSName(h) for h in hosts]
            b = (b.add_extension(x509.SubjectAlternativeName(names), critical=False)
                 .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
        return b.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "jobdigest test CA")])
    ca_cert = build("jobdigest test CA", ca_key, ca_name, ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = build(hosts[0], key, ca_name, ca_key, ca=False)
    pem = serialization.Encoding.PEM
    out = Certificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    out.ca.write_bytes(ca_cert.public_bytes(pem))
    out.cert.write_bytes(cert.public_bytes(pem))
    out.key.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return out


@dataclass
class Received:
    """One message the server accepted."""

    n: int  # the transaction it came in
    mail_from: str
    rcpt_to: str
    data: bytes
    reply: str  # what the server answered after DATA ("2.0.0 Ok: queued as …"): the client's transport id
    connection: int
    message_id: str = ""

    def __post_init__(self) -> None:
        self.message_id = self.message_id or str(BytesHeaderParser(policy=default_policy).parsebytes(
            self.data, headersonly=True)["Message-ID"])


# What the script may answer at a stage of transaction n: None (go on), an SMTP reply ("451 4.7.1 …"),
# "drop" (close the connection without a word), "lost" (DATA only: take the message, then close without answering),
# or "down" (stop listening and drop every connection: the server is gone).
Script = Callable[[int, str], str | None]


@dataclass
class Mailhost:
    certs: Certificates | None
    tls: str | None = "starttls"  # "starttls", "implicit" or None
    port: int = field(default_factory=free_port)
    user: str = USER
    password: str = PASSWORD
    mechanisms: tuple[str, ...] = ("LOGIN", "PLAIN")  # the AUTH mechanisms offered
    script: Script = lambda n, stage: None
    refuse: dict[str, str] = field(default_factory=dict)  # address -> the reply to its RCPT TO
    received: list[Received] = field(default_factory=list)
    attempts: list[tuple[int, str, str]] = field(default_factory=list)  # (transaction, stage, what happened)
    logins: list[tuple[str, bool]] = field(default_factory=list)  # (mechanism, accepted)
    sessions: list = field(default_factory=list)  # the SMTP protocol objects of connections that greeted
    _controller: Controller | None = None
    _n: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- running ---

    def start(self) -> "Mailhost":
        context = None
        if self.tls:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.certs.cert, self.certs.key)
        kw = dict(hostname="127.0.0.1", port=self.port, authenticator=self._authenticate, auth_required=bool(self.tls),
                  # Implicit TLS is TLS from the first byte, which aiosmtpd's own check does not see: our
                  # authenticator refuses any login that did not come over TLS, in every mode.
                  auth_require_tls=self.tls == "starttls", server_hostname="mail.test", ident="jobdigest-test",
                  auth_exclude_mechanism=[m for m in ("LOGIN", "PLAIN") if m not in self.mechanisms])
        if self.tls == "starttls":
            kw |= dict(tls_context=context, require_starttls=True)
        elif self.tls == "implicit":
            kw |= dict(ssl_context=context)
        self._controller = Controller(_Handler(self), **kw)
        self._controller.start()
        with self._lock:
            self.sessions.clear()  # the controller's own start-up probe is not a client
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> "Mailhost":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def url(self, user: str | None = None, password: str | None = None, cafile: bool = True) -> str:
        """DIGEST_SMTP_URL for this server (the password percent-encoded, the test CA as cafile)."""
        scheme = {"starttls": "smtp+starttls", "implicit": "smtps", None: "smtp"}[self.tls]
        login = f"{quote(user or self.user, safe='')}:{quote(password or self.password, safe='')}@" if self.tls else ""
        query = f"?cafile={self.certs.ca}" if self.tls and cafile else ""
        return f"{scheme}://{login}127.0.0.1:{self.port}{query}"

    # --- what happened ---

    @property
    def connections(self) -> int:
        return len(self.sessions)

    def by_recipient(self) -> dict[str, list[Received]]:
        out: dict[str, list[Received]] = {}
        for r in list(self.received):
            out.setdefault(r.rcpt_to, []).append(r)
        return out

    # --- the server side ---

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        over_tls = server.transport.get_extra_info("ssl_object") is not None
        ok = (over_tls and isinstance(auth_data, LoginPassword)
              and (auth_data.login, auth_data.password) == (self.user.encode(), self.password.encode()))
        self.logins.append((mechanism, ok))
        return AuthResult(success=ok, handled=False)  # a refusal answered "535 5.7.8 …" by aiosmtpd

    def _act(self, server, n: int, stage: str, default: str) -> str:
        return self._apply(server, n, stage, self.script(n, stage), default)

    def _apply(self, server, n: int, stage: str, answer: str | None, default: str) -> str:
        self.attempts.append((n, stage, answer or "ok"))
        if answer == "down":
            self._go_down()
            return "421 4.3.0 going down"  # never read: every connection is gone
        if answer in ("drop", "lost"):
            _abort(server)
            return "421 4.3.0 dropped"  # never read: the connection is gone
        if answer and answer.startswith("421"):
            server.loop.call_soon(_abort, server)  # a 421 closes the channel after it is said
        return answer or default

    def _go_down(self) -> None:
        self._controller.server.close()  # no one can connect any more
        for s in self.sessions:
            _abort(s)

    def _transaction(self) -> int:
        with self._lock:
            self._n += 1
            return self._n


def _abort(server) -> None:
    for t in (server.transport, getattr(server, "_original_transport", None)):
        if t is not None:
            t.abort()


class _Handler:
    def __init__(self, host: Mailhost):
        self.host = host

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        if server not in self.host.sessions:
            self.host.sessions.append(server)
        return responses

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        session.transaction = self.host._transaction()
        answer = self.host._act(server, session.transaction, "MAIL", "250 OK")
        if answer.startswith("250"):
            envelope.mail_from = address
            envelope.mail_options.extend(mail_options)
        return answer

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.host.refuse:
            self.host.attempts.append((session.transaction, "RCPT", self.host.refuse[address]))
            return self.host.refuse[address]
        answer = self.host._act(server, session.transaction, "RCPT", "250 OK")
        if answer.startswith("250"):
            envelope.rcpt_tos.append(address)
        return answer

    async def handle_DATA(self, server, session, envelope):
        n = session.transaction
        answer = self.host.script(n, "DATA")
        if answer and answer != "lost":
            return self.host._apply(server, n, "DATA", answer, "")
        queued = uuid.uuid4().hex[:12].upper()
        reply = f"2.0.0 Ok: queued as {queued}"
        self.host.received.append(Received(n, envelope.mail_from, envelope.rcpt_tos[0], envelope.original_content,
                                           reply, self.host.sessions.index(server) + 1))
        if answer == "lost":
            self.host.attempts.append((n, "DATA", "lost"))
            await asyncio.sleep(0)
            _abort(server)
            return "250 never read"
        self.host.attempts.append((n, "DATA", "ok"))
        return f"250 {reply}"


# --- fixtures (imported by the test modules that use them) ---


@pytest.fixture(scope="session")
def certs(tmp_path_factory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("smtp-certs"))


@pytest.fixture
def mailhost(certs):
    """A STARTTLS + AUTH server for one test."""
    with Mailhost(certs) as host:
        yield host


SECRETS = (PASSWORD, "p%40ss%3Aw%2Frd%20s3cret%25")  # the password as written and as it sits in the URL



def smtp_env(db_url: str, url: str, outbox: Path) -> dict[str, str]:
    """What an operator sets to run the week through an SMTP server."""
    return {"DIGEST_DATABASE_URL": db_url, "DIGEST_TRANSPORT": "smtp", "DIGEST_SMTP_URL": url,
            "DIGEST_SECRET_KEYS": KEY, "DIGEST_BASE_URL": "https://subs.example.com",
            "DIGEST_FROM": "Backend Jobs Weekly <digest@example.com>", "DIGEST_OUTBOX_DIR": str(outbox)}



def digest(*args: str, env: dict[str, str]):
    result = CliRunner().invoke(main, list(args), env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result



def add_people(engine, taxonomy, n: int) -> dict[str, int]:
    from digest.subscribers import SubscriberIn, upsert

    out = {}
    with Session(engine) as s:
        for i in range(n):
            prefs = {"email": f"reader{i:03d}@example.{('net', 'org', 'com')[i % 3]}", "confirmed": True,
                     "timezone": "UTC", "name": ("Zoë Ångström", "O'Brien", "")[i % 3] or None}
            if i % 4 == 0:
                prefs["stack"] = ["go"]
            sub, _ = upsert(s, SubscriberIn.model_validate(prefs), taxonomy, Settings(), NOW.replace(month=10))
            s.flush()
            out[sub.email] = sub.id
        s.commit()
    return out



def week_listings(add_listings) -> None:
    add_listings(listing("a"), listing("b", title="Senior Go Engineer", stack=["go"], company="Gopher & Co"),
                 listing("c", title="Platform Engineer — Zürich/remote", location="Europe", company="Æther AG"),
                 listing("d", title="Staff Data Engineer", stack=["python", "go"], description="Spark, Kafka. " * 40))



def ledger(engine) -> dict[int, Delivery]:
    with Session(engine) as s:
        return {d.subscriber_id: d for d in s.scalars(select(Delivery))}


KEY = "smtp-tests-signing-key-0123456789abcdef"
