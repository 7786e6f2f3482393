"""The `digest` command: thin click commands over the engine's functions."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import datetime
from pathlib import Path

import click
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from . import audit, db, listing_feedback, subscribers as subs
from .cadence import CADENCES
from .cli_support import DigestGroup, now_option, pass_app, terminal_json, terminal_text
from .contact_cli import do_not_contact
from .errors import InputError
from .listings import import_listings, list_listings, listing_json
from .normalise import company_key
from .operator_cli import listings_expire, listings_remove, runs_command, stats_command, why_command
from .runtime import Runtime
from .settings import WEEKDAYS, Settings
from .suppressions_cli import suppressions_group

SHOWN_WARNINGS = 100  # warning lines an import prints; the summary counts them all


@click.group(cls=DigestGroup)
@click.version_option(package_name="jobdigest")
def main():
    """Weekly job-alert digest: import listings and subscribers, run the week, preview.

    \b
    Example:
      digest listings import listings.jsonl && digest run --now 2026-11-23T09:00:00Z
    """
    # When the database goes away mid-statement psycopg also warns that it abandoned its pipeline; the error
    # itself reaches the operator as one line (DigestGroup), so that warning would only be a second, odd one.
    logging.getLogger("psycopg").setLevel(logging.ERROR)


@main.group(cls=DigestGroup)
def listings():
    """Import and list job listings.

    \b
    Example:
      digest listings import board-export.csv
    """


@listings.command("import")
@click.argument("path")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="Processes that normalise a large file (5,000+ records); default: the machine's cores.")
@pass_app
def listings_import(app: Runtime, path: str, workers: int | None):
    """Import listings from JSON Lines, a JSON array or CSV ('-' reads stdin).

    A record is rejected only when a required field is unusable; a bad
    optional field is left out with a warning line and the listing kept.
    Re-importing an id updates it; a record sent again exactly as before is
    not read again (its warnings were reported the first time). A file of
    5,000+ records is read by several processes (--workers). CSV may be
    ','- or ';'-separated. A listing is new to digests from the later of
    its verified_at and this import (verified 4+ weeks before: never new).

    \b
    Required:
      id             the board's id: "rok-1042" or 1042
      title          "Senior Backend Engineer (Go)"
      company        "Acme Payments"
      url            https://jobs.example.com/1042 (http or https)
      posted_at      ISO 8601: 2026-11-20T10:00:00Z, 2026-11-20
    \b
    Optional:
      verified       true / false / yes / no / 1 / 0 (not verified: never sent)
      verified_at    ISO 8601, when the board verified it
      expires_at     ISO 8601; out of every digest after it
      stack          ["go", "postgres"] or "Python, Django" (aliases: golang,
                     node.js, ruby/rails, C Plus Plus, react ...); the title
                     decides when it names a language or framework
      level          Senior, Sr, Mid-Senior level, Entry level, Staff, II ...
                     (else read from the title)
      location       "Remote - US only", "EMEA", "UTC-1 to UTC+3",
                     "Austin, TX", "Berlin, Germany", "🇩🇪 🇳🇱", "Worldwide"
      salary         text: "$93,400 – $140,000 usd", "€4,000 - 5,200 per
                     month", "$65k - $105k", "$90/hr - $100/hr",
                     "CA$100k–132k", "₹18 LPA", "p50,000 - 70,000 monthly"
      salary_min     number or numeric text: 120000, "120,000"; 0, -1, nan
      salary_max       and empty mean not stated
      salary_currency  USD, EUR, cad, €, CA$, ₱ (any ISO 4217 code)
      salary_period  year, month, week, day, hour (annual, monthly, /hr ...)
      role_type      api, data, platform (else inferred from the text)
      employer_type  startup, scaleup, enterprise, agency (else inferred)
      description    text; the first 20,000 characters are kept
    \b
    Example:
      digest listings import listings.jsonl
      cat listings.json | digest listings import -
    """
    with app.session() as s:
        report = import_listings(s, path, app.taxonomy, app.clock(), workers=workers or os.cpu_count() or 1,
                                 clock=app.clock)
    for line in sorted([*report.rejected, *report.warnings[:SHOWN_WARNINGS]], key=lambda r: r.line):
        click.echo(f"{path}: {line}", err=True)
    if len(report.warnings) > SHOWN_WARNINGS:
        click.echo(f"{path}: ... and {len(report.warnings) - SHOWN_WARNINGS:,} more warnings", err=True)
    warned = f", {len(report.warnings)} warnings" if report.warnings else ""
    click.echo(
        f"imported {report.imported} listings ({report.inserted} new, {report.updated} updated, "
        f"{report.unchanged} unchanged); {len(report.rejected)} rejected{warned}"
    )
    if report.rejected:
        sys.exit(1)


@listings.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--verified-only", is_flag=True, help="Only listings the board has verified.")
@pass_app
def listings_list(app: Runtime, as_json: bool, verified_only: bool):
    """List the normalised listings (with --json also what subscribers said of each: "not_for_me" counts by
    reason, and "hidden_by", how many hid its company).

    \b
    Example:
      digest listings list --json | jq -r '.stack[]' | sort | uniq -c
      digest listings list --json | jq -c 'select(.not_for_me.wrong_level > 2) | {id, title, level}'
    """
    with app.session() as s:
        reasons, hidden = listing_feedback.counts_by_listing(s) if as_json else ({}, {})
        for listing in list_listings(s, verified_only):
            if as_json:
                said = {"not_for_me": reasons.get(listing.board_id, {}),
                        "hidden_by": hidden.get(company_key(listing.company), 0)}
                click.echo(json.dumps(listing_json(listing) | said, ensure_ascii=False))
            else:
                click.echo(f"{listing.board_id}\t{'✓' if listing.verified else ' '}\t{listing.level or '-'}"
                           f"\t{','.join(listing.stack) or '-'}"
                           f"\t{','.join(listing.regions) or '-'}\t{listing.title} — {listing.company}")


@main.group(cls=DigestGroup)
def subscribers():
    """Add, import, show, export and remove subscribers.

    \b
    Example:
      digest subscribers add ana@example.com --stack python --stack go --region europe --confirmed
    """


def _choices(values):
    return click.Choice(list(values), case_sensitive=False)


def _preference_options(clears: str):
    """The options `subscribers add` and `update` share; `clears` says how a list is cleared."""
    options = [
        click.argument("email"),
        click.option("--name", help="Name to greet them by."),
        click.option("--stack", multiple=True, help=f"Stack wanted (repeatable); {clears}."),
        click.option("--level", multiple=True, help=f"Level wanted (repeatable): intern … lead; {clears}."),
        click.option("--region", multiple=True, help=f"Region they can work from (repeatable); {clears}."),
        click.option("--role", multiple=True,
                     help=f"Role type wanted (repeatable): api, data, platform; listings of unknown role still come, "
                          f"ranked lower; {clears}."),
        click.option("--employer", multiple=True,
                     help=f"Employer type wanted (repeatable): startup, scaleup, enterprise, agency; {clears}."),
        click.option("--timezone", help="IANA timezone, e.g. Europe/Berlin."),
        click.option("--send-day", type=_choices(WEEKDAYS), help="Weekday of their digest."),
        click.option("--send-hour", type=click.IntRange(0, 23), help="Local hour of their digest."),
        click.option("--cadence", type=_choices(CADENCES),
                     help="weekly, or fortnightly: every second week from their first digest."),
        click.option("--min-salary", type=click.IntRange(0, 2_000_000), help="Salary floor, annual USD; 0 = none."),
    ]

    def apply(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn
    return apply


@subscribers.command("add")
@_preference_options("none = any")
@click.option("--hide-no-salary", is_flag=True, help="Skip listings that give no salary.")
@click.option("--confirmed", is_flag=True, help="Consent already given: active at once (else pending).")
@pass_app
def subscribers_add(app: Runtime, email, **opts):
    """Add one subscriber.

    \b
    Example:
      digest subscribers add ana@example.com --stack python --role data --timezone Europe/Lisbon --confirmed
    """
    data = _subscriber_in(email=email, **opts)
    with app.session() as s:
        sub, _ = subs.upsert(s, data, app.taxonomy, app.settings, app.clock(), update=False, source="cli")
        s.commit()
        click.echo(f"added {sub.email} ({sub.status})")
        _confirm_pending(app, s)


@subscribers.command("update")
@_preference_options("'any' clears")
@click.option("--hide-no-salary/--show-no-salary", default=None, help="Skip listings that give no salary, or not.")
@pass_app
def subscribers_update(app: Runtime, email, **opts):
    """Change only the preferences given; everything else stays.

    \b
    Example:
      digest subscribers update ana@example.com --level senior --region any --cadence fortnightly
    """
    data = _subscriber_in(email=email, **opts)
    with app.session() as s:
        subs.get(s, email)  # only someone who exists: update never adds
        changed: list[str] = []
        sub, _ = subs.upsert(s, data, app.taxonomy, app.settings, app.clock(), changed=changed, source="cli")
        if changed:
            audit.record(s, app.clock(), "subscribers update", "subscriber", sub.email, changed=changed)
        s.commit()
        click.echo(f"updated {sub.email}: {', '.join(changed)}" if changed else f"no change for {sub.email}")


def _subscriber_in(**values) -> subs.SubscriberIn:
    from pydantic import ValidationError

    from .validation import describe_errors

    data = {k: v for k, v in values.items() if v not in (None, ())}
    for name in ("stack", "level", "region", "role", "employer"):
        if name in data:
            data[name] = list(data[name])
    try:
        return subs.SubscriberIn.model_validate(data)
    except ValidationError as e:
        raise InputError(describe_errors(e)) from e


def _confirm_pending(app: Runtime, session: Session) -> None:
    """Double opt-in: whoever is pending and was never asked gets the confirmation mail now."""
    from .notices import confirm_pending

    sent = confirm_pending(session, app.settings, app.taxonomy, app.transport, app.clock())
    if sent:
        click.echo(f"sent {sent} confirmation mail{'s' if sent != 1 else ''} (pending until confirmed)")


@subscribers.command("revoke-links")
@click.argument("email")
@pass_app
def subscribers_revoke(app: Runtime, email: str):
    """Invalidate every preferences and confirmation link sent to this person (unsubscribe links keep working).

    \b
    Example:
      digest subscribers revoke-links ana@example.com
    """
    from .lifecycle import revoke_links

    with app.session() as s:
        sub = subs.get(s, email)
        revoke_links(sub, app.clock())
        audit.record(s, app.clock(), "subscribers revoke-links", "subscriber", sub.email)
        s.commit()
        click.echo(f"revoked the outstanding links of {sub.email}; new emails carry new links")


@subscribers.command("import")
@click.argument("path")
@pass_app
def subscribers_import(app: Runtime, path: str):
    """Import subscribers from CSV or JSON Lines ('-' reads stdin).

    \b
    Example:
      digest subscribers import subscribers.csv
    """
    with app.session() as s:
        report = subs.import_subscribers(s, path, app.taxonomy, app.settings, app.clock())
    for bad in report.rejected:
        click.echo(f"{path}: {bad}", err=True)
    click.echo(f"imported {report.added + report.updated} subscribers ({report.added} new, {report.updated} updated); "
               f"{len(report.rejected)} rejected")
    if report.updated:
        fields = ", ".join(f"{name} {n}" for name, n in sorted(report.changed.items()))
        click.echo(f"changed for existing subscribers: {fields or 'nothing'} (empty cells keep, 'any' clears)")
    with app.session() as s:
        _confirm_pending(app, s)
    if report.rejected:
        sys.exit(1)


@subscribers.command("list")
@click.option("--status", type=_choices(subs.STATUSES), help="Only this status.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_app
def subscribers_list(app: Runtime, status: str | None, as_json: bool):
    """List subscribers.

    \b
    Example:
      digest subscribers list --status active --json
    """
    now = app.clock()
    with app.session() as s:
        for sub in subs.list_subscribers(s, status, now):
            if as_json:
                click.echo(terminal_json(subs.subscriber_json(sub, now)))
            else:
                click.echo(f"{terminal_text(sub.email)}\t{subs.local_status(sub, now)}\t"
                           f"{terminal_text(','.join(sub.stack) or 'any')}"
                           f"\t{terminal_text(sub.timezone)} {WEEKDAYS[sub.send_day][:3]} {sub.send_hour:02d}:00")


@subscribers.command("show")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_app
def subscribers_show(app: Runtime, email: str, as_json: bool):
    """Show one subscriber's status and preferences.

    \b
    Example:
      digest subscribers show ana@example.com --json
    """
    with app.session() as s:
        sub = subs.get(s, email)
        data = subs.subscriber_json(sub, app.clock())
        data["hidden_companies"] = [row.company for row in listing_feedback.hidden_companies(s, sub.id)]
    if as_json:
        click.echo(terminal_json(data))
    else:
        for k, v in data.items():
            click.echo(f"{k:16} {terminal_text(', '.join(v) if isinstance(v, list) else str(v))}")


@subscribers.command("export")
@click.argument("email")
@pass_app
def subscribers_export(app: Runtime, email: str):
    """Print everything held about one person, as JSON (for access requests).

    \b
    Example:
      digest subscribers export ana@example.com > ana.json
    """
    with app.session() as s:
        from .page_mail import export as page_mail_export

        sub = subs.get(s, email)
        held = subs.export(s, sub, app.clock()) | page_mail_export(s, app.settings, sub)
        click.echo(terminal_json(held, indent=2))


@subscribers.command("remove")
@click.argument("email")
@pass_app
def subscribers_remove(app: Runtime, email: str):
    """Erase one person: their subscription, preferences and delivery history.

    \b
    Example:
      digest subscribers remove ana@example.com
    """
    with app.session() as s:
        sub = subs.get(s, email)
        shown, sub_id = sub.email, sub.id
        suppressed_hash_kept = sub.status in ("suppressed", "unsubscribed")
        subs.remove(s, sub)
        audit.record(s, app.clock(), "subscribers remove", "subscriber",
                     audit.person_ref(app.settings.secret_keys[0], shown), suppression_kept=suppressed_hash_kept)
        s.commit()
    files = _forget_outbox(app.settings, [sub_id])
    click.echo(f"removed {shown} and all data held about them" + (f" ({files} outbox files)" if files else "")
               + ("; a hash of the address stays on the suppression list so it is never mailed again"
                  if suppressed_hash_kept else ""))


def _forget_outbox(settings: Settings, ids: list[int]) -> int:
    """Delete the local outbox copies of mail to these people (data held about them too); return how many files."""
    from .carriers.outbox import OutboxTransport

    return OutboxTransport(settings.outbox_dir).forget(*ids)


@subscribers.command("purge-pending")
@click.option("--days", type=click.IntRange(1, 3650), default=30, show_default=True,
              help="Forget sign-ups unconfirmed for this many days.")
@now_option
@pass_app
def subscribers_purge_pending(app: Runtime, days: int, now: datetime | None):
    """Erase people who signed up but never confirmed (also done by every `digest run`).

    Their lifetime count of confirmation mails stays, as a keyed hash: a purge is no fresh allowance.

    \b
    Example:
      digest subscribers purge-pending --days 30
    """
    click.echo(_purge_pending(app, now or app.clock(), days) or f"no unconfirmed sign-ups older than {days} days")


def _purge_pending(app: Runtime, now: datetime, days: int = 30) -> str | None:
    from .lifecycle import purge_pending

    with app.session() as s:
        ids = purge_pending(s, now, days)
        s.commit()
    files = _forget_outbox(app.settings, ids)
    return None if not ids else (f"purged {len(ids)} unconfirmed sign-up{'s' if len(ids) != 1 else ''} older than {days} days"
            + (f" ({files} outbox files)" if files else ""))


def _run_with_progress(settings: Settings, engine, now: datetime, clock, dry_run: bool = False, workers: int = 1,
                       ignore_guard: bool = False):
    """Run the week with a progress bar on a terminal, then print the summary."""
    from .run import run

    bar = None

    def on_plan(total: int) -> None:
        nonlocal bar
        if not sys.stderr.isatty():  # a bar only on a terminal; logs and pipes get the summary alone
            return
        bar = click.progressbar(length=total, label="subscribers", file=sys.stderr, show_pos=True)
        bar.__enter__()

    try:
        run_id, summary = run(settings, now, dry_run=dry_run, workers=workers, engine=engine, clock=clock,
                              on_plan=on_plan, progress=lambda n: bar.update(n) if bar else None,
                              ignore_guard=ignore_guard, trigger="cli")
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    verb = "would send" if dry_run else "sent"
    click.echo(
        f"{'dry run' if dry_run else 'run ' + run_id[:8]} at {now.isoformat()}: due {summary.due}, {verb} {summary.sent}, "
        f"skipped-empty {summary.skipped_empty}, failed {summary.failed}, "
        f"in progress elsewhere {summary.in_progress_elsewhere}, listings considered {summary.listings_considered}"
    )
    if summary.withdrawn:
        click.echo(f"withdrawn {summary.withdrawn}: unsubscribed or paused after the run read them; not sent")
    if summary.failed:
        click.echo(f"failed by kind: rejected {summary.failed_rejected} (final), throttled {summary.failed_throttled}, "
                   f"unavailable {summary.failed_unavailable} (both due again next run)", err=True)
    if summary.guard:
        click.echo(f"{summary.guard}; everyone not yet sent stays due", err=True)
    elif summary.stopped:
        click.echo(f"stopped early ({summary.stopped}); everyone not yet sent stays due for the next run", err=True)
    if not dry_run and settings.transport == "outbox" and summary.sent:
        click.echo(f"open {Path(settings.outbox_dir, 'index.html').resolve()} to read them")
    return summary


@main.command("run")
@now_option
@click.option("--dry-run", is_flag=True, help="Compose everything, send nothing, write nothing.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True, help="Worker processes.")
@click.option("--ignore-guard", is_flag=True,
              help="Send even while the last 7 days' bounce or complaint rate is above the guard (audited).")
@pass_app
def run_cmd(app: Runtime, now: datetime | None, dry_run: bool, workers: int, ignore_guard: bool):
    """Send the weekly digests that are due.

    Before sending, and before every page of 200 subscribers, the run looks at the bounce and complaint rates of
    the last 7 days (DIGEST_BOUNCE_GUARD, DIGEST_COMPLAINT_GUARD): above either it sends nothing more.

    Exit status: 0 all sent, 2 some messages failed, 3 the carrier stopped the run, 4 the reputation guard
    stopped it (in both, the rest stays due).

    \b
    Example:
      digest run --now 2026-11-23T09:00:00Z --workers 2
    """
    now = now or app.clock()
    summary = _run_with_progress(app.settings, app.engine, now, app.clock, dry_run=dry_run, workers=workers,
                                 ignore_guard=ignore_guard)
    if not dry_run and (purged := _purge_pending(app, now)):
        click.echo(purged)
    if summary.guard:
        sys.exit(4)
    if summary.stopped:
        sys.exit(3)
    if summary.failed:
        sys.exit(2)


@main.command("preview")
@click.argument("email")
@now_option
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="Write here (.html: the HTML part).")
@click.option("--raw", is_flag=True, help="Print the whole message as sent (headers, MIME parts), not the text part.")
@pass_app
def preview_cmd(app: Runtime, email: str, now: datetime | None, out: str | None, raw: bool):
    """Show exactly the digest a subscriber would get, without sending or recording it.

    Prints the text part; --raw the whole message; --out writes it to a file.

    \b
    Example:
      digest preview ana@example.com --out ana.html
    """
    from .preview import html_file, preview, text_part

    with app.session() as s:
        p = preview(s, app.settings, app.taxonomy, email, now or app.clock())
    note = f"{p.email} ({p.status}), week {p.slot.period}: {p.match.total} matching listings"
    if p.already_sent:
        note += " (this week's digest is already recorded)"
    click.echo(note, err=True)
    if p.message is None:
        click.echo(f"nothing matches: no digest would be sent (digest why {p.email} says why)", err=True)
        return
    if out:
        data = html_file(p.message.raw).encode() if out.lower().endswith((".html", ".htm")) else p.message.raw
        Path(out).write_bytes(data)
        click.echo(f"wrote {out}", err=True)
    elif raw:
        sys.stdout.buffer.write(p.message.raw)
    else:
        click.echo(text_part(p.message.raw))


@main.command("test-send")
@click.argument("email")
@click.option("--to", "to", required=True, help="Address that receives the test copy.")
@now_option
@pass_app
def test_send_cmd(app: Runtime, email: str, to: str, now: datetime | None):
    """Send a subscriber's digest to ADDRESS with a [TEST] subject; nothing is recorded.

    \b
    Example:
      digest test-send ana@example.com --to me@example.com
    """
    from .preview import test_send

    transport = app.transport
    with app.session() as s:
        p, sent_id = test_send(s, app.settings, app.taxonomy, transport, email, to, now or app.clock())
    click.echo(f"sent test of {p.email}'s digest ({len(p.match.listings)} listings) to {p.message.to} via "
               f"{transport.name}: {sent_id}")


@main.group(cls=DigestGroup)
def db_group():
    """Database schema.

    \b
    Example:
      DIGEST_DATABASE_URL=postgresql+psycopg://app@db/jobs digest db upgrade
    """


main.add_command(db_group, "db")


@db_group.command("upgrade")
@pass_app
def db_upgrade(app: Runtime):
    """Apply the schema migrations (Alembic) to the configured database.

    \b
    Example:
      digest db upgrade
    """
    engine = db.make_engine(app.settings.database_url)
    try:
        rev = db.upgrade(engine)
    except OperationalError as e:
        raise InputError(f"cannot reach the database: {str(e.orig).strip().splitlines()[0]}") from e
    click.echo(f"database at revision {rev}")


@main.command("audit")
@click.option("--limit", type=click.IntRange(1), default=50, show_default=True, help="Newest entries to show.")
@click.option("--target", help="Only entries about this address, board id or hash.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_app
def audit_cmd(app: Runtime, limit: int, target: str | None, as_json: bool):
    """Operator actions that changed a person, a listing or a list entry, newest first.

    A removed person is named by a keyed hash; --target with their address still finds them.

    \b
    Example:
      digest audit --target ana@example.com
    """
    with app.session() as s:
        rows = audit.entries(s, limit=limit, target=target, secrets=app.settings.secret_keys)
    for e in rows:
        if as_json:
            click.echo(json.dumps(audit.entry_json(e)))
        else:
            detail = " ".join(f"{k}={v}" for k, v in sorted(e.detail.items()))
            click.echo(f"{e.at:%Y-%m-%d %H:%M:%S}Z  {e.actor}  {e.command}  {e.target_kind} {e.target}"
                       + (f"  {detail}" if detail else ""))
    if not rows and not as_json:
        click.echo("no audited actions" + (f" for {target}" if target else ""))


@main.command("demo")
@now_option
@click.option("--database", default="sqlite:///demo.db", show_default=True, help="Database the demo (re)creates.")
@pass_app
def demo_cmd(app: Runtime, now: datetime | None, database: str):
    """Load the sample board and subscribers, and run the sample week into the outbox.

    \b
    Example:
      digest demo && xdg-open outbox/index.html
    """
    from .demo import SAMPLE_NOW, prepare_demo

    now = now or SAMPLE_NOW
    settings, engine, report = prepare_demo(app.settings, database, now)
    for line in report:
        click.echo(line)
    _run_with_progress(settings, engine, now, app.clock)


@main.command("feedback")
@click.argument("path")
@pass_app
def feedback_cmd(app: Runtime, path: str):
    """Apply SES bounce and complaint notifications saved in a file ('-' reads stdin).

    The file is a JSON array, JSON Lines or one JSON object; each item is a Lambda SNS event or record, an SNS
    notification body, or a bare SES notification (identity notifications or configuration-set events).
    Permanent bounces and complaints suppress the address at once, transient bounces after 3 - but only about a
    mail this service sent to that address (its SES message id is in the ledger); anything else is dropped.

    \b
    Example:
      digest feedback ses-notifications.jsonl
    """
    from .feedback import feedback_file

    with app.session() as s:
        report = feedback_file(s, path, app.clock(), app.settings.secret_keys[0])
        s.commit()
    for bad in report.skipped:
        click.echo(f"{path}: {bad.where}: skipped: {bad.reason}", err=True)
    click.echo(f"{path}: {report.summary()}")


main.add_command(do_not_contact)
main.add_command(suppressions_group)
main.add_command(why_command)
main.add_command(runs_command)
main.add_command(stats_command)
listings.add_command(listings_expire)
listings.add_command(listings_remove)


def _plugin_commands() -> None:
    """Add commands other packages register (the web app's `serve`): digest itself never imports them."""
    from importlib.metadata import entry_points

    for ep in entry_points(group="jobdigest.commands"):
        if ep.name not in main.commands:
            main.add_command(ep.load(), ep.name)


_plugin_commands()
