"""listings.available_at: when a listing became available to digests, so windows are by availability

Windows were by the board's verified_at: a listing verified at 07:30 whose export arrived at 10:00 was never new
to the people whose digest went out in between. A listing is available from the later of verified_at and the
first import that held it verified. Rows from before this revision are backfilled from what they know: the
first import (imported_at) stands for the first time we held it, and a listing verified more than four weeks
before that keeps its old verified_at (never new: a first bulk import must not flood anyone). The rule is
written out here as it stood, so this revision means the same thing after the code moves on.

Revision ID: 0008
Revises: 0007
"""

from datetime import UTC, timedelta

import sqlalchemy as sa
from alembic import op

from digest.models import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

STALE_ON_ARRIVAL = timedelta(weeks=4)


def upgrade() -> None:
    with op.batch_alter_table("listings") as batch:
        batch.add_column(sa.Column("available_at", UTCDateTime(timezone=True), nullable=True))
        batch.create_index("ix_listings_available_at", ["available_at"], unique=False)
    listings = sa.table("listings", sa.column("id", sa.Integer), sa.column("verified", sa.Boolean),
                        sa.column("verified_at", UTCDateTime(timezone=True)),
                        sa.column("imported_at", UTCDateTime(timezone=True)),
                        sa.column("available_at", UTCDateTime(timezone=True)))
    conn = op.get_bind()
    rows = conn.execute(sa.select(listings.c.id, listings.c.verified_at, listings.c.imported_at)
                        .where(listings.c.verified.is_(True), listings.c.verified_at.is_not(None)))
    updates = [{"rid": rid, "at": _available(_aware(verified), _aware(imported))} for rid, verified, imported in rows]
    if updates:
        conn.execute(listings.update().where(listings.c.id == sa.bindparam("rid"))
                     .values(available_at=sa.bindparam("at")), updates)


def _available(verified_at, held_at):
    return verified_at if held_at - verified_at > STALE_ON_ARRIVAL else max(verified_at, held_at)


def _aware(value):
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def downgrade() -> None:
    with op.batch_alter_table("listings") as batch:
        batch.drop_index("ix_listings_available_at")
        batch.drop_column("available_at")
