"""Version documents and microversion negotiation."""

import pytest

from inject.api import microversion
from tests.api import contract


def test_root_lists_v20_then_v21(api):
    resp = api.request('GET', '/', status=200)
    body = contract.check('versions', 'list_versions', None, resp)
    assert [v['id'] for v in body['versions']] == ['v2.0', 'v2.1']
    v21 = body['versions'][1]
    assert (v21['version'], v21['min_version']) == (microversion.MAX_VERSION, '2.1')


@pytest.mark.parametrize('path,ident', [('/v2.1/', 'v2.1'), ('/v2.1', 'v2.1'),
                                        ('/v2/', 'v2.0')])
def test_one_version(api, path, ident):
    resp = api.request('GET', path, status=200)
    body = contract.check('versions', 'get_one_version', None, resp)
    assert body['version']['id'] == ident


@pytest.mark.parametrize('headers,expected', [
    ({}, '2.1'),
    ({'OpenStack-API-Version': 'compute 2.56'}, '2.56'),
    ({'OpenStack-API-Version': 'compute latest'}, microversion.MAX_VERSION),
    ({'X-OpenStack-Nova-API-Version': '2.19'}, '2.19'),
    ({'OpenStack-API-Version': 'compute 2.30',
      'X-OpenStack-Nova-API-Version': '2.19'}, '2.30'),
    ({'OpenStack-API-Version': 'placement 1.10'}, '2.1'),
])
def test_version_headers_echoed(api, headers, expected):
    resp = api.request('GET', '/v2.1/flavors', headers=headers, status=200)
    assert resp.headers['OpenStack-API-Version'] == 'compute %s' % expected
    assert resp.headers['X-OpenStack-Nova-API-Version'] == expected
    assert 'OpenStack-API-Version' in resp.headers['Vary']
    assert 'X-OpenStack-Nova-API-Version' in resp.headers['Vary']


@pytest.mark.parametrize('value,status', [('2.x', 400), ('2.01', 400), ('two', 400),
                                          ('2.58', 406), ('3.0', 406), ('1.9', 406)])
def test_bad_versions(api, value, status):
    resp = api.request('GET', '/v2.1/flavors',
                       headers={'OpenStack-API-Version': 'compute %s' % value})
    assert resp.status_int == status
    key = 'badRequest' if status == 400 else 'computeFault'
    assert resp.json[key]['code'] == status
    assert value in resp.json[key]['message']
    # errors carry the headers too
    assert resp.headers['OpenStack-API-Version'] == 'compute 2.1'
    assert 'Vary' in resp.headers


@pytest.mark.parametrize('accept', ['*/*', '', 'application/json',
                                    'application/json;q=0.9, */*;q=0.1'])
def test_accept_headers_fine(api, accept):
    api.request('GET', '/v2.1/flavors', headers={'Accept': accept}, status=200)


def test_accept_xml_only_refused(api):
    resp = api.request('GET', '/v2.1/flavors', headers={'Accept': 'application/xml'},
                       status=406)
    assert resp.headers['X-OpenStack-Nova-API-Version'] == '2.1'


def test_errors_are_nova_bodies(api):
    resp = api.request('GET', '/v2.1/servers/nope', status=404)
    assert resp.json == {'itemNotFound': {
        'code': 404, 'message': 'Instance nope could not be found.'}}
    assert resp.headers['OpenStack-API-Version'] == 'compute 2.1'
    resp = api.request('GET', '/v2.1/nothing-here/at/all', status=404)
    assert 'itemNotFound' in resp.json
    resp = api.request('PUT', '/v2.1/servers', body={}, status=405)
    assert 'badMethod' in resp.json


def test_project_in_url_appears_in_links(api):
    resp = api.request('GET', '/v2.1/myproject/flavors', status=200)
    href = resp.json['flavors'][0]['links'][0]['href']
    assert href == 'http://localhost/v2.1/myproject/flavors/1'
    resp = api.request('GET', '/v2.1/flavors', status=200)
    assert resp.json['flavors'][0]['links'][0]['href'] == 'http://localhost/v2.1/flavors/1'


def test_unexpected_errors_are_500_with_headers(api, monkeypatch):
    from inject.api.handlers import flavors
    monkeypatch.setattr(flavors, 'catalog', None)     # index() raises AttributeError
    resp = api.request('GET', '/v2.1/flavors', status=500)
    assert resp.json['computeFault']['code'] == 500
    assert 'AttributeError' not in resp.text
    assert resp.headers['OpenStack-API-Version'] == 'compute 2.1'
