"""Lists and quota usage in SQL: the flavor's vcpus and memory_mb as columns (filled
from the flavor JSON of existing rows), an index of a project's servers in list order
(project, deleted, created_at, uuid) and one holding their usage (project, deleted,
vcpus, memory_mb).

Revision ID: 0002
Revises: 0001
"""

from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('instances') as batch:
        batch.add_column(sa.Column('vcpus', sa.Integer, nullable=False,
                                   server_default='0'))
        batch.add_column(sa.Column('memory_mb', sa.Integer, nullable=False,
                                   server_default='0'))
    instances = sa.table('instances', sa.column('uuid', sa.String),
                         sa.column('flavor', sa.JSON), sa.column('vcpus', sa.Integer),
                         sa.column('memory_mb', sa.Integer))
    conn = op.get_bind()
    for uuid, flavor in conn.execute(sa.select(instances.c.uuid, instances.c.flavor)):
        flavor = flavor or {}
        conn.execute(instances.update().where(instances.c.uuid == uuid).values(
            vcpus=int(flavor.get('vcpus') or 0), memory_mb=int(flavor.get('ram') or 0)))
    op.create_index('ix_instances_project_list', 'instances',
                    ['project_id', 'deleted', 'created_at', 'uuid'])
    op.create_index('ix_instances_project_usage', 'instances',
                    ['project_id', 'deleted', 'vcpus', 'memory_mb'])
