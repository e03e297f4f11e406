"""The Image API of a real inject-api process through the real ``openstack`` CLI:
``image show`` displays the sidecar's Glance properties, ``image save`` downloads
/v2/images/{id}/file and verifies it against os_hash_value (openstacksdk does), and
``server create`` from an image with ``img_config_drive = mandatory`` gives the
server a config drive it did not ask for."""

import hashlib
import json
import os

import pycdlib
import pytest

from tests.api import support
from tests.clients.conftest import InjectApi, run_openstack

PROPERTIES = {'img_config_drive': 'mandatory', 'os_type': 'linux',
              'os_distro': 'debian'}


@pytest.fixture(scope='module')
def images_api(tmp_path_factory):
    state = tmp_path_factory.mktemp('inject-api-images-clients')
    support.make_image(state, name='needs-drive')
    (state / 'images' / 'needs-drive.json').write_text(json.dumps(PROPERTIES))
    support.make_image(state, name='lying')
    (state / 'images' / 'lying.json').write_text(json.dumps(
        {'os_hash_algo': 'sha512', 'os_hash_value': 'f' * 128}))
    api = InjectApi(state)
    yield api
    api.stop()


@pytest.fixture(scope='module')
def osc(images_api, other_services):
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    env.update(OS_AUTH_TYPE='none', OS_COMPUTE_ENDPOINT_OVERRIDE=images_api.endpoint,
               OS_IMAGE_ENDPOINT_OVERRIDE=images_api.endpoint + '/v2',
               OS_IMAGE_API_VERSION='2',
               OS_IDENTITY_ENDPOINT_OVERRIDE=other_services.url + '/identity/v3')

    def run(*args, **kwargs):
        return run_openstack(args, env, images_api.state, **kwargs)
    return run


def test_image_show_displays_the_properties(osc, images_api):
    shown = osc('image', 'show', 'needs-drive')
    assert {k: shown['properties'][k] for k in PROPERTIES} == PROPERTIES
    data = (images_api.state / 'images' / 'needs-drive.qcow2').read_bytes()
    assert shown['checksum'] == hashlib.md5(data).hexdigest()
    assert shown['status'] == 'active' and shown['disk_format'] == 'qcow2'


def test_image_save_downloads_the_verified_file(osc, images_api, tmp_path):
    target = tmp_path / 'saved.qcow2'
    osc('image', 'save', '--file', str(target), 'needs-drive', fmt=None)
    assert target.read_bytes() == (
        images_api.state / 'images' / 'needs-drive.qcow2').read_bytes()


def test_image_save_refuses_data_that_is_not_the_recorded_hash(osc, tmp_path):
    code, out = osc('image', 'save', '--file', str(tmp_path / 'x'), 'lying', fmt=None,
                    check=False)
    assert code != 0 and 'checksum mismatch' in out


def test_a_mandatory_config_drive_image_gives_a_drive(osc, images_api):
    created = osc('server', 'create', '--image', 'needs-drive', '--flavor', 'm1.tiny',
                  '--wait', 'drive-by-image')
    assert created['status'] == 'ACTIVE'
    shown = osc('server', 'show', created['id'])
    assert shown['config_drive'] == 'True'
    iso = pycdlib.PyCdlib()
    iso.open(os.path.join(images_api.state, 'instances', created['id'], 'disk.config'))
    try:
        assert iso.pvd.volume_identifier.decode('ascii').rstrip() == 'config-2'
    finally:
        iso.close()
