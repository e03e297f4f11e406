"""The nova CLI (python-novaclient) against a running inject-api, unchanged: keystoneauth's
``none`` plugin and an endpoint override. Injection is disabled on this inject-api (the
shipped default), so a boot with --file must end in ERROR with a fault naming the file."""

import re

import pytest


def _field(out, name):
    match = re.search(r'^\|\s*%s\s*\|\s*(.*?)\s*\|$' % re.escape(name), out, re.M)
    return match.group(1) if match else None


@pytest.fixture(scope='module')
def booted(disabled_api, tmp_path_factory):
    motd = disabled_api.state / 'motd'
    motd.write_text('hello from novaclient\n')
    _, out = disabled_api.nova('boot', '--image', 'cirros', '--flavor', '1',
                               '--file', '/etc/motd=%s' % motd, 'vm-file', version='2.56')
    server_id = _field(out, 'id')
    assert server_id and _field(out, 'status') == 'BUILD'
    return server_id, out


def test_boot_with_file_at_256_is_never_dropped_silently(disabled_api, booted):
    server_id, _ = booted
    server = disabled_api.wait_status(server_id)
    assert server['status'] == 'ERROR'
    _, out = disabled_api.nova('show', server_id, version='2.56')
    assert 'Personality files not injected: /etc/motd' in out
    assert 'inject_partition=-2' in out


def test_rebuild_with_user_data_at_257(disabled_api, booted):
    server_id, _ = booted
    disabled_api.wait_status(server_id)
    user_data = disabled_api.state / 'user-data'
    user_data.write_text('echo "hello world"')
    _, out = disabled_api.nova('rebuild', '--user-data', str(user_data), server_id,
                               'cirros', version='2.57')
    assert _field(out, 'user_data') == 'ZWNobyAiaGVsbG8gd29ybGQi'
    server = disabled_api.wait_status(server_id)
    assert server['status'] == 'ACTIVE'      # no personality this time: nothing lost


def test_limits(disabled_api):
    _, out = disabled_api.nova('limits', version='2.56')
    assert re.search(r'\| Personality\s+\| -\s+\| 5\s+\|', out), out
    assert re.search(r'\| Personality Size\s+\| -\s+\| 10240\s+\|', out), out
    _, out = disabled_api.nova('limits', version='2.57')
    assert 'Personality' not in out and 'Instances' in out


def test_quota_show_tenant(disabled_api, admin_api):
    # a member reads its own project's quotas ('inject', [api]noauth_project) ...
    _, out = disabled_api.nova('quota-show', '--tenant', 'inject', version='2.56')
    assert _field(out, 'injected_files') == '5'
    assert _field(out, 'injected_file_content_bytes') == '10240'
    # ... and an administrator any project's
    _, out = admin_api.nova('quota-show', '--tenant', 'demo', version='2.57')
    assert _field(out, 'injected_files') is None and _field(out, 'instances') == '10'
    status, out = disabled_api.nova('quota-show', '--tenant', 'demo', check=False)
    assert status != 0 and 'os_compute_api:os-quota-sets:show' in out and '403' in out


def test_quota_class_show(disabled_api, admin_api):
    _, out = admin_api.nova('quota-class-show', 'default', version='2.57')
    assert _field(out, 'instances') == '10' and _field(out, 'injected_files') is None
    _, out = admin_api.nova('quota-class-show', 'default', version='2.56')
    assert _field(out, 'injected_files') == '5'
    status, out = disabled_api.nova('quota-class-show', 'default', check=False)
    assert status != 0 and 'os_compute_api:os-quota-class-sets:show' in out


def test_instance_action_list(disabled_api, booted):
    server_id, _ = booted
    disabled_api.wait_status(server_id)
    _, out = disabled_api.nova('instance-action-list', server_id, version='2.57')
    assert re.search(r'\| create\s+\| req-', out), out


def test_the_reservation_of_a_multi_create_finds_exactly_its_servers(disabled_api):
    """``nova boot --min-count 3 --return-reservation-id``, then ``nova list
    --reservation-id`` (and openstacksdk's ``servers(reservation_id=)``) with the id
    the create returned: its three servers, no other."""
    _, out = disabled_api.nova('boot', '--image', 'cirros', '--flavor', '1',
                               '--min-count', '3', '--max-count', '3',
                               '--return-reservation-id', 'multi', version='2.36')
    rid = _field(out, 'reservation_id')
    assert rid and rid.startswith('r-'), out
    _, out = disabled_api.nova('boot', '--image', 'cirros', '--flavor', '1', 'single',
                               version='2.36')
    _, out = disabled_api.nova('list', '--reservation-id', rid, '--fields', 'name',
                               version='2.36')
    names = sorted(re.findall(r'^\|\s*[0-9a-f-]{36}\s*\|\s*(\S+)\s*\|$', out, re.M))
    assert names == ['multi-1', 'multi-2', 'multi-3'], out
    conn = disabled_api.sdk('2.36')
    assert sorted(s.name for s in conn.compute.servers(reservation_id=rid)) == [
        'multi-1', 'multi-2', 'multi-3']
    single = [s for s in conn.compute.servers(name='^single$')]
    assert len(single) == 1
