"""a delivery carries its listings as one JSON column, written with the claim; delivery_items goes

One row per listing cost the weekly run about a sixth of its time (issue 6); the listings of a digest are
only ever read whole (history against repeats, export), so they now live in the delivery row itself as
[[board id, repost key], ...] in the order sent.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op


revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BATCH = 5000


def upgrade() -> None:
    with op.batch_alter_table("deliveries", recreate="never") as batch_op:
        batch_op.add_column(sa.Column("listings", sa.JSON(), nullable=True))
    conn = op.get_bind()
    deliveries = sa.table("deliveries", sa.column("id", sa.Integer), sa.column("listings", sa.JSON))
    update = deliveries.update().where(deliveries.c.id == sa.bindparam("did")).values(listings=sa.bindparam("items"))
    rows = conn.execute(sa.text(
        "SELECT delivery_id, listing_board_id, repost_key FROM delivery_items ORDER BY delivery_id, position"))
    batch: list[dict] = []
    current: dict | None = None
    for delivery_id, board_id, repost_key in rows:
        if current is None or current["did"] != delivery_id:
            if len(batch) >= _BATCH:
                conn.execute(update, batch)
                batch = []
            current = {"did": delivery_id, "items": []}
            batch.append(current)
        current["items"].append([board_id, int(repost_key)])
    if batch:
        conn.execute(update, batch)
    with op.batch_alter_table("delivery_items") as batch_op:
        batch_op.drop_index("ix_delivery_items_subscriber")
    op.drop_table("delivery_items")


def downgrade() -> None:
    op.create_table(
        "delivery_items",
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("listing_board_id", sa.String(length=100), nullable=False),
        sa.Column("repost_key", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"], name=op.f("fk_delivery_items_delivery_id_deliveries"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"],
                                name=op.f("fk_delivery_items_subscriber_id_subscribers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("delivery_id", "position", name=op.f("pk_delivery_items")),
    )
    with op.batch_alter_table("delivery_items") as batch_op:
        batch_op.create_index("ix_delivery_items_subscriber", ["subscriber_id", "repost_key"], unique=False)
    conn = op.get_bind()
    deliveries = sa.table("deliveries", sa.column("id", sa.Integer), sa.column("subscriber_id", sa.Integer),
                          sa.column("status", sa.String), sa.column("listings", sa.JSON))
    items = sa.table("delivery_items", *(sa.column(c) for c in
                                         ("delivery_id", "position", "subscriber_id", "listing_board_id", "repost_key")))
    batch: list[dict] = []
    q = sa.select(deliveries.c.id, deliveries.c.subscriber_id, deliveries.c.listings).where(
        deliveries.c.status == "sent", deliveries.c.listings.is_not(None))
    for did, sid, listings in conn.execute(q):
        batch += [dict(delivery_id=did, position=i, subscriber_id=sid, listing_board_id=b, repost_key=k)
                  for i, (b, k) in enumerate(listings or [])]
        if len(batch) >= _BATCH:
            conn.execute(items.insert(), batch)
            batch = []
    if batch:
        conn.execute(items.insert(), batch)
    # Never a table copy here: on SQLite, dropping the old deliveries table would cascade to the items just written.
    with op.batch_alter_table("deliveries", recreate="never") as batch_op:
        batch_op.drop_column("listings")
