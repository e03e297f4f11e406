"""Finding what to mount for ``inject_partition``: partitions, the root probe, inspection.

* Partition N: :func:`check_partition` explains a missing one (which partitions the
  drive has instead).
* -1, first the root probe (:func:`probe`): ``inspect_os`` costs 6-14 s under TCG,
  mostly in ``list_filesystems``; the probe looks only at one drive's partitions and
  answers when it is sure.
* -1, then inspection (:class:`Inspection`): ``inspect_os`` once per appliance, its
  roots shared out to the drives that hold them (an LV's drive found through its PV).

Every function takes the raw libguestfs handle ``g`` and appliance device names
(:mod:`inject.vfs.devices`); mountpoints are returned as [(mountpoint, device)], '/'
first and every parent before its children.
"""

import logging
import re

from inject import exception
from inject.vfs import devices
from inject.vfs import fstab
from inject.vfs import handle

LOG = logging.getLogger(__name__)

ROOT_FS_TYPES = frozenset({'ext2', 'ext3', 'ext4', 'xfs', 'btrfs'})
#: what the probe leaves to inspection: it cannot see inside these
NEEDS_INSPECTION = frozenset({'LVM2_member', 'linux_raid_member', 'crypto_LUKS',
                              'zfs_member'})
#: a filesystem with /etc and one of these is an operating system's root
OS_MARKERS = ('/etc/fstab', '/etc/os-release', '/usr/lib/os-release')
#: an appliance disk or partition name, as opposed to an LV path (/dev/VG/LV)
_DISK_NAME = re.compile(r'/dev/sd[a-z]+\d*')


def partitions_of(g, device):
    """The appliance devices of the partitions of drive ``device``, in order."""
    return [p for p in g.list_partitions()
            if devices.partition_number(device, p) is not None]


def check_partition(g, device, partition, image_name):
    """Raise PartitionNotFound when partition ``partition`` is not on drive ``device``."""
    found = partitions_of(g, device)
    if '%s%d' % (device, partition) not in found:
        numbers = ['%d' % devices.partition_number(device, p) for p in found]
        raise exception.PartitionNotFound(
            image=image_name, partition=partition,
            found='its partitions: ' + ', '.join(numbers) if numbers
            else 'it has no partition table')


def unreadable(g, device):
    """Why drive ``device`` cannot be read at all (the error reading its first sector),
    or None when it can.

    A disk image qemu cannot read -- a qcow2 whose L1 table is corrupt, a truncated
    file, an I/O error on the host -- shows in the appliance as a disk with no partition
    table and no filesystem; this tells such a disk from a blank one.
    """
    try:
        g.pread_device(device, 512, 0)
    except RuntimeError as e:
        return handle.error_text(e)
    return None


def _by_length(mountpoints):
    return sorted(mountpoints, key=lambda m: (len(m[0]), m[0]))


def probe(g, device, image_name, read):
    """Mountpoints of the one Linux root on drive ``device`` found without inspection,
    or None when the quick look is not sure (the caller then inspects).

    It looks only at this drive's partitions (or its whole device): ``vfs_type`` each,
    mount the ext/xfs/btrfs ones read-only and keep those with an OS's /etc. Exactly one
    such root, whose /etc/fstab names its other filesystems by UUID or LABEL (or
    PARTUUID, PARTLABEL) on this drive, is mounted as inspection would mount it.
    LVM, RAID, LUKS, several roots, none, or an fstab entry it cannot resolve: None.
    ``read(path)`` reads a file of the root mounted at /. Nothing is left mounted.
    """
    candidates = partitions_of(g, device) or [device]
    types = {}
    for dev in candidates:
        types[dev] = _vfs_type(g, dev)
        if types[dev] in NEEDS_INSPECTION:
            LOG.info('%s holds %s on %s: inspecting it', image_name, types[dev], dev)
            return None
    roots = []
    for dev in candidates:
        if types[dev] not in ROOT_FS_TYPES:
            continue
        try:
            g.mount_ro(dev, '/')
            if g.is_dir('/etc') and any(g.is_file(p) for p in OS_MARKERS):
                text = read('/etc/fstab') if g.is_file('/etc/fstab') else b''
                roots.append((dev, text.decode('utf-8', 'replace')))
        except (RuntimeError, exception.InjectError) as e:
            LOG.debug('%s on %s is not a root: %s', dev, image_name, handle.error_text(e))
        finally:
            handle.umount_all(g)
    if len(roots) != 1:
        return None
    root, text = roots[0]
    mountpoints = [('/', root)]
    ids = None
    for spec, mountpoint in fstab.mounts(text):
        if ids is None:
            ids = {dev: _blkid(g, dev) for dev in candidates}
        found = [dev for dev, tags in ids.items() if fstab.matches(spec, tags)]
        if len(found) != 1:
            LOG.info('%s: /etc/fstab entry %s %s is not resolved to one device of this '
                     'disk; inspecting it', image_name, spec, mountpoint)
            return None
        mountpoints.append((mountpoint, found[0]))
    LOG.info('%s: root %s found without inspection', image_name, root)
    return _by_length(mountpoints)


class Inspection:
    """``inspect_os`` run once for an appliance, its roots shared out to their drives.

    ``drives`` is the appliance's own list of drive devices, by index (None for one
    detached since); it is read at each call.
    """

    def __init__(self, g, drives):
        self._g = g
        self._drives = drives
        self._roots = None   # {drive index: [root device]} once inspected

    def mountpoints(self, index, image_name):
        """Mountpoints of the one OS root on drive ``index``, '/' first.

        ``inspect_os`` scans every drive of the appliance, so it runs once and its roots
        are shared out to their drives. A mountpoint the guest's fstab places on another
        drive is never mounted: in a batch that drive belongs to another disk.
        """
        g = self._g
        if self._roots is None:
            self._roots = {}
            for root in g.inspect_os():
                self._roots.setdefault(self.drive_of(root), []).append(root)
        single = sum(1 for drive in self._drives if drive is not None) == 1
        roots = self._roots.get(index, [])
        if single:
            roots = [r for rs in self._roots.values() for r in rs]
        if not roots:
            raise exception.NoOperatingSystem(image=image_name)
        if len(roots) > 1:
            raise exception.SeveralOperatingSystems(image=image_name,
                                                    roots=', '.join(sorted(roots)))
        result = []
        for mountpoint, dev in _by_length(g.inspect_get_mountpoints(roots[0]).items()):
            if not single and self.drive_of(dev) != index:
                LOG.warning('Not mounting %s at %s for %s: it is not on that disk',
                            dev, mountpoint, image_name)
                continue
            result.append((mountpoint, dev))
        if not result or result[0][0] != '/':
            raise exception.GuestFilesystemError(
                image=image_name, reason='the inspected root %s has no / mountpoint'
                % roots[0])
        return result

    def drive_of(self, dev):
        """Index of the drive holding device ``dev`` (a partition or an LV), or None."""
        g = self._g
        for index, drive in enumerate(self._drives):
            if drive is None:
                continue
            if dev == drive or devices.partition_number(drive, dev) is not None:
                return index
        if _DISK_NAME.fullmatch(dev):
            return None       # a disk (or a partition of one) that is not a drive of ours
        if g.is_lv(dev):
            # Not pvs_full(): its pv_name is the kernel's name, which since async disk
            # probing need not be the drive's (libguestfs translates its device
            # arguments and list results, not lvm's report). Ask each device instead.
            vg = dev.split('/')[2]
            uuids = {u.replace('-', '') for u in g.vgpvuuids(vg)}
            for candidate in g.list_partitions() + g.list_devices():
                try:
                    uuid = g.pvuuid(candidate)
                except RuntimeError:          # not a PV
                    continue
                if uuid.replace('-', '') in uuids:
                    return self.drive_of(candidate)
        return None


def _vfs_type(g, dev):
    try:
        return g.vfs_type(dev)
    except RuntimeError:
        return ''


def _blkid(g, dev):
    try:
        return dict(g.blkid(dev))
    except RuntimeError:
        return {}
