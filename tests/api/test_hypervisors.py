"""os-hypervisors: one node per registered agent, its figures from the agent's last
heartbeat and the servers on its host, as Nova answers (tempest's schemas at 2.1,
2.28, 2.33 and 2.53): ids, cpu_info, paging, the hostname pattern, with_servers, the
old search and servers routes, statistics."""

import json
import uuid

import pytest

from inject import servicegroup
from tests.api import contract
from tests.api.support import ADMIN

RESOURCES = {'vcpus': 4, 'memory_mb': 8192, 'local_gb': 100, 'disk_available_least': 60,
             'host_ip': '192.0.2.10', 'hypervisor_type': 'inject',
             'hypervisor_version': 1000, 'cpu_info': {'arch': 'x86_64'}}


def register(api, host, resources=RESOURCES):
    return api.app.db.service_register(host, servicegroup.BINARY,
                                       {'can_inject': True, 'resources': resources})


def get(api, path, version, schema=None, status=200):
    resp = api.request('GET', '/v2.1/os-hypervisors' + path, version=version,
                       headers=ADMIN, status=status)
    if schema:
        return contract.check('hypervisors', schema, version, resp)
    return resp.json


@pytest.mark.parametrize('version', ['2.1', '2.27', '2.28', '2.32', '2.33', '2.52',
                                     '2.53', '2.57'])
def test_bodies(api, version):
    row = register(api, api.conf.agent.host)
    uuids = version in ('2.53', '2.57')
    listed, = get(api, '', version, 'list_search_hypervisors')['hypervisors']
    assert listed == {'id': row.node_uuid if uuids else row.id,
                      'hypervisor_hostname': row.host, 'state': 'up',
                      'status': 'enabled'}
    detail, = get(api, '/detail', version, 'list_hypervisors_detail')['hypervisors']
    shown = get(api, '/%s' % listed['id'], version, 'get_hypervisor')['hypervisor']
    assert detail == shown
    assert shown['service'] == {'id': row.uuid if uuids else row.id, 'host': row.host,
                                'disabled_reason': None}
    if version in ('2.1', '2.27'):
        assert json.loads(shown['cpu_info']) == {'arch': 'x86_64'}
    else:
        assert shown['cpu_info'] == {'arch': 'x86_64'}
    assert (shown['hypervisor_type'], shown['hypervisor_version'], shown['host_ip'],
            shown['vcpus'], shown['memory_mb'], shown['local_gb'],
            shown['disk_available_least']) == (
        'inject', 1000, '192.0.2.10', 4, 8192, 100, 60)


def test_figures_count_the_servers_on_the_host(api):
    register(api, api.conf.agent.host)
    register(api, 'elsewhere')
    api.create(flavorRef='2', max_count=2, min_count=2)   # m1.small: 1 vcpu, 2048 MB, 20 GB
    mine, other = get(api, '/detail', '2.53', 'list_hypervisors_detail')['hypervisors']
    assert (mine['running_vms'], mine['vcpus_used'], mine['memory_mb_used'],
            mine['local_gb_used'], mine['free_ram_mb'], mine['free_disk_gb'],
            mine['current_workload']) == (2, 2, 4096, 40, 8192 - 4096, 100 - 40, 0)
    assert (other['running_vms'], other['vcpus_used']) == (0, 0)
    stats = get(api, '/statistics', '2.53', 'get_hypervisor_statistics')[
        'hypervisor_statistics']
    assert (stats['count'], stats['vcpus'], stats['running_vms'],
            stats['memory_mb_used']) == (2, 8, 2, 4096)


def test_statistics_leave_out_disabled_hosts(api):
    register(api, 'h1')
    row = register(api, 'h2')
    api.app.db.service_update(row.id, disabled=True)
    stats = get(api, '/statistics', '2.1', 'get_hypervisor_statistics')[
        'hypervisor_statistics']
    assert (stats['count'], stats['vcpus']) == (1, 4)
    api.app.db.service_update(row.id, disabled=False)
    assert get(api, '/statistics', '2.1')['hypervisor_statistics']['count'] == 2


def test_state_and_status_follow_the_service(api):
    row = register(api, 'h1')
    api.app.db.service_update(row.id, forced_down=True, disabled=True,
                              disabled_reason='broken fan')
    shown, = get(api, '/detail', '2.53', 'list_hypervisors_detail')['hypervisors']
    assert (shown['state'], shown['status'], shown['service']['disabled_reason']) == (
        'down', 'disabled', 'broken fan')


def test_only_agents_are_nodes(api):
    register(api, 'h1')
    api.app.db.service_register('h1', 'inject-metadata', {})
    assert len(get(api, '', '2.53')['hypervisors']) == 1


@pytest.mark.parametrize('version,ident,status,message', [
    ('2.52', 'abc', 404, "Hypervisor with ID 'abc' could not be found."),
    ('2.52', '999', 404, "Hypervisor with ID '999' could not be found."),
    ('2.53', '7', 400, 'Invalid uuid 7'),
    ('2.53', str(uuid.UUID(int=7)), 404,
     "Hypervisor with ID '%s' could not be found." % uuid.UUID(int=7)),
])
def test_show_errors(api, version, ident, status, message):
    register(api, 'h1')
    resp = api.request('GET', '/v2.1/os-hypervisors/%s' % ident, version=version,
                       headers=ADMIN, status=status)
    assert list(resp.json.values())[0]['message'] == message


def test_a_service_uuid_is_not_a_hypervisor_id(api):
    row = register(api, 'h1')
    api.request('GET', '/v2.1/os-hypervisors/%s' % row.uuid, version='2.53',
                headers=ADMIN, status=404)


def test_paging_from_233(api):
    rows = [register(api, 'h%d' % i) for i in range(3)]
    body = get(api, '?limit=2', '2.33', 'list_search_hypervisors')
    assert [h['id'] for h in body['hypervisors']] == [rows[0].id, rows[1].id]
    link, = body['hypervisors_links']
    assert link['rel'] == 'next' and 'marker=%d' % rows[1].id in link['href']
    assert '/os-hypervisors?' in link['href']
    body = get(api, '/detail?limit=2&marker=%d' % rows[1].id, '2.33',
               'list_hypervisors_detail')
    assert [h['id'] for h in body['hypervisors']] == [rows[2].id]
    assert 'hypervisors_links' not in body                # not a full page
    body = get(api, '/detail?limit=1', '2.53', 'list_hypervisors_detail')
    assert body['hypervisors'][0]['id'] == rows[0].node_uuid
    assert 'marker=%s' % rows[0].node_uuid in body['hypervisors_links'][0]['href']
    assert '/os-hypervisors/detail?' in body['hypervisors_links'][0]['href']
    body = get(api, '?marker=%s' % rows[1].node_uuid, '2.53')
    assert [h['hypervisor_hostname'] for h in body['hypervisors']] == ['h2']
    # before 2.33 paging parameters are ignored
    assert len(get(api, '?limit=1', '2.32')['hypervisors']) == 3
    for version, marker in (('2.33', 'nope'), ('2.33', '999'),
                            ('2.53', str(uuid.UUID(int=5))), ('2.53', str(rows[0].id))):
        resp = api.request('GET', '/v2.1/os-hypervisors?marker=%s' % marker,
                           version=version, headers=ADMIN, status=400)
        assert resp.json['badRequest']['message'] == 'marker [%s] not found' % marker


def test_hostname_pattern_and_with_servers_from_253(api):
    register(api, api.conf.agent.host)
    register(api, 'other-host')
    sid = api.create(name='vm-on-host').json['server']['id']
    body = get(api, '?hypervisor_hostname_pattern=other', '2.53',
               'list_search_hypervisors')
    assert [h['hypervisor_hostname'] for h in body['hypervisors']] == ['other-host']
    resp = api.request('GET', '/v2.1/os-hypervisors?hypervisor_hostname_pattern=zzz',
                       version='2.53', headers=ADMIN, status=404)
    assert resp.json['itemNotFound']['message'] == (
        "No hypervisor matching 'zzz' could be found.")
    resp = api.request(
        'GET', '/v2.1/os-hypervisors?hypervisor_hostname_pattern=o&limit=1',
        version='2.53', headers=ADMIN, status=400)
    assert 'Paging over hypervisors' in resp.json['badRequest']['message']
    body = get(api, '/detail?with_servers=true', '2.53', 'list_hypervisors_detail')
    mine = [h for h in body['hypervisors'] if h['hypervisor_hostname'] == api.conf.agent.host]
    assert mine[0]['servers'] == [{'name': 'vm-on-host', 'uuid': sid}]
    assert all('servers' not in h for h in body['hypervisors'] if h is not mine[0])
    shown = get(api, '/%s?with_servers=1' % mine[0]['id'], '2.53', 'get_hypervisor')
    assert shown['hypervisor']['servers'] == [{'name': 'vm-on-host', 'uuid': sid}]


def test_pattern_is_a_substring_not_a_wildcard(api):
    register(api, 'h1')
    api.request('GET', '/v2.1/os-hypervisors?hypervisor_hostname_pattern=_',
                version='2.53', headers=ADMIN, status=404)


@pytest.mark.parametrize('query', ['?sort_key=id', '?with_servers=maybe',
                                   '?limit=1&limit=2', '?limit=-1'])
def test_queries_are_strict_from_253(api, query):
    register(api, 'h1')
    api.request('GET', '/v2.1/os-hypervisors' + query, version='2.53', headers=ADMIN,
                status=400)


def test_unknown_queries_are_ignored_before_253(api):
    register(api, 'h1')
    assert len(get(api, '?sort_key=id&with_servers=true', '2.52')['hypervisors']) == 1


def test_search_and_servers_routes_up_to_252(api):
    register(api, api.conf.agent.host)
    register(api, 'other-host')
    sid = api.create(name='vm1').json['server']['id']
    body = get(api, '/other/search', '2.52', 'list_search_hypervisors')
    assert [h['hypervisor_hostname'] for h in body['hypervisors']] == ['other-host']
    body = get(api, '/%s/servers' % api.conf.agent.host, '2.52', 'get_hypervisors_servers')
    assert body['hypervisors'][0]['servers'] == [{'name': 'vm1', 'uuid': sid}]
    api.request('GET', '/v2.1/os-hypervisors/zzz/search', version='2.52', headers=ADMIN,
                status=404)
    for path in ('/other/search', '/other/servers'):
        api.request('GET', '/v2.1/os-hypervisors' + path, version='2.53', headers=ADMIN,
                    status=404)


def test_uptime_is_not_supported(api):
    row = register(api, 'h1')
    resp = api.request('GET', '/v2.1/os-hypervisors/%s/uptime' % row.id, version='2.52',
                       headers=ADMIN, status=501)
    assert resp.json['notImplemented']['message'] == (
        'The requested functionality is not supported.')
    api.request('GET', '/v2.1/os-hypervisors/%s/uptime' % row.node_uuid,
                version='2.53', headers=ADMIN, status=501)
    api.request('GET', '/v2.1/os-hypervisors/77/uptime', version='2.52', headers=ADMIN,
                status=404)


def test_there_are_no_aggregates(api):
    resp = api.request('GET', '/v2.1/os-aggregates', headers=ADMIN, status=200)
    assert contract.check('aggregates', 'list_aggregates', '2.1', resp) == {
        'aggregates': []}
    api.request('GET', '/v2.1/os-aggregates', status=403)
    api.request('POST', '/v2.1/os-aggregates', {'aggregate': {'name': 'a'}},
                headers=ADMIN, status=405)


@pytest.mark.parametrize('path,rule', [
    ('', 'list'), ('/detail', 'list-detail'), ('/statistics', 'statistics'),
    ('/1', 'show'), ('/1/uptime', 'uptime'), ('/h1/search', 'search'),
    ('/h1/servers', 'servers')])
def test_administrators_only(api, path, rule):
    register(api, 'h1')
    resp = api.request('GET', '/v2.1/os-hypervisors' + path, version='2.52', status=403)
    assert resp.json['forbidden']['message'] == (
        "Policy doesn't allow os_compute_api:os-hypervisors:%s to be performed." % rule)
