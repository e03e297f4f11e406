"""Databases for the persistence tests: a SQLite file, and a fresh database on the
PostgreSQL server that tools/postgresql.sh starts on loopback (its URL comes in
INJECT_TEST_POSTGRESQL_URL; tools/setup.sh test sets it). Under CI a missing server
fails the tests instead of skipping them."""

import uuid

import pytest
import sqlalchemy as sa

from inject.db import api as db_api
from tests import services


def _postgresql_admin_url():
    url = services.required('INJECT_TEST_POSTGRESQL_URL', 'PostgreSQL',
                            'tools/postgresql.sh')
    return sa.engine.make_url(url)


@pytest.fixture
def postgresql_url():
    admin = _postgresql_admin_url()
    name = 'inject_t_%s' % uuid.uuid4().hex[:12]
    engine = sa.create_engine(admin, isolation_level='AUTOCOMMIT')
    with engine.connect() as c:
        c.execute(sa.text('CREATE DATABASE "%s"' % name))
    try:
        yield admin.set(database=name).render_as_string(hide_password=False)
    finally:
        with engine.connect() as c:
            c.execute(sa.text('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name))
        engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path):
    return 'sqlite:///%s' % (tmp_path / 'inject-api.sqlite')


@pytest.fixture(params=['sqlite', pytest.param('postgresql',
                                               marks=pytest.mark.postgresql)])
def db_url(request):
    return request.getfixturevalue('%s_url' % request.param)


@pytest.fixture
def db(db_url):
    """An inject.db.api.Database on ``db_url`` (each backend in turn; a module that
    needs one backend overrides ``db_url``)."""
    database = db_api.Database(db_url)
    yield database
    database.dispose()
