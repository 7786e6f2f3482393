"""The operator's questions as commands: `digest why`, `digest runs`, `digest stats`, `digest listings
expire|remove`. Thin: each parses, calls one core function (digest.why, digest.runs, digest.stats,
digest.listing_admin) and prints its answer."""

from __future__ import annotations

import json
from datetime import datetime

import click

from .cli_support import now_option, pass_app, terminal_json, terminal_text
from .runtime import Runtime


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat().replace("+00:00", "Z")


def _short(when: datetime) -> str:
    return f"{when:%Y-%m-%d %H:%M}Z"


# --- why ---------------------------------------------------------------------------------------------------

@click.command("why")
@click.argument("email")
@click.option("--listing", "board_id", metavar="ID", help="Explain only this listing (the board's id).")
@now_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_app
def why_command(app: Runtime, email: str, board_id: str | None, now: datetime | None, as_json: bool):
    """Say whether a subscriber is due at a time and why each listing is or is not in their digest.

    For every listing of the week: its rank in the digest, or the first rule
    that kept it out (not verified, expired, before the window, already sent,
    repost, stack, level, role, employer, region, salary floor, not for me,
    hidden company, same job, company cap, over the cap). When this week's
    digest is already recorded, the answer is the plan of the run that made it.

    \b
    Example:
      digest why ana@example.com --listing rok-1042 --now 2026-11-23T09:00:00Z
    """
    from .why import why

    with app.session() as s:
        w = why(s, app.settings, app.taxonomy, email, now or app.clock(), board_id)
    if as_json:
        click.echo(terminal_json(_why_json(w)))
        return
    for line in _why_lines(w):
        click.echo(terminal_text(line))


def _why_json(w) -> dict:
    rec = w.recorded
    return {
        "email": w.email, "status": w.status, "period": w.slot.period, "slot_at": _iso(w.slot.at), "due": w.due,
        "not_due": w.not_due, "as_of": _iso(w.as_of), "window_start": _iso(w.since), "total": w.total,
        "recorded": None if rec is None else {"status": rec.status, "run_id": rec.run_id, "cutoff": _iso(rec.cutoff),
                                              "listings": rec.listings},
        "listings": [{"id": v.listing.board_id, "title": v.listing.title, "company": v.listing.company,
                      "rank": v.rank, "rule": v.rule} for v in w.verdicts]
                    + ([{"id": w.listing.board_id, "title": w.listing.title, "company": w.listing.company,
                         "rank": None, "rule": w.listing_rule}] if w.listing is not None and w.listing_rule else []),
    }


def _why_lines(w) -> list[str]:
    lines = [f"{w.email} ({w.status}), week {w.slot.period}, slot {_short(w.slot.at)}"]
    if w.due:
        lines.append("due now: the run would plan their digest as below")
    else:
        lines.append("not due: " + "; ".join(w.not_due))
    rec = w.recorded
    if rec is not None:
        lines.append(f"recorded this week: {rec.status} by run {rec.run_id[:8]} at {_short(rec.cutoff)}"
                     + (f", {len(rec.listings)} listings" if rec.listings else "")
                     + (f" ({rec.error})" if rec.error else ""))
    lines.append(f"window: listings available after {_short(w.since)} up to {_short(w.as_of)}"
                 + (f" (as run {rec.run_id[:8]} planned it)" if rec is not None and w.as_of == rec.cutoff else ""))
    if w.listing is not None:
        listing = w.listing
        if w.listing_rule:
            lines.append(f"{listing.board_id} {listing.title} — {listing.company}: kept out: {w.listing_rule}")
        for v in w.verdicts:
            lines.append(f"{listing.board_id} {listing.title} — {listing.company}: "
                         + (f"in the digest at #{v.rank}" if v.rank else f"kept out: {v.rule}"))
        return lines
    shown = [v for v in w.verdicts if v.rank]
    lines.append(f"{w.total} job{'s' if w.total != 1 else ''} fit; the digest shows {len(shown)}")
    lines += [f"  #{v.rank:<3} {v.listing.board_id}  {v.listing.title} — {v.listing.company}" for v in shown]
    out = [v for v in w.verdicts if not v.rank]
    if out:
        lines.append("kept out:")
        lines += [f"  {v.listing.board_id}  {v.rule}  ({v.listing.title} — {v.listing.company})" for v in out]
    return lines


# --- runs --------------------------------------------------------------------------------------------------

@click.command("runs")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True, help="Newest runs to show.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@pass_app
def runs_command(app: Runtime, limit: int, as_json: bool):
    """Past runs, newest first: when, for which --now, who started it, what it did and how it ended.

    Trigger is cli (digest run), schedule (the hourly Lambda, inline or
    dispatched to the queue) or worker (the queue's shards, added to their run).

    \b
    Example:
      digest runs --limit 5
    """
    from .runs import recent

    with app.session() as s:
        views = recent(s, limit)
    for v in views:
        click.echo(json.dumps(v.to_json()) if as_json else _run_line(v))
    if not views and not as_json:
        click.echo("no runs recorded yet (a dry run records nothing)")


def _run_line(v) -> str:
    c = v.counts
    ended = {"finished": "finished", "running": "still running (or killed)", "failed": f"FAILED ({v.error})",
             "stopped": f"STOPPED early ({v.stopped}); the rest stays due"}.get(v.status, v.status)
    if v.shards is not None and v.status == "dispatched":
        ended = f"dispatched to {v.shards} shards, {v.shards_done} reported"
    took = f" in {v.duration_s:g} s" if v.duration_s is not None else ""
    failed = (f" (rejected {c['failed_rejected']}, throttled {c['failed_throttled']}, "
              f"unavailable {c['failed_unavailable']})" if c["failed"] else "")
    return (f"{_short(v.started_at)}  run {v.id[:8]}  now {_short(v.now)}  {v.trigger or '?'}  {ended}{took}: "
            f"due {c['due']}, sent {c['sent']}, empty {c['skipped_empty']}, failed {c['failed']}{failed}, "
            f"withdrawn {c['withdrawn']}, in progress elsewhere {c['in_progress_elsewhere']}")


# --- stats -------------------------------------------------------------------------------------------------

SHOWN_LISTINGS = 10  # listings `stats` prints by reach, and unreached ones (--json has them all)


@click.command("stats")
@click.option("--weeks", type=click.IntRange(1, 520), default=8, show_default=True, help="ISO weeks to show.")
@now_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (every listing included).")
@pass_app
def stats_command(app: Runtime, weeks: int, now: datetime | None, as_json: bool):
    """Per ISO week: digests sent, skipped empty, failed; bounces, complaints,
    unsubscribes by reason, "not for me" by reason, hidden companies, active
    subscribers. Then how many digests carried each listing, and the listings
    that reached nobody.

    \b
    Example:
      digest stats --weeks 4
    """
    from .stats import stats

    with app.session() as s:
        st = stats(s, now or app.clock(), weeks)
    if as_json:
        click.echo(terminal_json(st.to_json()))
        return
    click.echo(f"{'week':9} {'sent':>6} {'empty':>6} {'failed':>6} {'bounce':>6} {'compl':>6} {'active':>7}"
               "  unsubscribes / not for me / hides")
    for w in st.weeks:
        said = "; ".join(part for part in (
            _by_reason("unsub", w.unsubscribes), _by_reason("not for me", w.not_for_me),
            f"hid {w.hides} companies" if w.hides else "") if part)
        click.echo(f"{w.period:9} {w.sent:>6} {w.skipped_empty:>6} {w.failed:>6} {w.bounces:>6} {w.complaints:>6} "
                   f"{w.active:>7}  {said or '-'}")
    click.echo(f"listings carried: {len(st.reach)}; most carried:")
    for r in st.reach[:SHOWN_LISTINGS]:
        click.echo(terminal_text(f"  {r.digests:>6}  {r.board_id}  {r.title} — {r.company}"))
    click.echo(f"listings that reached nobody: {len(st.unreached)}")
    for r in st.unreached[:SHOWN_LISTINGS]:
        click.echo(terminal_text(f"          {r.board_id}  {r.title} — {r.company}"))
    if len(st.unreached) > SHOWN_LISTINGS:
        click.echo(f"  ... and {len(st.unreached) - SHOWN_LISTINGS} more (--json lists them all)")


def _by_reason(label: str, counts: dict[str, int]) -> str:
    if not counts:
        return ""
    return f"{label} {sum(counts.values())} (" + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ")"


# --- listings expire | remove ----------------------------------------------------------------------------------

@click.command("expire")
@click.argument("board_id", metavar="ID")
@pass_app
def listings_expire(app: Runtime, board_id: str):
    """Take a listing out of every later digest now (its expiry becomes now); audited.

    \b
    Example:
      digest listings expire rok-1042
    """
    from .listing_admin import expire

    with app.session() as s:
        taken = expire(s, board_id, app.clock())
        s.commit()
    click.echo(terminal_text(f"expired {taken.board_id} ({taken.title} — {taken.company}): in no digest from now on"))


@click.command("remove")
@click.argument("board_id", metavar="ID")
@pass_app
def listings_remove(app: Runtime, board_id: str):
    """Delete a listing's row; audited. The history of digests that carried it and
    "not for me" choices stay (by the board's id), so it is never sent twice.

    \b
    Example:
      digest listings remove rok-1042
    """
    from .listing_admin import remove

    with app.session() as s:
        taken, carried, turned_down = remove(s, board_id, app.clock())
        s.commit()
    click.echo(terminal_text(f"removed {taken.board_id} ({taken.title} — {taken.company}); kept: {carried} sent "
                             f"digests' record of it, {turned_down} \"not for me\" (an import that carries it "
                             "again re-adds it)"))
