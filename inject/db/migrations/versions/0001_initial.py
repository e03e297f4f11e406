"""Initial schema: instances, their metadata, system metadata, faults and actions;
quotas and quota classes.

Revision ID: 0001
Revises:
"""

from alembic import op
import sqlalchemy as sa

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'instances',
        sa.Column('uuid', sa.String(36), primary_key=True),
        sa.Column('project_id', sa.String(255), nullable=False, index=True),
        sa.Column('user_id', sa.String(255), nullable=False),
        sa.Column('name', sa.String(255), nullable=False),
        sa.Column('description', sa.Text),
        sa.Column('vm_state', sa.String(32), nullable=False),
        sa.Column('task_state', sa.String(32)),
        sa.Column('power_state', sa.Integer, nullable=False),
        sa.Column('image_ref', sa.String(255), nullable=False),
        sa.Column('flavor', sa.JSON, nullable=False),
        sa.Column('user_data', sa.Text),
        sa.Column('key_name', sa.String(255)),
        sa.Column('access_ip_v4', sa.String(39)),
        sa.Column('access_ip_v6', sa.String(39)),
        sa.Column('disk_config', sa.String(16), nullable=False),
        sa.Column('availability_zone', sa.String(255), nullable=False),
        sa.Column('config_drive', sa.String(16), nullable=False),
        sa.Column('tags', sa.JSON, nullable=False),
        sa.Column('locked', sa.Boolean, nullable=False),
        sa.Column('host', sa.String(255)),
        sa.Column('created_at', sa.DateTime, nullable=False),
        sa.Column('updated_at', sa.DateTime, nullable=False),
        sa.Column('launched_at', sa.DateTime),
        sa.Column('terminated_at', sa.DateTime),
        sa.Column('deleted', sa.Boolean, nullable=False, index=True),
    )
    for table, value, nullable in (('instance_metadata', sa.String(255), False),
                                   ('instance_system_metadata', sa.Text, True)):
        op.create_table(
            table,
            sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
            sa.Column('instance_uuid', sa.String(36),
                      sa.ForeignKey('instances.uuid', ondelete='CASCADE'),
                      nullable=False),
            sa.Column('key', sa.String(255), nullable=False),
            sa.Column('value', value, nullable=nullable),
            sa.UniqueConstraint('instance_uuid', 'key'),
        )
    op.create_table(
        'instance_faults',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('instance_uuid', sa.String(36),
                  sa.ForeignKey('instances.uuid', ondelete='CASCADE'),
                  nullable=False, index=True),
        sa.Column('code', sa.Integer, nullable=False),
        sa.Column('message', sa.String(255), nullable=False),
        sa.Column('details', sa.Text),
        sa.Column('created_at', sa.DateTime, nullable=False),
    )
    op.create_table(
        'instance_actions',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('instance_uuid', sa.String(36), nullable=False, index=True),
        sa.Column('action', sa.String(255), nullable=False),
        sa.Column('request_id', sa.String(255), nullable=False),
        sa.Column('user_id', sa.String(255), nullable=False),
        sa.Column('project_id', sa.String(255), nullable=False),
        sa.Column('start_time', sa.DateTime, nullable=False),
        sa.Column('finish_time', sa.DateTime),
        sa.Column('message', sa.String(255)),
    )
    op.create_table(
        'quotas',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('project_id', sa.String(255), nullable=False),
        sa.Column('resource', sa.String(255), nullable=False),
        sa.Column('hard_limit', sa.Integer, nullable=False),
        sa.UniqueConstraint('project_id', 'resource'),
    )
    op.create_table(
        'quota_classes',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('class_name', sa.String(255), nullable=False),
        sa.Column('resource', sa.String(255), nullable=False),
        sa.Column('hard_limit', sa.Integer, nullable=False),
        sa.UniqueConstraint('class_name', 'resource'),
    )
