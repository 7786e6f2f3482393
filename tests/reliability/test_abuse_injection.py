"""Injection: no value we are given can add a mail header, and no listing or subscriber value can add markup,
script or a dangerous link to an email (HTML and text part) or a web page.

Audit of what was already covered: tests/test_message.py holds CR/LF in a name, subject, From and an extra header
against build_message; tests/test_render.py and tests/quality/ hold a fixed hostile corpus (XSS title, CR/LF in
title and company and name, javascript: URLs refused at import). Missing, and here: every line separator (CR, LF,
NUL, VT, FF, NEL U+0085, LS U+2028, PS U+2029) and encoded-word tricks, generated rather than fixed, through the
real pipeline (import -> preview/run -> bytes), in every header a value reaches (From display name setting, To
name, Subject, List-Id, List-Unsubscribe with the base URL, Feedback-ID, the test-send address), the confirmation
mail, and the pages of the web app; every listing field (title, company, url, location, salary text, tags).
"""

from __future__ import annotations

import email.parser
import email.policy
import re
import shutil
import tempfile
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import assume, event, given, strategies as st
from markupsafe import escape
from sqlalchemy.orm import Session

from digest import db
from digest.listings import import_listings
from digest.message import build_message
from digest.content import Envelope
from digest.notices import confirmation_message
from digest.preview import preview, test_send as send_test_copy
from digest.render import clean_text
from digest.skeleton import ascii_html
from digest.settings import Settings
from digest.subscribers import SubscriberIn, upsert
from digest.taxonomy import load_taxonomy
from digest.carriers.null import RecordingTransport

from ..conftest import NOW, listing
from ..support.cli import digest
from ..support.web import Page
from .fuzz_support import N, PAYLOADS, counted, fuzz, hostile_text, reset_database

# Count the examples each property tries (fuzz_support's fixtures, shared through tests/conftest.py).
pytestmark = pytest.mark.usefixtures("fuzz_property", "fuzz_counts")

TAXONOMY = load_taxonomy()
STRICT = email.policy.strict
DIGEST_HEADERS = ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "List-Unsubscribe",
                  "List-Unsubscribe-Post", "List-Id", "Feedback-ID", "Content-Type"]
BREAKS = re.compile("[\r\n\x00\x0b\x0c\x85\u2028\u2029]")
INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\u200b\ufeff]")


def parse(raw: bytes) -> email.message.EmailMessage:
    """Parse as a strict reader would: any defect (a stray line, a bad fold, an unencoded byte) raises."""
    return email.parser.BytesParser(policy=STRICT).parsebytes(raw)


def assert_headers_intact(raw: bytes, expected: list[str]) -> email.message.EmailMessage:
    """The header block holds exactly the headers we write, once each, each value on one logical line."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii() and b"\n" not in head.replace(b"\r\n", b"") and b"\r" not in head.replace(b"\r\n", b"")
    names = [line.split(b":", 1)[0].decode() for line in head.split(b"\r\n") if line[:1] not in (b" ", b"\t")]
    assert names == expected, names
    msg = parse(raw)
    assert list(msg.keys()) == expected
    for name in expected:
        assert not BREAKS.search(str(msg[name])), (name, str(msg[name]))
    return msg


class Tags(HTMLParser):
    """Every element and attribute of a document, and every link target."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attrs: set[tuple[str, str]] = set()
        self.links: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            self.attrs.add((tag, name))
            if name in ("href", "src", "action", "background", "formaction", "srcset", "poster"):
                self.links.append(value or "")


def assert_markup_like(html: str, benign: Tags) -> None:
    """Hostile values added no element, attribute or link kind that the same template lacks with benign values
    (and no extra link), and every link is http(s)."""
    got = Tags(html)
    assert set(got.tags) <= set(benign.tags), set(got.tags) - set(benign.tags)
    assert got.attrs <= benign.attrs, got.attrs - benign.attrs
    assert got.tags.count("a") <= benign.tags.count("a")
    for link in got.links:
        assert link.startswith(("https://", "http://")), link
    assert "<script" not in html.lower()


# --- build_message: every header a value reaches ----------------------------------------------------------

LINE_BREAKS = st.sampled_from(["\r\n", "\n", "\r", "\x00", "\x0b", "\x0c", "\x85", "\u2028", "\u2029"])
HEADER_TEXT = st.lists(st.one_of(st.sampled_from(PAYLOADS), LINE_BREAKS, st.text(max_size=10),
                                 LINE_BREAKS.map(lambda b: b + "Bcc: evil@attacker.example")),
                       min_size=1, max_size=6).map("".join)


@given(from_name=HEADER_TEXT, to_name=HEADER_TEXT, subject=HEADER_TEXT, list_name=HEADER_TEXT,
       feedback=HEADER_TEXT,  # the URL: usually a token as we write it; a third of the time anything ("=?" is refused: tested below)
       url_tail=st.sampled_from(["AQEPM9FaAAAAAAAAAAEAAQ", "x_y-z"]) | HEADER_TEXT.filter(lambda t: "=?" not in t))
@fuzz(max_examples=N or 300)
@counted
def test_no_value_makes_a_header(from_name, to_name, subject, list_name, feedback, url_tail):
    envelope = Envelope(
        from_addr=f"{from_name} <digest@example.com>", to_addr=f"{to_name} <ana@example.com>", subject=subject,
        date=NOW, message_id="<abc@example.com>", list_unsubscribe_url="https://mail.example.org/unsubscribe/" + url_tail,
        list_id=f"{list_name} <weekly.example.com>", extra_headers=(("Feedback-ID", feedback),),
    )
    try:
        raw = build_message(envelope, "text " + subject, "<p>html</p>")
    except ValueError as e:
        # Only a List-Unsubscribe URL that cannot be one is refused (a refused build sends nothing).
        assert "List-Unsubscribe" in str(e), e
        event("refused: List-Unsubscribe URL")
        return
    msg = assert_headers_intact(raw, DIGEST_HEADERS)
    assert msg["From"].addresses[0].addr_spec == "digest@example.com"
    assert [a.addr_spec for a in msg["To"].addresses] == ["ana@example.com"]
    assert msg["List-Unsubscribe"].startswith("<https://mail.example.org/unsubscribe/")


def test_an_encoded_word_in_the_base_url_is_refused_or_inert():
    envelope = Envelope(from_addr="Jobs <digest@example.com>", to_addr="ana@example.com", subject="s", date=NOW,
                        message_id="<abc@example.com>", list_id="Jobs <weekly.example.com>",
                        list_unsubscribe_url="https://mail.example.org/=?utf-8?q?=0D=0ABcc:_evil@attacker.example?=/u")
    try:
        raw = build_message(envelope, "text", "<p>html</p>")
    except ValueError:
        return
    msg = parse(raw)
    assert not BREAKS.search(str(msg["List-Unsubscribe"]))


# --- the real pipeline: listing and subscriber values into every message kind -------------------------------

@pytest.fixture(scope="module")
def pipeline_db(tmp_path_factory, sqlite_template):
    """An SQLite database for the pipeline examples (reset per example); injection is no database matter."""
    path = tmp_path_factory.mktemp("injection") / "digest.db"
    shutil.copy(sqlite_template, path)
    engine = db.make_engine(f"sqlite:///{path}")
    yield engine
    engine.dispose()


FIELD_TEXT = hostile_text(5).filter(lambda t: "\x00" not in t and t.strip())  # NUL is refused at import
# A listing URL passes import only without spaces and control characters; quotes, brackets and the rest remain.
URL_TAIL = hostile_text(3).map(lambda t: "".join(c for c in t if not (c.isspace() or ord(c) < 32 or c == "\x7f")))


def pipeline(engine, tmp: Path, listing_values: dict, name: str | None, from_name: str,
             base_path: str = "") -> dict[str, bytes]:
    """Import one listing and one subscriber, and build every kind of message for them."""
    settings = Settings(database_url=str(engine.url), outbox_dir=tmp / "outbox",
                        base_url="https://mail.example.org" + base_path, board_url="https://jobs.example.org",
                        from_addr=f"{from_name} <digest@example.org>", secret_keys=("injection-key",))
    reset_database(engine)
    path = tmp / "board.jsonl"
    import json

    record = listing("inj-1", verified_at=(NOW - timedelta(days=1)).isoformat(), **listing_values)
    path.write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    with Session(engine) as s:
        report = import_listings(s, str(path), TAXONOMY, NOW - timedelta(days=1))
        if report.rejected:
            return {}
        # No preferences: whatever facets the hostile title and tags give the listing, it is in her digest.
        sub, _ = upsert(s, SubscriberIn.model_validate({"email": "ana@example.com", "name": name,
                                                         "confirmed": True, "timezone": "UTC"}),
                        TAXONOMY, settings, NOW - timedelta(days=30))
        s.commit()
        out = {"digest": preview(s, settings, TAXONOMY, "ana@example.com", NOW).message.raw}
        transport = RecordingTransport()
        send_test_copy(s, settings, TAXONOMY, transport, "ana@example.com", "qa@example.org", NOW)
        out["test-send"] = transport.sent[0][2]
        sub.status = "pending"
        out["confirmation"] = confirmation_message(settings, TAXONOMY, sub, NOW)
    return out


BENIGN: dict[str, Tags] = {}


def benign(engine) -> dict[str, Tags]:
    """The markup of each message kind with plain values, to compare hostile ones against."""
    if not BENIGN:
        with tempfile.TemporaryDirectory() as tmp:
            built = pipeline(engine, Path(tmp), {"title": "Backend Engineer", "company": "Acme",
                                                 "location": "Worldwide", "salary": "$100k - $120k",
                                                 "stack": ["python"]}, "Ana", "Backend Jobs Weekly")
        BENIGN.update({k: Tags(parse(raw).get_body(("html",)).get_content()) for k, raw in built.items()})
    return BENIGN


NO_DIGITS = hostile_text(2).map(lambda t: re.sub(r"\d", "", t))  # noise around a salary the importer can read


@given(title=FIELD_TEXT, company=FIELD_TEXT, location=hostile_text(4),
       salary=st.tuples(NO_DIGITS, NO_DIGITS).map(lambda n: f"{n[0]} $100k - $120k {n[1]}"),
       tags=st.lists(hostile_text(2), max_size=3), url_tail=URL_TAIL, name=st.none() | FIELD_TEXT.map(lambda t: t[:200]),
       from_name=FIELD_TEXT)
@fuzz(max_examples=N or 60)
@counted
def test_listing_and_subscriber_values_stay_text_in_every_message(pipeline_db, tmp_path, title, company, location,
                                                                   salary, tags, url_tail, name, from_name):
    expected = {"digest": DIGEST_HEADERS, "test-send": DIGEST_HEADERS, "confirmation": DIGEST_HEADERS}
    reference = benign(pipeline_db)
    values = {"title": title[:1000], "company": company[:300], "location": location[:500], "salary": salary[:200],
              "stack": ["python", *tags], "url": "https://jobs.example.org/x?q=" + url_tail}
    built = pipeline(pipeline_db, Path(tempfile.mkdtemp(dir=tmp_path)), values, name, from_name)
    assume(built)  # the importer refused a value (a salary it cannot read, an unusable URL): nothing to send
    event("built every message kind")
    for kind, raw in built.items():
        msg = assert_headers_intact(raw, expected[kind])
        assert [a.addr_spec for a in msg["To"].addresses] == ["qa@example.org" if kind == "test-send" else
                                                              "ana@example.com"]
        html = msg.get_body(("html",)).get_content()
        text = msg.get_body(("plain",)).get_content()
        assert_markup_like(html, reference[kind])
        assert not INVISIBLE.search(text.replace("\r\n", "\n").replace("\t", " ")), kind
        if kind == "confirmation" and name:
            assert clean_text(name) in text
        if kind != "confirmation":  # the listing is there, as text
            assert ascii_html(str(escape(clean_text(values["title"])))) in html  # other characters as references
            assert clean_text(values["title"]) in " ".join(text.split())


def test_the_from_setting_name_reaches_the_confirmation_body_clean(pipeline_db, tmp_path):
    built = pipeline(pipeline_db, tmp_path, {"title": "Backend Engineer"}, "Ana", "Jobs\u202eWeekly\x1b")
    text = parse(built["confirmation"]).get_body(("plain",)).get_content()
    assert not INVISIBLE.search(text.replace("\r\n", "\n"))


# --- test-send: the operator's address -------------------------------------------------------------------

@pytest.mark.parametrize("to", ["qa@example.org\r\nBcc: evil@attacker.example", "qa@example.org\nBcc: e@x.example",
                                "qa@example.org\u2028Bcc: e@x.example", "qa@example.org\x85Bcc: e@x.example",
                                "qa@example.org, evil@attacker.example", "Evil <evil@attacker.example>",
                                "qa@example.org\x00", "=?utf-8?q?qa=40example.org?="])
def test_a_test_send_address_cannot_smuggle_a_recipient(db_url, tmp_path, to):
    path = tmp_path / "board.jsonl"
    import json

    path.write_text(json.dumps(listing("t-1", verified_at="2026-11-22T10:00:00Z")) + "\n", encoding="utf-8")
    assert digest(db_url, tmp_path, "listings", "import", str(path)).exit_code == 0
    assert digest(db_url, tmp_path, "subscribers", "add", "ana@example.com", "--confirmed", "--timezone", "UTC",
                  now=NOW - timedelta(days=30)).exit_code == 0
    result = digest(db_url, tmp_path, "test-send", "ana@example.com", "--to", to)
    assert result.exit_code == 1 and len(result.stderr.splitlines()) == 1, result.output
    assert not list((tmp_path / "outbox").rglob("test/*.eml"))


# --- web pages ------------------------------------------------------------------------------------------

ATEXT = "abcdefghijklmnopqrstuvwxyz0123456789!#$%&'*+-/=?^_`{|}~"
ADDRESSES = st.builds(lambda local, dom: f"{local}@{dom}", st.text(alphabet=ATEXT, min_size=1, max_size=30),
                      st.sampled_from(["example.com", "b\u00fccher.example", "xn--bcher-kva.example"]))


@given(address=ADDRESSES, junk=hostile_text(3))
@fuzz(max_examples=N or 60)
@counted
def test_addresses_and_form_values_come_back_only_escaped(web, address, junk):
    """Whatever a valid address holds (quotes, ampersands, braces) and whatever the form carries, the pages show
    it as text: no element or attribute beyond the page's own, no script."""
    reset_database(web.engine)
    web.transport.sent.clear()
    signup = web.post_form("/subscribe", {"email": address, "timezone": "UTC", "stack": "x" + junk})
    assert signup.status_code == 400  # the junk stack is unknown: the form comes back with the values
    page = Page(signup.data)
    assert page.runs_only_own_scripts() and not [t for t, _a in page.tags if t in ("img", "svg", "iframe", "object")]
    ok = web.post_form("/subscribe", {"email": address, "timezone": "UTC"})
    if ok.status_code != 200:
        event("address refused by the validator")
        return
    row = web.by_email(SubscriberIn.model_validate({"email": address}).email)
    assert str(escape(row["email"])) in ok.get_data(as_text=True)
    for purpose in ("preferences", "unsubscribe", "confirm"):
        r = web.client.get(f"/{purpose}/{web.token(purpose, row['id'], issued_at=NOW)}")
        assert r.status_code == 200
        page = Page(r.data)
        assert page.runs_only_own_scripts()
        if purpose != "confirm":
            assert str(escape(row["email"])) in r.get_data(as_text=True)
