"""Per-job feedback from a digest's cards: "not for me" (with an optional reason) and hidden companies.

Each card carries two links (tokens bound to the subscriber, the listing and the purpose). Their pages only
read; a POST records the choice here, and the weekly run reads every choice of a page of subscribers in one
query (`exclusions`) and leaves those listings out through the matching index. Operators see the counts per
listing (`counts_by_listing`), so a job normalised wrongly ("everyone says wrong level") shows up.
Functions take the session and `now` and commit nothing: the caller owns the transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from sqlalchemy import BigInteger, delete, func, literal, select, union_all
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .errors import InputError
from .matching import Exclusions
from .models import HiddenCompany, Listing, NotForMe, Subscriber
from .normalise import company_key
from .settings import Settings
from .tokens import ListingClaims, TokenError, verify_listing

# The reasons a "not for me" page offers, in its order, with the words it shows.
REASONS = {
    "wrong_stack": "Wrong stack",
    "wrong_level": "Wrong level",
    "wrong_location": "Wrong location",
    "not_interested": "Not interested",
}
NO_REASON = "unspecified"  # how counts name a "not for me" given without a reason


class GoneListing(TokenError):
    """A genuine feedback link whose listing the board has since removed: nothing left to act on."""


@dataclass(frozen=True)
class Target:
    """What a feedback link is about: whose choice, which listing, and which choice."""

    subscriber: Subscriber
    listing: Listing
    purpose: str  # "not_for_me" or "hide_company"

    @property
    def company_key(self) -> str:
        return company_key(self.listing.company)


def target_for(session: Session, settings: Settings, token: str) -> Target:
    """Return what a feedback token names, or raise TokenError (bad, forged, revoked, subscriber gone) or
    GoneListing (a genuine link to a listing that no longer exists)."""
    claims: ListingClaims = verify_listing(settings.secret_keys, token)
    sub = session.get(Subscriber, claims.subscriber_id)
    if sub is None or claims.version != sub.token_version:
        raise TokenError("revoked token or no such subscriber")
    listing = session.get(Listing, claims.listing_id)
    if listing is None:
        raise GoneListing("listing removed")
    return Target(sub, listing, claims.purpose)


def check_reason(value: str | None) -> str | None:
    """A reason from the form: one of REASONS, or None when none was chosen."""
    if not value:
        return None
    if value not in REASONS:
        raise InputError(f"reason: choose one of {', '.join(REASONS)}, or none")
    return value


# --- what a POST records, and its undo -------------------------------------------------------------------------

def not_for_me(session: Session, t: Target, reason: str | None, now: datetime) -> None:
    """Record that this job (and its reposts) is not for the subscriber; marking it again keeps the last reason."""
    row = _not_for_me_row(session, t)
    if row is not None:
        row.reason = reason
        return
    _insert(session, NotForMe(subscriber_id=t.subscriber.id, board_id=t.listing.board_id,
                              repost_key=t.listing.repost_key, reason=reason, created_at=now))


def undo_not_for_me(session: Session, t: Target) -> None:
    """Forget the choice: the job may come back (it is still not sent twice: that is the ledger's history)."""
    session.execute(delete(NotForMe).where(NotForMe.subscriber_id == t.subscriber.id,
                                           NotForMe.board_id == t.listing.board_id))


def marked(session: Session, t: Target) -> bool:
    """Whether the link's choice is already in force (the page then shows it done, with undo)."""
    if t.purpose == "not_for_me":
        return _not_for_me_row(session, t) is not None
    return session.scalar(select(HiddenCompany.id).where(HiddenCompany.subscriber_id == t.subscriber.id,
                                                         HiddenCompany.company_key == t.company_key)) is not None


def _not_for_me_row(session: Session, t: Target) -> NotForMe | None:
    return session.scalar(select(NotForMe).where(NotForMe.subscriber_id == t.subscriber.id,
                                                 NotForMe.board_id == t.listing.board_id))


def hide_company(session: Session, t: Target, now: datetime) -> None:
    """Leave the listing's company out of every later digest of this subscriber (hiding twice is harmless)."""
    if not marked(session, t):
        _insert(session, HiddenCompany(subscriber_id=t.subscriber.id, company_key=t.company_key,
                                       company=t.listing.company[:300], created_at=now))


def unhide_company(session: Session, subscriber_id: int, key: str) -> str | None:
    """Show the company again; return its name, or None when it was not hidden (a second click)."""
    row = session.scalar(select(HiddenCompany).where(HiddenCompany.subscriber_id == subscriber_id,
                                                     HiddenCompany.company_key == key))
    if row is None:
        return None
    session.delete(row)
    return row.company


def _insert(session: Session, row) -> None:
    """Add a row; a double click that raced this one and won left the same choice, so that is success too.

    The row is the request's only change, so losing the race rolls back nothing else."""
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()


# --- reading them --------------------------------------------------------------------------------------------

def hidden_companies(session: Session, subscriber_id: int) -> list[HiddenCompany]:
    """A subscriber's hidden companies, by name (for the preferences page and `subscribers show`)."""
    return list(session.scalars(select(HiddenCompany).where(HiddenCompany.subscriber_id == subscriber_id)
                                .order_by(HiddenCompany.company_key)))


def exclusions(session: Session, ids: Sequence[int]) -> dict[int, Exclusions]:
    """Every "not for me" and hidden company of these subscribers, in one query (the run reads a page at a time);
    subscribers with neither are absent."""
    if not ids:
        return {}
    jobs = select(NotForMe.subscriber_id, literal("job"), NotForMe.board_id, NotForMe.repost_key).where(
        NotForMe.subscriber_id.in_(ids))
    companies = select(HiddenCompany.subscriber_id, literal("company"), HiddenCompany.company_key,
                       literal(0, BigInteger)).where(HiddenCompany.subscriber_id.in_(ids))
    found: dict[int, tuple[list[str], list[int], list[str]]] = {}
    for sid, kind, value, key in session.execute(union_all(jobs, companies)):
        board_ids, keys, hidden = found.setdefault(sid, ([], [], []))
        if kind == "job":
            board_ids.append(value)
            keys.append(key)
        else:
            hidden.append(value)
    return {sid: Exclusions(tuple(b), tuple(k), tuple(c)) for sid, (b, k, c) in found.items()}


def counts_by_listing(session: Session) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """For operators: "not for me" per board id by reason, and how many subscribers hid each company key."""
    reasons: dict[str, dict[str, int]] = {}
    q = select(NotForMe.board_id, NotForMe.reason, func.count()).group_by(NotForMe.board_id, NotForMe.reason)
    for board_id, reason, n in session.execute(q):
        reasons.setdefault(board_id, {})[reason or NO_REASON] = n
    hidden = dict(session.execute(select(HiddenCompany.company_key, func.count())
                                  .group_by(HiddenCompany.company_key)).all())
    return reasons, hidden


def export(session: Session, subscriber_id: int) -> dict[str, list[dict]]:
    """A person's feedback rows, for `subscribers export` (every column but the row id and the person's id)."""
    iso = lambda d: d.isoformat().replace("+00:00", "Z")  # noqa: E731
    jobs = session.scalars(select(NotForMe).where(NotForMe.subscriber_id == subscriber_id).order_by(NotForMe.id))
    return {
        "not_for_me": [{"board_id": r.board_id, "repost_key": r.repost_key, "reason": r.reason,
                        "created_at": iso(r.created_at)} for r in jobs],
        "hidden_companies": [{"company": r.company, "company_key": r.company_key, "created_at": iso(r.created_at)}
                             for r in hidden_companies(session, subscriber_id)],
    }


def forget(session: Session, subscriber_id: int) -> None:
    """Erase a person's feedback (removal; the foreign keys cascade too, where the database enforces them)."""
    session.execute(delete(NotForMe).where(NotForMe.subscriber_id == subscriber_id))
    session.execute(delete(HiddenCompany).where(HiddenCompany.subscriber_id == subscriber_id))
