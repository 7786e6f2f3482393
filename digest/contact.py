"""Who the public pages may mail: the do-not-contact list, lifetime caps per address, and an hourly budget.

Addresses are kept only as keyed hashes (HMAC-SHA256 under the signing keys): the lists outlive the subscriber
row (`subscribers remove`, the purge of unconfirmed sign-ups) without keeping anyone's address, and without the
key nobody can test an address against them. Every configured key is tried (rotation); an entry found under an
old key is copied under the current one when it is next used.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from .models import ContactCount, DoNotContact, RateLimitHit
from .settings import Settings

log = logging.getLogger(__name__)

KINDS = ("confirm", "links")  # confirmation mails; /manage's mail of a subscriber's links
# The least time before the 2nd mail of a kind to one address, before the 3rd, and before any later one.
GAPS = (timedelta(minutes=10), timedelta(days=1), timedelta(days=7))
BUDGET_WINDOW = timedelta(hours=1)
BUDGET_SCOPE, BUDGET_KEY = "mail-budget", "all"  # rows in rate_limit_hits: one per mail the pages sent


def ref(key: str, email: str) -> str:
    """The keyed hash an address is kept under."""
    return hmac.new(key.encode(), b"contact\0" + email.strip().lower().encode("utf-8"), hashlib.sha256).hexdigest()


def _refs(settings: Settings, email: str) -> list[str]:
    return [ref(k, email) for k in settings.secret_keys]


# --- do not contact -------------------------------------------------------------------------------------------

def listed(session: Session, settings: Settings, email: str) -> DoNotContact | None:
    """The address's do-not-contact entry (under any configured key), or None; re-keyed to the current key."""
    refs = _refs(settings, email)
    found = session.scalars(select(DoNotContact).where(DoNotContact.email_hash.in_(refs))).all()
    if not found:
        return None
    if all(e.email_hash != refs[0] for e in found):
        session.add(DoNotContact(email_hash=refs[0], source=found[0].source, created_at=found[0].created_at))
    return found[0]


def add(session: Session, settings: Settings, email: str, source: str, now: datetime) -> bool:
    """Put the address on the do-not-contact list; False if it was already there. The caller commits."""
    if listed(session, settings, email) is not None:
        return False
    session.add(DoNotContact(email_hash=_refs(settings, email)[0], source=source, created_at=now))
    session.flush()
    return True


@dataclass(frozen=True)
class Lifted:
    listed: bool  # a do-not-contact entry was removed
    counted: int  # mails counted against the lifetime cap, now forgotten


def lift(session: Session, settings: Settings, email: str) -> Lifted:
    """Let the pages mail this address again: remove its entry and forget its lifetime counts. The caller commits
    (with the audit entry that says who did it)."""
    refs = _refs(settings, email)
    counted = session.scalar(select(func.coalesce(func.max(ContactCount.sent), 0))
                             .where(ContactCount.email_hash.in_(refs))) or 0
    gone = session.execute(delete(DoNotContact).where(DoNotContact.email_hash.in_(refs))).rowcount
    session.execute(delete(ContactCount).where(ContactCount.email_hash.in_(refs)))
    return Lifted(listed=gone > 0, counted=counted)


# --- lifetime caps and the hourly budget ----------------------------------------------------------------------

def count_row(session: Session, settings: Settings, email: str, kind: str) -> ContactCount | None:
    rows = session.scalars(select(ContactCount).where(ContactCount.email_hash.in_(_refs(settings, email)),
                                                      ContactCount.kind == kind)).all()
    return max(rows, key=lambda r: (r.sent, r.last_sent_at), default=None)  # two keys' rows: the larger counts


def sent_count(session: Session, settings: Settings, email: str, kind: str = "confirm") -> int:
    row = count_row(session, settings, email, kind)
    return row.sent if row else 0


def refusal(session: Session, settings: Settings, email: str, kind: str, now: datetime,
            budget: bool = True) -> str | None:
    """Why a mail of `kind` may not go to this address now, or None if it may.

    do-not-contact  the address asked never to be mailed
    capped          it has had its lifetime share (DIGEST_CONFIRM_CAP)
    too-soon        the gap after its last mail has not passed (10 minutes, then a day, then a week)
    over-budget     the pages sent DIGEST_CONFIRM_BUDGET mails in the last hour (logged as an ERROR)
    """
    if listed(session, settings, email) is not None:
        return "do-not-contact"
    row = count_row(session, settings, email, kind)
    if row is not None:
        if row.sent >= settings.confirm_cap:
            return "capped"
        if now - row.last_sent_at < GAPS[min(row.sent, len(GAPS)) - 1]:
            return "too-soon"
    if budget and _budget_used(session, now) >= settings.confirm_budget:
        log.error("mail budget exceeded: the pages sent their hourly budget, this mail is not sent",
                  extra={"budget": settings.confirm_budget, "kind": kind})
        return "over-budget"
    return None


def _budget_used(session: Session, now: datetime) -> int:
    return session.scalar(select(func.count()).select_from(RateLimitHit).where(
        RateLimitHit.scope == BUDGET_SCOPE, RateLimitHit.at > now - BUDGET_WINDOW)) or 0


def record(session: Session, settings: Settings, email: str, kind: str, now: datetime, budget: bool = True) -> int:
    """Count one mail sent to the address (and against the hour's budget); return its lifetime count."""
    row = count_row(session, settings, email, kind)
    current = _refs(settings, email)[0]
    if row is None:
        row = ContactCount(email_hash=current, kind=kind, sent=0, last_sent_at=now)
        session.add(row)
    elif row.email_hash != current:  # found under an old key: move it to the current one
        session.execute(delete(ContactCount).where(ContactCount.email_hash.in_(_refs(settings, email)),
                                                   ContactCount.kind == kind))
        row = ContactCount(email_hash=current, kind=kind, sent=row.sent, last_sent_at=row.last_sent_at)
        session.add(row)
    row.sent, row.last_sent_at = row.sent + 1, now
    if budget:
        session.execute(delete(RateLimitHit).where(RateLimitHit.scope == BUDGET_SCOPE,
                                                   RateLimitHit.at <= now - BUDGET_WINDOW))
        session.add(RateLimitHit(scope=BUDGET_SCOPE, client_hash=BUDGET_KEY, at=now))
    session.flush()
    return row.sent
