"""The operator's questions as commands: `digest why`, `digest runs`, `digest stats`, `digest listings
expire|remove`. Thin: each parses, calls one core function (digest.why, digest.runs, digest.stats,
digest.listing_admin) and prints its answer."""

from __future__ import annotations

import json
from datetime import datetime

import click

from .cli import App, now_option, pass_app, terminal_json, terminal_text


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
def why_command(app: App, email: str, board_id: str | None, now: datetime | None, as_json: bool):
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
        w = why(s, app.settings, app.tax, email, now or app.clock(), board_id)
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
                 + (" (that run's plan)" if w.as_of != w.since and rec is not None and w.as_of == rec.cutoff else ""))
    if w.listing is not None:
        l = w.listing
        if w.listing_rule:
            lines.append(f"{l.board_id} {l.title} — {l.company}: kept out: {w.listing_rule}")
        for v in w.verdicts:
            lines.append(f"{l.board_id} {l.title} — {l.company}: "
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
