"""Lists paged in SQL, usage counted in SQL, and the quota decision taken under the
project's lock (issue 10), on SQLite and PostgreSQL."""

import datetime
import threading
import time
import uuid as uuid_mod

import pytest

from inject.db import api as db_api
from inject.db import listing as db_listing

FLAVOR = {'id': '2', 'name': 'm1.small', 'ram': 2048, 'disk': 20, 'vcpus': 1,
          'swap': 0, 'ephemeral': 0, 'extra_specs': {}}
T0 = datetime.datetime(2024, 1, 1)


def _values(project='p1', name='vm', minutes=0, **extra):
    values = dict(uuid=str(uuid_mod.uuid4()), project_id=project, user_id='u', name=name,
                  vm_state='active', task_state=None, power_state=1, image_ref='img',
                  flavor=FLAVOR, disk_config='MANUAL', availability_zone='nova',
                  config_drive='', tags=[], locked=False, deleted=False,
                  created_at=T0 + datetime.timedelta(minutes=minutes))
    values.update(extra)
    return values


class OverQuota(Exception):
    pass


def test_parallel_creates_never_exceed_the_quota(db):
    """30 creates at once against instances = 10: exactly 10 rows. The check sleeps
    between counting and inserting, so that without the project lock every thread
    would count the same usage and insert."""
    created, refused, errors = [], [], []
    start = threading.Barrier(30)

    def check(used):
        time.sleep(0.02)
        if used['instances'] + 1 > 10:
            raise OverQuota()

    def create():
        start.wait()
        try:
            created.append(db.instance_create(_values(), {}, {}, quota_check=check).uuid)
        except OverQuota:
            refused.append(1)
        except Exception as e:        # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=create) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert (len(created), len(refused)) == (10, 20)
    assert db.instance_usage('p1') == (10, 10, 10 * 2048)


def test_refused_create_leaves_no_row(db):
    def refuse(used):
        raise OverQuota()
    with pytest.raises(OverQuota):
        db.instance_create(_values(), {'a': 'b'}, {'c': 'd'}, quota_check=refuse)
    assert db.instance_usage('p1') == (0, 0, 0)
    assert db.instance_list() == []


def test_usage_counts_live_rows_of_the_project(db):
    db.instance_create(_values(), {}, {})
    db.instance_create(_values(flavor=dict(FLAVOR, vcpus=4, ram=8192)), {}, {})
    db.instance_create(_values(project='p2'), {}, {})
    gone = db.instance_create(_values(), {}, {})
    db.instance_delete(gone.uuid)
    assert db.instance_usage('p1') == (2, 5, 2048 + 8192)
    assert db.instance_usage('nobody') == (0, 0, 0)


def test_pages_follow_each_other_in_sql(db):
    rows = [db.instance_create(_values(name='vm%02d' % i, minutes=i % 3), {'i': str(i)},
                               {}) for i in range(10)]
    filters = {'project_id': 'p1', 'deleted': False}
    seen, marker = [], None
    while True:
        page = db.instance_page(filters, limit=4, marker=marker)
        seen += [r.uuid for r in page]
        if len(page) < 4:
            break
        marker = page[-1].uuid
    expected = sorted(rows, key=lambda r: (r.created_at, r.uuid), reverse=True)
    assert seen == [r.uuid for r in expected]


def test_sorted_and_matched_pages(db):
    for i, name in enumerate(['c', 'a', 'b', 'ab']):
        db.instance_create(_values(name=name, minutes=i), {}, {})
    filters = {'project_id': 'p1', 'deleted': False}
    page = db.instance_page(filters, sort=[('display_name', 'asc')], limit=2)
    assert [r.name for r in page] == ['a', 'ab']
    page = db.instance_page(filters, sort=[('display_name', 'asc')], marker=page[-1].uuid)
    assert [r.name for r in page] == ['b', 'c']
    has_a = {'name': lambda name: 'a' in name}
    page = db.instance_page(filters, match=has_a, limit=1)
    assert [r.name for r in page] == ['ab']
    page = db.instance_page(filters, match=has_a, marker=page[0].uuid, detail=True)
    assert [r.name for r in page] == ['a']


def test_detail_pages_load_metadata_and_only_the_shown_system_metadata(db):
    db.instance_create(_values(), {'k': 'v'}, {'secret': 'x', 'reservation_id': 'r-1'})
    inst, = db.instance_page({'project_id': 'p1'}, detail=True)
    assert [(m.key, m.value) for m in inst.metadata_items] == [('k', 'v')]
    assert inst.faults == []
    db.instance_update(inst.uuid, vm_state='error')
    db.fault_add(inst.uuid, 500, 'first')
    db.fault_add(inst.uuid, 500, 'last')
    inst, = db.instance_page({'project_id': 'p1'}, detail=True)
    assert [f.message for f in inst.faults] == ['last']
    assert [(m.key, m.value) for m in inst.system_metadata_items] == [
        ('reservation_id', 'r-1')]
    light, = db.instance_page({'project_id': 'p1'})
    assert (light.uuid, light.name) == (inst.uuid, 'vm')


def test_marker_of_another_project_is_not_found(db):
    other = db.instance_create(_values(project='p2'), {}, {})
    with pytest.raises(db_listing.MarkerNotFound):
        db.instance_page({'project_id': 'p1'}, marker=other.uuid)
    assert db.instance_list(project_id='p1', marker=other.uuid) is None


def test_migration_0002_fills_usage_columns_from_the_flavor(db_url):
    import sqlalchemy as sa
    from inject.db import migration
    engine = sa.create_engine(db_url)
    migration.upgrade(engine, '0001')
    with engine.begin() as c:
        c.execute(sa.text(
            "INSERT INTO instances (uuid, project_id, user_id, name, vm_state, "
            "power_state, image_ref, flavor, disk_config, availability_zone, "
            "config_drive, tags, locked, created_at, updated_at, deleted) VALUES "
            "('u1', 'p1', 'u', 'vm', 'active', 1, 'img', :flavor, 'MANUAL', 'nova', '', "
            "'[]', false, :t, :t, false)"),
            {'flavor': '{"id": "3", "vcpus": 2, "ram": 4096}', 't': T0})
    migration.upgrade(engine)
    engine.dispose()
    database = db_api.Database(db_url)
    assert database.instance_usage('p1') == (1, 2, 4096)
    database.dispose()


def test_detail_rows_carry_their_system_metadata_and_metadata_is_read_only_if_any(db):
    import sqlalchemy as sa
    a = db.instance_create(_values(name='a', minutes=1), {},
                           {'reservation_id': 'r-a', 'launch_index': '0', 'other': 'x'})
    b = db.instance_create(_values(name='b', minutes=2), {'k1': 'v1', 'k2': 'v2'},
                           {'launch_index': '3'})
    c = db.instance_create(_values(name='c', minutes=3), {}, {})
    statements = []
    sa.event.listen(db.reader, 'before_cursor_execute',
                    lambda conn, cur, statement, *args: statements.append(statement))
    page = db.instance_page({'project_id': 'p1'}, detail=True)
    assert [i.uuid for i in page] == [c.uuid, b.uuid, a.uuid]
    got = {i.name: ([(m.key, m.value) for m in i.metadata_items],
                    sorted((m.key, m.value) for m in i.system_metadata_items))
           for i in page}
    assert got == {'a': ([], [('launch_index', '0'), ('reservation_id', 'r-a')]),
                   'b': ([('k1', 'v1'), ('k2', 'v2')], [('launch_index', '3')]),
                   'c': ([], [])}
    assert len(statements) == 2           # the page, then the metadata of b only
    del statements[:]
    page = db.instance_page({'project_id': 'p1'}, detail=True, limit=1)
    assert [i.name for i in page] == ['c'] and len(statements) == 1
