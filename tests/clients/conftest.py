"""A real inject-api process on loopback, and the clients that drive it: the nova CLI
(python-novaclient, keystoneauth's ``none`` plugin, endpoint override) and openstacksdk.
Also inject-api behind the test Keystone (``keystone_api``) and :class:`OtherServices`,
the identity and block storage calls OSC makes besides compute.
"""

import http.server
import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request

import pytest

from inject.api import catalog
from tests.api import support

VENV_BIN = os.path.dirname(sys.executable)
APPLIANCE_CACHE = '/var/tmp/inject-tests/appliance'


def pytest_collection_modifyitems(items):
    for item in items:
        if 'tests/clients/' in str(item.fspath):
            item.add_marker(pytest.mark.clients)


def _free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


class InjectApi:
    """``inject-api`` started with a config file under ``state``; stopped by stop()."""

    def __init__(self, state, extra_conf=''):
        self.state = state
        self.port = _free_port()
        images = state / 'images'
        images.mkdir(parents=True, exist_ok=True)
        self.conf_file = state / 'inject.conf'
        self.conf_file.write_text(
            '[DEFAULT]\nstate_path = %s\n[api]\nport = %d\n[appliance]\ncache_dir = %s\n%s'
            % (state, self.port, APPLIANCE_CACHE, extra_conf))
        self.url = 'http://127.0.0.1:%d' % self.port
        self.endpoint = self.url + '/v2.1'
        self.log = open(state / 'inject-api.log', 'w')
        self.proc = subprocess.Popen(
            [os.path.join(VENV_BIN, 'inject-api'), '--config-file', str(self.conf_file)],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(self.url + '/', timeout=2).read()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError('inject-api did not start: %s'
                                       % (state / 'inject-api.log').read_text())
                time.sleep(0.2)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def nova(self, *args, version=None, check=True):
        """Run the nova CLI; return (exit status, stdout + stderr)."""
        env = dict(os.environ, OS_AUTH_TYPE='none', OS_USERNAME='demo',
                   OS_PROJECT_ID='demo', OS_AUTH_URL=self.url + '/identity-unused',
                   OS_ENDPOINT_OVERRIDE=self.endpoint)
        for name in ('OS_CLOUD', 'OS_PASSWORD', 'OS_TOKEN', 'OS_COMPUTE_API_VERSION'):
            env.pop(name, None)
        cmd = [os.path.join(VENV_BIN, 'nova')]
        if version:
            cmd += ['--os-compute-api-version', version]
        proc = subprocess.run(cmd + list(args), env=env, capture_output=True, text=True,
                              timeout=120, cwd=str(self.state))
        out = proc.stdout + proc.stderr
        if check:
            assert proc.returncode == 0, out
        return proc.returncode, out

    def sdk(self, version=None, roles=None):
        """openstacksdk without authentication; ``roles`` (e.g. 'admin') are sent as
        X-Roles, else the caller has [api]noauth_roles (member, reader)."""
        import openstack
        kwargs = {}
        if version:
            kwargs['compute_api_version'] = version
        conn = openstack.connect(auth_type='none', compute_endpoint_override=self.endpoint,
                                 load_envvars=False, **kwargs)
        if roles:
            conn.session.additional_headers['X-Roles'] = roles
        return conn

    def wait_status(self, server_id, wanted=('ACTIVE', 'ERROR'), timeout=300):
        import json
        deadline = time.monotonic() + timeout
        while True:
            with urllib.request.urlopen('%s/servers/%s' % (self.endpoint, server_id),
                                        timeout=10) as r:
                server = json.load(r)['server']
            if server['status'] in wanted or time.monotonic() > deadline:
                return server
            time.sleep(0.5)


@pytest.fixture(scope='module')
def admin_api(tmp_path_factory):
    """As disabled_api, with every noauth caller an administrator: what an operator
    alone on loopback sets ([api]noauth_roles = admin) to use admin APIs with clients
    that cannot send X-Roles, such as the nova CLI."""
    state = tmp_path_factory.mktemp('inject-api-admin')
    support.make_image(state)
    api = InjectApi(state, extra_conf='[api]\nnoauth_roles = admin\n')
    yield api
    api.stop()


@pytest.fixture(scope='module')
def disabled_api(tmp_path_factory):
    """inject-api as installed: injection disabled (-2), one empty base image."""
    state = tmp_path_factory.mktemp('inject-api')
    support.make_image(state)
    api = InjectApi(state)
    yield api
    api.stop()


VOLUME = '9d6a4c3e-4bd5-4b3c-a9ae-d7f1cfd7cb0a'


class OtherServices(http.server.ThreadingHTTPServer):
    """Identity and block storage, just far enough for OSC to reach compute."""

    def __init__(self):
        super().__init__(('127.0.0.1', 0), _OtherServicesHandler)
        self.url = 'http://127.0.0.1:%d' % self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.shutdown()
        self.server_close()


class _OtherServicesHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        base = self.server.url
        path = self.path.split('?', 1)[0].rstrip('/')
        if path == '/identity/v3':
            body = {'version': {'id': 'v3.14', 'status': 'stable', 'links': [
                {'rel': 'self', 'href': base + '/identity/v3/'}]}}
        elif path.startswith('/identity/v3/projects/'):
            project = path.rsplit('/', 1)[1]
            body = {'project': {'id': project, 'name': project, 'domain_id': 'default',
                                'enabled': True}}
        elif path == '/volume/v3':
            body = {'versions': [{'id': 'v3.0', 'status': 'CURRENT', 'version': '3.0',
                                  'min_version': '3.0', 'links': [
                                      {'rel': 'self', 'href': base + '/volume/v3/'}]}]}
        elif path == '/volume/v3/volumes/' + VOLUME:
            body = {'volume': {'id': VOLUME, 'name': 'vol', 'status': 'available',
                               'size': 1, 'bootable': 'true'}}
        elif path == '/volume/v3/limits':
            body = {'limits': {'rate': [], 'absolute': {'maxTotalVolumes': 10}}}
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture(scope='module')
def other_services():
    """:class:`OtherServices` on a free loopback port."""
    services = OtherServices()
    yield services
    services.stop()


def keystone_conf(keystone, extra=''):
    """inject.conf lines for ``[api]auth_strategy = keystone``: auth_token validates
    tokens with the test Keystone as ``inject-authtoken``; ``extra`` is appended."""
    service = keystone['users']['inject-authtoken']
    return textwrap.dedent('''\
        [keystone_authtoken]
        auth_type = password
        auth_url = {url}
        www_authenticate_uri = {url}
        username = {user}
        password = {password}
        user_domain_id = default
        project_name = {project}
        project_domain_id = default
        [api]
        auth_strategy = keystone
        ''').format(url=keystone['auth_url'], user=service['name'],
                    password=service['password'],
                    project=service['project_name']) + extra


@pytest.fixture(scope='module')
def keystone_api(tmp_path_factory, keystone):
    """inject-api with ``[api]auth_strategy = keystone``: keystonemiddleware's
    auth_token validates each token with the test Keystone, as ``inject-authtoken``.
    Injection disabled, one empty base image (its id in ``api.image_id``)."""
    state = tmp_path_factory.mktemp('inject-api-keystone')
    support.make_image(state)
    api = InjectApi(state, extra_conf=keystone_conf(keystone))
    api.image_id = catalog.images(str(state / 'images'))[0].id
    yield api
    api.stop()


def run_openstack(args, env, cwd, version=None, fmt='json', check=True):
    """Run the real ``openstack`` CLI: ``openstack [--os-compute-api-version V] ARGS
    [-f FMT]``. Returns the parsed JSON output, or with ``check=False`` (exit status,
    stdout + stderr)."""
    cmd = [os.path.join(VENV_BIN, 'openstack')]
    if version:
        cmd += ['--os-compute-api-version', version]
    cmd += list(args)
    if fmt:
        cmd += ['-f', fmt]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300,
                          cwd=str(cwd))
    if not check:
        return proc.returncode, proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout) if fmt == 'json' and proc.stdout.strip() else None
