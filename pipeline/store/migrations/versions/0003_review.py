"""review queue and audit trail (SEL3 → REB), SEB characterisation and SSEB screening results

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 11:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'review_item',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('source_product_id', sa.Integer(), nullable=True),
        sa.Column('source_evid', sa.Integer(), nullable=True),
        sa.Column('source_public_id', sa.String(length=200), nullable=False),
        sa.Column('origin_time', sa.Float(), nullable=False),
        sa.Column('lat', sa.Float(), nullable=False),
        sa.Column('lon', sa.Float(), nullable=False),
        sa.Column('depth_km', sa.Float(), nullable=False),
        sa.Column('fixed_depth_km', sa.Float(), nullable=True),
        sa.Column('needs_relocation', sa.Boolean(), nullable=False),
        sa.Column('merged_into', sa.Integer(), nullable=True),
        sa.Column('event_xml', sa.Text(), nullable=False),
        sa.Column('published_version', sa.Integer(), nullable=True),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.Column('lddate', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['source_product_id'], ['product.id'], ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['merged_into'], ['review_item.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_review_item_time', 'review_item', ['origin_time'])
    op.create_index('ix_review_item_source', 'review_item', ['source_product_id', 'source_evid'])

    op.create_table(
        'review_action',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('item_id', sa.Integer(), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('analyst', sa.String(length=64), nullable=False),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.Column('detail', sa.JSON(), nullable=False),
        sa.Column('before', sa.JSON(), nullable=True),
        sa.Column('after', sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(['item_id'], ['review_item.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_review_action_item_id', 'review_action', ['item_id'])

    op.create_table(
        'event_characterization',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('product_id', sa.Integer(), nullable=False),
        sa.Column('evid', sa.Integer(), nullable=False),
        sa.Column('public_id', sa.String(length=200), nullable=False),
        sa.Column('mb', sa.Float(), nullable=True),
        sa.Column('mb_uncertainty', sa.Float(), nullable=True),
        sa.Column('mb_nsta', sa.Integer(), nullable=True),
        sa.Column('ms', sa.Float(), nullable=True),
        sa.Column('ms_uncertainty', sa.Float(), nullable=True),
        sa.Column('ms_nsta', sa.Integer(), nullable=True),
        sa.Column('depth_km', sa.Float(), nullable=False),
        sa.Column('depth_conf90_km', sa.Float(), nullable=True),
        sa.Column('depth_fixed', sa.Boolean(), nullable=False),
        sa.Column('distance_to_coast_km', sa.Float(), nullable=True),
        sa.Column('at_sea', sa.Boolean(), nullable=True),
        sa.Column('hydro_energy', sa.Float(), nullable=True),
        sa.Column('hydro_nsta', sa.Integer(), nullable=False),
        sa.Column('lddate', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['product_id'], ['product.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['evid'], ['event.evid'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_event_characterization_product_id', 'event_characterization', ['product_id'])
    op.create_index('ix_event_characterization_evid', 'event_characterization', ['evid'])

    op.create_table(
        'screening_result',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('product_id', sa.Integer(), nullable=False),
        sa.Column('evid', sa.Integer(), nullable=True),
        sa.Column('public_id', sa.String(length=200), nullable=False),
        sa.Column('origin_time', sa.Float(), nullable=False),
        sa.Column('criterion', sa.String(length=16), nullable=False),
        sa.Column('applicable', sa.Boolean(), nullable=False),
        sa.Column('value', sa.Float(), nullable=True),
        sa.Column('uncertainty', sa.Float(), nullable=True),
        sa.Column('threshold', sa.Float(), nullable=True),
        sa.Column('outcome', sa.String(length=20), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('lddate', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['product_id'], ['product.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['evid'], ['event.evid'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_screening_result_product_id', 'screening_result', ['product_id'])
    op.create_index('ix_screening_result_evid', 'screening_result', ['evid'])
    op.create_index('ix_screening_result_event', 'screening_result', ['product_id', 'public_id'])


def downgrade() -> None:
    op.drop_index('ix_screening_result_event', table_name='screening_result')
    op.drop_index('ix_screening_result_evid', table_name='screening_result')
    op.drop_index('ix_screening_result_product_id', table_name='screening_result')
    op.drop_table('screening_result')
    op.drop_index('ix_event_characterization_evid', table_name='event_characterization')
    op.drop_index('ix_event_characterization_product_id', table_name='event_characterization')
    op.drop_table('event_characterization')
    op.drop_index('ix_review_action_item_id', table_name='review_action')
    op.drop_table('review_action')
    op.drop_index('ix_review_item_source', table_name='review_item')
    op.drop_index('ix_review_item_time', table_name='review_item')
    op.drop_table('review_item')
