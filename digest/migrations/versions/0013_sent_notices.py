"""sent notices: the confirmation mails this service sent, by SES message id, so SES feedback is matched to them

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

import digest.models

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sent_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.Column("transport_id", sa.String(length=255), nullable=True),
        sa.Column("sent_at", digest.models.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"],
                                name=op.f("fk_sent_notices_subscriber_id_subscribers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sent_notices")),
    )
    op.create_index(op.f("ix_sent_notices_subscriber_id"), "sent_notices", ["subscriber_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_sent_notices_subscriber_id"), table_name="sent_notices")
    op.drop_table("sent_notices")
