"""/servers/{id}/metadata and /servers/{id}/metadata/{key}: Nova's semantics (merge,
replace all, one key), the metadata_items quota, the states and lock that refuse a
change, and the bodies tempest's schemas expect."""

import pytest

from inject.api import policy as policy_mod
from tests.api import contract
from tests.api.support import ADMIN

MISSING = '8ad1ae0a-27c1-4a3c-9f8d-6b4b2a8e0c11'
MEMBER = {'X-Roles': 'member'}


def _url(sid, key=None):
    return '/v2.1/servers/%s/metadata%s' % (sid, '' if key is None else '/' + key)


@pytest.fixture
def sid(api):
    return api.create(metadata={'a': '1', 'b': '2'}).json['server']['id']


def _metadata(api, sid):
    return api.request('GET', '/v2.1/servers/%s' % sid).json['server']['metadata']


@pytest.mark.parametrize('version', ['2.1', '2.26', '2.57'])
def test_every_operation_matches_tempest(api, sid, version):
    resp = api.request('GET', _url(sid), version=version, status=200)
    assert contract.check('servers', 'list_server_metadata', version, resp) == {
        'metadata': {'a': '1', 'b': '2'}}
    resp = api.request('POST', _url(sid), {'metadata': {'b': 'two', 'c': '3'}},
                       version=version, status=200)
    assert contract.check('servers', 'update_server_metadata', version, resp) == {
        'metadata': {'a': '1', 'b': 'two', 'c': '3'}}
    resp = api.request('PUT', _url(sid), {'metadata': {'c': 'three', 'd': '4'}},
                       version=version, status=200)
    assert contract.check('servers', 'set_server_metadata', version, resp) == {
        'metadata': {'c': 'three', 'd': '4'}}
    resp = api.request('GET', _url(sid, 'd'), version=version, status=200)
    assert contract.check('servers', 'set_show_server_metadata_item', version,
                          resp) == {'meta': {'d': '4'}}
    resp = api.request('PUT', _url(sid, 'e'), {'meta': {'e': '5'}}, version=version,
                       status=200)
    assert contract.check('servers', 'set_show_server_metadata_item', version,
                          resp) == {'meta': {'e': '5'}}
    resp = api.request('DELETE', _url(sid, 'c'), version=version, status=204)
    contract.check('servers', 'delete_server_metadata_item', version, resp)
    assert resp.body == b''
    assert _metadata(api, sid) == {'d': '4', 'e': '5'}


def test_post_merges_and_put_replaces(api, sid):
    api.request('POST', _url(sid), {'metadata': {}}, status=200)
    assert _metadata(api, sid) == {'a': '1', 'b': '2'}
    api.request('PUT', _url(sid, 'a'), {'meta': {'a': 'one'}}, status=200)
    assert _metadata(api, sid) == {'a': 'one', 'b': '2'}
    api.request('PUT', _url(sid), {'metadata': {}}, status=200)
    assert _metadata(api, sid) == {}


def test_missing_key_is_404(api, sid):
    resp = api.request('GET', _url(sid, 'nope'), status=404)
    assert resp.json['itemNotFound']['message'] == 'Metadata item was not found'
    resp = api.request('DELETE', _url(sid, 'nope'), status=404)
    assert resp.json['itemNotFound']['message'] == 'Metadata item was not found'


@pytest.mark.parametrize('method, key, body', [
    ('GET', None, None), ('POST', None, {'metadata': {'k': 'v'}}),
    ('PUT', None, {'metadata': {'k': 'v'}}), ('GET', 'a', None),
    ('PUT', 'k', {'meta': {'k': 'v'}}), ('DELETE', 'a', None),
])
def test_unknown_or_foreign_server_is_404(api, sid, method, key, body):
    resp = api.request(method, _url(MISSING, key), body, status=404)
    assert resp.json['itemNotFound']['message'] == (
        'Instance %s could not be found.' % MISSING)
    other = {'X-Project-Id': 'other', 'X-Roles': 'member'}
    api.request(method, _url(sid, key), body, headers=other, status=404)
    assert _metadata(api, sid) == {'a': '1', 'b': '2'}


def test_put_one_key_must_match_the_url(api, sid):
    resp = api.request('PUT', _url(sid, 'a'), {'meta': {'b': 'x'}}, status=400)
    assert resp.json['badRequest']['message'] == 'Request body and URI mismatch'
    resp = api.request('PUT', _url(sid, 'a'), {'meta': {'a': 'x', 'b': 'y'}},
                       status=400)
    assert resp.json['badRequest']['message'] == 'Request body contains too many items'
    api.request('PUT', _url(sid, 'a'), {'meta': {}}, status=400)
    api.request('PUT', _url(sid, 'a'), {'metadata': {'a': 'x'}}, status=400)
    assert _metadata(api, sid) == {'a': '1', 'b': '2'}


@pytest.mark.parametrize('body', [
    {'metadata': {'': 'v'}}, {'metadata': {'k' * 256: 'v'}},
    {'metadata': {'k': 'v' * 256}}, {'metadata': {'k': 1}}, {'metadata': ['k']},
    {'meta': {'k': 'v'}}, {'metadata': {'k': 'v'}, 'extra': 1}, {},
])
def test_invalid_bodies_are_400(api, sid, body):
    for method in ('POST', 'PUT'):
        resp = api.request(method, _url(sid), body, status=400)
        assert resp.json['badRequest']['message']
    assert _metadata(api, sid) == {'a': '1', 'b': '2'}


def test_longest_key_and_value_and_empty_value(api, sid):
    body = {'metadata': {'k' * 255: 'v' * 255, 'empty': ''}}
    api.request('POST', _url(sid), body, status=200)
    assert _metadata(api, sid)['k' * 255] == 'v' * 255
    assert _metadata(api, sid)['empty'] == ''


def test_key_with_a_space_in_the_url(api, sid):
    api.request('PUT', _url(sid, 'my%20key'), {'meta': {'my key': 'v'}}, status=200)
    assert api.request('GET', _url(sid, 'my%20key'), status=200).json == {
        'meta': {'my key': 'v'}}


def test_metadata_items_quota(api, sid):
    api.request('PUT', '/v2.1/os-quota-sets/inject',
                {'quota_set': {'metadata_items': 3}}, headers=ADMIN, status=200)
    api.request('POST', _url(sid), {'metadata': {'c': '3'}}, status=200)
    resp = api.request('POST', _url(sid), {'metadata': {'d': '4'}}, status=403)
    assert resp.json['forbidden']['message'] == (
        'Maximum number of metadata items exceeds 3')
    api.request('PUT', _url(sid, 'd'), {'meta': {'d': '4'}}, status=403)
    api.request('PUT', _url(sid), {'metadata': dict.fromkeys('wxyz', '')}, status=403)
    # changing existing keys or replacing within the quota is fine
    api.request('POST', _url(sid), {'metadata': {'a': 'A'}}, status=200)
    api.request('PUT', _url(sid), {'metadata': dict.fromkeys('xyz', '')}, status=200)
    assert _metadata(api, sid) == dict.fromkeys('xyz', '')


@pytest.mark.parametrize('vm_state, task_state', [
    ('building', 'scheduling'), ('active', 'rebuilding'), ('error', None)])
def test_changes_refused_unless_stable(api, sid, vm_state, task_state):
    api.app.db.instance_update(sid, vm_state=vm_state, task_state=task_state)
    state = ('task_state %s' % task_state) if task_state else ('vm_state %s' % vm_state)
    for method, key, body, what in [
            ('POST', None, {'metadata': {'k': 'v'}}, 'update metadata'),
            ('PUT', None, {'metadata': {'k': 'v'}}, 'update metadata'),
            ('PUT', 'k', {'meta': {'k': 'v'}}, 'update metadata'),
            ('DELETE', 'a', None, 'delete metadata')]:
        resp = api.request(method, _url(sid, key), body, status=409)
        assert resp.json['conflictingRequest']['message'] == (
            "Cannot '%s' instance %s while it is in %s" % (what, sid, state))
    # reading is always allowed
    api.request('GET', _url(sid), status=200)
    api.request('GET', _url(sid, 'a'), status=200)
    assert _metadata(api, sid) == {'a': '1', 'b': '2'}


def test_locked_server_refuses_its_owner_not_an_admin(api, sid):
    api.app.db.instance_update(sid, locked=True)
    resp = api.request('POST', _url(sid), {'metadata': {'k': 'v'}}, headers=MEMBER,
                       status=409)
    assert resp.json['conflictingRequest']['message'] == 'Instance %s is locked' % sid
    api.request('DELETE', _url(sid, 'a'), headers=MEMBER, status=409)
    api.request('POST', _url(sid), {'metadata': {'k': 'v'}}, headers=ADMIN, status=200)
    api.request('DELETE', _url(sid, 'a'), headers=ADMIN, status=204)


def test_owner_may_change_and_policy_can_forbid(api, sid, tmp_path):
    api.request('POST', _url(sid), {'metadata': {'k': 'v'}}, headers=MEMBER,
                status=200)
    policy = tmp_path / 'policy.yaml'
    policy.write_text('"os_compute_api:server-metadata:delete": "role:admin"\n'
                      '"os_compute_api:server-metadata:index": "!"\n')
    api.conf.set_override('policy_file', str(policy), group='oslo_policy')
    api.app.policy = policy_mod.Enforcer(api.conf)     # reads policy_file when made
    resp = api.request('DELETE', _url(sid, 'k'), headers=MEMBER, status=403)
    assert 'os_compute_api:server-metadata:delete' in resp.json['forbidden']['message']
    api.request('GET', _url(sid), status=403)
    api.request('GET', _url(sid, 'k'), headers=MEMBER, status=200)
    api.request('DELETE', _url(sid, 'k'), headers=ADMIN, status=204)


def test_rebuild_injects_the_current_metadata(api, sid):
    api.request('PUT', _url(sid), {'metadata': {'role': 'db'}}, status=200)
    api.request('POST', '/v2.1/servers/%s/action' % sid,
                {'rebuild': {'imageRef': api.image_id}}, status=202)
    api.app.compute.wait()
    assert api.fake.requests[-1].metadata == {'role': 'db'}
