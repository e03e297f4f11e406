"""Appliance device names, and layouts relative to a drive.

Inside the appliance the drive at index N is ``/dev/sdX`` (0 -> /dev/sda, 26 ->
/dev/sdaa) and its partitions ``/dev/sdXN``. A layout names each mounted device
relative to its drive ('whole', 'part:N' or 'lv:VG/LV'), so a layout remembered from
one disk applies to another disk built on the same base image, whichever drive it is.
"""

import re
import string


def device_name(index):
    """The appliance device of the drive at ``index``: 0 -> /dev/sda, 26 -> /dev/sdaa."""
    letters = ''
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = string.ascii_lowercase[rem] + letters
    return '/dev/sd' + letters


def partition_number(device, dev):
    """N when ``dev`` is partition N of the drive ``device``, else None.

    /dev/sda2 is partition 2 of /dev/sda; /dev/sdab1 is not a partition of /dev/sda.
    """
    match = re.fullmatch(re.escape(device) + r'(\d+)', dev)
    return int(match.group(1)) if match else None


def relative(device, dev):
    """``dev`` as seen from its drive ``device``: 'whole', 'part:N' or 'lv:VG/LV'."""
    if dev == device:
        return 'whole'
    number = partition_number(device, dev)
    if number is not None:
        return 'part:%d' % number
    return 'lv:' + dev[len('/dev/'):]


def absolute(device, spec):
    """The appliance device of a spec from :func:`relative` on drive ``device``."""
    kind, _, rest = spec.partition(':')
    if kind == 'whole':
        return device
    if kind == 'part' and rest.isdigit():
        return device + rest
    if (kind == 'lv' and re.fullmatch(r'[\w.+-]+/[\w.+-]+', rest)
            and not {'.', '..'} & set(rest.split('/'))):
        return '/dev/' + rest
    raise ValueError('not a device spec: %r' % spec)
