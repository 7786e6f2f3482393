"""rate limits per client: counted requests under a keyed hash of the client IP

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

import digest.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_hits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("scope", sa.String(length=20), nullable=False),
        sa.Column("client_hash", sa.String(length=64), nullable=False),
        sa.Column("at", digest.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_limit_hits")),
    )
    op.create_index("ix_rate_limit_hits_client", "rate_limit_hits", ["scope", "client_hash", "at"])
    op.create_index(op.f("ix_rate_limit_hits_at"), "rate_limit_hits", ["at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_rate_limit_hits_at"), table_name="rate_limit_hits")
    op.drop_index("ix_rate_limit_hits_client", table_name="rate_limit_hits")
    op.drop_table("rate_limit_hits")
