"""The real Keystone of tools/keystone.sh and the layout of tests/keystone.py: each user
gets a token scoped to its project with the expected roles, wrong credentials are
refused, and keystonemiddleware's auth_token validates its tokens in front of a small
WSGI application served on loopback, the way a vendordata target receives Nova's
service token."""

import json
import threading

import pytest
import requests
from cheroot import wsgi
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from keystonemiddleware import auth_token

from tests import keystone as ks

pytestmark = pytest.mark.keystone

# The roles a project-scoped token carries: the granted role and those it implies
# (bootstrap's admin > manager > member > reader).
EXPECTED = {
    'p1-reader': ('inject-p1', {'reader'}),
    'p1-member': ('inject-p1', {'member', 'reader'}),
    'p1-admin': ('inject-p1', {'admin', 'manager', 'member', 'reader'}),
    'p2-member': ('inject-p2', {'member', 'reader'}),
    'inject-vendordata': ('service', {'service'}),
    'inject-authtoken': ('service', {'service'}),
}


@pytest.mark.parametrize('username', sorted(EXPECTED))
def test_user_token_is_scoped_to_its_project_with_its_roles(keystone, username):
    project_name, roles = EXPECTED[username]
    info = ks.access(keystone, username)
    assert info.username == username
    assert info.user_id == keystone['users'][username]['id']
    assert info.project_name == project_name
    assert info.project_id == keystone['projects'][project_name]
    assert set(info.role_names) == roles
    assert info.auth_token


def test_layout_is_idempotent(keystone):
    again = ks.ensure_layout(keystone['auth_url'], keystone['users']['admin']['password'])
    assert again == keystone


def test_projects_are_distinct(keystone):
    ids = [keystone['projects'][p] for p in ('inject-p1', 'inject-p2', 'service')]
    assert len(set(ids)) == 3


def _password_request(keystone, username, password, project_name):
    return requests.post(keystone['auth_url'] + '/auth/tokens', timeout=30, json={
        'auth': {'identity': {'methods': ['password'], 'password': {'user': {
            'name': username, 'domain': {'id': 'default'}, 'password': password}}},
            'scope': {'project': {'name': project_name,
                                  'domain': {'id': 'default'}}}}})


def test_wrong_password_is_401(keystone):
    resp = _password_request(keystone, 'p1-member', 'not-the-password', 'inject-p1')
    assert resp.status_code == 401
    assert 'X-Subject-Token' not in resp.headers
    # the same through keystoneauth, as a client sees it
    auth = ks.password_auth(keystone['auth_url'], 'p1-member', 'not-the-password',
                            'inject-p1')
    with pytest.raises(ks_exc.Unauthorized) as e:
        auth.get_access(ks_session.Session(auth=auth))
    assert e.value.http_status == 401


def test_right_password_is_201(keystone):
    resp = _password_request(keystone, 'p1-member', ks.password_of('p1-member'),
                             'inject-p1')
    assert resp.status_code == 201
    assert resp.headers['X-Subject-Token']


def test_user_cannot_scope_to_another_project(keystone):
    with pytest.raises(ks_exc.Unauthorized) as e:
        ks.access(keystone, 'p1-member', project_name='inject-p2')
    assert e.value.http_status == 401


def _identity_app(environ, start_response):
    """What the service behind auth_token learns of its caller."""
    body = json.dumps({
        'status': environ.get('HTTP_X_IDENTITY_STATUS'),
        'user': environ.get('HTTP_X_USER_NAME'),
        'user_id': environ.get('HTTP_X_USER_ID'),
        'project': environ.get('HTTP_X_PROJECT_NAME'),
        'project_id': environ.get('HTTP_X_PROJECT_ID'),
        'roles': sorted(environ.get('HTTP_X_ROLES', '').split(',')),
        'method': environ['REQUEST_METHOD'],
        'body': environ['wsgi.input'].read(int(environ.get('CONTENT_LENGTH') or 0))
        .decode(),
    }).encode()
    start_response('200 OK', [('Content-Type', 'application/json'),
                              ('Content-Length', str(len(body)))])
    return [body]


@pytest.fixture
def protected_url(keystone):
    """The identity app behind auth_token, served by cheroot on 127.0.0.1."""
    app = auth_token.AuthProtocol(_identity_app,
                                  {'oslo_config_config': ks.authtoken_config(keystone)})
    server = wsgi.Server(('127.0.0.1', 0), app, numthreads=2)
    server.prepare()
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    try:
        yield 'http://127.0.0.1:%d/' % server.bind_addr[1]
    finally:
        server.stop()
        thread.join(10)


def test_auth_token_accepts_a_user_token(keystone, protected_url):
    resp = requests.get(protected_url, timeout=30,
                        headers={'X-Auth-Token': ks.token(keystone, 'p1-member')})
    assert resp.status_code == 200
    seen = resp.json()
    assert seen['status'] == 'Confirmed'
    assert (seen['user'], seen['user_id']) == (
        'p1-member', keystone['users']['p1-member']['id'])
    assert (seen['project'], seen['project_id']) == (
        'inject-p1', keystone['projects']['inject-p1'])
    assert seen['roles'] == ['member', 'reader']


def test_auth_token_refuses_missing_and_forged_tokens(keystone, protected_url):
    resp = requests.get(protected_url, timeout=30)
    assert resp.status_code == 401
    assert keystone['auth_url'] in resp.headers['WWW-Authenticate']
    resp = requests.get(protected_url, timeout=30,
                        headers={'X-Auth-Token': 'gAAAAABforged-token'})
    assert resp.status_code == 401
    # identity headers a caller sends itself are not believed
    resp = requests.get(protected_url, timeout=30, headers={
        'X-Identity-Status': 'Confirmed', 'X-Roles': 'admin', 'X-User-Name': 'admin'})
    assert resp.status_code == 401


def test_vendordata_style_post_with_the_service_token(keystone, protected_url):
    # Nova's DynamicJSON call: a keystoneauth Session authenticated as the
    # [vendordata_dynamic_auth] account POSTs JSON; the session adds X-Auth-Token.
    sess = ks.session(keystone, 'inject-vendordata')
    body = json.dumps({'project-id': keystone['projects']['inject-p1'],
                       'boot-roles': 'member,reader'})
    resp = sess.request(protected_url, 'POST', data=body, timeout=(5, 5), headers={
        'Content-Type': 'application/json', 'Accept': 'application/json',
        'User-Agent': 'openstack-nova-vendordata'})
    assert resp.status_code == 200
    seen = resp.json()
    assert seen['status'] == 'Confirmed'
    assert (seen['user'], seen['project'], seen['roles']) == (
        'inject-vendordata', 'service', ['service'])
    assert (seen['method'], json.loads(seen['body'])) == ('POST', json.loads(body))


def _catalog_urls(keystone, service_type):
    """The (interface, region, url) of ``service_type`` in a new token's catalog."""
    info = ks.access(keystone, 'p1-member')
    return sorted((e['interface'], e['region_id'], e['url'])
                  for s in info.service_catalog.catalog if s['type'] == service_type
                  for e in s['endpoints'])


def test_ensure_endpoint_creates_then_moves_it(keystone):
    # a service type of the tests' own, which no client looks for
    first = ks.ensure_endpoint(keystone, 'inject-test-probe', 'http://127.0.0.1:1/a')
    assert _catalog_urls(keystone, 'inject-test-probe') == [
        ('public', 'RegionOne', 'http://127.0.0.1:1/a')]
    again = ks.ensure_endpoint(keystone, 'inject-test-probe', 'http://127.0.0.1:2/b')
    assert again == first
    assert _catalog_urls(keystone, 'inject-test-probe') == [
        ('public', 'RegionOne', 'http://127.0.0.1:2/b')]
    assert ks.ensure_endpoint(keystone, 'inject-test-probe', 'http://127.0.0.1:2/b') == first
