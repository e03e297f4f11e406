"""Servers: bodies per microversion (tempest's schemas), personality, user_data,
quotas on injected files, the spawn flow with injection faked at its boundary."""

import os

import pytest

from tests.api import contract
from tests.api.support import ADMIN, b64

VERSIONS = ['2.1', '2.8', '2.9', '2.19', '2.26', '2.36', '2.37', '2.47', '2.54', '2.56',
            '2.57']


@pytest.mark.parametrize('version', VERSIONS)
def test_bodies_match_tempest(api, version):
    resp = api.create(version=version, metadata={'a': 'b'})
    body = contract.check('servers', 'create_server_with_admin_pass', version, resp)
    sid = body['server']['id']
    show = api.request('GET', '/v2.1/servers/%s' % sid, version=version, status=200)
    server = contract.check('servers', 'get_server', version, show)['server']
    assert server['status'] == 'ACTIVE'
    assert server['metadata'] == {'a': 'b'}
    assert ('locked' in server) == (version not in ('2.1', '2.8'))
    assert ('flavor' in server and 'original_name' in server['flavor']) == (
        contract.schema_module('servers', version) is not None
        and tuple(map(int, version.split('.'))) >= (2, 47))
    contract.check('servers', 'list_servers', version,
                   api.request('GET', '/v2.1/servers', version=version, status=200))
    contract.check('servers', 'list_servers_detail', version,
                   api.request('GET', '/v2.1/servers/detail', version=version,
                               status=200))
    rebuild = {'imageRef': api.image_id, 'name': 'again'}
    resp = api.request('POST', '/v2.1/servers/%s/action' % sid, {'rebuild': rebuild},
                       version=version, status=202)
    body = contract.check('servers', 'rebuild_server_with_admin_pass', version, resp)
    assert body['server']['status'] == 'REBUILD'
    api.app.compute.wait()
    resp = api.request('DELETE', '/v2.1/servers/%s' % sid, version=version, status=204)
    contract.check('servers', 'delete_server', version, resp)
    api.request('GET', '/v2.1/servers/%s' % sid, version=version, status=404)


def test_create_with_personality_injects_decoded_files(api):
    files = [{'path': '/etc/motd', 'contents': b64(b'hello\n')},
             {'path': '/etc/app/app.ini', 'contents': b64(b'\x00\xffbinary')}]
    resp = api.create(version='2.56', personality=files)
    sid = resp.json['server']['id']
    req, = api.fake.requests
    assert req.files == [('/etc/motd', b'hello\n'), ('/etc/app/app.ini', b'\x00\xffbinary')]
    assert req.image.format == 'qcow2'
    disk = req.image.path
    assert disk == os.path.join(str(api.state_path), 'instances', sid, 'disk')
    info = os.popen('qemu-img info --output=json %s' % disk).read()
    assert '"backing-filename"' in info and 'cirros.qcow2' in info
    show = api.request('GET', '/v2.1/servers/%s' % sid, version='2.56', status=200)
    assert show.json['server']['status'] == 'ACTIVE'


@pytest.mark.parametrize('version', ['2.57'])
def test_personality_rejected_from_257(api, version):
    resp = api.create(version=version, status=400, wait=False, personality=[
        {'path': '/etc/motd', 'contents': b64(b'x')}])
    assert 'personality' in resp.json['badRequest']['message']


def test_personality_quotas(api):
    five = [{'path': '/f%d' % i, 'contents': b64(b'x')} for i in range(6)]
    resp = api.create(version='2.56', status=403, wait=False, personality=five)
    assert resp.json == {'forbidden': {'code': 403,
                                       'message': 'Personality file limit exceeded'}}
    long_path = '/' + 'p' * 255
    resp = api.create(version='2.56', status=403, wait=False, personality=[
        {'path': long_path, 'contents': b64(b'x' * 20000)}])
    assert resp.json['forbidden']['message'] == (
        'Personality file path exceeds maximum 255')
    # content is counted decoded: 10240 bytes pass (Nova refused ~7680 and more)
    api.create(version='2.56', personality=[
        {'path': '/big', 'contents': b64(b'x' * 10240)}])
    resp = api.create(version='2.56', status=403, wait=False, personality=[
        {'path': '/big', 'contents': b64(b'x' * 10241)}])
    assert resp.json['forbidden']['message'] == (
        'Personality file content exceeds maximum 10240')


def test_personality_quota_on_rebuild(api):
    sid = api.create(version='2.56').json['server']['id']
    files = [{'path': '/f%d' % i, 'contents': b64(b'x')} for i in range(6)]
    resp = api.request('POST', '/v2.1/servers/%s/action' % sid,
                       {'rebuild': {'imageRef': api.image_id, 'personality': files}},
                       version='2.56', status=403)
    assert resp.json['forbidden']['message'] == 'Personality file limit exceeded'


def test_rebuild_reinjects_personality(api):
    sid = api.create(version='2.56', personality=[
        {'path': '/etc/motd', 'contents': b64(b'one')}]).json['server']['id']
    api.request('POST', '/v2.1/servers/%s/action' % sid, {'rebuild': {
        'imageRef': api.image_id,
        'personality': [{'path': '/etc/motd', 'contents': b64(b'two')}]}},
        version='2.56', status=202)
    api.app.compute.wait()
    assert [r.files for r in api.fake.requests] == [[('/etc/motd', b'one')],
                                                     [('/etc/motd', b'two')]]
    show = api.request('GET', '/v2.1/servers/%s' % sid, status=200).json['server']
    assert show['status'] == 'ACTIVE'


def _rebuild(api, sid, version, status=202, **extra):
    body = {'rebuild': dict({'imageRef': api.image_id}, **extra)}
    return api.request('POST', '/v2.1/servers/%s/action' % sid, body, version=version,
                       status=status)


def test_rebuild_user_data_257(api):
    sid = api.create(version='2.57', user_data=b64(b'first')).json['server']['id']
    resp = _rebuild(api, sid, '2.57', user_data=b64(b'echo "hello world"'))
    body = contract.check('servers', 'rebuild_server_with_admin_pass', '2.57', resp)
    assert body['server']['user_data'] == 'ZWNobyAiaGVsbG8gd29ybGQi'
    api.app.compute.wait()
    # absent keeps
    resp = _rebuild(api, sid, '2.57')
    assert resp.json['server']['user_data'] == 'ZWNobyAiaGVsbG8gd29ybGQi'
    api.app.compute.wait()
    # null clears
    resp = _rebuild(api, sid, '2.57', user_data=None)
    assert resp.json['server']['user_data'] is None
    api.app.compute.wait()
    assert api.app.db.instance_get(sid).user_data is None


@pytest.mark.parametrize('user_data', ['invalid', 'MQ==' * 16384, 'aGk=$'])
def test_rebuild_user_data_invalid(api, user_data):
    sid = api.create(version='2.57').json['server']['id']
    _rebuild(api, sid, '2.57', status=400, user_data=user_data)


def test_rebuild_user_data_before_257_refused(api):
    sid = api.create(version='2.56').json['server']['id']
    _rebuild(api, sid, '2.56', status=400, user_data=b64(b'x'))


def test_rebuild_personality_refused_at_257(api):
    sid = api.create(version='2.57').json['server']['id']
    resp = _rebuild(api, sid, '2.57', status=400,
                    personality=[{'path': '/a', 'contents': b64(b'x')}])
    assert 'personality' in resp.json['badRequest']['message']


def test_rebuild_while_building_conflicts(api):
    sid = api.create(version='2.57', wait=False).json['server']['id']
    api.app.compute.wait()
    api.app.db.instance_update(sid, vm_state='building', task_state='spawning')
    resp = _rebuild(api, sid, '2.57', status=409)
    assert 'conflictingRequest' in resp.json


def test_injection_failure_gives_error_with_fault(api):
    api.fake.fail_with = 'appliance did not start: no kernel'
    sid = api.create(version='2.56', personality=[
        {'path': '/etc/motd', 'contents': b64(b'x')}]).json['server']['id']
    resp = api.request('GET', '/v2.1/servers/%s' % sid, version='2.56', status=200)
    server = contract.check('servers', 'get_server', '2.56', resp)['server']
    assert server['status'] == 'ERROR'
    assert '/etc/motd' in server['fault']['message']
    assert 'no kernel' in server['fault']['message']


def test_injection_disabled_server_error_names_files(api_disabled):
    api = api_disabled
    sid = api.create(version='2.56', personality=[
        {'path': '/etc/motd', 'contents': b64(b'x')},
        {'path': '/etc/issue', 'contents': b64(b'y')}]).json['server']['id']
    server = api.request('GET', '/v2.1/servers/%s' % sid, status=200).json['server']
    assert server['status'] == 'ERROR'
    message = server['fault']['message']
    assert '/etc/motd' in message and '/etc/issue' in message
    assert 'inject_partition=-2' in message


def test_injection_disabled_without_personality_is_active(api_disabled):
    api = api_disabled
    sid = api.create(version='2.57', metadata={'k': 'v'}).json['server']['id']
    server = api.request('GET', '/v2.1/servers/%s' % sid, status=200).json['server']
    assert server['status'] == 'ACTIVE'


def test_injection_disabled_refuse_policy(api_disabled):
    api = api_disabled
    api.conf.set_override('personality_without_injection', 'refuse', group='api')
    resp = api.create(version='2.56', status=400, wait=False, personality=[
        {'path': '/etc/motd', 'contents': b64(b'x')}])
    assert 'inject_partition = -2' in resp.json['badRequest']['message']
    api.create(version='2.56')   # without personality: fine


def test_create_refusals(api):
    api.create(status=400, wait=False, imageRef='no-such-image')
    api.create(status=400, wait=False, flavorRef='99')
    api.create(status=400, wait=False, key_name='mykey')
    api.create(status=400, wait=False, name='')
    api.create(version='2.37', status=400, wait=False, networks='bogus')
    api.request('POST', '/v2.1/servers', {'server': {
        'name': 'x', 'imageRef': api.image_id, 'flavorRef': '1'}}, version='2.37',
        status=400)
    api.request('POST', '/v2.1/servers', 'not json', status=400)


def test_instance_quota(api):
    api.request('PUT', '/v2.1/os-quota-sets/inject', {'quota_set': {'instances': 1}},
                status=200, headers=ADMIN)
    api.create()
    resp = api.create(status=403, wait=False)
    assert 'Quota exceeded for instances' in resp.json['forbidden']['message']


def test_metadata_quota(api):
    api.request('PUT', '/v2.1/os-quota-sets/inject',
                {'quota_set': {'metadata_items': 1}}, status=200, headers=ADMIN)
    api.create(status=403, wait=False, metadata={'a': '1', 'b': '2'})


def test_projects_are_isolated(api):
    sid = api.create().json['server']['id']
    other = {'X-Project-Id': 'other', 'X-Roles': 'member'}
    api.request('GET', '/v2.1/servers/%s' % sid, headers=other, status=404)
    assert api.request('GET', '/v2.1/servers', headers=other).json['servers'] == []
    api.request('GET', '/v2.1/other/servers/%s' % sid,
                headers={'X-Roles': 'member'}, status=404)


def test_list_pagination(api):
    ids = [api.create(name='vm%d' % i).json['server']['id'] for i in range(3)]
    resp = api.request('GET', '/v2.1/servers?limit=2', status=200)
    assert len(resp.json['servers']) == 2
    assert 'servers_links' in resp.json
    contract.check('servers', 'list_servers', '2.1', resp)
    marker = resp.json['servers'][-1]['id']
    rest = api.request('GET', '/v2.1/servers?marker=%s' % marker, status=200)
    assert {s['id'] for s in resp.json['servers'] + rest.json['servers']} == set(ids)


def test_instance_actions_recorded(api):
    sid = api.create().json['server']['id']
    _rebuild(api, sid, '2.1')
    api.app.compute.wait()
    actions = api.app.db.action_list(sid)
    assert [a.action for a in actions] == ['create', 'rebuild']
    assert all(a.finish_time is not None for a in actions)


def test_appliance_failure_names_the_files(api, monkeypatch):
    from inject import exception
    from inject.api import compute

    def broken(conf, request, **kwargs):
        raise exception.ApplianceLaunchFailed(accelerator='tcg', reason='no kernel',
                                              hint='install linux-image-amd64')
    monkeypatch.setattr(compute, 'inject_disk', broken)
    sid = api.create(version='2.56', personality=[
        {'path': '/etc/motd', 'contents': b64(b'x')}]).json['server']['id']
    server = api.request('GET', '/v2.1/servers/%s' % sid).json['server']
    assert server['status'] == 'ERROR'
    assert server['fault']['message'].startswith('Personality files not injected: /etc/motd')
    assert 'no kernel' in server['fault']['message']


def test_links_follow_the_requested_prefix(api):
    sid = api.request('POST', '/v2/servers', {'server': {
        'name': 'a', 'imageRef': api.image_id, 'flavorRef': '1'}},
        status=202).json['server']['id']
    api.app.compute.wait()
    links = api.request('GET', '/v2/servers/%s' % sid).json['server']['links']
    assert links[0]['href'] == 'http://localhost/v2/servers/%s' % sid


@pytest.mark.parametrize('version', ['2.1', '2.3', '2.16', '2.57'])
def test_admin_only_attributes(api, version):
    sid = api.create(version=version, name='My Web_01',
                     user_data=b64(b'#cloud-config')).json['server']['id']
    admin = api.request('GET', '/v2.1/servers/%s' % sid, version=version, status=200,
                        headers=ADMIN)
    server = contract.check('servers', 'get_server', version, admin)['server']
    assert 'OS-EXT-SRV-ATTR:host' in server
    if version != '2.1':
        assert server['OS-EXT-SRV-ATTR:user_data'] == b64(b'#cloud-config')
        assert server['OS-EXT-SRV-ATTR:hostname'] == 'my-web-01'
    assert ('host_status' in server) == (version in ('2.16', '2.57'))
    member = api.request('GET', '/v2.1/servers/%s' % sid, version=version, status=200)
    server = contract.check('servers', 'get_server', version, member)['server']
    assert not [k for k in server if k.startswith('OS-EXT-SRV-ATTR')]
    assert 'host_status' not in server


def test_refuse_policy_when_libguestfs_is_broken(api, monkeypatch):
    from inject import exception
    from inject import vfs

    def broken(*args, **kwargs):
        raise exception.VFSDriverUnavailable(name='guestfs',
                                             reason='No module named guestfs')
    monkeypatch.setattr(vfs, 'load_driver', broken)
    api.conf.set_override('personality_without_injection', 'refuse', group='api')
    resp = api.create(version='2.56', status=400, wait=False, personality=[
        {'path': '/etc/motd', 'contents': b64(b'x')}])
    assert 'guestfs' in resp.json['badRequest']['message']


def test_request_body_size_limit(api):
    resp = api.create(status=413, wait=False, metadata={'k': 'v' * 200},
                      user_data=b64(b'x' * 120000)[:65535] + 'x' * 60000)
    assert resp.json['overLimit']['code'] == 413
