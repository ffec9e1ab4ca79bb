"""radionuclide report product (issue 17 item 5): product.subject (what a per-subject product is
about: the sample of an RRR; "" for the bulletins) in the product key uq_product_version, and
rn_report (the content of one RRR version)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 15:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject', sa.String(length=200), nullable=False, server_default=''))
        batch_op.drop_constraint('uq_product_version', type_='unique')
        batch_op.create_unique_constraint('uq_product_version',
                                          ['type', 'window_start', 'window_end', 'subject', 'version'])
    op.create_table(
        'rn_report',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('product_id', sa.Integer(), nullable=False),
        sa.Column('sample_id', sa.Integer(), nullable=True),
        sa.Column('station', sa.String(length=16), nullable=False),
        sa.Column('srid', sa.String(length=64), nullable=False),
        sa.Column('content', sa.JSON(), nullable=False),
        sa.Column('lddate', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['product_id'], ['product.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['sample_id'], ['rn_sample.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('rn_report', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rn_report_product_id'), ['product_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rn_report_sample_id'), ['sample_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rn_report_station'), ['station'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('rn_report', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rn_report_station'))
        batch_op.drop_index(batch_op.f('ix_rn_report_sample_id'))
        batch_op.drop_index(batch_op.f('ix_rn_report_product_id'))
    op.drop_table('rn_report')
    op.execute("DELETE FROM product WHERE subject != ''")
    with op.batch_alter_table('product', schema=None) as batch_op:
        batch_op.drop_constraint('uq_product_version', type_='unique')
        batch_op.create_unique_constraint('uq_product_version', ['type', 'window_start', 'window_end', 'version'])
        batch_op.drop_column('subject')
