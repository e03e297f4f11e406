"""Every server keeps its reservation id, launch index and key itself.

Servers created before create recorded them get the values they were shown with:
reservation ``r-`` and the first 8 characters of the uuid (what the server view showed
for them), launch index 0; a server with a key name but no key kept gets the public
key of its user's key pair of that name (what the metadata service looked up on every
request for it). Readers then have one source: the record.

Revision ID: 0005
Revises: 0004
"""

from alembic import op
import sqlalchemy as sa

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# The keys as inject.db.system_metadata names them today (a migration keeps the
# values it was written with).
_DEFAULTS = (('reservation_id', lambda uuid: 'r-%s' % uuid[:8]),
             ('launch_index', lambda uuid: '0'))


def upgrade():
    conn = op.get_bind()
    instances = sa.table('instances', sa.column('uuid', sa.String),
                         sa.column('user_id', sa.String), sa.column('key_name', sa.String),
                         sa.column('key_data', sa.Text), sa.column('key_type', sa.String))
    sysmeta = sa.table('instance_system_metadata', sa.column('instance_uuid', sa.String),
                       sa.column('key', sa.String), sa.column('value', sa.Text))
    key_pairs = sa.table('key_pairs', sa.column('user_id', sa.String),
                         sa.column('name', sa.String), sa.column('type', sa.String),
                         sa.column('public_key', sa.Text))
    for key, value_of in _DEFAULTS:
        have = sa.select(sysmeta.c.instance_uuid).where(sysmeta.c.key == key)
        missing = conn.execute(sa.select(instances.c.uuid).where(
            instances.c.uuid.not_in(have))).scalars().all()
        if missing:
            conn.execute(sa.insert(sysmeta), [
                {'instance_uuid': uuid, 'key': key, 'value': value_of(uuid)}
                for uuid in missing])
    unkept = conn.execute(
        sa.select(instances.c.uuid, key_pairs.c.public_key, key_pairs.c.type)
        .join(key_pairs, sa.and_(key_pairs.c.user_id == instances.c.user_id,
                                 key_pairs.c.name == instances.c.key_name))
        .where(instances.c.key_data.is_(None))).all()
    for uuid, public_key, key_type in unkept:
        conn.execute(sa.update(instances).where(instances.c.uuid == uuid).values(
            key_data=public_key, key_type=key_type))


def downgrade():
    # The recorded values are valid at 0004 too.
    pass
