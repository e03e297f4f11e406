"""PostgreSQL connections of inject.db.api: no "SELECT 1" ping at checkout, yet a
pooled connection the server closed is replaced before use; reads in autocommit on
connections of their own (no BEGIN/ROLLBACK round trips)."""

import pytest
import sqlalchemy as sa

from inject.db import api as db_api
from tests.db.test_api import _instance

pytestmark = pytest.mark.postgresql


@pytest.fixture
def db_url(postgresql_url):
    return postgresql_url


def _backend_pids(engine, count):
    """Check out ``count`` connections of ``engine`` at once, return their backend
    pids; they go back to the pool idle."""
    conns = [engine.connect() for _ in range(count)]
    try:
        return [c.exec_driver_sql('SELECT pg_backend_pid()').scalar() for c in conns]
    finally:
        for c in conns:
            c.close()


def _terminate(url, pids):
    admin = sa.create_engine(url, isolation_level='AUTOCOMMIT')
    try:
        with admin.connect() as c:
            for pid in pids:
                assert c.execute(sa.text('SELECT pg_terminate_backend(:p, 5000)'),
                                 {'p': pid}).scalar()
    finally:
        admin.dispose()


def _statements(engine):
    seen = []
    sa.event.listen(engine, 'before_cursor_execute',
                    lambda conn, cursor, statement, *a: seen.append(statement))
    return seen


def test_no_ping_at_checkout(db):
    assert not db.engine.pool._pre_ping and not db.reader.pool._pre_ping
    _instance(db)
    seen = _statements(db.reader) + _statements(db.engine)
    assert db.instance_alive('11111111-2222-3333-4444-555555555555')
    assert db.instance_usage('p1') == (1, 1, 512)
    assert not [s for s in seen if s.strip().upper() == 'SELECT 1']


@pytest.mark.parametrize('which', ['engine', 'reader'])
def test_pooled_connections_closed_by_the_server_are_replaced(db, postgresql_url,
                                                              which):
    """What a restart of PostgreSQL does to the idle pool (pg_terminate_backend
    closes the connections the same way): the next reads and writes open new ones
    instead of failing."""
    _instance(db)
    engine = getattr(db, which)
    pids = _backend_pids(engine, 3)
    _terminate(postgresql_url, pids)
    # Every pooled connection is dead: each checkout must find it so.
    for n in range(3):
        assert db.instance_usage('p1') == (1, 1, 512)
        assert db.instance_get('11111111-2222-3333-4444-555555555555') is not None
        db.instance_update('11111111-2222-3333-4444-555555555555', name='vm%d' % n)
    assert not set(pids) & set(_backend_pids(engine, 3))


def test_reads_run_in_autocommit_and_writes_in_transactions(db):
    with db.reader.connect() as c:
        assert c.connection.dbapi_connection.autocommit
        # Each statement is a transaction of its own: its start is the statement's.
        c.exec_driver_sql('SELECT pg_sleep(0.01)')
        assert c.exec_driver_sql('SELECT now() = statement_timestamp()').scalar()
    with db.session() as s:
        assert not s.connection().connection.dbapi_connection.autocommit
    with db.reading() as s:
        assert s.connection().connection.dbapi_connection.autocommit


def test_a_write_in_a_transaction_sees_its_rows_and_rolls_back(db):
    """The write sessions are not in autocommit: a failure undoes them."""
    _instance(db)
    with pytest.raises(RuntimeError):
        with db.session() as s:
            s.execute(sa.update(db_api.models.Instance).values(name='changed'))
            raise RuntimeError
    assert db.instance_get('11111111-2222-3333-4444-555555555555').name == 'vm'
