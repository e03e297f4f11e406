"""Apply the alembic migrations under inject/db/migrations to a database."""

import os

import sqlalchemy as sa
from alembic import command
from alembic import config as alembic_config
from alembic import migration
from alembic import script

MIGRATIONS = os.path.join(os.path.dirname(__file__), 'migrations')


def _config(connection=None):
    cfg = alembic_config.Config()
    cfg.set_main_option('script_location', MIGRATIONS)
    cfg.attributes['connection'] = connection
    return cfg


def upgrade(engine, revision='head'):
    """Bring the schema of ``engine``'s database to ``revision``. Processes that
    migrate one PostgreSQL database at once (inject-api and inject-agent starting
    together) take turns on an advisory lock, so the second finds the schema done;
    on SQLite the caller holds the database's write turn
    (:class:`inject.db.engine.WriteTurns`)."""
    with engine.begin() as connection:
        if connection.dialect.name == 'postgresql':
            connection.execute(sa.text('SELECT pg_advisory_xact_lock(hashtext(:k))'),
                               {'k': 'inject-migrations'})
        command.upgrade(_config(connection), revision)


def current(engine):
    """The revision the database is at (None when it has no schema yet)."""
    with engine.connect() as connection:
        return migration.MigrationContext.configure(connection).get_current_revision()


def head():
    return script.ScriptDirectory.from_config(_config()).get_current_head()
