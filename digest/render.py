"""Turn one DigestContent into the subject, preheader, plain text and HTML of the weekly email."""

from __future__ import annotations

import functools
from dataclasses import dataclass
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from markupsafe import Markup, escape
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


# Our own links (base URL + token, board search) are already plain ASCII URLs: recognise them cheaply.
_PLAIN_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9._~!$&'()*+,;=:@%/?#-]*)?")


def http_url(value: str | None) -> str | None:
    """Return value as a percent-encoded http(s) URL, or None when it must not become a link."""
    if value and _PLAIN_URL.fullmatch(value):
        return value  # every character is one quote() keeps; scheme and host are there by construction
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
    """A job's display values, cleaned once per run (the same listing is in many digests)."""
    try:
        return _cached_card(job)
    except TypeError:  # unhashable (a list where the contract says tuple)
        return _card_values(job)


def _card_values(job: JobView) -> dict[str, Any]:
    return {
        "title": clean_text(job.title) or "Untitled role",
        "company": clean_text(job.company),
        "href": http_url(job.url),
        "location": clean_text(job.location) or "Remote",
        "level": clean_text(job.level),
        "salary": clean_text(job.salary),
        "stack": ", ".join(t for t in map(clean_text, job.stack) if t),
        "posted": clean_text(job.posted),
        "verified": clean_text(job.verified),
        "role": clean_text(job.role),
        "employer": clean_text(job.employer),
        "why": "",
    }


_cached_card = functools.lru_cache(maxsize=65536)(_card_values)


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


@dataclass(frozen=True)
class SplitLoop:
    page: Template  # the template with the loop replaced by {{ cards }}
    card: Template  # the loop's body, rendered with `j`
    card_parts: tuple[Template, Template] | None  # body before and after {{ loop.index }} (text cards)


def split_loop(env: Environment, source: str, start: str, end: str, *, block_lines: bool) -> SplitLoop | None:
    """Cut a template's one loop out so its body can be rendered once per item and joined.

    With `block_lines` (trim_blocks + lstrip_blocks), the tags' own lines vanish from the output, so the cut
    is made at line boundaries to keep the result byte-identical. None when the template is not shaped so.
    """
    i, j = source.find(start), source.find(end)
    if i < 0 or j < i or source.count(start) != 1 or source.count(end) != 1:
        return None
    if block_lines:
        head_end = source.rfind("\n", 0, i) + 1
        body_start = source.index("\n", i) + 1
        body_end = source.rfind("\n", 0, j) + 1
        tail_start = source.index("\n", j) + 1
        if source[head_end:i].strip() or source[body_end:j].strip():
            return None
    else:
        head_end, body_start, body_end, tail_start = i, i + len(start), j, j + len(end)
    head, body, tail = source[:head_end], source[body_start:body_end], source[tail_start:]
    if "loop." in body.replace("{{ loop.index }}", ""):
        return None
    parts = body.split("{{ loop.index }}")
    card_parts = None
    if len(parts) == 2 and "{" not in parts[0]:
        card_parts = (env.from_string(parts[0]), env.from_string(parts[1]))
    elif len(parts) != 1:
        return None
    return SplitLoop(env.from_string(head + "{{ cards }}" + tail), env.from_string(body), card_parts)


@functools.lru_cache(maxsize=8)
def _context(content: DigestContent, board_name: str) -> dict[str, Any]:
    # Cached because one send asks for subject, preheader, text and HTML of the same content.
    whys = content.whys or ("",) * len(content.jobs)
    jobs = [{**_card(j), "why": _clean_why(why)} for j, why in zip(content.jobs, whys)]
    total = max(content.total_matches, len(jobs))
    more = total - len(jobs)
    summary = clean_text(content.summary)
    below = max(content.below_floor, 0)
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
        "below_floor": below,
        "below_floor_line": (f"{_plural(below, 'more job', 'more jobs')} matched but fell under your salary floor."
                             if below else ""),
        "subject": _subject(total, summary),
        "preheader": _preheader(total, jobs),
    }


# Stands for the cards while the text page renders around them; cleaned values never hold a NUL.
_CARDS_MARK = "\x00cards\x00"
# Stands for a card's why-line while the card renders once for every digest that shows it.
_WHY = "\x00why\x00"


@functools.lru_cache(maxsize=16_384)
def _clean_why(why: str) -> str:
    return clean_text(why)


@dataclass(frozen=True, slots=True)
class Card:
    """One job's card as rendered once per run, with the place of its why-line kept open.

    The text is kept in line-complete pieces (the number's line, the why line, the rest), so the message
    builder reuses the quoted-printable of each piece it has seen: a card's lines repeat across thousands of
    digests, its why-line across everyone who asked the same.
    """

    html_head: str
    html_tail: str | None  # None: no why-line in this card
    text_pre: str  # up to the card's number
    text_post: str  # after the number, to the end of the line before the why-line
    why_open: str  # the why-line up to the why ("   Why: ")
    why_close: str  # the rest of that line
    text_tail: str  # the lines after the why-line

    @classmethod
    def split(cls, html: str, pre: str, post: str) -> "Card":
        if _WHY not in html:
            return cls(html, None, pre, post, "", "", "")
        html_head, html_tail = html.split(_WHY)
        before, after = post.split(_WHY)
        cut = before.rfind("\n") + 1
        end = after.find("\n") + 1
        return cls(html_head, html_tail, pre, before[:cut], before[cut:], after[:end], after[end:])

    def html(self, why: str) -> str:
        """The card's markup with this why-line (cleaned text: escaped here)."""
        if self.html_tail is None:
            return self.html_head
        return "".join((self.html_head, _escaped(why), self.html_tail))

    def text_pieces(self, number: int, why: str) -> tuple[str, ...]:
        if self.html_tail is None:
            return (f"{self.text_pre}{number}{self.text_post}",)
        pieces = (f"{self.text_pre}{number}{self.text_post}", f"{self.why_open}{why}{self.why_close}", self.text_tail)
        return tuple(p for p in pieces if p)


@functools.lru_cache(maxsize=16_384)
def _escaped(text: str) -> str:
    return str(escape(text))




@dataclass(frozen=True, slots=True)
class Rendered:
    """Everything of one digest, rendered once. The text part comes in line-aligned pieces (head, one per
    card, tail) so that the message builder can reuse the encoding of a card it has already seen."""

    subject: str
    preheader: str
    html: str
    text_head: str
    text_cards: tuple[str, ...]
    text_tail: str

    @property
    def text(self) -> str:
        return self.text_head + "".join(self.text_cards) + self.text_tail


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
        # The same listing is a card in thousands of digests of a run: render each card once and let the
        # page template join them (byte for byte what the loop renders; see split_loop).
        self._html_cards = split_loop(html_env, compiled, "{% for j in jobs %}", "{% endfor %}", block_lines=False)
        text_source = (email_dir / "digest.txt").read_text("utf-8")
        self._text_cards = split_loop(text_env, text_source, "{% for j in jobs %}", "{% endfor %}", block_lines=True)
        self._card_cache: dict[tuple[JobView, bool], Card] = {}

    def _ctx(self, content: DigestContent) -> dict[str, Any]:
        try:
            return _context(content, self.board_name)
        except TypeError:  # unhashable (a list where the contract says tuple): render uncached
            return _context.__wrapped__(content, self.board_name)

    def _cards(self, content: DigestContent) -> list[tuple["Card", str]]:
        """Each job's card, rendered once per job (and per whether it has a why-line), with the why-line this
        digest sets into it (it depends on what the subscriber asked for; see Card)."""
        out = []
        whys = content.whys or ("",) * len(content.jobs)
        cache = self._card_cache
        for job, why in zip(content.jobs, whys):
            why = _clean_why(why)
            card = cache.get((job, bool(why)))
            if card is None:
                if len(cache) > 50_000:  # a run's listings, not a leak across runs
                    cache.clear()
                card = cache[(job, bool(why))] = self._render_card(job, bool(why))
            out.append((card, why))
        return out

    def _render_card(self, job: JobView, has_why: bool) -> "Card":
        ctx = {"j": _card(job) | {"why": _WHY if has_why else ""}}
        pre, post = self._text_cards.card_parts
        return Card.split(self._html_cards.card.render(ctx), pre.render(ctx), post.render(ctx))

    def html(self, content: DigestContent) -> str:
        """Render the HTML part, every listing value escaped."""
        ctx = self._ctx(content)
        if self._html_cards is None:
            return self._html.render(ctx, preheader_pad=_PREHEADER_PAD)
        return self.html_page(ctx, self._cards(content))

    def text(self, content: DigestContent) -> str:
        """Render the plain-text part, saying what the HTML says."""
        ctx = self._ctx(content)
        if self._text_cards is None or self._text_cards.card_parts is None:
            return self._text.render(ctx)
        cards = "".join(p for n, (card, why) in enumerate(self._cards(content), 1) for p in card.text_pieces(n, why))
        return self._text_cards.page.render(ctx, cards=cards)

    def render(self, content: DigestContent) -> Rendered:
        """Subject, preheader, HTML and text of one digest from one context (what a send needs, no cache key)."""
        ctx = _context.__wrapped__(content, self.board_name)
        if self._html_cards is None or self._text_cards is None or self._text_cards.card_parts is None:
            return Rendered(ctx["subject"], ctx["preheader"], self.html(content), self.text(content), (), "")
        cards = self._cards(content)
        return Rendered(ctx["subject"], ctx["preheader"], self.html_page(ctx, cards), *self.text_pieces(ctx, cards))

    def html_page(self, ctx: dict[str, Any], cards: list[tuple["Card", str]]) -> str:
        """The HTML page around the rendered cards."""
        html = Markup("".join([card.html(why) for card, why in cards]))
        return self._html_cards.page.render(ctx, preheader_pad=_PREHEADER_PAD, cards=html)

    def text_pieces(self, ctx: dict[str, Any], cards: list[tuple["Card", str]]) -> tuple[str, tuple[str, ...], str]:
        """The text part as (head, the cards' pieces, tail), each ending at a line end."""
        head, _mark, tail = self._text_cards.page.render(ctx, cards=_CARDS_MARK).partition(_CARDS_MARK)
        return head, tuple(p for n, (card, why) in enumerate(cards, 1) for p in card.text_pieces(n, why)), tail

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
