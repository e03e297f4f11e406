"""PUT /servers/{id}: what may change per microversion, the body tempest's
update_server schema expects, and Nova's errors."""

import pytest

from inject.api import policy as policy_mod
from tests.api import contract

VERSIONS = ['2.1', '2.3', '2.9', '2.16', '2.18', '2.19', '2.26', '2.47', '2.54', '2.57']
MISSING = '8ad1ae0a-27c1-4a3c-9f8d-6b4b2a8e0c11'


def _update(api, sid, server, version='2.1', status=200, headers=None):
    return api.request('PUT', '/v2.1/servers/%s' % sid, {'server': server},
                       version=version, status=status, headers=headers)


def _ge(version, other):
    return tuple(map(int, version.split('.'))) >= tuple(map(int, other.split('.')))


@pytest.mark.parametrize('version', VERSIONS)
def test_update_body_matches_tempest(api, version):
    sid = api.create(version=version, name='before', metadata={'a': 'b'}).json[
        'server']['id']
    change = {'name': 'after', 'accessIPv4': '192.0.2.7', 'accessIPv6': '2001:db8::7',
              'OS-DCF:diskConfig': 'AUTO'}
    if _ge(version, '2.19'):
        change['description'] = 'a web server'
    resp = _update(api, sid, change, version)
    server = contract.check('servers', 'update_server', version, resp)['server']
    assert server['id'] == sid
    assert server['name'] == 'after'
    assert (server['accessIPv4'], server['accessIPv6']) == ('192.0.2.7', '2001:db8::7')
    assert server['OS-DCF:diskConfig'] == 'AUTO'
    assert server['metadata'] == {'a': 'b'}
    assert server['status'] == 'ACTIVE'
    assert server.get('description') == change.get('description')
    assert ('description' in server) == _ge(version, '2.19')
    # as Nova before 2.75: no detail or administrator attributes in the answer
    assert not [k for k in server if k.startswith(('OS-EXT-', 'OS-SRV-USG'))]
    assert 'key_name' not in server and 'security_groups' not in server
    shown = api.request('GET', '/v2.1/servers/%s' % sid, version=version,
                        status=200).json['server']
    assert shown['name'] == 'after' and shown['accessIPv4'] == '192.0.2.7'
    assert shown['OS-DCF:diskConfig'] == 'AUTO'


def test_update_changes_only_what_is_given(api):
    sid = api.create(version='2.19', name='keep', description='d',
                     accessIPv4='192.0.2.1').json['server']['id']
    server = _update(api, sid, {}, '2.19').json['server']
    assert (server['name'], server['description'], server['accessIPv4']) == (
        'keep', 'd', '192.0.2.1')
    server = _update(api, sid, {'accessIPv6': '2001:db8::1'}, '2.19').json['server']
    assert (server['name'], server['description'], server['accessIPv4'],
            server['accessIPv6']) == ('keep', 'd', '192.0.2.1', '2001:db8::1')


def test_null_description_clears_it(api):
    sid = api.create(version='2.19', description='old').json['server']['id']
    server = _update(api, sid, {'description': None}, '2.19').json['server']
    assert server['description'] is None


def test_description_needs_219(api):
    sid = api.create().json['server']['id']
    resp = _update(api, sid, {'description': 'x'}, '2.18', status=400)
    assert 'description' in resp.json['badRequest']['message']


@pytest.mark.parametrize('server', [
    {'name': ''}, {'name': 'x' * 256}, {'accessIPv4': '2001:db8::1'},
    {'accessIPv6': '192.0.2.1'}, {'OS-DCF:diskConfig': 'SOMETIMES'},
    {'hostname': 'web'}, {'imageRef': 'x'}, {'description': 'x' * 256},
])
def test_invalid_updates_are_400(api, server):
    sid = api.create().json['server']['id']
    resp = _update(api, sid, server, '2.57', status=400)
    assert resp.json['badRequest']['message']
    assert api.request('GET', '/v2.1/servers/%s' % sid).json['server']['name'] == 'vm'


def test_body_without_server_is_400(api):
    sid = api.create().json['server']['id']
    api.request('PUT', '/v2.1/servers/%s' % sid, {'name': 'x'}, status=400)
    api.request('PUT', '/v2.1/servers/%s' % sid, {'server': 'x'}, status=400)


def test_unknown_server_is_404_not_405(api):
    resp = _update(api, MISSING, {'name': 'x'}, status=404)
    assert resp.json == {'itemNotFound': {
        'code': 404, 'message': 'Instance %s could not be found.' % MISSING}}


def test_another_projects_server_is_404(api):
    sid = api.create().json['server']['id']
    other = {'X-Project-Id': 'other', 'X-Roles': 'member'}
    _update(api, sid, {'name': 'x'}, headers=other, status=404)
    owner = {'X-Roles': 'member'}
    assert _update(api, sid, {'name': 'x'}, headers=owner).json['server']['name'] == 'x'


def test_update_policy_can_be_tightened(api, tmp_path):
    policy = tmp_path / 'policy.yaml'
    policy.write_text('"os_compute_api:servers:update": "role:admin"\n')
    api.conf.set_override('policy_file', str(policy), group='oslo_policy')
    api.app.policy = policy_mod.Enforcer(api.conf)     # reads policy_file when made
    sid = api.create().json['server']['id']
    resp = _update(api, sid, {'name': 'x'}, headers={'X-Roles': 'member'}, status=403)
    assert 'os_compute_api:servers:update' in resp.json['forbidden']['message']
