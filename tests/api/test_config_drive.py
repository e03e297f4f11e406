"""Config drives built by inject-api: ``config_drive`` on create (Nova's boolean
spellings) or ``[DEFAULT]force_config_drive``, written as instances_path/UUID/disk.config
after the disk; rebuilt on rebuild (new user data, the same boot roles); removed with
the server. Dynamic vendordata comes from a real HTTP target on loopback
(tests/metadata/target_app.py); its failure is fatal or ``{}`` as configured. Personality
files on a host without injection, under ``personality_without_injection = metadata``,
reach the guest through the drive and the metadata service."""

import json
import os

import pytest
import webtest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from inject.db import api as db_api
from inject.db import engine as db_engine
from inject.metadata import configdrive
from inject.metadata import wsgi as metadata_wsgi
from tests.api.support import ADMIN, b64
from tests.metadata import target_app

SECRET = 'proxy-secret'


@pytest.fixture
def target():
    app = target_app.TargetApp()
    with target_app.serve(app) as url:
        app.url = url
        yield app


def _vendordata(api, target, query='', fatal=False):
    api.conf.set_override('vendordata_providers', ['StaticJSON', 'DynamicJSON'], 'api')
    api.conf.set_override('vendordata_dynamic_targets',
                          ['vd@%s/vendordata?name=vd%s' % (target.url, query)], 'api')
    api.conf.set_override('vendordata_dynamic_failure_fatal', fatal, 'api')


def _drive(api, sid):
    return os.path.join(api.conf.api.instances_path, sid, 'disk.config')


def _read(api, sid):
    return configdrive.read_config_drive(_drive(api, sid))


def _json(files, path):
    return json.loads(files[path])


def _show(api, sid, **kw):
    return api.request('GET', '/v2.1/servers/%s' % sid, status=200, **kw).json['server']


def _rebuild(api, sid, version='2.57', headers=None, **extra):
    body = {'rebuild': dict({'imageRef': api.image_id}, **extra)}
    api.request('POST', '/v2.1/servers/%s/action' % sid, body, version=version,
                status=202, headers=headers)
    api.app.compute.wait()


def _create(api, version='2.1', headers=None, **server):
    server.setdefault('name', 'vm')
    server.setdefault('imageRef', api.image_id)
    server.setdefault('flavorRef', '1')
    if tuple(map(int, version.split('.'))) >= (2, 37):
        server.setdefault('networks', 'none')
    resp = api.request('POST', '/v2.1/servers', {'server': server}, version, 202,
                       headers=headers)
    api.app.compute.wait()
    return resp.json['server']


def _metadata_app(api, **kw):
    """inject-metadata on the same database, as another process would open it."""
    api.conf.set_override('metadata_proxy_shared_secret', SECRET, 'neutron')
    db = db_api.Database(api.conf.database.connection, sync=False)
    return webtest.TestApp(metadata_wsgi.MetadataApp(api.conf, db=db, **kw))


def _md_get(app, sid, project, path, status=200):
    return app.get(path, headers={
        'X-Instance-ID': sid, 'X-Tenant-ID': project,
        'X-Instance-ID-Signature': metadata_wsgi.sign(SECRET, sid)}, status=status)


# --- create ---------------------------------------------------------------------------

@pytest.mark.parametrize('value', [True, 'True', 'true', '1', 'yes', 'On'])
@pytest.mark.parametrize('version', ['2.1', '2.57'])
def test_create_with_config_drive(api, version, value):
    created = _create(api, version, config_drive=value, user_data=b64(b'#!/bin/sh\n'),
                      metadata={'role': 'web'}, adminPass='s3cret')
    sid = created['id']
    server = _show(api, sid, version=version)
    assert server['status'] == 'ACTIVE'
    assert server['config_drive'] == 'True'         # Nova's stored string
    path = _drive(api, sid)
    assert os.path.isfile(path) and os.path.isfile(os.path.join(os.path.dirname(path),
                                                                 'disk'))
    assert configdrive.volume_label(path) == 'config-2'
    files = _read(api, sid)
    md = _json(files, 'openstack/latest/meta_data.json')
    assert md['uuid'] == sid and md['meta'] == {'role': 'web'}
    assert md['admin_pass'] == 's3cret'
    assert md['hostname'] == 'vm.novalocal'
    assert files['openstack/latest/user_data'] == b'#!/bin/sh\n'
    assert files['ec2/latest/user-data'] == b'#!/bin/sh\n'
    assert _json(files, 'openstack/latest/vendor_data.json') == {}
    assert 'openstack/2012-08-10/meta_data.json' in files


@pytest.mark.parametrize('value', [None, False, 'false', '0', 'no', 'Off'])
def test_create_without_config_drive(api, value):
    extra = {} if value is None else {'config_drive': value}
    sid = _create(api, **extra)['id']
    server = _show(api, sid)
    assert server['status'] == 'ACTIVE' and server['config_drive'] == ''
    assert not os.path.exists(_drive(api, sid))


@pytest.mark.parametrize('value', ['maybe', '', 'y'])
def test_invalid_config_drive_is_400(api, value):
    resp = api.create(status=400, wait=False, config_drive=value)
    assert 'config_drive' in resp.json['badRequest']['message']


def test_force_config_drive(api):
    api.conf.set_override('force_config_drive', True)
    sid = _create(api, config_drive=False)['id']
    assert _show(api, sid)['config_drive'] == 'True'
    assert configdrive.volume_label(_drive(api, sid)) == 'config-2'


def test_personality_files_on_the_drive(api):
    sid = _create(api, '2.56', config_drive=True, personality=[
        {'path': '/etc/a.conf', 'contents': b64(b'a\n')},
        {'path': '/root/b', 'contents': b64(bytes(range(256)))}])['id']
    files = _read(api, sid)
    md = _json(files, 'openstack/latest/meta_data.json')
    assert md['files'] == [{'path': '/etc/a.conf', 'content_path': '/content/0000'},
                           {'path': '/root/b', 'content_path': '/content/0001'}]
    assert files['openstack/content/0000'] == b'a\n'
    assert files['openstack/content/0001'] == bytes(range(256))
    # injected into the disk too, as Nova does with both on
    assert api.fake.requests[-1].files == [('/etc/a.conf', b'a\n'),
                                           ('/root/b', bytes(range(256)))]


# --- rebuild, boot roles, delete ------------------------------------------------------

def test_rebuild_rebuilds_the_drive_with_the_same_boot_roles(api, target):
    _vendordata(api, target)
    created = _create(api, '2.57', headers={'X-Roles': 'admin'}, config_drive=True,
                      user_data=b64(b'first'))
    sid = created['id']
    files = _read(api, sid)
    assert files['openstack/latest/user_data'] == b'first'
    assert target.requests[-1]['body']['boot-roles'] == 'admin,member,reader'
    first_vd = _json(files, 'openstack/latest/vendor_data2.json')['vd']
    assert first_vd['seen']['user-data'] == b64(b'first')
    sysmeta = {m.key: m.value
               for m in api.app.db.instance_get(sid).system_metadata_items}
    assert sysmeta['boot_roles'] == 'admin,member,reader'

    # A member with other roles rebuilds with new user data.
    _rebuild(api, sid, headers={'X-Roles': 'member'}, user_data=b64(b'second'))
    server = _show(api, sid)
    assert server['status'] == 'ACTIVE' and server['config_drive'] == 'True'
    files = _read(api, sid)
    assert files['openstack/latest/user_data'] == b'second'
    assert files['ec2/latest/user-data'] == b'second'
    assert len(target.requests) == 2
    body = target.requests[-1]['body']
    assert body['user-data'] == b64(b'second')
    assert body['boot-roles'] == 'admin,member,reader'
    vd = _json(files, 'openstack/latest/vendor_data2.json')['vd']
    assert vd['seen']['boot-roles'] == 'admin,member,reader'
    sysmeta = {m.key: m.value
               for m in api.app.db.instance_get(sid).system_metadata_items}
    assert sysmeta['boot_roles'] == 'admin,member,reader'


def test_boot_roles_are_the_creators(api, target):
    _vendordata(api, target)
    sid = _create(api, headers={'X-Roles': 'reader,member,observer'},
                  config_drive=True)['id']
    assert target.requests[-1]['body']['boot-roles'] == 'reader,member,observer'
    sysmeta = {m.key: m.value
               for m in api.app.db.instance_get(sid).system_metadata_items}
    assert sysmeta['boot_roles'] == 'reader,member,observer'


def test_rebuild_without_drive_makes_none(api):
    sid = _create(api, '2.57')['id']
    _rebuild(api, sid, user_data=b64(b'x'))
    assert not os.path.exists(_drive(api, sid))


def test_delete_removes_the_drive_and_the_kept_files(api):
    sid = _create(api, '2.56', config_drive=True, personality=[
        {'path': '/etc/motd', 'contents': b64(b'secret')}])['id']
    path = _drive(api, sid)
    assert os.path.isfile(path)
    assert api.app.db.instance_files_get(sid) == [('/etc/motd', b'secret')]
    api.request('DELETE', '/v2.1/servers/%s' % sid, status=204)
    assert not os.path.exists(path)
    assert not os.path.exists(os.path.dirname(path))
    assert api.app.db.instance_files_get(sid) == []


# --- dynamic vendordata: fatal and not ------------------------------------------------

def test_fatal_target_failure_puts_the_server_in_error(api, target):
    _vendordata(api, target, query='&status=500', fatal=True)
    sid = _create(api, config_drive=True)['id']
    server = _show(api, sid, headers=ADMIN)
    assert server['status'] == 'ERROR'
    message = server['fault']['message']
    assert message.startswith('Config drive not built: dynamic vendordata target vd '
                              'failed: HTTP 500')
    assert target.url in server['fault']['details']
    # nothing half-written, and no injection was attempted
    assert not os.path.exists(_drive(api, sid))
    assert os.listdir(os.path.dirname(_drive(api, sid))) == ['disk']
    assert api.fake.requests == []
    actions = api.app.db.action_list(sid)
    assert actions[-1].message == 'Error'


@pytest.mark.parametrize('query', ['&status=500', '&body=not-json'])
def test_non_fatal_target_failure_gives_empty_entry(api, target, query, caplog):
    _vendordata(api, target, query=query, fatal=False)
    sid = _create(api, config_drive=True)['id']
    assert _show(api, sid)['status'] == 'ACTIVE'
    vd2 = _json(_read(api, sid), 'openstack/latest/vendor_data2.json')
    assert vd2 == {'static': {}, 'vd': {}}
    assert 'Error from dynamic vendordata service vd' in caplog.text


def test_fatal_target_without_drive_does_not_matter(api, target):
    # Only a server being built with a config drive asks the targets at build time.
    _vendordata(api, target, query='&status=500', fatal=True)
    sid = _create(api)['id']
    assert _show(api, sid)['status'] == 'ACTIVE'
    assert target.requests == []


def test_one_post_per_build_shared_with_the_metadata_service(api, target):
    _vendordata(api, target, query='&cache_control=max-age%3D600')
    sid = _create(api, config_drive=True, user_data=b64(b'hi'))['id']
    assert len(target.requests) == 1
    on_drive = _json(_read(api, sid), 'openstack/latest/vendor_data2.json')
    app = _metadata_app(api)
    project = _show(api, sid)['tenant_id']
    served = _md_get(app, sid, project, '/openstack/latest/vendor_data2.json').json
    assert served == on_drive
    assert len(target.requests) == 1     # the answer the build got, from the database
    # a rebuild is a new build: it asks again, and the service serves the new answer
    _rebuild(api, sid, user_data=b64(b'other'))
    assert len(target.requests) == 2
    app.app.forget(sid)      # its record cache (metadata_cache_expiration) aside
    served = _md_get(app, sid, project, '/openstack/latest/vendor_data2.json').json
    assert served['vd']['seen']['user-data'] == b64(b'other')
    assert len(target.requests) == 2


def test_no_store_answer_is_not_shared(api, target):
    _vendordata(api, target, query='&cache_control=no-store')
    sid = _create(api, config_drive=True)['id']
    app = _metadata_app(api)
    project = _show(api, sid)['tenant_id']
    _md_get(app, sid, project, '/openstack/latest/vendor_data2.json')
    assert len(target.requests) == 2


# --- personality without injection ----------------------------------------------------

PERSONALITY = [{'path': '/etc/motd', 'contents': b64(b'hello\n')},
               {'path': '/etc/app.conf', 'contents': b64(b'x = 1\n')}]


def test_metadata_policy_delivers_through_drive_and_service(api_disabled):
    api = api_disabled
    api.conf.set_override('personality_without_injection', 'metadata', 'api')
    sid = _create(api, '2.56', config_drive=True, personality=PERSONALITY)['id']
    server = _show(api, sid)
    assert server['status'] == 'ACTIVE' and 'fault' not in server
    note = ('Personality files delivered through config drive / metadata service, not '
            'written into the disk: /etc/motd, /etc/app.conf')
    # the instance action says so, and is a success
    action = api.request('GET', '/v2.1/servers/%s/os-instance-actions' % sid,
                         status=200).json['instanceActions'][0]
    assert action['message'] == note
    req_id = action['request_id']
    event = api.request('GET', '/v2.1/servers/%s/os-instance-actions/%s' % (sid, req_id),
                        version='2.51', status=200).json['instanceAction']['events'][0]
    assert event['result'] == 'Success'
    # the report kept with the server says so
    sysmeta = {m.key: m.value
               for m in api.app.db.instance_get(sid).system_metadata_items}
    report = json.loads(sysmeta['inject_report'])
    assert note in report['notes']
    items = [i for i in report['items'] if i['kind'] == 'file']
    assert [i['status'] for i in items] == ['delivered', 'delivered']
    assert all('inject_partition=-2' in i['reason'] for i in items)
    # the drive has the files
    files = _read(api, sid)
    assert files['openstack/content/0000'] == b'hello\n'
    assert files['openstack/content/0001'] == b'x = 1\n'
    # and so has the metadata service, from the database
    app = _metadata_app(api)
    md = _md_get(app, sid, server['tenant_id'], '/openstack/latest/meta_data.json').json
    assert md['files'] == [{'path': '/etc/motd', 'content_path': '/content/0000'},
                           {'path': '/etc/app.conf', 'content_path': '/content/0001'}]
    assert 'admin_pass' not in md
    body = _md_get(app, sid, server['tenant_id'], '/openstack/content/0001').body
    assert body == b'x = 1\n'


def test_metadata_policy_without_drive_names_the_service(api_disabled):
    api = api_disabled
    api.conf.set_override('personality_without_injection', 'metadata', 'api')
    sid = _create(api, '2.56', personality=PERSONALITY[:1])['id']
    assert _show(api, sid)['status'] == 'ACTIVE'
    action = api.app.db.action_list(sid)[-1]
    assert action.message == ('Personality files delivered through metadata service, '
                              'not written into the disk: /etc/motd')


def test_default_policy_still_fails_with_a_drive(api_disabled):
    # The default never lets a file go unwritten without an error, drive or not.
    api = api_disabled
    sid = _create(api, '2.56', config_drive=True, personality=PERSONALITY[:1])['id']
    server = _show(api, sid)
    assert server['status'] == 'ERROR'
    assert server['fault']['message'].startswith('Personality files not injected: '
                                                 '/etc/motd')


def test_rebuild_replaces_the_stored_files(api):
    sid = _create(api, '2.56', config_drive=True, personality=PERSONALITY)['id']
    assert api.app.db.instance_files_get(sid) == [('/etc/motd', b'hello\n'),
                                                  ('/etc/app.conf', b'x = 1\n')]
    _rebuild(api, sid, version='2.56', personality=[
        {'path': '/etc/new', 'contents': b64(b'new')}])
    assert api.app.db.instance_files_get(sid) == [('/etc/new', b'new')]
    files = _read(api, sid)
    assert files['openstack/content/0000'] == b'new'
    assert 'openstack/content/0001' not in files


# --- one loader: the drive and the metadata service serve one record ------------------

# meta_data.json keys that differ between two reads by design: a fresh random seed
# each time, and the admin password (the drive only, as Nova).
_PER_READ = ('random_seed', 'admin_pass')


def _without(md, keys=_PER_READ):
    return {k: v for k, v in md.items() if k not in keys}


def _key_pair(api):
    """Alice's key pair 'k' (imported); its public key line."""
    public = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    api.request('POST', '/v2.1/os-keypairs', {'keypair': {
        'name': 'k', 'public_key': public}}, headers={'X-User-Id': 'alice'}, status=200)
    return public


def test_drive_and_service_serve_the_same_record(api):
    """Every server of a multi-create: its drive and the metadata service (another
    Database, as inject-metadata opens it) give the same meta_data.json, user data,
    files, key, reservation and launch index -- those the server view shows."""
    public = _key_pair(api)
    rid = api.request('POST', '/v2.1/servers', {'server': {
        'name': 'web', 'imageRef': api.image_id, 'flavorRef': '1', 'max_count': 3,
        'return_reservation_id': True, 'config_drive': True, 'key_name': 'k',
        'user_data': b64(b'#cloud-config\n'), 'metadata': {'role': 'web'},
        'personality': PERSONALITY, 'networks': 'none'}}, '2.56', 202,
        headers={'X-User-Id': 'alice'}).json['reservation_id']
    api.app.compute.wait()
    servers = api.request('GET', '/v2.1/servers/detail', version='2.3',
                          headers=ADMIN).json['servers']
    assert len(servers) == 3
    app = _metadata_app(api)
    for server in servers:
        sid, project = server['id'], server['tenant_id']
        assert server['status'] == 'ACTIVE', server
        assert server['OS-EXT-SRV-ATTR:reservation_id'] == rid
        index = server['OS-EXT-SRV-ATTR:launch_index']
        drive = _read(api, sid)
        on_drive = _json(drive, 'openstack/latest/meta_data.json')
        served = _md_get(app, sid, project, '/openstack/latest/meta_data.json').json
        assert _without(on_drive) == _without(served)
        assert on_drive['launch_index'] == index
        assert on_drive['public_keys'] == {'k': public}
        assert on_drive['hostname'] == server['OS-EXT-SRV-ATTR:hostname'] + '.novalocal'
        for path in ('openstack/latest/user_data', 'openstack/content/0000',
                     'openstack/content/0001', 'openstack/latest/vendor_data.json',
                     'openstack/latest/network_data.json'):
            assert drive[path] == _md_get(app, sid, project, '/' + path).body, path
        ec2 = _json(drive, 'ec2/latest/meta-data.json')
        for key, value in (('reservation-id', rid), ('ami-launch-index', str(index)),
                           ('hostname', on_drive['hostname'])):
            assert str(ec2[key]) == value, key
            assert _md_get(app, sid, project,
                           '/latest/meta-data/' + key).text == value, key
    assert sorted(s['OS-EXT-SRV-ATTR:launch_index'] for s in servers) == [0, 1, 2]


def test_the_metadata_service_reads_one_instance_object(api):
    """Every value a server is served comes from one read of its record (the
    instance with its metadata, system metadata and files), nothing else."""
    public = _key_pair(api)
    server = _create(api, '2.56', key_name='k', personality=PERSONALITY,
                     headers={'X-User-Id': 'alice'})
    project = _show(api, server['id'])['tenant_id']
    app = _metadata_app(api)
    db = app.app.db
    calls = []
    # every query of the Database (its engine's session helpers aside)
    for name in sorted(set(dir(db_api.Database)) - set(dir(db_engine.Engine))):
        method = getattr(db, name)
        if not name.startswith('_') and callable(method):
            def spy(*a, _name=name, _method=method, **kw):
                calls.append(_name)
                return _method(*a, **kw)
            setattr(db, name, spy)
    md = _md_get(app, server['id'], project, '/openstack/latest/meta_data.json').json
    assert md['public_keys'] == {'k': public}
    assert md['files'][0]['path'] == '/etc/motd'
    assert _md_get(app, server['id'], project, '/openstack/content/0000').body == b'hello\n'
    assert _md_get(app, server['id'], project, '/latest/meta-data/reservation-id').text
    assert calls and set(calls) == {'instance_get'}
