"""What one digest says, independent of how it is rendered or carried."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple


@dataclass(frozen=True, slots=True)
class JobView:
    """One listing as a card in the email: display strings already chosen, not yet escaped."""

    id: str
    title: str
    company: str
    url: str  # http(s) only; validated at import
    location: str  # short human text, e.g. "Europe · UK" or "Worldwide"
    level: str | None  # "Senior", "Mid-level", ... or None when unknown
    stack: tuple[str, ...]  # display names, e.g. ("Python", "Go")
    salary: str | None  # e.g. "$140k–$180k / year" or None
    posted: str  # e.g. "Nov 18"
    verified: str = ""  # when the board verified it, e.g. "Nov 19"
    role: str | None = None  # e.g. "APIs & microservices", when known
    employer: str | None = None  # e.g. "Startup", when known


class FeedbackLinks(NamedTuple):
    """One card's links for one subscriber ("Not for me", "Hide {company}"): cards are shared, these are not.
    (A named tuple: a digest makes fifteen, and a tuple is the cheapest thing to make.)"""

    not_for_me_url: str
    hide_company_url: str
    plain: bool = False  # both are plain http(s) URLs needing no escape, made so (the composer's signed links)


@dataclass(frozen=True, slots=True)
class DigestContent:
    """Everything the templates need for one subscriber's weekly email."""

    to_email: str
    to_name: str | None
    jobs: tuple[JobView, ...]
    total_matches: int  # all matches this week, >= len(jobs)
    more_url: str  # board search for "see all N matches"
    preferences_url: str
    unsubscribe_url: str
    board_url: str
    week_label: str  # e.g. "week of Nov 23, 2026"
    summary: str = ""  # one line of what was asked for, e.g. "Python, Go · Senior · Europe"
    whys: tuple[str, ...] = ()  # per job (aligned with `jobs`): why it is there, e.g. "Go · Senior · Europe"
    below_floor: int = 0  # further matches that fell under the subscriber's salary floor
    feedback: tuple[FeedbackLinks | None, ...] = ()  # aligned with `jobs`; a card without links has None

    @property
    def more_count(self) -> int:
        return self.total_matches - len(self.jobs)


@dataclass(frozen=True, slots=True)
class Envelope:
    """Headers of one message; values are plain text, the builder encodes and folds them."""

    from_addr: str  # "Display Name <addr@domain>"
    to_addr: str  # "Name <addr>" or "addr"
    subject: str
    date: datetime  # aware
    message_id: str  # "<...@domain>"
    list_unsubscribe_url: str
    list_id: str  # "Backend Jobs Weekly <weekly.jobs.example.com>"
    extra_headers: tuple[tuple[str, str], ...] = field(default=())
