"""The suppression list for operators: what is on it, and lifting an entry that should not be (a forged or
mistaken bounce or complaint), audited. (The `digest suppressions` commands are in suppressions_cli.py.)

Entries are SHA-256 hashes of addresses (digest.subscribers.address_hash): the list can say whether an address
is on it, never which addresses are. Lifting an entry also returns its subscriber row, if one exists, to what it
was before the bounce or complaint (active, or pending when they never confirmed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from . import audit, subscribers as subs
from .errors import InputError
from .models import Suppression


@dataclass(frozen=True)
class Lifted:
    reason: str
    suppressed_at: datetime
    subscriber_status: str | None  # the row's status now, or None when no subscriber has the address


def entries(session: Session) -> list[Suppression]:
    """Every entry, newest first."""
    return list(session.scalars(select(Suppression).order_by(Suppression.suppressed_at.desc(),
                                                              Suppression.email_hash)))


def lift(session: Session, email: str, now: datetime, secret: str) -> Lifted:
    """Take an address off the suppression list and restore its subscriber; audited. The caller commits."""
    email = subs.check_email(email)
    entry = subs.suppression_of(session, email)
    if entry is None:
        raise InputError(f"{email} is not on the suppression list")
    if entry.reason == subs.OPTED_OUT:
        raise InputError(f"{email} left the list themselves (then was removed): only their own sign-up brings "
                         "them back")
    sub = subs.find(session, email)
    if sub is not None and sub.status == "suppressed":
        # A complaint also unsubscribed them, at the same instant: undone with it. An earlier opt-out stays.
        if sub.suppression_reason == "complaint" and sub.unsubscribed_at == sub.suppressed_at:
            sub.unsubscribed_at = None
        sub.status = ("unsubscribed" if sub.unsubscribed_at else "active" if sub.confirmed_at else "pending")
        sub.suppressed_at = sub.suppression_reason = None
        sub.bounce_count, sub.updated_at = 0, now
    lifted = Lifted(entry.reason, entry.suppressed_at, sub.status if sub is not None else None)
    session.execute(delete(Suppression).where(Suppression.email_hash == entry.email_hash))
    audit.record(session, now, "suppressions remove", "suppression", audit.person_ref(secret, email),
                 reason=entry.reason, suppressed_at=entry.suppressed_at.isoformat(),
                 subscriber_id=sub.id if sub is not None else None, status=lifted.subscriber_status)
    return lifted
