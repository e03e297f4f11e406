"""The real ``inject-metadata`` process on an inject-api database, asked over loopback:
by signed requests, by cloud-init's own HTTP reader behind a Neutron-style proxy, and
with its DynamicJSON target behind keystonemiddleware ``auth_token`` on a real Keystone
(the service token of ``[vendordata_dynamic_auth]``)."""

import base64
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.parse

import pytest
import requests

from inject.metadata import wsgi
from tests import keystone as ks
from tests import processes
from tests.metadata import neutron_proxy
from tests.metadata import service
from tests.metadata import target_app

A = '5b3e7c1a-0d2f-4a6b-8c9d-1e2f3a4b5c6d'
B = '7d9f1e3a-2b4c-4d6e-8f0a-3b4c5d6e7f8a'
USER_DATA = b'#!/bin/sh\necho from-user-data\n'
STATIC_CC = '#cloud-config\npackages: [htop]\n'
DYNAMIC_CC = '#cloud-config\nruncmd: [echo dynamic]\n'
HTTP_READER = os.path.join(os.path.dirname(__file__), 'cloudinit_http_reader.py')


@pytest.fixture
def database(tmp_path):
    return service.make_database(tmp_path / 'inject-api.sqlite', [
        (A, 'project-a', 'alpha', USER_DATA, {'role': 'web'}, 'reader,member'),
        (B, 'project-b', 'beta', None, {}, 'admin,member,reader'),
    ])


@pytest.fixture
def target():
    app = target_app.TargetApp()
    with target_app.serve(app) as url:
        app.url = url
        yield app


@pytest.fixture
def static_file(tmp_path):
    path = tmp_path / 'vendor_data.json'
    path.write_text(json.dumps({'cloud-init': STATIC_CC}))
    return str(path)


def signed(uuid, tenant, secret=service.SECRET):
    return {'X-Instance-ID': uuid, 'X-Tenant-ID': tenant,
            'X-Instance-ID-Signature': wsgi.sign(secret, uuid)}


def test_process_answers_signed_requests_only(tmp_path, database, target, static_file):
    conf = service.write_conf(tmp_path / 'inject.conf', database, {'api': {
        'vendordata_providers': 'StaticJSON,DynamicJSON',
        'vendordata_jsonfile_path': static_file,
        'vendordata_dynamic_targets': 'web@%s/v1?cache_control=max-age%%3D300'
                                      % target.url}})
    with service.running(str(conf)) as (url, _):
        s = requests.Session()
        r = s.get(url + '/openstack/latest/meta_data.json', headers=signed(A, 'project-a'))
        assert r.status_code == 200 and r.json()['uuid'] == A
        assert r.headers['Content-Type'].startswith('application/json')
        v2 = s.get(url + '/openstack/2018-08-27/vendor_data2.json',
                   headers=signed(A, 'project-a')).json()
        assert v2['static'] == {'cloud-init': STATIC_CC}
        assert v2['web']['seen'] == {
            'project-id': 'project-a', 'instance-id': A, 'image-id': 'image-alpha',
            'user-data': base64.b64encode(USER_DATA).decode(), 'hostname': 'alpha',
            'metadata': {'role': 'web'}, 'boot-roles': 'reader,member'}
        # the same answer, from the cache (max-age=300): one POST
        for _ in range(5):
            assert s.get(url + '/openstack/latest/vendor_data2.json',
                         headers=signed(A, 'project-a')).json() == v2
        assert len(target.requests) == 1
        bad = signed(A, 'project-a')
        bad['X-Instance-ID-Signature'] = wsgi.sign('guess', A)
        assert s.get(url + '/openstack/latest/meta_data.json',
                     headers=bad).status_code == 403
        assert s.get(url + '/openstack/latest/meta_data.json',
                     headers=signed(A, 'project-b')).status_code == 404
        unknown = '00000000-0000-4000-8000-000000000000'
        assert s.get(url + '/openstack/latest/meta_data.json',
                     headers=signed(unknown, 'project-a')).status_code == 404
        assert s.get(url + '/').text.endswith('2009-04-04\nlatest')


def test_workers_serve_and_die_with_a_killed_parent(tmp_path, database):
    conf = service.write_conf(tmp_path / 'inject.conf', database,
                              {'metadata': {'workers': 2}})
    with service.running(str(conf)) as (url, proc):
        deadline = time.monotonic() + 60
        while len(processes.descendants(proc.pid)) < 2:
            assert time.monotonic() < deadline, 'no two workers'
            time.sleep(0.1)
        for _ in range(4):
            r = requests.get(url + '/openstack/latest/meta_data.json',
                             headers=signed(A, 'project-a'))
            assert r.status_code == 200 and r.json()['uuid'] == A, r.text
        tree, survivors = processes.survivors_of_sigkill(proc)
        assert len(tree) == 2
        assert survivors == []


def test_process_refuses_to_start_without_secret(tmp_path, database):
    conf = service.write_conf(tmp_path / 'inject.conf', database, secret='')
    with pytest.raises(RuntimeError, match='metadata_proxy_shared_secret'):
        with service.running(str(conf)):
            pass


def test_process_refuses_an_invalid_target(tmp_path, database):
    conf = service.write_conf(tmp_path / 'inject.conf', database, {'api': {
        'vendordata_providers': 'DynamicJSON',
        'vendordata_dynamic_targets': 'nameless-url'}})
    with pytest.raises(RuntimeError, match='nameless-url'):
        with service.running(str(conf)):
            pass


# --- cloud-init, the guest ---------------------------------------------------------

def _cloudinit_read(cloudinit_dir, url):
    env = dict(os.environ, PYTHONPATH=cloudinit_dir)
    proc = subprocess.run([sys.executable, HTTP_READER, url], env=env,
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise AssertionError('cloud-init could not read %s:\n%s' % (url, proc.stderr))
    return json.loads(proc.stdout)


@pytest.mark.cloudinit
def test_cloud_init_reads_the_metadata_service(tmp_path, database, target, static_file,
                                               cloudinit_dir):
    body = urllib.parse.quote(json.dumps(DYNAMIC_CC))
    conf = service.write_conf(tmp_path / 'inject.conf', database, {'api': {
        'vendordata_providers': 'StaticJSON,DynamicJSON',
        'vendordata_jsonfile_path': static_file,
        'vendordata_dynamic_targets': ['cloud-init@%s/cc?body=%s' % (target.url, body),
                                       'testing@%s/t' % target.url]}})
    with service.running(str(conf)) as (url, _):
        proxy = neutron_proxy.NeutronProxy(url, A, 'project-a', service.SECRET)
        with target_app.serve(proxy) as proxied:
            out = _cloudinit_read(cloudinit_dir, proxied)
    assert out['cloudinit_version'].startswith('22.4')
    assert out['working_version'] == '2018-08-27'
    res = out['result']
    assert res['version'] == 2
    assert res['metadata']['uuid'] == A and res['metadata']['instance-id'] == A
    assert res['metadata']['local-hostname'] == 'alpha.novalocal'
    assert base64.b64decode(res['userdata']['b64']) == USER_DATA
    assert res['vendordata'] == {'cloud-init': STATIC_CC}
    assert out['vendordata_raw'] == STATIC_CC
    assert res['vendordata2']['cloud-init'] == DYNAMIC_CC
    assert res['vendordata2']['testing']['seen']['instance-id'] == A
    assert out['vendordata2_raw'] == DYNAMIC_CC        # what cloud-init would run
    assert res['networkdata'] == {}


@pytest.mark.cloudinit
def test_cloud_init_boots_without_vendordata2_when_a_fatal_target_fails(
        tmp_path, database, target, cloudinit_dir):
    conf = service.write_conf(tmp_path / 'inject.conf', database, {'api': {
        'vendordata_providers': 'StaticJSON,DynamicJSON',
        'vendordata_dynamic_failure_fatal': 'true',
        'vendordata_dynamic_targets': 'billing@%s/?status=502' % target.url}})
    with service.running(str(conf)) as (url, _):
        r = requests.get(url + '/openstack/2018-08-27/vendor_data2.json',
                         headers=signed(A, 'project-a'))
        assert r.status_code == 503
        assert "'billing'" in r.text and 'HTTP 502' in r.text
        proxy = neutron_proxy.NeutronProxy(url, A, 'project-a', service.SECRET)
        with target_app.serve(proxy) as proxied:
            out = _cloudinit_read(cloudinit_dir, proxied)
    res = out['result']
    assert res['metadata']['uuid'] == A
    assert res.get('vendordata2') is None and out['vendordata2_raw'] is None


# --- the service token, checked by keystonemiddleware on a real Keystone ----------

@pytest.fixture
def protected_target(keystone):
    with _protected(keystone) as app:
        yield app


@contextlib.contextmanager
def _protected(keystone):
    """A target app behind auth_token on a port of its own; ``app.url`` is its URL."""
    app = target_app.TargetApp()
    with target_app.serve(target_app.protected(app, ks.authtoken_config(keystone))) as url:
        app.url = url
        yield app


def _auth_section(keystone, username='inject-vendordata', password=None):
    user = keystone['users'][username]
    return {'auth_type': 'password', 'auth_url': keystone['auth_url'],
            'username': username, 'password': password or user['password'],
            'user_domain_id': 'default', 'project_name': user['project_name'],
            'project_domain_id': 'default'}


def test_target_rejects_requests_without_a_valid_token(protected_target):
    url = protected_target.url + '/'
    assert requests.post(url, json={}).status_code == 401
    assert requests.post(url, json={}, headers={'X-Auth-Token': 'forged'}
                         ).status_code == 401
    assert protected_target.requests == []


def test_service_token_reaches_the_target(tmp_path, database, protected_target,
                                          keystone):
    conf = service.write_conf(tmp_path / 'inject.conf', database, {
        'api': {'vendordata_providers': 'DynamicJSON',
                'vendordata_dynamic_targets': 'vendor@%s/vd' % protected_target.url},
        'vendordata_dynamic_auth': _auth_section(keystone)})
    with service.running(str(conf)) as (url, _):
        for uuid, tenant in ((A, 'project-a'), (B, 'project-b')):
            r = requests.get(url + '/openstack/latest/vendor_data2.json',
                             headers=signed(uuid, tenant))
            assert r.status_code == 200, r.text
            assert r.json()['vendor']['seen']['instance-id'] == uuid
    first, second = protected_target.requests
    assert first['identity']['identity-status'] == 'Confirmed'
    assert first['identity']['user-name'] == 'inject-vendordata'
    assert first['identity']['project-name'] == 'service'
    assert 'service' in first['identity']['roles'].split(',')
    assert first['body']['boot-roles'] == 'reader,member'
    assert second['body']['boot-roles'] == 'admin,member,reader'
    assert first['headers']['User-Agent'] == 'openstack-nova-vendordata'


@pytest.mark.parametrize('fatal', [False, True])
def test_without_service_auth_the_target_refuses(tmp_path, database, protected_target,
                                                 fatal):
    conf = service.write_conf(tmp_path / 'inject.conf', database, {
        'api': {'vendordata_providers': 'StaticJSON,DynamicJSON',
                'vendordata_dynamic_failure_fatal': str(fatal).lower(),
                'vendordata_dynamic_targets': 'vendor@%s/vd' % protected_target.url}})
    log = tmp_path / 'metadata.log'
    with service.running(str(conf), log_path=str(log)) as (url, _):
        r = requests.get(url + '/openstack/latest/vendor_data2.json',
                         headers=signed(A, 'project-a'))
        if fatal:
            assert r.status_code == 503 and "'vendor'" in r.text and '401' in r.text
        else:
            assert r.json() == {'static': {}, 'vendor': {}}
    text = log.read_text()
    assert text.count('Passing insecure dynamic vendordata requests') == 1
    assert 'Error from dynamic vendordata service vendor' in text


def test_wrong_service_password_is_a_target_failure(tmp_path, database,
                                                    protected_target, keystone):
    conf = service.write_conf(tmp_path / 'inject.conf', database, {
        'api': {'vendordata_providers': 'DynamicJSON',
                'vendordata_dynamic_failure_fatal': 'true',
                'vendordata_dynamic_targets': 'vendor@%s/vd' % protected_target.url},
        'vendordata_dynamic_auth': _auth_section(keystone, password='wrong')})
    with service.running(str(conf)) as (url, _):
        r = requests.get(url + '/openstack/latest/vendor_data2.json',
                         headers=signed(A, 'project-a'))
    assert r.status_code == 503 and "'vendor'" in r.text
    assert protected_target.requests == []


# --- a hostile target's Cache-Control -----------------------------------------------

def _stored_expiry(database_url, uuid):
    """The expiry (naive UTC) of every vendordata answer kept for ``uuid``."""
    import sqlalchemy as sa
    from inject.db import models
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return list(conn.scalars(sa.select(models.VendordataAnswer.expires_at).where(
                models.VendordataAnswer.instance_uuid == uuid)))
    finally:
        engine.dispose()


@pytest.mark.parametrize('cache_control, kept_for', [
    ('max-age=99999999999999999999999', 3600),   # cut to the maximum
    ('max-age=' + '9' * 5000, 3600),
    ('max-age=abc, s-maxage=-1', 120),             # unparseable: absent, the default
])
def test_target_cache_control_is_bounded(tmp_path, database, target, cache_control,
                                         kept_for):
    import datetime
    conf = service.write_conf(tmp_path / 'inject.conf', database, {'api': {
        'vendordata_providers': 'DynamicJSON',
        'metadata_cache_expiration': 120,
        'vendordata_dynamic_max_cache_age': 3600,
        'vendordata_dynamic_targets': 'web@%s/v1?cache_control=%s'
                                      % (target.url, urllib.parse.quote(cache_control))}})
    before = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    with service.running(str(conf)) as (url, _):
        for _ in range(3):
            r = requests.get(url + '/openstack/latest/vendor_data2.json',
                             headers=signed(A, 'project-a'))
            assert r.status_code == 200, r.text
            assert r.json()['web']['seen']['instance-id'] == A
    after = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    assert len(target.requests) == 1                 # kept, and reused
    [expires] = _stored_expiry(database, A)
    delta = datetime.timedelta(seconds=kept_for)
    assert before + delta <= expires <= after + delta


# --- a target's redirects ----------------------------------------------------------

def _redirecting(target_url, location, status=302, then=''):
    return '%s/vd?status=%d&location=%s%s' % (target_url, status,
                                             urllib.parse.quote(location, safe=''), then)


@pytest.fixture
def other_target(keystone):
    """A second protected target on another port: another origin."""
    with _protected(keystone) as app:
        yield app


@pytest.mark.parametrize('location, named', [
    ('file:///etc/passwd', 'file:///etc/passwd'),
    ('ftp://127.0.0.1/x', 'ftp://127.0.0.1/x'),
])
def test_redirect_to_another_scheme_is_not_followed_and_named(
        tmp_path, database, protected_target, keystone, location, named):
    conf = service.write_conf(tmp_path / 'inject.conf', database, {
        'api': {'vendordata_providers': 'DynamicJSON',
                'vendordata_dynamic_failure_fatal': 'true',
                'vendordata_dynamic_targets': 'vendor@' + _redirecting(
                    protected_target.url, location)},
        'vendordata_dynamic_auth': _auth_section(keystone)})
    log = tmp_path / 'metadata.log'
    with service.running(str(conf), log_path=str(log)) as (url, _):
        r = requests.get(url + '/openstack/latest/vendor_data2.json',
                         headers=signed(A, 'project-a'))
    assert r.status_code == 503, r.text
    assert "'vendor'" in r.text and 'redirected (HTTP 302) to %s' % named in r.text
    text = log.read_text()
    assert 'redirected (HTTP 302) to %s' % named in text and 'not followed' in text
    assert 'service token' not in text and 'UnknownConnectionError' not in text
    # the target was reached, with the service token, once
    [seen] = protected_target.requests
    assert seen['identity']['identity-status'] == 'Confirmed'


def test_redirect_to_another_origin_is_not_followed(tmp_path, database, protected_target,
                                                    other_target, keystone):
    # Nova's keystoneauth session re-POSTs the user data and the service token to
    # wherever the Location points; here nothing reaches the other origin.
    conf = service.write_conf(tmp_path / 'inject.conf', database, {
        'api': {'vendordata_providers': 'DynamicJSON',
                'vendordata_dynamic_targets': 'vendor@' + _redirecting(
                    protected_target.url, other_target.url + '/stolen', status=307)},
        'vendordata_dynamic_auth': _auth_section(keystone)})
    log = tmp_path / 'metadata.log'
    with service.running(str(conf), log_path=str(log)) as (url, _):
        r = requests.get(url + '/openstack/latest/vendor_data2.json',
                         headers=signed(A, 'project-a'))
    assert r.status_code == 200 and r.json() == {'vendor': {}}
    assert other_target.requests == []
    assert len(protected_target.requests) == 1
    assert ('redirected (HTTP 307) to %s/stolen' % other_target.url) in log.read_text()


@pytest.mark.parametrize('status', [301, 302, 303, 307, 308])
def test_redirect_within_the_target_is_followed(tmp_path, database, protected_target,
                                                keystone, status):
    # as Nova's keystoneauth session does: the same POST, body and token again
    conf = service.write_conf(tmp_path / 'inject.conf', database, {
        'api': {'vendordata_providers': 'DynamicJSON',
                'vendordata_dynamic_targets': 'vendor@' + _redirecting(
                    protected_target.url, '/final?name=moved', status=status)},
        'vendordata_dynamic_auth': _auth_section(keystone)})
    with service.running(str(conf)) as (url, _):
        r = requests.get(url + '/openstack/latest/vendor_data2.json',
                         headers=signed(A, 'project-a'))
    assert r.status_code == 200, r.text
    assert r.json()['vendor']['name'] == 'moved'
    first, final = protected_target.requests
    assert final['method'] == 'POST' and final['path'] == '/final'
    assert final['body'] == first['body'] and final['body']['instance-id'] == A
    assert final['identity']['identity-status'] == 'Confirmed'


def test_redirect_loop_is_a_failure_naming_it(tmp_path, database, target):
    # "Location: #" is the request's own URL
    conf = service.write_conf(tmp_path / 'inject.conf', database, {
        'api': {'vendordata_providers': 'DynamicJSON',
                'vendordata_dynamic_failure_fatal': 'true',
                'vendordata_dynamic_targets': 'vendor@%s/loop?location=%%23'
                                              % target.url}})
    with service.running(str(conf)) as (url, _):
        r = requests.get(url + '/openstack/latest/vendor_data2.json',
                         headers=signed(A, 'project-a'))
    assert r.status_code == 503 and 'more than 3 redirects' in r.text, r.text
    assert len(target.requests) == 4
