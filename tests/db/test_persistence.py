"""What inject-api stores survives a restart (a new application on the same database),
on SQLite and PostgreSQL."""

import pytest

from inject.api import compute
from tests.api.support import ADMIN, Api, FakeInjection, b64, make_conf, make_image


@pytest.fixture
def restartable(tmp_path, db_url, monkeypatch):
    fake = FakeInjection()
    monkeypatch.setattr(compute, 'inject_disk', fake)
    make_image(tmp_path)

    def start():
        conf = make_conf(tmp_path, **{'injection.inject_partition': 1,
                                      'database.connection': db_url})
        return Api(tmp_path, conf, fake)
    return start, fake


def test_everything_survives_a_restart(restartable):
    start, fake = restartable
    api = start()
    good = api.create(version='2.56', metadata={'role': 'web'}, user_data=b64(b'#!/bin/sh'),
                      personality=[{'path': '/etc/motd', 'contents': b64(b'hi')}]
                      ).json['server']['id']
    api.request('POST', '/v2.1/servers/%s/action' % good, {'rebuild': {
        'imageRef': api.image_id, 'user_data': b64(b'echo "hello world"')}},
        version='2.57', status=202)
    api.app.compute.wait()
    fake.fail_with = 'the appliance died'
    bad = api.create(version='2.56', personality=[
        {'path': '/etc/issue', 'contents': b64(b'x')}]).json['server']['id']
    api.request('PUT', '/v2.1/os-quota-sets/demo', {'quota_set': {'instances': 7,
                                                                  'injected_files': 2}},
                version='2.56', headers=ADMIN, status=200)
    api.request('PUT', '/v2.1/os-quota-class-sets/default',
                {'quota_class_set': {'cores': 33}}, headers=ADMIN, status=200)
    api.app.db.dispose()

    api = start()       # a new process would do exactly this
    server = api.request('GET', '/v2.1/servers/%s' % good, version='2.57').json['server']
    assert server['status'] == 'ACTIVE'
    assert server['metadata'] == {'role': 'web'}
    inst = api.app.db.instance_get(good)
    assert inst.user_data == 'ZWNobyAiaGVsbG8gd29ybGQi'
    sysmeta = {m.key: m.value for m in inst.system_metadata_items}
    assert sysmeta['injected_files'] == '' and 'image_base_image_ref' in sysmeta
    assert [a.action for a in api.app.db.action_list(good)] == ['create', 'rebuild']
    server = api.request('GET', '/v2.1/servers/%s' % bad).json['server']
    assert server['status'] == 'ERROR'
    assert 'the appliance died' in server['fault']['message']
    quota = api.request('GET', '/v2.1/os-quota-sets/demo', version='2.56',
                        headers=ADMIN).json
    assert quota['quota_set']['instances'] == 7
    assert quota['quota_set']['injected_files'] == 2
    assert quota['quota_set']['cores'] == 33
    api.app.db.dispose()


def test_builds_interrupted_by_a_restart_become_errors(restartable):
    start, _ = restartable
    api = start()
    sid = api.create().json['server']['id']
    api.app.db.instance_update(sid, vm_state='building', task_state='spawning')
    api.app.db.dispose()
    api = start()
    api.app.compute.recover()
    server = api.request('GET', '/v2.1/servers/%s' % sid).json['server']
    assert server['status'] == 'ERROR'
    assert 'stopped while' in server['fault']['message']
    api.app.db.dispose()
