"""Mail the public pages cause (sign-up, renewal of an expired link, /manage), sent after the answer.

A page only stores a request (`enqueue`) and answers: the same database work and the same answer whatever the
address is, so neither the page nor its timing tells who is subscribed. A worker then `handle`s the request: it
decides (digest.lifecycle, digest.contact), sends at most one mail, and deletes the request. Locally the worker is
a thread of `digest serve` (subscribers.mailer); on AWS an SQS-triggered function (digest.lambdas.page_mail).
Requests live in the database, so one the worker has not reached survives a restart or a crash.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import contact, lifecycle
from . import subscribers as subs
from .models import MailRequest, Signup, Subscriber
from .notices import send_confirmation, send_links
from .settings import Settings
from .taxonomy import Taxonomy
from .carriers.base import Transport, TransportError

log = logging.getLogger(__name__)

KINDS = ("signup", "renew", "manage")
STRANDED = timedelta(minutes=5)  # a request still waiting this long lost its wake-up (AWS): the hourly plan sends it


def enqueue(session: Session, kind: str, now: datetime, email: str | None = None, data: subs.SubscriberIn | None = None,
            subscriber_id: int | None = None, signup_id: int | None = None) -> MailRequest:
    """Store a page's request for mail (the caller commits it with the answer, then wakes a worker)."""
    if kind not in KINDS:
        raise ValueError(f"unknown mail request {kind!r}")
    request = MailRequest(kind=kind, email=email, subscriber_id=subscriber_id, signup_id=signup_id, created_at=now,
                          payload=None if data is None else data.model_dump(mode="json", exclude={"confirmed"}))
    session.add(request)
    session.flush()
    return request


def waiting(session: Session, older_than: datetime | None = None) -> list[int]:
    """Ids of the requests no worker has handled yet, oldest first (optionally only those stored before a time)."""
    query = select(MailRequest.id).order_by(MailRequest.id)
    if older_than is not None:
        query = query.where(MailRequest.created_at < older_than)
    return list(session.scalars(query))


@dataclass(frozen=True)
class Outcome:
    kind: str  # the request's kind, or "gone" when another worker handled it
    result: str  # sent / nothing (no mail due) / do-not-contact / capped / too-soon / over-budget / failed


def handle(session: Session, settings: Settings, taxonomy: Taxonomy, transport: Transport, request_id: int,
           clock: Callable[[], datetime]) -> Outcome:
    """Handle one stored request and delete it, committing; a carrier failure is logged and the request dropped
    (the person can ask again; nothing tells them apart from others meanwhile)."""
    for attempt in (1, 2):
        try:
            return _handle_once(session, settings, taxonomy, transport, request_id, clock())
        except IntegrityError:
            # Two workers created the same new address at once (two processes): start over, it exists now.
            session.rollback()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _handle_once(session: Session, settings: Settings, taxonomy: Taxonomy, transport: Transport, request_id: int,
                 now: datetime) -> Outcome:
    row = session.execute(select(MailRequest.kind, MailRequest.email, MailRequest.payload, MailRequest.subscriber_id,
                                 MailRequest.signup_id).where(MailRequest.id == request_id)).one_or_none()
    # Claim it: a second worker's delete waits for this transaction, then finds nothing and leaves.
    if row is None or session.execute(delete(MailRequest).where(MailRequest.id == request_id)).rowcount == 0:
        session.rollback()
        return Outcome("gone", "nothing")
    kind, email, payload, subscriber_id, signup_id = row
    try:
        if kind == "signup":
            result = _signup(session, settings, taxonomy, transport, subs.SubscriberIn.model_validate(payload), now)
        elif kind == "renew":
            result = _renew(session, settings, taxonomy, transport, subscriber_id, signup_id, now)
        else:
            sub = subs.find(session, email)
            result = "nothing" if sub is None else (send_links(session, settings, transport, sub, now) or "sent")
    except TransportError as e:
        log.warning("page mail not sent", extra={"request": kind, "reason": e.kind})
        result = "failed"
    if result not in ("sent", "nothing"):
        # Refused or failed: keep nothing of it (no row for a new address, no sign-up no mail carries).
        session.rollback()
        session.execute(delete(MailRequest).where(MailRequest.id == request_id))
    session.commit()
    return Outcome(kind, result)


def _signup(session: Session, settings: Settings, taxonomy: Taxonomy, transport: Transport, data: subs.SubscriberIn,
            now: datetime) -> str:
    # Asked first, before anything is stored: an address that may not be mailed gets no row either. (The budget is
    # asked when a mail would go: a sign-up of someone already active is no mail.)
    if refused := contact.refusal(session, settings, data.email, "confirm", now, budget=False):
        return refused
    sub = lifecycle.sign_up(session, data, taxonomy, settings, now)
    if sub is None:
        return "nothing"
    signup = lifecycle.offer(session, sub, data, now)
    return send_confirmation(session, settings, taxonomy, transport, sub, now, signup) or "sent"


def _renew(session: Session, settings: Settings, taxonomy: Taxonomy, transport: Transport, subscriber_id: int | None,
           signup_id: int | None, now: datetime) -> str:
    """A fresh link for an expired one: the same sign-up's preferences, if it still stands."""
    sub = session.get(Subscriber, subscriber_id) if subscriber_id is not None else None
    if sub is None:
        return "nothing"
    signup = session.get(Signup, signup_id) if signup_id is not None else None
    if signup_id is not None and (signup is None or signup.subscriber_id != sub.id or signup.confirmed_at):
        return "nothing"  # withdrawn (they refused contact or left), purged, or already confirmed
    if signup is None and sub.status != "pending":
        return "nothing"
    return send_confirmation(session, settings, taxonomy, transport, sub, now, signup) or "sent"


def export(session: Session, settings: Settings, sub: Subscriber) -> dict:
    """What the pages' mail keeps about one person, for `subscribers export`: their sign-ups (preferences asked
    for), requests not yet handled, their do-not-contact entry and the mails counted against their caps."""
    iso = lambda d: d.isoformat().replace("+00:00", "Z") if d else None  # noqa: E731
    signups = session.scalars(select(Signup).where(Signup.subscriber_id == sub.id).order_by(Signup.id)).all()
    requests = session.scalars(select(MailRequest).where(
        (MailRequest.email == sub.email) | (MailRequest.subscriber_id == sub.id)).order_by(MailRequest.id)).all()
    entry = contact.listed(session, settings, sub.email)
    counts = [c for kind in contact.KINDS if (c := contact.count_row(session, settings, sub.email, kind))]
    return {
        "signups": [{"preferences": s.preferences, "created_at": iso(s.created_at), "confirmed_at": iso(s.confirmed_at)}
                    for s in signups],
        "mail_requests": [{"kind": r.kind, "email": r.email, "signup_id": r.signup_id, "payload": r.payload,
                           "created_at": iso(r.created_at)} for r in requests],
        "do_not_contact": [] if entry is None else [{"email_hash": entry.email_hash, "source": entry.source,
                                                     "created_at": iso(entry.created_at)}],
        "contact_counts": [{"email_hash": c.email_hash, "kind": c.kind, "sent": c.sent,
                            "last_sent_at": iso(c.last_sent_at)} for c in counts],
    }
