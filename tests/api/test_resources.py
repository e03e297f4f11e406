"""Flavors, images, limits, os-quota-sets and os-quota-class-sets against tempest's
schemas at each microversion where their bodies change."""

import pytest

from tests.api import contract
from tests.api.support import ADMIN

ALL = ['2.1', '2.35', '2.36', '2.38', '2.39', '2.49', '2.50', '2.54', '2.55', '2.56',
       '2.57']
INJECTED = {'injected_files', 'injected_file_content_bytes', 'injected_file_path_bytes'}


@pytest.mark.parametrize('version', ALL)
def test_flavors(api, version):
    contract.check('flavors', 'list_flavors', version,
                   api.request('GET', '/v2.1/flavors', version=version, status=200))
    resp = api.request('GET', '/v2.1/flavors/detail', version=version, status=200)
    contract.check('flavors', 'list_flavors_details', version, resp)
    resp = api.request('GET', '/v2.1/flavors/1', version=version, status=200)
    body = contract.check('flavors', 'create_update_get_flavor_details', version, resp)
    assert body['flavor']['name'] == 'm1.tiny'
    api.request('GET', '/v2.1/flavors/42', version=version, status=404)


@pytest.mark.parametrize('version', ['2.1', '2.35'])
def test_image_proxy(api, version):
    contract.check('images', 'list_images', version,
                   api.request('GET', '/v2.1/images', version=version, status=200))
    resp = api.request('GET', '/v2.1/images/detail', version=version, status=200)
    contract.check('images', 'list_images_details', version, resp)
    resp = api.request('GET', '/v2.1/images/%s' % api.image_id, version=version,
                       status=200)
    body = contract.check('images', 'get_image', version, resp)
    assert body['image']['name'] == 'cirros'


def test_image_proxy_gone_from_236(api):
    api.request('GET', '/v2.1/images', version='2.36', status=404)


def test_glance_style_images(api):
    # what "nova boot --image" asks when the image endpoint is inject-api
    resp = api.request('GET', '/v2.1/v2/images/%s' % api.image_id, status=200)
    assert resp.json['id'] == api.image_id and resp.json['name'] == 'cirros'
    resp = api.request('GET', '/v2.1/v2/images?name=cirros', status=200)
    assert [i['id'] for i in resp.json['images']] == [api.image_id]
    resp = api.request('GET', '/v2.1/someproject/v2/images?name=nothing', status=200)
    assert resp.json['images'] == []
    api.request('GET', '/v2.1/v2/images/00000000-0000-0000-0000-000000000000',
                status=404)


@pytest.mark.parametrize('version', ALL)
def test_limits(api, version):
    resp = api.request('GET', '/v2.1/limits', version=version, status=200)
    absolute = contract.check('limits', 'get_limit', version, resp)['limits']['absolute']
    personality = {'maxPersonality', 'maxPersonalitySize'}
    if version == '2.57':
        assert not personality & set(absolute)
    else:
        assert absolute['maxPersonality'] == 5
        assert absolute['maxPersonalitySize'] == 10240


@pytest.mark.parametrize('version', ALL)
def test_quota_sets(api, version):
    base = '/v2.1/os-quota-sets/demo'
    resp = api.request('GET', base, version=version, status=200, headers=ADMIN)
    body = contract.check('quotas', 'get_quota_set', version, resp)['quota_set']
    assert body['id'] == 'demo'
    assert bool(INJECTED & set(body)) == (version != '2.57')
    contract.check('quotas', 'get_quota_set_details', version,
                   api.request('GET', base + '/detail', version=version, status=200,
                               headers=ADMIN))
    contract.check('quotas', 'get_quota_set', version,
                   api.request('GET', base + '/defaults', version=version, status=200))
    resp = api.request('PUT', base, {'quota_set': {'instances': 20, 'cores': '30'}},
                       version=version, status=200, headers=ADMIN)
    body = contract.check('quotas', 'update_quota_set', version, resp)['quota_set']
    assert (body['instances'], body['cores']) == (20, 30)
    resp = api.request('PUT', base, {'quota_set': {'injected_files': 7}},
                       version=version, headers=ADMIN)
    if version == '2.57':
        assert resp.status_int == 400
        assert 'injected_files' in resp.json['badRequest']['message']
    else:
        assert resp.status_int == 200 and resp.json['quota_set']['injected_files'] == 7
    resp = api.request('DELETE', base, version=version, status=202, headers=ADMIN)
    contract.check('quotas', 'delete_quota', version, resp)
    body = api.request('GET', base, version=version, status=200,
                       headers=ADMIN).json['quota_set']
    assert body['instances'] == 10


def test_quota_updates_are_admin_only(api):
    member = {'X-Roles': 'member', 'X-Project-Id': 'demo'}
    api.request('GET', '/v2.1/os-quota-sets/demo', headers=member, status=200)
    api.request('GET', '/v2.1/os-quota-sets/other', headers=member, status=403)
    resp = api.request('PUT', '/v2.1/os-quota-sets/demo',
                       {'quota_set': {'instances': 1}}, headers=member, status=403)
    assert 'forbidden' in resp.json
    api.request('DELETE', '/v2.1/os-quota-sets/demo', headers=member, status=403)
    api.request('GET', '/v2.1/os-quota-class-sets/default', headers=member, status=403)
    api.request('PUT', '/v2.1/os-quota-class-sets/default',
                {'quota_class_set': {'instances': 1}}, headers=member, status=403)


def test_quota_update_below_usage(api):
    api.create()
    api.create()
    api.request('PUT', '/v2.1/os-quota-sets/inject', {'quota_set': {'instances': 1}},
                status=400, headers=ADMIN)
    api.request('PUT', '/v2.1/os-quota-sets/inject',
                {'quota_set': {'instances': 1, 'force': True}}, status=200,
                headers=ADMIN)


@pytest.mark.parametrize('bad', [{'instances': -2}, {'instances': 'ten'},
                                 {'unknown': 1}, {'instances': 2 ** 31}])
def test_quota_update_validation(api, bad):
    api.request('PUT', '/v2.1/os-quota-sets/demo', {'quota_set': bad}, status=400,
                headers=ADMIN)


@pytest.mark.parametrize('version', ALL)
def test_quota_classes(api, version):
    base = '/v2.1/os-quota-class-sets/default'
    resp = api.request('GET', base, version=version, status=200, headers=ADMIN)
    body = contract.check('quota_classes', 'get_quota_class_set', version,
                          resp)['quota_class_set']
    assert body['id'] == 'default'
    assert bool(INJECTED & set(body)) == (version != '2.57')
    resp = api.request('PUT', base, {'quota_class_set': {'instances': 50}},
                       version=version, status=200, headers=ADMIN)
    body = contract.check('quota_classes', 'update_quota_class_set', version,
                          resp)['quota_class_set']
    assert body['instances'] == 50
    # the default class sets every project's defaults
    resp = api.request('GET', '/v2.1/os-quota-sets/anyone/defaults', version=version)
    assert resp.json['quota_set']['instances'] == 50
    resp = api.request('PUT', base, {'quota_class_set': {'injected_files': 3}},
                       version=version, headers=ADMIN)
    assert resp.status_int == (400 if version == '2.57' else 200)


def test_per_user_quota_changes_refused(api):
    api.request('PUT', '/v2.1/os-quota-sets/demo?user_id=bob',
                {'quota_set': {'instances': 1}}, status=400, headers=ADMIN)
    api.request('DELETE', '/v2.1/os-quota-sets/demo?user_id=bob', status=400,
                headers=ADMIN)
    resp = api.request('GET', '/v2.1/os-quota-sets/demo?user_id=bob', status=200,
                       headers=ADMIN)
    assert resp.json['quota_set']['instances'] == 10
