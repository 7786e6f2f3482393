"""From a subscriber and their matches to the finished message: content, links, headers, bytes."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.utils import parseaddr
from urllib.parse import urlencode

from . import tokens
from .content import DigestContent, Envelope, FeedbackLinks, JobView
from .datafile import phrase_key
from .matching import IndexedListing, Match, Prefs
from .message import QuotedPrintable, build_message, encode_pieces, encode_text, message_id_for
from .outbox_keys import digest_key
from .render import Renderer, get_renderer, http_url
from .schedule import zone
from .settings import Settings
from .taxonomy import Taxonomy


WHY_MEMO = 512  # preference sets whose why-lines are kept (the head of a Zipf-like list covers most digests)
WHY_LINES = 16_384  # why-lines kept in all (a set's grows with every listing its people are matched to)


@dataclass(frozen=True, slots=True)
class Recipient:
    """The columns of a subscriber the weekly run needs (a plain row, not an ORM object)."""

    id: int
    email: str
    name: str | None
    stack: tuple[str, ...]
    levels: tuple[str, ...]
    regions: tuple[str, ...]
    roles: tuple[str, ...]
    employers: tuple[str, ...]
    timezone: str
    send_day: int
    send_hour: int
    min_salary: int | None
    hide_no_salary: bool
    paused_until: date | None
    token_version: int
    confirmed_at: datetime | None  # slots before this are not theirs: a first digest waits for the next slot
    cadence: str = "weekly"  # or fortnightly (digest.cadence)

    @property
    def prefs(self) -> Prefs:
        return Prefs(self.stack, self.levels, self.regions, self.min_salary, self.hide_no_salary, self.roles,
                     self.employers)


@dataclass(frozen=True, slots=True)
class Composed:
    key: str  # "<period>/<subscriber id>": ledger key and outbox file name
    to: str
    raw: bytes
    subject: str


class Composer:
    """Turns matches into messages for one run; everything invariant is computed once here."""

    def __init__(self, settings: Settings, taxonomy: Taxonomy, renderer: Renderer | None = None):
        self.settings = settings
        self.taxonomy = taxonomy
        self.renderer = renderer or get_renderer(settings.templates_dir)
        name, _addr = parseaddr(settings.from_addr)
        self.list_id = f"{name or 'Job digest'} <weekly.{settings.from_domain}>"
        self._views: dict[str, JobView] = {}
        # Bounded memos (least recently used go first), so memory stays flat however long the list: the
        # commonest numbered cards' quoted-printable whole (full from the first thousand digests on); the others'
        # in two pieces, the numbered first line (listings x positions, short) and the rest (one per listing);
        # and the board-search link of a preference set.
        self._card_text = functools.lru_cache(maxsize=4_096)(self._card_qp)
        self._line_text = functools.lru_cache(maxsize=8_192)(encode_text)
        self._rest_text = functools.lru_cache(maxsize=8_192)(encode_text)
        self._more_url = functools.lru_cache(maxsize=2_048)(self._search_url)  # the common sets; the tail is cheap
        self._whys: dict[tuple, dict[str, str]] = {}  # what a why-line reads of a preference set -> board id -> line
        self._why_lines = 0
        self._feedback_base = f"{settings.base_url}/feedback/"
        # A token is URL-safe base64, so a base that is a plain URL makes plain links: the renderer need not check them.
        probe = self._feedback_base + "AZaz09-_"
        self._plain_links = http_url(probe) == probe and not any(c in probe for c in "<>&\"'")

    def link(self, purpose: str, rcpt: Recipient) -> str:
        token = tokens.sign(self.settings.secret_keys, purpose, rcpt.id, rcpt.token_version)
        return f"{self.settings.base_url}/{purpose}/{token}"

    def feedback(self, rcpt: Recipient, listings: tuple[IndexedListing, ...]) -> tuple[FeedbackLinks | None, ...]:
        """Every card's feedback links for one subscriber, signed at once (`tokens.feedback_tokens`)."""
        ids = [listing.listing_id for listing in listings if listing.listing_id]
        signed = iter(tokens.feedback_tokens(self.settings.secret_keys, rcpt.id, rcpt.token_version, ids))
        base, plain = self._feedback_base, self._plain_links
        return tuple(FeedbackLinks(base + next(signed), base + next(signed), plain) if listing.listing_id else None
                     for listing in listings)

    def job_view(self, listing: IndexedListing) -> JobView:
        """The listing's card, built once per run (a listing appears in many digests)."""
        view = self._views.get(listing.board_id)
        if view is None or view.title != listing.title:
            view = self._views[listing.board_id] = self._job_view(listing)
        return view

    def _job_view(self, listing: IndexedListing) -> JobView:
        taxonomy = self.taxonomy
        where = " · ".join(taxonomy.region_label(r) for r in listing.regions)
        if not where or more_precise(listing.location, taxonomy):
            where = (listing.location or "Remote")[:80]
        return JobView(
            id=listing.board_id, title=listing.title, company=listing.company, url=listing.url, location=where,
            level=taxonomy.level_label(listing.level) if listing.level else None,
            stack=tuple(taxonomy.stack_label(t) for t in listing.stack), salary=listing.salary_display,
            posted=_day(listing.posted_at), verified=_day(listing.verified_at),
            role=taxonomy.role_type_labels.get(listing.role_type) if listing.role_type else None,
            employer=taxonomy.employer_type_labels.get(listing.employer_type) if listing.employer_type else None,
        )

    def whys(self, listings: tuple[IndexedListing, ...], prefs: Prefs) -> tuple[str, ...]:
        """Why each listing is in this subscriber's digest, memoised per what a why-line reads of the preferences
        (many people share it: the levels and the salary floor themselves do not change the line)."""
        key = (prefs.stack, prefs.regions, bool(prefs.levels), bool(prefs.roles), bool(prefs.employers),
               bool(prefs.min_salary or prefs.hide_no_salary))
        known = self._whys.pop(key, None)  # taken out and put back last: the least recently used go first
        if known is None:
            known = {}
        self._whys[key] = known
        out = []
        for listing in listings:
            why = known.get(listing.board_id)
            if why is None:
                why = known[listing.board_id] = self.why(listing, prefs)
                self._why_lines += 1
            out.append(why)
        # Memory stays flat at any list size: at most WHY_MEMO sets and WHY_LINES lines, the least used go first.
        while len(self._whys) > WHY_MEMO or self._why_lines > WHY_LINES:
            self._why_lines -= len(self._whys.pop(next(iter(self._whys))))
        return tuple(out)

    def why(self, listing: IndexedListing, prefs: Prefs) -> str:
        """Why a listing is in this subscriber's digest, in a few words: what it shares with what they asked for,
        and what it does not say ("Go · Senior · Europe"; "Python · level not stated")."""
        taxonomy = self.taxonomy
        stack = [t for t in listing.stack if t in prefs.stack] if prefs.stack else list(listing.stack[:2])
        parts = [", ".join(taxonomy.stack_label(t) for t in stack)]
        if listing.level:
            parts.append(taxonomy.level_label(listing.level))
        elif prefs.levels:
            parts.append("level not stated")
        if prefs.roles:
            role = listing.role_type
            parts.append(taxonomy.role_type_labels.get(role, role) if role else "role not stated")
        if prefs.employers and listing.employer_type:
            parts.append(taxonomy.employer_type_labels.get(listing.employer_type, listing.employer_type))
        if prefs.regions:
            shared = [r for r in listing.regions if r in prefs.regions]
            parts.append(", ".join(map(taxonomy.region_label, shared)) if shared else taxonomy.region_label("worldwide"))
        if (prefs.min_salary or prefs.hide_no_salary) and listing.usd_max is None:
            parts.append("salary not stated")
        return " · ".join(p for p in parts if p)

    def summary(self, rcpt: Recipient) -> str:
        taxonomy = self.taxonomy
        parts = [
            ", ".join(taxonomy.stack_label(t) for t in rcpt.stack) or "Any stack",
            ", ".join(taxonomy.level_label(level) for level in rcpt.levels) or "any level",
            ", ".join(taxonomy.region_label(r) for r in rcpt.regions) or "anywhere",
        ]
        parts += [", ".join(labels.get(v, v) for v in chosen) for labels, chosen in
                  ((taxonomy.role_type_labels, rcpt.roles), (taxonomy.employer_type_labels, rcpt.employers)) if chosen]
        if rcpt.min_salary:
            parts.append(f"from ${rcpt.min_salary // 1000}k")
        return " · ".join(parts)

    def more_url(self, rcpt: Recipient, since: datetime) -> str:
        """The board search for everything that matched (shared by everyone who asked the same)."""
        return self._more_url(rcpt.stack, rcpt.levels, rcpt.regions, since.date())

    def _search_url(self, stack: tuple[str, ...], levels: tuple[str, ...], regions: tuple[str, ...],
                    since: date) -> str:
        query = {k: ",".join(v) for k, v in (("stack", stack), ("level", levels), ("region", regions)) if v}
        query["since"] = since.isoformat()
        return f"{self.settings.board_url}/search?{urlencode(query)}"

    def text_body(self, head: str, cards: tuple[str, ...], tail: str, links: tuple[str, ...] = ()) -> QuotedPrintable:
        """The text part encoded: a card's encoding (its number included) is reused from earlier digests; what is
        this subscriber's own (the head, the links after each card, the tail) is encoded afresh, in one pass."""
        fresh = encode_pieces([head, *links, tail])
        parts = [fresh[0]]
        for i, card in enumerate(cards, 1):
            parts.append(self._card_text(card))
            if i <= len(links):
                parts.append(fresh[i])
        parts.append(fresh[-1])
        return QuotedPrintable(b"".join(parts))

    def _card_qp(self, card: str) -> bytes:
        """A numbered card's quoted-printable, cut after its numbered line: only that short line differs by
        position, so memory kept per (listing, position) stays small while a run's memos fill up (encoding is
        line by line, so the pieces join to exactly the encoding of the whole)."""
        cut = card.find("\n", len(card) - len(card.lstrip("\n"))) + 1
        return self._line_text(card[:cut]) + self._rest_text(card[cut:])

    def content(self, rcpt: Recipient, match: Match, slot_at: datetime, since: datetime,
                test_copy: bool = False) -> DigestContent:
        """What the digest says; a test copy's links for the subscriber lead to a page that changes nothing."""
        local = slot_at.astimezone(zone(rcpt.timezone)).date()
        monday = local - timedelta(days=local.weekday())
        if test_copy:
            inert = self.test_copy_url
            links = inert("preferences"), inert("unsubscribe")
            feedback = tuple(FeedbackLinks(inert("not-for-me"), inert("hide-company")) if listing.listing_id else None
                             for listing in match.listings)
        else:
            links = self.link("preferences", rcpt), self.link("unsubscribe", rcpt)
            feedback = self.feedback(rcpt, match.listings)
        return DigestContent(
            to_email=rcpt.email, to_name=rcpt.name, jobs=tuple(self.job_view(listing) for listing in match.listings),
            total_matches=match.total, more_url=self.more_url(rcpt, since),
            preferences_url=links[0], unsubscribe_url=links[1],
            board_url=self.settings.board_url, week_label=f"week of {monday:%b} {monday.day}, {monday.year}",
            summary=self.summary(rcpt), whys=self.whys(match.listings, rcpt.prefs),
            below_floor=match.below_floor, feedback=feedback,
        )

    def test_copy_url(self, link: str) -> str:
        """Where a test copy's preferences, unsubscribe and card links go: a page saying it is a test copy.

        Seed lists and deliverability services open, and sometimes post to, every link of what they receive;
        a test copy carrying the subscriber's own links would let them change the real subscriber."""
        return f"{self.settings.base_url}/test-copy/{link}"

    def compose(self, rcpt: Recipient, match: Match, period: str, slot_at: datetime, since: datetime,
                date_: datetime, to: str | None = None, subject_prefix: str = "") -> Composed:
        """Render and assemble one digest; `to` and `subject_prefix` serve test sends."""
        content = self.content(rcpt, match, slot_at, since, test_copy=to is not None)
        rendered = self.renderer.render(content)
        key = digest_key(period, rcpt.id)
        subject = subject_prefix + rendered.subject
        to_addr = to or (display_address(rcpt.name, rcpt.email))
        envelope = Envelope(
            from_addr=self.settings.from_addr, to_addr=to_addr, subject=subject, date=date_,
            message_id=message_id_for(key + ("/test" if to else ""), self.settings.from_domain),
            # A test copy's mail-client unsubscribe button must not unsubscribe the real subscriber: like every
            # link of the copy, its header points at a page that changes nothing.
            list_unsubscribe_url=content.unsubscribe_url,
            list_id=self.list_id,
            extra_headers=(("Feedback-ID", f"{'test' if to else 'weekly'}:{period}:{self.settings.from_domain}"),),
        )
        text = self.text_body(rendered.text_head, rendered.text_cards, rendered.text_tail, rendered.text_links)
        raw = build_message(envelope, text, rendered.html)
        return Composed(key=key, to=rcpt.email if to is None else to, raw=raw, subject=subject)


def _day(when: datetime) -> str:
    return f"{when:%b} {when.day}"


_FILLER = frozenset({"remote", "remotely", "only", "fully", "100", "work", "working", "from", "anywhere", "based",
                     "position", "job", "role", "in", "the", "within", "friendly", "ok", "first"})
_CHUNKS = re.compile(r"[,;/|()\[\]+&–—-]|\b(?:or|and)\b", re.IGNORECASE)


def more_precise(location: str | None, taxonomy: Taxonomy) -> bool:
    """Whether a listing's own location text says more than its region names: a city, a state, a country
    within a region, a timezone ("Remote - US (EST/CST preferred)" is not just "United States · Canada")."""
    if not location:
        return False
    for chunk in _CHUNKS.split(location):
        said = phrase_key(chunk).casefold()
        words = [w for w in said.split() if w not in _FILLER]
        if words and said not in taxonomy.region_names and " ".join(words) not in taxonomy.region_names:
            return True
    return False


def display_address(name: str | None, email: str) -> str:
    return f"{name} <{email}>" if name else email
