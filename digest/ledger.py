"""The delivery ledger: named queries that read history and claim, finish or fail a week's row."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Iterable, Sequence

from sqlalchemy import and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from .models import Delivery

MAX_ATTEMPTS = 3
T = Delivery.__table__


@dataclass(frozen=True, slots=True)
class LedgerRow:
    status: str
    lease_until: datetime | None
    attempts: int

    def open_for(self, wall: datetime) -> bool:
        """Whether a run may (re)claim this row: a crashed run's expired claim, or a retryable failure."""
        if self.status == "claimed":
            return self.lease_until is not None and self.lease_until < wall
        return self.status == "failed" and self.attempts < MAX_ATTEMPTS


def rows_for(session: Session, periods: dict[int, str]) -> dict[int, LedgerRow]:
    """The ledger row of each subscriber for the week given for them, where one exists."""
    if not periods:
        return {}
    q = select(Delivery.subscriber_id, Delivery.period, Delivery.status, Delivery.lease_until, Delivery.attempts).where(
        Delivery.subscriber_id.in_(list(periods)), Delivery.period.in_(set(periods.values()))
    )
    return {
        sid: LedgerRow(status, lease, attempts)
        for sid, period, status, lease, attempts in session.execute(q)
        if periods[sid] == period
    }


def previous_cutoffs(session: Session, ids: Sequence[int]) -> dict[int, datetime]:
    """When each subscriber's last sent digest stopped looking at listings."""
    if not ids:
        return {}
    q = (
        select(Delivery.subscriber_id, func.max(Delivery.cutoff))
        .where(Delivery.subscriber_id.in_(ids), Delivery.status == "sent")
        .group_by(Delivery.subscriber_id)
    )
    return {sid: _aware(cut) for sid, cut in session.execute(q)}


def sent_history(session: Session, ids: Sequence[int], since: datetime) -> dict[int, tuple[list[str], list[int]]]:
    """Listings (board ids and repost keys) sent to each subscriber in digests cut off after `since`."""
    out: dict[int, tuple[list[str], list[int]]] = {}
    if not ids:
        return out
    q = select(Delivery.subscriber_id, Delivery.listings).where(
        Delivery.subscriber_id.in_(ids), Delivery.status == "sent", Delivery.cutoff >= since
    )
    for sid, listings in session.execute(q):
        if listings:
            board_ids, keys = out.setdefault(sid, ([], []))
            board_ids.extend(b for b, _k in listings)
            keys.extend(k for _b, k in listings)
    return out


@dataclass(frozen=True, slots=True)
class Claim:
    subscriber_id: int
    period: str
    status: str  # "claimed" (will send) or "empty" (nothing matched: recorded, nothing sent)
    slot_at: datetime
    window_start: datetime
    total: int
    listings: tuple[tuple[str, int], ...] = ()  # (board id, repost key) in the order the digest shows them


def _insert(session: Session):
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(T)


def claim(session: Session, claims: Iterable[Claim], run_id: str, cutoff: datetime, wall: datetime,
          lease_seconds: int) -> dict[int, int]:
    """Claim rows in one statement; return {subscriber id: delivery id} for the rows this run now owns.

    The unique (subscriber, period) constraint decides between overlapping runs: a row another run
    holds is simply not returned. Expired claims and retryable failures are taken over row by row.
    """
    claims = list(claims)
    if not claims:
        return {}
    lease = wall + timedelta(seconds=lease_seconds)
    values = [
        dict(subscriber_id=c.subscriber_id, period=c.period, status=c.status, run_id=run_id, slot_at=c.slot_at,
             window_start=c.window_start, cutoff=cutoff, claimed_at=wall, attempts=1, total_matches=c.total,
             listing_count=len(c.listings), listings=[list(x) for x in c.listings] or None,
             lease_until=lease if c.status == "claimed" else None)
        for c in claims
    ]
    # One statement, many rows (compiled once per process, executed by the driver's executemany): a
    # multi-row VALUES ... RETURNING is compiled anew for every page and costs more than the database work.
    session.execute(_insert(session).on_conflict_do_nothing(index_elements=["subscriber_id", "period"]), values)
    # The unique (subscriber, period) constraint decided: ours are the rows carrying this run's id.
    owned = dict(session.execute(
        select(T.c.subscriber_id, T.c.id).where(
            T.c.run_id == run_id, T.c.subscriber_id.in_([c.subscriber_id for c in claims]),
            T.c.claimed_at == wall,
        )
    ).all())
    for c, v in zip(claims, values):
        if c.subscriber_id in owned:
            continue
        retake = (
            update(T)
            .where(T.c.subscriber_id == c.subscriber_id, T.c.period == c.period,
                   or_(and_(T.c.status == "claimed", T.c.lease_until < wall),
                       and_(T.c.status == "failed", T.c.attempts < MAX_ATTEMPTS)))
            .values(status=c.status, run_id=run_id, slot_at=c.slot_at, window_start=c.window_start, cutoff=cutoff,
                    claimed_at=wall, lease_until=v["lease_until"], attempts=T.c.attempts + 1, total_matches=c.total,
                    listing_count=v["listing_count"], listings=v["listings"], error=None)
            .returning(T.c.id)
        )
        row = session.execute(retake).first()
        if row is not None:
            owned[c.subscriber_id] = row[0]
    return owned


@dataclass(frozen=True, slots=True)
class Outcome:
    delivery_id: int
    subscriber_id: int
    ok: bool
    message_id: str | None = None
    transport_id: str | None = None
    error: str | None = None
    status: str = "failed"  # when not ok: "failed" (retried, 3 attempts), "rejected" (final) or "retry" (given back)


def finish(session: Session, outcomes: Sequence[Outcome], run_id: str, wall: datetime) -> None:
    """Record what happened to each claimed message: sent (its listings were written with the claim) or failed."""
    sent = [o for o in outcomes if o.ok]
    failed = [o for o in outcomes if not o.ok and o.status != "retry"]
    release(session, [o.delivery_id for o in outcomes if not o.ok and o.status == "retry"], run_id)
    if sent:
        session.execute(
            update(T).where(T.c.id == bindparam("did"), T.c.run_id == run_id).values(
                status="sent", sent_at=wall, lease_until=None, message_id=bindparam("mid"),
                transport_id=bindparam("tid"),
            ),
            [dict(did=o.delivery_id, mid=o.message_id, tid=o.transport_id) for o in sent],
        )
    if failed:
        guard = and_(T.c.id == bindparam("did"), T.c.run_id == run_id)
        session.execute(
            update(T).where(guard).values(status=bindparam("st"), lease_until=None, error=bindparam("err")),
            [dict(did=o.delivery_id, st=o.status, err=(o.error or "")[:2000]) for o in failed],
        )


def release(session: Session, delivery_ids: Sequence[int], run_id: str) -> None:
    """Give unsent claims back (delete this run's rows), so the next run finds them due at once."""
    if delivery_ids:
        session.execute(T.delete().where(T.c.id.in_(list(delivery_ids)), T.c.run_id == run_id,
                                         T.c.status == "claimed"))


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
