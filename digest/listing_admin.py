"""An operator takes a listing out: `expire` (it leaves every later digest, the row stays) or `remove` (the row
goes). Both are audited (digest.audit) in the caller's transaction.

What refers to a listing is kept consistent by design rather than by deleting: the ledger's history and the
"not for me" rows name the board's id and repost key, not the row, so they outlive it (a removed job the board
exports again is still never sent twice, nor to someone who turned it down); a feedback link to a removed row
answers that the listing is gone; hidden companies are by company. Neither command stops the board: an
import that carries the listing again with new content updates (or re-adds) it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from . import audit
from .errors import NotFoundError
from .models import Delivery, Listing, NotForMe


@dataclass(frozen=True)
class Taken:
    board_id: str
    title: str
    company: str
    was_expiring: datetime | None  # expire: the expiry it had before


def _get(session: Session, board_id: str) -> Listing:
    listing = session.scalar(select(Listing).where(Listing.board_id == board_id))
    if listing is None:
        raise NotFoundError(f"no listing with id {board_id}")
    return listing


def expire(session: Session, board_id: str, now: datetime) -> Taken:
    """Set the listing's expiry to `now`: no digest planned after this carries it. The caller commits."""
    listing = _get(session, board_id)
    before = listing.expires_at
    # The import fingerprint stays: the board sending the same record again does not bring it back; a record with
    # something new does (the board's say on its own listing).
    listing.expires_at, listing.updated_at = now, now
    audit.record(session, now, "listings expire", "listing", board_id, title=listing.title, company=listing.company,
                 expires_at_before=before.isoformat() if before else None)
    return Taken(board_id, listing.title, listing.company, before)


def remove(session: Session, board_id: str, now: datetime) -> tuple[Taken, int, int]:
    """Delete the listing's row; return it with how many sent digests and "not for me" rows still name it (kept:
    history against repeats, and the subscriber's choice). The caller commits."""
    listing = _get(session, board_id)
    turned_down = session.scalar(select(func.count()).select_from(NotForMe).where(NotForMe.board_id == board_id))
    carried = _digests_carrying(session, board_id)
    audit.record(session, now, "listings remove", "listing", board_id, title=listing.title, company=listing.company,
                 digests_kept=carried, not_for_me_kept=turned_down)
    session.delete(listing)
    return Taken(board_id, listing.title, listing.company, listing.expires_at), carried, turned_down or 0


def _digests_carrying(session: Session, board_id: str) -> int:
    """Sent digests whose listings name this board id (a JSON column: read and counted here, both databases)."""
    q = select(Delivery.listings).where(Delivery.status == "sent", Delivery.listings.is_not(None))
    return sum(1 for (listings,) in session.execute(q.execution_options(yield_per=5000))
               if any(b == board_id for b, _k in listings))
