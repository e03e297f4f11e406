"""inject-api (a real process, two workers) when its SQLite database stops taking
writes under it: the file system fills up, or goes read-only on an error.

What must hold: a create (or any write) fails with a 503 that says why; reads go on;
nothing is half-written (no server without its create action, none listed that was
refused, the quota usage is the servers listed, SQLite's integrity check passes); no
server stays in BUILD once the database takes writes again; and the service recovers:
when space returns, without a restart; after a file system that went read-only on an
error has been checked and mounted again (which needs the file, so inject-api, to let
go of it), at its next start.

The database lives on a file system of its own made for the test (inject's own state,
not a guest's): a 3 MiB tmpfs, or a loop-mounted ext4 with ``errors=remount-ro`` whose
error the kernel is told to raise (``/sys/fs/ext4/<dev>/trigger_fs_error``). Both need
root, as CI has.
"""

import contextlib
import json
import os
import pathlib
import re
import shlex
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
import sqlalchemy as sa

from inject.api import catalog
from tests import services
from tests.api import support
from tests.clients.conftest import InjectApi
from tests.metadata import target_app

HEADERS = {'Content-Type': 'application/json', 'X-Roles': 'admin,member,reader'}


def _root():
    if os.geteuid() != 0:
        if os.environ.get('CI'):
            pytest.fail('these tests mount file systems: run them as root')
        pytest.skip('mounting a file system needs root')


@pytest.fixture
def mounted(tmp_path):
    """``mount(kind)``: a file system at tmp_path/db (``tmpfs``: 3 MiB; ``ext4``: a
    32 MiB loop-mounted image with errors=remount-ro); unmounted at the end."""
    _root()
    where = tmp_path / 'db'
    where.mkdir()
    mounts = []

    def mount(kind):
        if kind == 'tmpfs':
            subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', str(where)],
                           check=True)
        else:
            image = tmp_path / 'db.ext4'
            subprocess.run(['truncate', '-s', '32M', str(image)], check=True)
            subprocess.run(['mkfs.ext4', '-q', str(image)], check=True)
            subprocess.run(['mount', '-o', 'loop,errors=remount-ro', str(image),
                            str(where)], check=True)
        mounts.append(where)
        return where

    yield mount
    for path in mounts:
        if subprocess.run(['mountpoint', '-q', str(path)]).returncode == 0:
            subprocess.run(['umount', str(path)], check=True)


def _call(api, method, path, body=None):
    req = urllib.request.Request(api.endpoint + path, method=method, headers=HEADERS,
                                 data=json.dumps(body).encode() if body else None)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read() or b'null')
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b'null')


def _create(api, name, **extra):
    return _call(api, 'POST', '/servers', {'server': dict(
        name=name, imageRef=api.image_id, flavorRef='1',
        metadata={'filler': 'x' * 250}, **extra)})


def _servers(api):
    status, body = _call(api, 'GET', '/servers/detail?all_tenants=1')
    assert status == 200, body
    return {s['name']: s for s in body['servers']}


def _start(tmp_path, url, extra=''):
    """inject-api (two workers, no quota in the way) on the database ``url``."""
    state = tmp_path / 'state'
    state.mkdir(exist_ok=True)
    support.make_image(state)
    api = InjectApi(state, extra_conf='[quota]\ninstances = -1\ncores = -1\nram = -1\n'
                    '[database]\nconnection = %s\n[api]\nworkers = 2\n%s' % (url, extra))
    api.image_id = catalog.images(str(state / 'images'))[0].id
    return api


def _sqlite(db_dir):
    return 'sqlite:///%s' % (db_dir / 'inject-api.sqlite')


SLOW_VENDORDATA = ('vendordata_providers = DynamicJSON\n'
                   'vendordata_dynamic_read_timeout = 300\n'
                   'vendordata_dynamic_targets = slow@%s\n')


def _begin(api):
    """Three servers built, then two whose builds wait for the held vendordata target
    (a config drive each); their names."""
    accepted = []
    for i in range(3):
        status, body = _create(api, 'before-%d' % i)
        assert status == 202, body
        accepted.append('before-%d' % i)
    _settled(api)
    for i in range(2):
        status, body = _create(api, 'building-%d' % i, config_drive=True)
        assert status == 202, body
        accepted.append('building-%d' % i)
    return accepted


def _settled(api, timeout=120):
    """The servers, once none is in BUILD (each build recorded its outcome)."""
    deadline = time.monotonic() + timeout
    while True:
        servers = _servers(api)
        if all(s['status'] != 'BUILD' for s in servers.values()):
            return servers
        assert time.monotonic() < deadline, {n: s['status'] for n, s in servers.items()}
        time.sleep(0.5)


def _consistent(api, db_file, names):
    """Nothing half-written: exactly ``names`` are listed, each with its create action,
    the quota usage counts them, and SQLite finds ``db_file`` (if any) intact."""
    servers = _servers(api)
    assert set(servers) == set(names)
    for server in servers.values():
        status, body = _call(api, 'GET', '/servers/%s/os-instance-actions' % server['id'])
        assert status == 200 and [a['action'] for a in body['instanceActions']] == [
            'create'], body
    status, body = _call(api, 'GET', '/limits')
    assert body['limits']['absolute']['totalInstancesUsed'] == len(names)
    if db_file is not None:     # (closed: an open file would keep it mounted)
        with contextlib.closing(sqlite3.connect('file:%s?mode=ro' % db_file,
                                                uri=True)) as c:
            assert c.execute('PRAGMA integrity_check').fetchone() == ('ok',)


def _fill(path):
    """Write zeros into ``path`` until the file system is full."""
    with open(path, 'wb') as f:
        try:
            while True:
                f.write(b'\0' * 65536)
                f.flush()
        except OSError as e:
            assert e.errno == 28, e      # ENOSPC


class HeldTarget:
    """A vendordata target that answers once :meth:`release` is called: builds with a
    config drive wait for it, so the database stops taking writes while they run."""

    def __init__(self):
        self.app = target_app.TargetApp()
        self.released = threading.Event()

    def __call__(self, environ, start_response):
        self.released.wait(300)
        return self.app(environ, start_response)

    def release(self):
        self.released.set()


@pytest.fixture
def slow_target():
    held = HeldTarget()
    with target_app.serve(held) as url:
        held.url = url + '/vd'
        yield held
        held.release()


def _builds_tried(api, names, timeout=120):
    """Wait until the builds of ``names`` have each recorded their outcome, or tried
    and been refused by the database (inject-api's log says so)."""
    deadline = time.monotonic() + timeout
    while True:
        log = (api.state / 'inject-api.log').read_text()
        if all(s['status'] != 'BUILD'
               or 'server %s: cannot record that its build failed' % s['id'] in log
               for n, s in _servers(api).items() if n in names):
            return
        assert time.monotonic() < deadline, 'the builds never reached the database'
        time.sleep(0.2)


def test_database_full_then_space_returns(tmp_path, mounted, slow_target):
    db_dir = mounted('tmpfs')
    api = _start(tmp_path, _sqlite(db_dir), SLOW_VENDORDATA % slow_target.url)
    try:
        # two builds in flight (held by the target) when the disk fills
        accepted = _begin(api)
        _fill(db_dir / 'filler')
        refused = 0
        for i in range(40):                # the WAL may hold a few more first
            status, body = _create(api, 'full-%d' % i)
            assert status in (202, 503), (status, body)
            if status == 202:
                accepted.append('full-%d' % i)
                continue
            refused += 1
            message = body['serviceUnavailable']['message']
            assert message.startswith('The database of inject-api cannot be written '
                                      'now (database or disk is full); nothing was '
                                      'changed.'), message
            if refused == 5:
                break
        assert refused == 5
        # other writes too, and reads go on
        some = _servers(api)['before-0']['id']
        status, body = _call(api, 'PUT', '/servers/%s/metadata/k' % some,
                             {'meta': {'k': 'v'}})
        assert status == 503 and 'database or disk is full' in json.dumps(body)
        servers = _servers(api)
        assert set(servers) == set(accepted)
        assert [servers['building-%d' % i]['status'] for i in range(2)] == ['BUILD'] * 2
        slow_target.release()
        _builds_tried(api, ['building-0', 'building-1'])
        # space returns: no restart; the builds the full disk stopped record their
        # outcome, and creates work again
        os.unlink(db_dir / 'filler')
        servers = _settled(api)
        for name in accepted:
            if servers[name]['status'] == 'ERROR':
                assert servers[name]['fault']['message'] == (
                    'Build failed: the database could not be written (database or disk '
                    'is full); rebuild or delete this server'), servers[name]
        assert [servers['building-%d' % i]['status'] for i in range(2)] == ['ERROR'] * 2
        status, body = _create(api, 'after')
        assert status == 202, body
        accepted.append('after')
        assert _settled(api)['after']['status'] == 'ACTIVE'
        _consistent(api, db_dir / 'inject-api.sqlite', accepted)
    finally:
        slow_target.release()
        api.stop()


def test_database_read_only_then_checked_and_restarted(tmp_path, mounted):
    db_dir = mounted('ext4')
    db_file = db_dir / 'inject-api.sqlite'
    api = _start(tmp_path, _sqlite(db_dir))
    try:
        for i in range(3):
            assert _create(api, 'before-%d' % i)[0] == 202
        _settled(api)
        device = os.path.basename(subprocess.run(
            ['findmnt', '-n', '-o', 'SOURCE', str(db_dir)], check=True,
            capture_output=True, text=True).stdout.strip())
        with open('/sys/fs/ext4/%s/trigger_fs_error' % device, 'w') as f:
            f.write('inject test\n')
        for i in range(3):
            status, body = _create(api, 'ro-%d' % i)
            assert status == 503, body
            assert body['serviceUnavailable']['message'].startswith(
                'The database of inject-api cannot be written now (')
        # reads go on
        assert set(_servers(api)) <= {'before-0', 'before-1', 'before-2'}
    finally:
        api.stop()
    assert api.proc.returncode == 0
    # The operator's repair: unmount, check, mount again; then start inject-api.
    subprocess.run(['umount', str(db_dir)], check=True)
    subprocess.run(['e2fsck', '-fy', str(tmp_path / 'db.ext4')], capture_output=True)
    subprocess.run(['mount', '-o', 'loop', str(tmp_path / 'db.ext4'), str(db_dir)],
                   check=True)
    api = _start(tmp_path, _sqlite(db_dir))
    try:
        kept = sorted(_servers(api))
        # with [database] SQLite's synchronous=NORMAL, commits since the last
        # checkpoint were in the page cache only; an ext4 aborted on an error drops
        # them, as a power loss would (see README, Database): kept may be fewer
        assert set(kept) <= {'before-0', 'before-1', 'before-2'}
        assert _create(api, 'after')[0] == 202
        assert _settled(api)['after']['status'] == 'ACTIVE'
        _consistent(api, db_file, kept + ['after'])
    finally:
        api.stop()


# --- PostgreSQL --------------------------------------------------------------------
# The database of a test is made with the server's superuser (as tools/postgresql.sh
# does, through su postgres), so that its tables can live in a tablespace on a small
# file system of the test's own; the PostgreSQL server is shared with other tests.

def _psql(admin_url, *commands):
    port = sa.engine.make_url(admin_url).port or 5432
    args = ' '.join("-c %s" % shlex.quote(c) for c in commands)
    subprocess.run(['su', 'postgres', '-c', 'psql -v ON_ERROR_STOP=1 -q -p %d -d postgres '
                    '%s' % (port, args)], check=True, capture_output=True)


@pytest.fixture
def postgresql_database(tmp_path):
    """``make(tablespace_dir=None)``: the URL of a fresh database owned by the tests'
    role, its tables in a tablespace at ``tablespace_dir`` when given; dropped at the
    end."""
    _root()
    admin = services.required('INJECT_TEST_POSTGRESQL_URL', 'PostgreSQL',
                              'tools/postgresql.sh')
    role = sa.engine.make_url(admin).username
    made = []

    def make(tablespace_dir=None):
        name = 'inject_f_%s' % uuid.uuid4().hex[:12]
        commands = []
        if tablespace_dir is not None:
            subprocess.run(['chown', 'postgres:postgres', str(tablespace_dir)], check=True)
            commands.append("CREATE TABLESPACE %s LOCATION '%s'" % (name, tablespace_dir))
        commands.append('CREATE DATABASE %s OWNER "%s"%s' % (
            name, role, ' TABLESPACE %s' % name if tablespace_dir else ''))
        _psql(admin, *commands)
        made.append((name, tablespace_dir is not None))
        return name, sa.engine.make_url(admin).set(database=name).render_as_string(
            hide_password=False)

    make.admin = admin
    yield make
    for name, tablespace in made:
        _psql(admin, 'DROP DATABASE IF EXISTS %s WITH (FORCE)' % name,
              *(['DROP TABLESPACE IF EXISTS %s' % name] if tablespace else []))


def _until_refused(api, prefix, accepted, words, tries=200):
    """Create servers until 5 are refused: each answer a 202 (kept in ``accepted``)
    or a 503 whose message has one of ``words``."""
    refused = 0
    for i in range(tries):
        status, body = _create(api, '%s-%d' % (prefix, i))
        assert status in (202, 503), (status, body)
        if status == 202:
            accepted.append('%s-%d' % (prefix, i))
            continue
        message = body['serviceUnavailable']['message']
        # written, or read: a create reads (the quota) on a new connection first
        assert re.match(r'The database of inject-api cannot be (written|read) now \(',
                        message), message
        assert any(w in message for w in words), message
        refused += 1
        if refused == 5:
            return
    raise AssertionError('no create was refused in %d tries' % tries)


def _no_build_stuck(servers):
    for server in servers.values():
        if server['status'] == 'ERROR':
            assert server['fault']['message'].startswith(
                'Build failed: the database could not be written ('), server


@pytest.mark.postgresql
def test_postgresql_full_then_space_returns(tmp_path, mounted, postgresql_database,
                                            slow_target):
    # where the postgres user can reach it (pytest's tmp_path is root's only)
    space = pathlib.Path(tempfile.mkdtemp(prefix='inject-tablespace-', dir='/var/tmp'))
    subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=24m,mode=0700', 'tmpfs',
                    str(space)], check=True)
    try:
        _, url = postgresql_database(space)
        api = _start(tmp_path, url, SLOW_VENDORDATA % slow_target.url)
        try:
            accepted = _begin(api)
            _fill(space / 'filler')
            # PostgreSQL fills the free space of its pages first
            # (a new connection cannot write its relation cache file either)
            _until_refused(api, 'full', accepted, ('No space left on device',
                                                   'could not write init file'))
            assert set(_servers(api)) == set(accepted)
            slow_target.release()
            _builds_tried(api, ['building-0', 'building-1'])
            os.unlink(space / 'filler')
            _no_build_stuck(_settled(api))
            assert _create(api, 'after')[0] == 202
            accepted.append('after')
            assert _settled(api)['after']['status'] == 'ACTIVE'
            _consistent(api, None, accepted)
        finally:
            slow_target.release()
            api.stop()
    finally:
        subprocess.run(['umount', '-l', str(space)])
        space.rmdir()


@pytest.mark.postgresql
def test_postgresql_read_only_then_writable(tmp_path, postgresql_database, slow_target):
    name, url = postgresql_database()
    admin = postgresql_database.admin
    api = _start(tmp_path, url, SLOW_VENDORDATA % slow_target.url)
    try:
        accepted = _begin(api)
        # as a failover to a standby would: the database refuses writes, and the
        # sessions open now are ended (new ones take the setting); terminating is
        # asynchronous, so each is waited for (up to 10 s)
        _psql(admin, 'ALTER DATABASE %s SET default_transaction_read_only = on' % name,
              "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
              "WHERE datname = '%s'" % name)
        _until_refused(api, 'ro', accepted, ('read-only transaction',), tries=5)
        assert set(_servers(api)) == set(accepted)
        slow_target.release()
        _builds_tried(api, ['building-0', 'building-1'])
        _psql(admin, 'ALTER DATABASE %s RESET default_transaction_read_only' % name)
        # no restart: a write refused as read-only drops the process's pooled
        # connections, so at most one per worker is refused after this
        for i in range(3):
            status, body = _create(api, 'after-%d' % i)
            if status == 202:
                accepted.append('after-%d' % i)
                break
            assert status == 503 and 'read-only' in json.dumps(body)
        else:
            raise AssertionError('inject-api still refuses writes')
        servers = _settled(api)
        _no_build_stuck(servers)
        assert servers[accepted[-1]]['status'] == 'ACTIVE'
        _consistent(api, None, accepted)
    finally:
        slow_target.release()
        api.stop()
