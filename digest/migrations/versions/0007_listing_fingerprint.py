"""listings.fingerprint: a hash of a listing's normalised columns, so a re-import tells unchanged listings apart
without reading every column back

A board re-sends its whole export every day; comparing 25 columns (descriptions, four JSON lists) of 100,000 rows
cost more than reading the file. Rows imported before this revision have none and are rewritten once by the next
import that carries them.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("listings") as batch:
        batch.add_column(sa.Column("fingerprint", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("listings") as batch:
        batch.drop_column("fingerprint")
