"""The delivery ledger: named queries that read history and claim, finish or fail a week's row."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Collection, Container, Iterable, NamedTuple, Protocol, Sequence

from sqlalchemy import and_, bindparam, func, or_, select, tuple_, update
from sqlalchemy.orm import Session

from .models import Delivery

MAX_ATTEMPTS = 3
deliveries = Delivery.__table__


@dataclass(frozen=True, slots=True)
class LedgerRow:
    status: str
    lease_until: datetime | None
    attempts: int
    run_id: str = ""

    def held_until(self, wall: datetime) -> bool:
        """Whether this is a claim whose lease has not run out: its run may still be sending it."""
        return self.status == "claimed" and self.lease_until is not None and self.lease_until >= wall

    def open_for(self, wall: datetime, live_runs: Container[str]) -> bool:
        """Whether a run may (re)claim this row: a claim whose lease ran out or whose run is dead (no process
        holds it, see digest.liveness), or a retryable failure."""
        if self.status == "claimed":
            return not self.held_until(wall) or self.run_id not in live_runs
        return self.status == "failed" and self.attempts < MAX_ATTEMPTS


def rows_for(session: Session, periods: dict[int, str]) -> dict[int, LedgerRow]:
    """The ledger row of each subscriber for the week given for them, where one exists."""
    if not periods:
        return {}
    q = select(Delivery.subscriber_id, Delivery.period, Delivery.status, Delivery.lease_until, Delivery.attempts,
               Delivery.run_id).where(Delivery.subscriber_id.in_(list(periods)),
                                      Delivery.period.in_(set(periods.values())))
    return {
        sid: LedgerRow(status, lease, attempts, run_id)
        for sid, period, status, lease, attempts, run_id in session.execute(q)
        if periods[sid] == period
    }


def previous_cutoffs(session: Session, ids: Sequence[int], before: datetime | None = None) -> dict[int, datetime]:
    """When each subscriber's last sent digest (cut off before `before`, if given) stopped looking at listings."""
    return {sid: _aware(cut) for sid, cut in _of_sent(session, ids, func.max(Delivery.cutoff), before).items()}


def sent_history(session: Session, ids: Sequence[int], since: datetime,
                 before: datetime | None = None) -> dict[int, tuple[list[str], list[int]]]:
    """Listings (board ids and repost keys) sent to each subscriber in digests cut off after `since` (and before
    `before`, if given: the ledger as a run that cut off then found it)."""
    out: dict[int, tuple[list[str], list[int]]] = {}
    if not ids:
        return out
    q = select(Delivery.subscriber_id, Delivery.listings).where(
        Delivery.subscriber_id.in_(ids), Delivery.status == "sent", Delivery.cutoff >= since
    )
    if before is not None:
        q = q.where(Delivery.cutoff < before)
    for sid, listings in session.execute(q):
        if listings:
            board_ids, keys = out.setdefault(sid, ([], []))
            board_ids.extend(b for b, _k in listings)
            keys.extend(k for _b, k in listings)
    return out


def first_sent_periods(session: Session, ids: Sequence[int]) -> dict[int, str]:
    """The week (ISO period) of each subscriber's first sent digest, for those who have one.

    ISO periods ("2026-W53" < "2027-W01") sort as text in time order, so the smallest is the first.
    """
    return _of_sent(session, ids, func.min(Delivery.period))


def _of_sent(session: Session, ids: Sequence[int], aggregate, before: datetime | None = None) -> dict:
    """One aggregate over each subscriber's sent digests (cut off before `before`), for those who have any."""
    if not ids:
        return {}
    q = select(Delivery.subscriber_id, aggregate).where(Delivery.subscriber_id.in_(ids), Delivery.status == "sent")
    if before is not None:
        q = q.where(Delivery.cutoff < before)
    q = q.group_by(Delivery.subscriber_id)
    return dict(session.execute(q).all())


class ListingRef(Protocol):
    """What the ledger keeps of a listing a digest carries (digest.matching.IndexedListing is one, with its
    JSON `ledger_ref` made once per run)."""

    board_id: str
    repost_key: int


@dataclass(frozen=True, slots=True)
class Claim:
    subscriber_id: int
    period: str
    status: str  # "claimed" (will send) or "empty" (nothing matched: recorded, nothing sent)
    slot_at: datetime
    window_start: datetime
    total: int
    listings: Sequence[ListingRef] = ()  # in the order the digest shows them


class _Driver:
    """The driver's own cursor for the run's two per-digest statements (claim, mark sent).

    Each runs once per page with the driver's executemany. Through SQLAlchemy, binding each row's 13 values
    (type decorators, JSON) cost more than the database's work; here constant values are bound once per page,
    datetimes go through the bind processor of the column's own SQLAlchemy type and JSON is what json.dumps
    writes (PostgreSQL reads it through a ::json cast), so what is stored is what the ORM would store.
    """

    def __init__(self, session: Session):
        conn = session.connection()
        dialect = conn.dialect
        self.mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self.json_mark = self.mark + ("::json" if dialect.name == "postgresql" else "")
        self._when = deliveries.c.slot_at.type.dialect_impl(dialect).bind_processor(dialect) or (lambda v: v)
        self.cursor = conn.connection.driver_connection.cursor()

    def when(self, value: datetime | None):
        """A datetime as the column stores it (memoised: a run has few distinct slots and windows)."""
        if value is None:
            return None
        out = _STORED.get(value)
        if out is None:
            if len(_STORED) > 4_096:
                _STORED.clear()
            out = _STORED[value] = self._when(value)
        return out

    def __enter__(self) -> "_Driver":
        return self

    def __exit__(self, *_exc) -> None:
        self.cursor.close()

    def executemany(self, sql: str, rows: list[tuple]) -> None:
        self.cursor.executemany(sql, rows)

    def fetchall(self, sql: str, params: tuple) -> list[tuple]:
        self.cursor.execute(sql, params)
        return self.cursor.fetchall()


# Process-wide memo (bounded: a run has few common datetimes - slots, cutoffs - and one window start per
# subscriber, which a larger bound would only hoard): the stored form of a datetime (SQLite stores text).
_STORED: dict[datetime, object] = {}


def _listings_json(listings: Sequence[ListingRef]) -> str:
    """json.dumps of [[board id, repost key], ...]: joined from each listing's own `ledger_ref` where it has one."""
    try:
        return f"[{', '.join([listing.ledger_ref for listing in listings])}]"
    except AttributeError:
        return json.dumps([[listing.board_id, listing.repost_key] for listing in listings])


_CLAIM_COLUMNS = ("subscriber_id", "period", "status", "run_id", "slot_at", "window_start", "cutoff", "claimed_at",
                  "attempts", "total_matches", "listing_count", "listings", "lease_until")


class Ticket(NamedTuple):
    """A claim as this run holds it. `attempts` goes up each time a row is taken over, so a run that shares its
    id with another process (a shard delivered twice on Lambda) still tells its claim from one taken from it."""

    delivery_id: int
    attempts: int


def claim(session: Session, claims: Iterable[Claim], run_id: str, cutoff: datetime, wall: datetime,
          lease_seconds: int, dead_runs: Collection[str] = ()) -> dict[int, Ticket]:
    """Claim rows in one statement; return {subscriber id: ticket} for the rows this run now owns.

    The unique (subscriber, period) constraint decides between overlapping runs: a row another run
    holds is simply not returned. Expired claims, claims of `dead_runs` (runs found dead just before: never a
    run nobody asked about) and retryable failures are taken over row by row.
    """
    claims = list(claims)
    if not claims:
        return {}
    dead = list(dead_runs)
    lease = wall + timedelta(seconds=lease_seconds)
    with _Driver(session) as db:
        at, cut, until = db.when(wall), db.when(cutoff), db.when(lease)
        rows = [
            (c.subscriber_id, c.period, c.status, run_id, db.when(c.slot_at), db.when(c.window_start), cut, at, 1,
             c.total, len(c.listings), _listings_json(c.listings) if c.listings else None,
             until if c.status == "claimed" else None)
            for c in claims
        ]
        marks = ", ".join(db.json_mark if col == "listings" else db.mark for col in _CLAIM_COLUMNS)
        db.executemany(f"INSERT INTO {deliveries.name} ({', '.join(_CLAIM_COLUMNS)}) VALUES ({marks})"
                       " ON CONFLICT (subscriber_id, period) DO NOTHING", rows)
        # The unique (subscriber, period) constraint decided: ours are the rows carrying this run's id (and this
        # page's claim time: a frozen clock may give two pages the same one, so the page's ids are named too).
        ids = [c.subscriber_id for c in claims]
        owned = {sid: Ticket(did, 1) for sid, did in db.fetchall(
            f"SELECT subscriber_id, id FROM {deliveries.name} WHERE run_id = {db.mark} AND claimed_at = {db.mark}"
            f" AND subscriber_id IN ({', '.join([db.mark] * len(ids))})", (run_id, at, *ids))}
    for c in claims:
        if c.subscriber_id in owned:
            continue
        retake = (
            update(deliveries)
            .where(deliveries.c.subscriber_id == c.subscriber_id, deliveries.c.period == c.period,
                   or_(and_(deliveries.c.status == "claimed",
                            or_(deliveries.c.lease_until < wall, deliveries.c.run_id.in_(dead))),
                       and_(deliveries.c.status == "failed", deliveries.c.attempts < MAX_ATTEMPTS)))
            .values(status=c.status, run_id=run_id, slot_at=c.slot_at, window_start=c.window_start, cutoff=cutoff,
                    claimed_at=wall, lease_until=lease if c.status == "claimed" else None,
                    attempts=deliveries.c.attempts + 1,
                    total_matches=c.total, listing_count=len(c.listings),
                    listings=[[listing.board_id, listing.repost_key] for listing in c.listings] or None, error=None)
            .returning(deliveries.c.id, deliveries.c.attempts)
        )
        row = session.execute(retake).first()
        if row is not None:
            owned[c.subscriber_id] = Ticket(*row)
    return owned


def holds(session: Session, ticket: Ticket, run_id: str, until: datetime) -> bool:
    """Whether this run still holds the claim, with its lease good at least until `until` (a read: no lock)."""
    q = select(deliveries.c.id).where(deliveries.c.id == ticket.delivery_id, deliveries.c.attempts == ticket.attempts,
                                      deliveries.c.run_id == run_id, deliveries.c.status == "claimed",
                                      deliveries.c.lease_until >= until)
    return session.execute(q).first() is not None


def renew(session: Session, tickets: Iterable[Ticket], run_id: str, until: datetime, wait: bool = True) -> set[int]:
    """Extend the lease of the claims this run still holds; return their delivery ids.

    Before a send this is the fence: a claim taken over (another run id, or another attempt) or no longer
    `claimed` is not returned, and must not go out. The heartbeat passes wait=False: on PostgreSQL it skips
    rows the run's own sending transaction has locked (they are being renewed or finished there), so the two
    never wait on each other.
    """
    pairs = [tuple(t) for t in tickets]
    if not pairs:
        return set()
    # `id IN` as well: SQLite reads a row-value IN list by scanning the whole table, the primary key it can seek.
    mine = and_(deliveries.c.id.in_([p[0] for p in pairs]), tuple_(deliveries.c.id, deliveries.c.attempts).in_(pairs),
                deliveries.c.run_id == run_id, deliveries.c.status == "claimed")
    if not wait and session.get_bind().dialect.name == "postgresql":
        mine = deliveries.c.id.in_(select(deliveries.c.id).where(mine).with_for_update(skip_locked=True))
    return set(session.scalars(update(deliveries).where(mine).values(lease_until=until).returning(deliveries.c.id)))


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
        with _Driver(session) as db:
            m, at = db.mark, db.when(wall)
            db.executemany(
                f"UPDATE {deliveries.name} SET status = 'sent', sent_at = {m}, lease_until = NULL, message_id = {m},"
                f" transport_id = {m} WHERE id = {m} AND run_id = {m}",
                [(at, o.message_id, o.transport_id, o.delivery_id, run_id) for o in sent],
            )
    if failed:
        guard = and_(deliveries.c.id == bindparam("did"), deliveries.c.run_id == run_id)
        session.execute(
            update(deliveries).where(guard).values(status=bindparam("st"), lease_until=None, error=bindparam("err")),
            [dict(did=o.delivery_id, st=o.status, err=(o.error or "")[:2000]) for o in failed],
        )


def release(session: Session, delivery_ids: Sequence[int], run_id: str) -> None:
    """Give unsent claims back (delete this run's rows), so the next run finds them due at once."""
    if delivery_ids:
        session.execute(deliveries.delete().where(deliveries.c.id.in_(list(delivery_ids)),
                                                  deliveries.c.run_id == run_id, deliveries.c.status == "claimed"))


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value
