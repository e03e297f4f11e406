"""inject-metadata's WSGI app (inject/metadata/wsgi.py) on a real SQLite database of
inject-api, with a real vendordata target on loopback: Neutron's proxy headers, 403/404,
the per-instance cache, the listings, vendordata failures, the password."""

import base64
import json

import pytest
import webtest

from inject.db import api as db_api
from inject.metadata import wsgi
from inject.metadata.vendordata import cache as cache_mod
from inject.metadata.vendordata import providers
from tests.metadata import target_app
from tests.unit.test_vendordata import make_conf

SECRET = 'proxy-secret'
A = '11111111-2222-4333-8444-555555555555'
B = '66666666-7777-4888-9999-aaaaaaaaaaaa'
USER_DATA = b'#cloud-config\nruncmd: [echo a]\n'


@pytest.fixture
def db(tmp_path):
    db = db_api.Database('sqlite:///%s' % (tmp_path / 'inject-api.sqlite'))
    for uuid, project, name, roles in ((A, 'pa', 'alpha', 'reader,member'),
                                       (B, 'pb', 'beta', 'admin')):
        db.instance_create(
            {'uuid': uuid, 'project_id': project, 'user_id': 'u-' + project,
             'name': name, 'vm_state': 'active', 'image_ref': 'img-' + name,
             'flavor': {'name': 'm1.tiny', 'vcpus': 1, 'ram': 512},
             'user_data': base64.b64encode(USER_DATA + name.encode()).decode()},
            {'owner': name}, {'boot_roles': roles})
    yield db
    db.dispose()


@pytest.fixture
def target():
    app = target_app.TargetApp()
    with target_app.serve(app) as url:
        app.url = url
        yield app


def make_app(db, secret=SECRET, **api):
    conf = make_conf(**api)
    conf.set_override('metadata_proxy_shared_secret', secret, 'neutron')
    vd = providers.ConfiguredVendorData(conf, cache=cache_mod.AnswerCache())
    return wsgi.MetadataApp(conf, db=db, vendordata=vd)


def headers(uuid, tenant, secret=SECRET, signature=None):
    return {'X-Instance-ID': uuid, 'X-Tenant-ID': tenant,
            'X-Instance-ID-Signature': signature or wsgi.sign(secret, uuid),
            'X-Forwarded-For': '10.0.0.5'}


def test_sign_is_hmac_sha256_hex():
    import hashlib
    import hmac
    assert wsgi.sign('s', 'i') == hmac.new(b's', b'i', hashlib.sha256).hexdigest()


def test_root_listing_needs_no_identity(db):
    app = webtest.TestApp(make_app(db))
    for path in ('/', '/foo/../'):
        r = app.get(path)
        assert r.content_type == 'text/plain'
        assert r.text.split('\n')[-2:] == ['2009-04-04', 'latest']
        assert r.text.split('\n')[0] == '1.0'


def test_openstack_listings(db):
    app = webtest.TestApp(make_app(db))
    h = headers(A, 'pa')
    top = app.get('/openstack', headers=h)
    assert top.text == app.get('/openstack/', headers=h).text
    assert top.text.split('\n')[0] == '2012-08-10'
    assert top.text.split('\n')[-1] == 'latest' and '2018-08-27' in top.text
    assert app.get('/openstack/2012-08-10', headers=h).text == 'meta_data.json\nuser_data'
    assert app.get('/openstack/latest', headers=h).text.split('\n') == [
        'meta_data.json', 'user_data', 'password', 'vendor_data.json',
        'network_data.json', 'vendor_data2.json']
    assert app.get('/openstack/9999-99-99', headers=h, status=404)
    assert app.get('/openstack/content', headers=h, status=404)
    assert app.get('/openstack/latest/nope.json', headers=h, status=404)


def test_instance_files_and_mimetypes(db):
    app = webtest.TestApp(make_app(db))
    h = headers(A, 'pa')
    md = app.get('/openstack/latest/meta_data.json', headers=h)
    assert md.content_type == 'application/json'
    assert md.json['uuid'] == A and md.json['meta'] == {'owner': 'alpha'}
    assert md.json['project_id'] == 'pa' and md.json['hostname'] == 'alpha.novalocal'
    ud = app.get('/openstack/latest/user_data', headers=h)
    assert ud.body == USER_DATA + b'alpha'
    assert app.get('/openstack/latest/vendor_data.json', headers=h).json == {}
    vd2 = app.get('/openstack/2016-10-06/vendor_data2.json', headers=h)
    assert vd2.content_type == 'application/json' and vd2.json == {'static': {}}
    assert app.get('/latest/meta-data/hostname', headers=h).text == 'alpha.novalocal'
    assert app.get('/2009-04-04/user-data', headers=h).body == USER_DATA + b'alpha'


@pytest.mark.parametrize('drop, message', [
    ('X-Instance-ID', 'X-Instance-ID header is missing'),
    ('X-Instance-ID-Signature', 'X-Instance-ID-Signature header is missing'),
    ('X-Tenant-ID', 'X-Tenant-ID header is missing'),
])
def test_missing_header_is_400(db, drop, message):
    app = webtest.TestApp(make_app(db))
    h = headers(A, 'pa')
    del h[drop]
    r = app.get('/openstack/latest/meta_data.json', headers=h, status=400)
    assert message in r.text


@pytest.mark.parametrize('signature', [
    'deadbeef', wsgi.sign('other-secret', A), wsgi.sign(SECRET, B), ' ', ''])
def test_wrong_signature_is_403(db, signature):
    app = webtest.TestApp(make_app(db))
    h = headers(A, 'pa')
    h['X-Instance-ID-Signature'] = signature
    r = app.get('/openstack/latest/meta_data.json', headers=h, status=403)
    assert r.text == 'Invalid proxy request signature.'
    assert A not in r.text


def test_unknown_instance_is_404(db):
    app = webtest.TestApp(make_app(db))
    unknown = '00000000-0000-4000-8000-000000000000'
    app.get('/openstack/latest/meta_data.json', headers=headers(unknown, 'pa'),
            status=404)


def test_deleted_instance_is_404(db):
    db.instance_delete(A)
    app = webtest.TestApp(make_app(db))
    app.get('/openstack/latest/meta_data.json', headers=headers(A, 'pa'), status=404)


def test_tenant_mismatch_is_404(db):
    app = webtest.TestApp(make_app(db))
    r = app.get('/openstack/latest/meta_data.json', headers=headers(A, 'pb'), status=404)
    assert 'alpha' not in r.text


def test_nothing_of_one_instance_reaches_another(db, target):
    """Every cached thing is keyed by the instance: B's identity after A's requests
    (and a cache full of A) only ever sees B; a mixed identity sees nothing."""
    app = webtest.TestApp(make_app(
        db, vendordata_providers=['StaticJSON', 'DynamicJSON'],
        vendordata_dynamic_targets=['web@%s/?cache_control=max-age%%3D600' % target.url]))
    paths = ['/openstack/latest/meta_data.json', '/openstack/latest/user_data',
             '/openstack/latest/vendor_data2.json', '/latest/meta-data/hostname',
             '/latest/user-data']
    seen = {}
    for uuid, tenant in ((A, 'pa'), (B, 'pb'), (A, 'pa'), (B, 'pb')):
        for path in paths:
            body = app.get(path, headers=headers(uuid, tenant)).body
            seen.setdefault((uuid, path), body if 'meta_data' not in path else None)
            other = B if uuid == A else A
            assert other.encode() not in body
            assert (b'beta' if uuid == A else b'alpha') not in body
    vd2_a = json.loads(seen[(A, paths[2])])
    vd2_b = json.loads(seen[(B, paths[2])])
    assert vd2_a['web']['seen']['instance-id'] == A
    assert vd2_a['web']['seen']['boot-roles'] == 'reader,member'
    assert vd2_b['web']['seen']['instance-id'] == B
    assert vd2_b['web']['seen']['boot-roles'] == 'admin'
    # A's signature with B's id, B's id with A's tenant: refused.
    app.get(paths[0], headers=headers(B, 'pa'), status=404)
    h = headers(B, 'pb')
    h['X-Instance-ID-Signature'] = wsgi.sign(SECRET, A)
    app.get(paths[0], headers=h, status=403)
    assert len(target.requests) == 2     # one per instance, reused from the cache


def test_instance_record_cached_for_expiration(db):
    clock = [100.0]
    app = make_app(db, metadata_cache_expiration=15)
    app.clock = lambda: clock[0]
    t = webtest.TestApp(app)
    for _ in range(3):
        t.get('/openstack/latest/meta_data.json', headers=headers(A, 'pa'))
    assert app.db_reads == 1
    db.instance_update(A, metadata={'team': 'changed'})
    assert t.get('/openstack/latest/meta_data.json',
                 headers=headers(A, 'pa')).json['meta'] == {'owner': 'alpha'}
    clock[0] += 16
    assert t.get('/openstack/latest/meta_data.json',
                 headers=headers(A, 'pa')).json['meta'] == {'team': 'changed'}
    assert app.db_reads == 2


def test_cache_expiration_zero_reads_every_time(db):
    app = make_app(db, metadata_cache_expiration=0)
    t = webtest.TestApp(app)
    for _ in range(3):
        t.get('/openstack/latest/meta_data.json', headers=headers(A, 'pa'))
    assert app.db_reads == 3


def test_cached_instance_still_checks_tenant(db):
    app = webtest.TestApp(make_app(db))
    app.get('/openstack/latest/meta_data.json', headers=headers(A, 'pa'))
    app.get('/openstack/latest/meta_data.json', headers=headers(A, 'pb'), status=404)


def test_fatal_target_failure_is_503_naming_the_target(db, target):
    app = webtest.TestApp(make_app(
        db, vendordata_providers=['StaticJSON', 'DynamicJSON'],
        vendordata_dynamic_failure_fatal=True,
        vendordata_dynamic_targets=['billing@%s/?status=500' % target.url]))
    h = headers(A, 'pa')
    r = app.get('/openstack/latest/vendor_data2.json', headers=h, status=503)
    assert "'billing'" in r.text and 'HTTP 500' in r.text
    # the rest of the instance's metadata is still served
    assert app.get('/openstack/latest/meta_data.json', headers=h).json['uuid'] == A
    assert app.get('/openstack/latest/vendor_data.json', headers=h).json == {}


def test_non_fatal_target_failure_is_empty(db, target):
    app = webtest.TestApp(make_app(
        db, vendordata_providers=['StaticJSON', 'DynamicJSON'],
        vendordata_dynamic_targets=['billing@%s/?body=%%7Bbad' % target.url]))
    r = app.get('/openstack/latest/vendor_data2.json', headers=headers(A, 'pa'))
    assert r.json == {'static': {}, 'billing': {}}


def test_invalid_static_file_is_500_without_the_path(db, tmp_path):
    path = tmp_path / 'vendor.json'
    path.write_text('{oops')
    app = webtest.TestApp(make_app(db, vendordata_jsonfile_path=str(path)))
    h = headers(A, 'pa')
    for name in ('vendor_data.json', 'vendor_data2.json'):
        r = app.get('/openstack/latest/' + name, headers=h, status=500)
        assert 'static vendordata file' in r.text and str(path) not in r.text
    assert app.get('/openstack/latest/meta_data.json', headers=h).status_int == 200
    path.write_text('{"fixed": 1}')
    assert app.get('/openstack/latest/vendor_data.json', headers=h).json == {'fixed': 1}


def test_methods(db):
    app = webtest.TestApp(make_app(db))
    h = headers(A, 'pa')
    r = app.post('/openstack/latest/meta_data.json', headers=h, status=405)
    assert 'POST' in r.text
    app.put('/openstack/latest/password', headers=h, status=405)
    assert app.head('/openstack/latest/meta_data.json', headers=h).body == b''


def test_password_post_once(db):
    app = webtest.TestApp(make_app(db))
    h = headers(A, 'pa')
    assert app.get('/openstack/latest/password', headers=h).body == b''
    app.post('/openstack/latest/password', params=b'x' * 1021, headers=h, status=400)
    app.post('/openstack/latest/password', params=b'p' * 600, headers=h)
    assert app.get('/openstack/latest/password', headers=h).body == b'p' * 600
    app.post('/openstack/latest/password', params=b'again', headers=h, status=409)
    app.post('/openstack/2012-08-10/password', params=b'x', headers=headers(B, 'pb'),
             status=404)


def test_empty_secret_is_refused(db):
    from inject import exception
    with pytest.raises(exception.InjectError, match='metadata_proxy_shared_secret'):
        make_app(db, secret='')


def test_invalid_target_is_refused_at_start(db):
    # by the option's type: the configuration never holds one (inject-metadata's
    # start in tests/metadata names it)
    with pytest.raises(ValueError, match='no-url'):
        make_app(db, vendordata_providers=['DynamicJSON'],
                 vendordata_dynamic_targets=['no-url'])
