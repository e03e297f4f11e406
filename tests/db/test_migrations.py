"""The alembic migrations build exactly the schema the models describe."""

import os
import subprocess
import sys

import sqlalchemy as sa
from alembic import autogenerate
from alembic import migration as alembic_migration

from inject.db import api as db_api
from inject.db import migration
from inject.db import models


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
