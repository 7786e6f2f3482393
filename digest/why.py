"""`digest why`: is this person due at T, and why each listing is (or is not) in their digest.

Every answer comes from the run's own code: the slot and pause rule (planning.slot_counts), the cadence
(cadence.on_their_weeks), the ledger row's state (LedgerRow.open_for), the plan (planning.plan_digests) and
the index's predicates (ListingIndex.explain, listings_index.left_out). When this week's digest is already
recorded, the plan is the one that run made: the index at its cutoff, and the ledger as it stood before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import ledger, liveness, subscribers
from .cadence import LABELS, on_their_weeks
from .errors import NotFoundError
from .listings_index import left_out, load_index
from .matching import Verdict
from .models import Delivery, Listing, Subscriber
from .planning import MAX_WINDOW, plan_digests, slot_counts, starts
from .run import recipients
from .schedule import Slot, latest_slot, resume_at, slot_label
from .settings import Settings
from .taxonomy import Taxonomy


@dataclass(frozen=True)
class Recorded:
    """This week's ledger row, when there is one."""

    status: str  # claimed / sent / empty / failed / rejected
    run_id: str
    cutoff: datetime  # the run's `now`: what it planned with
    window_start: datetime
    listings: list[str]  # board ids, in the order sent
    attempts: int
    error: str | None


@dataclass(frozen=True)
class Why:
    email: str
    status: str
    slot: Slot
    due: bool
    not_due: list[str]  # every reason the run would skip them now, the deciding one first
    as_of: datetime  # the instant the plan below is for: `now`, or the cutoff of this week's recorded run
    since: datetime  # their window: listings available after this, up to `as_of`, are new to them
    recorded: Recorded | None
    verdicts: list[Verdict] = field(default_factory=list)  # the digest by rank, then the rest by rule
    total: int = 0  # jobs that fit (the digest shows at most DIGEST_MAX_JOBS of them)
    listing: Listing | None = None  # the one asked about (--listing)
    listing_rule: str | None = None  # why it is outside the index at `as_of` (not verified, expired, ...)

    @property
    def sent(self) -> list[str]:
        return [v.listing.board_id for v in self.verdicts if v.rank is not None]


def why(session: Session, settings: Settings, taxonomy: Taxonomy, email: str, now: datetime,
        board_id: str | None = None) -> Why:
    """Explain the person's digest at `now` (and one listing of it, when `board_id` is given)."""
    sub = subscribers.get(session, email)
    listing = None
    if board_id is not None:
        listing = session.scalar(select(Listing).where(Listing.board_id == board_id))
        if listing is None:
            raise NotFoundError(f"no listing with id {board_id}")
    rcpt = recipients(session, sub.id - 1, sub.id, 1, active_only=False)[0]
    slot = latest_slot(now, rcpt.timezone, rcpt.send_day, rcpt.send_hour)
    recorded = _recorded(session, rcpt.id, slot.period)
    not_due = _not_due(session, sub, rcpt, slot, now)
    # A run already planned this week: explain its plan (its index and the ledger before it), not a new one.
    as_of = recorded.cutoff if recorded is not None and recorded.status != "failed" else now
    index = load_index(session, as_of, taxonomy, MAX_WINDOW)
    before = as_of if recorded is not None and recorded.status != "failed" else None
    planned = plan_digests(session, index, [rcpt], as_of, settings, before)[0]
    verdicts = index.explain(rcpt.prefs, planned.since, planned.sent, planned.exclusions, settings.max_jobs,
                             settings.max_per_company, planned.sent_ids)
    ordered = sorted(verdicts.values(), key=lambda v: (v.rank is None, v.rank or 0, v.rule or "",
                                                       -v.listing.available_at.timestamp()))
    rule = None
    if listing is not None:
        rule = left_out(session, listing.id, as_of, MAX_WINDOW)
        ordered = [v for v in ordered if v.listing.board_id == listing.board_id]
    return Why(email=sub.email, status=subscribers.display_status(sub, now.date()), slot=slot, due=not not_due,
               not_due=not_due, as_of=as_of, since=planned.since, recorded=recorded, verdicts=ordered,
               total=planned.match.total, listing=listing, listing_rule=rule)


def _not_due(session: Session, sub: Subscriber, rcpt, slot: Slot, now: datetime) -> list[str]:
    """Why the run at `now` would not send to them, in the order the run looks (empty: due)."""
    reasons = []
    if sub.status != "active":
        what = f"status {sub.status}"
        if sub.status == "suppressed":
            what += f" ({sub.suppression_reason or 'bounce or complaint'} since {sub.suppressed_at:%Y-%m-%d})"
        elif sub.status == "unsubscribed" and sub.unsubscribed_at:
            what += f" since {sub.unsubscribed_at:%Y-%m-%d}" + (f" ({sub.unsubscribe_reason})"
                                                               if sub.unsubscribe_reason else "")
        reasons.append(what)
    if subscribers.suppression_of(session, sub.email) is not None and sub.status != "suppressed":
        reasons.append("address on the suppression list")
    if not slot_counts(rcpt, slot):
        if rcpt.paused_until is not None and resume_at(rcpt.paused_until, rcpt.timezone) > slot.at:
            reasons.append(f"paused until {rcpt.paused_until} (this week's slot {slot_label(slot.at, rcpt.timezone)})")
        else:
            reasons.append(f"this week's slot ({slot_label(slot.at, rcpt.timezone)}) is before they joined "
                           f"({starts(rcpt):%Y-%m-%d %H:%M} UTC): their first digest comes at the next slot")
    if not on_their_weeks(session, [rcpt], {rcpt.id: slot.period}):
        anchor = ledger.first_sent_periods(session, [rcpt.id]).get(rcpt.id)
        reasons.append(f"cadence {rcpt.cadence} ({LABELS.get(rcpt.cadence, '')}): {slot.period} is not one of their "
                       f"weeks (counted from {anchor})")
    row = ledger.rows_for(session, {rcpt.id: slot.period}).get(rcpt.id)
    if row is not None:
        live = liveness.for_engine(session.get_bind()).alive({row.run_id}) if row.status == "claimed" else set()
        if not row.open_for(now, live):
            reasons.append(_row_reason(row, slot.period))
    return reasons


def _row_reason(row: ledger.LedgerRow, period: str) -> str:
    return {
        "sent": f"already sent this week ({period}, run {row.run_id[:8]})",
        "empty": f"already done this week ({period}, run {row.run_id[:8]}): nothing matched then",
        "claimed": f"being sent now by run {row.run_id[:8]}",
        "rejected": f"this week's digest was refused by the carrier (run {row.run_id[:8]}): not retried",
    }.get(row.status, f"this week's digest failed {row.attempts} times (run {row.run_id[:8]}): not retried")


def _recorded(session: Session, subscriber_id: int, period: str) -> Recorded | None:
    d = session.scalar(select(Delivery).where(Delivery.subscriber_id == subscriber_id, Delivery.period == period))
    if d is None:
        return None
    return Recorded(status=d.status, run_id=d.run_id, cutoff=d.cutoff, window_start=d.window_start,
                    listings=[b for b, _k in d.listings or []], attempts=d.attempts, error=d.error)
