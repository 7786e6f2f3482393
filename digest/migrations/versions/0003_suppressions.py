"""suppression list and bounce bookkeeping for SES feedback

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

import digest.models

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "suppressions",
        sa.Column("email_hash", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("suppressed_at", digest.models.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("email_hash", name=op.f("pk_suppressions")),
    )
    with op.batch_alter_table("subscribers") as batch_op:
        # Existing rows start with no bounces: the server default fills them in.
        batch_op.add_column(sa.Column("bounce_count", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("bounced_message_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("suppressed_at", digest.models.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("suppression_reason", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscribers") as batch_op:
        batch_op.drop_column("suppression_reason")
        batch_op.drop_column("suppressed_at")
        batch_op.drop_column("bounced_message_id")
        batch_op.drop_column("bounce_count")
    op.drop_table("suppressions")
