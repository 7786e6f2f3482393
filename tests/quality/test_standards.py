"""What every message meets, asserted on the parsed message: RFC 5322/MIME, Gmail and Yahoo's bulk-sender rules,
size, a text part that says what the HTML says, accessibility and safety with hostile listings."""

from __future__ import annotations

import json
import re
from email.header import decode_header, make_header
from html import unescape
from html.parser import HTMLParser

import pytest
from markupsafe import escape
from pydantic import ValidationError

from digest.listing_record import ListingIn
from digest.render import _PREHEADER_PAD
from digest.skeleton import ascii_html

from .conftest import ARTIFACTS
from .corpus import DIGESTS, MAX_JOBS, NAMES, TEST_SEND_TO, XSS, shown_company, shown_title, shown_url

FROM_DOMAIN = "example.org"
SINGLE = ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "List-Unsubscribe", "List-Unsubscribe-Post",
          "List-Id", "Feedback-ID", "Content-Type")
RECIPIENT = {"digest-1": "one@example.net", "digest-5": "five@example.net", f"digest-{MAX_JOBS}": "max@example.net",
             "digest-emptyish": "few@example.net", "test-send": TEST_SEND_TO, "confirmation": "new@example.net"}
GENERIC_LINK_TEXT = {"click here", "here", "link", "this link", "click", "more", "read more", "this", "go", "open"}
def shown(html: str) -> str:
    """The HTML part's text as a reader's client decodes it (the part is ASCII, other characters written as references),
    without the preheader's padding, which is invisible on purpose."""
    return unescape(html.replace("\r\n", "\n").replace(str(_PREHEADER_PAD), ""))


INVISIBLE = re.compile("[\u200b\u200c\u200e\u200f\u202a-\u202e\u2060-\u2069\ufeff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
all_messages = pytest.mark.parametrize("name", NAMES)
digests = pytest.mark.parametrize("name", DIGESTS)


class Page(HTMLParser):
    """The parts of an HTML document the checks below read."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.links: list[tuple[str, str]] = []  # (href, text)
        self.title = ""
        self._href: str | None = None
        self._text: list[str] = []
        self._in_title = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag == "a":
            self._href, self._text = dict(attrs).get("href") or "", []
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        if tag == "a" and self._href is not None:
            self.links.append((self._href, " ".join("".join(self._text).split())))
            self._href = None
        self._in_title = False

    def handle_data(self, data):
        if self._href is not None:
            self._text.append(data)
        if self._in_title:
            self.title += data

    def find(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for t, attrs in self.tags if t == tag]


def html_text(html: str) -> str:
    """The visible words of an HTML part, roughly: tags out, entities decoded, white space collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def header_block(raw: bytes) -> str:
    return raw.split(b"\r\n\r\n", 1)[0].decode("ascii")


def raw_header(raw: bytes, name: str) -> str:
    """The header as it is on the wire, unfolded (encoded words and all)."""
    unfolded = re.sub(r"\r\n[ \t]", " ", header_block(raw))
    values = [line.split(":", 1)[1].strip() for line in unfolded.split("\r\n") if line.lower().startswith(name.lower() + ":")]
    assert len(values) == 1, (name, values)
    return values[0]


# --- RFC 5322 / MIME ---------------------------------------------------------------------------------------------

@all_messages
def test_parses_strictly_with_each_header_once(samples, name):
    s = samples[name]
    msg = s.message  # policy with raise_on_defect=True: any defect is an exception
    assert not any(part.defects for part in msg.walk())
    for header in SINGLE:
        assert len(msg.get_all(header) or []) == 1, header
        assert not msg[header].defects, (header, msg[header].defects)
    assert msg["MIME-Version"] == "1.0"
    assert msg["From"].addresses[0].domain == FROM_DOMAIN
    assert re.fullmatch(rf"<[0-9a-f]{{32}}@{re.escape(FROM_DOMAIN)}>", msg["Message-ID"])
    assert msg["Date"].datetime.utcoffset() is not None
    (to,) = msg["To"].addresses
    assert to.addr_spec == RECIPIENT[name]
    assert "\r" not in to.display_name and "\n" not in to.display_name
    for forbidden in ("Bcc", "Cc", "X-Injected", "Reply-To"):
        assert msg.get_all(forbidden) is None, forbidden


@all_messages
def test_is_multipart_alternative_text_first_both_utf8(samples, name):
    msg = samples[name].message
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    for part in parts:
        assert part.get_content_charset() == "utf-8"
    # Plain text quoted-printable (what filters expect); HTML 7-bit: ASCII with other characters as references,
    # lines under 998 octets, so it goes as it is (a quarter smaller than base64, and no encoding to apply).
    assert [p["Content-Transfer-Encoding"] for p in parts] == ["quoted-printable", "7bit"]


@all_messages
def test_wire_format_is_7bit_crlf_and_within_998_octets(samples, name):
    raw = samples[name].raw
    assert raw.isascii(), "a non-ASCII octet on the wire: a header was not encoded"
    assert not re.search(rb"\r(?!\n)|(?<!\r)\n", raw), "bare CR or LF"
    assert max(map(len, raw.split(b"\r\n"))) <= 998
    for line in header_block(raw).split("\r\n"):  # folded at 78 (SHOULD) wherever there is a space to fold at
        assert len(line) <= 78 or " " not in line.split(": ", 1)[-1].strip(), line


@all_messages
def test_non_ascii_subject_and_display_names_are_encoded_words(samples, name):
    s = samples[name]
    msg = s.message
    subject = str(msg["Subject"])
    if name == "test-send":
        assert subject.startswith("[TEST] ")
    wire = raw_header(s.raw, "Subject")
    assert ("=?utf-8?q?" in wire) == (not subject.isascii()), wire
    for header in ("From", "To"):
        (address,) = msg[header].addresses
        wire = raw_header(s.raw, header)
        if not address.display_name.isascii():
            assert wire.startswith("=?utf-8?q?") and wire.endswith(f"<{address.addr_spec}>"), wire
    if s.subscriber_name and name != "test-send":
        expected = " ".join(s.subscriber_name.split())  # one line: CR/LF and tabs became spaces
        phrase = raw_header(s.raw, "To").rsplit(" <", 1)[0]
        if not expected.isascii():
            assert str(make_header(decode_header(phrase))) == expected  # as RFC 2047 decoders read it
        assert " ".join(msg["To"].addresses[0].display_name.split()) == expected  # and Python's address parser


# --- Gmail and Yahoo bulk-sender rules ---------------------------------------------------------------------------

@all_messages
def test_one_click_unsubscribe_headers(samples, name):
    s = samples[name]
    msg = s.message
    value = raw_header(s.raw, "List-Unsubscribe")
    m = re.fullmatch(r"<(https://[^<>,\s]+)>", value)
    assert m, f"List-Unsubscribe must be exactly one https URL in angle brackets, not {value!r}"
    # A test copy's header, like its body's links, points at a page that changes nothing: a seed list's or the
    # operator's mail client button must not unsubscribe the real subscriber.
    assert m.group(1) == s.unsubscribe
    assert ("/test-copy/" in s.unsubscribe) == (name == "test-send")
    assert "mailto:" not in value
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert s.raw.count(b"\r\nList-Unsubscribe:") == 1 and s.raw.count(b"\r\nList-Unsubscribe-Post:") == 1


@all_messages
def test_visible_unsubscribe_link_in_both_parts(samples, name):
    s = samples[name]
    texts = [text for href, text in Page(s.html).links if href == s.unsubscribe]
    assert texts and all(texts), f"no link to {s.unsubscribe} with text in the HTML"
    assert s.unsubscribe in s.text


@all_messages
def test_list_id_and_feedback_id(samples, name):
    msg = samples[name].message
    m = re.fullmatch(r"(.+) <([a-z0-9-]+(?:\.[a-z0-9-]+)+)>", str(msg["List-Id"]))
    assert m and m.group(2).endswith("." + FROM_DOMAIN), msg["List-Id"]
    feedback = str(msg["Feedback-ID"])
    m = re.fullmatch(r"([a-z]+):(\d{4}-W\d{2}):([a-z0-9.-]+)", feedback)
    assert m, f"Feedback-ID must be campaign:period:sender, not {feedback!r}"
    assert m.group(1) == {"confirmation": "confirm", "test-send": "test"}.get(name, "weekly")
    assert m.group(3) == FROM_DOMAIN


# --- size ---------------------------------------------------------------------------------------------------------

def test_size_under_90_kb_at_the_maximum_and_per_listing(samples):
    rows = {}
    for name in ("digest-1", "digest-5", f"digest-{MAX_JOBS}"):
        s = samples[name]
        rows[name] = {"listings": len(s.listings), "total": len(s.raw), "html": len(s.html.encode()),
                      "text": len(s.text.encode())}
    first, last = rows["digest-1"], rows[f"digest-{MAX_JOBS}"]
    per_listing = {k: (last[k] - first[k]) / (MAX_JOBS - 1) for k in ("total", "html", "text")}
    print("\nsize    listings    total      HTML      text")
    for name, r in rows.items():
        print(f"{name:>10} {r['listings']:>5} {r['total'] / 1024:>8.1f} KB {r['html'] / 1024:>6.1f} KB "
              f"{r['text'] / 1024:>6.1f} KB")
    print(f"per listing (1 → {MAX_JOBS}, 500-character titles): {per_listing['total']:.0f} B on the wire, "
          f"{per_listing['html']:.0f} B HTML, {per_listing['text']:.0f} B text")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "sizes.json").write_text(json.dumps({"messages": rows, "per_listing": per_listing}, indent=1) + "\n")
    assert last["total"] < 90 * 1024, f"{last['total']} bytes: Gmail clips at about 102 KB of source"
    # (A 15-listing digest of ordinary listings, why-lines and feedback links included, must stay under 60 KB on
    # the wire: tests/test_listing_feedback.py. This one has 500-character titles.)
    assert per_listing["total"] < 4 * 1024, "a listing card should stay lean"


# --- the text part says what the HTML says ------------------------------------------------------------------------

@digests
def test_text_part_carries_every_listing_and_link(samples, name):
    s = samples[name]
    text = s.text
    for listing in s.listings:
        assert shown_title(listing.title) in text
        assert shown_company(listing.company) in text
        url = shown_url(listing.url)
        assert url and url in text
    for purpose in ("unsubscribe", "preferences", "board"):
        assert s.links[purpose] in text, purpose
    if s.more:
        assert re.search(rf"\+{s.more} more match(es)? this week", html_text(s.html))
        assert re.search(rf"\+{s.more} more match(es)? this week", text)


def test_the_emptyish_digest_reads_naturally(samples):
    s = samples["digest-emptyish"]
    assert len(s.listings) == 1 and s.more == 3
    for part in (s.text, html_text(s.html)):
        assert "4 new jobs matched your alert this week. Here is the best one." in part
        assert "+3 more matches this week" in part and "See all 4 matches" in part


def test_confirmation_text_carries_its_links(samples):
    s = samples["confirmation"]
    assert s.links["confirm"] in s.text and s.links["unsubscribe"] in s.text
    assert s.links["confirm"] in dict(Page(s.html).links)


@all_messages
def test_every_html_link_is_in_the_text_part(samples, name):
    s = samples[name]
    hrefs = {href for href, _ in Page(s.html).links}
    missing = {h for h in hrefs if h.replace("&amp;", "&") not in s.text}
    assert not missing, f"links only in the HTML part: {missing}"


@all_messages
def test_text_part_is_plain_text(samples, name):
    s = samples[name]
    text = s.text
    for listing in s.listings:  # listing values may hold markup-like text: it is their content, shown as is
        text = text.replace(shown_title(listing.title), "").replace(shown_company(listing.company), "")
    assert not re.search(r"</?[a-z][a-z0-9]*[\s>/]", text), "HTML tags in the text part"
    assert not re.search(r"&(#\d+|[a-z]+);", text), "HTML entities in the text part"


# --- accessibility (Chromium measures contrast, overflow and visibility: test_rendering.py) ----------------------

@all_messages
def test_html_is_accessible(samples, name):
    s = samples[name]
    page = Page(s.html)
    (html_tag,) = page.find("html")
    assert html_tag.get("lang") == "en"
    assert page.title.strip() and page.title.strip() in str(s.message["Subject"])
    tables = page.find("table")
    assert tables and all(t.get("role") == "presentation" for t in tables), "a layout table without role=presentation"
    assert all(img.get("alt") is not None for img in page.find("img")), "an image without alt"
    metas = {m.get("name"): m.get("content") for m in page.find("meta") if m.get("name")}
    assert metas.get("color-scheme") == "light dark" and metas.get("supported-color-schemes") == "light dark"
    assert "prefers-color-scheme: dark" in s.html


@all_messages
def test_link_text_makes_sense_out_of_context(samples, name):
    for href, text in Page(samples[name].html).links:
        assert text, f"a link without text: {href}"
        assert text.lower().strip(" .!:→›»") not in GENERIC_LINK_TEXT, f"{text!r} says nothing out of context"
        assert not text.startswith(("http://", "https://")), f"a bare URL as link text: {text}"


# --- safety -------------------------------------------------------------------------------------------------------

@all_messages
def test_html_has_no_active_content(samples, name):
    page = Page(samples[name].html)
    assert not page.find("script") and not page.find("iframe") and not page.find("object") and not page.find("form")
    for tag, attrs in page.tags:
        for attr, value in attrs.items():
            assert not attr.startswith("on"), f"<{tag} {attr}>"
            if attr in ("href", "src", "action", "background"):
                assert (value or "").startswith("https://"), f"<{tag} {attr}={value!r}>"


@digests
def test_listing_values_are_escaped_in_html_and_clean_in_text(samples, name):
    s = samples[name]
    html, text = s.html, s.text
    for listing in s.listings:
        title, company = shown_title(listing.title), shown_company(listing.company)
        assert ascii_html(str(escape(title))) in html
        assert ascii_html(str(escape(company))) in html
        assert "\n" not in title and "\r" not in title and not INVISIBLE.search(title + company)
        assert title in text and company in text
        url = shown_url(listing.url)
        assert f'href="{escape(url)}"' in html
    assert not INVISIBLE.search(shown(html)) and not INVISIBLE.search(text)
    for line in text.splitlines():
        assert not re.match(r"(Bcc|Cc|X-Injected|Content-Type):", line), line


@pytest.mark.parametrize("name", ["digest-5", "test-send"])
def test_the_hostile_listings_arrive_harmless(samples, name):
    s = samples[name]
    html, text = s.html, s.text
    assert XSS in text  # shown as the text it is
    assert ascii_html(str(escape(XSS))) in html  # shown as text: no <script> or <img> element (test_html_has_no_active_content)
    assert "<script" not in html.lower() and "<img" not in html.lower()
    assert "Smith &amp; &#34;Sons&#34; &lt;b&gt;Ltd&lt;/b&gt;" in html and "<b>Ltd</b>" not in html
    assert "مهندس Go خلفيةevil role" in text and "ZeroWidthCo & Partners" in text  # RTL kept, bidi/zero-width gone
    assert "🚀 Go Engineer 👩‍💻 (Payments) 🇪🇺" in text and "🚀 Go Engineer 👩‍💻 (Payments) 🇪🇺" in shown(html)
    assert "Café Zürich GmbH" in text
    long_title = next(listing.title for listing in s.listings if len(listing.title) == 500)
    assert long_title in text and ascii_html(str(escape(long_title))) in html
    assert "Line Bcc: attacker@evil.example X-Injected: yes and controls" in text
    assert "https://jobs.example.org/jobs/go-4?a=%22x%22&b=%3Cy%3E" in text  # quotes and brackets encoded
    assert 'href="https://jobs.example.org/jobs/go-4?a=%22x%22&amp;b=%3Cy%3E"' in html


@all_messages
def test_no_header_injection(samples, name):
    s = samples[name]
    head = header_block(s.raw)
    names = [line.split(":", 1)[0] for line in head.split("\r\n") if line and line[0] not in " \t"]
    assert names == list(SINGLE), names  # nothing a value smuggled in
    if s.subscriber_name and "\n" in s.subscriber_name and name != "test-send":
        assert "Bcc: attacker@evil.example X-Injected: yes" in " ".join(s.message["To"].addresses[0].display_name.split())


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "JavaScript:alert(document.cookie)", "  javascript:alert(1)", "javascript://x.org/%0aalert(1)",
    "data:text/html,<script>alert(1)</script>", "vbscript:msgbox(1)", "file:///etc/passwd", "//jobs.example.org/x",
    "https://jobs.example.org/x\r\nBcc: y@z",
])
def test_unsafe_listing_urls_are_rejected_at_import(url):
    record = {"id": "x1", "title": "Backend Engineer", "company": "Acme", "url": url, "posted_at": "2026-11-20T08:00:00Z"}
    with pytest.raises(ValidationError, match="url"):
        ListingIn.model_validate(record)
    assert ListingIn.model_validate(record | {"url": "https://jobs.example.org/x"}).url == "https://jobs.example.org/x"
