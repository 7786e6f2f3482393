"""Turn one DigestContent into the subject, preheader, plain text and HTML of the weekly email."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from mjml import mjml2html

from .content import DigestContent, JobView

DEFAULT_BOARD_NAME = "Backend Jobs Weekly"

# Code points a zero-width joiner may sit between inside an emoji sequence (👩‍💻, 🏳️‍🌈).
_EMOJI = "\u00a9\u00ae\u203c-\u3299\ufe0f\U0001F000-\U0001FAFF"
# One pass over a value that is not plain printable text:
#   group 1: a subdivision flag (🏴 + tag letters + cancel tag), kept whole;
#   group 2: control characters and line/paragraph separators, which become a space;
#   the rest: bidi overrides and isolates, zero-width and other invisible characters, which go.
# Stripping them keeps a listing from reordering or hiding text ("moc.live" tricks, smuggled text).
_UNSAFE = re.compile(
    "(\U0001F3F4[\U000E0020-\U000E007E]+\U000E007F)"
    "|([\x00-\x1f\x7f-\x9f\u2028\u2029])"
    f"|(?<![{_EMOJI}])\u200d|\u200d(?![{_EMOJI}])"
    "|[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b\u200c\u200e\u200f"
    "\u202a-\u202e\u2060-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb\U000E0000-\U000E0FFF]"
)
# Percent-encode anything else (spaces, quotes, non-ASCII) so a URL is one safe token everywhere.
_URL_SAFE = "!#$%&'()*+,-./:;=?@[]_~|^{}"
# Invisible padding after the preheader so clients do not pull body text into the inbox preview.
_PREHEADER_PAD = Markup("&#847;&zwnj;&nbsp;" * 40)
# MRML hides the preheader with white text as well as display:none; on our grey background SpamAssassin
# reads white-on-grey as hidden text (HTML_FONT_LOW_CONTRAST, +0.7). The other properties hide it; Outlook
# (Word) needs mso-hide:all in place of the colour.
_MRML_PREVIEW_COLOR = "display:none;font-size:1px;color:#ffffff;"
_PREVIEW_HIDE = "display:none;font-size:1px;mso-hide:all;"
# MRML writes the <meta> of an mj-raw as "<meta ... />"; HTML omits the slash on void elements.
_SELF_CLOSING = re.compile(r"<(meta|link|br|hr|img|col|source|wbr)\b([^<>]*?)\s*/>")


def clean_text(value: str | None) -> str:
    """Return value on one line without control, bidi or zero-width characters; emoji stay."""
    if not value:
        return ""
    if not value.isprintable():
        value = _UNSAFE.sub(lambda m: m.group(1) or (" " if m.group(2) else ""), value)
    return " ".join(value.split())


def http_url(value: str | None) -> str | None:
    """Return value as a percent-encoded http(s) URL, or None when it must not become a link."""
    url = (value or "").strip()
    if not url or not url.isprintable():  # control or bidi characters: a trick, not a typo
        return None
    url = quote(url, safe=_URL_SAFE)
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    return url


def compile_mjml(source: str) -> str:
    """Compile an MJML template to HTML (Jinja tags pass through untouched), preheader hidden cleanly."""
    # fonts={} stops MRML adding a Google Fonts <link> for "Roboto" in our system font stack.
    html = mjml2html(source, disable_comments=True, fonts={})
    html = html.replace(_MRML_PREVIEW_COLOR, _PREVIEW_HIDE, 1)
    return _SELF_CLOSING.sub(r"<\1\2>", html)


def _required_url(value: str, name: str) -> str:
    url = http_url(value)
    if url is None:
        raise ValueError(f"{name} must be an http(s) URL, not {value!r}")
    return url


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0] if " " in text[: limit - 1] else text[: limit - 1]
    return cut.rstrip(" ,·") + "…"


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _card(job: JobView) -> dict[str, Any]:
    return {
        "title": clean_text(job.title) or "Untitled role",
        "company": clean_text(job.company),
        "href": http_url(job.url),
        "location": clean_text(job.location) or "Remote",
        "level": clean_text(job.level),
        "salary": clean_text(job.salary),
        "stack": ", ".join(t for t in map(clean_text, job.stack) if t),
        "posted": clean_text(job.posted),
    }


def _subject(total: int, summary: str) -> str:
    subject = f"{_plural(total, 'new backend job', 'new backend jobs')} for you"
    return f"{subject}: {_shorten(summary, 60)}" if summary else subject


def _preheader(total: int, jobs: list[dict[str, Any]]) -> str:
    companies = list(dict.fromkeys(j["company"] for j in jobs if j["company"]))
    head = f"{_plural(total, 'new remote role', 'new remote roles')} this week"
    if not companies:
        return head
    names = ", ".join(_shorten(c, 40) for c in companies[:3])
    return f"{head}: {names}{', …' if len(companies) > 3 or total > len(jobs) else ''}"


@functools.lru_cache(maxsize=8)
def _context(content: DigestContent, board_name: str) -> dict[str, Any]:
    # Cached because one send asks for subject, preheader, text and HTML of the same content.
    jobs = [_card(j) for j in content.jobs]
    total = max(content.total_matches, len(jobs))
    more = total - len(jobs)
    summary = clean_text(content.summary)
    intro = f"{_plural(total, 'new job', 'new jobs')} matched your alert this week."
    if more:
        intro += " Here is the best one." if len(jobs) == 1 else f" Here are the top {len(jobs)}."
    return {
        "board_name": board_name,
        "board_href": _required_url(content.board_url, "board_url"),
        "preferences_href": _required_url(content.preferences_url, "preferences_url"),
        "unsubscribe_href": _required_url(content.unsubscribe_url, "unsubscribe_url"),
        "more_href": _required_url(content.more_url, "more_url") if more else None,
        "to_email": clean_text(content.to_email),
        "greeting_name": clean_text(content.to_name) or "there",
        "week_label": clean_text(content.week_label),
        "summary": summary,
        "intro": intro,
        "jobs": jobs,
        "total": total,
        "more_count": more,
        "subject": _subject(total, summary),
        "preheader": _preheader(total, jobs),
    }


class Renderer:
    """The digest templates, compiled once: MJML at construction, Jinja per subscriber."""

    def __init__(self, templates_dir: Path, *, board_name: str = DEFAULT_BOARD_NAME) -> None:
        email_dir = Path(templates_dir) / "email"
        self.board_name = clean_text(board_name) or DEFAULT_BOARD_NAME
        # MJML is compiled before Jinja runs: Jinja tags pass through MRML untouched, and
        # compiling here keeps the MJML step out of the per-subscriber path.
        compiled = compile_mjml((email_dir / "digest.mjml").read_text("utf-8"))
        html_env = Environment(autoescape=True, undefined=StrictUndefined)
        self._html = html_env.from_string(compiled)
        text_env = Environment(
            loader=FileSystemLoader(email_dir),
            autoescape=False,  # plain text: values are cleaned instead (clean_text)
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        self._text = text_env.get_template("digest.txt")

    def _ctx(self, content: DigestContent) -> dict[str, Any]:
        try:
            return _context(content, self.board_name)
        except TypeError:  # unhashable (a list where the contract says tuple): render uncached
            return _context.__wrapped__(content, self.board_name)

    def html(self, content: DigestContent) -> str:
        """Render the HTML part, every listing value escaped."""
        return self._html.render(self._ctx(content), preheader_pad=_PREHEADER_PAD)

    def text(self, content: DigestContent) -> str:
        """Render the plain-text part, saying what the HTML says."""
        return self._text.render(self._ctx(content))

    def subject(self, content: DigestContent) -> str:
        """Return the subject line with the number of new matches."""
        return self._ctx(content)["subject"]

    def preheader(self, content: DigestContent) -> str:
        """Return the inbox preview line naming the first companies."""
        return self._ctx(content)["preheader"]


@functools.lru_cache(maxsize=8)
def _cached_renderer(templates_dir: Path, board_name: str) -> Renderer:
    return Renderer(templates_dir, board_name=board_name)


def get_renderer(templates_dir: Path, board_name: str = DEFAULT_BOARD_NAME) -> Renderer:
    """Return the process-wide Renderer for templates_dir, compiling it on first use."""
    return _cached_renderer(Path(templates_dir).resolve(), board_name)
