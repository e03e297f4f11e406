"""Server and flavor lists: Nova's filters, sorting, paging and next links (issue 10),
on rows written straight into the database (no builds), and the RE2 name match."""

import datetime
import threading
import urllib.parse
import uuid as uuid_mod

import pytest

from inject.api import catalog

MEMBER = {'X-Roles': 'member', 'X-Project-Id': 'p1'}
OTHER = {'X-Roles': 'member', 'X-Project-Id': 'p2'}
ADMIN = {'X-Roles': 'admin', 'X-Project-Id': 'p1'}
T0 = datetime.datetime(2024, 1, 1, 12, 0, 0)


def _server(api, name='vm', project='p1', minutes=0, flavor='1', **values):
    """A server row as a finished create leaves it (ACTIVE unless told)."""
    uuid = str(uuid_mod.uuid4())
    row = dict(uuid=uuid, project_id=project, user_id='u', name=name,
               vm_state='active', task_state=None, power_state=1, image_ref='img-1',
               flavor=catalog.flavor(flavor), disk_config='MANUAL',
               availability_zone='nova', config_drive='', tags=[], locked=False,
               deleted=False, created_at=T0 + datetime.timedelta(minutes=minutes),
               updated_at=T0 + datetime.timedelta(minutes=minutes))
    row.update(values)
    api.app.db.instance_create(row, {'k': name}, {})
    return uuid


def _get(api, path, headers=MEMBER, status=200, version=None):
    return api.request('GET', path, headers=headers, status=status, version=version)


def _ids(resp, key='servers'):
    return [s['id'] for s in resp.json[key]]


def _names(resp):
    return [s['name'] for s in resp.json['servers']]


def _next(resp, key='servers_links'):
    links = resp.json.get(key, [])
    assert [link['rel'] for link in links] == ['next']
    url = urllib.parse.urlsplit(links[0]['href'])
    return url.path + '?' + url.query, dict(urllib.parse.parse_qsl(url.query))


# --- paging -------------------------------------------------------------------------------

def test_newest_first_paged_by_marker_with_next_links(api):
    ids = [_server(api, 'vm%d' % i, minutes=i) for i in range(5)]
    first = _get(api, '/v2.1/servers?limit=2')
    assert _ids(first) == ids[::-1][:2]
    path, params = _next(first)
    assert path.startswith('/v2.1/servers?')
    assert params == {'limit': '2', 'marker': ids[3]}
    second = _get(api, path)
    assert _ids(second) == [ids[2], ids[1]]
    last = _get(api, _next(second)[0])
    assert _ids(last) == [ids[0]]
    assert 'servers_links' not in last.json


def test_equal_creation_times_page_by_uuid(api):
    ids = {_server(api, 'vm%d' % i) for i in range(7)}
    seen, path = [], '/v2.1/servers/detail?limit=3'
    while path:
        resp = _get(api, path)
        seen += _ids(resp)
        path = _next(resp)[0] if 'servers_links' in resp.json else None
    assert sorted(seen) == sorted(ids) and len(seen) == 7
    assert seen == sorted(seen, reverse=True)


def test_max_limit_is_the_default_page_and_caps_limit(api):
    api.conf.set_override('max_limit', 3, group='api')
    for i in range(4):
        _server(api, 'vm%d' % i, minutes=i)
    resp = _get(api, '/v2.1/servers')
    assert len(resp.json['servers']) == 3
    assert _next(resp)[1]['marker'] == resp.json['servers'][-1]['id']
    assert len(_get(api, '/v2.1/servers?limit=50').json['servers']) == 3


def test_next_link_keeps_filters_and_the_detail_path(api):
    for i in range(3):
        _server(api, 'web%d' % i, minutes=i)
    _server(api, 'db', minutes=5)
    resp = _get(api, '/v2.1/servers/detail?name=web&limit=2')
    assert _names(resp) == ['web2', 'web1']
    path, params = _next(resp)
    assert path.startswith('/v2.1/servers/detail?')
    assert params['name'] == 'web'
    assert _names(_get(api, path)) == ['web0']


def test_full_last_page_has_a_next_link_as_in_nova(api):
    ids = [_server(api, minutes=i) for i in range(2)]
    resp = _get(api, '/v2.1/servers?limit=2')
    path, _ = _next(resp)
    assert _get(api, path).json == {'servers': []}
    assert len(ids) == 2


@pytest.mark.parametrize('limit', ['abc', '-1', '1.5', ''])
def test_bad_limit(api, limit):
    resp = _get(api, '/v2.1/servers?limit=%s' % limit, status=400)
    assert 'Invalid input for query parameters limit' in resp.json['badRequest']['message']


def test_limit_zero_is_an_empty_page(api):
    _server(api)
    assert _get(api, '/v2.1/servers?limit=0').json == {'servers': []}


def test_unknown_marker(api):
    _server(api)
    resp = _get(api, '/v2.1/servers?marker=nope', status=400)
    assert resp.json['badRequest']['message'] == 'marker [nope] not found'
    other = _server(api, project='p2')
    _get(api, '/v2.1/servers?marker=%s' % other, status=400)


def test_sort_keys(api):
    for i, name in enumerate(['b', 'c', 'a']):
        _server(api, name, minutes=i)
    assert _names(_get(api, '/v2.1/servers?sort_key=display_name&sort_dir=asc')) == [
        'a', 'b', 'c']
    resp = _get(api, '/v2.1/servers?sort_key=display_name&sort_dir=desc&limit=1')
    assert _names(_get(api, _next(resp)[0])) == ['b']
    assert _names(_get(api, _next(resp)[0].replace('limit=1', 'limit=5'))) == ['b', 'a']
    # ignored keys (Nova accepts and drops them)
    assert _names(_get(api, '/v2.1/servers?sort_key=vcpus')) == ['a', 'c', 'b']
    _get(api, '/v2.1/servers?sort_key=nonsense', status=400)
    _get(api, '/v2.1/servers?sort_key=display_name&sort_dir=up', status=400)
    resp = _get(api, '/v2.1/servers?sort_key=host', status=403)
    assert resp.json['forbidden']['message'] == 'Only administrators can sort servers by host'
    _get(api, '/v2.1/servers?sort_key=host', headers=ADMIN)


# --- filters --------------------------------------------------------------------------------

def test_name_is_a_regular_expression(api):
    for name in ('web-1', 'web-2', 'db-1'):
        _server(api, name)
    assert sorted(_names(_get(api, '/v2.1/servers?name=^web'))) == ['web-1', 'web-2']
    assert _names(_get(api, '/v2.1/servers?name=^d.-1$')) == ['db-1']
    assert sorted(_names(_get(api, '/v2.1/servers?display_name=1',
                              headers=ADMIN))) == ['db-1', 'web-1']
    # display_name is not among the filters Nova lets a project member use: ignored
    assert len(_names(_get(api, '/v2.1/servers?display_name=1'))) == 3


@pytest.mark.parametrize('pattern', ['(', '', '(a)\\1'])
def test_invalid_name_pattern(api, pattern):
    resp = _get(api, '/v2.1/servers?name=%s' % urllib.parse.quote(pattern), status=400)
    assert resp.json['badRequest']['message'].startswith(
        'Invalid input for query parameters name. Value: %s.' % pattern)
    assert "is not a 'regex'" in resp.json['badRequest']['message']


def test_status_filter(api):
    _server(api, 'ok')
    _server(api, 'bad', vm_state='error')
    _server(api, 'new', vm_state='building', task_state='scheduling')
    _server(api, 'again', task_state='rebuilding')
    assert sorted(_names(_get(api, '/v2.1/servers?status=ACTIVE'))) == ['again', 'ok']
    assert _names(_get(api, '/v2.1/servers?status=error')) == ['bad']
    assert _names(_get(api, '/v2.1/servers?status=BUILD')) == ['new']
    assert _names(_get(api, '/v2.1/servers?status=REBUILD')) == ['again']
    assert _get(api, '/v2.1/servers?status=SHUTOFF').json == {'servers': []}
    assert _get(api, '/v2.1/servers?status=bogus').json == {'servers': []}
    resp = _get(api, '/v2.1/servers?status=bogus', version='2.38', status=400)
    assert resp.json['badRequest']['message'] == 'Invalid status value'


def test_deleted_servers_are_for_administrators(api):
    _server(api, 'live')
    gone = _server(api, 'gone')
    api.app.db.instance_delete(gone)
    assert _names(_get(api, '/v2.1/servers')) == ['live']
    resp = _get(api, '/v2.1/servers?status=DELETED', status=403)
    assert resp.json['forbidden']['message'] == 'Only administrators may list deleted instances'
    assert _ids(_get(api, '/v2.1/servers?status=DELETED', headers=ADMIN)) == [gone]


def test_changes_since_includes_deleted(api):
    _server(api, 'old', minutes=0)
    recent = _server(api, 'recent', minutes=30)
    gone = _server(api, 'gone', minutes=0)
    api.app.db.instance_delete(gone)      # updated now
    resp = _get(api, '/v2.1/servers?changes-since=2024-01-01T12:10:00Z')
    assert sorted(_ids(resp)) == sorted([recent, gone])
    resp = _get(api, '/v2.1/servers?changes-since=yesterday', status=400)
    assert resp.json['badRequest']['message'] == 'Invalid filter field: changes-since.'


def test_flavor_and_image_filters(api):
    _server(api, 'tiny', flavor='1', image_ref='img-1')
    _server(api, 'large', flavor='4', image_ref='img-2')
    assert _names(_get(api, '/v2.1/servers?flavor=4')) == ['large']
    assert _get(api, '/v2.1/servers?flavor=42').json == {'servers': []}
    assert _names(_get(api, '/v2.1/servers?image=img-1')) == ['tiny']


def test_host_filter_is_for_administrators(api):
    _server(api, 'here', host='h1')
    _server(api, 'there', host='h2')
    # Nova drops the filters a project member may not use
    assert sorted(_names(_get(api, '/v2.1/servers?host=h1'))) == ['here', 'there']
    assert _names(_get(api, '/v2.1/servers?host=h1', headers=ADMIN)) == ['here']


def test_all_tenants(api):
    mine = _server(api, 'mine', project='p1')
    theirs = _server(api, 'theirs', project='p2')
    resp = _get(api, '/v2.1/servers?all_tenants=1', status=403)
    assert 'get_all_tenants' in resp.json['forbidden']['message']
    _get(api, '/v2.1/servers/detail?all_tenants', status=403)
    assert _ids(_get(api, '/v2.1/servers', headers=ADMIN)) == [mine]
    assert _ids(_get(api, '/v2.1/servers?all_tenants=0', headers=ADMIN)) == [mine]
    assert sorted(_ids(_get(api, '/v2.1/servers?all_tenants', headers=ADMIN))) == sorted(
        [mine, theirs])
    for key in ('tenant_id', 'project_id'):
        assert _ids(_get(api, '/v2.1/servers?all_tenants=true&%s=p2' % key,
                         headers=ADMIN)) == [theirs]
    # without all_tenants Nova ignores tenant_id
    assert _ids(_get(api, '/v2.1/servers?tenant_id=p2', headers=ADMIN)) == [mine]
    _get(api, '/v2.1/servers?all_tenants=maybe', headers=ADMIN, status=400)
    assert _ids(_get(api, '/v2.1/servers', headers=OTHER)) == [theirs]


def test_unknown_and_joined_filters(api):
    _server(api)
    assert len(_get(api, '/v2.1/servers?foo=bar').json['servers']) == 1
    assert len(_get(api, '/v2.1/servers?metadata=x').json['servers']) == 1
    resp = _get(api, '/v2.1/servers?metadata=x', headers=ADMIN, status=400)
    assert resp.json['badRequest']['message'] == 'Invalid filter field: metadata.'
    _get(api, '/v2.1/servers?_secret=x', headers=ADMIN, status=400)


def test_ip_filter_matches_nothing(api):
    _server(api)
    assert _get(api, '/v2.1/servers?ip=10.0.0.1').json == {'servers': []}


def test_tag_filters(api):
    _server(api, 'ab', tags=['a', 'b'])
    _server(api, 'a', tags=['a'])
    _server(api, 'none')
    get = lambda q: sorted(_names(_get(api, '/v2.1/servers?' + q, version='2.26')))
    assert get('tags=a,b') == ['ab']
    assert get('tags-any=b,x') == ['ab']
    assert get('not-tags=a,b') == ['a', 'none']
    assert get('not-tags-any=a') == ['none']
    # before 2.26 the tag filters are unknown, so ignored
    assert len(_get(api, '/v2.1/servers?tags=zzz').json['servers']) == 3


def test_detail_lists_metadata_and_fault(api):
    sid = _server(api, 'bad', vm_state='error')
    api.app.db.fault_add(sid, 500, 'it broke')
    body = _get(api, '/v2.1/servers/detail').json['servers'][0]
    assert body['metadata'] == {'k': 'bad'}
    assert body['fault']['message'] == 'it broke'
    assert _get(api, '/v2.1/servers').json['servers'][0].keys() == {'id', 'name', 'links'}


def test_pathological_pattern_neither_hangs_nor_stalls_others(api):
    """(a+)+$ against 'a'*64 + '!' backtracks for ages in Python's re (each character
    doubles it, and the GIL is held throughout); RE2 answers in linear time. Generous
    bounds: a hang fails them, a slow machine does not."""
    _server(api, 'a' * 64 + '!')
    _server(api, 'plain')
    results = {}

    def call(key, path):
        results[key] = _get(api, path)

    slow = threading.Thread(target=call, daemon=True,
                            args=('regex', '/v2.1/servers?name=%s'
                                  % urllib.parse.quote('(a+)+$')))
    plain = threading.Thread(target=call, args=('plain', '/v2.1/servers'), daemon=True)
    slow.start()
    plain.start()
    plain.join(120)
    slow.join(120)
    assert not slow.is_alive() and not plain.is_alive()
    assert results['regex'].json == {'servers': []}
    assert len(results['plain'].json['servers']) == 2


# --- flavors --------------------------------------------------------------------------------

def _flavor_ids(api, query='', headers=MEMBER, detail=False):
    path = '/v2.1/flavors%s%s' % ('/detail' if detail else '', query)
    return _ids(_get(api, path, headers=headers), 'flavors')


def test_flavor_filters(api):
    assert _flavor_ids(api) == ['1', '2', '3', '4', '5']
    assert _flavor_ids(api, '?minRam=4096') == ['3', '4', '5']
    assert _flavor_ids(api, '?minDisk=80', detail=True) == ['4', '5']
    assert _flavor_ids(api, '?minRam=4096&minDisk=100') == ['5']
    resp = _get(api, '/v2.1/flavors?minRam=lots', status=400)
    assert resp.json['badRequest']['message'] == 'Invalid minRam filter [lots]'
    resp = _get(api, '/v2.1/flavors?minDisk=x', status=400)
    assert resp.json['badRequest']['message'] == 'Invalid minDisk filter [x]'


def test_flavor_is_public(api):
    # a member always sees the public flavors
    assert _flavor_ids(api, '?is_public=false') == ['1', '2', '3', '4', '5']
    assert _flavor_ids(api, '?is_public=false', headers=ADMIN) == []
    assert _flavor_ids(api, '?is_public=none', headers=ADMIN) == ['1', '2', '3', '4', '5']
    assert _flavor_ids(api, '?is_public=true', headers=ADMIN) == ['1', '2', '3', '4', '5']
    resp = _get(api, '/v2.1/flavors?is_public=maybe', headers=ADMIN, status=400)
    assert resp.json['badRequest']['message'] == 'Invalid is_public filter [maybe]'


def test_flavor_sorting_and_paging(api):
    assert _flavor_ids(api, '?sort_key=memory_mb&sort_dir=desc') == ['5', '4', '3', '2', '1']
    assert _flavor_ids(api, '?sort_key=name') == ['4', '3', '2', '1', '5']
    resp = _get(api, '/v2.1/flavors/detail?limit=2&sort_key=name')
    assert _ids(resp, 'flavors') == ['4', '3']
    path, params = _next(resp, 'flavors_links')
    assert path.startswith('/v2.1/flavors/detail?')
    assert params == {'limit': '2', 'marker': '3', 'sort_key': 'name'}
    assert _ids(_get(api, path), 'flavors') == ['2', '1']
    assert _flavor_ids(api, '?marker=3') == ['4', '5']
    assert _flavor_ids(api, '?marker=3&minRam=8000') == ['4', '5']
    assert 'flavors_links' not in _get(api, '/v2.1/flavors').json
    resp = _get(api, '/v2.1/flavors?marker=42', status=400)
    assert resp.json['badRequest']['message'] == 'marker [42] not found'
    _get(api, '/v2.1/flavors?sort_key=colour', status=400)
    _get(api, '/v2.1/flavors?sort_dir=sideways', status=400)
    _get(api, '/v2.1/flavors?limit=-2', status=400)
    api.conf.set_override('max_limit', 2, group='api')
    resp = _get(api, '/v2.1/flavors')
    assert _ids(resp, 'flavors') == ['1', '2']
    assert _next(resp, 'flavors_links')[1] == {'marker': '2'}


# --- usage ---------------------------------------------------------------------------------

def test_limits_count_live_servers_in_sql(api):
    _server(api, flavor='1')
    _server(api, flavor='3')
    api.app.db.instance_delete(_server(api, flavor='5'))
    _server(api, project='p2', flavor='5')
    used = _get(api, '/v2.1/limits').json['limits']['absolute']
    assert (used['totalInstancesUsed'], used['totalCoresUsed'], used['totalRAMUsed']) == (
        2, 3, 512 + 4096)


def test_create_over_quota_is_refused_with_novas_message(api):
    api.app.db.quota_set('p1', {'instances': 1})
    _server(api)
    resp = api.request('POST', '/v2.1/servers', {'server': {
        'name': 'x', 'imageRef': api.image_id, 'flavorRef': '1'}}, headers=MEMBER,
        status=403)
    assert resp.json['forbidden']['message'] == (
        'Quota exceeded for instances: Requested 1, but already used 1 of 1 instances')


def test_parallel_creates_against_the_instance_quota(api):
    """30 POST /servers at once against instances = 10 make exactly 10 servers."""
    api.app.db.quota_set('p1', {'instances': 10})
    statuses, start = [], threading.Barrier(30)

    def create():
        start.wait()
        statuses.append(api.request('POST', '/v2.1/servers', {'server': {
            'name': 'x', 'imageRef': api.image_id, 'flavorRef': '1'}},
            headers=MEMBER).status_int)

    threads = [threading.Thread(target=create) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    api.app.compute.wait()
    assert sorted(statuses) == [202] * 10 + [403] * 20
    assert len(_get(api, '/v2.1/servers').json['servers']) == 10
