"""The server metadata functions of inject.db.api (merge, replace, delete one key), on
SQLite and PostgreSQL: keys kept by a replace keep their rows, so the unique
(instance_uuid, key) constraint never sees a key twice."""


from tests.db.test_api import _instance


def _metadata(db, uuid):
    return {m.key: m.value for m in db.instance_get(uuid).metadata_items}


def test_merge_sets_and_keeps(db):
    inst = _instance(db)
    assert db.instance_metadata_update(inst.uuid, {'k': 'new', 'a': '1'}) == {
        'k': 'new', 'a': '1'}
    assert _metadata(db, inst.uuid) == {'k': 'new', 'a': '1'}


def test_replace_drops_the_others_and_rewrites_kept_keys(db):
    inst = _instance(db)
    db.instance_metadata_update(inst.uuid, {'a': '1', 'b': '2'})
    assert db.instance_metadata_update(inst.uuid, {'k': 'again', 'c': '3'},
                                       replace=True) == {'k': 'again', 'c': '3'}
    assert _metadata(db, inst.uuid) == {'k': 'again', 'c': '3'}
    assert db.instance_metadata_update(inst.uuid, {}, replace=True) == {}
    assert _metadata(db, inst.uuid) == {}


def test_delete_one_key(db):
    inst = _instance(db)
    db.instance_metadata_update(inst.uuid, {'a': '1'})
    assert db.instance_metadata_delete(inst.uuid, 'k') is True
    assert db.instance_metadata_delete(inst.uuid, 'k') is False
    assert _metadata(db, inst.uuid) == {'a': '1'}


def test_missing_or_deleted_instances(db):
    assert db.instance_metadata_update('no-such-instance', {'a': '1'}) is None
    assert db.instance_metadata_delete('no-such-instance', 'a') is False
    inst = _instance(db)
    db.instance_delete(inst.uuid)
    assert db.instance_metadata_update(inst.uuid, {'a': '1'}) is None
    assert db.instance_metadata_delete(inst.uuid, 'k') is False
