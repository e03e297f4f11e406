"""Multi-create: min_count/max_count, return_reservation_id, names, quotas, and the N
builds of one request reaching the agent together, served by ONE appliance launch."""

import collections
import json
import sys
import threading
import time

import pytest

from inject import appliance
from inject.api import compute
from tests.api import contract
from tests.api.support import ADMIN, Api, make_conf, make_image
from tests.unit import fakeguestfs
from tests.unit.test_manager import Host


def _servers(api, version='2.3'):
    return api.request('GET', '/v2.1/servers/detail', version=version, headers=ADMIN,
                       status=200).json['servers']


@pytest.mark.parametrize('version', ['2.1', '2.19', '2.57'])
def test_max_count_creates_that_many(api, version):
    resp = api.create(version=version, name='web', max_count=3, metadata={'a': 'b'})
    body = contract.check('servers', 'create_server_with_admin_pass', version, resp)
    servers = sorted(_servers(api), key=lambda s: s['name'])
    assert [s['name'] for s in servers] == ['web-1', 'web-2', 'web-3']
    assert body['server']['id'] == servers[0]['id']          # the first, as Nova
    assert {s['status'] for s in servers} == {'ACTIVE'}
    assert [s['metadata'] for s in servers] == [{'a': 'b'}] * 3
    assert len({s['OS-EXT-SRV-ATTR:reservation_id'] for s in servers}) == 1
    assert [s['OS-EXT-SRV-ATTR:launch_index'] for s in servers] == [0, 1, 2]
    assert [s['OS-EXT-SRV-ATTR:hostname'] for s in servers] == ['web-1', 'web-2',
                                                                'web-3']
    assert len(api.fake.requests) == 3
    assert {r.admin_password for r in api.fake.requests} == {body['server']['adminPass']}


def test_min_count_alone_creates_that_many(api):
    api.create(min_count='2')
    assert sorted(s['name'] for s in _servers(api)) == ['vm-1', 'vm-2']


def test_one_server_keeps_its_name_and_its_own_reservation(api):
    api.create(name='solo', min_count=1, max_count=1)
    api.create(name='solo')
    servers = _servers(api)
    assert [s['name'] for s in servers] == ['solo', 'solo']
    ids = [s['OS-EXT-SRV-ATTR:reservation_id'] for s in servers]
    assert ids[0] != ids[1]
    assert all(i.startswith('r-') and len(i) == 10 for i in ids)


@pytest.mark.parametrize('flag', [True, 'true', 'True', '1', 'yes'])
def test_return_reservation_id(api, flag):
    resp = api.create(max_count=2, return_reservation_id=flag)
    assert set(resp.json) == {'reservation_id'}
    rid = resp.json['reservation_id']
    assert rid.startswith('r-') and len(rid) == 10
    servers = _servers(api)
    assert [s['OS-EXT-SRV-ATTR:reservation_id'] for s in servers] == [rid, rid]


def test_filtering_by_the_returned_reservation_id_finds_exactly_its_servers(api):
    """The filter matches the reservation the servers keep (Nova's column), the one
    create returned and the view shows; as Nova, the value is a regular expression."""
    rid = api.create(name='a', max_count=3, return_reservation_id=True).json[
        'reservation_id']
    other = api.create(name='b', max_count=2, return_reservation_id=True).json[
        'reservation_id']
    lone = api.create(name='c').json['server']['id']
    for path in ('/v2.1/servers', '/v2.1/servers/detail'):
        found = api.request('GET', path + '?reservation_id=' + rid, status=200,
                            headers={'X-Roles': 'member'}).json['servers']
        assert sorted(s['name'] for s in found) == ['a-1', 'a-2', 'a-3'], path
    both = api.request('GET', '/v2.1/servers?reservation_id=^(%s|%s)$' % (rid, other),
                       status=200).json['servers']
    assert sorted(s['name'] for s in both) == ['a-1', 'a-2', 'a-3', 'b-1', 'b-2']
    mine = [s for s in _servers(api) if s['id'] == lone][0]
    found = api.request('GET', '/v2.1/servers?reservation_id='
                        + mine['OS-EXT-SRV-ATTR:reservation_id'], status=200).json
    assert [s['id'] for s in found['servers']] == [lone]
    assert api.request('GET', '/v2.1/servers?reservation_id=r-nothing0',
                       status=200).json['servers'] == []


@pytest.mark.parametrize('flag', [False, 'false', '0', 'no'])
def test_return_reservation_id_false_returns_the_server(api, flag):
    resp = api.create(max_count=2, return_reservation_id=flag)
    contract.check('servers', 'create_server_with_admin_pass', '2.1', resp)


def test_reservation_id_is_for_admins_from_23(api):
    api.create(max_count=2)
    member = api.request('GET', '/v2.1/servers/detail', version='2.3', status=200,
                         headers={'X-Roles': 'member'}).json['servers']
    assert not [k for s in member for k in s if k.startswith('OS-EXT-SRV-ATTR')]
    old = api.request('GET', '/v2.1/servers/detail', version='2.1',
                      status=200).json['servers']
    assert not [k for s in old for k in s if k.endswith('reservation_id')]


@pytest.mark.parametrize('counts, message', [
    ({'min_count': 3, 'max_count': 2}, 'min_count must be <= max_count'),
    ({'max_count': 0}, 'max_count'),
    ({'min_count': 0}, 'min_count'),
    ({'min_count': 'two'}, 'min_count'),
    ({'max_count': -1}, 'max_count'),
    ({'max_count': 1.5}, 'max_count'),
    ({'return_reservation_id': 'maybe'}, 'return_reservation_id'),
])
def test_bad_counts_are_400(api, counts, message):
    resp = api.create(status=400, wait=False, **counts)
    assert message in resp.json['badRequest']['message']
    assert _servers(api) == []


def test_names_too_long_with_their_suffix_are_400(api):
    resp = api.create(name='n' * 253, max_count=10, status=400, wait=False)
    assert 'longer than 255 characters' in resp.json['badRequest']['message']
    assert _servers(api) == []
    api.create(name='n' * 253, max_count=9)
    assert len(_servers(api)) == 9


def test_quota_creates_as_many_as_fit_down_to_min_count(api):
    api.request('PUT', '/v2.1/os-quota-sets/inject', {'quota_set': {'instances': 4}},
                headers=ADMIN, status=200)
    api.create()
    api.create(name='many', min_count=2, max_count=5)
    names = sorted(s['name'] for s in _servers(api))
    assert names == ['many-1', 'many-2', 'many-3', 'vm']
    resp = api.create(name='more', min_count=1, max_count=2, status=403, wait=False)
    assert resp.json['forbidden']['message'] == (
        'Quota exceeded for instances: Requested 1-2, but already used 4 of 4 '
        'instances')
    assert len(_servers(api)) == 4


def test_quota_below_min_count_creates_none(api):
    api.request('PUT', '/v2.1/os-quota-sets/inject',
                {'quota_set': {'instances': 10, 'cores': 3}}, headers=ADMIN, status=200)
    resp = api.create(min_count=4, max_count=4, status=403, wait=False)
    # flavor 1 has one vcpu: three fit in the cores quota, four were asked for
    assert resp.json['forbidden']['message'] == (
        'Quota exceeded for cores: Requested 4, but already used 0 of 3 cores')
    assert _servers(api) == []
    api.create(min_count=2, max_count=4)
    assert len(_servers(api)) == 3


# --- one appliance launch for the N disks ------------------------------------------------

N = 3
WINDOW = 1.0       # [agent]batch_window: a build later than this would launch alone


@pytest.fixture
def agent_api(tmp_path, monkeypatch):
    """inject-api with its real in-process agent and manager; the appliance is faked
    at appliance.run (the worker serves the jobs over the fake guestfs), counting
    launches. A batch is dispatched once N requests are queued (max_batch)."""
    fakeguestfs.reset()
    monkeypatch.setitem(sys.modules, 'guestfs', fakeguestfs)
    (tmp_path / 'host').mkdir()
    host = Host(tmp_path / 'host', fakeguestfs)
    host.trees = collections.defaultdict(lambda: {1: fakeguestfs.linux_tree()})
    monkeypatch.setattr(appliance, 'run', host.run)
    make_image(tmp_path)
    conf = make_conf(tmp_path, **{
        'injection.inject_partition': 1, 'injection.overlay_dir': str(host.overlays),
        'appliance.warm_appliances': 0, 'appliance.accelerator': 'tcg',
        'agent.batch_window': WINDOW, 'agent.max_batch': N,
        'agent.max_appliances': 4})
    api = Api(tmp_path, conf, None)
    api.host = host
    yield api
    api.app.compute.wait()
    api.app.compute.close()
    fakeguestfs.reset()


@pytest.fixture
def one_slow_disk(agent_api, monkeypatch):
    """The first server disk made takes twice the batch window: builds that went
    ahead without it would be dispatched before it arrives."""
    create = compute.image_mod.create_overlay
    instances = agent_api.conf.api.instances_path
    calls = []
    lock = threading.Lock()

    def slow(image, disk, *args, **kwargs):
        if not disk.startswith(instances):      # the agent's own overlays
            return create(image, disk, *args, **kwargs)
        with lock:
            calls.append(disk)
            first = len(calls) == 1
        if first:
            time.sleep(2 * WINDOW)
        return create(image, disk, *args, **kwargs)

    monkeypatch.setattr(compute.image_mod, 'create_overlay', slow)
    return calls


def test_one_launch_serves_every_disk_of_a_multi_create(agent_api, one_slow_disk):
    api = agent_api
    api.create(version='2.56', name='batch', max_count=N, metadata={'role': 'web'},
               personality=[{'path': '/etc/motd', 'contents': 'aGk='}])
    servers = _servers(api)
    assert [s['status'] for s in servers] == ['ACTIVE'] * N, servers
    assert len(one_slow_disk) == N
    # ONE appliance run, with one job per server's disk
    assert len(api.host.runs) == 1
    assert sorted(job.image_name for job in api.host.runs[0]) == sorted(
        api.app.compute.disk_path(s['id']) for s in servers)
    reports = [json.loads({m.key: m.value for m in api.app.db.instance_get(
        s['id']).system_metadata_items}['inject_report']) for s in servers]
    assert [r['accelerator'] for r in reports] == ['tcg'] * N
    assert len({r['timings']['launch'] for r in reports}) == 1
    for tree in api.host.trees.values():
        assert tree[1]['/etc/motd'].content == b'hi'
