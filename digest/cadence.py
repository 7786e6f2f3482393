"""How often a subscriber hears from us: every week, or every second ISO week counted from their first digest.

The fortnightly anchor is not stored: it is the ISO week of the subscriber's first *sent* digest, read from the
ledger (the record of what really went out). So existing subscribers need no backfill, a change of slot or
timezone never shifts the rhythm, someone who switches to fortnightly keeps the rhythm of their first digest,
and someone with no digest yet is due at their next slot whatever their cadence: that digest becomes the anchor.
An empty week (nothing matched, nothing sent) anchors nothing, so the first real digest sets the rhythm.

Weeks are counted by the difference of their Mondays in days // 7, never by week numbers: 2026 has 53 ISO
weeks, so 2026-W53 and 2027-W01 are consecutive. Periods are dates in the subscriber's own zone (see
digest.schedule), so a DST change moves an instant by an hour but never moves a week.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Protocol, Sequence, TypeVar

from sqlalchemy.orm import Session

from . import ledger
from .schedule import Slot, resume_at, slots_from

CADENCES = ("weekly", "fortnightly")
DEFAULT = "weekly"
_EVERY = {"weekly": 1, "fortnightly": 2}  # weeks between digests
LABELS = {"weekly": "every week", "fortnightly": "every two weeks"}


class Scheduled(Protocol):
    """What deciding someone's weeks needs (a Recipient row or a Subscriber object)."""

    id: int
    cadence: str


P = TypeVar("P", bound=Scheduled)


def week_monday(period: str) -> date:
    """The Monday that starts an ISO week such as "2026-W53"."""
    year, week = period.split("-W")
    return date.fromisocalendar(int(year), int(week), 1)


def weeks_between(earlier: str, later: str) -> int:
    """Whole weeks from one ISO week to another, by their Mondays (right across 53-week years)."""
    return (week_monday(later) - week_monday(earlier)).days // 7


def on_week(cadence: str, anchor: str | None, period: str) -> bool:
    """Whether `period` is one of the subscriber's weeks, given the week of their first digest (or None)."""
    every = _EVERY.get(cadence, 1)
    return anchor is None or every == 1 or weeks_between(anchor, period) % every == 0


def on_their_weeks(session: Session, people: Sequence[P], periods: dict[int, str]) -> list[P]:
    """Keep the people for whom the week in `periods` is one of theirs: weekly people always; fortnightly
    people on every second week from their first digest (one ledger read, for the fortnightly only)."""
    spaced = [p.id for p in people if _EVERY.get(p.cadence, 1) > 1]
    if not spaced:
        return list(people)
    anchors = ledger.first_sent_periods(session, spaced)
    return [p for p in people if on_week(p.cadence, anchors.get(p.id), periods[p.id])]


def next_digest(session: Session, sub, after: datetime) -> Slot:
    """The subscriber's next slot at or after `after` that is one of their weeks (and after any pause).

    A digest is sent then if something new matches; the confirmed page and the cadence offer show this slot.
    """
    start = after
    if sub.paused_until is not None:
        start = max(start, resume_at(sub.paused_until, sub.timezone))
    anchor = ledger.first_sent_periods(session, [sub.id]).get(sub.id) if sub.id is not None else None
    # Every week, or every second one, is theirs: found within two slots.
    return next(s for s in slots_from(start, sub.timezone, sub.send_day, sub.send_hour)
                if on_week(sub.cadence, anchor, s.period))
