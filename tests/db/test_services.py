"""The services table on SQLite and PostgreSQL: registration (also when several
processes register one host at once), heartbeats timed by the database's clock, the
administrator's changes, and what the hosts hold."""

import datetime
import threading

from inject import servicegroup
from inject.db import api as db_api
from inject.db import models

AGENT = servicegroup.BINARY


def test_register_report_update_delete(db):
    row = db.service_register('h1', AGENT, {'can_inject': True})
    assert (row.report_count, row.disabled, row.forced_down) == (1, False, False)
    assert row.uuid != row.node_uuid
    again = db.service_report('h1', AGENT, {'can_inject': False})
    assert (again.id, again.report_count, again.capabilities) == (
        row.id, 2, {'can_inject': False})
    assert db.service_report('h2', AGENT, {}) is None
    updated, _ = db.service_update(row.id, disabled=True, disabled_reason='x')
    assert (updated.disabled, updated.disabled_reason, updated.report_count) == (
        True, 'x', 2)
    assert db.service_delete(row.id) and not db.service_delete(row.id)
    assert db.service_update(row.id, disabled=False)[0] is None


def test_heartbeats_take_the_databases_clock(db, monkeypatch):
    # The caller's clock is never read: a host whose clock is a year off still
    # writes the database's time.
    monkeypatch.setattr(models, 'utcnow', lambda: datetime.datetime(2001, 1, 1))
    row = db.service_register('h1', AGENT, {})
    with db.engine.connect() as c:
        if c.dialect.name == 'postgresql':
            db_now = c.exec_driver_sql("SELECT timezone('UTC', now())").scalar_one()
        else:
            db_now = datetime.datetime.fromisoformat(
                c.exec_driver_sql("SELECT datetime('now')").scalar_one())
    for stamp in (row.last_seen_up, row.created_at, row.updated_at):
        assert abs((db_now - stamp).total_seconds()) < 5
    _, listed_now = db.service_list()
    assert abs((listed_now - db_now).total_seconds()) < 5


def test_one_row_however_many_register_at_once(db_url):
    db_api.Database(db_url).dispose()                       # the schema
    dbs = [db_api.Database(db_url, sync=False) for _ in range(6)]
    start = threading.Barrier(len(dbs))
    errors = []

    def register(database):
        try:
            start.wait()
            database.service_register('h1', AGENT, {})
        except Exception as e:       # pragma: no cover - the assertion shows it
            errors.append(e)
    threads = [threading.Thread(target=register, args=(d,)) for d in dbs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows, _ = dbs[0].service_list()
    for d in dbs:
        d.dispose()
    assert errors == []
    assert len(rows) == 1 and rows[0].report_count == len(dbs)


def test_pages_and_host_patterns(db):
    for host in ('a-1', 'b-1', 'a%2', 'c'):
        db.service_register(host, AGENT, {})
    db.service_register('a-1', 'inject-metadata', {})
    rows, _ = db.service_page(AGENT)
    assert [r.host for r in rows] == ['a-1', 'b-1', 'a%2', 'c']
    rows, _ = db.service_page(AGENT, limit=2, marker=rows[0].id)
    assert [r.host for r in rows] == ['b-1', 'a%2']
    assert [r.host for r in db.service_page(AGENT, host_like='-1')[0]] == ['a-1', 'b-1']
    assert [r.host for r in db.service_page(AGENT, host_like='%')[0]] == ['a%2']
    assert db.service_page(AGENT, host_like='_')[0] == []


def test_what_hosts_hold(db):
    flavor = {'vcpus': 2, 'ram': 1024, 'disk': 20}
    servers = (('u1', 'h1', None, False), ('u2', 'h1', 'rebuilding', False),
               ('u3', 'h1', None, True), ('u4', 'h2', None, False),
               ('u5', None, 'scheduling', False))
    for uuid, host, task, deleted in servers:
        db.instance_create(dict(uuid=uuid, project_id='p', user_id='u', name=uuid,
                                vm_state='active', task_state=task, image_ref='i',
                                flavor=flavor, host=host, deleted=deleted), {}, {})
    assert db.host_usage(['h1', 'h3']) == {'h1': {
        'running_vms': 2, 'vcpus_used': 4, 'memory_mb_used': 2048, 'local_gb_used': 40,
        'current_workload': 1}}
    assert db.host_servers(['h1', 'h2']) == {'h1': [('u1', 'u1'), ('u2', 'u2')],
                                             'h2': [('u4', 'u4')]}
