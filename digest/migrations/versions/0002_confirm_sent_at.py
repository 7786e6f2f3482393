"""remember when the last confirmation mail went out (rate limit per address)

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

import digest.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers") as batch_op:
        batch_op.add_column(sa.Column("confirm_sent_at", digest.models.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscribers") as batch_op:
        batch_op.drop_column("confirm_sent_at")
