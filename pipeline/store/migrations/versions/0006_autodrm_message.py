"""AutoDRM e-mail log: one row per request e-mail (idempotence and audit of the e-mail path)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 14:45:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'autodrm_message',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('message_key', sa.String(length=64), nullable=False),
        sa.Column('message_id', sa.String(length=255), nullable=False),
        sa.Column('sender', sa.String(length=200), nullable=False),
        sa.Column('user_name', sa.String(length=64), nullable=False),
        sa.Column('role', sa.String(length=20), nullable=False),
        sa.Column('state', sa.String(length=8), nullable=False),
        sa.Column('subject', sa.String(length=200), nullable=False),
        sa.Column('request_id', sa.String(length=64), nullable=False),
        sa.Column('reply_to', sa.String(length=200), nullable=False),
        sa.Column('channel', sa.String(length=8), nullable=False),
        sa.Column('answer', sa.String(length=16), nullable=False),
        sa.Column('products', sa.String(length=100), nullable=False),
        sa.Column('bytes', sa.BigInteger(), nullable=False),
        sa.Column('parts', sa.Integer(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('error', sa.Text(), nullable=False),
        sa.Column('file', sa.String(length=500), nullable=False),
        sa.Column('received', sa.DateTime(timezone=True), nullable=False),
        sa.Column('answered', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('message_key', name='uq_autodrm_message_key'),
    )
    op.create_index('ix_autodrm_message_received', 'autodrm_message', ['received'])


def downgrade() -> None:
    op.drop_index('ix_autodrm_message_received', table_name='autodrm_message')
    op.drop_table('autodrm_message')
