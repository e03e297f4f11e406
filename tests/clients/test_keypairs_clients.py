"""Real clients on os-keypairs and ``key_name``: the nova CLI (``keypair-add`` generating
and importing, ``keypair-list``, ``keypair-show``, ``keypair-delete``, ``boot
--key-name``), openstacksdk (``create_keypair``, ``keypairs()``, ``find_keypair``,
``delete_keypair``, a server created with ``key_name``) and the ``openstack`` CLI
(``keypair create``/``list``/``show``/``delete``). Injection is disabled on this
inject-api (the shipped default): servers still become ACTIVE, with their key
recorded for the metadata."""

import json
import re
import urllib.request

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.clients.test_openstackclient import osc  # noqa: F401


def _field(out, name):
    match = re.search(r'^\|\s*%s\s*\|\s*(.*?)\s*\|$' % re.escape(name), out, re.M)
    return match.group(1) if match else None


def _public_key():
    key = ed25519.Ed25519PrivateKey.generate()
    return key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def _keypair(api, name):
    with urllib.request.urlopen('%s/os-keypairs/%s' % (api.endpoint, name)) as r:
        return json.load(r)['keypair']


def test_nova_keypair_add_list_show_delete(disabled_api):
    _, out = disabled_api.nova('keypair-add', 'nova-gen', version='2.57')
    assert out.startswith('-----BEGIN RSA PRIVATE KEY-----'), out
    serialization.load_pem_private_key(out.strip().encode(), None)
    pub = disabled_api.state / 'nova.pub'
    public = _public_key()
    pub.write_text(public + '\n')
    disabled_api.nova('keypair-add', '--pub-key', str(pub), 'nova-imp', version='2.57')
    _, out = disabled_api.nova('keypair-list', version='2.57')
    assert re.search(r'\|\s*nova-gen\s*\|\s*ssh\s*\|', out), out
    assert re.search(r'\|\s*nova-imp\s*\|\s*ssh\s*\|', out), out
    _, out = disabled_api.nova('keypair-show', 'nova-imp', version='2.57')
    assert public in out
    assert _field(out, 'fingerprint') == _keypair(disabled_api, 'nova-imp')['fingerprint']
    disabled_api.nova('keypair-delete', 'nova-imp', version='2.57')
    status, out = disabled_api.nova('keypair-show', 'nova-imp', version='2.57',
                                    check=False)
    assert status != 0 and 'Keypair nova-imp not found for user' in out


def test_nova_boot_with_key_name(disabled_api):
    pub = disabled_api.state / 'boot.pub'
    public = _public_key()
    pub.write_text(public + '\n')
    disabled_api.nova('keypair-add', '--pub-key', str(pub), 'boot-key', version='2.57')
    _, out = disabled_api.nova('boot', '--image', 'cirros', '--flavor', '1', '--nic',
                               'none', '--key-name', 'boot-key', 'keyed', version='2.57')
    sid = _field(out, 'id')
    assert _field(out, 'key_name') == 'boot-key'
    assert disabled_api.wait_status(sid)['status'] == 'ACTIVE'
    _, out = disabled_api.nova('show', sid, version='2.57')
    assert _field(out, 'key_name') == 'boot-key'
    status, out = disabled_api.nova('boot', '--image', 'cirros', '--flavor', '1',
                                    '--nic', 'none', '--key-name', 'missing', 'nokey',
                                    version='2.57', check=False)
    assert status != 0 and 'Invalid key_name provided.' in out


def test_openstacksdk_keypairs_and_server_key_name(disabled_api):
    conn = disabled_api.sdk(version='2.57')
    generated = conn.compute.create_keypair(name='sdk-gen')
    assert generated.private_key.startswith('-----BEGIN RSA PRIVATE KEY-----')
    assert generated.type == 'ssh'
    public = _public_key()
    imported = conn.compute.create_keypair(name='sdk-imp', public_key=public)
    assert imported.public_key == public and imported.private_key is None
    names = {k.name for k in conn.compute.keypairs()}
    assert {'sdk-gen', 'sdk-imp'} <= names
    found = conn.compute.find_keypair('sdk-imp')
    assert found.fingerprint == imported.fingerprint
    # The cloud layer, as scripts use it.
    assert conn.get_keypair('sdk-gen').public_key == generated.public_key
    with urllib.request.urlopen(disabled_api.endpoint + '/v2/images?name=cirros') as r:
        image_id = json.load(r)['images'][0]['id']
    server = conn.compute.create_server(name='sdk-keyed', image_id=image_id,
                                        flavor_id='1', networks='none',
                                        key_name='sdk-imp')
    server = conn.compute.wait_for_server(server, wait=300)
    assert server.key_name == 'sdk-imp'
    conn.compute.delete_keypair('sdk-imp')
    assert conn.compute.find_keypair('sdk-imp') is None
    # The server keeps its key after the key pair is gone.
    assert conn.compute.get_server(server.id).key_name == 'sdk-imp'


def test_openstack_keypair_commands(osc, disabled_api):  # noqa: F811
    pub = disabled_api.state / 'osc.pub'
    public = _public_key()
    pub.write_text(public + '\n')
    created = osc('keypair', 'create', '--public-key', str(pub), 'osc-imp')
    assert created['name'] == 'osc-imp'
    assert created['fingerprint'] == _keypair(disabled_api, 'osc-imp')['fingerprint']
    listed = {k['Name']: k for k in osc('keypair', 'list')}
    assert listed['osc-imp']['Fingerprint'] == created['fingerprint']
    shown = osc('keypair', 'show', 'osc-imp')
    assert shown['name'] == 'osc-imp' and shown['user_id'] == 'inject'
    osc('keypair', 'delete', 'osc-imp', fmt=None)
    assert 'osc-imp' not in {k['Name'] for k in osc('keypair', 'list')}
