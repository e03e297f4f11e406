"""What ``inject_partition`` (and a request's ``partition``) means: named once, here.

Nova's ``[libvirt]inject_partition`` semantics, which operators depend on:

* ``DISABLED`` (-2): no injection on this host; every requested item is reported as
  not injected, and no appliance starts.
* ``INSPECT`` (-1): find the guest's operating system (root probe, then libguestfs
  inspection) and mount its root and the other filesystems of its fstab.
* ``WHOLE_DISK`` (0): the disk holds one filesystem, no partition table.
* N > 0: partition N of the disk.
"""

DISABLED = -2
INSPECT = -1
WHOLE_DISK = 0

DISABLED_REASON = 'not injected: disabled by inject_partition=-2 on this host'


def is_valid(value):
    """True for an int (not a bool) that is a sentinel or a partition number."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= DISABLED


def describe(value):
    """A short phrase for logs and reports: 'disabled', 'inspection', 'partition 2'..."""
    if value == DISABLED:
        return 'disabled'
    if value == INSPECT:
        return 'inspection'
    if value == WHOLE_DISK:
        return 'whole disk'
    return 'partition %d' % value
