"""The database's engine and sessions: one engine per ``[database]connection`` URL,
SQLite's pragmas, and the transactions every query of :mod:`inject.db.api` runs in."""

import contextlib
import fcntl
import os
import select
import threading

import sqlalchemy as sa
from sqlalchemy import orm

from inject import exception
from inject.db import migration


class Engine:
    """One engine and its session factory, for the URL in ``[database]connection``."""

    def __init__(self, url, sync=True):
        kwargs = {}
        if url.startswith('sqlite'):
            kwargs['connect_args'] = {'check_same_thread': False, 'timeout': 30}
        self.engine = sa.create_engine(url, **kwargs)
        if url.startswith('sqlite'):
            sa.event.listen(self.engine, 'connect', _sqlite_pragmas)
            # pysqlite already begins no transaction for reads.
            self.reader = self.engine
        else:
            # No pool_pre_ping (a "SELECT 1" round trip at every checkout): a pooled
            # connection the server has closed is recognised without a round trip
            # (:func:`_closed_by_server`) and replaced before use.
            sa.event.listen(self.engine, 'checkout', _closed_by_server)
            sa.event.listen(self.engine, 'handle_error', _read_only_is_stale)
            # Reads on connections of their own, in autocommit: no BEGIN and no
            # ROLLBACK round trips around them (an engine of its own, as switching a
            # pooled connection in and out of autocommit costs a round trip of its
            # own). What they see is unchanged: under READ COMMITTED (PostgreSQL's
            # default and ours) each statement of a transaction takes its own
            # snapshot anyway.
            self.reader = sa.create_engine(url, isolation_level='AUTOCOMMIT')
            sa.event.listen(self.reader, 'checkout', _closed_by_server)
        self._sessions = orm.sessionmaker(self.engine, expire_on_commit=False)
        self._reading_sessions = orm.sessionmaker(self.reader, expire_on_commit=False)
        self._turns = (WriteTurns(lock_path(url)) if url.startswith('sqlite')
                       else contextlib.nullcontext())
        if sync:
            with self._turns:
                migration.upgrade(self.engine)

    @contextlib.contextmanager
    def session(self):
        """A session for a write transaction: on SQLite it waits for its turn on the
        database's write lock (:class:`WriteTurns`). A database that cannot be
        written (full, read-only, gone) is
        :class:`~inject.exception.DatabaseUnavailable`, the transaction rolled back."""
        with unavailable_named('written'), self._turns, \
                self._sessions.begin() as session:
            yield session

    @contextlib.contextmanager
    def reading(self):
        """A session that only reads: it waits for no writer (SQLite's WAL lets
        readers read while one process writes; on PostgreSQL it runs in autocommit,
        see :attr:`reader`)."""
        with unavailable_named('read'), self._reading_sessions.begin() as session:
            yield session

    @contextlib.contextmanager
    def reading_connection(self):
        """A connection of :attr:`reader` (Core queries that only read)."""
        with unavailable_named('read'), self.reader.connect() as connection:
            yield connection

    def dispose(self):
        self.engine.dispose()
        if self.reader is not self.engine:
            self.reader.dispose()
        if isinstance(self._turns, WriteTurns):
            self._turns.close()

    @contextlib.contextmanager
    def project_locked(self, project_id):
        """A session whose transaction holds the project's lock until it commits
        (on leaving the block; an exception rolls back)."""
        with unavailable_named('written'), self._turns, self.engine.connect() as conn:
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


# SQLite's result codes (sqlite3 gives their names) that say the database file cannot
# be written or read now -- full, read-only, an I/O error, locked past the busy
# timeout, not openable -- as opposed to a bug in a statement.
SQLITE_UNAVAILABLE = ('SQLITE_FULL', 'SQLITE_READONLY', 'SQLITE_IOERR', 'SQLITE_BUSY',
                      'SQLITE_LOCKED', 'SQLITE_CANTOPEN')
# PostgreSQL's SQLSTATE classes and codes of the same: 08 connection exception, 53
# insufficient resources (53100 disk full), 57P operator intervention (shutdown,
# restart), 25006 read-only transaction (a hot standby, default_transaction_read_only).
POSTGRESQL_UNAVAILABLE = ('08', '53', '57P', '25006')


def unavailable(error):
    """Why ``error`` (a SQLAlchemy DBAPIError) means the database cannot be used now,
    in the driver's words; None when it is something else (a bug, a constraint)."""
    orig = getattr(error, 'orig', None)
    name = getattr(orig, 'sqlite_errorname', None)
    code = getattr(orig, 'pgcode', None)
    if name is not None:
        found = name.startswith(SQLITE_UNAVAILABLE)
    elif code is not None:
        found = code.startswith(POSTGRESQL_UNAVAILABLE)
    else:     # no code: the connection itself failed (a server gone, refused)
        found = (isinstance(error, sa.exc.OperationalError)
                 or getattr(error, 'connection_invalidated', False))
    if not found:
        return None
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0]


@contextlib.contextmanager
def unavailable_named(doing):
    """Raise :class:`~inject.exception.DatabaseUnavailable` for a DBAPI error that
    means the database cannot be ``doing`` (read, written) now."""
    try:
        yield
    except sa.exc.DBAPIError as e:
        reason = unavailable(e)
        if reason is None:
            raise
        raise exception.DatabaseUnavailable(doing=doing, reason=reason) from e


def _read_only_is_stale(context):
    """A PostgreSQL write refused as read-only (SQLSTATE 25006: the database's
    ``default_transaction_read_only``, a hot standby) is treated as a disconnect, so
    that SQLAlchemy drops the pool's connections: a session takes that setting when it
    starts and keeps it, so connections opened while the database was read-only would
    refuse writes forever after it is writable again. Fresh ones see it as it is."""
    if getattr(context.original_exception, 'pgcode', None) == '25006':
        context.is_disconnect = True


def _closed_by_server(dbapi_connection, _record, _proxy):
    """Checkout of a pooled PostgreSQL connection: refuse it when the server has
    closed it (a restart, an idle timeout, pg_terminate_backend), so that the pool
    opens a new one for the caller instead of the caller failing.

    An idle connection between transactions is owed nothing by the server: if its
    socket is readable, what waits there is the server's goodbye (an error message
    and the end of the stream) -- found with a zero-timeout poll, no round trip (what
    ``pool_pre_ping`` spent a "SELECT 1" on at every checkout). A server that
    vanished without closing the socket is not seen here; the statement then fails
    and SQLAlchemy invalidates the pool's connections of before the failure.
    """
    fileno = getattr(dbapi_connection, 'fileno', None)
    if fileno is None:
        return
    try:
        fd = fileno()
    except Exception:               # closed on our side already
        raise sa.exc.DisconnectionError('connection closed')
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLERR | select.POLLHUP)
    if poller.poll(0):
        raise sa.exc.DisconnectionError('connection closed by the server')


def lock_path(url):
    """The file whose lock the processes writing the SQLite database ``url`` take
    turns on (next to it: ``<database>.lock``); None for an in-memory database."""
    database = sa.engine.make_url(url).database
    if not database or database == ':memory:' or database.startswith('file:'):
        return None
    return database + '.lock'


class WriteTurns:
    """Turns on SQLite's one write lock, held around every write transaction.

    SQLite's own waiting is its busy handler, which polls, sleeping 1, 2, 5, 10 ...
    up to 100 ms between tries: under load a writer of one process slept through
    many transactions of another and creates waited hundreds of ms. Instead the
    threads of this process take turns on a lock of their own, and the one whose
    turn it is takes an exclusive ``flock`` of :func:`lock_path`, shared with every
    other process writing the database (inject-api's workers, inject-metadata): the
    kernel wakes a waiter the moment the holder lets go. Reentrant in one thread.
    Without a path (an in-memory database: one process) only the first lock.
    """

    def __init__(self, path):
        self.path = path
        self._turns = threading.RLock()
        self._depth = 0
        self._fd = None
        self._pid = None

    def __enter__(self):
        self._turns.acquire()
        try:
            if self._depth == 0 and self.path is not None:
                fcntl.flock(self._file(), fcntl.LOCK_EX)
        except BaseException:
            self._turns.release()
            raise
        self._depth += 1
        return self

    def __exit__(self, *exc):
        self._depth -= 1
        try:
            if self._depth == 0 and self.path is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._turns.release()

    def _file(self):
        # A file opened by the process (a forked worker inherits the parent's: a lock
        # on that one would be shared with the parent, not exclusive).
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
            self._pid = os.getpid()
        return self._fd

    def close(self):
        with self._turns:
            if self._fd is not None and self._pid == os.getpid():
                os.close(self._fd)
            self._fd = self._pid = None


def _sqlite_pragmas(dbapi_connection, _record):
    cursor = dbapi_connection.cursor()
    cursor.execute('PRAGMA foreign_keys=ON')
    # WAL: readers read while one process writes (a read never waits for a turn).
    cursor.execute('PRAGMA journal_mode=WAL')
    # NORMAL in WAL mode: a commit is not synced to disk, the WAL is at each
    # checkpoint. The database stays consistent whatever happens; a power loss (not a
    # crash of the process, whose commits the OS keeps) may take the transactions
    # since the last checkpoint. FULL would sync at every commit, while the write
    # turn is held. Checkpoints stay SQLite's automatic ones (every 1000 WAL pages,
    # run by the committing writer, in its turn): in a traced create load 3 of 12,426
    # write transactions held the turn over 20 ms, 99% under 10 ms.
    cursor.execute('PRAGMA synchronous=NORMAL')
    cursor.close()
