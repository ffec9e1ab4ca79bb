"""HTTP Digest (FDSN queryauth): realm and HA1 (MD5, SHA-256) of each API token

HA1 = H(user ":" realm ":" token) is password-equivalent for Digest in that realm (whoever reads
it can answer Digest challenges as the token's user; it does not give the token itself, so not
Bearer/Basic access). Tokens created before this revision have no HA1: they keep working with
Bearer and Basic; re-issue them (`idc accounts token`) to use Digest.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 14:10:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_token') as batch:
        batch.add_column(sa.Column('digest_realm', sa.String(length=200), nullable=True))
        batch.add_column(sa.Column('digest_ha1_md5', sa.String(length=32), nullable=True))
        batch.add_column(sa.Column('digest_ha1_sha256', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('api_token') as batch:
        batch.drop_column('digest_ha1_sha256')
        batch.drop_column('digest_ha1_md5')
        batch.drop_column('digest_realm')
