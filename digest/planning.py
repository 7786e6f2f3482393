"""Plan a subscriber's digest: the step the run, `digest preview` and `digest why` share.

Given the week's listing index and a page of people, read what the ledger and their feedback say (one query
each for the whole page) and decide each person's window, what they were already sent, what they turned down,
and the match. `why` explains a plan by walking the same index predicates (ListingIndex.explain), so what it
says is what the run does, not a second copy of the rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Sequence

from sqlalchemy.orm import Session

from . import ledger, listing_feedback
from .compose import Recipient
from .matching import Exclusions, ListingIndex, Match
from .schedule import Slot, resume_at
from .settings import Settings

FIRST_WINDOW = timedelta(days=7)  # a first digest looks back one week
MAX_WINDOW = timedelta(days=28)  # after a long pause or outage, at most four weeks of listings
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def window_start(previous_cutoff: datetime | None, now: datetime) -> datetime:
    """Listings verified after this instant are new to the subscriber."""
    return max(previous_cutoff or now - FIRST_WINDOW, now - MAX_WINDOW)


def starts(r: Recipient) -> datetime:
    """The first instant a slot of this subscriber counts: after they joined and after any pause."""
    start = r.confirmed_at or _EPOCH
    if r.paused_until is not None:
        start = max(start, resume_at(r.paused_until, r.timezone))
    return start


def slot_counts(r: Recipient, slot: Slot) -> bool:
    """Whether this week's slot is one the subscriber can be sent at (joined before it, not paused over it)."""
    return slot.at >= starts(r)


@dataclass(frozen=True, slots=True)
class Planned:
    """One subscriber's digest as planned: window, what they already had or turned down, and the match."""

    recipient: Recipient
    since: datetime  # the window: listings available after this are new to them
    sent: int  # bitmap of listings already sent to them (with reposts and twins)
    excluded: int  # bitmap of listings they marked "not for me" or whose company they hid
    match: Match
    sent_ids: Sequence[str] = ()  # board ids of their digests (tells "already sent" from "a repost of")
    exclusions: Exclusions | None = None


def plan_digests(session: Session, index: ListingIndex, people: Sequence[Recipient], now: datetime,
                 settings: Settings, before: datetime | None = None) -> list[Planned]:
    """Plan each person's digest at `now` (ledger and feedback read once for the whole page).

    `before` reads the ledger as it stood before a run that cut off at that instant (`why` after the run)."""
    ids = [r.id for r in people]
    cutoffs = ledger.previous_cutoffs(session, ids, before)
    history = ledger.sent_history(session, ids, now - timedelta(weeks=settings.history_weeks), before)
    turned_down = listing_feedback.exclusions(session, ids)
    plans = []
    for r in people:
        since = window_start(cutoffs.get(r.id), now)
        board_ids, keys = history.get(r.id, ((), ()))
        ex = turned_down.get(r.id)
        sent, excluded = index.history(board_ids, keys), index.excluded(ex)
        match = index.match(r.prefs, since, sent | excluded, settings.max_jobs, settings.max_per_company)
        plans.append(Planned(r, since, sent, excluded, match, board_ids, ex))
    return plans
