"""Config drives asked for by unchanged clients against a real inject-api process:
``nova --os-compute-api-version 2.57 boot --config-drive true --user-data F --key-name K``
and openstacksdk's ``create_server(config_drive=True, userdata=..., key_name=K)``. The disk.config the
server gets is read back with pycdlib (label config-2, Rock Ridge names) and by
cloud-init's own ConfigDrive reader (tests/metadata/conftest.py runs it)."""

import base64
import io
import json
import os
import re

import pycdlib
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from inject.metadata import configdrive
from tests.api import support
from tests.clients.conftest import InjectApi
from tests.metadata.conftest import cloudinit_dir, cloudinit_read  # noqa: F401

USER_DATA = b'#cloud-config\nruncmd: [echo from-the-client]\n'
KEY = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
    serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
STATIC = {'cloud-init': '#cloud-config\npackages: [htop]\n'}


@pytest.fixture(scope='module')
def drive_api(tmp_path_factory):
    """inject-api as installed (injection disabled) with StaticJSON vendordata."""
    state = tmp_path_factory.mktemp('inject-api-configdrive')
    support.make_image(state)
    static = state / 'vendor_data.json'
    static.write_text(json.dumps(STATIC))
    api = InjectApi(state, extra_conf='[api]\nvendordata_jsonfile_path = %s\n' % static)
    yield api
    api.stop()


def _field(out, name):
    match = re.search(r'^\|\s*%s\s*\|\s*(.*?)\s*\|$' % re.escape(name), out, re.M)
    return match.group(1) if match else None


def _drive(api, server_id):
    return os.path.join(api.state, 'instances', server_id, 'disk.config')


def _pycdlib_read(path, rr_path):
    iso = pycdlib.PyCdlib()
    iso.open(path)
    try:
        label = iso.pvd.volume_identifier.decode('ascii').rstrip()
        out = io.BytesIO()
        iso.get_file_from_iso_fp(out, rr_path=rr_path)
        joliet = io.BytesIO()
        iso.get_file_from_iso_fp(joliet, joliet_path=rr_path)
        assert joliet.getvalue() == out.getvalue()
        return label, out.getvalue()
    finally:
        iso.close()


def _key_pair(api, name):
    """Import KEY as key pair ``name`` with the nova CLI."""
    key_file = os.path.join(api.state, 'id_ed25519.pub')
    with open(key_file, 'w') as f:
        f.write(KEY + '\n')
    api.nova('keypair-add', '--pub-key', key_file, name, version='2.57')
    return name


def _check_drive(api, server_id, tmp_path, cloudinit_read, key_name):  # noqa: F811
    path = _drive(api, server_id)
    label, user_data = _pycdlib_read(path, '/openstack/latest/user_data')
    assert label == 'config-2'
    assert user_data == USER_DATA
    _, md = _pycdlib_read(path, '/openstack/latest/meta_data.json')
    assert json.loads(md)['uuid'] == server_id
    tree = configdrive.extract_config_drive(path, str(tmp_path / 'tree'))
    res = cloudinit_read(tree)['result']
    assert res['version'] == 2
    assert res['metadata']['instance-id'] == server_id
    assert base64.b64decode(res['userdata']['b64']) == USER_DATA
    assert res['vendordata'] == STATIC
    assert res['vendordata2'] == {'static': STATIC}
    # stored as the client sent it (the nova CLI sends the file, newline included)
    assert {k: v.strip() for k, v in res['metadata']['public_keys'].items()} == {
        key_name: KEY}
    return res


def test_nova_boot_with_config_drive_and_user_data(drive_api, tmp_path,
                                                   cloudinit_read):  # noqa: F811
    user_data = tmp_path / 'user-data'
    user_data.write_bytes(USER_DATA)
    _, out = drive_api.nova('boot', '--image', 'cirros', '--flavor', '1', '--nic', 'none',
                            '--config-drive', 'true', '--user-data', str(user_data),
                            '--key-name', _key_pair(drive_api, 'k-nova'),
                            'vm-drive', version='2.57')
    server_id = _field(out, 'id')
    assert server_id
    server = drive_api.wait_status(server_id)
    assert server['status'] == 'ACTIVE', server
    _, out = drive_api.nova('show', server_id, version='2.57')
    assert _field(out, 'config_drive') == 'True'
    assert _field(out, 'key_name') == 'k-nova'
    res = _check_drive(drive_api, server_id, tmp_path, cloudinit_read, 'k-nova')
    assert res['metadata']['local-hostname'] == 'vm-drive.novalocal'
    drive_api.nova('delete', server_id, version='2.57')
    assert not os.path.exists(_drive(drive_api, server_id))


def test_openstacksdk_create_server_with_config_drive(drive_api, tmp_path,
                                                      cloudinit_read):  # noqa: F811
    conn = drive_api.sdk('2.57')
    image_id = next(i.id for i in drive_api.sdk().compute.images() if i.name == 'cirros')
    key_name = _key_pair(drive_api, 'k-sdk')
    server = conn.create_server('sdk-drive', image={'id': image_id}, flavor='1',
                                config_drive=True, userdata=USER_DATA.decode(),
                                key_name=key_name, wait=False, auto_ip=False)
    shown = drive_api.wait_status(server.id)
    assert shown['status'] == 'ACTIVE', shown
    assert conn.compute.get_server(server.id).has_config_drive in (True, 'True')
    _check_drive(drive_api, server.id, tmp_path, cloudinit_read, key_name)
    conn.compute.delete_server(server.id)
