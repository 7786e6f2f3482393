"""runs.trigger and runs.parent_id: who started a run (cli, schedule, worker), and the shards a queue worker sent
for a dispatched run, so `digest runs` can say what every run did wherever it ran

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


# Plain ALTER TABLE (no batch copy), as 0009: existing runs keep an unknown trigger and no parent.
def upgrade() -> None:
    op.add_column("runs", sa.Column("trigger", sa.String(length=20), nullable=True))
    op.add_column("runs", sa.Column("parent_id", sa.String(length=36), nullable=True))
    op.create_index(op.f("ix_runs_parent_id"), "runs", ["parent_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_runs_parent_id"), table_name="runs")
    op.drop_column("runs", "parent_id")
    op.drop_column("runs", "trigger")
