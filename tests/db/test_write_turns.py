"""SQLite's writers take turns on a file lock next to the database (inject.db.engine
.WriteTurns), so a writer of one process waits in the kernel, woken when the lock is
let go, instead of polling in SQLite's busy handler; readers never wait for it."""

import fcntl
import os
import threading

import pytest

from inject.db import api as db_api
from inject.db import engine as db_engine

FLAVOR = {'id': '1', 'name': 'm1.tiny', 'ram': 512, 'disk': 1, 'vcpus': 1, 'swap': 0,
          'ephemeral': 0, 'extra_specs': {}}


@pytest.fixture
def db_url(sqlite_url):
    return sqlite_url


def _values(uuid, project='p1'):
    return dict(uuid=uuid, project_id=project, user_id='u', name='vm',
                vm_state='building', task_state='scheduling', power_state=0,
                image_ref='img', flavor=FLAVOR, disk_config='MANUAL',
                availability_zone='nova', config_drive='', tags=[], locked=False,
                deleted=False)


def _locked_by_someone(path):
    """Whether another open file description holds ``path``'s lock."""
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)     # (and its lock, when it got one)
    return False


def _waiters(path):
    """How many lock requests on ``path`` are blocked (/proc/locks: '->' lines)."""
    inode = os.stat(path).st_ino
    with open('/proc/locks') as f:
        return sum(1 for line in f
                   if '->' in line and line.split()[-3].endswith(':%d' % inode))


def test_the_lock_file_sits_next_to_the_database(tmp_path):
    assert db_engine.lock_path('sqlite:///%s/x.sqlite' % tmp_path) == (
        '%s/x.sqlite.lock' % tmp_path)
    assert db_engine.lock_path('sqlite://') is None
    assert db_engine.lock_path('sqlite:///:memory:') is None


def test_write_transactions_hold_the_file_lock(db, sqlite_url):
    path = db_engine.lock_path(sqlite_url)
    with db.session():
        assert _locked_by_someone(path)
    assert not _locked_by_someone(path)
    with db.project_locked('p1'):
        assert _locked_by_someone(path)
    assert not _locked_by_someone(path)


def test_a_writer_waits_on_the_file_lock_and_goes_on_when_it_is_let_go(db, sqlite_url):
    path = db_engine.lock_path(sqlite_url)
    other = os.open(path, os.O_RDONLY | os.O_CREAT)    # another process's turn
    fcntl.flock(other, fcntl.LOCK_EX)
    done = []
    writer = threading.Thread(target=lambda: done.append(db.instance_create(
        _values('11111111-2222-3333-4444-555555555555'), {}, {},
        quota_check=lambda usage: None)))
    try:
        writer.start()
        while _waiters(path) == 0:           # blocked in flock, not polling
            assert writer.is_alive()
            writer.join(0.01)
        assert not done
    finally:
        fcntl.flock(other, fcntl.LOCK_UN)
        os.close(other)
        writer.join(60)
    assert [i.uuid for i in done] == ['11111111-2222-3333-4444-555555555555']
    assert db.instance_get(done[0].uuid) is not None


def test_readers_do_not_wait_for_a_writer(db, sqlite_url):
    inst = db.instance_create(_values('11111111-2222-3333-4444-555555555555'), {}, {})
    db.key_pair_create('u', 'k', 'ssh-ed25519 AAAA k', 'fp')
    db.quota_set('p1', {'instances': 3})
    path = db_engine.lock_path(sqlite_url)
    other = os.open(path, os.O_RDONLY | os.O_CREAT)
    fcntl.flock(other, fcntl.LOCK_EX)
    got = []

    def read():
        got.append((db.instance_get(inst.uuid).uuid, db.key_pair_get('u', 'k').name,
                    len(db.key_pair_list('u')), db.key_pair_count('u'),
                    db.action_list(inst.uuid), db.instance_files_get(inst.uuid),
                    db.vendordata_answer_get(inst.uuid, 'x'), db.quota_get('p1')))
    reader = threading.Thread(target=read)
    try:
        reader.start()
        reader.join(60)      # a deadlock guard, not a speed limit
        assert not reader.is_alive()
    finally:
        fcntl.flock(other, fcntl.LOCK_UN)
        os.close(other)
        reader.join()
    assert got == [(inst.uuid, 'k', 1, 1, [], [], None, {'instances': 3})]


def test_nested_write_transactions_of_one_thread_do_not_wait_for_themselves(db):
    with db.session():
        with db.session():
            pass


def test_a_forked_process_takes_turns_on_a_file_of_its_own(db, sqlite_url):
    """A worker forked with the parent's Database must not share the parent's open
    lock file: a lock on that one would not exclude the parent."""
    path = db_engine.lock_path(sqlite_url)
    with db.session():
        pid = os.fork()
        if pid == 0:      # the child: the parent is writing
            code = 3
            try:
                fcntl.flock(db._turns._file(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                code = 1          # got it: shared with the parent
            except BlockingIOError:
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert not _locked_by_someone(path)


def test_dispose_closes_the_lock_file(sqlite_url):
    database = db_api.Database(sqlite_url)
    with database.session():
        pass
    fd = database._turns._fd
    database.dispose()
    with pytest.raises(OSError):
        os.fstat(fd)


def test_sqlite_connections_use_wal_with_normal_sync_and_foreign_keys(db):
    with db.engine.connect() as c:
        assert c.exec_driver_sql('PRAGMA journal_mode').scalar() == 'wal'
        assert c.exec_driver_sql('PRAGMA synchronous').scalar() == 1     # NORMAL
        assert c.exec_driver_sql('PRAGMA foreign_keys').scalar() == 1
