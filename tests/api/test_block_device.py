"""Block device mappings on server create: the image-to-local root mapping that
python-openstackclient always sends is the boot ``imageRef`` asks for; every other
mapping is refused with Nova's 400."""

import pytest

from inject.api import block_device
from inject.api import faults

VOLUME = '9d6a4c3e-4bd5-4b3c-a9ae-d7f1cfd7cb0a'
SNAPSHOT = '5e1a5b1e-2b0a-4d83-9b8c-6d3c9a5d2f10'
OTHER_IMAGE = '0a7a0f0e-0c6b-4bd8-8d7c-1d0f0a6c9e55'


def _root(image_id, **extra):
    """The mapping ``openstack server create --image`` sends."""
    return dict({'uuid': image_id, 'boot_index': 0, 'source_type': 'image',
                 'destination_type': 'local', 'delete_on_termination': True}, **extra)


def _message(resp):
    return resp.json['badRequest']['message']


def test_openstackclient_image_boot_is_the_imageref_boot(api):
    resp = api.create(block_device_mapping_v2=[_root(api.image_id)])
    sid = resp.json['server']['id']
    server = api.request('GET', '/v2.1/servers/' + sid, status=200).json['server']
    assert server['status'] == 'ACTIVE'
    assert server['image']['id'] == api.image_id


@pytest.mark.parametrize('boot_index', [0, '0'])
def test_root_mapping_at_every_version(api, boot_index):
    for version in ('2.1', '2.32', '2.42', '2.57'):
        api.create(version=version, wait=False,
                   block_device_mapping_v2=[_root(api.image_id, boot_index=boot_index)])
    api.app.compute.wait()


def test_no_device_entries_are_ignored(api):
    api.create(block_device_mapping_v2=[_root(api.image_id),
                                        {'device_name': 'vdb', 'no_device': True}])


@pytest.mark.parametrize('server,message', [
    # OSC --boot-from-volume: imageRef '' and the image copied to a volume
    ({'imageRef': '', 'block_device_mapping_v2': [
        dict(_root('IMAGE'), destination_type='volume', volume_size=1)]},
     'Block Device Mapping is Invalid: image IMAGE cannot be copied to a volume'),
    # OSC --volume
    ({'imageRef': '', 'block_device_mapping_v2': [
        {'uuid': VOLUME, 'boot_index': 0, 'source_type': 'volume',
         'destination_type': 'volume'}]},
     'Block Device Mapping is Invalid: failed to get volume %s.' % VOLUME),
    # OSC --snapshot
    ({'imageRef': '', 'block_device_mapping_v2': [
        {'uuid': SNAPSHOT, 'boot_index': 0, 'source_type': 'snapshot',
         'destination_type': 'volume', 'delete_on_termination': False}]},
     'Block Device Mapping is Invalid: failed to get snapshot %s.' % SNAPSHOT),
    # an extra volume next to an image boot
    ({'block_device_mapping_v2': [_root('IMAGE'), {
        'uuid': VOLUME, 'boot_index': 1, 'source_type': 'volume',
        'destination_type': 'volume'}]},
     'Block Device Mapping is Invalid: failed to get volume %s.' % VOLUME),
    # the legacy syntax
    ({'block_device_mapping': [{'volume_id': VOLUME, 'device_name': 'vda'}]},
     'Block Device Mapping is Invalid: failed to get volume %s.' % VOLUME),
    ({'imageRef': '', 'block_device_mapping': [{'snapshot_id': SNAPSHOT}]},
     'Block Device Mapping is Invalid: failed to get snapshot %s.' % SNAPSHOT),
    # OSC --swap and --ephemeral: every flavor here has neither
    ({'block_device_mapping_v2': [_root('IMAGE'), {
        'boot_index': -1, 'source_type': 'blank', 'destination_type': 'local',
        'guest_format': 'swap', 'volume_size': 1}]},
     'Swap drive requested is larger than instance type allows.'),
    ({'block_device_mapping_v2': [_root('IMAGE'), {
        'boot_index': -1, 'source_type': 'blank', 'destination_type': 'local',
        'volume_size': 1}]},
     'Ephemeral disks requested are larger than the instance type allows.'),
    ({'block_device_mapping_v2': [_root('IMAGE'), {
        'boot_index': -1, 'source_type': 'blank', 'destination_type': 'volume',
        'volume_size': 1}]},
     'Block Device Mapping is Invalid: inject-api serves no block storage'),
    # what Nova's BlockDeviceDict.from_api refuses
    ({'imageRef': '', 'block_device_mapping_v2': [_root('IMAGE')]},
     'Block Device Mapping is Invalid: Mapping image to local is not supported.'),
    ({'block_device_mapping_v2': [_root('IMAGE', boot_index=1)]},
     'Block Device Mapping is Invalid: Mapping image to local is not supported.'),
    ({'block_device_mapping_v2': [_root('IMAGE', boot_index=None)]},
     'Block Device Mapping is Invalid: Mapping image to local is not supported.'),
    ({'block_device_mapping_v2': [_root('IMAGE'), {
        'uuid': VOLUME, 'source_type': 'blank', 'destination_type': 'local'}]},
     'Block Device Mapping is Invalid: Invalid device UUID.'),
    ({'block_device_mapping_v2': [_root('IMAGE'), {
        'source_type': 'volume', 'destination_type': 'volume'}]},
     'Block Device Mapping is Invalid: Missing device UUID.'),
    ({'block_device_mapping_v2': [_root('IMAGE'), _root('IMAGE')]},
     'Block Device Mapping is Invalid: Boot sequence for the instance and image/block '
     'device mapping combination is not valid.'),
    ({'block_device_mapping': [{'volume_id': VOLUME}],
      'block_device_mapping_v2': [_root('IMAGE')]},
     'Using different block_device_mapping syntaxes is not allowed in the same '
     'request.'),
    # a root image that is not the imageRef (inject-api boots imageRef only)
    ({'block_device_mapping_v2': [_root(OTHER_IMAGE)]},
     'Block Device Mapping is Invalid: the image mapped to the local root disk (%s) '
     'must be the imageRef' % OTHER_IMAGE),
    # no image at all
    ({'imageRef': ''}, 'Missing imageRef attribute'),
    ({'imageRef': None}, 'Missing imageRef attribute'),
])
def test_refused_mappings(api, server, message):
    body = dict({'name': 'vm', 'imageRef': api.image_id, 'flavorRef': '1'}, **server)
    if body['imageRef'] is None:
        del body['imageRef']
    for mappings in (body.get('block_device_mapping_v2') or []):
        if mappings.get('uuid') == 'IMAGE':
            mappings['uuid'] = api.image_id
    message = message.replace('IMAGE', api.image_id)
    resp = api.request('POST', '/v2.1/servers', {'server': body}, status=400)
    assert _message(resp).startswith(message), _message(resp)
    assert api.app.db.instance_list() == []


@pytest.mark.parametrize('version,accepted', [
    ('2.31', False), ('2.32', True), ('2.33', False), ('2.41', False), ('2.42', True)])
def test_device_tag_versions(api, version, accepted):
    resp = api.create(version=version, wait=False, status=None,
                      block_device_mapping_v2=[_root(api.image_id, tag='root')])
    assert resp.status_int == (202 if accepted else 400), resp.text
    if not accepted:
        assert "'tag' was unexpected" in _message(resp)


@pytest.mark.parametrize('mapping,field', [
    ({'source_type': 'iscsi'}, 'source_type'),
    ({'destination_type': 'remote'}, 'destination_type'),
    ({'boot_index': 'first'}, 'boot_index'),
    ({'uuid': 'a b'}, 'uuid'),
    ({'volume_size': 0}, 'volume_size'),
    ({'delete_on_termination': 'maybe'}, 'delete_on_termination'),
    ({'volume_type': 'fast'}, None),         # 2.67, beyond what is served
])
def test_schema_refusals(api, mapping, field):
    resp = api.create(wait=False, status=400,
                      block_device_mapping_v2=[_root(api.image_id, **mapping)])
    message = _message(resp)
    if field:
        assert message.startswith('Invalid input for field/attribute %s.' % field)
    else:
        assert "'volume_type' was unexpected" in message


def test_image_ref_is_pure():
    """block_device.image_ref needs no catalog: the ref it returns is looked up later."""
    assert block_device.image_ref({'imageRef': 'x'}) == 'x'
    assert block_device.image_ref(
        {'imageRef': 'http://host/images/x', 'block_device_mapping_v2': [_root('x')]}) \
        == 'http://host/images/x'
    with pytest.raises(faults.Fault) as e:
        block_device.image_ref({'imageRef': ''})
    assert e.value.code == 400
