"""inject-api's bodies have the shape of Nova's own API reference samples: the same keys
at every level (values differ, and lists are compared by their first element)."""

import copy
import json
import pathlib

import pytest

from tests.api.support import ADMIN

SAMPLES = pathlib.Path(__file__).parent / 'nova_samples'
# Keys whose content depends on the server's data, not on the API.
OPAQUE = {'addresses', 'metadata', 'extra_specs'}


def sample(name):
    return json.loads((SAMPLES / name).read_text())


def shape(value, key=None):
    if key in OPAQUE:
        return '*'
    if isinstance(value, dict):
        return {k: shape(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return type(value).__name__ if value is not None else 'null-or-any'


def same_shape(ours, nova):
    """Same keys everywhere; a null on either side matches any value."""
    a, b = shape(ours), shape(nova)

    def walk(x, y, path):
        if isinstance(x, dict) and isinstance(y, dict):
            assert set(x) == set(y), '%s: extra %s, missing %s' % (
                path or 'body', sorted(set(x) - set(y)), sorted(set(y) - set(x)))
            for k in x:
                walk(x[k], y[k], '%s/%s' % (path, k))
        elif isinstance(x, list) and isinstance(y, list) and x and y:
            walk(x[0], y[0], path + '[0]')
    walk(a, b, '')


@pytest.mark.parametrize('version,name', [
    ('2.1', 'limits/limit-get-resp.json'),
    ('2.36', 'limits/v2.36/limit-get-resp.json'),
    ('2.39', 'limits/v2.39/limit-get-resp.json'),
    ('2.57', 'limits/v2.57/limit-get-resp.json'),
])
def test_limits(api, version, name):
    same_shape(api.request('GET', '/v2.1/limits', version=version, status=200).json,
               sample(name))


@pytest.mark.parametrize('version,path,name', [
    ('2.1', '', 'os-quota-sets/quotas-show-get-resp.json'),
    ('2.36', '', 'os-quota-sets/v2.36/quotas-show-get-resp.json'),
    ('2.36', '/detail', 'os-quota-sets/v2.36/quotas-show-detail-get-resp.json'),
    ('2.57', '', 'os-quota-sets/v2.57/quotas-show-get-resp.json'),
    ('2.57', '/detail', 'os-quota-sets/v2.57/quotas-show-detail-get-resp.json'),
    ('2.57', '/defaults', 'os-quota-sets/v2.57/quotas-show-defaults-get-resp.json'),
])
def test_quota_sets(api, version, path, name):
    resp = api.request('GET', '/v2.1/os-quota-sets/fake_tenant' + path, version=version,
                       status=200, headers=ADMIN)
    same_shape(resp.json, sample(name))


def test_quota_set_update_257(api):
    resp = api.request('PUT', '/v2.1/os-quota-sets/fake_tenant',
                       sample('os-quota-sets/v2.57/quotas-update-post-req.json'),
                       version='2.57', status=200, headers=ADMIN)
    assert resp.json == sample('os-quota-sets/v2.57/quotas-update-post-resp.json')


@pytest.mark.parametrize('version,name', [
    ('2.50', 'os-quota-class-sets/v2.50/quota-classes-show-get-resp.json'),
    ('2.57', 'os-quota-class-sets/v2.57/quota-classes-show-get-resp.json'),
])
def test_quota_class_show(api, version, name):
    resp = api.request('GET', '/v2.1/os-quota-class-sets/default', version=version,
                       status=200, headers=ADMIN)
    assert resp.json == sample(name)     # Nova's defaults are ours: equal, not just alike


def test_quota_class_update_257(api):
    resp = api.request('PUT', '/v2.1/os-quota-class-sets/default',
                       sample('os-quota-class-sets/v2.57/quota-classes-update-post-req.json'),
                       version='2.57', status=200, headers=ADMIN)
    assert resp.json == sample('os-quota-class-sets/v2.57/quota-classes-update-post-resp.json')


def _nova_create_request(api):
    body = copy.deepcopy(sample('servers/server-create-req-v257.json'))
    body['server']['imageRef'] = api.image_id       # Nova's sample names its own image
    return body


@pytest.mark.parametrize('version,name', [
    ('2.1', 'servers/server-create-resp.json'),
    ('2.57', 'servers/v2.57/server-create-resp.json'),
])
def test_create_with_novas_request_sample(api, version, name):
    body = _nova_create_request(api)
    if version == '2.1':
        body['server'].pop('networks')
    resp = api.request('POST', '/v2.1/servers', body, version=version, status=202)
    api.app.compute.wait()
    same_shape(resp.json, sample(name))


@pytest.mark.parametrize('version,name', [
    ('2.1', 'servers/server-action-rebuild-resp.json'),
    ('2.54', 'servers/v2.54/server-action-rebuild-resp.json'),
    ('2.57', 'servers/v2.57/server-action-rebuild-resp.json'),
])
def test_rebuild_with_novas_request_sample(api, version, name):
    created = api.request('POST', '/v2.1/servers', _nova_create_request(api),
                          version='2.57', status=202).json['server']['id']
    api.app.compute.wait()
    body = copy.deepcopy(sample('servers/v2.57/server-action-rebuild.json'))
    args = body['rebuild']
    args['imageRef'] = api.image_id
    args.pop('key_name')          # inject-api has no key pairs
    if version != '2.57':
        args.pop('user_data')
    if version == '2.1':
        args.pop('description')
    resp = api.request('POST', '/v2.1/servers/%s/action' % created, body,
                       version=version, status=202)
    api.app.compute.wait()
    same_shape(resp.json, sample(name))
    if version == '2.57':
        assert resp.json['server']['user_data'] == args['user_data']
