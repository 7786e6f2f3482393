"""`digest demo`: the sample board's week, from files to an outbox anyone can open."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Callable

import click
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from . import db
from .listings import import_listings
from .run import run
from .settings import Settings
from .subscribers import import_subscribers
from .taxonomy import load_taxonomy

SAMPLE = Path(__file__).resolve().parent / "sample"
SAMPLE_NOW = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # the end of the sample data's week


def run_demo(settings: Settings, database: str, now: datetime | None, clock: Callable[[], datetime],
             echo: Callable[[str], None]) -> None:
    """Recreate the demo database, import the samples and run the week at `now`."""
    url = make_url(database)
    if url.get_backend_name() == "sqlite" and url.database:
        for suffix in ("", "-wal", "-shm"):
            Path(url.database + suffix).unlink(missing_ok=True)
    settings = settings.with_(database_url=database)
    engine = db.make_engine(database)
    db.upgrade(engine)
    tax = load_taxonomy()
    now = now or SAMPLE_NOW
    with Session(engine) as s:
        report = import_listings(s, str(SAMPLE / "listings.jsonl"), tax, now)
        echo(f"listings: {report.imported} imported, {len(report.rejected)} rejected")
        # The sample list is an existing, consented list that joined before the sample week.
        subs = import_subscribers(s, str(SAMPLE / "subscribers.csv"), tax, settings, now - timedelta(days=14))
        echo(f"subscribers: {subs.added} imported, {len(subs.rejected)} rejected")
    for bad in report.rejected + subs.rejected:
        echo(f"  rejected {bad}")
    with click.progressbar(length=0, label="sending", file=sys.stderr) as bar:
        bar.length = None
        run_id, summary = run(settings, now, engine=engine, clock=clock, progress=bar.update)
    echo(
        f"week of {now:%Y-%m-%d}: {summary.sent} digests sent, {summary.skipped_empty} subscribers had no new "
        f"matches, {summary.failed} failed, {summary.listings_considered} listings considered"
    )
    echo(f"open {Path(settings.outbox_dir, 'index.html').resolve()} to read them")
