"""Index of a project's servers in list order (project, deleted, created_at, uuid):
lists page in SQL and quota usage is counted through it.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_instances_project_list', 'instances',
                    ['project_id', 'deleted', 'created_at', 'uuid'])
