"""The suppression list for operators: what is on it, and lifting an entry that should not be (a forged or
mistaken bounce or complaint), audited.

Entries are SHA-256 hashes of addresses (digest.subscribers.address_hash): the list can say whether an address
is on it, never which addresses are. Lifting an entry also returns its subscriber row, if one exists, to what it
was before the bounce or complaint (active, or pending when they never confirmed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

import click
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


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


def _app():
    from .cli import App  # the `digest` group registers these commands; App is only needed once they run

    return click.get_current_context().ensure_object(App)


@click.group("suppressions")
def suppressions_group():
    """Addresses never mailed again after a bounce or complaint.

    \b
    Example:
      digest suppressions list ana@example.com
    """


@suppressions_group.command("list")
@click.argument("email", required=False)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def list_command(email: str | None, as_json: bool):
    """Show the list (hash, reason, date, newest first), or whether one address is on it.

    \b
    Example:
      digest suppressions list --json
    """
    app = _app()  # errors (a malformed address, the database) become one line in the `digest` group
    with app.session() as s:
        rows = [subs.suppression_of(s, subs.check_email(email))] if email else entries(s)
    rows = [r for r in rows if r is not None]
    for r in rows:
        data = {"email_hash": r.email_hash, "reason": r.reason, "suppressed_at": _iso(r.suppressed_at)}
        if as_json:
            click.echo(json.dumps(data if not email else {"email": email, "suppressed": True} | data))
        elif email:
            click.echo(f"{email} is suppressed: {r.reason} since {_iso(r.suppressed_at)}")
        else:
            click.echo(f"{r.email_hash[:16]}  {r.reason:<12}  {_iso(r.suppressed_at)}")
    if not rows:
        if as_json and email:
            click.echo(json.dumps({"email": email, "suppressed": False}))
        elif not as_json:
            click.echo(f"{email} is not suppressed" if email else "the suppression list is empty")


@suppressions_group.command("remove")
@click.argument("email")
def remove_command(email: str):
    """Lift an address's entry (a forged or mistaken bounce or complaint) and restore its subscriber; audited.

    \b
    Example:
      digest suppressions remove ana@example.com
    """
    app = _app()
    with app.session() as s:
        lifted = lift(s, email, app.clock(), app.settings.secret_keys[0])
        s.commit()
    status = f"; subscriber {lifted.subscriber_status} again" if lifted.subscriber_status else "; no subscriber"
    click.echo(f"lifted {email}: {lifted.reason} since {_iso(lifted.suppressed_at)}{status}")
