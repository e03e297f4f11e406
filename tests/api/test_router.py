"""The routing table (inject.api.router): paths to handlers, project ids in URLs,
404 and 405."""

import types

import pytest

from inject.api import faults
from inject.api import router
from inject.api.handlers import quota_sets
from inject.api.handlers import servers


def _req(method, path, project='demo'):
    return types.SimpleNamespace(method=method, path_info=path, url_project=None,
                                 context=types.SimpleNamespace(project_id=project))


@pytest.mark.parametrize('method,path,handler,kwargs', [
    ('GET', '/v2.1/servers', servers.index, {}),
    ('GET', '/v2.1/servers/', servers.index, {}),
    ('GET', '/v2/servers/detail', servers.detail, {}),
    ('POST', '/v2.1/servers/abc/action', servers.action, {'id': 'abc'}),
    ('GET', '/v2.1/demo/os-quota-sets/demo/defaults', quota_sets.defaults,
     {'id': 'demo'}),
])
def test_route(method, path, handler, kwargs):
    assert router.route(_req(method, path), check_project=False) == (handler, kwargs)


def test_project_in_url():
    req = _req('GET', '/v2.1/demo/servers')
    router.route(req, check_project=True)
    assert req.url_project == 'demo'
    with pytest.raises(faults.Fault) as e:
        router.route(_req('GET', '/v2.1/other/servers'), check_project=True)
    assert e.value.code == 400 and "URL's project_id 'other'" in e.value.message
    assert router.route(_req('GET', '/v2.1/other/servers'), check_project=False)


@pytest.mark.parametrize('path', ['/v2.1/os-migrations', '/v2.1/os-migrations/a1',
                                  '/v2.1/demo/os-migrations', '/v2.1/other/os-migrations',
                                  '/v2.1/other/nothing/here'])
def test_unknown_path_is_a_404_before_the_project_check(path):
    """With keystone, a path not served is a 404, never "URL's project_id 'os-migrations'
    doesn't match" (its first segment is not a project id at all)."""
    with pytest.raises(faults.Fault) as e:
        router.route(_req('GET', path), check_project=True)
    assert e.value.code == 404 and e.value.message == 'The resource could not be found.'


@pytest.mark.parametrize('method,path,code', [
    ('GET', '/v3/servers', 404), ('GET', '/v2.1/nothing/here/at/all', 404),
    ('PUT', '/v2.1/servers', 405), ('DELETE', '/v2.1/flavors/1', 405)])
def test_not_routed(method, path, code):
    with pytest.raises(faults.Fault) as e:
        router.route(_req(method, path), check_project=False)
    assert e.value.code == code


def test_segments_and_version_documents():
    assert router.segments('//v2.1//servers/') == ['v2.1', 'servers']
    assert router.is_version_document([])
    assert router.is_version_document(['v2'])
    assert not router.is_version_document(['v2.1', 'servers'])
    assert router.url_project(['v2.1', 'p1', 'servers']) == 'p1'
    assert router.url_project(['v2.1', 'servers']) is None
