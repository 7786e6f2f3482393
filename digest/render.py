"""Turn one DigestContent into the subject, preheader, plain text and HTML of the weekly email."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from itertools import zip_longest
import re
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote, urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from markupsafe import Markup
from mjml import mjml2html

from .content import DigestContent, FeedbackLinks, JobView
from .skeleton import Skeleton, ascii_html, html_text

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
_PREHEADER_PAD = Markup("\n".join(["&#847;&zwnj;&nbsp;" * 10] * 4))  # in lines: 7-bit lines stay short
# MRML hides the preheader with white text as well as display:none; on our grey background SpamAssassin
# reads white-on-grey as hidden text (HTML_FONT_LOW_CONTRAST, +0.7). The other properties hide it; Outlook
# (Word) needs mso-hide:all in place of the colour.
_MRML_PREVIEW_COLOR = "display:none;font-size:1px;color:#ffffff;"
_PREVIEW_HIDE = "display:none;font-size:1px;mso-hide:all;"
# MRML writes the <meta> of an mj-raw as "<meta ... />"; HTML omits the slash on void elements.
_SELF_CLOSING = re.compile(r"<(meta|link|br|hr|img|col|source|wbr)\b([^<>]*?)\s*/>")
# MRML writes a page on a few lines of thousands of characters; a 7-bit part may not have lines over 998 octets.
# A line break for the space after a tag's name changes nothing a browser or mail client reads (breaks between
# tags or in text could: they are white space between inline elements).
_TAG_SPACE = re.compile(r"<[a-zA-Z][a-zA-Z0-9]* ")
_LINE = 200  # a template line runs to at least this before it is broken (values filled in lengthen it)


def _short_lines(html: str) -> str:
    """html with its long lines broken after a tag's name, each piece at least _LINE characters, and no white space
    at a line's end, nor before a Jinja block tag that starts one (a relay may strip white space at a line's end,
    and a 7-bit part is sent as it is)."""
    lines = []
    for line in html.split("\n"):
        line = line.rstrip(" \t")
        if line.lstrip(" \t").startswith("{%"):  # a block tag's indent would be left alone on a line
            line = line.lstrip(" \t")
        pieces, cut = [], 0
        if len(line) > _LINE:
            for found in _TAG_SPACE.finditer(line):
                space = found.end() - 1
                if space - cut > _LINE:
                    pieces.append(line[cut:space])
                    cut = space + 1
        pieces.append(line[cut:])
        lines.append("\n".join(pieces))
    return "\n".join(lines)


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
    return _short_lines(_SELF_CLOSING.sub(r"<\1\2>", html))


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
        "why": "",  # per subscriber: see _cards
        "company_short": _shorten(clean_text(job.company), 32),  # in "Hide {company}": two per card, both parts
        "not_for_me_href": None, "hide_href": None,  # per subscriber: see _own_values
    }


_cached_card = functools.lru_cache(maxsize=65536)(_card_values)


def _links_at(content: DigestContent, i: int) -> FeedbackLinks | None:
    return content.feedback[i] if i < len(content.feedback) else None


# A cached card holds these where its subscriber's values go (the why-line, which depends on what they asked
# for, and their feedback links); cleaned values and URLs never hold a NUL.
_LINK_MARKS = {"not_for_me_href": "\x00not-for-me\x00", "hide_href": "\x00hide-company\x00"}
_WHY_MARK = {"why": "\x00why\x00"}
_MARKS = _WHY_MARK | _LINK_MARKS
_MARK_NAMES = {mark: name for name, mark in _MARKS.items()}
_A_MARK = re.compile("(" + "|".join(_MARKS.values()) + ")")


@functools.lru_cache(maxsize=2_048)  # the commonest why-lines; the long tail is cheap to clean again
def _clean_why(why: str) -> str:
    return clean_text(why)


def _values_at(content: DigestContent, i: int) -> dict[str, str]:
    """What card i of this digest shows for its subscriber alone: the why-line and the feedback links."""
    return _own_values(_clean_why(content.whys[i]) if i < len(content.whys) else "", _links_at(content, i))


def _own_values(why: str, links: FeedbackLinks | None) -> dict[str, str]:
    values = {"why": why} if why else {}
    if links is not None:
        if links.plain:  # made plain (tokens on a checked base), as _required_url would hand them back
            values["not_for_me_href"], values["hide_href"] = links.not_for_me_url, links.hide_company_url
        else:
            values["not_for_me_href"] = _required_url(links.not_for_me_url, "not_for_me_url")
            values["hide_href"] = _required_url(links.hide_company_url, "hide_company_url")
    return values


_html_why = functools.lru_cache(maxsize=2_048)(html_text)  # a why-line recurs in many digests


def _html_values(values: dict[str, str], links: FeedbackLinks | None) -> dict[str, str]:
    """`_own_values` as the HTML part holds them (plain links need nothing done)."""
    out = dict(values)
    if "why" in out:
        out["why"] = _html_why(out["why"])
    if links is not None and not links.plain:
        out["not_for_me_href"], out["hide_href"] = html_text(out["not_for_me_href"]), html_text(out["hide_href"])
    return out


class _Card(NamedTuple):
    """One listing's card, rendered once per run. Its HTML is kept as pieces, cut where a subscriber's links go
    (odd positions hold their names), so filling them in copies no card and the page joins everything once.
    (A named tuple: a filled copy per card and digest is made often, and a tuple is the cheapest to make.)"""

    html: tuple[str, ...]  # escaped HTML, and at odd positions the name of a value that goes there
    pre: str  # text before the card's number
    post: str  # text after it, up to the lines that hold a subscriber's values
    links: tuple[str, ...] | str = ""  # those lines (why-line, links), cut like `html` ("" when none); filled: joined

    def filled(self, html_values: dict[str, str], text_values: dict[str, str]) -> "_Card":
        html = list(self.html)
        for i in range(1, len(html), 2):
            html[i] = html_values[html[i]]
        links = list(self.links)
        for i in range(1, len(links), 2):
            links[i] = text_values[links[i]]
        return _Card(tuple(html), self.pre, self.post, "".join(links))




def _pieces(rendered: str) -> tuple[str, ...]:
    """A rendered card's HTML (or lines of text) cut at the marks, each mark replaced by its value's name."""
    parts = _A_MARK.split(rendered)
    parts[1::2] = [_MARK_NAMES[m] for m in parts[1::2]]
    return tuple(parts)


def _joined(cards: list[_Card]) -> Markup:
    return Markup("".join([piece for c in cards for piece in c.html]))  # every piece escaped already


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
    page_source: str  # its source (a Skeleton reads its syntax tree)
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
    page = head + "{{ cards }}" + tail
    return SplitLoop(env.from_string(page), page, env.from_string(body), card_parts)


@functools.lru_cache(maxsize=8)
def _context(content: DigestContent, board_name: str, links: bool = True) -> dict[str, Any]:
    # Cached because one send asks for subject, preheader, text and HTML of the same content. `links=False` when
    # the cards come rendered (`Renderer.render`): their links are filled in there.
    jobs = [_card(j) for j in content.jobs]
    if links and (content.feedback or content.whys):
        jobs = [card | values if (values := _values_at(content, i)) else card for i, card in enumerate(jobs)]
    below = max(content.below_floor, 0)
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
        "more_noun": "match" if more == 1 else "matches",
        "below_floor": below,
        "below_floor_line": (f"{_plural(below, 'more job', 'more jobs')} matched but fell under your salary floor."
                             if below else ""),
        "subject": _subject(total, summary),
        "preheader": _preheader(total, jobs),
    }


# Stands for the cards while the text page renders around them; cleaned values never hold a NUL.
_CARDS_MARK = "\x00cards\x00"


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
    text_links: tuple[str, ...] = ()  # after each card, its subscriber's feedback links (line-aligned too)

    @property
    def text(self) -> str:
        cards = zip_longest(self.text_cards, self.text_links, fillvalue="")
        return self.text_head + "".join(card + links for card, links in cards) + self.text_tail


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
        self._card_cache: dict[tuple[JobView, bool, bool], _Card] = {}
        # The page around the cards is the same for most people but for a few values: render it once per shape.
        self._html_page = self._html_cards and Skeleton(self._html_cards.page, self._html_cards.page_source, ascii=True)
        self._text_page = self._text_cards and Skeleton(self._text_cards.page, self._text_cards.page_source)

    def _ctx(self, content: DigestContent) -> dict[str, Any]:
        try:
            return _context(content, self.board_name)
        except TypeError:  # unhashable (a list where the contract says tuple): render uncached
            return _context.__wrapped__(content, self.board_name)

    def _cards(self, content: DigestContent) -> list[_Card]:
        """Each job's card, rendered once per job (and per which of a subscriber's values it shows), with this
        subscriber's why-line and links filled in."""
        whys, feedback, cache = content.whys, content.feedback, self._card_cache
        out = []
        for i, job in enumerate(content.jobs):  # _values_at, unrolled: this loop runs for every card sent
            why = _clean_why(whys[i]) if i < len(whys) else ""
            links = feedback[i] if i < len(feedback) else None
            shape = (job, bool(why), links is not None)
            card = cache.get(shape) or self._render_card(shape)
            if why or links is not None:
                values = _own_values(why, links)
                card = card.filled(_html_values(values, links), values)
            out.append(card)
        return out

    def _render_card(self, shape: tuple[JobView, bool, bool]) -> _Card:
        """Render and cache a card; it holds marks where a subscriber's why-line and links go."""
        if len(self._card_cache) > 50_000:  # a run's listings, not a leak across runs
            self._card_cache.clear()
        job, has_why, linked = shape
        ctx = {"j": _card(job) | (_WHY_MARK if has_why else {}) | (_LINK_MARKS if linked else {})}
        pre, post = (part.render(ctx) for part in self._text_cards.card_parts)
        links: tuple[str, ...] | str = ""
        found = _A_MARK.search(post)
        if found:  # the lines with a subscriber's values run to the end of the card
            cut = post.rfind("\n", 0, found.start()) + 1
            post, links = post[:cut], _pieces(post[cut:])
        html = _pieces(ascii_html(self._html_cards.card.render(ctx)))
        card = self._card_cache[shape] = _Card(html, pre, post, links)
        return card

    def html(self, content: DigestContent) -> str:
        """Render the HTML part, every listing value escaped, in ASCII (other characters as references)."""
        ctx = self._ctx(content)
        if self._html_cards is None:
            return ascii_html(self._html.render(ctx, preheader_pad=_PREHEADER_PAD))
        return self.html_page(ctx, self._cards(content))

    def text(self, content: DigestContent) -> str:
        """Render the plain-text part, saying what the HTML says."""
        ctx = self._ctx(content)
        if self._text_cards is None or self._text_cards.card_parts is None:
            return self._text.render(ctx)
        cards = "".join(f"{c.pre}{n}{c.post}{c.links}" for n, c in enumerate(self._cards(content), 1))
        return self._text_page.render(ctx | {"cards": cards})

    def render(self, content: DigestContent) -> Rendered:
        """Subject, preheader, HTML and text of one digest from one context (what a send needs, no cache key)."""
        ctx = _context.__wrapped__(content, self.board_name, self._html_cards is None or self._text_cards is None)
        if self._html_cards is None or self._text_cards is None or self._text_cards.card_parts is None:
            return Rendered(ctx["subject"], ctx["preheader"], self.html(content), self.text(content), (), "")
        cards = self._cards(content)
        return Rendered(ctx["subject"], ctx["preheader"], self.html_page(ctx, cards), *self.text_pieces(ctx, cards))

    def html_page(self, ctx: dict[str, Any], cards: list[_Card]) -> str:
        """The HTML page around the rendered cards."""
        return self._html_page.render(ctx | {"preheader_pad": _PREHEADER_PAD, "cards": _joined(cards)})

    def text_pieces(self, ctx: dict[str, Any],
                    cards: list[_Card]) -> tuple[str, tuple[str, ...], str, tuple[str, ...]]:
        """The text part as (head, numbered cards, tail, each card's links), each ending at a line end."""
        head, _mark, tail = self._text_page.render(ctx | {"cards": _CARDS_MARK}).partition(_CARDS_MARK)
        return (head, tuple(f"{c.pre}{n}{c.post}" for n, c in enumerate(cards, 1)), tail,
                tuple(c.links for c in cards))

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
