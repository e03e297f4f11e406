"""An in-memory stand-in for the ``guestfs`` Python module (python3-guestfs).

Only what :mod:`inject.vfs.guestfs` (and :mod:`inject.vfs.roots`) calls is here. Tests
install it with ``monkeypatch.setitem(sys.modules, 'guestfs', fakeguestfs)``. Nothing is
imported from inject, so a bug in the code under test cannot hide in the fake.

A disk is a :class:`Disk`: filesystem trees by partition number (0 = the whole,
unpartitioned device) or by LV path, plus what ``inspect_os`` would find. A tree is a
dict ``{path: Node}`` with paths relative to that filesystem's root ('/' included).
Register a disk under a host path in :data:`DISKS`; ``add_drive_opts`` attaches it
(an unknown path attaches an empty disk). Writes change the registered trees in place,
so tests read results straight from them.

Errors are ``RuntimeError('call: path: strerror')``, as libguestfs raises them.
"""

import errno
import os
import posixpath
import string

EVENT_APPLIANCE = 0x10
EVENT_LIBRARY = 0x20
EVENT_TRACE = 0x40
EVENT_WARNING = 0x200

S_IFREG = 0o100000
S_IFDIR = 0o040000
S_IFLNK = 0o120000

DISKS = {}          # host path -> Disk
LAUNCH_ERRORS = {}  # backend setting (e.g. 'force_kvm') -> message launch() raises
HANDLES = []        # every GuestFS created, oldest first
DEFAULT_DISK = None  # factory for drives not in DISKS (default: an empty Disk)


def reset():
    global DEFAULT_DISK
    DISKS.clear()
    HOTPLUG_ERRORS.clear()
    LAUNCH_ERRORS.clear()
    HANDLES.clear()
    DEFAULT_DISK = None


class Node:
    def __init__(self, type, mode, uid=0, gid=0, content=b'', target=None):
        self.type, self.mode, self.uid, self.gid = type, mode, uid, gid
        self.content, self.target = content, target

    def __repr__(self):
        return 'Node(%s, %04o, %d:%d, %r)' % (self.type, self.mode, self.uid, self.gid,
                                              self.target or self.content[:40])


def d(mode=0o755, uid=0, gid=0):
    return Node('dir', mode, uid, gid)


def f(content=b'', mode=0o644, uid=0, gid=0):
    if isinstance(content, str):
        content = content.encode('utf-8')
    return Node('file', mode, uid, gid, content)


def link(target):
    return Node('link', 0o777, target=target)


PASSWD = ('root:x:0:0:root:/root:/bin/bash\n'
          'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n'
          'alice:x:1000:1000:Alice:/home/alice:/bin/bash\n')
SHADOW = ('root:*:19000:0:99999:7:::\n'
          'daemon:*:19000:0:99999:7:::\n'
          'alice:$6$oldsalt$oldhash:19000:0:99999:7:::\n')


def linux_tree(selinux=False, root_gid_in_group=0, passwd=PASSWD, shadow=SHADOW,
               group=None):
    """A small Linux root: /etc/{passwd,group,shadow,motd}, /root 0700, /home/alice.

    ``root_gid_in_group`` is group root's gid in /etc/group (root's passwd gid stays 0);
    ``selinux`` adds /etc/selinux/config and /etc/rc.d.
    """
    if group is None:
        group = 'root:x:%d:\nshadow:x:42:\nalice:x:1000:\n' % root_gid_in_group
    tree = {
        '/': d(), '/etc': d(), '/tmp': d(0o1777), '/home': d(),
        '/home/alice': d(0o700, 1000, 1000), '/root': d(0o700),
        '/etc/passwd': f(passwd), '/etc/group': f(group),
        '/etc/shadow': f(shadow, 0o640, 0, 42), '/etc/motd': f('old motd\n'),
    }
    if selinux:
        tree['/etc/selinux'] = d()
        tree['/etc/selinux/config'] = f('SELINUX=enforcing\n')
        tree['/etc/rc.d'] = d()
    return tree


class Disk:
    """What one drive holds.

    ``partitions``: {N: tree}, N >= 1, or {0: tree} for an unpartitioned disk.
    ``lvs``: {'/dev/vg/lv': tree}; their PV is partition ``pv`` (0: the whole disk).
    ``roots``: what inspect_os finds: {root: {mountpoint: device}}, where root and
    device are a partition number of this disk, an LV path, or an absolute device name
    ('/dev/sdb1', possibly on another drive).
    ``types``: what ``vfs_type`` says of a partition number (default: 'ext4' for a tree,
    'LVM2_member' for the PV); ``tags``: what ``blkid`` says of it ({'UUID': ...}).
    ``unreadable``: qemu cannot read the image (a corrupt qcow2): reading the device
    fails with this error text.
    """

    def __init__(self, partitions=None, lvs=None, pv=1, roots=None, types=None,
                 tags=None, unreadable=None):
        self.unreadable = unreadable
        self.partitions = partitions or {}
        self.lvs = lvs or {}
        self.pv = pv
        self.roots = roots or {}
        self.types = types or {}
        self.tags = tags or {}

    def tree(self, key=None):
        if key is None:
            key = next(iter(self.partitions))
        return self.partitions[key] if not isinstance(key, str) else self.lvs[key]


def _device_name(index):
    """How the appliance's kernel names the disk at ``index``: /dev/sda ... /dev/sdz,
    /dev/sdaa ... Written here, not imported from inject, so that a mistake in inject's
    own naming (tests/unit/test_vfs_devices.py) cannot hide behind the fake."""
    letters = string.ascii_lowercase
    prefix = _device_name(index // 26 - 1)[len('/dev/sd'):] if index >= 26 else ''
    return '/dev/sd' + prefix + letters[index % 26]


class _Errno(Exception):
    def __init__(self, code, path):
        super().__init__(code, path)
        self.code, self.path = code, path


class GuestFS:
    def __init__(self, python_return_dict=False, close_on_exit=True):
        assert python_return_dict is True, 'inject always asks for dicts'
        self.close_on_exit = close_on_exit
        self.calls = []          # [(name, args)]
        self.settings = {}
        self.drives = []         # [(path, {format, readonly})]
        self.launched = self.closed = False
        self.devices = {}        # device name -> tree, once launched
        self.mounts = {}         # guest mountpoint -> (device, tree)
        self.qmp_path = self.monitor = None
        HANDLES.append(self)

    def _log(self, name, *args):
        self.calls.append((name, args))

    def called(self, name):
        return [args for call, args in self.calls if call == name]

    # --- configuration and lifecycle ------------------------------------------------

    def set_backend_settings(self, settings):
        self._log('set_backend_settings', settings)
        self.settings['backend_settings'] = list(settings)

    def _setter(name):
        def setter(self, value):
            self._log(name, value)
            self.settings[name[4:]] = value
        return setter

    set_memsize = _setter('set_memsize')
    set_smp = _setter('set_smp')
    set_network = _setter('set_network')
    set_cachedir = _setter('set_cachedir')
    set_trace = _setter('set_trace')
    set_verbose = _setter('set_verbose')
    set_hv = _setter('set_hv')
    set_recovery_proc = _setter('set_recovery_proc')
    del _setter

    def config(self, flag, value):
        """Only -qmp unix:PATH,... is understood: a FakeMonitor listens there."""
        self._log('config', flag, value)
        assert flag == '-qmp' and value.startswith('unix:'), (flag, value)
        self.qmp_path = value[len('unix:'):].split(',')[0]

    def list_devices(self):
        self._log('list_devices')
        self._need_launch('list_devices')
        return sorted(d for d in self.disk_devices if d is not None)

    def list_disk_labels(self):
        """Hot-plugged disks by the serial they were plugged with (the appliance's
        /dev/disk/guestfs/<serial>)."""
        self._log('list_disk_labels')
        self._need_launch('list_disk_labels')
        return dict(self.labels)

    def set_event_callback(self, callback, events):
        self._log('set_event_callback', callback, events)
        return 1

    def add_drive_opts(self, filename, format=None, readonly=False):
        self._log('add_drive_opts', filename, format, readonly)
        if self.launched:
            raise RuntimeError('add_drive_opts: drives cannot be added after launch')
        self.drives.append((filename, {'format': format, 'readonly': readonly}))

    def launch(self):
        self._log('launch')
        for setting in self.settings.get('backend_settings', []):
            if setting in LAUNCH_ERRORS:
                raise RuntimeError('launch: ' + LAUNCH_ERRORS[setting])
        if not self.drives:
            raise RuntimeError('launch: you must call guestfs_add_drive before '
                               'guestfs_launch')
        self.launched = True
        self.disks, self.disk_devices = [], []
        self.labels = {}
        self.pv_uuids = {}
        self.types, self.tags = {}, {}      # device -> vfs_type / blkid
        for path, _ in self.drives:
            self._plug(path, _device_name(len(self.disks)))
        if self.qmp_path:
            self.monitor = FakeMonitor(self, self.qmp_path)

    def _unplug(self, dev):
        """Take device ``dev`` (and its partitions) out of the appliance."""
        index = self.disk_devices.index(dev)
        self.disk_devices[index] = None
        for name in [d for d in self.devices if d == dev or (
                d.startswith(dev) and d[len(dev):].isdigit())]:
            del self.devices[name]
        for label in [k for k, v in self.labels.items() if v == dev]:
            del self.labels[label]

    def _plug(self, path, dev, label=None):
        """Attach the disk registered under ``path`` as device ``dev``."""
        if label:
            self.labels[label] = dev
        disk = DISKS.get(path) or (DEFAULT_DISK or Disk)()
        index = len(self.disks)
        self.disks.append(disk)
        self.disk_devices.append(dev)
        for n, tree in disk.partitions.items():
            self.devices[dev if n == 0 else '%s%d' % (dev, n)] = tree
            self.types[self._absolute(index, n)] = 'ext4'
        self.devices.update(disk.lvs)
        for lv in disk.lvs:
            self.types[lv] = 'ext4'
        if disk.lvs:
            self.pv_uuids[dev if disk.pv == 0 else '%s%d' % (dev, disk.pv)] = (
                'PVUUID%02d-abcd-efgh' % index)
            self.types[self._absolute(index, disk.pv)] = 'LVM2_member'
        for n, fstype in disk.types.items():
            self.types[self._absolute(index, n)] = fstype
        for n, tags in disk.tags.items():
            self.tags[self._absolute(index, n)] = dict(tags)

    def shutdown(self):
        self._log('shutdown')
        self.mounts.clear()
        if self.monitor:
            self.monitor.stop()

    def close(self):
        self._log('close')
        self.closed = True

    def version(self):
        return {'major': 1, 'minor': 48, 'release': 6, 'extra': ''}

    def _need_launch(self, name):
        if not self.launched:
            raise RuntimeError('%s: call launch before using this function' % name)

    # --- devices, inspection, mounting ------------------------------------------------

    def _absolute(self, index, device):
        dev = self.disk_devices[index]
        if isinstance(device, int):
            return dev if device == 0 else '%s%d' % (dev, device)
        return device

    def list_partitions(self):
        self._log('list_partitions')
        self._need_launch('list_partitions')
        return sorted(d for d in set(self.devices) | set(self.types)
                      if d.startswith('/dev/sd') and d[-1].isdigit())

    def pread_device(self, device, count, offset):
        self._log('pread_device', device, count, offset)
        self._need_launch('pread_device')
        if device not in self.disk_devices:
            raise RuntimeError('pread_device: %s: No such file or directory' % device)
        disk = self.disks[self.disk_devices.index(device)]
        if disk.unreadable:
            raise RuntimeError('pread_device: %s: %s' % (device, disk.unreadable))
        return b'\0' * count

    def vfs_type(self, device):
        self._log('vfs_type', device)
        self._need_launch('vfs_type')
        if device not in self.types and not device.startswith('/dev/sd'):
            raise RuntimeError('vfs_type: %s: No such file or directory' % device)
        return self.types.get(device, '')

    def blkid(self, device):
        self._log('blkid', device)
        self._need_launch('blkid')
        return dict(self.tags.get(device, {}), TYPE=self.types.get(device, ''))

    def inspect_os(self):
        self._log('inspect_os')
        self._need_launch('inspect_os')
        return [self._absolute(i, root) for i, disk in enumerate(self.disks)
                for root in disk.roots]

    def inspect_get_mountpoints(self, root):
        self._log('inspect_get_mountpoints', root)
        for i, disk in enumerate(self.disks):
            for r, mountpoints in disk.roots.items():
                if self._absolute(i, r) == root:
                    return {mp: self._absolute(i, dev) for mp, dev in mountpoints.items()}
        raise RuntimeError('inspect_get_mountpoints: %s: no inspection data' % root)

    def is_lv(self, device):
        self._log('is_lv', device)
        return any(device in disk.lvs for disk in self.disks)

    def vgpvuuids(self, vg):
        self._log('vgpvuuids', vg)
        return [self.pv_uuids[pv] for i, disk in enumerate(self.disks)
                for pv in [self._absolute(i, disk.pv)]
                if any(lv.split('/')[2] == vg for lv in disk.lvs)]

    def pvuuid(self, device):
        self._log('pvuuid', device)
        if device not in self.pv_uuids:
            raise RuntimeError('pvuuid: %s: Failed to find physical volume' % device)
        return self.pv_uuids[device].replace('-', '')

    def mount(self, device, mountpoint):
        self._log('mount', device, mountpoint)
        self._need_launch('mount')
        if device not in self.devices:
            raise RuntimeError('mount: %s: No such file or directory' % device)
        if mountpoint != '/':
            try:
                node = self._lookup(self._resolve(mountpoint))
            except _Errno:
                node = None
            if node is None or node.type != 'dir':
                raise RuntimeError('mount: %s: No such file or directory' % mountpoint)
        self.mounts[mountpoint] = (device, self.devices[device])

    def mount_ro(self, device, mountpoint):
        self._log('mount_ro', device, mountpoint)
        self.mount(device, mountpoint)
        self.calls.pop()     # logged as mount_ro only

    def umount_all(self):
        self._log('umount_all')
        self.mounts.clear()

    # --- the guest filesystem -----------------------------------------------------------

    def _where(self, path):
        """(tree, path in that tree) of a guest path with no symlinks in it."""
        if '/' not in self.mounts:
            raise _Errno('ROOT', path)
        mp = max((m for m in self.mounts
                  if path == m or path.startswith(m.rstrip('/') + '/')), key=len)
        return self.mounts[mp][1], '/' + path[len(mp):].lstrip('/')

    def _lookup(self, path):
        tree, rel = self._where(path)
        return tree.get(rel)

    def _resolve(self, path, follow=True, depth=0):
        """The guest path with every symlink resolved (the last one only if
        ``follow``); raises _Errno for a missing or non-directory component."""
        if depth > 40:
            raise _Errno(errno.ELOOP, path)
        parts = [p for p in path.split('/') if p]
        current = '/'
        for i, name in enumerate(parts):
            node = self._lookup(current)
            if node is None:
                raise _Errno(errno.ENOENT, path)
            if node.type != 'dir':
                raise _Errno(errno.ENOTDIR, path)
            if name == '.':
                continue
            if name == '..':
                current = posixpath.dirname(current)
                continue
            nxt = posixpath.join(current, name)
            child = self._lookup(nxt)
            if child is not None and child.type == 'link' and (follow or i < len(parts) - 1):
                target = posixpath.join(current, child.target)   # absolute stays absolute
                nxt = self._resolve(target, True, depth + 1)
            current = nxt
        return current

    def _guard(self, name, path, fn):
        self._log(name, path)
        self._need_launch(name)
        try:
            return fn()
        except _Errno as e:
            if e.code == 'ROOT':
                raise RuntimeError("%s: you must call 'mount' first to mount the root "
                                   "filesystem" % name)
            raise RuntimeError('%s: %s: %s' % (name, path, os.strerror(e.code)))

    def _existing(self, path, follow=True):
        node = self._lookup(self._resolve(path, follow))
        if node is None:
            raise _Errno(errno.ENOENT, path)
        return node

    def _file(self, path):
        node = self._existing(path)
        if node.type == 'dir':
            raise _Errno(errno.EISDIR, path)
        return node

    def _new_entry(self, path, node):
        """Place ``node`` at ``path``; the parent must be an existing directory."""
        parent = self._existing(posixpath.dirname(self._resolve(path, follow=False)))
        if parent.type != 'dir':
            raise _Errno(errno.ENOTDIR, path)
        tree, rel = self._where(self._resolve(path, follow=False))
        tree[rel] = node

    def statns(self, path):
        def stat():
            node = self._existing(path)
            kind = {'file': S_IFREG, 'dir': S_IFDIR}[node.type]
            return {'st_mode': kind | node.mode, 'st_uid': node.uid, 'st_gid': node.gid,
                    'st_size': len(node.content) if node.type == 'file' else 4096,
                    'st_nlink': 1}
        return self._guard('statns', path, stat)

    def pread(self, path, count, offset):
        return self._guard('pread', path,
                           lambda: self._file(path).content[offset:offset + count])

    def read_file(self, path):
        return self._guard('read_file', path, lambda: self._file(path).content)

    def _write(self, name, path, data, append):
        if isinstance(data, str):
            data = data.encode('utf-8')

        def write():
            try:
                node = self._file(path)
            except _Errno as e:
                if e.code != errno.ENOENT:
                    raise
                self._new_entry(path, f(b''))
                node = self._file(path)
            node.content = (node.content if append else b'') + data
        return self._guard(name, path, write)

    def write(self, path, content):
        return self._write('write', path, content, append=False)

    def write_append(self, path, content):
        return self._write('write_append', path, content, append=True)

    def mkdir(self, path):
        def mkdir():
            try:
                self._existing(path, follow=False)
            except _Errno as e:
                if e.code != errno.ENOENT:
                    raise
                return self._new_entry(path, d(0o755))
            raise _Errno(errno.EEXIST, path)
        return self._guard('mkdir', path, mkdir)

    def chmod(self, mode, path):
        def chmod():
            self._existing(path).mode = mode & 0o7777
        return self._guard('chmod', path, chmod)

    def chown(self, owner, group, path):
        def chown():
            node = self._existing(path)
            node.uid, node.gid = owner, group
        return self._guard('chown', path, chown)

    def _is(self, name, kind, path, follow):
        """True when ``path`` is a ``kind`` node (a symlink to one only with ``follow``).
        A missing path (or one through a file) is False, as in libguestfs."""
        def check():
            try:
                node = self._lookup(self._resolve(path, follow=follow))
            except _Errno as e:
                if e.code == 'ROOT':
                    raise
                return False
            return node is not None and node.type == kind
        return self._guard(name, path, check)

    def is_file(self, path, followsymlinks=False):
        return self._is('is_file', 'file', path, followsymlinks)

    def is_dir(self, path, followsymlinks=False):
        return self._is('is_dir', 'dir', path, followsymlinks)


HOTPLUG_ERRORS = {}  # host path -> what blockdev-add answers for it (qemu cannot open it)


class FakeMonitor:
    """qemu's QMP monitor, as far as hot-plugging goes: blockdev-add remembers a node,
    device_add plugs its disk in as the first free /dev/sdX (after the appliance's own
    root disk, as in the real appliance) labelled with its serial, device_del unplugs it
    (then DEVICE_DELETED), blockdev-del forgets an unplugged node."""

    def __init__(self, g, path):
        import socket
        import threading
        self._g, self._nodes = g, {}
        self._plugged = {}       # device id -> (node, appliance device)
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(path)
        self._listener.listen(1)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _next_device(self):
        used = set(self._g.disk_devices) | {_device_name(len(self._g.drives))}   # root
        used |= {dev for _, dev in self._plugged.values()}    # plugged, maybe not seen yet
        used.discard(None)
        index = 0
        while _device_name(index) in used:
            index += 1
        return _device_name(index)

    def _serve(self):
        import json
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        f = conn.makefile('rw')
        f.write(json.dumps({'QMP': {'version': {'qemu': {'major': 7}}}}) + '\n')
        f.write(json.dumps({'event': 'NOISE'}) + '\n')      # events come unasked
        f.flush()
        for line in f:
            request = json.loads(line)
            command, args = request['execute'], request.get('arguments', {})
            self._g._log('qmp', command, args)
            reply = {'return': {}}
            if command == 'blockdev-add':
                path = args['file']['filename']
                if path in HOTPLUG_ERRORS:
                    reply = {'error': {'class': 'GenericError',
                                       'desc': HOTPLUG_ERRORS[path]}}
                else:
                    self._nodes[args['node-name']] = path
            elif command == 'device_add':
                if args['drive'] not in self._nodes:
                    reply = {'error': {'class': 'GenericError',
                                       'desc': "Drive '%s' not found" % args['drive']}}
                else:
                    dev = self._next_device()
                    self._plugged[args['id']] = (args['drive'], dev)
                    self._g._plug(self._nodes[args['drive']], dev, args.get('serial'))
            elif command == 'device_del':
                if args['id'] not in self._plugged:
                    reply = {'error': {'class': 'DeviceNotFound',
                                       'desc': "Device '%s' not found" % args['id']}}
                else:
                    _, dev = self._plugged.pop(args['id'])
                    if dev in self._g.disk_devices:
                        self._g._unplug(dev)
                    f.write(json.dumps(reply) + '\n')
                    reply = {'event': 'DEVICE_DELETED', 'data': {'device': args['id']}}
            elif command == 'blockdev-del':
                node = args['node-name']
                if any(drive == node for drive, _ in self._plugged.values()):
                    reply = {'error': {'class': 'GenericError',
                                       'desc': 'Node %s is in use' % node}}
                else:
                    self._nodes.pop(node, None)
            elif command != 'qmp_capabilities':
                reply = {'error': {'class': 'CommandNotFound', 'desc': command}}
            f.write(json.dumps(reply) + '\n')
            f.flush()

    def stop(self):
        self._listener.close()
