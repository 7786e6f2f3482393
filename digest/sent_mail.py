"""What this service sent to whom, as SES knows it: feedback is believed only about these mails.

A digest is a row of the deliveries ledger, a confirmation a row of sent_notices; both keep the carrier's id
(SES's MessageId, unguessable, which every SES notification repeats as mail.messageId). A bounce or complaint
naming an address and a message id that do not belong together changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from .models import Delivery, SentNotice, Subscriber


def header_message_id(raw: bytes) -> str | None:
    """The Message-ID header of a message as build_message writes it (one line, "<...@domain>")."""
    start = raw.find(b"\r\nMessage-ID: ")
    if start < 0:
        return None
    end = raw.find(b"\r\n", start + 2)
    return raw[start + 14 : end].decode("ascii", "replace")


def record_notice(session: Session, sub: Subscriber, kind: str, raw: bytes, transport_id: str | None,
                  now: datetime) -> None:
    """Remember a mail other than the digest that went to this subscriber; the caller commits."""
    session.add(SentNotice(subscriber_id=sub.id, kind=kind, message_id=header_message_id(raw),
                           transport_id=(transport_id or None) and transport_id[:255], sent_at=now))


def sent_to(session: Session, sub: Subscriber, transport_id: str | None) -> bool:
    """Did this service hand the carrier the mail `transport_id` addressed to this subscriber?"""
    if not transport_id:
        return False
    digest = exists().where(Delivery.subscriber_id == sub.id, Delivery.transport_id == transport_id)
    notice = exists().where(SentNotice.subscriber_id == sub.id, SentNotice.transport_id == transport_id)
    return bool(session.scalar(select(digest | notice)))
