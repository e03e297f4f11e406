"""The libguestfs VFS driver: the only way inject reaches a guest filesystem.

Every guest path is handed to the guestfsd daemon inside the appliance VM, which resolves
it in a chroot of the guest filesystem: ``..`` and symlinks cannot leave the guest, and
the host kernel never parses the guest filesystem.

Costs we measured under TCG on 2-core machines shape the calls used here: inline
RPCs (``write``, ``chmod``, ``chown``, ``mkdir``, ``statns``, ``pread``) cost about 1 ms,
file transfers and helper execs 130-220 ms, ``inspect_os`` 6-14 s, and augeas 3-5 s.
So files are read with ``statns`` + ``pread``, augeas is never used, and inspection runs
once per appliance however many drives it holds.

This module holds the driver (launch, drives, hot-plug), the mounting of what was found
and the file operations. What to mount for ``inject_partition`` is found by
:mod:`inject.vfs.roots` (reading fstab text with :mod:`inject.vfs.fstab`); device names
and layouts are :mod:`inject.vfs.devices`.
"""

import contextlib
import logging
import os
import re
import time

from inject import exception
from inject import partitions
from inject.vfs import api
from inject.vfs import devices
from inject.vfs import handle
from inject.vfs import qmp
from inject.vfs import roots

LOG = logging.getLogger(__name__)

PREAD_MAX = 2 * 1024 * 1024      # guestfs protocol message limit is 4 MiB
# The Python binding has no last_errno(); these are strerror(ENOENT) and strerror(ENOTDIR).
_MISSING = re.compile(r'No such file or directory|Not a directory')


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
            if settings.hv:
                g.set_hv(settings.hv)     # a qemu wrapper (inject.appliance.hv)
            g.set_recovery_proc(settings.recovery_proc)
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
            handle.close(g)
            if monitor:
                monitor.close()
            raise exception.ApplianceLaunchFailed(
                accelerator=settings.accelerator, reason=handle.error_text(e))
        if monitor:
            return GuestFSAppliance(g, [], monitor)
        return GuestFSAppliance(g, [devices.device_name(i) for i in range(len(drives))])


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


def _log_event(event, event_handle, buf, array):
    if isinstance(buf, bytes):
        buf = buf.decode('utf-8', 'replace')
    LOG.debug('guestfs event=%s buf=%r array=%s', event, buf.rstrip(), array)


#: how often a hot-plugged disk is looked for (one disk shows in about 0.2 s under TCG)
POLL_SECONDS = 0.05


class GuestFSAppliance(api.Appliance):
    def __init__(self, g, drive_devices, monitor=None):
        self._g = g
        self.handle = g      # the raw libguestfs handle, for tools that build images
        # the appliance device of each drive, by index (None once detached)
        self._devices = list(drive_devices)
        self._nodes = {}                  # index -> QMP node name (hot-plugged drives)
        self._monitor = monitor           # a warm appliance's qemu monitor (hot-plug)
        self._attempts = 0
        self._labels = {}                 # label -> device, of disks not yet claimed
        self._inspection = roots.Inspection(g, self._devices)

    def attach(self, drive, timeout=60):
        result = self.attach_all([drive], timeout)[0]
        if isinstance(result, exception.HotplugFailed):
            raise result
        return result

    def attach_all(self, drives, timeout=60):
        """Hot-plug ``drives`` at once: the appliance probes them side by side.

        Returns, for each drive, its index for :meth:`mount` or the
        :class:`inject.exception.HotplugFailed` saying why it is not attached (its
        ``touched`` says whether qemu had opened the file).
        """
        results = []
        for ticket in self.plug(drives):
            if not isinstance(ticket, exception.HotplugFailed):
                try:
                    ticket = self.wait_attached(ticket, timeout)
                except exception.HotplugFailed as e:
                    ticket = e
            results.append(ticket)
        return results

    def plug(self, drives):
        """Plug ``drives`` into the appliance at once, without waiting for them to
        show: for each, a ticket for :meth:`wait_attached`, or the HotplugFailed saying
        why it could not be plugged (``touched``: whether qemu had opened the file)."""
        if self._monitor is None:
            error = exception.HotplugFailed(what='attach', reason='this appliance was '
                                            'not launched warm')
            return [error] * len(drives)
        tickets = []
        for drive in drives:
            self._attempts += 1           # a failed attempt may leave its node name taken
            node = 'drive%d' % self._attempts
            # Until qemu has opened the file, a failure leaves it untouched (the caller
            # may put the disk into another appliance); after that, qemu holds it open.
            try:
                self._monitor.open_disk(node, drive.path, drive.format, drive.readonly)
            except exception.HotplugFailed as e:
                tickets.append(e)
                continue
            try:
                self._monitor.plug(node)
            except exception.HotplugFailed as e:
                tickets.append(exception.HotplugFailed(str(e), touched=True, **e.kwargs))
                continue
            tickets.append(node)
        return tickets

    def wait_attached(self, ticket, timeout=60):
        """The index (for :meth:`mount`) of the disk plugged as ``ticket``, once the
        appliance shows it: found by its label (the serial it was plugged with), never
        by guessing which device is new. Raises HotplugFailed (touched) when it does not
        show within ``timeout`` s."""
        deadline = time.monotonic() + timeout
        error = None
        while ticket not in self._labels:
            try:
                self._labels.update(self._g.list_disk_labels())
            except RuntimeError as e:
                # the appliance lists its labels while udev adds and removes them: a
                # label that vanished under it (a detached disk's) fails the whole
                # call, so only a failure that lasts until the deadline counts
                error = handle.error_text(e)
            if ticket in self._labels:
                break
            if time.monotonic() > deadline:
                raise exception.HotplugFailed(
                    what='device_add', touched=True, reason='the disk did not appear in '
                    'the appliance in %d s%s' % (timeout, ' (%s)' % error if error else ''))
            time.sleep(POLL_SECONDS)      # each look costs the appliance's CPU too
        index = len(self._devices)
        self._devices.append(self._labels.pop(ticket))
        self._nodes[index] = ticket
        # inspection, if any, must see the drives as they are now
        self._inspection = roots.Inspection(self._g, self._devices)
        return index

    def detach(self, index, timeout=30):
        """Unplug hot-plugged drive ``index`` (unmounted) and have qemu flush and close
        its image: afterwards nothing in the appliance holds the file."""
        node = self._nodes.pop(index, None)
        if node is None:
            raise exception.HotplugFailed(what='detach', reason='drive %d was not '
                                          'hot-plugged' % index)
        self._monitor.unplug(node, timeout)
        self._devices[index] = None

    def close(self):
        handle.close(self._g)
        if self._monitor is not None:
            self._monitor.close()

    def mount(self, index, partition, image_name, layout=None):
        try:
            return self._mount(index, partition, image_name, layout)
        except exception.GuestFilesystemError:
            # A disk qemu cannot read looks blank from inside ("no partition table",
            # "wrong fs type"): say what is really wrong with it.
            why = roots.unreadable(self._g, self._devices[index])
            if why is None:
                raise
            raise exception.GuestFilesystemError(
                image=image_name, reason='the disk image is unreadable or corrupt: '
                'reading its first sector failed (%s)' % why) from None

    def _mount(self, index, partition, image_name, layout=None):
        device = self._devices[index]
        try:
            if partition == partitions.INSPECT:
                fs = self._mount_layout(index, layout, image_name) if layout else None
                if fs is not None:
                    return fs
                probed = roots.probe(self._g, device, image_name,
                                     GuestFSFilesystem(self._g, ()).read)
                if probed:
                    return self._mount_all(index, probed, image_name, 'root probe')
                return self._mount_all(index, self._inspection.mountpoints(index, image_name),
                                       image_name, 'inspection')
            if partition == partitions.WHOLE_DISK:
                return self._mount_all(index, [('/', device)], image_name, 'whole disk')
            wanted = '%s%d' % (device, partition)
            try:
                return self._mount_all(index, [('/', wanted)], image_name,
                                       'partition %d' % partition)
            except exception.GuestFilesystemError:
                roots.check_partition(self._g, device, partition, image_name)
                raise
        except RuntimeError as e:
            handle.umount_all(self._g)
            raise exception.GuestFilesystemError(image=image_name,
                                                 reason=handle.error_text(e))

    def _mount_all(self, index, mountpoints, image_name, source):
        """Mount [(mountpoint, device)] in order; the first (/) must succeed."""
        mounted = []
        for mountpoint, dev in mountpoints:
            try:
                self._g.mount(dev, mountpoint)
            except RuntimeError as e:
                if not mounted:
                    handle.umount_all(self._g)
                    raise exception.GuestFilesystemError(
                        image=image_name, reason='mounting %s at %s failed (%s)'
                        % (dev, mountpoint, handle.error_text(e)))
                LOG.warning('Skipping %s at %s in %s: %s', dev, mountpoint, image_name,
                            handle.error_text(e))
                continue
            mounted.append((mountpoint, dev))
        layout = [(mp, devices.relative(self._devices[index], dev))
                  for mp, dev in mounted]
        return GuestFSFilesystem(self._g, mounted, layout, source)

    def _mount_layout(self, index, layout, image_name):
        """Mount a layout remembered from an earlier inspection of the same base image.

        Returns None (with nothing mounted) when the disk no longer matches it: a device
        is missing or fails to mount, or the root has no /etc. The caller then inspects.
        """
        g = self._g
        try:
            for mountpoint, spec in layout:
                g.mount(devices.absolute(self._devices[index], spec), mountpoint)
            if not g.is_dir('/etc'):
                raise RuntimeError('the remembered root has no /etc')
        except (RuntimeError, ValueError) as e:
            LOG.info('The remembered layout %s does not fit %s (%s); inspecting it',
                     layout, image_name, handle.error_text(e))
            handle.umount_all(g)
            return None
        mounted = [(mp, devices.absolute(self._devices[index], spec)) for mp, spec in layout]
        return GuestFSFilesystem(g, mounted, [tuple(m) for m in layout], 'remembered layout')

    def shutdown(self):
        try:
            self._g.shutdown()
        except RuntimeError as e:
            raise exception.GuestSyncError(target="the appliance's drives",
                                           reason='flushing the appliance failed: %s'
                                           % handle.error_text(e))


class GuestFSFilesystem(api.Filesystem):
    def __init__(self, g, mountpoints, layout=(), source=None):
        self._g = g
        self.mountpoints = tuple(mountpoints)
        self.layout = tuple(layout)
        self.source = source

    def _call(self, path, what, fn, *args, error=exception.GuestWriteError):
        try:
            return fn(*args)
        except RuntimeError as e:
            raise error(path=path, reason='%s failed: %s' % (what, handle.error_text(e)))

    def stat(self, path):
        try:
            st = self._g.statns(path)
        except RuntimeError as e:
            if _MISSING.search(str(e)):
                return None
            raise exception.GuestReadError(path=path, reason='cannot stat it: %s'
                                           % handle.error_text(e))
        mode = st['st_mode']
        return api.Stat(mode=mode & 0o7777, uid=st['st_uid'], gid=st['st_gid'],
                        size=st['st_size'], is_dir=(mode & 0o170000) == 0o040000,
                        is_file=(mode & 0o170000) == 0o100000)

    def read(self, path):
        st = self.stat(path)
        if st is None:
            raise exception.GuestReadError(path=path, reason='it does not exist')
        if st.size <= PREAD_MAX:
            data = self._call(path, 'pread', self._g.pread, path, st.size, 0,
                              error=exception.GuestReadError)
        else:
            data = self._call(path, 'read_file', self._g.read_file, path,
                              error=exception.GuestReadError)
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
        try:
            self._g.umount_all()
        except RuntimeError as e:
            raise exception.GuestSyncError(target='the guest filesystem',
                                           reason='umount_all failed: %s'
                                           % handle.error_text(e))
