"""Preview and test-send: exactly the digest a subscriber would get now, without touching the ledger."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from . import ledger, subscribers
from .errors import InputError
from .subscribers import check_email
from .carriers.base import Transport
from .carriers.outbox import html_part
from .compose import Composed, Composer
from .listings_index import load_index
from .outbox_keys import test_key
from .matching import Match
from .planning import MAX_WINDOW, plan_digests
from .run import recipients
from .schedule import Slot, latest_slot
from .settings import Settings
from .taxonomy import Taxonomy


@dataclass(frozen=True)
class Preview:
    subscriber_id: int
    email: str
    status: str
    slot: Slot
    already_sent: bool  # the ledger has a finished row for this slot's week
    match: Match
    message: Composed | None  # None when nothing matches: no digest would be sent


def preview(session: Session, settings: Settings, taxonomy: Taxonomy, email: str, now: datetime,
            to: str | None = None, subject_prefix: str = "") -> Preview:
    """Build the digest this subscriber would get at `now` (or to `to`, for a test send)."""
    sub = subscribers.get(session, email)
    rcpt = recipients(session, sub.id - 1, sub.id, 1, active_only=False)[0]
    slot = latest_slot(now, rcpt.timezone, rcpt.send_day, rcpt.send_hour)
    row = ledger.rows_for(session, {rcpt.id: slot.period}).get(rcpt.id)
    index = load_index(session, now, taxonomy, MAX_WINDOW)
    planned = plan_digests(session, index, [rcpt], now, settings)[0]
    since, match = planned.since, planned.match
    message = None
    if match.total:
        message = Composer(settings, taxonomy).compose(rcpt, match, slot.period, slot.at, since, now, to, subject_prefix)
    return Preview(
        subscriber_id=sub.id, email=sub.email, status=subscribers.display_status(sub, now.date()), slot=slot,
        already_sent=row is not None and row.status in ("sent", "empty"), match=match, message=message,
    )


def text_part(raw: bytes) -> str:
    """The plain-text part of a composed message, with the line ends of a file (what `digest preview` prints)."""
    import email
    import email.policy

    body = email.message_from_bytes(raw, policy=email.policy.default).get_body(("plain",)).get_content()
    return body.replace("\r\n", "\n")


def html_file(raw: bytes) -> str:
    """The HTML part of a composed message, with the line ends of a file (`digest preview --out NAME.html`)."""
    return html_part(raw).replace("\r\n", "\n")


def test_send(session: Session, settings: Settings, taxonomy: Taxonomy, transport: Transport, email: str, to: str,
              now: datetime) -> tuple[Preview, str]:
    """Send a subscriber's digest to `to` with a [TEST] subject; record nothing. Shared by CLI and Lambda."""
    to = check_email(to)
    if subscribers.suppression_of(session, to) is not None:
        raise InputError(f"{to} is on the suppression list (it bounced or complained): choose another address")
    p = preview(session, settings, taxonomy, email, now, to=to, subject_prefix="[TEST] ")
    if p.message is None:
        raise InputError(f"nothing matches for {p.email} at {now.isoformat()}: there is no digest to test")
    key = test_key(p.slot.period, p.subscriber_id, now)
    sent_id = transport.send(key, to, p.message.raw, {"campaign": "test", "period": p.slot.period, "run": "test"})
    transport.close()
    return p, sent_id
