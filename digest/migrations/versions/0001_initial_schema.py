"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-21 16:43:59.426723
"""

from alembic import op
import sqlalchemy as sa
import digest.models


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('listings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('board_id', sa.String(length=100), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('company', sa.String(length=300), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('posted_at', digest.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('verified_at', digest.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('expires_at', digest.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('stack', sa.JSON(), nullable=False),
    sa.Column('level', sa.String(length=20), nullable=True),
    sa.Column('regions', sa.JSON(), nullable=False),
    sa.Column('location', sa.Text(), nullable=True),
    sa.Column('salary_min', sa.BigInteger(), nullable=True),
    sa.Column('salary_max', sa.BigInteger(), nullable=True),
    sa.Column('salary_currency', sa.String(length=3), nullable=True),
    sa.Column('salary_period', sa.String(length=10), nullable=True),
    sa.Column('salary_display', sa.String(length=100), nullable=True),
    sa.Column('employer_type', sa.String(length=50), nullable=True),
    sa.Column('role_type', sa.String(length=50), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('raw_tags', sa.JSON(), nullable=False),
    sa.Column('repost_key', sa.BigInteger(), nullable=False),
    sa.Column('imported_at', digest.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', digest.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_listings')),
    sa.UniqueConstraint('board_id', name=op.f('uq_listings_board_id'))
    )
    with op.batch_alter_table('listings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_listings_repost_key'), ['repost_key'], unique=False)
        batch_op.create_index(batch_op.f('ix_listings_verified_at'), ['verified_at'], unique=False)

    op.create_table('runs',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('started_at', digest.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('finished_at', digest.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('now', digest.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('workers', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_runs'))
    )
    op.create_table('subscribers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('email_key', sa.String(length=320), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('stack', sa.JSON(), nullable=False),
    sa.Column('levels', sa.JSON(), nullable=False),
    sa.Column('regions', sa.JSON(), nullable=False),
    sa.Column('timezone', sa.String(length=64), nullable=False),
    sa.Column('send_day', sa.Integer(), nullable=False),
    sa.Column('send_hour', sa.Integer(), nullable=False),
    sa.Column('min_salary', sa.Integer(), nullable=True),
    sa.Column('hide_no_salary', sa.Boolean(), nullable=False),
    sa.Column('paused_until', sa.Date(), nullable=True),
    sa.Column('token_version', sa.Integer(), nullable=False),
    sa.Column('created_at', digest.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', digest.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('confirmed_at', digest.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('unsubscribed_at', digest.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('source', sa.String(length=50), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_subscribers')),
    sa.UniqueConstraint('email_key', name=op.f('uq_subscribers_email_key')),
    sqlite_autoincrement=True,
    )
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_subscribers_status'), ['status'], unique=False)

    op.create_table('deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('run_id', sa.String(length=36), nullable=False),
    sa.Column('slot_at', digest.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('window_start', digest.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('cutoff', digest.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claimed_at', digest.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lease_until', digest.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('sent_at', digest.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('listing_count', sa.Integer(), nullable=False),
    sa.Column('total_matches', sa.Integer(), nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=True),
    sa.Column('transport_id', sa.String(length=255), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_deliveries_subscriber_id_subscribers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries')),
    sa.UniqueConstraint('subscriber_id', 'period', name='uq_deliveries_subscriber_period')
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_subscriber_status', ['subscriber_id', 'status'], unique=False)

    op.create_table('delivery_items',
    sa.Column('delivery_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('subscriber_id', sa.Integer(), nullable=False),
    sa.Column('listing_board_id', sa.String(length=100), nullable=False),
    sa.Column('repost_key', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_delivery_items_delivery_id_deliveries'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['subscriber_id'], ['subscribers.id'], name=op.f('fk_delivery_items_subscriber_id_subscribers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('delivery_id', 'position', name=op.f('pk_delivery_items'))
    )
    with op.batch_alter_table('delivery_items', schema=None) as batch_op:
        batch_op.create_index('ix_delivery_items_subscriber', ['subscriber_id', 'repost_key'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('delivery_items', schema=None) as batch_op:
        batch_op.drop_index('ix_delivery_items_subscriber')

    op.drop_table('delivery_items')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_subscriber_status')

    op.drop_table('deliveries')
    with op.batch_alter_table('subscribers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_subscribers_status'))

    op.drop_table('subscribers')
    op.drop_table('runs')
    with op.batch_alter_table('listings', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_listings_verified_at'))
        batch_op.drop_index(batch_op.f('ix_listings_repost_key'))

    op.drop_table('listings')
