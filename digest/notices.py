"""Mail that is not the digest: the double opt-in confirmation."""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta
from email.utils import parseaddr
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from . import tokens
from .compose import display_address
from .content import Envelope
from .errors import DigestError
from .message import build_message, message_id_for
from .models import Subscriber
from .render import clean_text, compile_mjml
from .sent_mail import record_notice
from .settings import Settings
from .taxonomy import Taxonomy
from .transports import Transport, TransportError

log = logging.getLogger(__name__)

CONFIRM_EVERY = timedelta(minutes=10)  # at most one confirmation mail per address in this time


@functools.lru_cache(maxsize=4)
def _templates(templates_dir: Path) -> tuple[Template, Template]:
    """The confirmation templates, MJML compiled once per process."""
    email_dir = templates_dir / "email"
    html = Environment(autoescape=True, undefined=StrictUndefined).from_string(
        compile_mjml((email_dir / "confirm.mjml").read_text("utf-8"))
    )
    text = Environment(loader=FileSystemLoader(email_dir), autoescape=False, undefined=StrictUndefined,
                       keep_trailing_newline=True).get_template("confirm.txt")
    return html, text


def confirmation_message(settings: Settings, tax: Taxonomy, sub: Subscriber, now: datetime) -> bytes:
    """Build the double opt-in mail for a pending subscriber; its link is valid for 7 days from `now`."""
    keys = settings.secret_keys
    confirm_token = tokens.sign(keys, "confirm", sub.id, sub.token_version, issued_at=now)
    unsubscribe_token = tokens.sign(keys, "unsubscribe", sub.id, sub.token_version)
    board_name = clean_text(parseaddr(settings.from_addr)[0]) or "Backend Jobs Weekly"
    summary = " · ".join([
        ", ".join(tax.stack_label(t) for t in sub.stack) or "any stack",
        ", ".join(tax.level_label(l) for l in sub.levels) or "any level",
        ", ".join(tax.region_label(r) for r in sub.regions) or "anywhere",
    ])
    ctx = dict(
        board_name=board_name, name=clean_text(sub.name), email=sub.email, summary=summary,
        confirm_url=f"{settings.base_url}/confirm/{confirm_token}",
        unsubscribe_url=f"{settings.base_url}/unsubscribe/{unsubscribe_token}",
        subject=f"Confirm your {board_name} email", preheader="One click and your first digest arrives at your next weekly slot.",
    )
    html, text = _templates(Path(settings.templates_dir).resolve())
    envelope = Envelope(
        from_addr=settings.from_addr, to_addr=display_address(clean_text(sub.name) or None, sub.email), subject=ctx["subject"],
        date=now, message_id=message_id_for(f"confirm/{sub.id}/{now.isoformat()}", settings.from_domain),
        list_unsubscribe_url=ctx["unsubscribe_url"], list_id=f"{board_name} <weekly.{settings.from_domain}>",
        # campaign:period:sender, the shape of the digest's (compose.py), for Gmail's feedback loop
        extra_headers=(("Feedback-ID", f"confirm:{now:%G-W%V}:{settings.from_domain}"),),
    )
    return build_message(envelope, text.render(ctx), html.render(ctx))


def send_confirmation(settings: Settings, tax: Taxonomy, transport: Transport, sub: Subscriber,
                      now: datetime) -> bool:
    """Send the confirmation mail unless one went to this address in the last 10 minutes."""
    if sub.status != "pending":
        return False
    if sub.confirm_sent_at is not None and now - sub.confirm_sent_at < CONFIRM_EVERY:
        return False
    raw = confirmation_message(settings, tax, sub, now)
    sent_id = transport.send(f"confirm/{sub.id}-{now:%Y%m%dT%H%M%S}", sub.email, raw)
    sub.confirm_sent_at = now
    session = object_session(sub)
    if session is not None:  # kept so SES feedback about this mail is believed (digest.sent_mail)
        record_notice(session, sub, "confirm", raw, sent_id, now)
    return True


def confirm_pending(session: Session, settings: Settings, tax: Taxonomy, transport: Transport, now: datetime) -> int:
    """Mail every pending subscriber who has never had a confirmation mail; return how many were sent."""
    sent = 0
    pending = select(Subscriber).where(Subscriber.status == "pending", Subscriber.confirm_sent_at.is_(None))
    try:
        for sub in session.scalars(pending.order_by(Subscriber.id)).all():
            try:
                sent += send_confirmation(settings, tax, transport, sub, now)
            except TransportError as e:
                if not e.permanent:  # throttled, unavailable, paused, quota: stop; the rest go with the next import
                    raise DigestError(f"confirmation mails stopped after {sent} sent ({e.kind}: {e}); the others "
                                      "are mailed by the next import or `digest subscribers add`") from e
                log.warning("confirmation mail refused", extra={"subscriber_id": sub.id, "reason": e.kind})
            session.commit()  # one by one: a failure later never re-mails those already done
    finally:
        transport.close()
    return sent
