"""Listings in: validate raw records, normalise them into facets, upsert by the board's id."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable, Iterator

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from .importing import save_batch
from .listing_parse import PARALLEL_MIN, Unchanged, parse_records
from .listing_record import OPTIONAL, REQUIRED
from .models import Listing
from .readers import Rejected, Warned, read_records
from .taxonomy import Taxonomy

BATCH = 500
# A listing the board verified longer ago than this before we first held it is never new to anyone: a first bulk
# import (or a board's back catalogue) must not flood digests. Equal to run.MAX_WINDOW, so such a listing's
# availability (its old verified_at) lies before every window.
STALE_ON_ARRIVAL = timedelta(weeks=4)


def availability(verified_at: datetime, held_at: datetime, previous: datetime | None = None) -> datetime:
    """When a verified listing becomes available to digests: the later of the board's verified_at and the moment
    we first held it verified (`previous`, the stored availability, when an earlier import did; else `held_at`).

    A listing verified at 07:30 whose export arrives at 10:00 is new to everyone whose digest went out in between,
    next time. One verified more than STALE_ON_ARRIVAL before it arrived keeps its old time: never new.
    """
    first_held = previous or held_at
    if previous is None and held_at - verified_at > STALE_ON_ARRIVAL:
        return verified_at
    return max(verified_at, first_held)


@dataclass
class ImportReport:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    warnings: list[Warned] = field(default_factory=list)

    @property
    def imported(self) -> int:
        return self.inserted + self.updated + self.unchanged


def import_listings(session: Session, path: str, taxonomy: Taxonomy, now: datetime, workers: int = 1,
                    parallel_min: int = PARALLEL_MIN, clock: Callable[[], datetime] | None = None) -> ImportReport:
    """Import a listings file; good records land (in batches) even when others are rejected.

    `clock` (the wall clock; default: `now` throughout) is read for each batch: a listing is held from the moment
    its batch lands, so an import that runs across a digest run does not date its late batches before that run.
    """
    report = ImportReport()
    held = clock or (lambda: now)
    batch: list[tuple[int, dict]] = []

    def stored(ids: list[str]) -> dict[str, str | None]:
        return dict(session.execute(select(Listing.board_id, Listing.fingerprint).where(Listing.board_id.in_(ids))).all())

    for item in parse_records(read_records(path, REQUIRED + OPTIONAL), taxonomy, workers=workers,
                              parallel_min=parallel_min, stored=stored):
        if isinstance(item, Unchanged):
            report.unchanged += 1
        elif isinstance(item, Rejected):
            report.rejected.append(item)
        elif isinstance(item, Warned):
            report.warnings.append(item)
        else:
            batch.append(item)
            if len(batch) >= BATCH:
                _save(session, batch, held(), report)
                batch = []
    if batch:
        _save(session, batch, held(), report)
    report.rejected.sort(key=lambda r: r.line)
    return report


def _save(session: Session, batch: list[tuple[int, dict]], now: datetime, report: ImportReport) -> None:
    """Upsert a batch in one transaction, or record by record when the database refuses it (importing)."""
    def refused(line: int, cols: dict, reason: str) -> None:
        report.rejected.append(Rejected(line, f"the database refused it: {reason}", cols["board_id"]))

    for counts in save_batch(session, batch, lambda rows: _upsert(session, rows, now), refused):
        report.inserted += counts["inserted"]
        report.updated += counts["updated"]
        report.unchanged += counts["unchanged"]


def _upsert(session: Session, batch: list[dict], now: datetime) -> dict[str, int]:
    """Insert the new listings and update the changed ones of a batch, in bulk statements (no ORM objects:
    an import of 100,000 listings spends its time reading them, not tracking them)."""
    counts = {"inserted": 0, "updated": 0, "unchanged": 0}
    table = Listing.__table__
    existing = {r.board_id: r for r in session.execute(
        select(table.c.id, table.c.board_id, table.c.verified, table.c.verified_at, table.c.available_at,
               table.c.fingerprint)
        .where(table.c.board_id.in_([c["board_id"] for c in batch])))}
    new, changed = [], []
    for given in batch:
        cols = dict(given)  # kept intact, so a batch the database refused can be retried
        given_verified_at = cols.pop("_verified_at")
        row = existing.get(cols["board_id"])
        if cols["verified"]:
            # When the board does not say when it verified, the first import that sees it verified does.
            cols["verified_at"] = given_verified_at or (row.verified_at if row and row.verified else None) or now
            cols["available_at"] = availability(cols["verified_at"], now, row.available_at if row else None)
        else:
            # Kept while not verified: a listing verified again with its old date is not new again.
            cols["verified_at"], cols["available_at"] = None, row.available_at if row else None
        if row is None:
            new.append(cols | {"imported_at": now, "updated_at": now})
        elif (row.fingerprint != cols["fingerprint"] or row.verified_at != cols["verified_at"]
              or row.available_at != cols["available_at"]):
            changed.append(cols | {"id": row.id, "updated_at": now})
        else:
            counts["unchanged"] += 1
    if new:
        session.execute(insert(table), new)  # Core: one executemany (the ORM would split rows by their None keys)
    if changed:
        session.execute(update(Listing), changed)  # by primary key, one executemany
    counts["inserted"], counts["updated"] = len(new), len(changed)
    return counts


def list_listings(session: Session, verified_only: bool = False) -> Iterator[Listing]:
    """Stream the listings, newest posted first (then by the board's id), optionally only the verified ones."""
    q = select(Listing).order_by(Listing.posted_at.desc(), Listing.board_id)
    if verified_only:
        q = q.where(Listing.verified.is_(True))
    yield from session.scalars(q.execution_options(yield_per=1000))


def listing_json(listing: Listing) -> dict:
    """The normalised listing as `digest listings list --json` prints it."""
    iso = lambda d: d.isoformat().replace("+00:00", "Z") if d else None  # noqa: E731
    return {
        "id": listing.board_id, "title": listing.title, "company": listing.company, "url": listing.url,
        "verified": listing.verified, "verified_at": iso(listing.verified_at), "available_at": iso(listing.available_at),
        "posted_at": iso(listing.posted_at),
        "expires_at": iso(listing.expires_at), "stack": list(listing.stack), "level": listing.level,
        "regions": list(listing.regions),
        "location": listing.location, "salary_min": listing.salary_min, "salary_max": listing.salary_max,
        "salary_currency": listing.salary_currency, "salary_period": listing.salary_period,
        "employer_type": listing.employer_type, "role_type": listing.role_type,
    }
