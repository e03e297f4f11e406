"""Real clients on the servers API beyond create/show: the nova CLI's multi-create
(--min-count/--max-count, --return-reservation-id), ``nova update`` and ``nova meta``;
openstacksdk's update_server and server metadata calls. Injection is disabled on this
inject-api (the shipped default); servers without personality still become ACTIVE."""

import re

import pytest


def _field(out, name):
    match = re.search(r'^\|\s*%s\s*\|\s*(.*?)\s*\|$' % re.escape(name), out, re.M)
    return match.group(1) if match else None


def _server(api, name):
    """The id of the server called ``name``, from ``GET /servers``."""
    conn = api.sdk()
    found = [s.id for s in conn.compute.servers() if s.name == name]
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope='module')
def pair(disabled_api):
    """Two servers booted by one ``nova boot --min-count 2 --max-count 2``."""
    disabled_api.nova('boot', '--image', 'cirros', '--flavor', '1', '--min-count', '2',
                      '--max-count', '2', '--nic', 'none', 'pair', version='2.57')
    ids = [_server(disabled_api, 'pair-1'), _server(disabled_api, 'pair-2')]
    for sid in ids:
        assert disabled_api.wait_status(sid)['status'] == 'ACTIVE'
    return ids


# Reservation ids are extended server attributes: administrators see them (Nova's
# default policy), so these run against the inject-api whose noauth callers are admins.

def test_nova_boot_max_count_names_and_reservation(admin_api):
    admin_api.nova('boot', '--image', 'cirros', '--flavor', '1', '--min-count', '2',
                   '--max-count', '2', '--nic', 'none', 'duo', version='2.57')
    reservations = set()
    for name in ('duo-1', 'duo-2'):
        sid = _server(admin_api, name)
        assert admin_api.wait_status(sid)['status'] == 'ACTIVE'
        _, out = admin_api.nova('show', sid, version='2.57')
        reservations.add(_field(out, 'OS-EXT-SRV-ATTR:reservation_id'))
    assert len(reservations) == 1 and reservations.pop().startswith('r-')


def test_nova_boot_return_reservation_id(admin_api):
    _, out = admin_api.nova('boot', '--image', 'cirros', '--flavor', '1',
                            '--max-count', '2', '--return-reservation-id',
                            '--nic', 'none', 'resv', version='2.57')
    rid = _field(out, 'reservation_id')
    assert rid and rid.startswith('r-'), out
    for name in ('resv-1', 'resv-2'):
        _, shown = admin_api.nova('show', _server(admin_api, name), version='2.57')
        assert _field(shown, 'OS-EXT-SRV-ATTR:reservation_id') == rid


def test_nova_meta_set_and_delete(disabled_api, pair):
    sid = pair[0]
    disabled_api.nova('meta', sid, 'set', 'role=web', 'tier=front', version='2.57')
    _, out = disabled_api.nova('show', sid, version='2.57')
    assert '"role": "web"' in _field(out, 'metadata') and 'tier' in out
    disabled_api.nova('meta', sid, 'delete', 'tier', version='2.57')
    _, out = disabled_api.nova('show', sid, version='2.57')
    assert _field(out, 'metadata') == '{"role": "web"}'


def test_nova_update_name_and_description(disabled_api, pair):
    sid = pair[1]
    _, out = disabled_api.nova('update', sid, '--name', 'renamed', '--description',
                               'the second', version='2.19')
    _, out = disabled_api.nova('show', sid, version='2.57')
    assert _field(out, 'name') == 'renamed'
    assert _field(out, 'description') == 'the second'


def test_openstacksdk_update_and_metadata(disabled_api, pair):
    conn = disabled_api.sdk(version='2.57')
    sid = pair[0]
    server = conn.compute.update_server(sid, name='sdk-name', access_ipv4='192.0.2.9')
    assert server.name == 'sdk-name' and server.access_ipv4 == '192.0.2.9'
    conn.compute.set_server_metadata(sid, owner='sdk', k='v')
    assert conn.compute.get_server_metadata(sid).metadata['owner'] == 'sdk'
    conn.compute.delete_server_metadata(sid, ['k'])
    metadata = conn.compute.get_server_metadata(sid).metadata
    assert 'k' not in metadata and metadata['owner'] == 'sdk'
    # an unknown server is a NotFound, not a 405
    import openstack.exceptions
    with pytest.raises(openstack.exceptions.NotFoundException):
        conn.compute.update_server('8ad1ae0a-27c1-4a3c-9f8d-6b4b2a8e0c11', name='x')
