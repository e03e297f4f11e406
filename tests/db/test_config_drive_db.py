"""What the config drive path keeps in the database (migration 0003), on SQLite and
PostgreSQL: a server's personality files, and the dynamic vendordata answers a build
obtained, shared with inject-metadata through
:class:`inject.metadata.vendordata.cache.SharedAnswerCache` until they expire."""

import datetime


from inject.metadata.vendordata import cache as cache_mod
from tests.db.test_api import _instance

UUID = '11111111-2222-3333-4444-555555555555'
T0 = datetime.datetime(2025, 1, 1, 12, 0, 0)


def test_files_kept_in_order_and_replaced(db):
    _instance(db)
    files = [('/etc/motd', b'hello\n'), ('/root/bin', bytes(range(256))),
             ('/a', b'')]
    db.instance_files_set(UUID, files)
    assert db.instance_files_get(UUID) == files
    db.instance_files_set(UUID, [('/b', b'b')])
    assert db.instance_files_get(UUID) == [('/b', b'b')]
    db.instance_files_set(UUID, [])
    assert db.instance_files_get(UUID) == []


def test_files_of_a_missing_instance_are_not_kept(db):
    db.instance_files_set('no-such-instance', [('/a', b'a')])
    assert db.instance_files_get('no-such-instance') == []


def test_answers_expire_and_are_forgotten(db):
    _instance(db)
    assert db.vendordata_answer_put(UUID, 'k1', 'vd', '{"a": 1}',
                                    T0 + datetime.timedelta(seconds=60))
    assert db.vendordata_answer_get(UUID, 'k1', now=T0) == (
        '{"a": 1}', T0 + datetime.timedelta(seconds=60))
    assert db.vendordata_answer_get(UUID, 'k1', now=T0 + datetime.timedelta(
        seconds=60)) is None
    db.vendordata_answer_put(UUID, 'k1', 'vd', '{"a": 2}', T0 + datetime.timedelta(
        seconds=120))
    assert db.vendordata_answer_get(UUID, 'k1', now=T0)[0] == '{"a": 2}'
    db.vendordata_answers_delete(UUID)
    assert db.vendordata_answer_get(UUID, 'k1', now=T0) is None
    assert not db.vendordata_answer_put('no-such-instance', 'k', 'vd', '{}', T0)


def test_shared_cache_across_processes(db):
    _instance(db)
    now = [T0]
    calls = []

    def fetch():
        calls.append(1)
        return {'n': len(calls)}, 30

    key = (UUID, 'vd', 'http://127.0.0.1:1/', 'digest')
    api_side = cache_mod.SharedAnswerCache(db, wallclock=lambda: now[0])
    metadata_side = cache_mod.SharedAnswerCache(db, wallclock=lambda: now[0])
    assert api_side.get_or_fetch(key, fetch) == {'n': 1}
    assert metadata_side.get_or_fetch(key, fetch) == {'n': 1}
    assert len(calls) == 1
    # expired in the database: a third process asks the target again
    now[0] = T0 + datetime.timedelta(seconds=31)
    third = cache_mod.SharedAnswerCache(db, wallclock=lambda: now[0])
    assert third.get_or_fetch(key, fetch) == {'n': 2}
    # an answer that may not be kept is not shared
    other = (UUID, 'vd', 'http://127.0.0.1:1/', 'other')
    assert api_side.get_or_fetch(other, lambda: ({'x': 1}, 0)) == {'x': 1}
    assert metadata_side.get_or_fetch(other, lambda: ({'x': 2}, 0)) == {'x': 2}
