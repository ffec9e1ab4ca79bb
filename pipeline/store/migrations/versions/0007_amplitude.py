"""amplitude table: every amplitude of an arrival with its type (WA for ML, A5/2 for mb, Ms)

Before this revision only the body-wave amplitude (arrival.amp/per) was stored, so the
Wood-Anderson amplitudes behind ML were lost when a product was written and read back (and an
analyst's relocation could not recompute ML). Products written earlier have no rows here; they
read back as before (the arrival's amp as the A5/2 amplitude).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 06:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'amplitude',
        sa.Column('ampid', sa.Integer(), nullable=False),
        sa.Column('product_id', sa.Integer(), nullable=False),
        sa.Column('arid', sa.Integer(), nullable=True),
        sa.Column('orid', sa.Integer(), nullable=True),
        sa.Column('net', sa.String(length=8), nullable=False),
        sa.Column('sta', sa.String(length=8), nullable=False),
        sa.Column('chan', sa.String(length=8), nullable=False),
        sa.Column('amp', sa.Float(), nullable=False),
        sa.Column('per', sa.Float(), nullable=True),
        sa.Column('snr', sa.Float(), nullable=True),
        sa.Column('amptime', sa.Float(), nullable=True),
        sa.Column('start_time', sa.Float(), nullable=True),
        sa.Column('duration', sa.Float(), nullable=True),
        sa.Column('amptype', sa.String(length=8), nullable=False),
        sa.Column('units', sa.String(length=15), nullable=False),
        sa.Column('maghint', sa.String(length=8), nullable=False),
        sa.Column('auth', sa.String(length=32), nullable=False),
        sa.Column('lddate', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['arid'], ['arrival.arid'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['product_id'], ['product.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('ampid'),
    )
    with op.batch_alter_table('amplitude', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_amplitude_product_id'), ['product_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_amplitude_arid'), ['arid'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('amplitude', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_amplitude_arid'))
        batch_op.drop_index(batch_op.f('ix_amplitude_product_id'))
    op.drop_table('amplitude')
