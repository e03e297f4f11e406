"""What a server create request boots, given its block device mappings.

inject-api has local disks made from base images and nothing else: no block storage,
no swap or ephemeral disks (every flavor has none). The one mapping it serves is the one
clients send for a plain image boot (python-openstackclient always does)::

    {"uuid": IMAGE, "source_type": "image", "destination_type": "local",
     "boot_index": 0}

next to ``"imageRef": IMAGE``: the same boot as ``imageRef`` alone. Every other mapping
is refused with the 400 Nova gives for it; volumes and snapshots with the answer Nova
gives when Cinder does not have them ("Block Device Mapping is Invalid: failed to get
volume X."), since there is no volume here.
"""

from inject.api import catalog
from inject.api import faults

_PREFIX = 'Block Device Mapping is Invalid: '


def _invalid(details):
    return faults.BadRequest(_PREFIX + details)


def _boot_index(mapping):
    index = mapping.get('boot_index', -1)
    return -1 if index is None else int(index)


def _is_root_image(mapping):
    return (mapping.get('source_type') == 'image'
            and mapping.get('destination_type') == 'local')


def image_ref(server):
    """The ``imageRef`` to boot for the create request body ``server`` (validated
    against the create schema), or a 400 Fault naming what cannot be served."""
    ref = server.get('imageRef')
    legacy = server.get('block_device_mapping') or []
    mappings = server.get('block_device_mapping_v2') or []
    if legacy and mappings:
        raise faults.BadRequest('Using different block_device_mapping syntaxes is not '
                                'allowed in the same request.')
    legacy = [m for m in legacy if not m.get('no_device')]
    mappings = [m for m in mappings if not m.get('no_device')]
    has_ref = ref not in (None, '')
    # What Nova's BlockDeviceDict.from_api checks of each mapping.
    for m in mappings:
        source = m.get('source_type')
        if source == 'blank' and m.get('uuid'):
            raise _invalid('Invalid device UUID.')
        if source != 'blank' and not m.get('uuid'):
            raise _invalid('Missing device UUID.')
        if _is_root_image(m) and not (has_ref and _boot_index(m) == 0):
            raise _invalid('Mapping image to local is not supported.')
    if not has_ref:
        if legacy or mappings:
            # A volume-backed boot: whatever it names, there is no volume here.
            _refuse(legacy + mappings)
        raise faults.BadRequest('Missing imageRef attribute')
    roots = [m for m in mappings if _is_root_image(m)]
    if len(roots) > 1:
        raise _invalid('Boot sequence for the instance and image/block device mapping '
                       'combination is not valid.')
    _refuse(legacy + [m for m in mappings if not _is_root_image(m)])
    if roots and roots[0]['uuid'] != catalog.ref_id(ref):
        raise _invalid('the image mapped to the local root disk (%s) must be the '
                       'imageRef (%s): inject-api boots imageRef.'
                       % (roots[0]['uuid'], ref))
    return ref


def _refuse(mappings):
    """A 400 for the first of ``mappings``, which inject-api cannot serve."""
    for m in mappings:
        source = m.get('source_type')
        volume = m.get('volume_id') or (source == 'volume' and m.get('uuid'))
        if volume:
            raise _invalid('failed to get volume %s.' % volume)
        snapshot = m.get('snapshot_id') or (source == 'snapshot' and m.get('uuid'))
        if snapshot:
            raise _invalid('failed to get snapshot %s.' % snapshot)
        if source == 'image':
            raise _invalid('image %s cannot be copied to a volume: inject-api has no '
                           'block storage (destination_type=volume is not supported).'
                           % m.get('uuid'))
        virtual_name = m.get('virtual_name', '')
        if m.get('guest_format') == 'swap' or virtual_name.startswith('swap'):
            raise faults.BadRequest(
                'Swap drive requested is larger than instance type allows.')
        if ((source == 'blank' and m.get('destination_type') != 'volume')
                or virtual_name.startswith('ephemeral')):
            raise faults.BadRequest(
                'Ephemeral disks requested are larger than the instance type allows. '
                'If no size is given in one block device mapping, flavor ephemeral '
                'size will be used.')
        raise _invalid('inject-api serves no block storage, swap or ephemeral disks; '
                       'boot from imageRef alone.')
