"""os-services: the agents' registrations and heartbeats, listed and updated as Nova
answers (tempest's schemas at 2.1, 2.11 and 2.53), and a host that is down, forced
down or disabled getting no new build."""

import datetime
import os
import uuid

import pytest
import sqlalchemy as sa

from inject import servicegroup
from inject.db import models
from tests.api import contract
from tests.api.support import ADMIN, b64

AGENT = servicegroup.BINARY


def register(api, host=None, capabilities=None):
    return api.app.db.service_register(host or api.conf.agent.host, AGENT,
                                       capabilities or {'can_inject': True})


def heartbeat_ago(api, row, seconds):
    """Move the service's last heartbeat ``seconds`` into the past (negative: the
    future, a host whose clock runs ahead)."""
    with api.app.db.session() as s:
        s.execute(sa.update(models.Service).where(models.Service.id == row.id).values(
            last_seen_up=models.utcnow() - datetime.timedelta(seconds=seconds)))


def services(api, version='2.53', query=''):
    resp = api.request('GET', '/v2.1/os-services' + query, version=version,
                       headers=ADMIN, status=200)
    return contract.check('services', 'list_services', version, resp)['services']


@pytest.mark.parametrize('version,id_type,forced', [
    ('2.1', int, False), ('2.10', int, False), ('2.11', int, True), ('2.52', int, True),
    ('2.53', str, True), ('2.57', str, True)])
def test_list_bodies(api, version, id_type, forced):
    row = register(api)
    service, = services(api, version)
    assert isinstance(service['id'], id_type)
    assert service['id'] == (row.uuid if id_type is str else row.id)
    assert ('forced_down' in service) is forced
    assert (service['binary'], service['host'], service['zone'], service['status'],
            service['state'], service['disabled_reason']) == (
        AGENT, api.conf.agent.host, 'nova', 'enabled', 'up', None)
    assert service['updated_at'] == row.updated_at.isoformat(timespec='microseconds')


def test_list_filters_exactly_by_host_and_binary(api):
    register(api, 'h1')
    register(api, 'h10')
    assert [s['host'] for s in services(api, query='?host=h1')] == ['h1']
    assert [s['host'] for s in services(api, query='?binary=%s' % AGENT)] == ['h1', 'h10']
    assert services(api, query='?binary=nova-compute') == []
    assert len(services(api, query='?host=&unknown=1')) == 2      # empty: no filter


def test_a_stale_heartbeat_is_down_either_way(api):
    api.conf.set_override('service_down_time', 60)
    row = register(api)
    heartbeat_ago(api, row, 55)
    assert services(api)[0]['state'] == 'up'
    heartbeat_ago(api, row, 75)
    assert services(api)[0]['state'] == 'down'
    heartbeat_ago(api, row, -75)                 # a clock 75 s ahead: as Nova, down
    assert services(api)[0]['state'] == 'down'
    api.app.db.service_report(row.host, AGENT, {})        # a fresh heartbeat
    assert services(api)[0]['state'] == 'up'


def test_never_reported_counts_from_registration(api):
    row = register(api)
    with api.app.db.session() as s:
        s.execute(sa.update(models.Service).values(
            last_seen_up=None,
            created_at=models.utcnow() - datetime.timedelta(seconds=600)))
    assert services(api)[0]['state'] == 'down'
    api.app.db.service_report(row.host, AGENT, {})
    assert services(api)[0]['state'] == 'up'


def test_service_down_time_not_above_report_interval_is_stretched(api, caplog):
    api.conf.set_override('report_interval', 10)
    api.conf.set_override('service_down_time', 10)
    row = register(api)
    heartbeat_ago(api, row, 24)                    # 10 x 2.5 = 25 s
    assert services(api)[0]['state'] == 'up'
    assert 'Setting service_down_time to: 25' in caplog.text
    heartbeat_ago(api, row, 26)
    assert services(api)[0]['state'] == 'down'


def test_members_may_not_list_or_update(api):
    row = register(api)
    for method, path, body, rule in (
            ('GET', '/v2.1/os-services', None, 'list'),
            ('PUT', '/v2.1/os-services/%s' % row.uuid, {'status': 'disabled'}, 'update'),
            ('DELETE', '/v2.1/os-services/%s' % row.uuid, None, 'delete')):
        resp = api.request(method, path, body, version='2.53', status=403)
        assert resp.json['forbidden']['message'] == (
            "Policy doesn't allow os_compute_api:os-services:%s to be performed." % rule)


# --- updates before 2.53: PUT /os-services/{action} -------------------------------------

def put_action(api, action, body, version='2.11', status=200):
    return api.request('PUT', '/v2.1/os-services/%s' % action, body, version=version,
                       headers=ADMIN, status=status)


def test_disable_enable_by_host_and_binary(api):
    register(api)
    host = api.conf.agent.host
    resp = put_action(api, 'disable', {'host': host, 'binary': AGENT})
    assert contract.check('services', 'enable_disable_service', '2.11', resp) == {
        'service': {'host': host, 'binary': AGENT, 'status': 'disabled'}}
    assert services(api, '2.11')[0]['status'] == 'disabled'
    resp = put_action(api, 'disable-log-reason',
                      {'host': host, 'binary': AGENT, 'disabled_reason': 'disk swap'})
    assert contract.check('services', 'disable_log_reason', '2.11', resp)['service'][
        'disabled_reason'] == 'disk swap'
    assert services(api, '2.11')[0]['disabled_reason'] == 'disk swap'
    resp = put_action(api, 'enable', {'host': host, 'binary': AGENT})
    assert resp.json['service']['status'] == 'enabled'
    service, = services(api, '2.11')
    assert (service['status'], service['disabled_reason']) == ('enabled', None)


def test_force_down_from_211(api):
    register(api)
    body = {'host': api.conf.agent.host, 'binary': AGENT, 'forced_down': True}
    resp = put_action(api, 'force-down', body)
    assert contract.check('services', 'update_forced_down', '2.11', resp)['service'][
        'forced_down'] is True
    service, = services(api, '2.11')
    assert (service['forced_down'], service['state']) == (True, 'down')
    put_action(api, 'force-down', dict(body, forced_down='false'))
    assert services(api, '2.11')[0]['state'] == 'up'
    # before 2.11 there is no such action, and forced_down is not a field
    assert put_action(api, 'force-down', {'host': body['host'], 'binary': AGENT},
                      version='2.10', status=404).json['itemNotFound']['message'] == (
        'Unknown action')
    put_action(api, 'disable', body, version='2.10', status=400)


@pytest.mark.parametrize('action,body,status,message', [
    ('disable-log-reason', {'host': 'HOST', 'binary': AGENT}, 400,
     'Missing disabled reason field'),
    ('force-down', {'host': 'HOST', 'binary': AGENT}, 400, 'Missing forced_down field'),
    ('reboot', {'host': 'HOST', 'binary': AGENT}, 404, 'Unknown action'),
    ('disable', {'host': 'nowhere', 'binary': AGENT}, 404,
     'Could not find binary inject-agent on host nowhere.'),
    ('disable', {'host': 'HOST', 'binary': 'inject-api'}, 400,
     'Updating a inject-api service is not supported. Only inject-agent services can '
     'be updated.'),
])
def test_action_errors(api, action, body, status, message):
    register(api)
    body = {k: (api.conf.agent.host if v == 'HOST' else v) for k, v in body.items()}
    resp = put_action(api, action, body, status=status)
    assert list(resp.json.values())[0]['message'] == message


def test_action_body_is_validated(api):
    register(api)
    resp = put_action(api, 'disable', {'host': 'bad host!', 'binary': AGENT}, status=400)
    assert 'host' in resp.json['badRequest']['message']
    put_action(api, 'disable', {'host': api.conf.agent.host}, status=400)


# --- updates from 2.53: PUT /os-services/{uuid} -----------------------------------------

def put_uuid(api, ident, body, status=200):
    resp = api.request('PUT', '/v2.1/os-services/%s' % ident, body, version='2.53',
                       headers=ADMIN, status=status)
    if status == 200:
        contract.check('services', 'update_service', '2.53', resp)
    return resp


def test_update_by_uuid(api):
    row = register(api)
    service = put_uuid(api, row.uuid, {'status': 'disabled',
                                       'disabled_reason': 'maintenance'}).json['service']
    assert (service['id'], service['status'], service['disabled_reason'],
            service['state'], service['forced_down']) == (
        row.uuid, 'disabled', 'maintenance', 'up', False)
    service = put_uuid(api, row.uuid, {'forced_down': True}).json['service']
    assert (service['status'], service['state'], service['forced_down']) == (
        'disabled', 'down', True)
    service = put_uuid(api, row.uuid, {'status': 'enabled',
                                       'forced_down': 'no'}).json['service']
    assert (service['status'], service['disabled_reason'], service['state']) == (
        'enabled', None, 'up')


@pytest.mark.parametrize('ident,body,status,message', [
    ('not-a-uuid', {'status': 'disabled'}, 400, 'Invalid uuid not-a-uuid'),
    (str(uuid.UUID(int=1)), {'status': 'disabled'}, 404,
     'Service %s could not be found.' % uuid.UUID(int=1)),
    ('ROW', {'status': 'enabled', 'disabled_reason': 'x'}, 400,
     "Specifying 'disabled_reason' with status 'enabled' is invalid."),
    ('ROW', {}, 400, "No updates were requested. Fields 'status' or 'forced_down' "
                     "should be specified."),
    ('ROW', {'disabled_reason': 'only a reason'}, 400,
     "No updates were requested. Fields 'status' or 'forced_down' should be specified."),
])
def test_update_by_uuid_errors(api, ident, body, status, message):
    row = register(api)
    resp = put_uuid(api, row.uuid if ident == 'ROW' else ident, body, status=status)
    assert list(resp.json.values())[0]['message'] == message


def test_update_by_uuid_body_is_flat_and_checked(api):
    row = register(api)
    for body in ({'service': {'status': 'disabled'}}, {'status': 'off'},
                 {'status': 'disabled', 'disabled_reason': ''},
                 {'status': 'disabled', 'disabled_reason': 'x' * 256},
                 {'forced_down': 'maybe'}):
        put_uuid(api, row.uuid, body, status=400)
    assert services(api)[0]['status'] == 'enabled'


def test_only_agents_can_be_updated(api):
    row = api.app.db.service_register('h1', 'inject-metadata', {})
    resp = put_uuid(api, row.uuid, {'status': 'disabled'}, status=400)
    assert resp.json['badRequest']['message'].startswith(
        'Updating a inject-metadata service is not supported.')


# --- delete -------------------------------------------------------------------------------

def test_delete(api):
    row = register(api)
    api.request('DELETE', '/v2.1/os-services/not-a-uuid', version='2.53', headers=ADMIN,
                status=400)
    api.request('DELETE', '/v2.1/os-services/x1', version='2.52', headers=ADMIN,
                status=400)
    api.request('DELETE', '/v2.1/os-services/%s' % row.id, version='2.52',
                headers=ADMIN, status=204)
    assert services(api) == []
    api.request('DELETE', '/v2.1/os-services/%s' % row.uuid, version='2.53',
                headers=ADMIN, status=404)


def test_a_host_holding_servers_is_not_deleted(api):
    row = register(api)
    sid = api.create().json['server']['id']
    resp = api.request('DELETE', '/v2.1/os-services/%s' % row.uuid, version='2.53',
                       headers=ADMIN, status=409)
    assert resp.json['conflictingRequest']['message'].startswith(
        'Unable to delete compute service that is hosting instances.')
    api.request('DELETE', '/v2.1/servers/%s' % sid, status=204)
    api.request('DELETE', '/v2.1/os-services/%s' % row.uuid, version='2.53',
                headers=ADMIN, status=204)


# --- builds go only to a host that is up and enabled -----------------------------------

def _server(api, resp):
    sid = resp.json['server']['id']
    return api.request('GET', '/v2.1/servers/%s' % sid, headers=ADMIN,
                       status=200).json['server']


def test_a_build_goes_to_an_up_host_and_records_it(api):
    register(api)
    server = _server(api, api.create(version='2.56', personality=[
        {'path': '/etc/motd', 'contents': b64(b'hi')}]))
    assert server['status'] == 'ACTIVE'
    assert len(api.fake.requests) == 1
    assert api.app.db.instance_get(server['id']).host == api.conf.agent.host


@pytest.mark.parametrize('change,reason', [
    ({'last_seen_up': 'stale'}, 'is down: its last heartbeat was'),
    ({'forced_down': True}, 'is forced down by an administrator.'),
    ({'disabled': True, 'disabled_reason': 'disk swap'}, 'is disabled (disk swap).'),
])
def test_no_build_goes_to_a_host_down_forced_down_or_disabled(api, change, reason):
    row = register(api)
    if change.get('last_seen_up') == 'stale':
        heartbeat_ago(api, row, api.conf.service_down_time + 30)
    else:
        api.app.db.service_update(row.id, **change)
    server = _server(api, api.create(version='2.56', personality=[
        {'path': '/etc/motd', 'contents': b64(b'hi')}]))
    assert server['status'] == 'ERROR'
    assert server['fault']['message'].startswith(
        'No valid host was found. The inject-agent service of host %s %s'
        % (api.conf.agent.host, reason))
    assert api.fake.requests == []                       # the agent was never asked
    assert not os.path.exists(api.app.compute.disk_path(server['id']))
    # enabled and heartbeating again: the next build goes there
    api.app.db.service_update(row.id, disabled=False, forced_down=False)
    api.app.db.service_report(row.host, AGENT, {})
    assert _server(api, api.create())['status'] == 'ACTIVE'


def test_a_host_that_never_registered_is_asked_as_before(api):
    assert api.app.db.service_list()[0] == []
    assert _server(api, api.create())['status'] == 'ACTIVE'
