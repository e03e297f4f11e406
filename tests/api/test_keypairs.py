"""os-keypairs: tempest's bodies at every version where they change, generated and
imported keys (checked with ssh-keygen and cryptography, not with our own code), Nova's
errors, the key_pairs quota, per-user isolation and administrators' ``user_id``,
pagination from 2.35; ``key_name`` on server create and rebuild (2.54), the key in the
injection request and in the metadata."""

import base64
import json
import subprocess

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import pkcs12

from inject.api import policy
from inject.metadata import instance as instance_mod
from tests.api import contract
from tests.api.support import ADMIN

URL = '/v2.1/os-keypairs'
ALICE = {'X-User-Id': 'alice', 'X-Roles': 'member'}
BOB = {'X-User-Id': 'bob', 'X-Roles': 'member'}
ADMIN_USER = {'X-User-Id': 'root', 'X-Roles': 'admin'}


def _ed25519():
    key = ed25519.Ed25519PrivateKey.generate()
    return key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def _ecdsa():
    key = ec.generate_private_key(ec.SECP384R1())
    return key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def _ssh_keygen_md5(tmp_path, public_key):
    """The MD5 fingerprint ssh-keygen prints (``MD5:aa:bb:...``), without the prefix."""
    path = tmp_path / 'key.pub'
    path.write_text(public_key + '\n')
    out = subprocess.run(['ssh-keygen', '-E', 'md5', '-l', '-f', str(path)],
                         capture_output=True, text=True, check=True).stdout
    return out.split()[1].split(':', 1)[1]


def _create(api, version='2.1', headers=ALICE, status=None, **keypair):
    keypair.setdefault('name', 'k1')
    return api.request('POST', URL, {'keypair': keypair}, version=version,
                       headers=headers, status=status)


def _message(resp):
    return next(iter(resp.json.values()))['message']


@pytest.mark.parametrize('version, created, deleted', [
    ('2.1', 200, 202), ('2.2', 201, 204), ('2.10', 201, 204), ('2.35', 201, 204),
    ('2.57', 201, 204)])
def test_every_operation_matches_tempest(api, version, created, deleted):
    resp = _create(api, version, name='gen', status=created)
    gen = contract.check('keypairs', 'create_keypair', version, resp)['keypair']
    assert 'private_key' in gen and gen['user_id'] == 'alice'
    assert ('type' in gen) == (version != '2.1')
    resp = _create(api, version, name='imp', public_key=_ed25519(), status=created)
    imp = contract.check('keypairs', 'create_keypair', version, resp)['keypair']
    assert 'private_key' not in imp
    resp = api.request('GET', URL, version=version, headers=ALICE, status=200)
    body = contract.check('keypairs', 'list_keypairs', version, resp)
    assert [k['keypair']['name'] for k in body['keypairs']] == ['gen', 'imp']
    resp = api.request('GET', URL + '/imp', version=version, headers=ALICE, status=200)
    shown = contract.check('keypairs', 'get_keypair', version, resp)['keypair']
    assert shown['public_key'] == imp['public_key']
    assert shown['fingerprint'] == imp['fingerprint']
    assert (shown['deleted'], shown['deleted_at'], shown['updated_at']) == (
        False, None, None)
    resp = api.request('DELETE', URL + '/imp', version=version, headers=ALICE,
                       status=deleted)
    contract.check('keypairs', 'delete_keypair', version, resp)
    assert resp.body == b''
    api.request('GET', URL + '/imp', version=version, headers=ALICE, status=404)


def test_generated_ssh_key_is_a_working_rsa_pair(api, tmp_path):
    body = _create(api, '2.2', status=201).json['keypair']
    assert body['type'] == 'ssh'
    assert body['private_key'].startswith('-----BEGIN RSA PRIVATE KEY-----')
    private = serialization.load_pem_private_key(body['private_key'].encode(), None)
    assert private.key_size == 2048
    ours = private.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                             serialization.PublicFormat.OpenSSH)
    assert body['public_key'] == ours.decode() + ' Generated-by-Nova'
    assert body['fingerprint'] == _ssh_keygen_md5(tmp_path, body['public_key'])
    # The private key is returned once: show and list never carry it.
    shown = api.request('GET', URL + '/k1', headers=ALICE, status=200).json['keypair']
    assert 'private_key' not in shown and shown['public_key'] == body['public_key']


@pytest.mark.parametrize('make', [_ed25519, _ecdsa])
def test_imported_keys_get_ssh_keygens_fingerprint(api, tmp_path, make):
    public = make() + ' me@host\n'
    body = _create(api, public_key=public, status=200).json['keypair']
    assert body['public_key'] == public
    assert body['fingerprint'] == _ssh_keygen_md5(tmp_path, public.strip())


def test_x509_generated_and_imported(api):
    body = _create(api, '2.2', type='x509', status=201).json['keypair']
    cert = x509.load_pem_x509_certificate(body['public_key'].encode())
    assert cert.subject.rfc4514_string() == 'CN=alice'
    assert body['fingerprint'] == cert.fingerprint(hashes.SHA1()).hex(':')
    key, bundled, _ = pkcs12.load_key_and_certificates(
        base64.b64decode(body['private_key']), None)
    assert bundled == cert and key.public_key() == cert.public_key()
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]
    imported = _create(api, '2.2', name='k2', type='x509',
                       public_key=body['public_key'], status=201).json['keypair']
    assert imported['fingerprint'] == body['fingerprint']
    assert imported['type'] == 'x509'


@pytest.mark.parametrize('version, keypair, message', [
    ('2.1', {'public_key': 'ssh-rsa AAAA'},
     'Keypair data is invalid: failed to generate fingerprint'),
    ('2.1', {'public_key': ''}, 'Keypair data is invalid: failed to generate fingerprint'),
    ('2.1', {'public_key': 'not a key'},
     'Keypair data is invalid: failed to generate fingerprint'),
    ('2.2', {'type': 'x509', 'public_key': 'not a cert'},
     'Keypair data is invalid: failed to generate X509 fingerprint. Error message: '),
])
def test_invalid_key_data_is_400(api, version, keypair, message):
    resp = _create(api, version, status=400, **keypair)
    assert _message(resp).startswith(message)
    assert api.request('GET', URL, headers=ALICE).json['keypairs'] == []


def test_key_of_several_lines_is_refused(api):
    """Unlike Nova, which checked the first line only and stored the rest."""
    resp = _create(api, public_key=_ed25519() + '\n' + _ed25519(), status=400)
    assert _message(resp) == ('Keypair data is invalid: the public key must be a '
                              'single line')


@pytest.mark.parametrize('version, keypair, field', [
    ('2.1', {'name': ''}, 'name'),
    ('2.1', {'name': 'x' * 256}, 'name'),
    ('2.1', {'name': 'a.b'}, 'name'),
    ('2.1', {'name': 'a/b'}, 'name'),
    ('2.1', {'name': ' lead'}, 'name'),
    ('2.1', {'name': 'trail '}, 'name'),
    ('2.1', {'name': 'k', 'type': 'ssh'}, None),          # type from 2.2
    ('2.2', {'name': 'k', 'type': 'rsa'}, 'type'),
    ('2.9', {'name': 'k', 'user_id': 'bob'}, None),       # user_id from 2.10
    ('2.1', {'name': 'k', 'public_key': 5}, 'public_key'),
])
def test_invalid_bodies_are_400(api, version, keypair, field):
    resp = _create(api, version, status=400, **keypair)
    if field:
        assert _message(resp).startswith('Invalid input for field/attribute %s.' % field)
    else:
        assert 'Additional properties are not allowed' in _message(resp)


def test_names_of_nova_characters_and_255_long(api):
    for name in ('a b_c-D 9', 'x' * 255):
        _create(api, name=name, public_key=_ed25519(), status=200)
        api.request('GET', URL + '/' + name, headers=ALICE, status=200)


def test_duplicate_is_409_and_unknown_404(api):
    _create(api, status=200)
    resp = _create(api, public_key=_ed25519(), status=409)
    assert _message(resp) == "Key pair 'k1' already exists."
    for method in ('GET', 'DELETE'):
        resp = api.request(method, URL + '/nope', headers=ALICE, status=404)
        assert _message(resp) == 'Keypair nope not found for user alice'


def test_users_see_only_their_own(api):
    _create(api, name='mine', status=200)
    _create(api, name='mine', headers=BOB, status=200)      # names are per user
    _create(api, name='bobs', headers=BOB, status=200)
    assert [k['keypair']['name'] for k in api.request(
        'GET', URL, headers=ALICE).json['keypairs']] == ['mine']
    api.request('GET', URL + '/bobs', headers=ALICE, status=404)
    api.request('DELETE', URL + '/bobs', headers=ALICE, status=404)
    # Another project's member with the same user id is the same user (key pairs are
    # per user, not per project), as in Nova.
    other = dict(ALICE, **{'X-Project-Id': 'elsewhere'})
    assert len(api.request('GET', URL, headers=other).json['keypairs']) == 1


def test_user_id_query_for_admins_from_2_10(api):
    _create(api, name='bobs', headers=BOB, status=200)
    # Before 2.10 the parameter is ignored: the admin sees their own (none).
    resp = api.request('GET', URL + '?user_id=bob', version='2.9', headers=ADMIN_USER)
    assert resp.json['keypairs'] == []
    resp = api.request('GET', URL + '?user_id=bob', version='2.10', headers=ADMIN_USER,
                       status=200)
    assert [k['keypair']['name'] for k in resp.json['keypairs']] == ['bobs']
    resp = api.request('GET', URL + '/bobs?user_id=bob', version='2.10',
                       headers=ADMIN_USER, status=200)
    assert resp.json['keypair']['user_id'] == 'bob'
    # A non-administrator may not name another user.
    for method, path in (('GET', URL), ('GET', URL + '/bobs'), ('DELETE', URL + '/bobs')):
        resp = api.request(method, path + '?user_id=bob', version='2.10', headers=ALICE,
                           status=403)
        assert 'os_compute_api:os-keypairs:' in _message(resp)
    # ... nor create one for them.
    resp = _create(api, '2.10', name='planted', user_id='bob', public_key=_ed25519(),
                   status=403)
    assert _message(resp) == ("Policy doesn't allow os_compute_api:os-keypairs:create "
                              "to be performed.")
    body = _create(api, '2.10', headers=ADMIN_USER, name='given', user_id='bob',
                   status=201).json['keypair']
    assert body['user_id'] == 'bob'
    assert sorted(k['keypair']['name'] for k in api.request(
        'GET', URL, headers=BOB).json['keypairs']) == ['bobs', 'given']
    api.request('DELETE', URL + '/given?user_id=bob', version='2.10', headers=ADMIN_USER,
                status=204)
    api.request('GET', URL + '/given', headers=BOB, status=404)


def test_rules_are_novas_owner_or_admin():
    rules = {r.name: r for r in policy.list_rules()}
    for op in ('index', 'create', 'show', 'delete'):
        rule = rules['os_compute_api:os-keypairs:%s' % op]
        assert rule.check_str == '(rule:context_is_admin) or user_id:%(user_id)s'
        assert rule.scope_types == ['project']


def test_a_reader_manages_its_own_key_pairs(api):
    """Nova's defaults check the owner, not a role: a reader's key pairs are its own."""
    reader = {'X-User-Id': 'carol', 'X-Roles': 'reader'}
    _create(api, headers=reader, status=200)
    api.request('GET', URL + '/k1', headers=reader, status=200)
    api.request('DELETE', URL + '/k1', headers=reader, status=202)


def test_key_pairs_quota_per_user(api):
    api.request('PUT', '/v2.1/os-quota-sets/inject', {'quota_set': {'key_pairs': 2}},
                headers=ADMIN, status=200)
    _create(api, name='a', status=200)
    _create(api, name='b', public_key=_ed25519(), status=200)
    for keypair in ({'name': 'c'}, {'name': 'c', 'public_key': _ed25519()}):
        resp = _create(api, status=403, **keypair)
        assert _message(resp) == 'Quota exceeded, too many key pairs.'
    _create(api, name='a', headers=BOB, status=200)          # counted per user
    api.request('DELETE', URL + '/a', headers=ALICE, status=202)
    _create(api, name='c', status=200)
    api.request('PUT', '/v2.1/os-quota-sets/inject', {'quota_set': {'key_pairs': -1}},
                headers=ADMIN, status=200)
    _create(api, name='d', status=200)
    limits = api.request('GET', '/v2.1/limits').json['limits']['absolute']
    assert limits['maxTotalKeypairs'] == -1


def test_key_pairs_quota_is_shown_and_updatable(api):
    for version in ('2.1', '2.36', '2.57'):
        body = api.request('GET', '/v2.1/os-quota-sets/inject', version=version).json
        assert body['quota_set']['key_pairs'] == 100
        body = api.request('GET', '/v2.1/os-quota-class-sets/default', version=version,
                           headers=ADMIN).json
        assert body['quota_class_set']['key_pairs'] == 100
    api.request('PUT', '/v2.1/os-quota-class-sets/default',
                {'quota_class_set': {'key_pairs': 1}}, headers=ADMIN, status=200)
    _create(api, name='a', status=200)
    resp = _create(api, name='b', status=403)
    assert _message(resp) == 'Quota exceeded, too many key pairs.'


def test_pagination_from_2_35(api):
    for name in ('c', 'a', 'b'):
        _create(api, name=name, public_key=_ed25519(), status=200)
    # Before 2.35 limit and marker are ignored: every key pair, by name.
    resp = api.request('GET', URL + '?limit=1&marker=a', version='2.34', headers=ALICE)
    assert [k['keypair']['name'] for k in resp.json['keypairs']] == ['a', 'b', 'c']
    assert 'keypairs_links' not in resp.json
    resp = api.request('GET', URL + '?limit=2', version='2.35', headers=ALICE,
                       status=200)
    assert [k['keypair']['name'] for k in resp.json['keypairs']] == ['a', 'b']
    assert resp.json['keypairs_links'] == [{
        'rel': 'next', 'href': 'http://localhost/v2.1/os-keypairs?limit=2&marker=b'}]
    resp = api.request('GET', URL + '?limit=2&marker=b', version='2.35', headers=ALICE)
    assert [k['keypair']['name'] for k in resp.json['keypairs']] == ['c']
    # A page that is not full has no next link, and is what tempest's schema takes.
    contract.check('keypairs', 'list_keypairs', '2.35', resp)
    resp = api.request('GET', '/v2.1/demo/os-keypairs?user_id=alice&limit=1',
                       version='2.35', headers=ALICE, status=200)
    assert resp.json['keypairs_links'][0]['href'] == (
        'http://localhost/v2.1/demo/os-keypairs?limit=1&user_id=alice&marker=a')
    resp = api.request('GET', URL + '?marker=zz', version='2.35', headers=ALICE,
                       status=400)
    assert _message(resp) == 'Marker zz could not be found.'
    for bad, message in (('x', 'limit param must be an integer'),
                         ('-1', 'limit param must be positive')):
        resp = api.request('GET', URL + '?limit=' + bad, version='2.35', headers=ALICE,
                           status=400)
        assert _message(resp) == message


# --- key_name on servers --------------------------------------------------------


def _server(api, sid, headers=ALICE, version='2.54'):
    return api.request('GET', '/v2.1/servers/' + sid, version=version,
                       headers=headers).json['server']


def test_create_with_key_name_injects_the_key_and_shows_it(api):
    public = _ed25519() + ' alice@laptop'
    _create(api, name='mine', public_key=public, status=200)
    resp = api.create(key_name='mine', headers=ALICE)
    sid = resp.json['server']['id']
    assert _server(api, sid)['key_name'] == 'mine'
    assert _server(api, sid)['status'] == 'ACTIVE'
    assert api.fake.requests[-1].key == public
    contract.check('servers', 'get_server', '2.54', api.request(
        'GET', '/v2.1/servers/' + sid, version='2.54', headers=ALICE))
    # The metadata (config drive, metadata service) has it, even after the key pair
    # is deleted: the server keeps the key it was given, as Nova's instance.keypairs.
    api.request('DELETE', URL + '/mine', headers=ALICE, status=202)
    info = instance_mod.load(api.app.db, sid)
    assert info.public_keys == {'mine': public}
    assert info.keys == [{'name': 'mine', 'type': 'ssh', 'data': public}]


def test_create_with_unknown_or_someone_elses_key_is_400(api):
    _create(api, name='bobs', headers=BOB, status=200)
    for name in ('nope', 'bobs'):
        resp = api.create(status=400, wait=False, key_name=name, headers=ALICE)
        assert _message(resp) == 'Invalid key_name provided.'
    assert api.request('GET', '/v2.1/servers', headers=ALICE).json['servers'] == []


def test_create_without_key_injects_none(api):
    sid = api.create(headers=ALICE).json['server']['id']
    assert _server(api, sid)['key_name'] is None
    assert api.fake.requests[-1].key is None
    assert instance_mod.load(api.app.db, sid).public_keys == {}


def test_x509_key_reaches_metadata_not_authorized_keys(api):
    cert = _create(api, '2.2', name='win', type='x509', status=201).json['keypair']
    sid = api.create(key_name='win', headers=ALICE).json['server']['id']
    assert _server(api, sid)['status'] == 'ACTIVE'
    assert api.fake.requests[-1].key is None
    info = instance_mod.load(api.app.db, sid)
    assert info.keys == [{'name': 'win', 'type': 'x509', 'data': cert['public_key']}]


def _rebuild(api, sid, version='2.54', status=202, **args):
    args.setdefault('imageRef', api.image_id)
    resp = api.request('POST', '/v2.1/servers/%s/action' % sid, {'rebuild': args},
                       version=version, headers=ALICE, status=status)
    api.app.compute.wait()
    return resp


def test_rebuild_sets_keeps_and_unsets_the_key_from_2_54(api):
    first, second = _ed25519(), _ed25519()
    _create(api, name='one', public_key=first, status=200)
    _create(api, name='two', public_key=second, status=200)
    sid = api.create(key_name='one', headers=ALICE).json['server']['id']
    # Absent: the key stays and is written again.
    resp = _rebuild(api, sid)
    assert resp.json['server']['key_name'] == 'one'
    assert api.fake.requests[-1].key == first
    resp = _rebuild(api, sid, key_name='two')
    contract.check('servers', 'rebuild_server_with_admin_pass', '2.54', resp)
    assert resp.json['server']['key_name'] == 'two'
    assert _server(api, sid)['key_name'] == 'two'
    assert api.fake.requests[-1].key == second
    assert instance_mod.load(api.app.db, sid).public_keys == {'two': second}
    resp = _rebuild(api, sid, key_name=None)
    assert resp.json['server']['key_name'] is None
    assert _server(api, sid)['key_name'] is None
    assert api.fake.requests[-1].key is None
    assert instance_mod.load(api.app.db, sid).public_keys == {}


def test_rebuild_key_name_errors(api):
    _create(api, name='one', public_key=_ed25519(), status=200)
    sid = api.create(key_name='one', headers=ALICE).json['server']['id']
    resp = _rebuild(api, sid, key_name='nope', status=400)
    assert _message(resp) == 'Invalid key_name provided.'
    resp = _rebuild(api, sid, version='2.53', key_name='one', status=400)
    assert 'key_name' in _message(resp)
    assert _server(api, sid)['key_name'] == 'one'


def test_key_on_a_host_without_injection_is_not_a_failure(api_disabled):
    """The real core with injection disabled: the key is reported not injected (it
    reaches the guest through the metadata), and the server is ACTIVE."""
    api = api_disabled
    _create(api, name='k', public_key=_ed25519(), status=200)
    sid = api.create(key_name='k', headers=ALICE).json['server']['id']
    server = _server(api, sid)
    assert server['status'] == 'ACTIVE', server.get('fault')
    inst = api.app.db.instance_get(sid)
    report = {m.key: m.value for m in inst.system_metadata_items}['inject_report']
    items = [i for i in json.loads(report)['items'] if i['kind'] == 'key']
    assert len(items) == 1 and items[0]['status'] != 'injected', report
