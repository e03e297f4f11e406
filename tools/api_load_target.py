"""The inject-api process that tools/api_load.py measures: its work directory, its
configuration (noauth, injection disabled, one tiny raw image), its database (SQLite
under the work directory, or a fresh PostgreSQL database made for the run and dropped
after it), its CPU time from /proc, and seeding servers straight into its database.

The process runs this checkout's code (``python -m inject.cmd.api`` with the checkout
first on PYTHONPATH), on a free 127.0.0.1 port. With ``api_workers`` above 1 it is a
parent and its worker processes (allowed with the in-process agent because injection
is disabled). With ``transport_url`` the agent is reached over that broker instead:
an ``inject-agent`` (injection disabled too) is started next to inject-api under an
[agent]host name of its own, and its CPU is counted with inject-api's.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid as uuid_mod

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE_BYTES = 1024 * 1024


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


# --- PostgreSQL: one fresh database per run --------------------------------------------

def _pg_admin(url):
    import psycopg2
    conn = psycopg2.connect(host=url.host, port=url.port or 5432, user=url.username,
                            password=url.password, dbname=url.database or 'postgres')
    conn.autocommit = True
    return conn


def create_pg_database(base_url):
    """A new empty database next to the one ``base_url`` names (the role needs
    CREATEDB, as tools/postgresql.sh gives it); return its SQLAlchemy URL."""
    from sqlalchemy.engine import make_url
    url = make_url(base_url)
    name = 'inject_load_%s' % uuid_mod.uuid4().hex[:12]
    conn = _pg_admin(url)
    try:
        with conn.cursor() as cur:
            cur.execute('CREATE DATABASE "%s"' % name)
    finally:
        conn.close()
    return url.set(database=name).render_as_string(hide_password=False)


def drop_pg_database(run_url, base_url):
    from sqlalchemy.engine import make_url
    name = make_url(run_url).database
    conn = _pg_admin(make_url(base_url))
    try:
        with conn.cursor() as cur:
            cur.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % name)
    finally:
        conn.close()


# --- the process ------------------------------------------------------------------------

def _cpu_ticks(pid):
    """utime + stime + cutime + cstime of ``pid`` (reaped children such as qemu-img
    included), in clock ticks; None when the process is gone."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except OSError:
        return None
    # After "(comm)": state is field 3, so utime..cstime (14..17) are [11:15].
    return sum(int(v) for v in fields[11:15])


def _children(pid):
    """The pids of ``pid``'s live children (its worker processes)."""
    found = []
    try:
        for task in os.listdir('/proc/%d/task' % pid):
            with open('/proc/%d/task/%s/children' % (pid, task)) as f:
                found += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return found


def _tree_ticks(pid):
    """CPU ticks of ``pid`` and of its live children (each with its reaped children;
    a worker that died meanwhile is in the parent's cutime); None when ``pid`` is
    gone."""
    own = _cpu_ticks(pid)
    if own is None:
        return None
    return own + sum(_cpu_ticks(c) or 0 for c in _children(pid))


def postgres_cpu_seconds():
    """CPU seconds of every PostgreSQL server process on the machine (its backends,
    live or exited since: a backend's time is in the postmaster's cutime once it is
    reaped), summed from /proc: what the database spent, which api CPU does not
    count. Other users of the cluster count too: measure on an otherwise idle one."""
    ticks = 0
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            with open('/proc/%s/comm' % pid) as f:
                if f.read().strip() != 'postgres':
                    continue
        except OSError:
            continue
        ticks += _cpu_ticks(int(pid)) or 0
    return ticks / os.sysconf('SC_CLK_TCK')


class Target:
    """inject-api started by :meth:`start`, always stopped by :meth:`stop`."""

    def __init__(self, db='sqlite', db_url=None, api_threads=None, workdir=None,
                 keep=False, image='load', api_workers=1, transport_url=None):
        self.db = db
        self.base_db_url = db_url
        self.api_threads = api_threads
        self.api_workers = api_workers
        self.transport_url = transport_url
        self.agent = None
        self.agent_host = 'api-load-%s' % uuid_mod.uuid4().hex[:12]
        self.keep = keep
        self.workdir = workdir or tempfile.mkdtemp(prefix='inject-api-load-')
        os.makedirs(self.workdir, exist_ok=True)
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        self.db_url = None
        self.proc = None
        self.log = None
        self.image_path = os.path.join(self.workdir, 'images', image + '.raw')

    @property
    def log_path(self):
        return os.path.join(self.workdir, 'inject-api.log')

    def _config(self):
        if self.db == 'postgresql':
            self.db_url = create_pg_database(self.base_db_url)
        else:
            self.db_url = 'sqlite:///%s' % os.path.join(self.workdir, 'inject-api.sqlite')
        lines = ['[DEFAULT]', 'state_path = %s' % self.workdir]
        if self.transport_url:
            lines.append('transport_url = %s' % self.transport_url)
        lines += ['[api]', 'host = 127.0.0.1', 'port = %d' % self.port,
                  'auth_strategy = noauth', 'workers = %d' % self.api_workers]
        if self.api_threads:
            lines.append('threads = %d' % self.api_threads)
        lines += ['[agent]', 'host = %s' % self.agent_host, 'selftest_interval = -1']
        lines += ['[injection]', 'inject_partition = -2',
                  '[database]', 'connection = %s' % self.db_url, '']
        path = os.path.join(self.workdir, 'inject.conf')
        with open(path, 'w') as f:
            f.write('\n'.join(lines))
        return path

    def start(self, timeout=60):
        os.makedirs(os.path.dirname(self.image_path), exist_ok=True)
        with open(self.image_path, 'wb') as f:   # a tiny raw base image: zeros
            f.truncate(IMAGE_BYTES)
        conf = self._config()
        env = dict(os.environ)
        env['PYTHONPATH'] = os.pathsep.join(
            [TOP] + [p for p in env.get('PYTHONPATH', '').split(os.pathsep) if p])
        self.log = open(self.log_path, 'w')
        if self.transport_url:
            self.agent = subprocess.Popen(
                [sys.executable, '-m', 'inject.cmd.agent', '--config-file', conf],
                stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=env, cwd=self.workdir)
        self.proc = subprocess.Popen(
            [sys.executable, '-m', 'inject.cmd.api', '--config-file', conf],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(self.url + '/', timeout=2).read()
                return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError('inject-api did not start; its log:\n%s'
                                       % self.log_tail())
                time.sleep(0.2)

    def log_tail(self, chars=3000):
        try:
            with open(self.log_path, errors='replace') as f:
                return f.read()[-chars:]
        except OSError:
            return ''

    def cpu_seconds(self):
        """CPU seconds of inject-api (its workers included) and of its inject-agent."""
        ticks = _tree_ticks(self.proc.pid) if self.proc else None
        if ticks is not None and self.agent is not None:
            ticks += _cpu_ticks(self.agent.pid) or 0
        return None if ticks is None else ticks / os.sysconf('SC_CLK_TCK')

    def stop(self):
        """Stop the process (SIGTERM, then SIGKILL after 60 s), drop the run's
        PostgreSQL database and remove the work directory unless ``keep``."""
        for proc in (self.proc, self.agent):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (self.proc, self.agent):
            if proc is not None:
                try:
                    proc.wait(60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self.log:
            self.log.close()
            self.log = None
        if self.db == 'postgresql' and self.db_url and not self.keep:
            try:
                drop_pg_database(self.db_url, self.base_db_url)
            except Exception as e:   # report, but never mask the run's own outcome
                print('api_load: could not drop %s: %s' % (self.db_url, e),
                      file=sys.stderr)
        if not self.keep:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # --- seeding without the API ---------------------------------------------------------

    def seed_db(self, project, user, count, deadline):
        """Insert ``count`` ACTIVE servers of ``project`` straight into the database
        through inject.db.api, as a finished create leaves them but without a disk
        file. Return how many were inserted before ``deadline`` (monotonic)."""
        sys.path.insert(0, TOP)
        from inject.api import catalog
        from inject.db import api as db_api
        from inject.db import models
        from inject.db import system_metadata
        image = catalog.Image(self.image_path, 'raw')
        db = db_api.Database(self.db_url, sync=False)
        done = 0
        try:
            while done < count and time.monotonic() < deadline:
                now = models.utcnow()
                db.instance_create(dict(
                    uuid=str(uuid_mod.uuid4()), project_id=project, user_id=user,
                    name='seed-%d' % done, description=None, vm_state='active',
                    task_state=None, power_state=0, image_ref=image.id,
                    flavor=catalog.flavor('1'), user_data=None, access_ip_v4=None,
                    access_ip_v6=None, disk_config='MANUAL', availability_zone='nova',
                    config_drive='', tags=[], locked=False, deleted=False,
                    launched_at=now, host=socket.gethostname()),
                    {}, {system_metadata.IMAGE_BASE_IMAGE_REF: image.id})
                done += 1
        finally:
            db.dispose()
        return done


def rabbitmq_url():
    """The transport URL ``bash tools/rabbitmq.sh`` prints (it starts a loopback
    RabbitMQ, installing Debian's package when missing)."""
    out = subprocess.run(['bash', os.path.join(TOP, 'tools', 'rabbitmq.sh')],
                         check=True, capture_output=True, text=True).stdout
    return out.split()[-1]
