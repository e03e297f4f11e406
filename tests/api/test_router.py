"""The routing table (inject.api.router) and the path split (inject.api.urls): paths
to handlers, project ids in URLs, 404 and 405."""

import types

import pytest

from inject.api import faults
from inject.api import router
from inject.api import urls
from inject.api.handlers import quota_sets
from inject.api.handlers import servers


def _req(method, path, project='demo'):
    return types.SimpleNamespace(method=method, api_path=urls.parse(path),
                                 context=types.SimpleNamespace(project_id=project))


def _find(req, check_project):
    conf = types.SimpleNamespace(api=types.SimpleNamespace(
        auth_strategy='keystone' if check_project else 'noauth2'))
    return router.Router(conf).find(req)


@pytest.mark.parametrize('method,path,handler,kwargs', [
    ('GET', '/v2.1/servers', servers.index, {}),
    ('GET', '/v2.1/servers/', servers.index, {}),
    ('GET', '/v2/servers/detail', servers.detail, {}),
    ('POST', '/v2.1/servers/abc/action', servers.action, {'id': 'abc'}),
    ('GET', '/v2.1/demo/os-quota-sets/demo/defaults', quota_sets.defaults,
     {'id': 'demo'}),
])
def test_route(method, path, handler, kwargs):
    assert _find(_req(method, path), check_project=False) == (handler, kwargs)


def test_project_in_url():
    req = _req('GET', '/v2.1/demo/servers')
    _find(req, check_project=True)
    assert req.api_path.project == 'demo'
    with pytest.raises(faults.Fault) as e:
        _find(_req('GET', '/v2.1/other/servers'), check_project=True)
    assert e.value.code == 400 and "URL's project_id 'other'" in e.value.message
    assert _find(_req('GET', '/v2.1/other/servers'), check_project=False)


@pytest.mark.parametrize('path', ['/v2.1/os-migrations', '/v2.1/os-migrations/a1',
                                  '/v2.1/demo/os-migrations', '/v2.1/other/os-migrations',
                                  '/v2.1/other/nothing/here'])
def test_unknown_path_is_a_404_before_the_project_check(path):
    """With keystone, a path not served is a 404, never "URL's project_id 'os-migrations'
    doesn't match" (its first segment is not a project id at all)."""
    with pytest.raises(faults.Fault) as e:
        _find(_req('GET', path), check_project=True)
    assert e.value.code == 404 and e.value.message == 'The resource could not be found.'


@pytest.mark.parametrize('method,path,code', [
    ('GET', '/v3/servers', 404), ('GET', '/v2.1/nothing/here/at/all', 404),
    ('PUT', '/v2.1/servers', 405), ('DELETE', '/v2.1/flavors/1', 405)])
def test_not_routed(method, path, code):
    with pytest.raises(faults.Fault) as e:
        _find(_req(method, path), check_project=False)
    assert e.value.code == code


def test_path_split_and_version_documents():
    path = urls.parse('//v2.1//servers/')
    assert path.segments == ('v2.1', 'servers') and path.resource == 'servers'
    assert urls.parse('/').is_version_document
    assert urls.parse('/v2').is_version_document
    assert urls.parse('/v2.1/').is_version_document
    assert not urls.parse('/v3').is_version_document
    assert not urls.parse('/v2.1/servers').is_version_document
    assert urls.parse('/v2.1/p1/servers').project == 'p1'
    assert urls.parse('/v2.1/p1/servers').resource == 'servers'
    assert urls.parse('/v2.1/servers').project is None
