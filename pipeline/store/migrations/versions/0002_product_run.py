"""product_run: one row per run of a product stage (version written, latency)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 11:05:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'product_run',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('type', sa.String(length=16), nullable=False),
        sa.Column('window_start', sa.Float(), nullable=False),
        sa.Column('window_end', sa.Float(), nullable=False),
        sa.Column('product_id', sa.Integer(), nullable=True),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('new_version', sa.Boolean(), nullable=False),
        sa.Column('events', sa.Integer(), nullable=False),
        sa.Column('started', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished', sa.DateTime(timezone=True), nullable=False),
        sa.Column('latency_s', sa.Float(), nullable=False),
        sa.Column('duration_s', sa.Float(), nullable=False),
        sa.Column('runner', sa.String(length=16), nullable=False),
        sa.Column('run_id', sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(['product_id'], ['product.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_product_run_type_window', 'product_run', ['type', 'window_start', 'window_end'])


def downgrade() -> None:
    op.drop_index('ix_product_run_type_window', table_name='product_run')
    op.drop_table('product_run')
