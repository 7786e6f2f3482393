"""feedback events: every bounce and complaint SES reported about our mail, for the reputation guard and stats

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

import digest.models

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feedback_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", digest.models.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("email_hash", sa.String(length=64), nullable=True),
        sa.Column("message_id", sa.String(length=255), nullable=True),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"],
                                name=op.f("fk_feedback_events_subscriber_id_subscribers"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_events")),
    )
    op.create_index(op.f("ix_feedback_events_at"), "feedback_events", ["at"], unique=False)
    op.create_index(op.f("ix_feedback_events_subscriber_id"), "feedback_events", ["subscriber_id"], unique=False)
    op.create_index(op.f("ix_feedback_events_message_id"), "feedback_events", ["message_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_feedback_events_message_id"), table_name="feedback_events")
    op.drop_index(op.f("ix_feedback_events_subscriber_id"), table_name="feedback_events")
    op.drop_index(op.f("ix_feedback_events_at"), table_name="feedback_events")
    op.drop_table("feedback_events")
