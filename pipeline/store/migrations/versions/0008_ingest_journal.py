"""ingest_journal table: ingest batches committed in the store whose staged day files are still
being renamed into the archive (crash-consistent ingest; see models.IngestJournal)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 18:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'ingest_journal',
        sa.Column('batch', sa.String(length=32), nullable=False),
        sa.Column('nfiles', sa.Integer(), nullable=False),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('batch'),
    )


def downgrade() -> None:
    op.drop_table('ingest_journal')
