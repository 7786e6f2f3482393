"""A subscriber's life: sign up, confirm, change preferences, pause, unsubscribe, come back.

The web app and the CLI call these; each takes the session and `now`, changes rows, and commits nothing:
the caller owns the transaction.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from . import contact
from . import subscribers as subs
from .cadence import CADENCES
from .models import Signup, Subscriber
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


def confirmable(session: Session, settings: Settings, token: str, now: datetime) -> tuple[Subscriber, Signup | None]:
    """The subscriber a fresh confirmation token is for, and the sign-up it confirms (None for links made before
    sign-ups were stored); TokenExpired carries an old one's claims."""
    sub, claims = subscriber_for(session, settings, token, "confirm")
    signup = None
    if claims.signup_id is not None:
        signup = session.get(Signup, claims.signup_id)
        if signup is None or signup.subscriber_id != sub.id:
            raise TokenError("sign-up withdrawn")  # they unsubscribed (or refused contact) since, or it was purged
        if signup.confirmed_at is not None and sub.status == "unsubscribed":
            raise TokenError("confirmed, then left")  # (leaving withdraws sign-ups; this holds if one was missed)
    elif sub.status == "unsubscribed":
        # They left after this link was sent: a replay cannot undo it.
        raise TokenError("unsubscribed since")
    check_fresh(claims, now, CONFIRM_TTL)
    return sub, signup


def sign_up(session: Session, data: subs.SubscriberIn, taxonomy: Taxonomy, settings: Settings,
            now: datetime) -> Subscriber | None:
    """Record a sign-up from the public form; return whom to offer a confirmation mail, if anyone.

    Never reveals or changes an existing subscription: anyone can type any address, so a pending or unsubscribed
    person keeps their row as it is (the sign-up's preferences wait in a `Signup` until its link is clicked), an
    active person's preferences stay theirs, and a suppressed address gets nothing, even after its row was removed
    (nothing is stored for it then). A new address gets a pending row with the sign-up's preferences.
    Whether the mail may go at all (do-not-contact, caps, budget) is digest.contact's to say.
    """
    existing = subs.find(session, data.email)
    if existing is None:
        listed = subs.suppression_of(session, data.email)
        if listed is not None and listed.reason != subs.OPTED_OUT:
            return None
        # Back from the suppression list as unsubscribed (they left, then were removed): offered below.
        existing, _ = subs.upsert(session, data.model_copy(update={"confirmed": False}), taxonomy, settings, now,
                                  source="web")
    return existing if existing.status in ("pending", "unsubscribed") else None


def offer(session: Session, sub: Subscriber, data: subs.SubscriberIn, now: datetime) -> Signup:
    """Keep a sign-up's preferences for the confirmation mail that carries its id."""
    signup = Signup(subscriber_id=sub.id, preferences=data.model_dump(mode="json", exclude={"confirmed"}),
                    created_at=now)
    session.add(signup)
    session.flush()
    return signup


def confirm(session: Session, sub: Subscriber, signup: Signup | None, taxonomy: Taxonomy, settings: Settings,
            now: datetime) -> None:
    """Activate the subscriber with the preferences of the sign-up the link was sent for (a link confirmed
    before changes nothing again: confirming twice is harmless)."""
    if signup is not None and signup.confirmed_at is None:
        data = subs.SubscriberIn.model_validate(signup.preferences | {"email": sub.email, "confirmed": False})
        subs.upsert(session, data, taxonomy, settings, now)
        signup.confirmed_at = now
        if sub.status == "unsubscribed":
            sub.status, sub.unsubscribed_at, sub.unsubscribe_reason = "pending", None, None
    if sub.status == "pending":
        sub.status, sub.confirmed_at, sub.unsubscribed_at, sub.unsubscribe_reason = "active", now, None, None
        sub.updated_at = now


def awaits_consent(session: Session, sub: Subscriber) -> bool:
    """Whether the person has a sign-up they never confirmed (pending, or signed up again after leaving): their
    unsubscribe link then means "never email this address", as the confirmation mail says."""
    return sub.status == "pending" or session.scalar(
        select(Signup.id).where(Signup.subscriber_id == sub.id, Signup.confirmed_at.is_(None)).limit(1)) is not None


def leave(session: Session, settings: Settings, sub: Subscriber, now: datetime, reason: str | None = None) -> bool:
    """Unsubscribe through a mail's link, withdrawing every sign-up (old confirmation links stop working). For
    someone who `awaits_consent` it means "never email this address": the address goes on the do-not-contact
    list. Return whether it did; an active subscriber who leaves may still come back by signing up again."""
    never = awaits_consent(session, sub)
    if never:
        never_contact(session, settings, sub.email, "link", now)
    session.execute(delete(Signup).where(Signup.subscriber_id == sub.id))
    unsubscribe(sub, now, reason)
    return never


def never_contact(session: Session, settings: Settings, email: str, source: str, now: datetime) -> bool:
    """Put the address on the do-not-contact list, withdraw its open sign-ups (their links stop working) and
    unsubscribe its row if it has one. Return False if it was listed already. The caller commits."""
    sub = subs.find(session, email)
    if sub is not None:
        session.execute(delete(Signup).where(Signup.subscriber_id == sub.id, Signup.confirmed_at.is_(None)))
        unsubscribe(sub, now)
    return contact.add(session, settings, email, source, now)


PENDING_DAYS = 30  # an unconfirmed sign-up is forgotten after this many days without a new confirmation mail


def purge_pending(session: Session, now: datetime, days: int = PENDING_DAYS) -> list[int]:
    """Erase pending subscribers who never confirmed and had no confirmation mail for `days`; drop sign-ups as
    old whose link nobody clicked. Return the ids of the people erased. The lifetime counts stay
    (contact_counts), so a purge never gives an address a fresh allowance. The caller commits."""
    cutoff = now - timedelta(days=days)
    stale = session.scalars(select(Subscriber).where(
        Subscriber.status == "pending", Subscriber.created_at < cutoff,
        or_(Subscriber.confirm_sent_at.is_(None), Subscriber.confirm_sent_at < cutoff))).all()
    ids = [sub.id for sub in stale]
    for sub in stale:
        subs.remove(session, sub)
    session.execute(delete(Signup).where(Signup.created_at < cutoff, Signup.confirmed_at.is_(None)))
    session.flush()
    return ids


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


def save_preferences(session: Session, sub: Subscriber, data: subs.SubscriberIn, taxonomy: Taxonomy,
                     settings: Settings, now: datetime, paused_until: date | None) -> None:
    """Replace the subscriber's preferences with validated form values."""
    subs.upsert(session, data.model_copy(update={"email": sub.email, "confirmed": False}), taxonomy, settings, now)
    sub.paused_until = paused_until


def revoke_links(sub: Subscriber, now: datetime) -> None:
    """Invalidate every outstanding confirmation and preferences link (unsubscribe links keep working)."""
    sub.token_version += 1
    sub.updated_at = now
