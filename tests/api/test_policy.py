"""Who may do what, in noauth mode (roles from X-Roles): Nova's current defaults
(project reader for reads, member for writes, admin for quotas and across projects),
the old owner-only rules only with [oslo_policy]enforce_new_defaults = false, and a
policy file overriding a rule."""

import copy

import pytest
from oslo_context import context as oslo_context
from oslo_policy import opts as policy_opts

from inject.api import policy
from tests.api.support import ADMIN, Api, make_conf, make_image

READER = {'X-Roles': 'reader', 'X-Project-Id': 'p1'}
MEMBER = {'X-Roles': 'member', 'X-Project-Id': 'p1'}
P1_ADMIN = {'X-Roles': 'admin', 'X-Project-Id': 'p1'}
P2_MEMBER = {'X-Roles': 'member', 'X-Project-Id': 'p2'}
NO_ROLE = {'X-Roles': 'observer', 'X-Project-Id': 'p1'}


def _create(api, headers, status=202):
    resp = api.request('POST', '/v2.1/servers', {'server': {
        'name': 'vm', 'imageRef': api.image_id, 'flavorRef': '1'}},
        headers=headers, status=status)
    api.app.compute.wait()
    return resp


def _rebuild(api, sid, headers, status):
    return api.request('POST', '/v2.1/servers/%s/action' % sid,
                       {'rebuild': {'imageRef': api.image_id}}, headers=headers,
                       status=status)


def _forbidden(resp, rule):
    assert resp.json['forbidden']['message'] == (
        "Policy doesn't allow %s to be performed." % rule)


def test_reader_reads_but_cannot_create_rebuild_or_delete(api):
    sid = _create(api, MEMBER).json['server']['id']
    assert [s['id'] for s in api.request('GET', '/v2.1/servers', headers=READER,
                                         status=200).json['servers']] == [sid]
    api.request('GET', '/v2.1/servers/detail', headers=READER, status=200)
    api.request('GET', '/v2.1/servers/%s' % sid, headers=READER, status=200)
    api.request('GET', '/v2.1/servers/%s/os-instance-actions' % sid, headers=READER,
                status=200)
    api.request('GET', '/v2.1/os-quota-sets/p1', headers=READER, status=200)
    api.request('GET', '/v2.1/os-quota-sets/p1/detail', headers=READER, status=200)
    api.request('GET', '/v2.1/limits', headers=READER, status=200)

    _forbidden(_create(api, READER, status=403), 'os_compute_api:servers:create')
    _forbidden(_rebuild(api, sid, READER, 403), 'os_compute_api:servers:rebuild')
    _forbidden(api.request('DELETE', '/v2.1/servers/%s' % sid, headers=READER,
                           status=403), 'os_compute_api:servers:delete')
    assert len(api.app.db.instance_list(project_id='p1')) == 1
    assert [a.action for a in api.app.db.action_list(sid)] == ['create']


def test_member_writes_in_its_project(api):
    sid = _create(api, MEMBER).json['server']['id']
    _rebuild(api, sid, MEMBER, 202)
    api.app.compute.wait()
    api.request('DELETE', '/v2.1/servers/%s' % sid, headers=MEMBER, status=204)
    assert api.app.db.instance_list(project_id='p1') == []


def test_member_is_not_an_administrator(api):
    _create(api, P2_MEMBER)
    sid = _create(api, MEMBER).json['server']['id']
    for path, rule in (('/v2.1/servers?all_tenants=1',
                        'os_compute_api:servers:index:get_all_tenants'),
                       ('/v2.1/servers/detail?all_tenants=true',
                        'os_compute_api:servers:detail:get_all_tenants'),
                       ('/v2.1/limits?tenant_id=p2',
                        'os_compute_api:limits:other_project'),
                       ('/v2.1/os-quota-sets/p2', 'os_compute_api:os-quota-sets:show'),
                       ('/v2.1/os-quota-class-sets/default',
                        'os_compute_api:os-quota-class-sets:show')):
        _forbidden(api.request('GET', path, headers=MEMBER, status=403), rule)
    _forbidden(api.request('PUT', '/v2.1/os-quota-sets/p1',
                           {'quota_set': {'instances': 1}}, headers=MEMBER, status=403),
               'os_compute_api:os-quota-sets:update')
    _forbidden(api.request('DELETE', '/v2.1/os-quota-sets/p1', headers=MEMBER,
                           status=403), 'os_compute_api:os-quota-sets:delete')
    _forbidden(api.request('PUT', '/v2.1/os-quota-class-sets/default',
                           {'quota_class_set': {'instances': 1}}, headers=MEMBER,
                           status=403), 'os_compute_api:os-quota-class-sets:update')
    # defaults are anyone's (Nova's '@')
    api.request('GET', '/v2.1/os-quota-sets/p2/defaults', headers=MEMBER, status=200)
    # all_tenants=0 is the caller's own list, not a forbidden request
    listed = api.request('GET', '/v2.1/servers?all_tenants=0', headers=MEMBER,
                         status=200).json['servers']
    assert [s['id'] for s in listed] == [sid]


def test_other_projects_servers_are_not_found(api):
    sid = _create(api, MEMBER).json['server']['id']
    api.request('GET', '/v2.1/servers/%s' % sid, headers=P2_MEMBER, status=404)
    api.request('DELETE', '/v2.1/servers/%s' % sid, headers=P2_MEMBER, status=404)
    _rebuild(api, sid, P2_MEMBER, 404)
    api.request('GET', '/v2.1/servers/%s/os-instance-actions' % sid,
                headers=P2_MEMBER, status=404)
    assert api.request('GET', '/v2.1/servers', headers=P2_MEMBER,
                       status=200).json['servers'] == []
    assert api.app.db.instance_get(sid) is not None


def test_a_role_outside_the_defaults_gets_nothing(api):
    for path in ('/v2.1/servers', '/v2.1/servers/detail', '/v2.1/os-quota-sets/p1'):
        api.request('GET', path, headers=NO_ROLE, status=403)
    _create(api, NO_ROLE, status=403)
    api.request('GET', '/v2.1/limits', headers=NO_ROLE, status=200)   # '@' as Nova


def test_admin_crosses_projects(api):
    s1 = _create(api, MEMBER).json['server']['id']
    s2 = _create(api, P2_MEMBER).json['server']['id']
    listed = api.request('GET', '/v2.1/servers/detail?all_tenants=1', headers=P1_ADMIN,
                         status=200).json['servers']
    assert {s['id'] for s in listed} == {s1, s2}
    own = api.request('GET', '/v2.1/servers', headers=P1_ADMIN, status=200)
    assert [s['id'] for s in own.json['servers']] == [s1]
    api.request('GET', '/v2.1/servers/%s' % s2, headers=P1_ADMIN, status=200)
    resp = api.request('PUT', '/v2.1/os-quota-sets/p2', {'quota_set': {'instances': 3}},
                       headers=P1_ADMIN, status=200)
    assert resp.json['quota_set']['instances'] == 3
    limits = api.request('GET', '/v2.1/limits?tenant_id=p2', headers=P1_ADMIN,
                         status=200).json['limits']['absolute']
    assert (limits['maxTotalInstances'], limits['totalInstancesUsed']) == (3, 1)
    api.request('PUT', '/v2.1/os-quota-class-sets/default',
                {'quota_class_set': {'cores': 30}}, headers=P1_ADMIN, status=200)
    api.request('DELETE', '/v2.1/servers/%s' % s2, headers=P1_ADMIN, status=204)


def test_all_tenants_must_be_a_boolean(api):
    resp = api.request('GET', '/v2.1/servers?all_tenants=maybe', headers=ADMIN,
                       status=400)
    assert "Unrecognized value 'maybe'" in resp.json['badRequest']['message']


def test_noauth_default_caller_is_a_member_not_an_administrator(api):
    sid = api.create().json['server']['id']           # no X-Roles: member, reader
    api.request('GET', '/v2.1/servers/%s' % sid, status=200)
    api.request('PUT', '/v2.1/os-quota-sets/inject', {'quota_set': {'instances': 1}},
                status=403)
    api.request('GET', '/v2.1/servers?all_tenants=1', status=403)
    api.request('PUT', '/v2.1/os-quota-sets/inject', {'quota_set': {'instances': 1}},
                headers=ADMIN, status=200)
    api.request('DELETE', '/v2.1/servers/%s' % sid, status=204)


def test_noauth_roles_imply_as_keystone_bootstrap_does(api):
    # admin alone may read and write (admin > member > reader); reader alone may not
    # write; nothing implies admin.
    sid = _create(api, {'X-Roles': 'admin', 'X-Project-Id': 'p1'}).json['server']['id']
    api.request('GET', '/v2.1/servers/%s' % sid, headers={'X-Roles': 'member',
                                                          'X-Project-Id': 'p1'},
                status=200)
    api.request('GET', '/v2.1/os-quota-class-sets/default',
                headers={'X-Roles': 'member,reader'}, status=403)


def test_fault_details_are_for_administrators(api):
    api.fake.fail_with = 'boom'
    sid = _create(api, MEMBER).json['server']['id']
    stored = api.app.db.instance_get(sid).faults[-1]
    assert stored.details and stored.code == 500
    for headers in (MEMBER, READER):
        fault = api.request('GET', '/v2.1/servers/%s' % sid, headers=headers,
                            status=200).json['server']['fault']
        assert 'details' not in fault and fault['message']
    fault = api.request('GET', '/v2.1/servers/%s' % sid, headers=P1_ADMIN,
                        status=200).json['server']['fault']
    assert fault['details'] == stored.details
    listed = api.request('GET', '/v2.1/servers/detail', headers=MEMBER,
                         status=200).json['servers']
    assert 'details' not in listed[0]['fault']


def test_fault_details_hidden_whatever_the_code(api):
    sid = _create(api, MEMBER).json['server']['id']
    api.app.db.instance_update(sid, vm_state='error')
    api.app.db.fault_add(sid, 400, 'bad', '/var/lib/inject/instances/%s/disk' % sid)
    fault = api.request('GET', '/v2.1/servers/%s' % sid, headers=MEMBER,
                        status=200).json['server']['fault']
    assert fault['code'] == 400 and 'details' not in fault


@pytest.fixture
def make_api(tmp_path, fake_injection):
    apis = []

    def make(**policy_overrides):
        make_image(tmp_path)
        conf = make_conf(tmp_path)
        for group, opts in policy_opts.list_opts():
            conf.register_opts(copy.deepcopy(opts), group=group)
        for name, value in policy_overrides.items():
            conf.set_override(name, value, group='oslo_policy')
        api = Api(tmp_path, conf, fake_injection)
        apis.append(api)
        return api
    yield make
    for api in apis:
        api.app.compute.wait()
        api.app.compute.close()


def test_old_rules_only_with_enforce_new_defaults_false(make_api):
    # The documented way back to the old owner-only rules (oslo.policy's deprecated
    # rules): any role of the project may then write, as before.
    api = make_api(enforce_new_defaults=False)
    sid = _create(api, READER).json['server']['id']
    _rebuild(api, sid, READER, 202)
    api.app.compute.wait()
    api.request('DELETE', '/v2.1/servers/%s' % sid, headers=NO_ROLE, status=204)
    # still no other project's servers, still admin-only quota changes
    sid = _create(api, MEMBER).json['server']['id']
    api.request('GET', '/v2.1/servers/%s' % sid, headers=P2_MEMBER, status=404)
    api.request('PUT', '/v2.1/os-quota-sets/p1', {'quota_set': {'instances': 1}},
                headers=READER, status=403)


def test_policy_file_overrides_a_rule(make_api, tmp_path):
    policy_file = tmp_path / 'policy.yaml'
    policy_file.write_text('"os_compute_api:servers:create": "role:admin"\n')
    api = make_api(policy_file=str(policy_file))
    _forbidden(_create(api, MEMBER, status=403), 'os_compute_api:servers:create')
    _create(api, P1_ADMIN)


def _enforcer(tmp_path):
    return policy.Enforcer(make_conf(tmp_path))


def test_scope_project_tokens_only(tmp_path):
    enforcer = _enforcer(tmp_path)
    project = oslo_context.RequestContext(project_id='p1', roles=['admin', 'member',
                                                                  'reader'])
    system = oslo_context.RequestContext(system_scope='all', roles=['admin', 'member',
                                                                    'reader'])
    domain = oslo_context.RequestContext(domain_id='default', roles=['admin'])
    for rule in ('os_compute_api:servers:index', 'os_compute_api:servers:create',
                 'os_compute_api:os-quota-sets:update'):
        assert enforcer.can(project, rule, 'p1')
        assert not enforcer.can(system, rule, 'p1')
        assert not enforcer.can(domain, rule, 'p1')


# The rules Nova defines for the APIs inject-api has (or is about to have), with
# Nova's defaults.
NOVA_DEFAULTS = {
    'os_compute_api:servers:index': policy.PROJECT_READER_OR_ADMIN,
    'os_compute_api:servers:detail': policy.PROJECT_READER_OR_ADMIN,
    'os_compute_api:servers:show': policy.PROJECT_READER_OR_ADMIN,
    'os_compute_api:servers:create': policy.PROJECT_MEMBER_OR_ADMIN,
    'os_compute_api:servers:delete': policy.PROJECT_MEMBER_OR_ADMIN,
    'os_compute_api:servers:update': policy.PROJECT_MEMBER_OR_ADMIN,
    'os_compute_api:servers:rebuild': policy.PROJECT_MEMBER_OR_ADMIN,
    'os_compute_api:servers:index:get_all_tenants': policy.ADMIN,
    'os_compute_api:servers:detail:get_all_tenants': policy.ADMIN,
    'os_compute_api:servers:show:host_status': policy.ADMIN,
    'os_compute_api:servers:show:host_status:unknown-only': policy.ADMIN,
    'os_compute_api:os-extended-server-attributes': policy.ADMIN,
    'os_compute_api:server-metadata:index': policy.PROJECT_READER_OR_ADMIN,
    'os_compute_api:server-metadata:show': policy.PROJECT_READER_OR_ADMIN,
    'os_compute_api:server-metadata:create': policy.PROJECT_MEMBER_OR_ADMIN,
    'os_compute_api:server-metadata:update_all': policy.PROJECT_MEMBER_OR_ADMIN,
    'os_compute_api:server-metadata:update': policy.PROJECT_MEMBER_OR_ADMIN,
    'os_compute_api:server-metadata:delete': policy.PROJECT_MEMBER_OR_ADMIN,
    'os_compute_api:os-instance-actions:list': policy.PROJECT_READER_OR_ADMIN,
    'os_compute_api:os-instance-actions:show': policy.PROJECT_READER_OR_ADMIN,
    'os_compute_api:os-instance-actions:events': policy.ADMIN,
    'os_compute_api:os-instance-actions:events:details': policy.ADMIN,
    'os_compute_api:os-quota-sets:show': policy.PROJECT_READER_OR_ADMIN,
    'os_compute_api:os-quota-sets:detail': policy.PROJECT_READER_OR_ADMIN,
    'os_compute_api:os-quota-sets:defaults': '@',
    'os_compute_api:os-quota-sets:update': policy.ADMIN,
    'os_compute_api:os-quota-sets:delete': policy.ADMIN,
    'os_compute_api:os-quota-class-sets:show': policy.ADMIN,
    'os_compute_api:os-quota-class-sets:update': policy.ADMIN,
    'os_compute_api:limits': '@',
    'os_compute_api:limits:other_project': policy.ADMIN,
}


def test_rules_are_novas_with_project_scope():
    rules = {r.name: r for r in policy.list_rules()}
    for name, check_str in NOVA_DEFAULTS.items():
        assert rules[name].check_str == check_str, name
        assert rules[name].scope_types == ['project'], name
    assert rules['context_is_admin'].check_str == 'role:admin'
    assert rules['project_member_api'].check_str == (
        'role:member and project_id:%(project_id)s')
    assert rules['project_reader_api'].check_str == (
        'role:reader and project_id:%(project_id)s')
