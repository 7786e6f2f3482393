"""subscribers.roles, employers, cadence and unsubscribe_reason: the subscriber's say over which jobs, how often,
and why they left

Role type and employer type were facets of listings only; subscribers can now choose them (empty = any, like
stack). Cadence is weekly or fortnightly; its anchor is not stored but read from the ledger (the week of the
first sent digest), so existing rows need nothing but the defaults: any role, any employer, weekly. The
unsubscribe page's optional reason is kept with the unsubscribe.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


COLUMNS = ("roles", "employers", "cadence", "unsubscribe_reason")


# Plain ALTER TABLE, no batch copy: on SQLite (3.35+ drops columns in place) copying `subscribers` would drop the
# old table, and its ON DELETE CASCADE would empty the delivery ledger with it.
def upgrade() -> None:
    # Existing rows start as they were served: any role, any employer, every week.
    op.add_column("subscribers", sa.Column("roles", sa.JSON(), server_default="[]", nullable=False))
    op.add_column("subscribers", sa.Column("employers", sa.JSON(), server_default="[]", nullable=False))
    op.add_column("subscribers", sa.Column("cadence", sa.String(length=20), server_default="weekly", nullable=False))
    op.add_column("subscribers", sa.Column("unsubscribe_reason", sa.String(length=20), nullable=True))


def downgrade() -> None:
    for name in reversed(COLUMNS):
        op.drop_column("subscribers", name)
