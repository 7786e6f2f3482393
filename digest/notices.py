"""Mail that is not the digest: the double opt-in confirmation, and a subscriber's links (/manage)."""

from __future__ import annotations

import functools
import logging
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from sqlalchemy import select
from sqlalchemy.orm import Session

from . import contact, tokens
from .compose import display_address
from .content import Envelope
from .errors import DigestError
from .message import build_message, message_id_for
from .models import Signup, Subscriber
from .outbox_keys import notice_key
from .render import clean_text, compile_mjml
from .skeleton import ascii_html
from .sent_mail import record_notice
from .settings import Settings
from .taxonomy import Taxonomy
from .carriers.base import Transport, TransportError

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=8)
def _templates(templates_dir: Path, name: str = "confirm") -> tuple[Template, Template]:
    """A notice's templates (`name`.mjml and `name`.txt), MJML compiled once per process."""
    email_dir = templates_dir / "email"
    html = Environment(autoescape=True, undefined=StrictUndefined).from_string(
        compile_mjml((email_dir / f"{name}.mjml").read_text("utf-8"))
    )
    text = Environment(loader=FileSystemLoader(email_dir), autoescape=False, undefined=StrictUndefined,
                       keep_trailing_newline=True).get_template(f"{name}.txt")
    return html, text


def _summary(taxonomy: Taxonomy, stack, levels, regions) -> str:
    return " · ".join([
        ", ".join(taxonomy.stack_label(t) for t in stack) or "any stack",
        ", ".join(taxonomy.level_label(level) for level in levels) or "any level",
        ", ".join(taxonomy.region_label(r) for r in regions) or "anywhere",
    ])


def _notice(settings: Settings, sub: Subscriber, now: datetime, name: str, key: str, ctx: dict) -> bytes:
    """Build one notice to the subscriber from its templates; `ctx` gives its subject and links."""
    board_name = ctx["board_name"]
    html, text = _templates(Path(settings.templates_dir).resolve(), name)
    envelope = Envelope(
        from_addr=settings.from_addr, to_addr=display_address(clean_text(sub.name) or None, sub.email), subject=ctx["subject"],
        date=now, message_id=message_id_for(f"{key}/{sub.id}/{now.isoformat()}", settings.from_domain),
        list_unsubscribe_url=ctx["unsubscribe_url"], list_id=f"{board_name} <weekly.{settings.from_domain}>",
        # campaign:period:sender, the shape of the digest's (compose.py), for Gmail's feedback loop
        extra_headers=(("Feedback-ID", f"{key}:{now:%G-W%V}:{settings.from_domain}"),),
    )
    return build_message(envelope, text.render(ctx), ascii_html(html.render(ctx)))  # ASCII: sent 7-bit, as it is


def _base(settings: Settings, sub: Subscriber) -> dict:
    keys = settings.secret_keys
    board_name = clean_text(parseaddr(settings.from_addr)[0]) or "Backend Jobs Weekly"
    unsubscribe_token = tokens.sign(keys, "unsubscribe", sub.id, sub.token_version)
    return dict(board_name=board_name, name=clean_text(sub.name), email=sub.email,
                unsubscribe_url=f"{settings.base_url}/unsubscribe/{unsubscribe_token}")


def confirmation_message(settings: Settings, taxonomy: Taxonomy, sub: Subscriber, now: datetime,
                         signup: Signup | None = None) -> bytes:
    """Build the double opt-in mail; its link is valid for 7 days from `now` and confirms `signup`'s preferences
    (or, without one, the row's own: an operator's import)."""
    confirm_token = tokens.sign(settings.secret_keys, "confirm", sub.id, sub.token_version, issued_at=now,
                                signup_id=signup.id if signup is not None else None)
    if signup is not None:
        p = signup.preferences
        summary = _summary(taxonomy, p.get("stack") or [], p.get("level") or [], p.get("region") or [])
    else:
        summary = _summary(taxonomy, sub.stack, sub.levels, sub.regions)
    ctx = _base(settings, sub)
    ctx |= dict(summary=summary, confirm_url=f"{settings.base_url}/confirm/{confirm_token}",
                subject=f"Confirm your {ctx['board_name']} email",
                preheader="One click and your first digest arrives at your next weekly slot.")
    return _notice(settings, sub, now, "confirm", "confirm", ctx)


def links_message(settings: Settings, sub: Subscriber, now: datetime) -> bytes:
    """Build the mail /manage sends a subscriber who lost their links: preferences and unsubscribe."""
    ctx = _base(settings, sub)
    preferences_token = tokens.sign(settings.secret_keys, "preferences", sub.id, sub.token_version)
    ctx |= dict(preferences_url=f"{settings.base_url}/preferences/{preferences_token}",
                subject=f"Your {ctx['board_name']} links",
                preheader="Change what you receive, pause, or unsubscribe.")
    return _notice(settings, sub, now, "links", "links", ctx)


def send_confirmation(session: Session, settings: Settings, taxonomy: Taxonomy, transport: Transport, sub: Subscriber,
                      now: datetime, signup: Signup | None = None, budget: bool = True) -> str | None:
    """Send the confirmation mail unless the address may not have one now; return why not (None: sent).

    Counted against the address's lifetime cap and, for mail the public pages cause, the hourly budget
    (digest.contact). The caller commits.
    """
    if sub.status not in ("pending", "unsubscribed"):
        return "not-pending"
    if sub.confirm_sent_at is not None and now - sub.confirm_sent_at < contact.GAPS[0]:
        return "too-soon"  # (a mail sent before the counts were kept: the first gap still holds)
    refused = contact.refusal(session, settings, sub.email, "confirm", now, budget=budget)
    if refused:
        return refused
    raw = confirmation_message(settings, taxonomy, sub, now, signup)
    sent_id = transport.send(notice_key("confirm", sub.id, now), sub.email, raw)
    contact.record(session, settings, sub.email, "confirm", now, budget=budget)
    record_notice(session, sub, "confirm", raw, sent_id, now)  # so SES feedback about it is believed
    sub.confirm_sent_at = now
    return None


def send_links(session: Session, settings: Settings, transport: Transport, sub: Subscriber,
               now: datetime) -> str | None:
    """Mail an active (or paused) subscriber their links, within the same caps; return why not (None: sent)."""
    if sub.status != "active":
        return "not-subscribed"
    refused = contact.refusal(session, settings, sub.email, "links", now)
    if refused:
        return refused
    raw = links_message(settings, sub, now)
    sent_id = transport.send(notice_key("links", sub.id, now), sub.email, raw)
    contact.record(session, settings, sub.email, "links", now)
    record_notice(session, sub, "links", raw, sent_id, now)
    return None


def confirm_pending(session: Session, settings: Settings, taxonomy: Taxonomy, transport: Transport,
                    now: datetime) -> int:
    """Mail every pending subscriber who has never had a confirmation mail; return how many were sent.

    Operators' imports and adds: not counted against the hourly budget, but never to a do-not-contact address
    and within each address's lifetime cap.
    """
    sent = 0
    pending = select(Subscriber).where(Subscriber.status == "pending", Subscriber.confirm_sent_at.is_(None))
    try:
        for sub in session.scalars(pending.order_by(Subscriber.id)).all():
            try:
                sent += send_confirmation(session, settings, taxonomy, transport, sub, now, budget=False) is None
            except TransportError as e:
                if not e.permanent:  # throttled, unavailable, paused, quota: stop; the rest go with the next import
                    raise DigestError(f"confirmation mails stopped after {sent} sent ({e.kind}: {e}); the others "
                                      "are mailed by the next import or `digest subscribers add`") from e
                log.warning("confirmation mail refused", extra={"subscriber_id": sub.id, "reason": e.kind})
            session.commit()  # one by one: a failure later never re-mails those already done
    finally:
        transport.close()
    return sent
