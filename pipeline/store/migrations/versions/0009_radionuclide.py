"""radionuclide samples (issue 17): rn_sample (one IMS2.0 PHD message: station, detector, data
type, qualifier, sample and measurement ids, collection/acquisition times and quantities, the
stored file), rn_analysis (kind, category, JSON report of the automatic analysis), rn_nuclide
(activities, concentrations, MDCs per nuclide)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 09:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'rn_sample',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station', sa.String(length=16), nullable=False),
        sa.Column('detector', sa.String(length=32), nullable=False),
        sa.Column('system_type', sa.String(length=4), nullable=False),
        sa.Column('data_type', sa.String(length=16), nullable=False),
        sa.Column('qualifier', sa.String(length=8), nullable=False),
        sa.Column('srid', sa.String(length=64), nullable=False),
        sa.Column('measurement_id', sa.String(length=100), nullable=False),
        sa.Column('detector_bk_measurement_id', sa.String(length=100), nullable=False),
        sa.Column('gas_bk_measurement_id', sa.String(length=100), nullable=False),
        sa.Column('msg_id', sa.String(length=64), nullable=False),
        sa.Column('collection_start', sa.Float(), nullable=True),
        sa.Column('collection_stop', sa.Float(), nullable=True),
        sa.Column('acquisition_start', sa.Float(), nullable=True),
        sa.Column('real_time_s', sa.Float(), nullable=True),
        sa.Column('live_time_s', sa.Float(), nullable=True),
        sa.Column('air_volume_m3', sa.Float(), nullable=True),
        sa.Column('xe_volume_cm3', sa.Float(), nullable=True),
        sa.Column('file', sa.Text(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('lddate', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('station', 'detector', 'data_type', 'qualifier', 'measurement_id', name='uq_rn_sample'),
    )
    with op.batch_alter_table('rn_sample', schema=None) as batch_op:
        batch_op.create_index('ix_rn_sample_station_time', ['station', 'collection_stop'], unique=False)
        batch_op.create_index(batch_op.f('ix_rn_sample_sha256'), ['sha256'], unique=False)
    op.create_table(
        'rn_analysis',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sample_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('category', sa.Integer(), nullable=True),
        sa.Column('category_reason', sa.Text(), nullable=False),
        sa.Column('report', sa.JSON(), nullable=False),
        sa.Column('error', sa.Text(), nullable=False),
        sa.Column('software_version', sa.String(length=32), nullable=False),
        sa.Column('lddate', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['sample_id'], ['rn_sample.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('sample_id', name='uq_rn_analysis_sample'),
    )
    op.create_table(
        'rn_nuclide',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('analysis_id', sa.Integer(), nullable=False),
        sa.Column('nuclide', sa.String(length=16), nullable=False),
        sa.Column('detected', sa.Boolean(), nullable=False),
        sa.Column('energy_kev', sa.Float(), nullable=True),
        sa.Column('net_counts', sa.Float(), nullable=True),
        sa.Column('net_counts_sigma', sa.Float(), nullable=True),
        sa.Column('activity_bq', sa.Float(), nullable=True),
        sa.Column('activity_sigma_bq', sa.Float(), nullable=True),
        sa.Column('mda_bq', sa.Float(), nullable=True),
        sa.Column('concentration_mbq_m3', sa.Float(), nullable=True),
        sa.Column('concentration_sigma_mbq_m3', sa.Float(), nullable=True),
        sa.Column('lc_mbq_m3', sa.Float(), nullable=True),
        sa.Column('mdc_mbq_m3', sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(['analysis_id'], ['rn_analysis.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('rn_nuclide', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rn_nuclide_analysis_id'), ['analysis_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rn_nuclide_nuclide'), ['nuclide'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('rn_nuclide', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rn_nuclide_nuclide'))
        batch_op.drop_index(batch_op.f('ix_rn_nuclide_analysis_id'))
    op.drop_table('rn_nuclide')
    op.drop_table('rn_analysis')
    with op.batch_alter_table('rn_sample', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rn_sample_sha256'))
        batch_op.drop_index('ix_rn_sample_station_time')
    op.drop_table('rn_sample')
