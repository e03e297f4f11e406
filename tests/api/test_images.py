"""The Image API inject-api serves from its image directory: Glance's properties
from the sidecar NAME.json (and checksums, recorded there or computed), the image's
data at /v2/images/{id}/file, and what a server makes of the properties
(img_config_drive = mandatory, Nova's image_* system metadata snapshot)."""

import hashlib
import json
import logging
import os

import pytest

from tests.api import contract
from tests.api.support import ADMIN, make_image


def sidecar(api, properties, name='cirros'):
    path = api.state_path / 'images' / ('%s.json' % name)
    path.write_text(properties if isinstance(properties, str) else json.dumps(properties))
    return path


def image_path(api, name='cirros'):
    return api.state_path / 'images' / ('%s.qcow2' % name)


def glance(api, image_id=None, status=200):
    return api.request('GET', '/v2.1/v2/images/%s' % (image_id or api.image_id),
                       status=status).json


def test_checksums_are_computed_once_per_file(api):
    data = image_path(api).read_bytes()
    body = glance(api)
    assert (body['checksum'], body['os_hash_algo'], body['os_hash_value']) == (
        hashlib.md5(data).hexdigest(), 'sha512', hashlib.sha512(data).hexdigest())
    assert body['status'] == 'active' and body['size'] == len(data)
    # a changed file gets its own hashes
    with open(image_path(api), 'ab') as f:
        f.write(b'\0' * 512)
    assert glance(api)['os_hash_value'] == hashlib.sha512(
        image_path(api).read_bytes()).hexdigest()


def test_sidecar_properties_are_served_as_glance_serves_them(api):
    sidecar(api, {'img_config_drive': 'mandatory', 'os_type': 'Linux',
                  'hw_qemu_guest_agent': 'yes', 'os_distro': 'debian'})
    body = glance(api)
    assert (body['img_config_drive'], body['os_type'], body['hw_qemu_guest_agent'],
            body['os_distro']) == ('mandatory', 'linux', 'yes', 'debian')
    listed, = api.request('GET', '/v2.1/v2/images?name=cirros', status=200).json[
        'images']
    assert listed == body
    resp = api.request('GET', '/v2.1/images/%s' % api.image_id, version='2.35',
                       status=200)
    proxy = contract.check('images', 'get_image', '2.35', resp)['image']
    assert proxy['metadata'] == {'img_config_drive': 'mandatory', 'os_type': 'linux',
                                 'hw_qemu_guest_agent': 'yes', 'os_distro': 'debian'}


def test_recorded_checksums_are_served_without_reading_the_file(api, monkeypatch):
    recorded = {'os_hash_algo': 'sha256', 'os_hash_value': 'ab' * 32,
                'checksum': 'cd' * 16}
    sidecar(api, recorded)
    from inject.api import image_properties
    monkeypatch.setattr(image_properties, '_computed_hashes', None)   # never called
    body = glance(api)
    assert {k: body[k] for k in recorded} == recorded
    resp = api.request('GET', '/v2.1/v2/images/%s/file' % api.image_id, status=200)
    assert resp.headers['Content-MD5'] == 'cd' * 16


@pytest.mark.parametrize('content,reason', [
    ('{"img_config_drive": "always"}',
     "img_config_drive must be one of optional, mandatory, not 'always'"),
    ('{"os_type": "beos"}', "os_type must be one of linux, windows, not 'beos'"),
    ('{"min_ram": "512"}', "it gives 'min_ram', which Glance derives from the image"),
    ('{"hw_foo": 1}', "the value of 'hw_foo' must be a string"),
    ('["a"]', 'it must hold a JSON object of Glance property names'),
    ('{"a": ', 'it is not JSON'),
    ('{"os_hash_algo": "sha512"}', 'os_hash_algo and os_hash_value go together'),
    ('{"os_hash_algo": "rot13", "os_hash_value": "00"}',
     "os_hash_algo 'rot13' is not a hash algorithm"),
    ('{"os_hash_algo": "sha512", "os_hash_value": "abc"}',
     'os_hash_value is not a sha512 digest (128 lower-case hex digits)'),
    ('{"checksum": "XYZ"}', 'checksum is not an MD5 digest'),
    (' ' * 70000 + '{}', 'it is larger than 65536 bytes'),
])
def test_a_broken_sidecar_makes_the_image_unusable(api, caplog, content, reason):
    caplog.set_level(logging.WARNING)
    path = sidecar(api, content)
    body = glance(api)
    assert body['status'] == 'killed'
    assert (body['checksum'], body['os_hash_value']) == (None, None)
    assert 'The image properties in %s cannot be used: %s' % (path, reason) in (
        caplog.text)
    resp = api.create(status=400, wait=False)
    assert resp.json['badRequest']['message'] == 'Image %s is not active.' % (
        api.image_id)
    api.request('GET', '/v2.1/v2/images/%s/file' % api.image_id, status=204)
    assert api.request('GET', '/v2.1/images/detail', version='2.35',
                       status=200).json['images'][0]['status'] == 'ERROR'


def test_the_file_is_the_image_byte_for_byte(api):
    data = image_path(api).read_bytes()
    resp = api.request('GET', '/v2.1/v2/images/%s/file' % api.image_id, status=200)
    assert resp.body == data
    assert resp.headers['Content-Type'] == 'application/octet-stream'
    assert resp.headers['Content-Length'] == str(len(data))
    assert resp.headers['Content-MD5'] == hashlib.md5(data).hexdigest()
    resp = api.request('GET', '/v2.1/v2/images/%s/file' % api.image_id, status=206,
                       headers={'Range': 'bytes=4-11'})
    assert resp.body == data[4:12]
    assert resp.headers['Content-Range'] == 'bytes 4-11/%d' % len(data)


@pytest.mark.parametrize('ident', [
    '00000000-0000-0000-0000-000000000000', 'cirros', 'cirros.qcow2',
    '..%2Fimages%2Fcirros.qcow2', '%2Fetc%2Fpasswd', '..', '.'])
def test_an_image_is_found_by_id_only(api, ident):
    api.request('GET', '/v2.1/v2/images/%s/file' % ident, status=404)


def test_raw_images_are_served_too(api):
    make_image(api.state_path, name='plain', fmt='raw')
    found = api.request('GET', '/v2.1/v2/images?name=plain', status=200).json['images']
    assert found[0]['disk_format'] == 'raw'
    resp = api.request('GET', '/v2.1/v2/images/%s/file' % found[0]['id'], status=200)
    assert len(resp.body) == os.path.getsize(image_path(api, 'plain').with_suffix('.raw'))


# --- what a server makes of its image's properties ---------------------------------------

def _sysmeta(api, sid):
    inst = api.app.db.instance_get(sid)
    return {m.key: m.value for m in inst.system_metadata_items}


def test_img_config_drive_mandatory_gives_a_config_drive(api):
    sidecar(api, {'img_config_drive': 'mandatory'})
    sid = api.create(version='2.57').json['server']['id']
    server = api.request('GET', '/v2.1/servers/%s' % sid, status=200).json['server']
    assert server['status'] == 'ACTIVE' and server['config_drive'] == 'True'
    assert os.path.exists(api.app.compute.config_drive_path(sid))
    # "config_drive": false does not override the image's requirement (Nova)
    sid = api.create(version='2.57', config_drive=False).json['server']['id']
    assert os.path.exists(api.app.compute.config_drive_path(sid))


def test_img_config_drive_optional_gives_none(api):
    sidecar(api, {'img_config_drive': 'optional'})
    sid = api.create(version='2.57').json['server']['id']
    assert not os.path.exists(api.app.compute.config_drive_path(sid))


def test_a_rebuild_to_a_mandatory_image_gets_a_config_drive(api):
    sid = api.create(version='2.57').json['server']['id']
    assert not os.path.exists(api.app.compute.config_drive_path(sid))
    make_image(api.state_path, name='needs-drive')
    sidecar(api, {'img_config_drive': 'mandatory', 'os_type': 'linux'},
            name='needs-drive')
    image = api.request('GET', '/v2.1/v2/images?name=needs-drive',
                        status=200).json['images'][0]['id']
    api.request('POST', '/v2.1/servers/%s/action' % sid,
                {'rebuild': {'imageRef': image}}, version='2.57', status=202)
    api.app.compute.wait()
    server = api.request('GET', '/v2.1/servers/%s' % sid, status=200).json['server']
    assert server['status'] == 'ACTIVE' and server['config_drive'] == 'True'
    assert os.path.exists(api.app.compute.config_drive_path(sid))
    assert _sysmeta(api, sid)['image_os_type'] == 'linux'


def test_the_image_properties_are_snapshotted_and_replaced_on_rebuild(api):
    sidecar(api, {'os_type': 'linux', 'hw_machine_type': 'q35', 'img_mappings': '[]'})
    sid = api.create(flavorRef='2').json['server']['id']
    meta = _sysmeta(api, sid)
    assert {k: v for k, v in meta.items() if k.startswith('image_')} == {
        'image_os_type': 'linux', 'image_hw_machine_type': 'q35',
        'image_min_ram': '0', 'image_min_disk': '20', 'image_disk_format': 'qcow2',
        'image_container_format': 'bare', 'image_base_image_ref': api.image_id}
    make_image(api.state_path, name='other', fmt='raw')
    other = api.request('GET', '/v2.1/v2/images?name=other', status=200).json[
        'images'][0]['id']
    api.request('POST', '/v2.1/servers/%s/action' % sid,
                {'rebuild': {'imageRef': other}}, status=202)
    api.app.compute.wait()
    meta = _sysmeta(api, sid)
    assert {k: v for k, v in meta.items() if k.startswith('image_')} == {
        'image_min_ram': '0', 'image_min_disk': '20', 'image_disk_format': 'raw',
        'image_container_format': 'bare', 'image_base_image_ref': other}
    assert meta['reservation_id'].startswith('r-')                 # others are kept


def test_the_snapshot_is_what_the_server_keeps(api):
    """Nova reads img_config_drive from the snapshot taken at boot: changing the
    sidecar later does not change a server already made (its rebuild to the same
    image takes the new snapshot)."""
    sid = api.create(version='2.57').json['server']['id']
    sidecar(api, {'img_config_drive': 'mandatory'})
    assert api.app.db.instance_get(sid).config_drive == ''
    assert 'image_img_config_drive' not in _sysmeta(api, sid)


def test_a_member_may_read_images(api):
    api.request('GET', '/v2.1/v2/images/%s/file' % api.image_id, status=200,
                headers={'X-Roles': 'reader'})
    api.request('GET', '/v2.1/v2/images/%s' % api.image_id, status=200, headers=ADMIN)
