"""Key pair functions of inject.db.api on SQLite and PostgreSQL: unique names per user,
listing by name with a marker, counting, deleting."""




def _add(db, user, name):
    return db.key_pair_create(user, name, 'ssh-ed25519 AAAA %s' % name, 'aa:bb')


def test_names_are_unique_per_user(db):
    assert _add(db, 'u1', 'k').id
    assert _add(db, 'u1', 'k') is None          # the duplicate, not an exception
    assert _add(db, 'u2', 'k') is not None
    assert db.key_pair_count('u1') == 1 and db.key_pair_count('u2') == 1
    kp = db.key_pair_get('u1', 'k')
    assert (kp.user_id, kp.type, kp.public_key) == ('u1', 'ssh', 'ssh-ed25519 AAAA k')
    assert kp.created_at is not None
    assert db.key_pair_get('u3', 'k') is None


def test_list_by_name_with_marker_and_limit(db):
    for name in ('b', 'c', 'a', 'd'):
        _add(db, 'u1', name)
    _add(db, 'u2', 'bb')
    assert [k.name for k in db.key_pair_list('u1')] == ['a', 'b', 'c', 'd']
    assert [k.name for k in db.key_pair_list('u1', limit=2, marker='a')] == ['b', 'c']
    assert db.key_pair_list('u1', marker='bb') is None     # another user's name
    assert db.key_pair_list('u1', marker='d') == []


def test_delete_only_the_users_own(db):
    _add(db, 'u1', 'k')
    _add(db, 'u2', 'k')
    assert db.key_pair_delete('u1', 'k') is True
    assert db.key_pair_delete('u1', 'k') is False
    assert db.key_pair_get('u2', 'k') is not None
