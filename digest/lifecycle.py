"""A subscriber's life: sign up, confirm, change preferences, pause, unsubscribe, come back.

The web app and the CLI call these; each takes the session and `now`, changes rows, and commits nothing:
the caller owns the transaction.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from . import subscribers as subs
from .cadence import CADENCES
from .models import Subscriber
from .settings import Settings
from .taxonomy import Taxonomy
from .tokens import Claims, TokenError, check_fresh, verify

CONFIRM_TTL = timedelta(days=7)
PAUSE_DEFAULT = timedelta(days=30)
UNDO_TIME = timedelta(days=1)  # how long an unsubscribe page offers "that was a mistake"
# Why people leave, as the unsubscribe page asks (optional) and the row keeps: value -> the page's words.
UNSUBSCRIBE_REASONS = {"found-job": "I found a job", "too-many-emails": "Too many emails",
                       "not-relevant": "The jobs are not relevant to me", "other": "Another reason"}


def subscriber_for(session: Session, settings: Settings, token: str, purpose: str) -> tuple[Subscriber, Claims]:
    """Return the subscriber a token is for, or raise TokenError (bad, forged, revoked, or gone)."""
    claims = verify(settings.secret_keys, token, purpose)
    sub = session.get(Subscriber, claims.subscriber_id)
    if sub is None:
        raise TokenError("no such subscriber")
    # Unsubscribe links outlive a revocation: leaving must always work (and can only unsubscribe).
    if purpose != "unsubscribe" and claims.version != sub.token_version:
        raise TokenError("revoked token")
    return sub, claims


def confirmable(session: Session, settings: Settings, token: str, now: datetime) -> Subscriber:
    """The subscriber a fresh confirmation token is for; TokenExpired carries an old one's claims."""
    sub, claims = subscriber_for(session, settings, token, "confirm")
    if sub.status == "unsubscribed":
        # They left after this link was sent (a sign-up again makes them pending): a replay cannot undo it.
        raise TokenError("unsubscribed since")
    check_fresh(claims, now, CONFIRM_TTL)
    return sub


def sign_up(session: Session, data: subs.SubscriberIn, tax: Taxonomy, settings: Settings,
            now: datetime) -> Subscriber | None:
    """Record a sign-up from the public form; return whom to send a confirmation mail, if anyone.

    Never reveals or changes an existing subscription: an active person's preferences stay theirs
    (anyone can type any address), and a suppressed address gets nothing, even after its row was removed
    (nothing is stored for it then). Someone who unsubscribed may come back through the confirmation mail.
    """
    existing = subs.find(session, data.email)
    if existing is None:
        listed = subs.suppression_of(session, data.email)
        if listed is not None and listed.reason != subs.OPTED_OUT:
            return None
        try:
            sub, _ = subs.upsert(session, data.model_copy(update={"confirmed": False}), tax, settings, now,
                                 source="web")
            if sub.status == "pending":
                return sub
            existing = sub  # back from the suppression list as unsubscribed: answered below
        except IntegrityError:
            # A double click raced this insert and won: start over (nothing else happened in this
            # transaction) and answer as for an address that exists.
            session.rollback()
            existing = subs.find(session, data.email)
            if existing is None:
                raise
    if existing.status == "pending":
        return existing
    if existing.status == "unsubscribed":
        subs.upsert(session, data.model_copy(update={"confirmed": False}), tax, settings, now)
        existing.status = "pending"
        return existing
    return None


def confirm(sub: Subscriber, now: datetime) -> None:
    """Activate a pending subscriber (confirming twice is harmless)."""
    if sub.status == "pending":
        sub.status, sub.confirmed_at, sub.unsubscribed_at, sub.unsubscribe_reason = "active", now, None, None
        sub.updated_at = now


def unsubscribe(sub: Subscriber, now: datetime, reason: str | None = None) -> None:
    """Stop all mail at once, keeping the reason they gave (if any); repeating it changes nothing."""
    if reason is not None and reason not in UNSUBSCRIBE_REASONS:
        raise ValueError(f"unknown unsubscribe reason {reason!r}")
    if sub.status in ("active", "pending"):
        sub.status, sub.unsubscribed_at, sub.updated_at = "unsubscribed", now, now
        sub.unsubscribe_reason = reason


def can_undo(sub: Subscriber, now: datetime) -> bool:
    """Whether "that was a mistake" may still undo their unsubscribe; later, coming back is a new sign-up."""
    return sub.status == "unsubscribed" and sub.unsubscribed_at is not None and now - sub.unsubscribed_at <= UNDO_TIME


def current_link(sub: Subscriber, claims: Claims) -> bool:
    """Whether a link carries the subscriber's current token version (not revoked by `revoke-links`)."""
    return claims.version == sub.token_version


def resubscribe(sub: Subscriber, now: datetime) -> None:
    """Undo an unsubscribe from the page that followed it (the link proves the mailbox); see `can_undo`."""
    if sub.status == "unsubscribed":
        sub.status, sub.unsubscribed_at, sub.confirmed_at, sub.updated_at = "active", None, now, now
        sub.unsubscribe_reason = None


def pause(sub: Subscriber, until: date, now: datetime) -> None:
    """Send nothing before `until` (their local date); the next slot on or after it resumes."""
    sub.paused_until, sub.updated_at = until, now


def set_cadence(sub: Subscriber, cadence: str, now: datetime) -> None:
    """Change how often they hear from us (the unsubscribe page's gentler offer); they stay subscribed."""
    if cadence not in CADENCES:
        raise ValueError(f"unknown cadence {cadence!r}")
    sub.cadence, sub.updated_at = cadence, now


def save_preferences(session: Session, sub: Subscriber, data: subs.SubscriberIn, tax: Taxonomy,
                     settings: Settings, now: datetime, paused_until: date | None) -> None:
    """Replace the subscriber's preferences with validated form values."""
    subs.upsert(session, data.model_copy(update={"email": sub.email, "confirmed": False}), tax, settings, now)
    sub.paused_until = paused_until


def revoke_links(sub: Subscriber, now: datetime) -> None:
    """Invalidate every outstanding confirmation and preferences link (unsubscribe links keep working)."""
    sub.token_version += 1
    sub.updated_at = now
