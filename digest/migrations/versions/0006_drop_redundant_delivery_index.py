"""drop ix_deliveries_subscriber_status: the unique (subscriber_id, period) index serves every lookup by subscriber

Each claimed digest wrote three index entries; the ledger's queries (this week's row, the last cutoff, the
listings sent before, a person's export) all start from a set of subscriber ids, which the unique index already
leads with. One fewer index is less work on every claim and every sent mark (issue 6).

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_deliveries_subscriber_status", table_name="deliveries")


def downgrade() -> None:
    op.create_index("ix_deliveries_subscriber_status", "deliveries", ["subscriber_id", "status"], unique=False)
