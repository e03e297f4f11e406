"""Helpers shared by the API, database and client tests: a configuration on a temporary
state directory, base images, the fake injection core, and a WebTest client."""

import base64
import subprocess

import webtest

from inject import report as report_mod
from inject.api import wsgi
from inject import conf as inject_conf

# noauth callers are project members unless they say otherwise; quota updates, quota
# classes and the administrator-only attributes need this header.
ADMIN = {'X-Roles': 'admin'}


def make_conf(state_path, **overrides):
    conf = inject_conf.new_conf()
    conf([], project='inject', default_config_files=[])
    conf.set_override('state_path', str(state_path))
    # the in-process agent's self-test would launch an appliance per test
    conf.set_override('selftest_interval', -1, group='agent')
    for key, value in overrides.items():
        group, _, name = key.rpartition('.')
        conf.set_override(name, value, group=group or None)
    return conf


def make_image(state_path, name='cirros', fmt='qcow2'):
    images = state_path / 'images'
    images.mkdir(exist_ok=True)
    path = images / ('%s.%s' % (name, fmt))
    subprocess.run(['qemu-img', 'create', '-q', '-f', fmt, str(path), '16M'], check=True)
    return path


class FakeInjection:
    """Stands in for the injection core: every item injected, unless told otherwise."""

    def __init__(self):
        self.requests = []
        self.fail_with = None

    def __call__(self, conf, request, **kwargs):
        self.requests.append(request)
        report = report_mod.Report(image=request.image.path, format='qcow2')
        for path, _ in request.files:
            report.items.append(report_mod.ItemResult('file', path, report_mod.INJECTED))
        if request.metadata:
            report.items.append(report_mod.ItemResult('metadata', '/meta.js',
                                                      report_mod.INJECTED))
        if request.admin_password:
            report.items.append(report_mod.ItemResult(
                'admin_password', '/etc/shadow', report_mod.SKIPPED,
                'inject_password is false on this host'))
        if self.fail_with:
            report.error = self.fail_with
            report.fail_all(self.fail_with)
        return report


class Api:
    def __init__(self, state_path, conf, fake):
        self.state_path = state_path
        self.conf = conf
        self.fake = fake
        self.app = wsgi.make_app(conf)
        self.test = webtest.TestApp(self.app)

    def request(self, method, path, body=None, version=None, status=None, headers=None):
        h = dict(headers or {})
        if version:
            h['OpenStack-API-Version'] = 'compute %s' % version
        kwargs = {'headers': h, 'expect_errors': True}
        if body is not None:
            kwargs['params'] = body
            fn = getattr(self.test, method.lower() + '_json')
        else:
            fn = getattr(self.test, method.lower())
        resp = fn(path, **kwargs)
        if status is not None:
            assert resp.status_int == status, resp.text
        return resp

    def create(self, version='2.1', status=202, wait=True, headers=None, **server):
        server.setdefault('name', 'vm')
        server.setdefault('imageRef', self.image_id)
        server.setdefault('flavorRef', '1')
        if version not in ('2.1',) and _ge(version, '2.37'):
            server.setdefault('networks', 'none')
        resp = self.request('POST', '/v2.1/servers', {'server': server}, version, status,
                            headers)
        if wait:
            self.app.compute.wait()
        return resp

    @property
    def image_id(self):
        from inject.api import catalog
        return catalog.images(self.conf.api.image_dir)[0].id


def _ge(version, other):
    return tuple(map(int, version.split('.'))) >= tuple(map(int, other.split('.')))


def b64(data):
    return base64.b64encode(data).decode()
