"""The ``openstack`` CLI (python-openstackclient) against inject-api behind a real
Keystone: password authentication as the users of tests/keystone.py, no endpoint
override. OSC finds every service in the token's catalog (region RegionOne), so the
test registers them in the test Keystone:

* ``compute``: this module's inject-api (``[api]auth_strategy = keystone``) at
  ``http://127.0.0.1:PORT/v2.1``;
* ``image``: inject-api's Glance-style ``/v2.1/v2/images`` (OSC resolves ``--image
  cirros`` and the image names of ``server list`` there);
* ``block-storage``: the block storage part of :class:`OtherServices` (``limits show``
  adds the volume limits; nothing else here asks it).

Identity is the real Keystone. The endpoints are reused from run to run, their URLs
moved to this run's ports: a second run of this module at the same time against the
same Keystone would move them under this one.
"""

import os

import pytest

from tests import keystone as ks
from tests.clients.conftest import run_openstack

pytestmark = pytest.mark.keystone

REGION = 'RegionOne'
USER_DATA = 'echo "hello world"'
USER_DATA_B64 = 'ZWNobyAiaGVsbG8gd29ybGQi'


@pytest.fixture(scope='module')
def service_catalog(keystone, keystone_api, other_services):
    """compute, image and block-storage endpoints in the test Keystone's catalog."""
    ks.ensure_endpoint(keystone, 'compute', keystone_api.endpoint, name='nova',
                       region=REGION)
    ks.ensure_endpoint(keystone, 'image', keystone_api.endpoint + '/v2', name='glance',
                       region=REGION)
    ks.ensure_endpoint(keystone, 'block-storage', other_services.url + '/volume/v3',
                       name='cinder', region=REGION)
    return keystone


@pytest.fixture(scope='module')
def osc(service_catalog, keystone_api):
    """Run ``openstack ARGS -f json`` as a layout user (password auth, the catalog);
    ``fmt=None``: no format option. Returns the parsed output, or with
    ``check=False`` (exit status, stdout + stderr)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}

    def run(username, *args, version=None, fmt='json', check=True):
        user = service_catalog['users'][username]
        env = dict(base, OS_AUTH_URL=service_catalog['auth_url'], OS_USERNAME=username,
                   OS_PASSWORD=user['password'], OS_PROJECT_NAME=user['project_name'],
                   OS_USER_DOMAIN_ID='default', OS_PROJECT_DOMAIN_ID='default',
                   OS_REGION_NAME=REGION)
        return run_openstack(args, env, keystone_api.state, version, fmt, check)
    return run


@pytest.fixture(scope='module')
def server(osc):
    """p1-member's ``server create --image cirros --flavor m1.tiny --wait``."""
    created = osc('p1-member', 'server', 'create', '--image', 'cirros', '--flavor',
                  'm1.tiny', '--wait', 'osc-ks-vm')
    yield created
    osc('p1-member', 'server', 'delete', '--wait', created['id'], fmt=None, check=False)


def test_server_create_and_show(osc, server, keystone, keystone_api):
    assert server['name'] == 'osc-ks-vm'
    assert server['status'] == 'ACTIVE'
    assert server['image'] == 'cirros (%s)' % keystone_api.image_id
    assert server['project_id'] == keystone['projects']['inject-p1']
    assert server['user_id'] == keystone['users']['p1-member']['id']
    shown = osc('p1-member', 'server', 'show', server['id'])
    assert (shown['id'], shown['name'], shown['status']) == (
        server['id'], 'osc-ks-vm', 'ACTIVE')
    assert shown['flavor']['original_name'] == 'm1.tiny'
    assert shown['image'] == server['image']
    assert shown['project_id'] == keystone['projects']['inject-p1']


def test_server_list_by_project(osc, server):
    for username in ('p1-member', 'p1-reader'):
        listed = osc(username, 'server', 'list')
        assert [(s['ID'], s['Name'], s['Status'], s['Image'], s['Flavor'])
                for s in listed] == [
            (server['id'], 'osc-ks-vm', 'ACTIVE', 'cirros', 'm1.tiny')], username
    long = osc('p1-member', 'server', 'list', '--long', '--name', '^osc-ks-vm$')
    assert [s['ID'] for s in long] == [server['id']]


def test_other_project_does_not_see_the_server(osc, server):
    assert osc('p2-member', 'server', 'list') == []
    status, out = osc('p2-member', 'server', 'show', server['id'], check=False)
    assert status != 0 and 'No Server found for %s' % server['id'] in out
    status, out = osc('p2-member', 'server', 'delete', server['id'], fmt=None,
                      check=False)
    assert status != 0 and 'No Server found for %s' % server['id'] in out, out
    assert osc('p1-member', 'server', 'show', server['id'])['status'] == 'ACTIVE'


def test_reader_cannot_create(osc, server):
    status, out = osc('p1-reader', 'server', 'create', '--image', 'cirros', '--flavor',
                      'm1.tiny', 'osc-ks-reader', check=False)
    assert status != 0
    assert 'ForbiddenException: 403' in out
    assert "Policy doesn't allow os_compute_api:servers:create to be performed." in out
    assert [s['ID'] for s in osc('p1-member', 'server', 'list')] == [server['id']]


def test_flavor_list(osc):
    flavors = osc('p1-member', 'flavor', 'list')
    assert [(f['ID'], f['Name'], f['RAM'], f['Disk'], f['VCPUs']) for f in flavors] == [
        ('1', 'm1.tiny', 512, 1, 1), ('2', 'm1.small', 2048, 20, 1),
        ('3', 'm1.medium', 4096, 40, 2), ('4', 'm1.large', 8192, 80, 4),
        ('5', 'm1.xlarge', 16384, 160, 8)]


def test_limits_show(osc, server):
    limits = {row['Name']: row['Value']
              for row in osc('p1-member', 'limits', 'show', '--absolute')}
    assert limits['instances'] == 10
    assert limits['instances_used'] == 1      # p1's server
    assert limits['total_cores_used'] == 1 and limits['total_ram_used'] == 512
    assert limits['total_cores'] == 20 and limits['total_ram'] == 51200
    assert limits['max_total_volumes'] == 10    # from the block storage service
    p2 = {row['Name']: row['Value']
          for row in osc('p2-member', 'limits', 'show', '--absolute')}
    assert p2['instances_used'] == 0


def test_quota_show(osc, keystone):
    # the admin names any project (OSC looks it up in Keystone)
    for project in ('inject-p1', 'inject-p2'):
        quota = {row['Resource']: row['Limit']
                 for row in osc('p1-admin', 'quota', 'show', '--compute', project)}
        assert quota['instances'] == 10 and quota['cores'] == 20
        assert quota['ram'] == 51200 and quota['properties'] == 128
    # a member sees its own project's; another project's is Nova's policy 403
    own = {row['Resource']: row['Limit']
           for row in osc('p1-member', 'quota', 'show', '--compute')}
    assert own['instances'] == 10
    status, out = osc('p1-member', 'quota', 'show', '--compute',
                      keystone['projects']['inject-p2'], check=False)
    assert status != 0 and 'ForbiddenException: 403' in out, out


def test_server_rebuild_with_user_data_at_257(osc, server, keystone_api):
    user_data = keystone_api.state / 'osc-ks-user-data'
    user_data.write_text(USER_DATA)
    # (no --wait: OSC then prints "Complete" before the JSON document)
    rebuilt = osc('p1-member', 'server', 'rebuild', '--image', 'cirros', '--user-data',
                  str(user_data), server['id'], version='2.57')
    assert rebuilt['OS-EXT-SRV-ATTR:user_data'] == USER_DATA_B64   # rebuild's answer
    assert rebuilt['status'] == 'REBUILD'
    shown = _wait_active(osc, 'p1-member', server['id'], version='2.57')
    # GET shows user_data to administrators only (Nova's default policy)
    assert shown['OS-EXT-SRV-ATTR:user_data'] is None
    shown = osc('p1-admin', 'server', 'show', server['id'], version='2.57')
    assert shown['OS-EXT-SRV-ATTR:user_data'] == USER_DATA_B64
    status, out = osc('p1-member', 'server', 'rebuild', '--image', 'cirros',
                      '--user-data', str(user_data), server['id'], version='2.56',
                      check=False)
    assert status != 0 and "('user_data' was unexpected)" in out, out


def test_server_delete(osc, server):
    created = osc('p1-member', 'server', 'create', '--image', 'cirros', '--flavor',
                  'm1.tiny', '--wait', 'osc-ks-delete')
    status, out = osc('p1-reader', 'server', 'delete', created['id'], fmt=None,
                      check=False)
    assert status != 0 and 'ForbiddenException: 403' in out, out
    assert "Policy doesn't allow os_compute_api:servers:delete to be performed." in out
    osc('p1-member', 'server', 'delete', '--wait', created['id'], fmt=None)
    assert [s['ID'] for s in osc('p1-member', 'server', 'list')] == [server['id']]
    status, out = osc('p1-member', 'server', 'show', created['id'], check=False)
    assert status != 0 and 'No Server found for %s' % created['id'] in out


def _wait_active(osc, username, server_id, version=None, tries=600):
    """``server show`` until the server leaves REBUILD (``--wait`` of rebuild prints
    text before its JSON document)."""
    for _ in range(tries):
        shown = osc(username, 'server', 'show', server_id, version=version)
        if shown['status'] != 'REBUILD':
            assert shown['status'] == 'ACTIVE', shown
            return shown
    raise AssertionError('server %s still in REBUILD' % server_id)
