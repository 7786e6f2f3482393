"""The hand-built MIME message: parsed back by the standard library, strictly, byte by byte."""

from __future__ import annotations

import binascii
import email
import email.policy
import random
import re
import timeit
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage

import pytest

from digest.content import Envelope
from digest.message import _qp, _qp_lines, build_message, encode_pieces, message_id_for
from digest.render import Renderer

from .support.content import TEMPLATES, XSS, long_jobs, make_content, tricky_jobs

STRICT = email.policy.default.clone(raise_on_defect=True)
SINGLE_HEADERS = (
    "From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "List-Unsubscribe",
    "List-Unsubscribe-Post", "List-Id", "Content-Type",
)


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer(TEMPLATES)


def make_envelope(**changes) -> Envelope:
    fields = dict(
        from_addr="Backend Jobs Weekly <digest@example.com>",
        to_addr="Ana Lima <ana@example.com>",
        subject="5 new backend jobs for you: Python · Senior",
        date=datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc),
        message_id=message_id_for("2026-W48/17", "example.com"),
        list_unsubscribe_url="https://digest.example.com/unsubscribe/tok.abc",
        list_id="Backend Jobs Weekly <weekly.example.com>",
        extra_headers=(("Feedback-ID", "weekly:2026-W48:example.com"),),
    )
    fields.update(changes)
    return Envelope(**fields)


def build(renderer, content, **envelope) -> bytes:
    env = make_envelope(subject=renderer.subject(content), **envelope)
    return build_message(env, renderer.text(content), renderer.html(content))


def parse(raw: bytes):
    """Parse leniently and strictly; both must agree and find no defect anywhere."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    strict = email.message_from_bytes(raw, policy=STRICT)
    for part in (message, *message.walk(), strict, *strict.walk()):
        assert not part.defects, part.defects
        for name, value in part.items():
            assert not getattr(value, "defects", ()), (name, value.defects)
    return message


def assert_wire_format(raw: bytes) -> None:
    assert b"\r\n" in raw and raw.endswith(b"\r\n")
    assert not re.search(rb"\r(?!\n)|(?<!\r)\n", raw), "bare CR or LF"
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = raw.split(b"\r\n")
    assert max(map(len, lines)) <= 998
    assert all(len(line) <= 78 for line in head.split(b"\r\n")), "a header line is over 78"
    assert raw.isascii()
    in_body, encoding = False, None
    for line in body.split(b"\r\n"):
        if line.startswith(b"--=_"):
            in_body, encoding = False, None
        elif not in_body and line.lower().startswith(b"content-transfer-encoding:"):
            encoding = line.split(b":", 1)[1].strip().lower()
        elif not line:
            in_body = True
        elif in_body:
            # quoted-printable and base64 cut lines at 76; a 7-bit part (ASCII HTML) may run to 998
            assert len(line) <= (998 if encoding == b"7bit" else 76), line
            assert not line.endswith((b" ", b"\t")), line


@pytest.mark.parametrize("n", [1, 5, 15])
def test_message_parses_with_every_header_once(renderer, n):
    content = make_content(n, total=n + 3)
    raw = build(renderer, content)
    assert_wire_format(raw)
    message = parse(raw)
    for name in SINGLE_HEADERS:
        assert len(message.get_all(name)) == 1, name
    assert raw.count(b"\r\nList-Unsubscribe:") == 1
    assert message["From"] == "Backend Jobs Weekly <digest@example.com>"
    assert message["To"] == "Ana Lima <ana@example.com>"
    assert message["Subject"] == renderer.subject(content)
    assert message["Date"].datetime == datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
    assert message["Message-ID"] == message_id_for("2026-W48/17", "example.com")
    assert message["MIME-Version"] == "1.0"
    assert message["List-Unsubscribe"] == "<https://digest.example.com/unsubscribe/tok.abc>"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["List-Id"] == "Backend Jobs Weekly <weekly.example.com>"
    assert message["Feedback-ID"] == "weekly:2026-W48:example.com"
    header_order = [k for k, _ in message.items()]
    assert header_order == [*SINGLE_HEADERS[:-1], "Feedback-ID", "Content-Type"]


def test_parts_are_text_then_html_in_utf8(renderer):
    content = make_content(tricky_jobs(), total=9)
    message = parse(build(renderer, content))
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    for part in parts:
        assert part.get_content_charset() == "utf-8"
    # Plain text quoted-printable (what filters expect); HTML 7-bit: the renderer writes it in ASCII, other
    # characters as references, with lines well under 998 octets, so it needs no transfer encoding.
    assert [p["Content-Transfer-Encoding"] for p in parts] == ["quoted-printable", "7bit"]
    # the parser keeps the wire's CRLF line ends; the templates write LF
    text, html = (p.get_content().replace("\r\n", "\n") for p in parts)
    assert text == renderer.text(content)
    assert html == renderer.html(content)
    for job in content.jobs[:3]:
        assert job.url in text
    assert XSS in text and "🚀 Rocket Engineer 👩‍💻" in text and "Café Zürich GmbH" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script" not in html.lower()
    assert '<html lang="en"' in html and "fonts.googleapis" not in html
    assert content.unsubscribe_url in text and content.unsubscribe_url in html
    assert content.preferences_url in text and content.more_url in text


def test_size_stays_under_90kb_at_15_long_jobs(renderer):
    sizes = {}
    for label, content in (
        ("1 job", make_content(1)),
        ("5 jobs", make_content(5)),
        ("15 jobs", make_content(15, total=40)),
        ("15 long jobs", make_content(long_jobs(15), total=40)),
    ):
        raw = build(renderer, content)
        assert_wire_format(raw)
        parse(raw)
        sizes[label] = len(raw)
    per_job = (sizes["15 long jobs"] - sizes["1 job"]) / 14
    print("\nmessage sizes:", ", ".join(f"{k} {v / 1024:.1f} KB" for k, v in sizes.items()),
          f"| {per_job:.0f} B per long job")
    assert sizes["15 long jobs"] < 90 * 1024


def test_injected_line_breaks_never_make_headers(renderer):
    content = make_content(2, to_name="Eve\r\nBcc: x@y")
    raw = build_message(
        make_envelope(
            subject="Hello\r\nBcc: x@y\r\n\r\n<html>",
            to_addr="Eve\r\nBcc: x@y <eve@example.com>",
            from_addr="Jobs\nBcc: x@y <digest@example.com>",
            extra_headers=(("X-Ref", "a\r\nBcc: x@y"),),
        ),
        renderer.text(content),
        renderer.html(content),
    )
    assert_wire_format(raw)
    message = parse(raw)
    assert message.get_all("Bcc") is None
    assert not re.search(rb"\r\nBcc:", raw, re.IGNORECASE)
    assert message["Subject"] == "Hello Bcc: x@y <html>"
    assert message["To"].addresses[0].addr_spec == "eve@example.com"
    assert message["To"].addresses[0].display_name == "Eve Bcc: x@y"
    assert message["X-Ref"] == "a Bcc: x@y"


def test_non_ascii_names_and_subjects_are_encoded_words(renderer):
    subject = "[TEST] 3 nouvelles offres 🚀 pour vous : Développeur Python sénior · Zürich · " + "très " * 20
    envelope = make_envelope(
        subject=subject,
        to_addr="José Müller-Łukasiewicz, Jr. <jose@example.com>",
        from_addr="Jöbs Wéekly <digest@example.com>",
        list_id="Jöbs Wéekly <weekly.example.com>",
    )
    content = make_content(3)
    raw = build_message(envelope, renderer.text(content), renderer.html(content))
    assert_wire_format(raw)
    message = parse(raw)
    assert message["Subject"] == " ".join(subject.split())
    assert message["To"].addresses[0].display_name == "José Müller-Łukasiewicz, Jr."
    assert message["To"].addresses[0].addr_spec == "jose@example.com"
    assert message["From"].addresses[0].display_name == "Jöbs Wéekly"
    assert "=?utf-8?q?" in raw.decode("ascii")


def test_quoted_names_long_ascii_subjects_and_bare_addresses():
    subject = "42 new backend jobs for you: " + ", ".join(["Python", "Go", "Java/Spring", "Node/TypeScript"] * 6)
    raw = build_message(
        make_envelope(subject=subject, to_addr="ana@example.com", from_addr='"Jobs, Weekly (beta)" <d@example.com>'),
        "t", "h",
    )
    assert_wire_format(raw)
    message = parse(raw)
    assert message["Subject"] == subject
    assert b"\r\nTo: ana@example.com\r\n" in raw
    assert message["From"].addresses[0].display_name == "Jobs, Weekly (beta)"


def test_output_is_deterministic_and_ids_are_stable(renderer):
    content = make_content(5)
    assert build(renderer, content) == build(renderer, content)
    assert message_id_for("2026-W48/17", "Example.COM") == message_id_for("2026-W48/17", "example.com")
    assert message_id_for("2026-W48/17", "example.com") != message_id_for("2026-W48/18", "example.com")
    assert re.fullmatch(r"<[0-9a-f]{32}@example\.com>", message_id_for("k", "example.com"))


@pytest.mark.parametrize("html, encoding", [
    ("<p>\n<b>plain</b> ASCII &#183; with references\n</p>\n", "7bit"),
    ("<p>" + "x" * 995 + "</p>\n", "base64"),  # a line of 1,002 octets
    ("<p>trailing blank \n</p>", "base64"),  # a relay may strip it
    ("<p>\n.\n</p>", "base64"),  # a lone dot ends SMTP DATA on a careless relay
    ("<p>\n--=_not-the-boundary\n</p>", "base64"),  # no line of a 7-bit part starts a delimiter
    ("<p>Zürich</p>", "base64"),  # not ASCII
])
def test_the_html_part_goes_as_it_is_only_when_that_is_7bit_data(html, encoding):
    raw = build_message(make_envelope(), "text", html)
    assert_wire_format(raw)
    part = list(parse(raw).iter_parts())[1]
    assert part["Content-Transfer-Encoding"] == encoding
    assert part.get_content().replace("\r\n", "\n") == html
    if encoding == "7bit":  # on the wire as it is, CRLF line ends
        assert html.replace("\n", "\r\n").encode("ascii") in raw


def test_boundary_cannot_occur_in_the_bodies(renderer):
    raw = build(renderer, make_content(tricky_jobs()))
    boundary = parse(raw).get_boundary()
    assert boundary.startswith("=_")
    assert raw.count(f"--{boundary}".encode()) == 3  # two delimiters and the close
    evil = f"--{boundary}\n--{boundary}--\n"
    raw = build_message(make_envelope(), evil, evil)
    assert raw.count(f"--{boundary}".encode()) == 3
    assert [p.get_content().replace("\r\n", "\n") for p in parse(raw).iter_parts()] == [evil, evil]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        (dict(date=datetime(2026, 11, 23, 8)), "timezone"),
        (dict(message_id="no-brackets@example.com"), "Message-ID"),
        (dict(list_unsubscribe_url="mailto:x@example.com"), "List-Unsubscribe"),
        (dict(list_unsubscribe_url="https://x.example.com/a b"), "List-Unsubscribe"),
        (dict(to_addr="Ana <not an address>"), "addr-spec"),
        (dict(list_id="Jobs <not@a.list.id>"), "List-Id"),
        (dict(extra_headers=(("Bcc", "x@y"),)), "not allowed"),
        (dict(extra_headers=(("list-unsubscribe", "<https://x>"),)), "not allowed"),
        (dict(extra_headers=(("X-Bad\r\nBcc", "x@y"),)), "not allowed"),
        (dict(list_unsubscribe_url="https://x.example.com/" + "t" * 1000), "998"),
    ],
)
def test_refuses_envelopes_that_cannot_be_right(changes, error):
    with pytest.raises(ValueError, match=error):
        build_message(make_envelope(**changes), "t", "h")


def test_date_keeps_the_senders_offset():
    date = datetime(2026, 11, 23, 8, 0, tzinfo=timezone(timedelta(hours=-5)))
    raw = build_message(make_envelope(date=date), "t", "h")
    assert b"\r\nDate: Mon, 23 Nov 2026 08:00:00 -0500\r\n" in raw


QP_SAMPLES = [
    "",
    "plain",
    "a = b",
    "trailing space \nand tab\t\nend space ",
    ".\n.leading dot\nFrom the start\n",
    "x" * 76 + "\n" + "y" * 77 + "\n" + "z" * 75 + ".",
    "=" * 200,
    "é" * 100,
    "🚀👩‍💻 emoji · – — … ’ \u00a0 \u202e",
    "mixed\r\nline\rends\n\r\n",
    "controls\x00\x07\x1b\x7f kept out",
    "a" * 74 + "=\n" + "b" * 73 + "é" + "c" * 10,
    "lone \ud800 surrogate",
]


def _expected(body: str) -> bytes:
    data = body.encode("utf-8", "replace").replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    return bytes(b for b in data if b >= 0x20 or b in b"\t\n").replace(b"\x7f", b"")


@pytest.mark.parametrize("body", QP_SAMPLES)
def test_quoted_printable_round_trips_like_b2a_qp(body):
    encoded = _qp(body)
    assert encoded.isascii()
    assert not re.search(rb"\r(?!\n)|(?<!\r)\n", encoded)
    for line in encoded.split(b"\r\n"):
        assert len(line) <= 76 and not line.endswith((b" ", b"\t")) and line != b"."
        assert not re.search(rb"=(?![0-9A-F]{2}|$)", line), line
    decoded = binascii.a2b_qp(encoded.replace(b"\r\n", b"\n"))
    assert decoded == _expected(body)
    assert decoded == binascii.a2b_qp(binascii.b2a_qp(_expected(body), istext=True))


def test_quoted_printable_fuzz_against_the_oracle():
    rng = random.Random(20261123)
    alphabet = "ab =.\t\n\r\u00b7é🚀\u200d<>&\"" + "x" * 10
    for _ in range(500):
        body = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 400)))
        encoded = _qp(body)
        assert all(len(line) <= 76 for line in encoded.split(b"\r\n"))
        assert not re.search(rb"\r(?!\n)|(?<!\r)\n", encoded)
        assert binascii.a2b_qp(encoded.replace(b"\r\n", b"\n")) == _expected(body)


def test_build_time_against_email_message(renderer):
    """Not an assertion on speed: prints what the hand-built message saves."""
    content = make_content(long_jobs(15), total=40)
    text, html = renderer.text(content), renderer.html(content)
    envelope = make_envelope(subject=renderer.subject(content))
    html60 = html + html[html.index("<body") :]  # a stock-MJML-sized 60 KB part, for comparison

    def stdlib(h: str) -> bytes:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = envelope.from_addr, envelope.to_addr, envelope.subject
        message.set_content(text)
        message.add_alternative(h, subtype="html")
        return message.as_bytes()

    def best(fn, number: int) -> float:
        return min(timeit.repeat(fn, number=number, repeat=5)) / number * 1e6

    ours = best(lambda: build_message(envelope, text, html), 200)
    ours60 = best(lambda: build_message(envelope, text, html60), 200)
    theirs = best(lambda: stdlib(html), 20)
    print(
        f"\nbuild_message: {ours:.0f} µs ({len(html) / 1024:.0f} KB HTML), {ours60:.0f} µs "
        f"({len(html60) / 1024:.0f} KB HTML); EmailMessage: {theirs:.0f} µs ({len(html) / 1024:.0f} KB HTML)"
    )


def test_a_digests_own_lines_encode_to_the_octets_the_whole_text_encodes_to():
    """encode_pieces takes plain lines (links) as their own encoding and memoises the rest line by line; the
    pieces must join to exactly what the encoder makes of the whole, whatever the lines hold."""
    rng = random.Random(20261207)
    link = "   Not for me: https://digest.example.com/feedback/AgRsD2JkAAAGegABAAABnigjkMRuaWRH_fISpQ\n"
    alphabet = ["a", "b", " ", "=", ".", "\t", "\n", "\u00b7", "é", "🚀", "<", "\x01", "\x7f", "x" * 40, "y" * 75, link]
    for _ in range(3000):
        pieces = ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 30))) + "\n"
                  for _ in range(rng.randrange(1, 6))]
        if rng.random() < 0.3:
            pieces[-1] = pieces[-1].rstrip("\n")  # a last piece that does not end its line
        whole = "".join(pieces)
        assert b"".join(encode_pieces(pieces)) == b"\r\n".join(_qp_lines(whole)) == _qp(whole)
