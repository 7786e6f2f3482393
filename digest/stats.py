"""`digest stats`: per ISO week what went out and what came back, and how far each listing reached.

Everything is counted from what is stored: the ledger (deliveries by week and status, the listings each digest
carried), the bounces and complaints SES reported (feedback_events, kept for the reputation guard: every bounce,
transient ones too, and a removed person's), the subscribers' own columns (unsubscribe time and reason,
confirmation), and the feedback rows ("not for me", hidden companies). What those do not keep is not guessed:
a "not for me" undone, an unsubscribe undone, and the people removed since (their unsubscribes count, from the
suppression list, as "removed"). Digest weeks are the subscriber's own (the ledger's period); the rest are
UTC ISO weeks.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import false, func, or_, select
from sqlalchemy.orm import Session

from .listing_feedback import NO_REASON
from .models import Delivery, HiddenCompany, Listing, MailFeedback, NotForMe, Subscriber, Suppression
from .schedule import period_of
from .subscribers import OPTED_OUT



@dataclass
class Week:
    period: str  # ISO week, "2026-W48"
    sent: int = 0
    skipped_empty: int = 0
    failed: int = 0  # failed for good this week (refused, or three attempts)
    bounces: int = 0  # bounce notifications, permanent and transient
    complaints: int = 0
    unsubscribes: dict[str, int] = field(default_factory=dict)  # by reason
    not_for_me: dict[str, int] = field(default_factory=dict)  # by reason
    hides: int = 0  # companies hidden
    active: int = 0  # subscribers active at the week's end (as far as the rows tell)


@dataclass
class Reach:
    board_id: str
    title: str
    company: str
    digests: int  # sent digests that carried it in these weeks


@dataclass
class Stats:
    weeks: list[Week]
    reach: list[Reach]  # every listing some digest carried, most first
    unreached: list[Reach]  # listings available in these weeks that no digest carried

    def to_json(self) -> dict:
        return asdict(self)


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def stats(session: Session, now: datetime, weeks: int = 8) -> Stats:
    """The last `weeks` ISO weeks up to the one holding `now`, oldest first."""
    first = _monday(now.astimezone(UTC).date()) - timedelta(weeks=weeks - 1)
    start = datetime.combine(first, time(0), tzinfo=UTC)
    table = {period_of(first + timedelta(weeks=n)): Week(period_of(first + timedelta(weeks=n))) for n in range(weeks)}

    def week_of(when: datetime | None) -> Week | None:
        return None if when is None else table.get(period_of(when.astimezone(UTC).date()))

    q = select(Delivery.period, Delivery.status, func.count()).where(Delivery.period.in_(list(table))).group_by(
        Delivery.period, Delivery.status)
    for period, status, n in session.execute(q):
        w = table[period]
        if status == "sent":
            w.sent += n
        elif status == "empty":
            w.skipped_empty += n
        elif status in ("failed", "rejected"):
            w.failed += n
    for when, kind in session.execute(select(MailFeedback.at, MailFeedback.kind).where(MailFeedback.at >= start)):
        if (w := week_of(when)) is None:
            continue
        if kind.startswith("bounce"):
            w.bounces += 1
        elif kind == "complaint":
            w.complaints += 1
    for when, in session.execute(select(Suppression.suppressed_at)
                                 .where(Suppression.suppressed_at >= start, Suppression.reason == OPTED_OUT)):
        if (w := week_of(when)) is not None:  # someone who left and was removed since: their reason went with them
            w.unsubscribes["removed"] = w.unsubscribes.get("removed", 0) + 1
    for when, reason in session.execute(select(Subscriber.unsubscribed_at, Subscriber.unsubscribe_reason)
                                        .where(Subscriber.unsubscribed_at >= start)):
        if (w := week_of(when)) is not None:
            w.unsubscribes[reason or NO_REASON] = w.unsubscribes.get(reason or NO_REASON, 0) + 1
    for when, reason in session.execute(select(NotForMe.created_at, NotForMe.reason)
                                        .where(NotForMe.created_at >= start)):
        if (w := week_of(when)) is not None:
            w.not_for_me[reason or NO_REASON] = w.not_for_me.get(reason or NO_REASON, 0) + 1
    for (when,) in session.execute(select(HiddenCompany.created_at).where(HiddenCompany.created_at >= start)):
        if (w := week_of(when)) is not None:
            w.hides += 1
    for w in table.values():
        w.active = _active_at(session, datetime.combine(_monday_of(w.period) + timedelta(days=7), time(0), tzinfo=UTC))
    reach, unreached = _reach(session, list(table), start, now)
    return Stats(list(table.values()), reach, unreached)


def _monday_of(period: str) -> date:
    year, week = period.split("-W")
    return date.fromisocalendar(int(year), int(week), 1)


def _active_at(session: Session, end: datetime) -> int:
    """Subscribers confirmed before `end` who had not left or been suppressed by then."""
    q = select(func.count()).select_from(Subscriber).where(
        Subscriber.confirmed_at < end, Subscriber.status != "pending",
        or_(Subscriber.unsubscribed_at.is_(None), Subscriber.unsubscribed_at >= end),
        or_(Subscriber.suppressed_at.is_(None), Subscriber.suppressed_at >= end))
    return session.scalar(q) or 0


def _reach(session: Session, periods: list[str], start: datetime, now: datetime) -> tuple[list[Reach], list[Reach]]:
    """How many sent digests of these weeks carried each listing; and the listings available then that none did."""
    carried: Counter[str] = Counter()
    q = select(Delivery.listings).where(Delivery.period.in_(periods), Delivery.status == "sent")
    for (listings,) in session.execute(q.execution_options(yield_per=5000)):
        carried.update(board_id for board_id, _key in listings or ())
    known = {b: (t, c) for b, t, c in session.execute(
        select(Listing.board_id, Listing.title, Listing.company).where(
            or_(Listing.board_id.in_(list(carried)) if carried else false(),
                (Listing.available_at >= start) & (Listing.available_at <= now))))}
    reach = [Reach(b, *known.get(b, ("(removed)", "")), n) for b, n in carried.most_common()]
    unreached = sorted((Reach(b, t, c, 0) for b, (t, c) in known.items() if b not in carried),
                       key=lambda r: r.board_id)
    return reach, unreached
