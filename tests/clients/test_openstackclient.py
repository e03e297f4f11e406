"""The ``openstack`` CLI (python-openstackclient) against a running inject-api, unchanged:
keystoneauth's ``none`` plugin and endpoint overrides, ``-f json`` output.

OSC does more than talk to compute: ``server list`` always builds an identity client
(it discovers the identity API even when no --project is given), ``quota show`` looks
the project up in Keystone, and ``limits show`` and ``server create --volume`` ask the
block storage service. inject-api is neither, so :class:`OtherServices` answers those
few calls (the identity and block storage version documents, a project by id, a volume
by id, volume limits), as the rest of a cloud would. Everything compute goes to the real
inject-api; images are looked up on its Glance-style ``/v2.1/v2/images``.

Injection is disabled on this inject-api (the shipped default): a server without
personality files still becomes ACTIVE.
"""

import json
import os
import urllib.request

import pytest

from tests.clients.conftest import VOLUME, run_openstack


@pytest.fixture(scope='module')
def osc(disabled_api, other_services):
    """Run ``openstack ARGS -f json`` (``fmt=None``: no format option); return the
    parsed output, or with ``check=False`` (exit status, stdout + stderr)."""
    env = dict(os.environ, OS_AUTH_TYPE='none',
               OS_COMPUTE_ENDPOINT_OVERRIDE=disabled_api.endpoint,
               OS_IMAGE_ENDPOINT_OVERRIDE=disabled_api.endpoint + '/v2',
               OS_IMAGE_API_VERSION='2',
               OS_IDENTITY_ENDPOINT_OVERRIDE=other_services.url + '/identity/v3',
               OS_VOLUME_ENDPOINT_OVERRIDE=other_services.url + '/volume/v3')
    for name in list(env):
        if name.startswith('OS_') and name not in (
                'OS_AUTH_TYPE', 'OS_COMPUTE_ENDPOINT_OVERRIDE', 'OS_IMAGE_API_VERSION',
                'OS_IMAGE_ENDPOINT_OVERRIDE', 'OS_IDENTITY_ENDPOINT_OVERRIDE',
                'OS_VOLUME_ENDPOINT_OVERRIDE'):
            del env[name]

    def run(*args, version=None, fmt='json', check=True):
        return run_openstack(args, env, disabled_api.state, version, fmt, check)
    return run


def _image_id(disabled_api):
    with urllib.request.urlopen(disabled_api.endpoint + '/v2/images?name=cirros') as r:
        return json.load(r)['images'][0]['id']


@pytest.fixture(scope='module')
def server(osc, disabled_api):
    """``openstack server create --image cirros --flavor m1.tiny --wait``: OSC sends the
    image both as imageRef and as an image-to-local block device mapping."""
    created = osc('server', 'create', '--image', 'cirros', '--flavor', 'm1.tiny',
                  '--wait', 'osc-vm')
    assert created['name'] == 'osc-vm'
    assert created['status'] == 'ACTIVE'
    assert created['image'] == 'cirros (%s)' % _image_id(disabled_api)
    return created


def test_server_create_and_show(osc, server, disabled_api):
    shown = osc('server', 'show', server['id'])
    assert (shown['id'], shown['name'], shown['status']) == (
        server['id'], 'osc-vm', 'ACTIVE')
    assert shown['flavor']['original_name'] == 'm1.tiny'
    assert shown['image'] == server['image']
    assert shown['volumes_attached'] == []


def test_server_create_without_wait_is_building(osc, disabled_api):
    created = osc('server', 'create', '--image', 'cirros', '--flavor', '1', '--nic',
                  'none', 'osc-nowait', version='2.37')
    # With injection disabled a build takes milliseconds (no agent round trip, no
    # qemu-img): osc's GET after the create may already find it done.
    assert created['status'] in ('BUILD', 'ACTIVE')
    assert disabled_api.wait_status(created['id'])['status'] == 'ACTIVE'
    osc('server', 'delete', '--wait', created['id'], fmt=None)


def test_server_list(osc, server):
    listed = osc('server', 'list')
    mine = [s for s in listed if s['ID'] == server['id']]
    assert len(mine) == 1
    assert (mine[0]['Name'], mine[0]['Status'], mine[0]['Image']) == (
        'osc-vm', 'ACTIVE', 'cirros')
    assert mine[0]['Flavor'] == 'm1.tiny'
    long = osc('server', 'list', '--long', '--name', '^osc-vm$')
    assert [s['ID'] for s in long] == [server['id']]


def test_flavor_list(osc):
    flavors = osc('flavor', 'list')
    assert [(f['ID'], f['Name'], f['RAM'], f['Disk'], f['VCPUs']) for f in flavors] == [
        ('1', 'm1.tiny', 512, 1, 1), ('2', 'm1.small', 2048, 20, 1),
        ('3', 'm1.medium', 4096, 40, 2), ('4', 'm1.large', 8192, 80, 4),
        ('5', 'm1.xlarge', 16384, 160, 8)]


def test_limits_show(osc, server):
    limits = {row['Name']: row['Value'] for row in osc('limits', 'show', '--absolute')}
    assert limits['instances'] == 10
    assert limits['instances_used'] >= 1
    assert limits['total_cores'] == 20 and limits['total_ram'] == 51200
    assert limits['max_total_volumes'] == 10    # from the block storage service


def test_quota_show(osc):
    # the noauth caller's own project ([api]noauth_project): a member may read only
    # its own project's quotas
    quota = {row['Resource']: row['Limit']
             for row in osc('quota', 'show', '--compute', 'inject')}
    assert quota['instances'] == 10 and quota['cores'] == 20 and quota['ram'] == 51200
    assert quota['properties'] == 128


def test_server_rebuild_with_user_data_at_257(osc, server, disabled_api):
    user_data = disabled_api.state / 'osc-user-data'
    user_data.write_text('echo "hello world"')
    # (no --wait: OSC then prints "Complete" before the JSON document)
    rebuilt = osc('server', 'rebuild', '--image', 'cirros', '--user-data',
                  str(user_data), server['id'], version='2.57')
    assert rebuilt['OS-EXT-SRV-ATTR:user_data'] == 'ZWNobyAiaGVsbG8gd29ybGQi'
    assert disabled_api.wait_status(server['id'])['status'] == 'ACTIVE'
    shown = osc('server', 'show', server['id'], version='2.57')
    assert shown['status'] == 'ACTIVE'
    # GET shows user_data to administrators only (Nova's default policy); the noauth
    # caller is a member
    assert shown['OS-EXT-SRV-ATTR:user_data'] is None
    admin = disabled_api.sdk(version='2.57', roles='admin')
    assert admin.compute.get_server(server['id']).user_data == 'ZWNobyAiaGVsbG8gd29ybGQi'


def test_server_rebuild_user_data_needs_257(osc, server):
    status, out = osc('server', 'rebuild', '--image', 'cirros', '--user-data',
                      '/dev/null', server['id'], version='2.56', check=False)
    assert status != 0 and 'BadRequestException: 400' in out
    assert "('user_data' was unexpected)" in out


@pytest.mark.parametrize('args,message', [
    (('--image', 'cirros', '--boot-from-volume', '1'),
     'Block Device Mapping is Invalid: image {image} cannot be copied to a volume'),
    (('--volume', VOLUME),
     'Block Device Mapping is Invalid: failed to get volume %s.' % VOLUME),
    (('--image', 'cirros', '--swap', '512'),
     'Swap drive requested is larger than instance type allows.'),
])
def test_volume_backed_server_refused_with_novas_message(osc, disabled_api, args,
                                                         message):
    before = {s['ID'] for s in osc('server', 'list')}
    status, out = osc('server', 'create', '--flavor', 'm1.tiny', *args, 'osc-volume',
                      check=False)
    assert status != 0
    assert 'BadRequestException: 400' in out
    assert message.format(image=_image_id(disabled_api)) in out
    assert {s['ID'] for s in osc('server', 'list')} == before


def test_server_delete(osc, disabled_api):
    created = osc('server', 'create', '--image', 'cirros', '--flavor', 'm1.tiny',
                  '--wait', 'osc-delete')
    osc('server', 'delete', '--wait', created['id'], fmt=None)
    assert created['id'] not in {s['ID'] for s in osc('server', 'list')}
    status, out = osc('server', 'show', created['id'], check=False)
    assert status != 0 and 'No Server found for %s' % created['id'] in out
