"""The VFS interface: how inject reaches a guest filesystem.

A :class:`Driver` launches an :class:`Appliance` holding one or more drives; the appliance
mounts the filesystem of one drive at a time as a :class:`Filesystem`, whose paths are
guest paths, resolved inside the guest. The only driver is libguestfs
(:mod:`inject.vfs.guestfs`): there is no host-mount driver and no fallback to one.

Every method raises :class:`inject.exception.InjectError` subclasses, never the
driver's own exception types.
"""

import abc
import collections
import dataclasses

Stat = collections.namedtuple('Stat', 'mode uid gid size is_dir is_file')


@dataclasses.dataclass(frozen=True)
class Drive:
    """A disk to attach: host path and format (always given, never probed)."""
    path: str
    format: str
    readonly: bool = False


@dataclasses.dataclass(frozen=True)
class LaunchSettings:
    accelerator: str          # 'kvm' or 'tcg': the caller has already resolved 'auto'
    memsize: int = 512        # guest memory, MiB
    smp: int = 1
    debug: bool = False
    cache_dir: str = None
    kernel: object = None     # an inject.appliance_kernel.Kernel to PVH-boot, or None
    hotplug: bool = False     # launch warm: no disk yet, disks come by Appliance.attach
    tb_size: int = 0          # TCG translation cache, MiB (0: qemu's default); needs hv
    hv: str = None            # the qemu binary libguestfs runs (a wrapper), or None
    recovery_proc: bool = True   # libguestfs's recovery process (off: hv kills qemu)


class Driver(abc.ABC):
    """A way into guest disks, loaded by name from the ``inject.vfs`` namespace."""

    name = None

    @abc.abstractmethod
    def version(self):
        """The version of the underlying library, as a string."""

    @abc.abstractmethod
    def launch(self, drives, settings):
        """Start an appliance holding ``drives`` (a list of :class:`Drive`).

        Raises :class:`inject.exception.ApplianceLaunchFailed`.
        """


class Appliance(abc.ABC):
    """A running appliance. Drives are addressed by their index in the launch list."""

    @abc.abstractmethod
    def mount(self, index, partition, image_name, layout=None):
        """Mount drive ``index`` and return its :class:`Filesystem`.

        ``partition``: -1 inspect for the operating system, 0 the whole device, N the
        N-th partition. ``image_name`` is only used in error messages. ``layout`` (with
        -1): a :attr:`Filesystem.layout` remembered from a disk built on the same base
        image; it is mounted directly when it still fits, else the disk is inspected.
        """

    def attach(self, drive):
        """Hot-plug ``drive`` into an appliance launched with ``hotplug``; returns its
        index for :meth:`mount`. Raises :class:`inject.exception.HotplugFailed`."""
        raise NotImplementedError

    def attach_all(self, drives):
        """Hot-plug several drives at once; for each, its index or the HotplugFailed
        saying why it is not attached."""
        raise NotImplementedError

    def plug(self, drives):
        """Plug several drives in without waiting: for each, a ticket for
        :meth:`wait_attached` or the HotplugFailed saying why not."""
        raise NotImplementedError

    def wait_attached(self, ticket):
        """The index of a plugged drive once the appliance shows it (HotplugFailed
        when it does not)."""
        raise NotImplementedError

    def detach(self, index):
        """Unplug hot-plugged drive ``index`` (unmounted first); afterwards the
        appliance no longer holds its file. Raises HotplugFailed."""
        raise NotImplementedError

    @abc.abstractmethod
    def shutdown(self):
        """Flush and stop the appliance; raises
        :class:`inject.exception.GuestSyncError` if the flush failed."""

    @abc.abstractmethod
    def close(self):
        """Release the handle; never raises."""


class Filesystem(abc.ABC):
    """A mounted guest filesystem. Paths are absolute guest paths."""

    #: what is mounted: [(mountpoint, device)], '/' first
    mountpoints = ()
    #: the same relative to the drive: [(mountpoint, 'whole' | 'part:N' | 'lv:VG/LV')]
    layout = ()
    #: how the root was found: 'partition N', 'whole disk', 'root probe' (a quick look
    #: at this drive's filesystems), 'inspection', 'remembered layout'
    source = None

    @abc.abstractmethod
    def stat(self, path):
        """:class:`Stat` of ``path`` (following symlinks in the guest) or None."""

    @abc.abstractmethod
    def read(self, path):
        """The whole content of a guest file, as bytes; raises
        :class:`inject.exception.GuestReadError` (also from :meth:`stat`)."""

    @abc.abstractmethod
    def write(self, path, data):
        """Create or truncate ``path`` and write ``data``; an existing file keeps its
        owner and mode, a new one is created 0644 by uid 0."""

    @abc.abstractmethod
    def append(self, path, data):
        """Append ``data`` to ``path``, creating it if missing."""

    @abc.abstractmethod
    def mkdir(self, path):
        """Create one directory (its parent must exist)."""

    @abc.abstractmethod
    def chmod(self, path, mode):
        """Set the exact mode bits (no umask)."""

    @abc.abstractmethod
    def chown(self, path, uid, gid):
        """Set numeric owner and group."""

    @abc.abstractmethod
    def unmount(self):
        """Unmount everything :meth:`Appliance.mount` mounted; raises
        :class:`inject.exception.GuestSyncError` if that failed."""
