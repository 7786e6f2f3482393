"""`digest do-not-contact`: the operators' side of the do-not-contact list and the lifetime caps (digest.contact)."""

from __future__ import annotations

import click

from . import audit, contact
from .cli_support import pass_app
from .errors import DigestError
from .lifecycle import never_contact
from .runtime import Runtime
from .subscribers import check_email


@click.group("do-not-contact")
def do_not_contact():
    """Addresses the sign-up pages must never mail, and how many confirmation mails each has had.

    \b
    Example:
      digest do-not-contact check ana@example.com
    """


@do_not_contact.command("check")
@click.argument("email")
@pass_app
def check(app: Runtime, email: str):
    """Say whether the pages may mail this address, and how many confirmations and link mails it has had.

    \b
    Example:
      digest do-not-contact check ana@example.com
    """
    email = _address(email)
    settings = app.settings
    with app.session() as s:
        entry = contact.listed(s, settings, email)
        counts = {kind: contact.sent_count(s, settings, email, kind) for kind in contact.KINDS}
    state = (f"on the do-not-contact list since {entry.created_at:%Y-%m-%d} ({entry.source})" if entry
             else "not on the do-not-contact list")
    click.echo(f"{email}: {state}; confirmation mails {counts['confirm']} of {settings.confirm_cap}, "
               f"link mails {counts['links']} of {settings.confirm_cap}")


@do_not_contact.command("add")
@click.argument("email")
@pass_app
def add(app: Runtime, email: str):
    """Never mail this address again: it is unsubscribed, and no page (sign-up, renewal, /manage) or import mails
    it (audited).

    \b
    Example:
      digest do-not-contact add ana@example.com
    """
    email = _address(email)
    now = app.clock()
    with app.session() as s:
        added = never_contact(s, app.settings, email, "operator", now)
        if added:
            audit.record(s, now, "do-not-contact add", "do-not-contact",
                         audit.person_ref(app.settings.secret_keys[0], email))
        s.commit()
    click.echo(f"{email} is now on the do-not-contact list" if added else f"{email} was already on the list")


@do_not_contact.command("remove")
@click.argument("email")
@pass_app
def remove(app: Runtime, email: str):
    """Lift the entry and give the address a fresh allowance of confirmation mails (audited).

    Only when the person asked for it: anyone can type their address into the sign-up form again.

    \b
    Example:
      digest do-not-contact remove ana@example.com
    """
    email = _address(email)
    now = app.clock()
    with app.session() as s:
        lifted = contact.lift(s, app.settings, email)
        if not lifted.listed and not lifted.counted:
            raise click.ClickException(f"{email} is not on the do-not-contact list and has had no mail counted")
        audit.record(s, now, "do-not-contact remove", "do-not-contact",
                     audit.person_ref(app.settings.secret_keys[0], email), was_listed=lifted.listed,
                     mails_forgotten=lifted.counted)
        s.commit()
    click.echo(f"{email}: " + ("removed from the do-not-contact list; " if lifted.listed else "")
               + f"{lifted.counted} counted mail{'s' if lifted.counted != 1 else ''} forgotten: the pages may mail "
                 "it again")


def _address(email: str) -> str:
    try:
        return check_email(email)
    except DigestError as e:
        raise click.ClickException(str(e)) from e
