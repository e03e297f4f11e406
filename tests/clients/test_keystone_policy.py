"""Policy behind a real Keystone: inject-api with ``[api]auth_strategy = keystone``
(keystonemiddleware's auth_token against the Keystone of tools/keystone.sh), driven
by openstacksdk and the nova CLI with password authentication as the users of
tests/keystone.py: a reader of inject-p1, a member and an admin of inject-p1, a
member of inject-p2. Injection is disabled: a build makes only the qcow2 overlay."""

import os
import subprocess

import openstack
import pytest
import requests
from openstack import exceptions as sdk_exc

from tests import keystone as keystone_layout
from tests.clients.conftest import VENV_BIN

pytestmark = pytest.mark.keystone


def _connect(keystone, api, username, **scope):
    user = keystone['users'][username]
    if not scope:
        scope = {'project_name': user['project_name'], 'project_domain_id': 'default'}
    return openstack.connect(
        auth_type='password', auth_url=keystone['auth_url'], username=username,
        password=user['password'], user_domain_id='default',
        compute_endpoint_override=api.endpoint, load_envvars=False,
        load_yaml_config=False, **scope)


@pytest.fixture(scope='module')
def sdk(keystone, keystone_api):
    conns = {}

    def get(username):
        if username not in conns:
            conns[username] = _connect(keystone, keystone_api, username)
        return conns[username]
    yield get
    for conn in conns.values():
        conn.close()


def _nova(keystone, api, username, *args, version=None):
    """The nova CLI as ``username`` (password auth through Keystone); (status, out)."""
    user = keystone['users'][username]
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    env.update(OS_AUTH_URL=keystone['auth_url'], OS_USERNAME=username,
               OS_PASSWORD=user['password'], OS_PROJECT_NAME=user['project_name'],
               OS_USER_DOMAIN_ID='default', OS_PROJECT_DOMAIN_ID='default',
               OS_ENDPOINT_OVERRIDE=api.endpoint)
    cmd = [os.path.join(VENV_BIN, 'nova')]
    if version:
        cmd += ['--os-compute-api-version', version]
    proc = subprocess.run(cmd + list(args), env=env, capture_output=True, text=True,
                          timeout=120, cwd=str(api.state))
    return proc.returncode, proc.stdout + proc.stderr


def _boot(conn, api, name):
    server = conn.compute.create_server(name=name, image_id=api.image_id, flavor_id='1',
                                       networks='none')
    return conn.compute.wait_for_server(server, status='ACTIVE', failures=['ERROR'],
                                        interval=0.5, wait=120)


def _forbidden(excinfo, rule):
    assert excinfo.value.status_code == 403
    assert "Policy doesn't allow %s to be performed." % rule in str(excinfo.value)


def test_reader_reads_but_cannot_change_servers(keystone, keystone_api, sdk):
    member, reader = sdk('p1-member'), sdk('p1-reader')
    server = _boot(member, keystone_api, 'p1-read-me')
    try:
        assert server.id in [s.id for s in reader.compute.servers()]
        assert reader.compute.get_server(server.id).name == 'p1-read-me'
        assert reader.compute.get_quota_set(keystone['projects']['inject-p1']).instances
        with pytest.raises(sdk_exc.HttpException) as e:
            reader.compute.create_server(name='no', image_id=keystone_api.image_id,
                                         flavor_id='1', networks='none')
        _forbidden(e, 'os_compute_api:servers:create')
        with pytest.raises(sdk_exc.HttpException) as e:
            reader.compute.rebuild_server(server, image=keystone_api.image_id)
        _forbidden(e, 'os_compute_api:servers:rebuild')
        with pytest.raises(sdk_exc.HttpException) as e:
            reader.compute.delete_server(server, ignore_missing=False)
        _forbidden(e, 'os_compute_api:servers:delete')
        # the nova CLI, same answers
        status, out = _nova(keystone, keystone_api, 'p1-reader', 'list')
        assert status == 0 and 'p1-read-me' in out, out
        status, out = _nova(keystone, keystone_api, 'p1-reader', 'boot', '--flavor', '1',
                            '--image', keystone_api.image_id, '--nic', 'none', 'no')
        assert status != 0
        assert ("Policy doesn't allow os_compute_api:servers:create to be performed. "
                "(HTTP 403)") in out
        status, out = _nova(keystone, keystone_api, 'p1-reader', 'delete', server.id)
        assert status != 0 and 'HTTP 403' in out, out
        assert [s.id for s in member.compute.servers()] == [server.id]
    finally:
        member.compute.delete_server(server)
        member.compute.wait_for_delete(server, interval=0.5, wait=60)


def test_member_works_in_its_project_only(keystone, keystone_api, sdk):
    p1, p2 = sdk('p1-member'), sdk('p2-member')
    server = _boot(p1, keystone_api, 'p1-own')
    other = _boot(p2, keystone_api, 'p2-own')
    try:
        assert [s.id for s in p1.compute.servers()] == [server.id]
        assert [s.id for s in p2.compute.servers()] == [other.id]
        assert server.project_id == keystone['projects']['inject-p1']
        # p2's member does not see p1's server at all: 404, not 403
        with pytest.raises(sdk_exc.NotFoundException):
            p2.compute.get_server(server.id)
        with pytest.raises(sdk_exc.NotFoundException):
            p2.compute.delete_server(server, ignore_missing=False)
        assert p1.compute.get_server(server.id).status == 'ACTIVE'
        status, out = _nova(keystone, keystone_api, 'p2-member', 'show', server.id)
        assert status != 0 and 'No server with a name or ID' in out, out
        # a member is no administrator
        with pytest.raises(sdk_exc.HttpException) as e:
            list(p1.compute.servers(all_projects=True))
        _forbidden(e, 'os_compute_api:servers:detail:get_all_tenants')
        with pytest.raises(sdk_exc.HttpException) as e:
            p1.compute.update_quota_set(keystone['projects']['inject-p1'], instances=3)
        _forbidden(e, 'os_compute_api:os-quota-sets:update')
        with pytest.raises(sdk_exc.HttpException) as e:
            p1.compute.get_quota_set(keystone['projects']['inject-p2'])
        _forbidden(e, 'os_compute_api:os-quota-sets:show')
        # rebuild and delete in its own project
        p1.compute.rebuild_server(server, image=keystone_api.image_id)
        p1.compute.wait_for_server(p1.compute.get_server(server.id), status='ACTIVE',
                                   failures=['ERROR'], interval=0.5, wait=120)
        status, out = _nova(keystone, keystone_api, 'p1-member', 'delete', server.id)
        assert status == 0, out
        p1.compute.wait_for_delete(server, interval=0.5, wait=60)
    finally:
        for conn, s in ((p1, server), (p2, other)):
            conn.compute.delete_server(s, ignore_missing=True)
            conn.compute.wait_for_delete(s, interval=0.5, wait=60)


def test_admin_updates_quotas_and_lists_all_projects(keystone, keystone_api, sdk):
    admin, p1, p2 = sdk('p1-admin'), sdk('p1-member'), sdk('p2-member')
    p2_id = keystone['projects']['inject-p2']
    mine, theirs = _boot(p1, keystone_api, 'p1-adm'), _boot(p2, keystone_api, 'p2-adm')
    try:
        listed = {s.id for s in admin.compute.servers(all_projects=True)}
        assert {mine.id, theirs.id} <= listed
        assert [s.id for s in admin.compute.servers()] == [mine.id]   # own project
        assert admin.compute.get_server(theirs.id).name == 'p2-adm'
        status, out = _nova(keystone, keystone_api, 'p1-admin', 'list', '--all-tenants')
        assert status == 0 and 'p1-adm' in out and 'p2-adm' in out, out

        admin.compute.update_quota_set(p2_id, instances=1)
        assert p2.compute.get_quota_set(p2_id).instances == 1
        with pytest.raises(sdk_exc.HttpException) as e:
            p2.compute.create_server(name='over', image_id=keystone_api.image_id,
                                     flavor_id='1', networks='none')
        assert e.value.status_code == 403 and 'Quota exceeded' in str(e.value)
        status, out = _nova(keystone, keystone_api, 'p1-admin', 'quota-update',
                            '--instances', '4', p2_id)
        assert status == 0, out
        assert p2.compute.get_quota_set(p2_id).instances == 4
        admin.compute.revert_quota_set(p2_id)
        assert p2.compute.get_quota_set(p2_id).instances == 10
        status, out = _nova(keystone, keystone_api, 'p1-admin', 'quota-class-show',
                            'default', version='2.57')
        assert status == 0 and 'instances' in out, out
    finally:
        admin.compute.revert_quota_set(p2_id)
        for s in (mine, theirs):
            admin.compute.delete_server(s, ignore_missing=True)
            admin.compute.wait_for_delete(s, interval=0.5, wait=60)


def test_system_scoped_token_is_refused(keystone, keystone_api):
    # bootstrap's admin also holds admin on the system; Nova's rules are for project
    # tokens only, so a system token gets nothing, admin role or not.
    conn = _connect(keystone, keystone_api, 'admin', system_scope='all')
    try:
        assert 'admin' in conn.session.auth.get_access(conn.session).role_names
        with pytest.raises(sdk_exc.HttpException) as e:
            list(conn.compute.servers())
        _forbidden(e, 'os_compute_api:servers:detail')
    finally:
        conn.close()


def test_without_a_token_401(keystone_api):
    conn = openstack.connect(auth_type='none', compute_endpoint_override=keystone_api.endpoint,
                             load_envvars=False, load_yaml_config=False)
    with pytest.raises(sdk_exc.HttpException) as e:
        list(conn.compute.servers())
    assert e.value.status_code == 401


def test_a_valid_member_token_with_spoofed_identity_headers_gets_403(keystone,
                                                                     keystone_api):
    """auth_token sets the identity headers from the token it validated, whatever the
    client sent: a member of inject-p1 claiming admin roles, another project and
    another user in its own headers is still that member (403, never 401: the token
    is valid, as the unspoofed requests show)."""
    token = keystone_layout.token(keystone, 'p1-member')
    p1, p2 = keystone['projects']['inject-p1'], keystone['projects']['inject-p2']
    admin_id = keystone['users']['p1-admin']['id']
    spoofed = {'X-Roles': 'admin', 'X-Role': 'admin', 'X-Project-Id': p2,
               'X-Tenant-Id': p2, 'X-User-Id': admin_id, 'X-Identity-Status': 'Confirmed',
               'X-Service-Roles': 'admin', 'X-Is-Admin-Project': 'True'}
    url = keystone_api.endpoint

    def call(method, path, headers, **kw):
        return requests.request(method, url + path, timeout=60,
                                headers=dict(headers, **{'X-Auth-Token': token}), **kw)

    for method, path, body, rule in (
            ('GET', '/servers?all_tenants=1', None,
             'os_compute_api:servers:index:get_all_tenants'),
            ('GET', '/os-quota-sets/%s' % p2, None, 'os_compute_api:os-quota-sets:show'),
            ('PUT', '/os-quota-sets/%s' % p1, {'quota_set': {'instances': 99}},
             'os_compute_api:os-quota-sets:update'),
            ('GET', '/limits?tenant_id=%s' % p2, None,
             'os_compute_api:limits:other_project')):
        resp = call(method, path, spoofed, json=body)
        assert resp.status_code == 403, (method, path, resp.status_code, resp.text)
        assert "Policy doesn't allow %s to be performed." % rule in resp.text, resp.text
    # The token is valid: without the spoofed headers the member reads its project.
    assert call('GET', '/servers', {}).status_code == 200
    assert call('GET', '/os-quota-sets/%s' % p1, {}).status_code == 200
    # ... and the same requests by an administrator's token pass.
    token = keystone_layout.token(keystone, 'p1-admin')
    assert call('GET', '/servers?all_tenants=1', {}).status_code == 200
    assert call('GET', '/os-quota-sets/%s' % p2, {}).status_code == 200
