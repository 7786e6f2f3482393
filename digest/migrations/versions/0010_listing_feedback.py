"""per-job feedback from digest cards: "not for me" (with a reason) and hidden companies

Each card links to /feedback/{token}; a POST there records that the job (and its reposts) is not for this
subscriber, or that its company is hidden from every later digest. The unique constraints lead with the
subscriber, which is how the weekly run reads them (a page of subscribers at a time).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

import digest.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "not_for_me",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("board_id", sa.String(length=100), nullable=False),
        sa.Column("repost_key", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=True),
        sa.Column("created_at", digest.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"],
                                name=op.f("fk_not_for_me_subscriber_id_subscribers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_not_for_me")),
        sa.UniqueConstraint("subscriber_id", "board_id", name="uq_not_for_me_subscriber_board"),
    )
    op.create_table(
        "hidden_companies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("company_key", sa.String(length=300), nullable=False),
        sa.Column("company", sa.String(length=300), nullable=False),
        sa.Column("created_at", digest.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"],
                                name=op.f("fk_hidden_companies_subscriber_id_subscribers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hidden_companies")),
        sa.UniqueConstraint("subscriber_id", "company_key", name="uq_hidden_companies_subscriber_company"),
    )


def downgrade() -> None:
    op.drop_table("hidden_companies")
    op.drop_table("not_for_me")
