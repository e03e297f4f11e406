"""``[api]workers``: real inject-api processes (``python -m inject.cmd.api``, injection
disabled, so the in-process agent of each worker never launches an appliance). The
workers share one port; the parent restarts a dead one, passes SIGHUP on and stops them
all on SIGTERM, and they die with it when it is killed; the quota of a project holds
across workers (one decision in the database, not in a process)."""

import concurrent.futures
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

import pytest

from inject import conf as inject_conf
from inject.api import middleware
from inject.cmd import api as api_cmd
from tests import processes
from tests.api.support import make_conf, make_image
from tests.db.conftest import postgresql_url  # noqa: F401  (a fixture)

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MEMBER = {'X-Project-Id': 'p1', 'X-User-Id': 'u1', 'X-Roles': 'member,reader',
          'Accept': 'application/json'}


class ApiProcess:
    """inject-api with ``workers`` worker processes, on a free port."""

    def __init__(self, tmp_path, db_url, workers=2, extra=''):
        make_image(tmp_path)
        self.log_path = tmp_path / 'inject-api.log'
        self.config = tmp_path / 'inject.conf'
        self.config.write_text(
            '[DEFAULT]\nstate_path = %s\nlog_file = %s\n'
            '[api]\nport = 0\nworkers = %d\n'
            '[agent]\nselftest_interval = -1\n'
            '[injection]\ninject_partition = -2\n'
            '[database]\nconnection = %s\n%s'
            % (tmp_path, self.log_path, workers, db_url, extra))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [TOP] + [p for p in os.environ.get('PYTHONPATH', '').split(os.pathsep) if p]))
        self.proc = subprocess.Popen(
            [sys.executable, '-m', 'inject.cmd.api', '--config-file', str(self.config)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, text=True)
        for line in self.proc.stdout:
            found = re.search(r'listening on http://[^:]+:(\d+)/', line)
            if found:
                self.port = int(found.group(1))
                break
        else:
            raise AssertionError('inject-api did not start: %s' % self.log())
        self.wait_for(lambda: len(self.workers()) == workers, 'its workers')
        self.wait_for(self.answers, 'an answer')

    def log(self):
        return self.log_path.read_text() if self.log_path.exists() else ''

    def workers(self):
        found = []
        for task in os.listdir('/proc/%d/task' % self.proc.pid):
            with open('/proc/%d/task/%s/children' % (self.proc.pid, task)) as f:
                found += [int(pid) for pid in f.read().split()]
        return sorted(found)

    def request(self, method, path, body=None, headers=MEMBER):
        conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=60)
        try:
            h = dict(headers)
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                h['Content-Type'] = 'application/json'
            conn.request(method, path, body=data, headers=h)
            resp = conn.getresponse()
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
        finally:
            conn.close()

    def answers(self):
        try:
            return self.request('GET', '/v2.1/limits')[0] == 200
        except OSError:
            return False

    def wait_for(self, condition, what, seconds=60):
        deadline = time.monotonic() + seconds
        while not condition():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError('inject-api: no %s; log:\n%s' % (what, self.log()))
            time.sleep(0.1)

    def pids_that_served(self, method, path):
        """Worker pids in the request log lines of ``method path``."""
        line = re.compile(r'^\S+ \S+ (\d+) INFO %s .*"%s %s'
                          % (re.escape(middleware.LOG.name), method, re.escape(path)),
                          re.M)
        return {int(pid) for pid in line.findall(self.log())}

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


@pytest.fixture
def api_process(tmp_path):
    procs = []

    def start(db_url=None, **kwargs):
        proc = ApiProcess(tmp_path, db_url or 'sqlite:///%s' % (tmp_path / 'api.sqlite'),
                          **kwargs)
        procs.append(proc)
        return proc
    yield start
    for proc in procs:
        proc.stop()


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open('/proc/%d/stat' % pid) as f:
        return f.read().rsplit(')', 1)[1].split()[0] != 'Z'


def test_workers_share_the_port_restart_keep_on_sighup_and_stop(api_process, tmp_path):
    api = api_process(workers=2)
    first = api.workers()
    assert len(first) == 2
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        for _ in range(20):
            statuses = list(pool.map(lambda _: api.request('GET', '/v2.1/limits')[0],
                                     range(16)))
            assert statuses == [200] * 16
            if len(api.pids_that_served('GET', '/v2.1/limits')) == 2:
                break
    assert api.pids_that_served('GET', '/v2.1/limits') == set(first)

    # A worker that dies is replaced; the other one keeps serving meanwhile.
    os.kill(first[0], signal.SIGKILL)
    api.wait_for(lambda: len(api.workers()) == 2 and first[0] not in api.workers(),
                 'replacement worker')
    assert first[1] in api.workers()
    assert 'worker %d died (signal 9); starting another' % first[0] in api.log()
    assert api.request('GET', '/v2.1/limits')[0] == 200

    # SIGHUP is passed on: every worker re-reads the policy file and lives on (the
    # default action of SIGHUP would have ended them).
    now = api.workers()
    (tmp_path / 'policy.yaml').write_text('"os_compute_api:limits": "role:admin"\n')
    api.proc.send_signal(signal.SIGHUP)
    assert api.request('GET', '/v2.1/limits')[0] in (200, 403)
    api.wait_for(lambda: api.request('GET', '/v2.1/limits')[0] == 403, 'new policy')
    assert api.workers() == now and all(_alive(pid) for pid in now)

    # SIGTERM stops the parent and every worker.
    api.proc.send_signal(signal.SIGTERM)
    assert api.proc.wait(90) == 0
    assert not any(_alive(pid) for pid in now)


def test_workers_die_with_a_killed_parent(api_process):
    """kill -9 of the parent: no worker goes on serving the socket (or building) as an
    orphan beside the inject-api started next."""
    api = api_process(workers=2)
    workers = api.workers()
    assert api.request('GET', '/v2.1/limits')[0] == 200
    tree, survivors = processes.survivors_of_sigkill(api.proc)
    assert sorted(pid for pid, _ in tree) == workers
    assert survivors == []
    assert '%s worker %d: the parent process %d died; exiting' % (
        'inject-api', workers[0], api.proc.pid) in api.log()


@pytest.mark.parametrize('backend', ['sqlite', pytest.param('postgresql',
                                                            marks=pytest.mark.postgresql)])
def test_the_quota_holds_across_worker_processes(api_process, request, backend):
    url = None
    if backend == 'postgresql':
        url = request.getfixturevalue('postgresql_url')
    api = api_process(db_url=url, workers=2)
    admin = dict(MEMBER, **{'X-Roles': 'admin'})
    assert api.request('PUT', '/v2.1/os-quota-sets/p1', {'quota_set': {'instances': 5}},
                       headers=admin)[0] == 200
    status, images = api.request('GET', '/v2.1/images')
    image = images['images'][0]['id']

    def create(i):
        return api.request('POST', '/v2.1/servers', {'server': {
            'name': 'q%d' % i, 'imageRef': image, 'flavorRef': '1'}})[0]

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(create, range(36)))
    assert sorted(statuses) == [202] * 5 + [403] * 31
    assert len(api.pids_that_served('POST', '/v2.1/servers')) == 2
    limits = api.request('GET', '/v2.1/limits')[1]['limits']['absolute']
    assert limits['totalInstancesUsed'] == 5


def test_the_builds_of_a_dead_worker_go_to_error(api_process):
    # A dynamic vendordata target that never answers holds the build (config drive).
    silent = socket.create_server(('127.0.0.1', 0))
    try:
        api = api_process(workers=2, extra=(
            '[api]\nvendordata_providers = StaticJSON,DynamicJSON\n'
            'vendordata_dynamic_targets = vd@http://127.0.0.1:%d/\n'
            'vendordata_dynamic_read_timeout = 600\n' % silent.getsockname()[1]))
        image = api.request('GET', '/v2.1/images')[1]['images'][0]['id']
        status, body = api.request('POST', '/v2.1/servers', {'server': {
            'name': 'held', 'imageRef': image, 'flavorRef': '1', 'config_drive': True}})
        assert status == 202
        sid = body['server']['id']
        builder = api.pids_that_served('POST', '/v2.1/servers')
        assert len(builder) == 1
        other = [pid for pid in api.workers() if pid not in builder]
        assert api.request('GET', '/v2.1/servers/%s' % sid)[1]['server']['status'] == 'BUILD'
        os.kill(builder.pop(), signal.SIGKILL)

        def server():
            return api.request('GET', '/v2.1/servers/%s' % sid,
                               headers=dict(MEMBER, **{'X-Roles': 'admin'}))[1]['server']
        api.wait_for(lambda: server()['status'] == 'ERROR', 'ERROR status')
        assert 'worker process building this server stopped' in server()['fault'][
            'message']
        assert all(_alive(pid) for pid in other)
    finally:
        silent.close()


def test_several_workers_need_a_broker_when_the_agent_may_inject(tmp_path):
    make_image(tmp_path)
    config = tmp_path / 'inject.conf'
    config.write_text('[DEFAULT]\nstate_path = %s\n[api]\nport = 0\nworkers = 2\n'
                      '[injection]\ninject_partition = 1\n' % tmp_path)
    env = dict(os.environ, PYTHONPATH=TOP)
    done = subprocess.run([sys.executable, '-m', 'inject.cmd.api', '--config-file',
                           str(config)], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 2
    assert '[api]workers = 2 needs [DEFAULT]transport_url' in done.stderr


def _conf(tmp_path, **overrides):
    url = overrides.pop('transport_url', None)
    conf = make_conf(tmp_path, **overrides)
    api_cmd.rpcapi.transport_url(conf)       # registers the option
    if url:
        conf.set_override('transport_url', url)
    return conf


@pytest.mark.parametrize('overrides, expected', [
    ({'injection.inject_partition': 1}, 1),
    ({'injection.inject_partition': -1}, 1),
    ({'injection.inject_partition': -2}, os.cpu_count()),
    ({'injection.inject_partition': 1, 'transport_url': 'rabbit://u:p@h:5672/'},
     os.cpu_count()),
    ({'injection.inject_partition': 1, 'api.workers': 1}, 1),
    ({'injection.inject_partition': -2, 'api.workers': 3}, 3),
    ({'injection.inject_partition': 1, 'transport_url': 'rabbit://u:p@h:5672/',
      'api.workers': 4}, 4),
])
def test_worker_count(tmp_path, overrides, expected):
    assert api_cmd.worker_count(_conf(tmp_path, **overrides)) == expected


def test_several_workers_with_an_in_process_agent_that_may_inject_are_refused(tmp_path):
    conf = _conf(tmp_path, **{'injection.inject_partition': 1, 'api.workers': 2})
    with pytest.raises(ValueError, match='in-process injection agent serves one'):
        api_cmd.worker_count(conf)


def test_the_option_is_registered():
    conf = inject_conf.new_conf()
    conf([], project='inject', default_config_files=[])
    assert conf.api.workers is None
