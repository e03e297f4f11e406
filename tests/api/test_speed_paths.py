"""The cheaper paths of issue 10 keep the behaviour: a create the in-process agent
would write nothing of skips the agent with the very report it would have answered,
the policy file is looked at once a second (or at once after SIGHUP), and a build
ends in the same state through the light build transactions."""

import copy
import json
import os

import pytest
from oslo_policy import opts as policy_opts

from inject import image as image_mod
from inject import request as request_mod
from inject.agent import rpcapi
from inject.api import catalog
from inject.api import compute
from inject.api import policy as policy_mod
from tests.api.support import ADMIN, Api, b64, make_conf, make_image


@pytest.fixture
def disk(tmp_path):
    path = make_image(tmp_path, 'disk', 'qcow2')
    return image_mod.DiskImage(str(path), 'qcow2')


def _agent_report(conf, req):
    """What the real in-process agent answers for ``req`` (no shortcut)."""
    c = compute.Compute(conf, db=None)
    try:
        reply = c.agent_client().inject(conf.agent.host, req, instance_id='i',
                                        project_id='p')
    finally:
        c.close()
    return compute.report_mod.Report.from_dict(reply)


def _comparable(report):
    d = report.to_dict()
    d.pop('timings')
    return d


@pytest.mark.parametrize('partition', [-2, 1])
@pytest.mark.parametrize('key, password', [(None, 'secret'), ('ssh-ed25519 AAAA k', 's'),
                                           ('ssh-ed25519 AAAA k', None)])
def test_the_local_report_is_the_agents(tmp_path, disk, partition, key, password):
    conf = make_conf(tmp_path, **{'injection.inject_partition': partition,
                                  'appliance.warm_appliances': 0})
    req = request_mod.InjectionRequest(disk, admin_password=password, key=key,
                                       request_id='req-1')
    local = compute.nothing_written(conf, req)
    assert local is not None
    assert _comparable(local) == _comparable(_agent_report(conf, req))


@pytest.mark.parametrize('overrides, request_args', [
    ({}, {'files': [('/etc/motd', b'hi')]}),
    ({}, {'metadata': {'a': 'b'}}),
    ({}, {'partition': 1}),
    ({'injection.inject_password': True}, {}),
    ({'injection.inject_key': True}, {'key': 'ssh-ed25519 AAAA k'}),
    ({'transport_url': 'rabbit://u:p@127.0.0.1:1/'}, {}),
])
def test_the_agent_is_asked_when_it_may_write_or_is_elsewhere(tmp_path, disk, overrides,
                                                              request_args):
    conf = make_conf(tmp_path, **{'injection.inject_partition': -2})
    rpcapi.transport_url(conf)      # registers [DEFAULT]transport_url
    for key, value in overrides.items():
        group, _, name = key.rpartition('.')
        conf.set_override(name, value, group=group or None)
    args = dict({'admin_password': 'secret'}, **request_args)
    req = request_mod.InjectionRequest(disk, **args)
    assert compute.nothing_written(conf, req) is None


def test_a_create_with_injection_off_does_not_reach_the_agent(tmp_path, monkeypatch):
    make_image(tmp_path)
    conf = make_conf(tmp_path, **{'injection.inject_partition': -2})
    api = Api(tmp_path, conf, None)
    try:
        def no_agent():
            raise AssertionError('the agent was asked')
        monkeypatch.setattr(api.app.compute, 'agent_client', no_agent)
        sid = api.create().json['server']['id']
        server = api.request('GET', '/v2.1/servers/%s' % sid, status=200).json['server']
        assert server['status'] == 'ACTIVE'
        sysmeta = {m.key: m.value for m in api.app.db.instance_get(sid)
                   .system_metadata_items}
        report = json.loads(sysmeta['inject_report'])
        assert [(i['kind'], i['status'], i['reason']) for i in report['items']] == [
            ('admin_password', 'skipped',
             'not injected: inject_password is False on this host')]
        assert sysmeta['image_base_image_ref'] == api.image_id
        actions = api.app.db.action_list(sid)
        assert actions[0].finish_time is not None and actions[0].message is None
    finally:
        api.app.compute.wait()
        api.app.compute.close()


def test_personality_with_injection_off_still_reaches_the_agent_and_faults(tmp_path):
    make_image(tmp_path)
    conf = make_conf(tmp_path, **{'injection.inject_partition': -2})
    api = Api(tmp_path, conf, None)
    try:
        sid = api.create(personality=[{'path': '/etc/motd', 'contents': 'aGk='}]).json[
            'server']['id']
        body = api.request('GET', '/v2.1/servers/%s' % sid, headers=ADMIN,
                           status=200).json['server']
        assert body['status'] == 'ERROR'
        assert '/etc/motd' in body['fault']['message']
    finally:
        api.app.compute.wait()
        api.app.compute.close()


def test_a_server_deleted_during_its_build_is_left_deleted(tmp_path, fake_injection):
    make_image(tmp_path)
    conf = make_conf(tmp_path, **{'injection.inject_partition': 1})
    api = Api(tmp_path, conf, fake_injection)
    db = api.app.db
    uuid = api.create(wait=True).json['server']['id']
    db.instance_delete(uuid)
    assert db.build_begin(uuid, [('/a', b'x')]) is None
    assert db.instance_files_get(uuid) == []
    assert db.build_finish(uuid, {'vm_state': 'active'}, {'k': 'v'}) is False
    inst = db.instance_list()
    assert inst == []
    assert not db.instance_alive(uuid)



def test_a_create_keeps_its_files_and_its_build_does_not_write_them_again(api,
                                                                         monkeypatch):
    def no_build_begin(*args, **kwargs):
        raise AssertionError('the build of a new server wrote its start again')
    monkeypatch.setattr(api.app.db, 'build_begin', no_build_begin)
    sid = api.create(personality=[{'path': '/etc/motd', 'contents': b64(b'hi\n')},
                                  {'path': '/etc/b', 'contents': b64(b'b')}],
                     config_drive=True).json['server']['id']
    server = api.request('GET', '/v2.1/servers/%s' % sid, status=200).json['server']
    assert server['status'] == 'ACTIVE'
    assert api.app.db.instance_files_get(sid) == [('/etc/motd', b'hi\n'), ('/etc/b', b'b')]
    assert [f for f, _ in api.fake.requests[-1].files] == ['/etc/motd', '/etc/b']
    sysmeta = {m.key: m.value for m in api.app.db.instance_get(sid).system_metadata_items}
    assert sysmeta['builder'] == compute.builder()
    assert sysmeta['injected_files'] == '/etc/motd,/etc/b'
    assert os.path.exists(api.app.compute.config_drive_path(sid))


def test_a_new_server_deleted_before_its_build_starts_is_left_deleted(api):
    sid = api.create().json['server']['id']
    api.app.db.instance_delete(sid)
    build = compute.BuildRequest(catalog.images(api.conf.api.image_dir)[0],
                                 [('/a', b'x')], created=('p', ''))
    api.app.compute.build(sid, build)
    assert api.app.db.instance_get(sid) is None
    assert api.fake.requests[-1].files == []      # the create's own, not this one
    assert not os.path.exists(api.app.compute.disk_path(sid))
    assert api.app.db.instances_built_by(compute.builder()) == []


# --- the policy file, looked at once a second -----------------------------------------

class Clock:
    now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def enforcer(tmp_path, monkeypatch):
    conf = make_conf(tmp_path)
    for group, opts in policy_opts.list_opts():
        conf.register_opts(copy.deepcopy(opts), group=group)
    policy_file = tmp_path / 'policy.yaml'
    policy_file.write_text('"os_compute_api:servers:create": "role:admin"\n')
    conf.set_override('policy_file', str(policy_file), group='oslo_policy')
    clock = Clock()
    monkeypatch.setattr(policy_mod._ThrottledEnforcer, 'clock', clock)
    return policy_mod.Enforcer(conf), policy_file, clock


def _member():
    from oslo_context import context
    return context.RequestContext(user_id='u', project_id='p', roles=['member', 'reader'])


def _stat_counter(monkeypatch):
    import os as os_mod
    calls = []
    real = os_mod.stat

    def counting(path, *args, **kwargs):
        calls.append(str(path))
        return real(path, *args, **kwargs)
    monkeypatch.setattr(os_mod, 'stat', counting)
    monkeypatch.setattr('oslo_policy.policy.os.stat', counting, raising=False)
    return calls


def test_the_policy_file_is_looked_at_once_a_second(enforcer, monkeypatch):
    enf, policy_file, clock = enforcer
    rule = 'os_compute_api:servers:create'
    assert not enf.can(_member(), rule)
    policy_file.write_text('"os_compute_api:servers:create": "role:member"\n')
    calls = _stat_counter(monkeypatch)
    clock.now += 0.5
    for _ in range(20):
        assert not enf.can(_member(), rule)       # not looked at yet
    assert not [c for c in calls if c.endswith('policy.yaml')]
    clock.now += 0.6
    assert enf.can(_member(), rule)               # a second later: the change is seen


def test_sighup_makes_the_next_check_read_the_policy_file(enforcer):
    enf, policy_file, clock = enforcer
    rule = 'os_compute_api:servers:create'
    assert not enf.can(_member(), rule)
    policy_file.write_text('"os_compute_api:servers:create": "role:member"\n')
    assert not enf.can(_member(), rule)
    enf.reload()
    assert enf.can(_member(), rule)
