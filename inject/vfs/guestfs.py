"""The libguestfs VFS driver: the only way inject reaches a guest filesystem.

Every guest path is handed to the guestfsd daemon inside the appliance VM, which resolves
it in a chroot of the guest filesystem: ``..`` and symlinks cannot leave the guest, and
the host kernel never parses the guest filesystem.

Costs measured under TCG (see ``libguestfs-perf.md``) shape the calls used here: inline
RPCs (``write``, ``chmod``, ``chown``, ``mkdir``, ``statns``, ``pread``) cost about 1 ms,
file transfers and helper execs 130-220 ms, ``inspect_os`` 6-14 s, and augeas 3-5 s.
So files are read with ``statns`` + ``pread``, augeas is never used, and inspection runs
once per appliance however many drives it holds.
"""

import contextlib
import logging
import os
import re
import string
import time

from inject import exception
from inject import partitions
from inject.vfs import api
from inject.vfs import qmp

LOG = logging.getLogger(__name__)

PREAD_MAX = 2 * 1024 * 1024      # guestfs protocol message limit is 4 MiB
# The Python binding has no last_errno(); these are strerror(ENOENT) and strerror(ENOTDIR).
_MISSING = re.compile(r'No such file or directory|Not a directory')


def device_name(index):
    """The appliance device of the drive at ``index``: 0 -> /dev/sda, 26 -> /dev/sdaa."""
    letters = ''
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        letters = string.ascii_lowercase[rem] + letters
    return '/dev/sd' + letters


class GuestFSDriver(api.Driver):
    name = 'guestfs'

    def __init__(self):
        try:
            import guestfs
        except ImportError as e:
            raise exception.VFSDriverUnavailable(
                reason='the libguestfs Python binding cannot be imported (%s)' % e)
        self._guestfs = guestfs

    def version(self):
        g = self._guestfs.GuestFS(python_return_dict=True, close_on_exit=False)
        try:
            v = g.version()
            return '%d.%d.%d%s' % (v['major'], v['minor'], v['release'], v['extra'])
        finally:
            g.close()

    def launch(self, drives, settings):
        guestfs = self._guestfs
        g = guestfs.GuestFS(python_return_dict=True, close_on_exit=False)
        monitor = qmp.QMP() if settings.hotplug else None
        try:
            g.set_backend_settings(['force_' + settings.accelerator])
            g.set_memsize(settings.memsize)
            g.set_smp(settings.smp)
            g.set_network(False)
            if settings.cache_dir:
                os.makedirs(settings.cache_dir, mode=0o700, exist_ok=True)
                g.set_cachedir(settings.cache_dir)
            if settings.debug:
                g.set_trace(True)
                g.set_verbose(True)
                g.set_event_callback(
                    _log_event,
                    guestfs.EVENT_APPLIANCE | guestfs.EVENT_LIBRARY
                    | guestfs.EVENT_WARNING | guestfs.EVENT_TRACE)
            for drive in drives:
                g.add_drive_opts(drive.path, format=drive.format, readonly=drive.readonly)
            if monitor:
                # A warm appliance holds no disk yet: /dev/null stands in (libguestfs
                # wants one drive), and disks are hot-plugged through the monitor.
                g.add_drive_opts('/dev/null', format='raw', readonly=True)
                g.config('-qmp', monitor.qemu_option())
            with _supermin_kernel(settings.kernel):
                g.launch()
            if monitor:
                monitor.connect()
        except (RuntimeError, OSError, exception.InjectError) as e:
            _close(g)
            if monitor:
                monitor.close()
            raise exception.ApplianceLaunchFailed(
                accelerator=settings.accelerator, reason=str(e).strip())
        if monitor:
            return GuestFSAppliance(g, [], monitor, set(g.list_devices()))
        return GuestFSAppliance(g, [device_name(i) for i in range(len(drives))])


@contextlib.contextmanager
def _supermin_kernel(kernel):
    """Point supermin (run by launch to build the appliance) at ``kernel``, if any."""
    names = {'SUPERMIN_KERNEL': kernel.path, 'SUPERMIN_KERNEL_VERSION': kernel.version,
             'SUPERMIN_MODULES': kernel.modules} if kernel else {}
    saved = {name: os.environ.get(name) for name in names}
    os.environ.update(names)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def relative(device, dev):
    """``dev`` as seen from its drive ``device``: 'whole', 'part:N' or 'lv:VG/LV'."""
    if dev == device:
        return 'whole'
    if re.fullmatch(re.escape(device) + r'\d+', dev):
        return 'part:' + dev[len(device):]
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


def _log_event(event, event_handle, buf, array):
    if isinstance(buf, bytes):
        buf = buf.decode('utf-8', 'replace')
    LOG.debug('guestfs event=%s buf=%r array=%s', event, buf.rstrip(), array)


def _close(g):
    try:
        g.close()
    except Exception as e:  # close must never hide the real error
        LOG.warning('Failed to close the guestfs handle: %s', e)


class GuestFSAppliance(api.Appliance):
    def __init__(self, g, devices, monitor=None, seen=()):
        self._g = g
        self.handle = g      # the raw libguestfs handle, for tools that build images
        self._devices = list(devices)     # the appliance device of each drive, by index
        self._monitor = monitor           # a warm appliance's qemu monitor (hot-plug)
        self._seen = set(seen)            # devices that are not (or already) a drive
        self._attempts = 0
        self._broken = False
        self._roots = None   # {drive index: [root device]} once inspected

    @property
    def _drive_count(self):
        return len(self._devices)

    def attach(self, drive, timeout=60):
        if self._monitor is None:
            raise exception.HotplugFailed(what='attach', reason='this appliance was not '
                                          'launched warm')
        if self._broken:
            raise exception.HotplugFailed(what='attach', reason='an earlier disk did not '
                                          'appear as expected; this appliance takes no more')
        index = len(self._devices)
        self._attempts += 1       # a failed attempt may leave its node name taken
        node = 'drive%d' % self._attempts
        # Until qemu has opened the file, a failure leaves it untouched (the caller may
        # put the disk into another appliance); after that, qemu holds it open.
        self._monitor.open_disk(node, drive.path, drive.format, drive.readonly)
        try:
            self._monitor.plug(node)
            device = self._wait_for_new_device(timeout)
        except exception.HotplugFailed as e:
            self._broken = True   # a late device could be taken for the next disk's
            e.touched = True
            raise
        self._seen.add(device)
        self._devices.append(device)
        return index

    def _wait_for_new_device(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            new = sorted(set(self._g.list_devices()) - self._seen)
            if len(new) == 1:
                return new[0]
            if new:
                raise exception.HotplugFailed(what='device_add', reason='%d disks appeared '
                                              'at once: %s' % (len(new), ', '.join(new)))
            if time.monotonic() > deadline:
                raise exception.HotplugFailed(what='device_add', reason='no new disk '
                                              'appeared in the appliance in %d s' % timeout)
            time.sleep(0.05)

    def close(self):
        _close(self._g)
        if self._monitor is not None:
            self._monitor.close()

    def mount(self, index, partition, image_name, layout=None):
        device = self._devices[index]
        try:
            if partition == partitions.INSPECT:
                fs = self._mount_layout(index, layout, image_name) if layout else None
                if fs is not None:
                    return fs
                probed = self._probed_mountpoints(index, image_name)
                if probed:
                    return self._mount_all(index, probed, image_name, 'root probe')
                return self._mount_all(index, self._inspected_mountpoints(index, image_name),
                                       image_name, 'inspection')
            if partition == partitions.WHOLE_DISK:
                return self._mount_all(index, [('/', device)], image_name, 'whole disk')
            wanted = '%s%d' % (device, partition)
            try:
                return self._mount_all(index, [('/', wanted)], image_name,
                                       'partition %d' % partition)
            except exception.GuestFilesystemError:
                self._check_partition(device, partition, image_name)
                raise
        except RuntimeError as e:
            self._umount_all()
            raise exception.GuestFilesystemError(image=image_name, reason=_strip(e))

    def _mount_all(self, index, mountpoints, image_name, source):
        """Mount [(mountpoint, device)] in order; the first (/) must succeed."""
        mounted = []
        for mountpoint, dev in mountpoints:
            try:
                self._g.mount(dev, mountpoint)
            except RuntimeError as e:
                if not mounted:
                    self._umount_all()
                    raise exception.GuestFilesystemError(
                        image=image_name, reason='mounting %s at %s failed (%s)'
                        % (dev, mountpoint, _strip(e)))
                LOG.warning('Skipping %s at %s in %s: %s', dev, mountpoint, image_name,
                            _strip(e))
                continue
            mounted.append((mountpoint, dev))
        layout = [(mp, relative(self._devices[index], dev)) for mp, dev in mounted]
        return GuestFSFilesystem(self._g, mounted, layout, source)

    def _mount_layout(self, index, layout, image_name):
        """Mount a layout remembered from an earlier inspection of the same base image.

        Returns None (with nothing mounted) when the disk no longer matches it: a device
        is missing or fails to mount, or the root has no /etc. The caller then inspects.
        """
        g = self._g
        try:
            for mountpoint, spec in layout:
                g.mount(absolute(self._devices[index], spec), mountpoint)
            if not g.is_dir('/etc'):
                raise RuntimeError('the remembered root has no /etc')
        except (RuntimeError, ValueError) as e:
            LOG.info('The remembered layout %s does not fit %s (%s); inspecting it',
                     layout, image_name, _strip(e))
            self._umount_all()
            return None
        mounted = [(mp, absolute(self._devices[index], spec)) for mp, spec in layout]
        return GuestFSFilesystem(g, mounted, [tuple(m) for m in layout], 'remembered layout')

    def _check_partition(self, device, partition, image_name):
        """Raise PartitionNotFound when partition N is not on the drive."""
        found = [p for p in self._g.list_partitions()
                 if re.fullmatch(re.escape(device) + r'\d+', p)]
        if '%s%d' % (device, partition) not in found:
            numbers = [p[len(device):] for p in found]
            raise exception.PartitionNotFound(
                image=image_name, partition=partition,
                found='its partitions: ' + ', '.join(numbers) if numbers
                else 'it has no partition table')

    def _probed_mountpoints(self, index, image_name):
        """Mountpoints of the one Linux root on drive ``index`` found without inspection,
        or None when the quick look is not sure (the caller then inspects).

        ``inspect_os`` costs 6-14 s under TCG, mostly in ``list_filesystems``; this looks
        only at this drive's partitions (or its whole device): ``vfs_type`` each, mount
        the ext/xfs/btrfs ones read-only and keep those with an OS's /etc. Exactly one
        such root, whose /etc/fstab names its other filesystems by UUID or LABEL (or
        PARTUUID, PARTLABEL) on this drive, is mounted as inspection would mount it.
        LVM, RAID, LUKS, several roots, none, or an fstab entry it cannot resolve: None.
        """
        g = self._g
        device = self._devices[index]
        candidates = [p for p in g.list_partitions()
                      if re.fullmatch(re.escape(device) + r'\d+', p)] or [device]
        types = {}
        for dev in candidates:
            types[dev] = _vfs_type(g, dev)
            if types[dev] in _NEEDS_INSPECTION:
                LOG.info('%s holds %s on %s: inspecting it', image_name, types[dev], dev)
                return None
        roots = []
        for dev in candidates:
            if types[dev] not in _ROOT_FS_TYPES:
                continue
            try:
                g.mount_ro(dev, '/')
                if g.is_dir('/etc') and any(g.is_file(p) for p in _OS_MARKERS):
                    fstab = (GuestFSFilesystem(g, ()).read('/etc/fstab')
                             if g.is_file('/etc/fstab') else b'')
                    roots.append((dev, fstab.decode('utf-8', 'replace')))
            except (RuntimeError, exception.InjectError) as e:
                LOG.debug('%s on %s is not a root: %s', dev, image_name, _strip(e))
            finally:
                self._umount_all()
        if len(roots) != 1:
            return None
        root, fstab = roots[0]
        mountpoints = [('/', root)]
        ids = None
        for spec, mountpoint in fstab_mounts(fstab):
            if ids is None:
                ids = {dev: _blkid(g, dev) for dev in candidates}
            found = [dev for dev, tags in ids.items() if _matches(spec, tags)]
            if len(found) != 1:
                LOG.info('%s: /etc/fstab entry %s %s is not resolved to one device of this '
                         'disk; inspecting it', image_name, spec, mountpoint)
                return None
            mountpoints.append((mountpoint, found[0]))
        LOG.info('%s: root %s found without inspection', image_name, root)
        return sorted(mountpoints, key=lambda m: (len(m[0]), m[0]))

    def _inspected_mountpoints(self, index, image_name):
        """Mountpoints of the one OS root on drive ``index``, '/' first.

        ``inspect_os`` scans every drive of the appliance, so it runs once and its roots
        are shared out to their drives. A mountpoint the guest's fstab places on another
        drive is never mounted: in a batch that drive belongs to another disk.
        """
        g = self._g
        if self._roots is None:
            self._roots = {}
            for root in g.inspect_os():
                self._roots.setdefault(self._drive_of(root), []).append(root)
        roots = self._roots.get(index, [])
        if self._drive_count == 1:
            roots = [r for rs in self._roots.values() for r in rs]
        if not roots:
            raise exception.NoOperatingSystem(image=image_name)
        if len(roots) > 1:
            raise exception.SeveralOperatingSystems(image=image_name,
                                                    roots=', '.join(sorted(roots)))
        result = []
        for mountpoint, dev in sorted(g.inspect_get_mountpoints(roots[0]).items(),
                                      key=lambda m: (len(m[0]), m[0])):
            if self._drive_count > 1 and self._drive_of(dev) != index:
                LOG.warning('Not mounting %s at %s for %s: it is not on that disk',
                            dev, mountpoint, image_name)
                continue
            result.append((mountpoint, dev))
        if not result or result[0][0] != '/':
            raise exception.GuestFilesystemError(
                image=image_name, reason='the inspected root %s has no / mountpoint'
                % roots[0])
        return result

    def _drive_of(self, dev):
        """Index of the drive holding device ``dev`` (a partition or an LV), or None."""
        g = self._g
        m = re.fullmatch(r'(/dev/sd[a-z]+)\d*', dev)
        if m:
            return (self._devices.index(m.group(1)) if m.group(1) in self._devices
                    else None)
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
                    return self._drive_of(candidate)
        return None

    def _umount_all(self):
        try:
            self._g.umount_all()
        except RuntimeError as e:
            LOG.warning('umount_all failed: %s', _strip(e))

    def shutdown(self):
        try:
            self._g.shutdown()
        except RuntimeError as e:
            raise exception.GuestWriteError(path='(all drives)',
                                            reason='flushing the appliance failed: %s'
                                            % _strip(e))



class GuestFSFilesystem(api.Filesystem):
    def __init__(self, g, mountpoints, layout=(), source=None):
        self._g = g
        self.mountpoints = tuple(mountpoints)
        self.layout = tuple(layout)
        self.source = source

    def _call(self, path, what, fn, *args):
        try:
            return fn(*args)
        except RuntimeError as e:
            raise exception.GuestWriteError(path=path, reason='%s failed: %s'
                                            % (what, _strip(e)))

    def stat(self, path):
        try:
            st = self._g.statns(path)
        except RuntimeError as e:
            if _MISSING.search(str(e)):
                return None
            raise exception.GuestWriteError(path=path, reason='cannot stat it: %s'
                                            % _strip(e))
        mode = st['st_mode']
        return api.Stat(mode=mode & 0o7777, uid=st['st_uid'], gid=st['st_gid'],
                        size=st['st_size'], is_dir=(mode & 0o170000) == 0o040000,
                        is_file=(mode & 0o170000) == 0o100000)

    def read(self, path):
        st = self.stat(path)
        if st is None:
            raise exception.GuestWriteError(path=path, reason='it does not exist')
        if st.size <= PREAD_MAX:
            data = self._call(path, 'pread', self._g.pread, path, st.size, 0)
        else:
            data = self._call(path, 'read_file', self._g.read_file, path)
        return data if isinstance(data, bytes) else data.encode('utf-8', 'surrogateescape')

    def write(self, path, data):
        self._call(path, 'write', self._g.write, path, data)

    def append(self, path, data):
        self._call(path, 'write_append', self._g.write_append, path, data)

    def mkdir(self, path):
        self._call(path, 'mkdir', self._g.mkdir, path)

    def chmod(self, path, mode):
        self._call(path, 'chmod', self._g.chmod, mode, path)

    def chown(self, path, uid, gid):
        self._call(path, 'chown', self._g.chown, uid, gid, path)

    def unmount(self):
        self._call('/', 'umount_all', self._g.umount_all)


# --- the root probe's helpers ------------------------------------------------------------

_ROOT_FS_TYPES = {'ext2', 'ext3', 'ext4', 'xfs', 'btrfs'}
_NEEDS_INSPECTION = {'LVM2_member', 'linux_raid_member', 'crypto_LUKS', 'zfs_member'}
_OS_MARKERS = ('/etc/fstab', '/etc/os-release', '/usr/lib/os-release')
#: fstab filesystem types that are not on the disk (or not for inject to mount)
_NOT_ON_DISK = {'proc', 'sysfs', 'tmpfs', 'devtmpfs', 'devpts', 'swap', 'none', 'cgroup',
                'cgroup2', 'securityfs', 'debugfs', 'tracefs', 'mqueue', 'hugetlbfs',
                'configfs', 'pstore', 'efivarfs', 'binfmt_misc', 'autofs', 'fusectl',
                'nfs', 'nfs4', 'cifs', 'smbfs', 'fuse', 'fuse.sshfs', 'iso9660', 'udf',
                'auto', 'rpc_pipefs', 'nfsd', 'overlay'}
_TAGS = ('UUID', 'LABEL', 'PARTUUID', 'PARTLABEL')
_BY_DIRS = {'/dev/disk/by-uuid/': 'UUID', '/dev/disk/by-label/': 'LABEL',
            '/dev/disk/by-partuuid/': 'PARTUUID', '/dev/disk/by-partlabel/': 'PARTLABEL'}


def fstab_mounts(text):
    """[(spec, mountpoint)] of an fstab's local filesystems other than / and swap."""
    result = []
    for line in text.splitlines():
        fields = line.split('#', 1)[0].split()
        if len(fields) < 2:
            continue
        spec, mountpoint = fields[0], fields[1].replace('\\040', ' ')
        fstype = fields[2] if len(fields) > 2 else ''
        options = fields[3].split(',') if len(fields) > 3 else []
        if (mountpoint == '/' or not mountpoint.startswith('/') or fstype in _NOT_ON_DISK
                or 'bind' in options or 'rbind' in options or 'noauto' in options):
            continue
        result.append((spec, mountpoint))
    return result


def _spec_tag(spec):
    """('UUID', value) for UUID=..., /dev/disk/by-uuid/... and the like, else None."""
    name, sep, value = spec.partition('=')
    if sep and name in _TAGS:
        return name, value.strip('"\'')
    for prefix, tag in _BY_DIRS.items():
        if spec.startswith(prefix):
            return tag, spec[len(prefix):]
    return None


def _matches(spec, tags):
    tag = _spec_tag(spec)
    if tag is None:
        return False
    value = tags.get(tag[0])
    if value is None:
        return False
    return value.lower() == tag[1].lower() if tag[0] in ('UUID', 'PARTUUID') \
        else value == tag[1]


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


def _strip(error):
    return str(error).strip()
