"""The reputation guard: a run sends nothing more while the recent bounce or complaint rate is above the guard.

SES reviews an account at 5 % bounces or 0.1 % complaints and pauses it at 10 % / 0.5 %; the guard
(DIGEST_BOUNCE_GUARD 4 %, DIGEST_COMPLAINT_GUARD 0.08 %) stops us first. The rates are over the last 7 days:
the bounces and complaints SES reported about mail this service sent (the feedback_events table, which
digest.feedback fills), over the mails sent in that window (the ledger's digests and sent_notices). As in SES's
own figure, only permanent bounces count; transient ones are kept for statistics.

Tiny denominators: the guard cannot trip until the window holds DIGEST_GUARD_MIN_SENT sends (1000 by default).
Below that one complaint is 0.1 % or more by itself, so a small board would lose a whole week's digests to a
single click on "spam"; at 1000 sends one complaint is SES's own review line, and 41 bounces are needed to pass
4 %. The sends are counted once per runner (a scan of the ledger's window) and the runner adds its own as it goes;
the feedback, a small indexed table, is counted again before every page, so complaints that arrive while a run
is sending stop it.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from .models import Delivery, MailFeedback, SentNotice
from .settings import Settings

WINDOW = timedelta(days=7)
# What an applied notification did (digest.feedback's effects) -> the kind it is kept as.
KINDS = {"bounce": "bounce-permanent", "transient": "bounce-transient", "complaint": "complaint"}
SEE = 'see README "The reputation guard"'


def email_ref(key: str, email: str) -> str:
    """The keyed hash a feedback event keeps instead of the address."""
    return hmac.new(key.encode(), b"feedback\0" + email.strip().lower().encode("utf-8"), hashlib.sha256).hexdigest()


def record(session: Session, now: datetime, effect: str, subscriber_id: int | None, email: str, key: str,
           message_id: str | None) -> bool:
    """Keep one bounce or complaint (once per mail, address and kind: SNS may deliver a notification twice);
    return whether it was new. The caller commits."""
    kind, ref = KINDS[effect], email_ref(key, email)
    seen = select(MailFeedback.id).where(MailFeedback.kind == kind, MailFeedback.email_hash == ref,
                                         MailFeedback.message_id == message_id)
    if message_id is not None and session.scalar(seen.limit(1)) is not None:
        return False
    session.add(MailFeedback(at=now, kind=kind, subscriber_id=subscriber_id, email_hash=ref, message_id=message_id))
    return True


def sent_since(session: Session, since: datetime) -> int:
    """Mails handed to the carrier since `since`: digests in the ledger and notices (confirmations, links)."""
    digests = session.scalar(select(func.count()).select_from(Delivery).where(Delivery.sent_at >= since))
    notices = session.scalar(select(func.count()).select_from(SentNotice).where(SentNotice.sent_at >= since))
    return (digests or 0) + (notices or 0)


def feedback_since(session: Session, since: datetime) -> dict[str, int]:
    """Feedback events since `since`, by kind."""
    rows = session.execute(select(MailFeedback.kind, func.count()).where(MailFeedback.at >= since)
                           .group_by(MailFeedback.kind))
    return {kind: n for kind, n in rows}


def pct(rate: float) -> str:
    """A rate as people write it: 0.061 -> "6.1 %", 0.0008 -> "0.08 %"."""
    return f"{rate * 100:.3g} %"


@dataclass(frozen=True)
class Rates:
    """The last 7 days as the guard sees them."""

    sent: int
    bounces: int  # permanent only
    complaints: int
    bounce_guard: float
    complaint_guard: float
    min_sent: int

    @property
    def bounce_rate(self) -> float:
        return self.bounces / self.sent if self.sent else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.sent if self.sent else 0.0

    @property
    def armed(self) -> bool:
        """Enough sends in the window for a rate to mean something (DIGEST_GUARD_MIN_SENT)."""
        return self.sent >= max(1, self.min_sent)

    def over(self) -> str | None:
        """The operator's line when a rate is above its guard, else None."""
        if not self.armed:
            return None
        parts = [f"{name} rate {pct(rate)} over the last 7 days ({n} of {self.sent:,} sent) is above the guard "
                 f"{pct(guard)}"
                 for name, rate, n, guard in (("bounce", self.bounce_rate, self.bounces, self.bounce_guard),
                                              ("complaint", self.complaint_rate, self.complaints, self.complaint_guard))
                 if rate > guard]
        if not parts:
            return None
        return f"stopped: {' and '.join(parts)}; {SEE}; --ignore-guard to send anyway"

    def as_dict(self) -> dict:
        return {"sent": self.sent, "bounces": self.bounces, "complaints": self.complaints,
                "bounce_rate": round(self.bounce_rate, 6), "complaint_rate": round(self.complaint_rate, 6),
                "armed": self.armed}


def rates(session: Session, settings: Settings, wall: datetime, sent: int | None = None) -> Rates:
    """The rates over the 7 days before `wall` (`sent`: the window's sends when the caller counted them)."""
    since = wall - WINDOW
    found = feedback_since(session, since)
    return Rates(sent=sent_since(session, since) if sent is None else sent, bounces=found.get(KINDS["bounce"], 0),
                 complaints=found.get(KINDS["complaint"], 0), bounce_guard=settings.bounce_guard,
                 complaint_guard=settings.complaint_guard, min_sent=settings.guard_min_sent)


class Guard:
    """One runner's guard: the window's sends counted once, the runner's own added, the feedback read each time."""

    def __init__(self, session: Session, settings: Settings, wall: datetime):
        self.settings = settings
        self.sent_before = sent_since(session, wall - WINDOW)

    def check(self, session: Session, wall: datetime, sent_here: int) -> Rates:
        return rates(session, self.settings, wall, sent=self.sent_before + sent_here)


def note_ignored(session: Session, settings: Settings, now: datetime, wall: datetime, run_id: str) -> Rates:
    """Audit a run told to send whatever the rates say (`digest run --ignore-guard`), with the rates it ignored;
    the caller commits with the run's row."""
    from . import audit

    seen = rates(session, settings, wall)
    audit.record(session, now, "run --ignore-guard", "run", run_id, over=seen.over() is not None, **seen.as_dict())
    return seen
