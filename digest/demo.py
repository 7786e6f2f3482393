"""`digest demo`: the sample board's week, from files to an outbox anyone can open."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from . import db
from .listings import import_listings
from .notices import confirm_pending
from .run import FIRST_WINDOW
from .carriers.choose import make_transport
from .settings import Settings
from .subscribers import import_subscribers
from .taxonomy import load_taxonomy

SAMPLE = Path(__file__).resolve().parent / "sample"
SAMPLE_NOW = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # the end of the sample data's week


def prepare_demo(settings: Settings, database: str, now: datetime) -> tuple[Settings, Engine, list[str]]:
    """Recreate the demo database and import the samples; return the settings to run with and a report."""
    url = make_url(database)
    if url.get_backend_name() == "sqlite" and url.database:
        for suffix in ("", "-wal", "-shm"):
            Path(url.database + suffix).unlink(missing_ok=True)
    settings = settings.with_(database_url=database)
    engine = db.make_engine(database)
    db.upgrade(engine)
    taxonomy = load_taxonomy()
    with Session(engine) as s:
        # The sample board has fed us all along: its export is held from the start of the sample week, so each
        # listing is available from when the board verified it, and what it verified before is not new.
        listings = import_listings(s, str(SAMPLE / "listings.jsonl"), taxonomy, now - FIRST_WINDOW)
        # The sample list is an existing, consented list that joined before the sample week.
        people = import_subscribers(s, str(SAMPLE / "subscribers.csv"), taxonomy, settings, now - timedelta(days=14))
        confirmations = confirm_pending(s, settings, taxonomy, make_transport(settings), now)
    lines = [
        f"listings: {listings.imported} imported from {SAMPLE / 'listings.jsonl'}, {len(listings.rejected)} rejected",
        f"subscribers: {people.added} imported from {SAMPLE / 'subscribers.csv'}, {len(people.rejected)} rejected",
    ]
    lines.append(f"confirmation mails: {confirmations} sent to the subscribers who have not confirmed yet")
    lines += [f"  rejected {bad}" for bad in listings.rejected + people.rejected]
    return settings, engine, lines
