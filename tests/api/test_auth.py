"""Authentication: no-auth embedded mode and keystonemiddleware's auth_token."""

import pytest
from keystonemiddleware import auth_token

from tests.api.support import Api, make_conf


@pytest.fixture
def keystone_api(tmp_path, fake_injection):
    conf = make_conf(tmp_path, **{'api.auth_strategy': 'keystone'})
    for group, opts in auth_token.list_opts():
        conf.register_opts(opts, group=group)
    # Where a 401 sends clients; no Keystone is contacted by these tests.
    conf.set_override('www_authenticate_uri', 'http://keystone.invalid/identity',
                      'keystone_authtoken')
    return Api(tmp_path, conf, fake_injection)


def test_keystone_mode_requires_a_token(keystone_api):
    resp = keystone_api.request('GET', '/v2.1/servers', status=401)
    assert resp.headers['OpenStack-API-Version'] == 'compute 2.1'


def test_keystone_mode_identity_headers_without_a_token_are_401(keystone_api):
    # Headers alone are no identity. A valid token with spoofed headers is
    # tests/clients/test_keystone_policy.py's (against the real Keystone).
    keystone_api.request('GET', '/v2.1/servers', status=401, headers={
        'X-Identity-Status': 'Confirmed', 'X-Project-Id': 'p', 'X-User-Id': 'u',
        'X-Roles': 'admin'})


def test_keystone_mode_version_documents_need_no_token(keystone_api):
    keystone_api.request('GET', '/', status=200)
    keystone_api.request('GET', '/v2.1/', status=200)


def test_noauth_project_from_url_header_or_default(api):
    sid = api.request('POST', '/v2.1/p-url/servers', {'server': {
        'name': 'a', 'imageRef': api.image_id, 'flavorRef': '1'}},
        status=202).json['server']['id']
    api.app.compute.wait()
    assert api.app.db.instance_get(sid).project_id == 'p-url'
    sid = api.request('POST', '/v2.1/servers', {'server': {
        'name': 'a', 'imageRef': api.image_id, 'flavorRef': '1'}},
        headers={'X-Project-Id': 'p-header', 'X-User-Id': 'alice'},
        status=202).json['server']['id']
    api.app.compute.wait()
    inst = api.app.db.instance_get(sid)
    assert (inst.project_id, inst.user_id) == ('p-header', 'alice')
    sid = api.request('POST', '/v2.1/servers', {'server': {
        'name': 'a', 'imageRef': api.image_id, 'flavorRef': '1'}},
        headers={'X-Auth-Token': 'bob:p-token'}, status=202).json['server']['id']
    api.app.compute.wait()
    inst = api.app.db.instance_get(sid)
    assert (inst.project_id, inst.user_id) == ('p-token', 'bob')
    sid = api.create().json['server']['id']
    assert api.app.db.instance_get(sid).project_id == 'inject'


def test_request_id_returned(api):
    resp = api.request('GET', '/v2.1/servers', status=200)
    assert resp.headers['X-OpenStack-Request-Id'].startswith('req-')


def test_keystone_401_carries_the_request_ids(keystone_api):
    resp = keystone_api.request('GET', '/v2.1/os-keypairs', status=401)
    rid = resp.headers['X-OpenStack-Request-Id']
    assert rid.startswith('req-') and resp.headers['X-Compute-Request-Id'] == rid
