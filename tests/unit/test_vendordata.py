"""Vendordata providers: StaticJSON, DynamicJSON against a real HTTP target on loopback
(tests/metadata/target_app.py, no auth here; the Keystone-protected one is in
tests/metadata), the answer cache and the assembly of vendor_data*.json."""

import base64
import json
import logging
import os
import threading
import time

import pytest

from inject import conf as inject_conf
from inject import exception
from inject.metadata import instance
from inject.metadata.vendordata import cache as cache_mod
from inject.metadata.vendordata import dynamic
from inject.metadata.vendordata import providers
from inject.metadata.vendordata import static
from tests.metadata import target_app

UUID = '3f0b6c0e-1c2d-4e5f-8a9b-0c1d2e3f4a5b'
OTHER = '9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d'


def make_info(uuid=UUID, **kw):
    values = dict(uuid=uuid, name='web 1', hostname='web-1', project_id='p1',
                  user_id='u1', image_id='img-1', user_data=b'#!/bin/sh\necho hi\n',
                  metadata={'role': 'webserver'}, boot_roles=['reader', 'member'])
    values.update(kw)
    return instance.InstanceInfo(**values)


def make_conf(**api):
    conf = inject_conf.new_conf()
    conf([], project='inject', default_config_files=[], default_config_dirs=[])
    for name, value in api.items():
        conf.set_override(name, value, 'api')
    return conf


@pytest.fixture
def target():
    app = target_app.TargetApp()
    with target_app.serve(app) as url:
        app.url = url
        yield app


def dyn(targets, cache=None, **api):
    api.setdefault('vendordata_providers', ['DynamicJSON'])
    conf = make_conf(vendordata_dynamic_targets=targets, **api)
    if cache is None:
        cache = cache_mod.AnswerCache()
    return providers.ConfiguredVendorData(conf, cache=cache)


# --- StaticJSON ---------------------------------------------------------------------

def test_static_unset_is_empty():
    assert static.StaticJSON(None).get() == {}


def test_static_reads_file_and_rereads_on_change(tmp_path):
    path = tmp_path / 'vd.json'
    path.write_text('{"cloud-init": "#cloud-config\\n"}')
    s = static.StaticJSON(str(path))
    assert s.get() == {'cloud-init': '#cloud-config\n'}
    first = s.get()
    assert s.get() is first          # cached while the file is unchanged
    path.write_text('{"a": 1, "b": [1, 2]}')
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert s.get() == {'a': 1, 'b': [1, 2]}


@pytest.mark.parametrize('content, reason', [
    (None, 'does not exist'),
    (b'{"a": ', 'is not JSON'),
    (b'\xff\xfe{', 'not UTF-8'),
    (b'42', 'top level is a number'),
    (b'null', 'top level is null'),
])
def test_static_bad_file_is_an_error_naming_it(tmp_path, caplog, content, reason):
    path = tmp_path / 'vd.json'
    if content is not None:
        path.write_bytes(content)
    s = static.StaticJSON(str(path))
    with caplog.at_level(logging.ERROR):
        for _ in range(3):
            with pytest.raises(exception.StaticVendorDataInvalid) as e:
                s.get()
    assert str(path) in str(e.value) and reason in str(e.value)
    # logged once for this state of the file, not per request
    assert len([r for r in caplog.records if str(path) in r.getMessage()]) == 1


def test_static_list_and_string_roots_are_accepted(tmp_path):
    path = tmp_path / 'vd.json'
    path.write_text('["#cloud-config\\n"]')
    assert static.StaticJSON(str(path)).get() == ['#cloud-config\n']


def test_static_file_fixed_after_error_is_served(tmp_path):
    path = tmp_path / 'vd.json'
    s = static.StaticJSON(str(path))
    with pytest.raises(exception.StaticVendorDataInvalid):
        s.get()
    path.write_text('{"ok": true}')
    assert s.get() == {'ok': True}


# --- assembly (B-2.x) ---------------------------------------------------------------

def test_default_config_gives_nova_defaults():
    vd = providers.ConfiguredVendorData(make_conf())
    assert vd.static(make_info()) == {}
    assert vd.v2(make_info()) == {'static': {}}


def test_static_in_both_files(tmp_path):
    path = tmp_path / 'vd.json'
    path.write_text('{"foo": "1"}')
    vd = providers.ConfiguredVendorData(make_conf(vendordata_jsonfile_path=str(path)))
    assert vd.static(make_info()) == {'foo': '1'}
    assert vd.v2(make_info()) == {'static': {'foo': '1'}}


def test_without_static_vendor_data_json_is_empty_not_404(target):
    vd = dyn(['web@%s/' % target.url])
    assert vd.static(make_info()) == {}
    v2 = vd.v2(make_info())
    assert 'static' not in v2 and set(v2) == {'web'}


def test_v2_order_follows_providers(target, tmp_path):
    path = tmp_path / 'vd.json'
    path.write_text('{"s": 1}')
    vd = dyn(['a@%s/?name=a' % target.url, 'b@%s/?name=b' % target.url],
             vendordata_providers=['DynamicJSON', 'StaticJSON'],
             vendordata_jsonfile_path=str(path))
    assert list(vd.v2(make_info())) == ['a', 'b', 'static']
    vd = dyn(['a@%s/?name=a' % target.url],
             vendordata_providers=['StaticJSON', 'DynamicJSON'],
             vendordata_jsonfile_path=str(path))
    assert list(vd.v2(make_info())) == ['static', 'a']


@pytest.mark.parametrize('order', [['StaticJSON', 'DynamicJSON'],
                                   ['DynamicJSON', 'StaticJSON']])
def test_target_named_static_never_replaces_static(target, tmp_path, caplog, order):
    path = tmp_path / 'vd.json'
    path.write_text('{"real": "static"}')
    vd = dyn(['static@%s/?name=dyn' % target.url], vendordata_providers=order,
             vendordata_jsonfile_path=str(path))
    with caplog.at_level(logging.WARNING):
        assert vd.v2(make_info()) == {'static': {'real': 'static'}}
    assert 'target "static" is dropped' in caplog.text


def test_target_named_static_kept_without_staticjson(target):
    vd = dyn(['static@%s/?body=%%7B%%22x%%22%%3A1%%7D' % target.url])
    assert vd.v2(make_info()) == {'static': {'x': 1}}


def test_bad_static_file_fails_vendordata_not_silently(tmp_path):
    vd = providers.ConfiguredVendorData(make_conf(
        vendordata_jsonfile_path=str(tmp_path / 'missing.json')))
    with pytest.raises(exception.StaticVendorDataInvalid):
        vd.static(make_info())
    with pytest.raises(exception.StaticVendorDataInvalid):
        vd.v2(make_info())


# --- target parsing -----------------------------------------------------------------

def test_targets_split_at_first_at():
    assert dynamic.parse_targets(['t@http://u:pw@h:1/p?q=1']) == [
        ('t', 'http://u:pw@h:1/p?q=1')]


@pytest.mark.parametrize('entry, reason', [
    ('http://h/', 'no NAME@'),
    ('@http://h/', 'is empty'),
    ('t@ftp://h/', 'not an http or https URL'),
    ('t@h:80', 'not an http or https URL'),
])
def test_bad_targets_are_refused(entry, reason):
    with pytest.raises(exception.InvalidVendorDataTarget) as e:
        dynamic.parse_targets([entry])
    assert reason in str(e.value) and 'vendordata_dynamic_targets' in str(e.value)


def test_duplicate_target_names_are_refused():
    with pytest.raises(exception.InvalidVendorDataTarget, match='given twice'):
        dynamic.parse_targets(['t@http://a/', 't@http://b/'])


def test_refused_target_is_refused_by_the_option():
    with pytest.raises(ValueError, match="entry 'nourl' has no NAME@ part"):
        make_conf(vendordata_dynamic_targets=['nourl'])


@pytest.mark.parametrize('providers_value', ['StaticJSON', 'StaticJSON,DynamicJSON'])
def test_invalid_targets_are_refused_with_or_without_dynamicjson(tmp_path,
                                                                 providers_value):
    path = tmp_path / 'inject.conf'
    path.write_text('[api]\nvendordata_providers = %s\n'
                    'vendordata_dynamic_targets = a@http://h/,a@http://i/\n'
                    % providers_value)
    conf = inject_conf.new_conf()
    conf(['--config-file', str(path)], project='inject')
    with pytest.raises(ValueError, match="the name 'a' is given twice"):
        conf.api.vendordata_dynamic_targets


def test_redact_hides_password():
    assert dynamic.redact('http://u:secret@h:1/p') == 'http://u:***@h:1/p'
    assert dynamic.redact('http://h/p') == 'http://h/p'


# --- the request (B-3.5, B-3.6) -----------------------------------------------------

def test_body_and_headers_are_novas(target, caplog):
    vd = dyn(['web@%s/foo/bar?x=1' % target.url])
    info = make_info()
    with caplog.at_level(logging.WARNING):
        v2 = vd.v2(info)
    (req,) = target.requests
    assert req['method'] == 'POST' and req['path'] == '/foo/bar'
    assert req['query'] == {'x': '1'}
    assert list(req['body']) == ['project-id', 'instance-id', 'image-id', 'user-data',
                                 'hostname', 'metadata', 'boot-roles']
    assert req['body'] == {
        'project-id': 'p1', 'instance-id': UUID, 'image-id': 'img-1',
        'user-data': base64.b64encode(b'#!/bin/sh\necho hi\n').decode(),
        'hostname': 'web-1', 'metadata': {'role': 'webserver'},
        'boot-roles': 'reader,member'}
    h = req['headers']
    assert h['Content-Type'] == 'application/json'
    assert h['Accept'] == 'application/json'
    assert h['User-Agent'] == 'openstack-nova-vendordata'
    assert 'X-Auth-Token' not in h
    assert v2['web']['seen'] == req['body']
    # no auth configured: the warning, once
    assert caplog.text.count(dynamic.INSECURE_WARNING) == 1
    vd.v2(make_info(uuid=OTHER))
    assert caplog.text.count(dynamic.INSECURE_WARNING) == 1


def test_body_without_user_data_or_roles(target):
    vd = dyn(['web@%s/' % target.url])
    vd.v2(make_info(user_data=None, boot_roles=[], image_id=''))
    body = target.requests[0]['body']
    assert body['user-data'] is None and body['boot-roles'] == ''
    assert body['image-id'] == ''


def test_user_data_sent_as_stored(target):
    info = make_info(stored_user_data='aGk=', user_data=b'hi')
    dyn(['web@%s/' % target.url]).v2(info)
    assert target.requests[0]['body']['user-data'] == 'aGk='


def test_targets_in_order_each_under_its_name(target):
    vd = dyn(['one@%s/?name=one' % target.url, 'two@%s/?name=two' % target.url])
    v2 = vd.v2(make_info())
    assert list(v2) == ['one', 'two']
    assert v2['one']['name'] == 'one' and v2['two']['name'] == 'two'
    assert [r['query']['name'] for r in target.requests] == ['one', 'two']


@pytest.mark.parametrize('query, expected', [
    ('status=201&body=%7B%22c%22%3A1%7D', {'c': 1}),
    ('status=202&body=%5B1%2C2%5D', [1, 2]),
    ('status=204', {}),
    ('status=200&body=', {}),
    ('body=%22%23cloud-config%5Cn%22', '#cloud-config\n'),
])
def test_2xx_answers(target, query, expected):
    assert dyn(['web@%s/?%s' % (target.url, query)]).v2(make_info()) == {'web': expected}


FAILURES = [
    ('status=500', 'HTTP 500'),
    ('status=404', 'HTTP 404'),
    ('status=401', 'HTTP 401'),
    ('body=%7Bnot+json', 'not JSON'),
    ('size=5000', 'larger than 2048 bytes'),
    ('delay=3', 'read'),
]


@pytest.mark.parametrize('query, reason', FAILURES)
def test_failure_is_empty_and_warned(target, caplog, query, reason):
    vd = dyn(['web@%s/?%s' % (target.url, query), 'ok@%s/?name=ok' % target.url],
             vendordata_dynamic_max_response_bytes=2048,
             vendordata_dynamic_read_timeout=1)
    with caplog.at_level(logging.WARNING):
        v2 = vd.v2(make_info())
    assert v2['web'] == {} and v2['ok']['name'] == 'ok'
    assert 'Error from dynamic vendordata service web at' in caplog.text
    assert reason in caplog.text


@pytest.mark.parametrize('query, reason', FAILURES)
def test_failure_is_fatal_when_configured(target, query, reason):
    vd = dyn(['web@%s/?%s' % (target.url, query)],
             vendordata_dynamic_max_response_bytes=2048,
             vendordata_dynamic_read_timeout=1,
             vendordata_dynamic_failure_fatal=True)
    with pytest.raises(exception.VendorDataTargetFailed) as e:
        vd.v2(make_info())
    assert e.value.target == 'web' and reason in e.value.reason
    assert 'web' in str(e.value) and reason in str(e.value)


def test_204_is_not_a_failure_even_when_fatal(target):
    vd = dyn(['web@%s/?status=204' % target.url],
             vendordata_dynamic_failure_fatal=True)
    assert vd.v2(make_info()) == {'web': {}}


def test_unreachable_target(caplog):
    import socket
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()             # nothing listens there now
    vd = dyn(['gone@http://127.0.0.1:%d/' % port])
    with caplog.at_level(logging.WARNING):
        assert vd.v2(make_info()) == {'gone': {}}
    assert 'cannot connect' in caplog.text
    vd = dyn(['gone@http://u:pw@127.0.0.1:%d/' % port],
             vendordata_dynamic_failure_fatal=True)
    with pytest.raises(exception.VendorDataTargetFailed) as e:
        vd.v2(make_info())
    assert 'cannot connect' in str(e.value) and 'pw' not in str(e.value)


def test_oversized_answer_without_content_length_is_refused():
    def chunked(environ, start_response):
        start_response('200 OK', [('Content-Type', 'application/json')])
        return iter([b'"' + b'x' * 1000] * 10 + [b'"'])
    with target_app.serve(chunked) as url:
        vd = dyn(['big@%s/' % url], vendordata_dynamic_max_response_bytes=4096,
                 vendordata_dynamic_failure_fatal=True)
        with pytest.raises(exception.VendorDataTargetFailed, match='larger than 4096'):
            vd.v2(make_info())


def test_https_target_verified_against_certfile(monkeypatch):
    seen = {}

    class Session:
        auth = None

        def request(self, url, method, **kw):
            seen.update(kw)
            raise dynamic.ks_exc.SSLError('certificate verify failed')

    conf = make_conf(vendordata_providers=['DynamicJSON'],
                     vendordata_dynamic_targets=['s@https://h.example/'],
                     vendordata_dynamic_ssl_certfile='/etc/ca.pem')
    vd = providers.ConfiguredVendorData(conf, cache=cache_mod.AnswerCache(),
                                        session=Session())
    assert vd.v2(make_info()) == {'s': {}}
    assert seen['verify'] == '/etc/ca.pem'
    assert seen['timeout'] == (5, 5)


@pytest.mark.parametrize('fail_at, reason', [
    # getting the token fails: named as such
    ('token', 'no service token from [vendordata_dynamic_auth] (AuthorizationFailure'),
    # the request fails in a way keystoneauth cannot classify: not a token failure
    ('request', 'the request failed (UnknownConnectionError'),
])
def test_keystone_failures_are_target_failures_named(fail_at, reason):
    # Nova let keystoneauth's own errors escape even when not fatal (B-3.12).
    class Session:
        auth = object()

        def get_auth_headers(self):
            if fail_at == 'token':
                raise dynamic.ks_exc.AuthorizationFailure('no token')
            return {'X-Auth-Token': 't'}

        def request(self, url, method, **kw):
            assert kw['redirect'] is False
            raise dynamic.ks_exc.UnknownConnectionError('odd', None)

    conf = make_conf(vendordata_providers=['DynamicJSON'],
                     vendordata_dynamic_targets=['s@http://h.example/'])
    vd = providers.ConfiguredVendorData(conf, cache=cache_mod.AnswerCache(),
                                        session=Session())
    assert vd.v2(make_info()) == {'s': {}}
    conf.set_override('vendordata_dynamic_failure_fatal', True, 'api')
    vd = providers.ConfiguredVendorData(conf, cache=cache_mod.AnswerCache(),
                                        session=Session())
    with pytest.raises(exception.VendorDataTargetFailed) as e:
        vd.v2(make_info())
    assert e.value.reason.startswith(reason)


class Redirect:
    def __init__(self, location, status=302):
        self.status_code = status
        self.headers = {} if location is None else {'Location': location}


@pytest.mark.parametrize('location, followed', [
    ('/b', 'http://t.example/b'),
    ('b?x=1', 'http://t.example/a/b?x=1'),
    ('http://T.EXAMPLE:80/c', 'http://T.EXAMPLE:80/c'),     # the same origin
    ('#', 'http://t.example/a/'),
])
def test_redirects_within_the_origin_are_followed(location, followed):
    assert dynamic.follow('http://t.example/a/', 'http://t.example/a/',
                          Redirect(location), 0) == followed


@pytest.mark.parametrize('location, named', [
    ('file:///etc/passwd', 'to file:///etc/passwd, which is not followed'),
    ('https://t.example/a/', 'to https://t.example/a/, which is not followed'),
    ('http://t.example:8080/', 'to http://t.example:8080/, which is not followed'),
    ('http://other.example/', 'to http://other.example/, which is not followed'),
    ('//other.example/x', 'to http://other.example/x, which is not followed'),
    ('http://u:secret@other.example/', 'to http://u:***@other.example/'),
    ('http://t.example:99999/', 'to http://t.example:99999/, which is not followed'),
    ('gopher:x', 'to gopher:x, which is not followed'),
    (None, 'HTTP 302 redirect without a Location'),
])
def test_other_redirects_are_failures_naming_where(location, named):
    with pytest.raises(dynamic.TargetFailure) as e:
        dynamic.follow('http://t.example/a/', 'http://t.example/a/', Redirect(location), 0)
    assert named in str(e.value)
    assert 'secret' not in str(e.value)


def test_redirects_are_followed_at_most_three_times():
    assert dynamic.follow('http://t.example/', 'http://t.example/', Redirect('/x'), 2)
    with pytest.raises(dynamic.TargetFailure, match='more than 3 redirects'):
        dynamic.follow('http://t.example/', 'http://t.example/', Redirect('/x'), 3)


# --- caching ------------------------------------------------------------------------

@pytest.mark.parametrize('header, ttl', [
    (None, 15), ('', 15), ('max-age=60', 60), ('public, max-age=0', 0),
    ('no-cache', 0), ('no-store, max-age=60', 0), ('max-age=60, s-maxage=5', 5),
    ('private', 15), ('Max-Age="30"', 30), ('max-age=60, max-age=30', 30),
    ('no-cache="Set-Cookie, X-A", max-age=60', 0), ('x="a,b", max-age=60', 60),
    # what a target may ask is cut to the maximum (1000 here)
    ('max-age=99999999999999999999999', 1000), ('s-maxage=1001', 1000),
    ('max-age=' + '9' * 5000, 1000), ('max-age=00000000000000000042', 42),
    # a directive that cannot be parsed is absent: the next rule applies
    ('max-age=abc', 15), ('max-age=-5', 15), ('max-age=1.5', 15), ('max-age=', 15),
    ('max-age=+5', 15), ('max-age=\u0663', 15), ('max-age="5', 15),
    ('s-maxage=x, max-age=60', 60), ('=5, max-age=60', 60), (',,, ,', 15),
    ('max-age=5 6', 15), ('max-age="5"x, max-age=7', 7),
])
def test_max_age(header, ttl):
    assert cache_mod.max_age(header, 15, 1000) == ttl


def test_max_age_cuts_the_default_too():
    assert cache_mod.max_age(None, 15, 10) == 10
    assert cache_mod.max_age('max-age=60', 15, 0) == 0


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.mark.parametrize('header, posts_after_10s, posts_after_100s', [
    (None, 2, 3),                 # metadata_cache_expiration=5 fallback
    ('max-age=60', 1, 2),
    ('no-cache', 3, 4),
    ('no-store', 3, 4),
])
def test_answer_cached_as_cache_control_says(target, header, posts_after_10s,
                                             posts_after_100s):
    clock = Clock()
    query = '' if header is None else '?cache_control=' + header
    vd = dyn(['web@%s/%s' % (target.url, query)], cache=cache_mod.AnswerCache(
        clock=clock), metadata_cache_expiration=5)
    info = make_info()
    first = vd.v2(info)
    vd.v2(info)
    clock.now += 10
    vd.v2(info)
    assert len(target.requests) == posts_after_10s
    clock.now += 90
    assert vd.v2(info)['web']['seen'] == first['web']['seen']
    assert len(target.requests) == posts_after_100s


def test_cache_expiration_zero_disables_fallback_caching(target):
    vd = dyn(['web@%s/' % target.url], metadata_cache_expiration=0)
    vd.v2(make_info())
    vd.v2(make_info())
    assert len(target.requests) == 2


def test_cache_is_per_instance(target):
    vd = dyn(['web@%s/?cache_control=max-age%%3D600' % target.url])
    a = vd.v2(make_info())
    b = vd.v2(make_info(uuid=OTHER, project_id='p2'))
    assert a['web']['seen']['instance-id'] == UUID
    assert b['web']['seen']['instance-id'] == OTHER
    assert vd.v2(make_info())['web']['seen']['instance-id'] == UUID
    assert len(target.requests) == 2


def test_changed_request_asks_again(target):
    # a rebuild with new user data is a new question
    vd = dyn(['web@%s/?cache_control=max-age%%3D600' % target.url])
    vd.v2(make_info())
    vd.v2(make_info(user_data=b'new'))
    assert len(target.requests) == 2


def test_failures_are_not_cached(target):
    vd = dyn(['web@%s/?status=503' % target.url])
    vd.v2(make_info())
    vd.v2(make_info())
    assert len(target.requests) == 2


def test_concurrent_misses_send_one_request(target):
    vd = dyn(['web@%s/?delay=0.3' % target.url])
    results = []
    threads = [threading.Thread(target=lambda: results.append(vd.v2(make_info())))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(target.requests) == 1
    assert len(results) == 8 and all(r == results[0] for r in results)


def test_cache_is_bounded():
    c = cache_mod.AnswerCache(max_entries=3)
    for i in range(5):
        c.put((str(i), 't'), i, 60)
    assert len(c) == 3
    assert c.get(('0', 't')) == (False, None)
    assert c.get(('4', 't')) == (True, 4)


def test_cache_forget_one_instance():
    c = cache_mod.AnswerCache()
    c.put(('a', 't'), 1, 60)
    c.put(('b', 't'), 2, 60)
    c.forget('a')
    assert c.get(('a', 't')) == (False, None) and c.get(('b', 't')) == (True, 2)


def test_one_round_of_posts_per_config_drive_build(target):
    # InstanceMetadata asks v2 once; every vendor_data2.json on the drive is that answer.
    from inject.metadata import base
    vd = dyn(['web@%s/' % target.url], metadata_cache_expiration=0)
    md = base.InstanceMetadata(make_info(), vd)
    files = dict(md.config_drive_files())
    v2 = [json.loads(v) for k, v in files.items() if k.endswith('vendor_data2.json')]
    assert len(v2) == 6 and all(x == v2[0] for x in v2)
    assert len(target.requests) == 1


def test_read_timeout_below_one_is_refused():
    conf = make_conf()
    with pytest.raises(ValueError):
        conf.set_override('vendordata_dynamic_read_timeout', 0, 'api')


def test_nova_default_group_names_are_read(tmp_path):
    path = tmp_path / 'nova.conf'
    path.write_text('[DEFAULT]\nvendordata_providers = StaticJSON,DynamicJSON\n'
                    'vendordata_dynamic_targets = a@http://h/\n'
                    'metadata_cache_expiration = 7\nmetadata_listen_port = 9775\n'
                    '[neutron]\nmetadata_proxy_shared_secret = s3\n'
                    '[vendordata_dynamic_auth]\nauth_type = password\n'
                    'auth_url = http://k/v3\nusername = nova\n')
    conf = inject_conf.new_conf()
    conf([], project='inject', default_config_files=[str(path)],
         default_config_dirs=[])
    assert conf.api.vendordata_providers == ['StaticJSON', 'DynamicJSON']
    assert conf.api.vendordata_dynamic_targets == ['a@http://h/']
    assert conf.api.metadata_cache_expiration == 7
    assert conf.metadata.port == 9775
    assert conf.neutron.metadata_proxy_shared_secret == 's3'
    from keystoneauth1 import loading
    auth = loading.load_auth_from_conf_options(conf, 'vendordata_dynamic_auth')
    assert auth.auth_url == 'http://k/v3'


def test_unknown_provider_is_refused(tmp_path):
    path = tmp_path / 'inject.conf'
    path.write_text('[api]\nvendordata_providers = StaticJSON,Bogus\n')
    conf = inject_conf.new_conf()
    conf([], project='inject', default_config_files=[str(path)],
         default_config_dirs=[])
    with pytest.raises(ValueError, match='Bogus'):
        conf.api.vendordata_providers


def test_fatal_target_failure_fails_the_config_drive_build(target):
    from inject.metadata import base
    vd = dyn(['billing@%s/?status=500' % target.url],
             vendordata_dynamic_failure_fatal=True)
    md = base.InstanceMetadata(make_info(), vd)
    with pytest.raises(exception.VendorDataTargetFailed) as e:
        dict(md.config_drive_files())
    assert e.value.target == 'billing' and 'HTTP 500' in str(e.value)


def test_config_drive_without_staticjson_builds(target):
    # Nova's config drive build crashed without StaticJSON (B-2.9).
    from inject.metadata import base
    vd = dyn(['web@%s/' % target.url])
    files = dict(base.InstanceMetadata(make_info(), vd).config_drive_files())
    assert json.loads(files['openstack/latest/vendor_data.json']) == {}
    assert set(json.loads(files['openstack/latest/vendor_data2.json'])) == {'web'}
