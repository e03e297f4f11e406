"""The alembic migrations build exactly the schema the models describe, and fill in
what older rows lack."""

import json
import os
import subprocess
import sys

import sqlalchemy as sa
from alembic import autogenerate
from alembic import migration as alembic_migration

from inject.db import api as db_api
from inject.db import migration
from inject.db import models
from inject.metadata import instance


def test_upgrade_from_empty_matches_models(db_url):
    engine = sa.create_engine(db_url)
    assert migration.current(engine) is None
    migration.upgrade(engine)
    assert migration.current(engine) == migration.head()
    with engine.connect() as c:
        ctx = alembic_migration.MigrationContext.configure(
            c, opts={'compare_type': True})
        diff = autogenerate.compare_metadata(ctx, models.Base.metadata)
    assert diff == []
    engine.dispose()


def test_upgrade_is_idempotent(db_url):
    db_api.Database(db_url).dispose()
    db = db_api.Database(db_url)
    assert migration.current(db.engine) == migration.head()
    db.dispose()


def test_inject_api_db_sync(tmp_path, db_url):
    conf = tmp_path / 'inject.conf'
    conf.write_text('[DEFAULT]\nstate_path = %s\n[database]\nconnection = %s\n'
                    % (tmp_path, db_url))
    out = subprocess.run([os.path.join(os.path.dirname(sys.executable), 'inject-api'),
                          '--config-file', str(conf), '--db-sync'],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    engine = sa.create_engine(db_url)
    assert migration.current(engine) == migration.head()
    engine.dispose()


def test_processes_migrating_one_database_at_once_take_turns(tmp_path, db_url):
    """inject-api and inject-agent (or several inject-api) starting together on a
    fresh database: each migrates under the database's migration lock, the later
    ones find the schema done."""
    conf = tmp_path / 'inject.conf'
    conf.write_text('[DEFAULT]\nstate_path = %s\n[database]\nconnection = %s\n'
                    % (tmp_path, db_url))
    cmd = [os.path.join(os.path.dirname(sys.executable), 'inject-api'),
           '--config-file', str(conf), '--db-sync']
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(4)]
    outs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in outs]
    engine = sa.create_engine(db_url)
    assert migration.current(engine) == migration.head()
    engine.dispose()


def test_0005_records_what_older_servers_were_shown_with(db_url):
    """Servers from before create recorded their reservation, launch index and key
    get the values the views showed them with: every reader has one source."""
    engine = sa.create_engine(db_url)
    migration.upgrade(engine, '0004')
    flavor = {'id': '1', 'name': 'm1.tiny', 'vcpus': 1, 'ram': 512}
    old = 'abcdef01-2222-3333-4444-555555555555'
    new = 'fedcba98-2222-3333-4444-555555555555'
    with engine.begin() as c:
        for uuid, key_name in ((old, 'kept'), (new, None)):
            c.execute(sa.text(
                "INSERT INTO instances (uuid, project_id, user_id, name, vm_state, "
                "power_state, image_ref, flavor, vcpus, memory_mb, disk_config, "
                "availability_zone, config_drive, tags, locked, created_at, updated_at, "
                "deleted, key_name) VALUES (:uuid, 'p', 'alice', 'vm', 'active', 0, "
                "'img', :flavor, 1, 512, 'MANUAL', 'nova', '', '[]', false, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, false, :key_name)"),
                {'uuid': uuid, 'flavor': json.dumps(flavor), 'key_name': key_name})
        c.execute(sa.text(
            "INSERT INTO instance_system_metadata (instance_uuid, key, value) VALUES "
            "(:u, 'reservation_id', 'r-multi001'), (:u, 'launch_index', '2')"),
            {'u': new})
        c.execute(sa.text(
            "INSERT INTO key_pairs (user_id, name, type, fingerprint, public_key, "
            "created_at) VALUES ('alice', 'kept', 'ssh', 'f', 'ssh-ed25519 AAAA a', "
            "CURRENT_TIMESTAMP)"))
    migration.upgrade(engine)
    engine.dispose()
    db = db_api.Database(db_url)
    try:
        for uuid, reservation, index in ((old, 'r-abcdef01', 0), (new, 'r-multi001', 2)):
            info = instance.load(db, uuid)
            assert (info.reservation_id, info.launch_index) == (reservation, index)
        inst = db.instance_get(old)
        assert (inst.key_data, inst.key_type) == ('ssh-ed25519 AAAA a', 'ssh')
        assert instance.load(db, old).public_keys == {'kept': 'ssh-ed25519 AAAA a'}
        assert db.instance_get(new).key_data is None
    finally:
        db.dispose()
