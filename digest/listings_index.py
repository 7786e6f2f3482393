"""Load the listings eligible at `now` into the matching index (one query per run and process)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from .matching import IndexedListing, ListingIndex
from .models import Listing
from .normalise import annual_usd
from .taxonomy import Taxonomy

_COLS = (
    Listing.board_id, Listing.title, Listing.company, Listing.url, Listing.stack, Listing.level, Listing.regions,
    Listing.location, Listing.salary_display, Listing.salary_min, Listing.salary_max, Listing.salary_currency,
    Listing.verified_at, Listing.available_at, Listing.posted_at, Listing.repost_key, Listing.role_type,
    Listing.employer_type, Listing.id,
)


def eligible(now: datetime, window: timedelta) -> list[tuple[str, ColumnElement[bool]]]:
    """What a listing must be to enter the index at `now`, as (rule, SQL condition): the index's query, and the
    rule `digest why` names for a listing left out of it."""
    return [
        ("not verified", Listing.verified.is_(True)),
        ("expired", or_(Listing.expires_at.is_(None), Listing.expires_at > now)),
        ("not available yet", Listing.available_at <= now),
        ("before the window", Listing.available_at > now - window),
    ]


def left_out(session: Session, listing_id: int, now: datetime, window: timedelta) -> str | None:
    """The first rule that keeps this listing out of the index at `now` (None: it is in)."""
    rules = eligible(now, window)
    passed = session.execute(select(*(cond for _rule, cond in rules)).where(Listing.id == listing_id)).one()
    return next((rule for (rule, _cond), ok in zip(rules, passed) if not ok), None)


def load_index(session: Session, now: datetime, taxonomy: Taxonomy, window: timedelta) -> ListingIndex:
    """Index every verified listing that became available in (now - window, now] and is not expired at `now`."""
    q = select(*_COLS).where(*(cond for _rule, cond in eligible(now, window)))
    return ListingIndex(
        IndexedListing(
            board_id=r.board_id, title=r.title, company=r.company, url=r.url, stack=tuple(r.stack),
            level=r.level, regions=tuple(r.regions), location=r.location, salary_display=r.salary_display,
            usd_max=annual_usd(r.salary_max or r.salary_min, r.salary_currency, taxonomy) if r.salary_currency else None,
            verified_at=r.verified_at, available_at=r.available_at, posted_at=r.posted_at, repost_key=r.repost_key,
            role_type=r.role_type, employer_type=r.employer_type, listing_id=r.id,
        )
        for r in session.execute(q)
    )
