"""Personality files kept with their server (served by the config drive and the
metadata service), and the dynamic vendordata answers of a build shared with the
metadata service.

Revision ID: 0004
Revises: 0003
"""

from alembic import op
import sqlalchemy as sa

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'instance_files',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('instance_uuid', sa.String(36),
                  sa.ForeignKey('instances.uuid', ondelete='CASCADE'),
                  nullable=False, index=True),
        sa.Column('position', sa.Integer, nullable=False),
        sa.Column('path', sa.Text, nullable=False),
        sa.Column('contents', sa.LargeBinary, nullable=False),
        sa.UniqueConstraint('instance_uuid', 'position'),
    )
    op.create_table(
        'vendordata_answers',
        sa.Column('instance_uuid', sa.String(36),
                  sa.ForeignKey('instances.uuid', ondelete='CASCADE'),
                  primary_key=True),
        sa.Column('key', sa.String(64), primary_key=True),
        sa.Column('target', sa.String(255), nullable=False),
        sa.Column('answer', sa.Text, nullable=False),
        sa.Column('expires_at', sa.DateTime, nullable=False),
    )
