"""`digest suppressions list|remove`: the operators' view of the suppression list (digest.suppressions)."""

from __future__ import annotations

import json
from datetime import datetime

import click

from . import subscribers as subs, suppressions
from .cli_support import pass_app
from .runtime import Runtime


def _iso(when: datetime) -> str:
    return when.isoformat().replace("+00:00", "Z")


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
@pass_app
def list_command(app: Runtime, email: str | None, as_json: bool):
    """Show the list (hash, reason, date, newest first), or whether one address is on it.

    \b
    Example:
      digest suppressions list --json
    """
    # Errors (a malformed address, the database) become one line in the `digest` group.
    with app.session() as s:
        rows = [subs.suppression_of(s, subs.check_email(email))] if email else suppressions.entries(s)
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
@pass_app
def remove_command(app: Runtime, email: str):
    """Lift an address's entry (a forged or mistaken bounce or complaint) and restore its subscriber; audited.
    An address that unsubscribed itself stays off: only its own sign-up brings it back.

    \b
    Example:
      digest suppressions remove ana@example.com
    """
    with app.session() as s:
        lifted = suppressions.lift(s, email, app.clock(), app.settings.secret_keys[0])
        s.commit()
    status = f"; subscriber {lifted.subscriber_status} again" if lifted.subscriber_status else "; no subscriber"
    click.echo(f"lifted {email}: {lifted.reason} since {_iso(lifted.suppressed_at)}{status}")
