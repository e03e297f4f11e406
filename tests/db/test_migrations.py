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
