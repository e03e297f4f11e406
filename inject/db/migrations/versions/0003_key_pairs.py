"""Key pairs (os-keypairs), and the key a server was given (key_data, key_type).

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'key_pairs',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('user_id', sa.String(255), nullable=False),
        sa.Column('name', sa.String(255), nullable=False),
        sa.Column('type', sa.String(4), nullable=False),
        sa.Column('fingerprint', sa.String(255), nullable=False),
        sa.Column('public_key', sa.Text, nullable=False),
        sa.Column('created_at', sa.DateTime, nullable=False),
        sa.UniqueConstraint('user_id', 'name'),
    )
    with op.batch_alter_table('instances') as batch:
        batch.add_column(sa.Column('key_data', sa.Text))
        batch.add_column(sa.Column('key_type', sa.String(4)))


def downgrade():
    with op.batch_alter_table('instances') as batch:
        batch.drop_column('key_type')
        batch.drop_column('key_data')
    op.drop_table('key_pairs')
