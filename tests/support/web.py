"""Helpers for the web app tests: a fake clock, a client over the real app, page parsing, table dumps."""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from html.parser import HTMLParser

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, inspect, select, text, update
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict

from digest import tokens
from digest.models import Subscriber
from digest.settings import Settings
from digest.carriers.null import RecordingTransport
from subscribers.app import create_app

from ..conftest import NOW

FORM = "application/x-www-form-urlencoded"
ONE_CLICK = b"List-Unsubscribe=One-Click"
BOUNDARY = "----gmail-one-click-7f3a"
ONE_CLICK_MULTIPART = (
    f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--{BOUNDARY}--\r\n'
).encode()
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
TOKEN_ROUTES = ("/confirm/{}", "/confirm/{}/renew", "/preferences/{}", "/unsubscribe/{}",
                "/unsubscribe/{}/pause", "/unsubscribe/{}/fortnightly", "/unsubscribe/{}/resubscribe")


class FakeClock:
    """The app's clock: fixed until a test moves it."""

    def __init__(self, now: datetime = NOW):
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def multipart(fields: list[tuple[str, bytes | str]], boundary: str = BOUNDARY) -> bytes:
    """A multipart/form-data body with the fields in order (bytes are sent as they are)."""
    out = b""
    for name, value in fields:
        raw = value if isinstance(value, bytes) else value.encode()
        out += (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n').encode() + raw + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


@dataclass
class Web:
    """The app under test with everything around it a test looks at."""

    app: Flask
    client: FlaskClient
    transport: RecordingTransport
    clock: FakeClock
    engine: Engine
    settings: Settings

    def token(self, purpose: str, sid: int, version: int = 1, issued_at: datetime | None = None,
              keys: tuple[str, ...] | None = None) -> str:
        if purpose == "confirm" and issued_at is None:
            issued_at = self.clock.now
        return tokens.sign(keys or self.settings.secret_keys, purpose, sid, version, issued_at)

    def row(self, sid: int) -> dict:
        """The subscriber's stored columns."""
        with Session(self.engine) as s:
            sub = s.get(Subscriber, sid)
            return {c.key: getattr(sub, c.key) for c in Subscriber.__table__.columns}

    def by_email(self, address: str) -> dict | None:
        with Session(self.engine) as s:
            sid = s.scalar(select(Subscriber.id).where(Subscriber.email_key == address.lower()))
        return None if sid is None else self.row(sid)

    def set(self, sid: int, **cols) -> None:
        """Put a subscriber into a state directly, as an operator or an earlier event would have."""
        with Session(self.engine) as s:
            s.execute(update(Subscriber).where(Subscriber.id == sid).values(**cols))
            s.commit()

    def dump(self) -> dict[str, list]:
        return dump(self.engine)

    def mails(self) -> list[email.message.EmailMessage]:
        return [parse_mail(raw) for _key, _to, raw in self.transport.sent]

    def post_form(self, path: str, fields: dict | list | None = None, **kw):
        """POST a urlencoded form as a browser does; a list of pairs may repeat a name."""
        data = MultiDict(fields) if isinstance(fields, list) else fields or {}
        return self.client.post(path, data=data, content_type=FORM, **kw)


def parse_mail(raw: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)


def mail_link(msg: email.message.EmailMessage, purpose: str) -> str:
    """The path of the first `purpose` link in a message's text part ("/confirm/<token>")."""
    body = msg.get_body(("plain",)).get_content()
    m = re.search(rf"https?://[^/\s]+(/{purpose}/[A-Za-z0-9_-]+)", body)
    assert m, f"no {purpose} link in:\n{body}"
    return m.group(1)


def dump(engine: Engine) -> dict[str, list]:
    """Every row of every table (the migration table too), in a stable order."""
    out = {}
    with engine.connect() as conn:
        for table in sorted(inspect(conn).get_table_names()):
            rows = conn.execute(text(f'SELECT * FROM "{table}"')).all()
            out[table] = sorted((tuple(r) for r in rows), key=repr)
    return out


class DrainingClient(FlaskClient):
    """A test client that waits, after each request, for the mail the page asked for (sent after the answer)."""

    def open(self, *args, **kwargs):
        response = super().open(*args, **kwargs)
        self.application.extensions["digest"].mailer.drain()
        return response


def make_app(settings: Settings, engine: Engine, transport=None, clock=None) -> Flask:
    """The real app whose test clients see page mail as sent once a request returns (no delay after answers)."""
    app = create_app(settings, engine, transport=transport, clock=clock or FakeClock(), mail_delay=0)
    app.test_client_class = DrainingClient
    return app


@pytest.fixture
def web(settings, engine):
    clock = FakeClock()
    transport = RecordingTransport()
    app = make_app(settings, engine, transport=transport, clock=clock)
    yield Web(app, app.test_client(use_cookies=False), transport, clock, engine, settings)
    app.extensions["digest"].mailer.close()


class Page(HTMLParser):
    """What a person sees and can use on a page: text, form controls, buttons and links."""

    def __init__(self, html: str | bytes):
        super().__init__(convert_charrefs=True)
        self.html = html.decode("utf-8") if isinstance(html, bytes) else html
        self.parts: list[str] = []
        self.inputs: list[dict] = []
        self.selects: dict[str, list[tuple[str, bool]]] = {}
        self.forms: list[dict] = []
        self.links: list[str] = []
        self.labels_for: set[str] = set()
        self.tags: list[tuple[str, dict]] = []
        self._skip = 0
        self._in_script = False
        self.script_text = ""  # whatever stands between <script> and </script>: ours have none
        self._select: str | None = None
        self._option: dict | None = None
        self._button: list[str] | None = None
        self.h1 = ""
        self._in_h1 = False
        self.feed(self.html)
        self.close()

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        self.tags.append((tag, a))
        if tag in ("style", "script", "title"):
            self._skip += 1
            self._in_script = self._in_script or tag == "script"
        elif tag == "h1":
            self._in_h1 = True
        elif tag == "form":
            self.forms.append({"method": a.get("method", "get").lower(), "action": a.get("action", ""),
                               "buttons": []})
        elif tag == "input":
            self.inputs.append(a)
        elif tag == "select":
            self._select = a.get("name")
            self.selects[self._select] = []
        elif tag == "option":
            self._option = {"value": a.get("value"), "selected": "selected" in a, "text": ""}
        elif tag == "button":
            self._button = []
        elif tag == "a":
            self.links.append(a.get("href", ""))
        elif tag == "label" and "for" in a:
            self.labels_for.add(a["for"])

    def handle_endtag(self, tag):
        if tag in ("style", "script", "title"):
            self._skip -= 1
            self._in_script = self._in_script and tag != "script"
        elif tag == "h1":
            self._in_h1 = False
        elif tag == "option" and self._option is not None:
            o = self._option
            value = o["value"] if o["value"] is not None else o["text"].strip()
            self.selects[self._select].append((value, o["selected"]))
            self._option = None
        elif tag == "select":
            self._select = None
        elif tag == "button" and self._button is not None:
            self.forms[-1]["buttons"].append(" ".join("".join(self._button).split()))
            self._button = None

    def handle_data(self, data):
        if self._in_script:
            self.script_text += data
        if self._option is not None:
            self._option["text"] += data
        if self._button is not None:
            self._button.append(data)
        if self._in_h1:
            self.h1 += data
        if not self._skip:
            self.parts.append(data)

    @property
    def text(self) -> str:
        """The visible text, whitespace collapsed."""
        return " ".join(" ".join(self.parts).split())

    def checked(self, name: str) -> set[str]:
        return {i.get("value", "on") for i in self.inputs if i.get("name") == name and "checked" in i}

    def options(self, name: str) -> list[str]:
        return [v for v, _ in self.selects[name]]

    def selected(self, name: str) -> list[str]:
        return [v for v, sel in self.selects[name] if sel]

    def value(self, name: str) -> str | None:
        found = [i.get("value") for i in self.inputs if i.get("name") == name]
        assert len(found) == 1, f"{len(found)} inputs named {name}"
        return found[0]

    def form(self, action: str) -> dict:
        found = [f for f in self.forms if f["action"] == action]
        assert len(found) == 1, f"forms: {self.forms}"
        return found[0]

    def runs_only_own_scripts(self) -> bool:
        """No inline script, no script from elsewhere and no event-handler attribute: only the app's own static files."""
        foreign = [a for t, a in self.tags if t == "script" and not a.get("src", "").startswith("/static/")]
        handlers = [t for t, a in self.tags if any(k.startswith("on") for k in a)]
        return not (foreign or handlers or self.script_text.strip())


BASE_PREFS = {"stack": "python", "timezone": "UTC", "send_day": "monday", "send_hour": "8"}  # a valid preferences form
