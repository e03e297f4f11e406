"""The database's engine and sessions: one engine per ``[database]connection`` URL,
SQLite's pragmas, and the transactions every query of :mod:`inject.db.api` runs in."""

import contextlib
import threading

import sqlalchemy as sa
from sqlalchemy import orm

from inject.db import migration


class Engine:
    """One engine and its session factory, for the URL in ``[database]connection``."""

    def __init__(self, url, sync=True):
        kwargs = {}
        if url.startswith('sqlite'):
            kwargs['connect_args'] = {'check_same_thread': False, 'timeout': 30}
        else:
            kwargs['pool_pre_ping'] = True
        self.engine = sa.create_engine(url, **kwargs)
        if url.startswith('sqlite'):
            sa.event.listen(self.engine, 'connect', _sqlite_pragmas)
        self._sessions = orm.sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one write lock, and threads waiting for it in its busy handler
        # sleep (1 ms, then up to 100 ms a try): under load some waited seconds while
        # others took it. The sessions of this process take turns on a lock of its
        # own instead; only other processes (inject-api's workers, inject-metadata)
        # meet the busy handler.
        self._turns = (threading.RLock() if url.startswith('sqlite')
                       else contextlib.nullcontext())
        if sync:
            migration.upgrade(self.engine)

    @contextlib.contextmanager
    def session(self):
        with self._turns, self._sessions.begin() as session:
            yield session

    def dispose(self):
        self.engine.dispose()

    @contextlib.contextmanager
    def project_locked(self, project_id):
        """A session whose transaction holds the project's lock until it commits
        (on leaving the block; an exception rolls back)."""
        with self._turns, self.engine.connect() as conn:
            dialect = self.engine.dialect.name
            if dialect == 'sqlite':
                conn.exec_driver_sql('BEGIN IMMEDIATE')
            elif dialect == 'postgresql':
                conn.execute(sa.text('SELECT pg_advisory_xact_lock(hashtext(:p))'),
                             {'p': 'inject-project:%s' % project_id})
            session = orm.Session(bind=conn, expire_on_commit=False)
            try:
                yield session
                session.flush()
                conn.commit()
            finally:
                session.close()


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute('PRAGMA foreign_keys=ON')
    cursor.execute('PRAGMA journal_mode=WAL')
    # In WAL mode NORMAL keeps the database consistent; a power loss may lose the
    # last transactions, not corrupt (the fsync per commit is what it saves).
    cursor.execute('PRAGMA synchronous=NORMAL')
    cursor.close()
