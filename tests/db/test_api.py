"""The database functions the API and the spawn flow write through (inject.db.api), on
SQLite and PostgreSQL."""

import types

import pytest
import sqlalchemy as sa

from inject.db import api as db_api
from inject.db import models
from inject.db import instances as db_instances


def _instance(db, uuid='11111111-2222-3333-4444-555555555555', project='p1'):
    flavor = {'id': '1', 'name': 'm1.tiny', 'ram': 512, 'disk': 1, 'vcpus': 1,
              'swap': 0, 'ephemeral': 0, 'extra_specs': {}}
    return db.instance_create(dict(
        uuid=uuid, project_id=project, user_id='u', name='vm', vm_state='building',
        task_state='scheduling', power_state=0, image_ref='img', flavor=flavor,
        disk_config='MANUAL', availability_zone='nova', config_drive='', tags=[],
        locked=False, deleted=False), {'k': 'v'}, {'image_base_image_ref': 'img'})


def _sysmeta(inst):
    return {m.key: m.value for m in inst.system_metadata_items}


@pytest.mark.parametrize('upsert', [True, False], ids=['upsert', 'select-then-write'])
def test_system_metadata_update_sets_and_keeps(db, upsert, monkeypatch):
    if not upsert:      # what a database without an upsert of SQLAlchemy's gets
        monkeypatch.setattr(db_instances, '_UPSERTS', {})
    inst = _instance(db)
    db.instance_system_metadata_update(inst.uuid, {'injected_files': '/etc/motd'})
    db.instance_system_metadata_update(inst.uuid, {'injected_files': '/a,/b',
                                                   'inject_report': '{}'})
    assert _sysmeta(db.instance_get(inst.uuid)) == {
        'image_base_image_ref': 'img', 'injected_files': '/a,/b', 'inject_report': '{}'}


def test_system_metadata_update_of_a_missing_instance_does_nothing(db):
    kept = _instance(db)
    db.instance_system_metadata_update('no-such-instance', {'a': 'b'})
    with db.session() as s:
        rows = s.execute(sa.select(models.InstanceSystemMetadata.instance_uuid,
                                   models.InstanceSystemMetadata.key)).all()
    assert rows == [(kept.uuid, 'image_base_image_ref')]      # nothing added, no orphan
    assert _sysmeta(db.instance_get(kept.uuid)) == {'image_base_image_ref': 'img'}


def test_instance_delete_is_soft(db):
    inst = _instance(db)
    db.instance_delete(inst.uuid)
    assert db.instance_get(inst.uuid) is None
    assert db.instance_list() == []
    with db.session() as s:
        row = s.get(db_api.models.Instance, inst.uuid)
        assert (row.deleted, row.vm_state, row.task_state) == (True, 'deleted', None)
        assert row.terminated_at is not None


def test_quota_getters_read_their_own_rows(db):
    db.quota_set('p1', {'instances': 3, 'cores': 4})
    db.quota_set('p2', {'instances': 9})
    db.quota_class_set('default', {'cores': 33})
    db.quota_class_set('p1', {'ram': 1})
    assert db.quota_get('p1') == {'instances': 3, 'cores': 4}
    assert db.quota_get('p2') == {'instances': 9}
    assert db.quota_get('nobody') == {}
    assert db.quota_class_get('default') == {'cores': 33}
    assert db.quota_class_get('p1') == {'ram': 1}
    db.quota_set('p1', {'instances': 5})
    assert db.quota_get('p1') == {'instances': 5, 'cores': 4}
    db.quota_destroy('p1')
    assert db.quota_get('p1') == {}
    assert db.quota_class_get('p1') == {'ram': 1}


def test_action_start_and_finish(db):
    inst = _instance(db)
    context = types.SimpleNamespace(request_id='req-1', user_id='u', project_id='p1')
    action = db.action_start(inst.uuid, 'create', context)
    db.action_finish(action, 'Error')
    row, = db.action_list(inst.uuid)
    assert (row.action, row.request_id, row.message) == ('create', 'req-1', 'Error')
    assert row.finish_time is not None


def test_create_started_keeps_the_files_of_each_server_in_its_transaction(db):
    flavor = {'id': '1', 'name': 'm1.tiny', 'ram': 512, 'disk': 1, 'vcpus': 1,
              'swap': 0, 'ephemeral': 0, 'extra_specs': {}}

    def rows(count, first=0):
        return [(dict(uuid='11111111-2222-3333-4444-55555555555%d' % (first + i),
                      project_id='p1',
                      user_id='u', name='vm', vm_state='building', power_state=0,
                      image_ref='img', flavor=flavor, disk_config='MANUAL',
                      availability_zone='nova', config_drive='', tags=[], locked=False,
                      deleted=False), {}, {'builder': 'b'}) for i in range(count)]
    context = types.SimpleNamespace(request_id='req-1', user_id='u', project_id='p1')
    insts, actions = db.instances_create_started(
        'p1', lambda usage: 2, rows, 'create', context,
        files=[('/etc/motd', b'hi'), ('/a', bytearray(b'\0'))])
    assert len(actions) == 2
    for inst in insts:
        assert db.instance_files_get(inst.uuid) == [('/etc/motd', b'hi'), ('/a', b'\0')]
    (inst,), _ = db.instances_create_started('p1', lambda usage: 1,
                                             lambda count: rows(count, first=2), 'create',
                                             context)
    assert db.instance_files_get(inst.uuid) == []


def test_build_fail_is_one_transaction(db):
    inst = _instance(db)
    action = db.action_start(inst.uuid, 'create', types.SimpleNamespace(
        request_id='req-1', user_id='u', project_id='p1'))
    assert db.build_fail(inst.uuid, 500, 'Build failed: x', 'details',
                         {'inject_report': '{}'}, action_id=action) is True
    got = db.instance_get(inst.uuid)
    assert (got.vm_state, got.task_state) == ('error', None)
    assert _sysmeta(got)['inject_report'] == '{}'
    [act] = db.action_list(inst.uuid)
    assert act.finish_time is not None and act.message == 'Error'


def test_build_fail_of_a_deleted_instance_changes_nothing(db):
    inst = _instance(db)
    db.instance_delete(inst.uuid)
    assert db.build_fail(inst.uuid, 500, 'Build failed: x') is False


def test_a_database_that_cannot_be_written_is_named(tmp_path):
    # SQLite's own error for a read-only database file, through unavailable_named
    from inject import exception
    from inject.db import engine
    import sqlalchemy as sa
    path = tmp_path / 'db.sqlite'
    db_api.Database('sqlite:///%s' % path).dispose()
    ro = sa.create_engine('sqlite:///file:%s?mode=ro&uri=true' % path)
    try:
        with pytest.raises(exception.DatabaseUnavailable) as e:
            with engine.unavailable_named('written'), ro.begin() as c:
                c.exec_driver_sql("INSERT INTO quota_classes (class_name, resource, "
                                  "hard_limit) VALUES ('default', 'cores', 1)")
    finally:
        ro.dispose()
    assert (e.value.doing, e.value.reason) == ('written',
                                               'attempt to write a readonly database')
    assert str(e.value).startswith('The database of inject-api cannot be written now '
                                   '(attempt to write a readonly database); nothing was '
                                   'changed.')


def test_other_database_errors_are_not_unavailability(db):
    from inject.db import engine
    import sqlalchemy as sa
    with pytest.raises(sa.exc.DBAPIError) as e:
        with db.session() as s:
            s.execute(sa.text('SELECT * FROM no_such_table'))
    assert engine.unavailable(e.value) is None
