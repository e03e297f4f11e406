"""Build small guest disk images, and read files back out of them, for the demo and tests.

Both run the appliance in a child process bounded by a timeout (killed with its process
group on expiry, or when the caller dies: :mod:`inject.parent_death`), attach every
image to one launch, and use only libguestfs: nothing is mounted on the host.

Layouts:
  mbr-linux     MBR, partition 1 ext4 holding a minimal Debian root
  whole-linux   ext4 on the whole disk, a minimal Debian root
  lvm-linux     partition 1 ext4 /boot, partition 2 an LVM PV; <vg>/root ext4 root
  split-linux   partition 1 ext4 /boot, partition 2 ext4 root; fstab names both by
                UUID and LABEL, as cloud images do
  two-roots     MBR, partitions 1 and 2 each a Debian root (inspection finds two)
  no-os         MBR, partition 1 ext4 with data only
  selinux       like mbr-linux, plus /etc/selinux and /etc/rc.d (a RHEL-like layout)
"""

import base64
import json
import os
import signal
import subprocess
import sys

from inject import appliance
from inject import parent_death
from inject import vfs
from inject.vfs import api
from inject.vfs.devices import device_name

LAYOUTS = ('mbr-linux', 'whole-linux', 'lvm-linux', 'split-linux', 'two-roots', 'no-os',
           'selinux')

PASSWD = ('root:x:0:0:root:/root:/bin/bash\n'
          'daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n'
          'debian:x:1000:1000:Debian:/home/debian:/bin/bash\n')
GROUP = 'root:x:0:\ndaemon:x:1:\nshadow:x:42:\ndebian:x:1000:\n'
SHADOW = ('root:*:19700:0:99999:7:::\n'
          'daemon:*:19700:0:99999:7:::\n'
          'debian:!:19700:0:99999:7:::\n')
OS_RELEASE = ('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\n'
              'VERSION_ID="12"\nVERSION="12 (bookworm)"\nID=debian\n')


def _debian_root(g, label):
    for d in ('/etc', '/bin', '/usr', '/usr/bin', '/var', '/tmp', '/home'):
        g.mkdir_p(d)
    g.mkdir_mode('/root', 0o700)
    files = {
        '/etc/os-release': (OS_RELEASE, 0o644, 0),
        '/etc/debian_version': ('12.8\n', 0o644, 0),
        '/etc/hostname': (label + '\n', 0o644, 0),
        '/etc/passwd': (PASSWD, 0o644, 0),
        '/etc/group': (GROUP, 0o644, 0),
        '/etc/shadow': (SHADOW, 0o640, 42),
        '/etc/motd': ('Welcome to %s\n' % label, 0o644, 0),
        '/etc/fstab': ('# <file system> <mount point> <type> <options> <dump> <pass>\n',
                       0o644, 0),
        '/bin/sh': ('#!/bin/true\n', 0o755, 0),
    }
    for path, (content, mode, gid) in files.items():
        g.write(path, content)
        g.chmod(mode, path)
        g.chown(0, gid, path)


def _format(g, device, label):
    g.mkfs('ext4', device)
    g.set_label(device, label[:16])


def _build_one(g, device, spec):
    layout = spec['layout']
    label = os.path.basename(spec['path']).split('.')[0]
    if layout == 'whole-linux':
        _format(g, device, label)
        g.mount(device, '/')
        _debian_root(g, label)
        g.write_append('/etc/fstab', 'LABEL=%s / ext4 defaults 0 1\n' % label[:16])
    elif layout == 'lvm-linux':
        vg = spec.get('vg', 'vg' + label.replace('-', '')[:10])
        g.part_init(device, 'mbr')
        g.part_add(device, 'p', 2048, 206847)         # ~100 MiB /boot
        g.part_add(device, 'p', 206848, -2048)
        _format(g, device + '1', 'boot')
        g.pvcreate(device + '2')
        g.vgcreate(vg, [device + '2'])
        g.lvcreate_free('root', vg, 100)
        root = '/dev/%s/root' % vg
        _format(g, root, label)
        g.mount(root, '/')
        _debian_root(g, label)
        g.mkdir('/boot')
        g.mount(device + '1', '/boot')
        g.write('/boot/README', 'the /boot of %s\n' % label)
        boot_uuid = g.vfs_uuid(device + '1')
        g.write_append('/etc/fstab', '%s / ext4 defaults 0 1\nUUID=%s /boot ext4 defaults 0 2\n'
                       % (root, boot_uuid))
    elif layout == 'split-linux':
        g.part_init(device, 'mbr')
        g.part_add(device, 'p', 2048, 104447)         # ~50 MiB /boot
        g.part_add(device, 'p', 104448, -2048)
        _format(g, device + '1', 'boot')
        _format(g, device + '2', label)
        g.mount(device + '2', '/')
        _debian_root(g, label)
        g.mkdir('/boot')
        g.mount(device + '1', '/boot')
        g.write('/boot/README', 'the /boot of %s\n' % label)
        g.write_append('/etc/fstab', 'UUID=%s / ext4 defaults 0 1\nLABEL=boot /boot ext4 '
                       'defaults 0 2\n' % g.vfs_uuid(device + '2'))
    elif layout == 'two-roots':
        g.part_init(device, 'mbr')
        g.part_add(device, 'p', 2048, 204799)
        g.part_add(device, 'p', 204800, -2048)
        for n in (1, 2):
            part = '%s%d' % (device, n)
            _format(g, part, '%s%d' % (label[:14], n))
            g.mount(part, '/')
            _debian_root(g, '%s-%d' % (label, n))
            g.write_append('/etc/fstab', 'LABEL=%s%d / ext4 defaults 0 1\n' % (label[:14], n))
            g.umount_all()
    else:
        g.part_disk(device, 'mbr')
        _format(g, device + '1', label)
        g.mount(device + '1', '/')
        if layout == 'no-os':
            g.mkdir('/data')
            g.write('/data/README', 'no operating system here\n')
        else:
            _debian_root(g, label)
            g.write_append('/etc/fstab', 'LABEL=%s / ext4 defaults 0 1\n' % label[:16])
            if layout == 'selinux':
                g.mkdir_p('/etc/selinux')
                g.write('/etc/selinux/config', 'SELINUX=enforcing\nSELINUXTYPE=targeted\n')
                g.mkdir_p('/etc/rc.d')
    g.umount_all()


def _launch(drives, accelerator, settings):
    return vfs.load_driver(settings.driver).launch(
        drives, appliance.launch_settings(settings, accelerator, drives=len(drives)))


def _do_build(specs, accelerator, settings):
    for spec in specs:
        if os.path.exists(spec['path']):
            os.unlink(spec['path'])
        fmt = spec.get('format', 'qcow2')
        size = spec.get('size_mb', 256) * 1024 * 1024
        import guestfs
        g0 = guestfs.GuestFS(python_return_dict=True)
        g0.disk_create(spec['path'], fmt, size)
        g0.close()
    app = _launch([api.Drive(s['path'], s.get('format', 'qcow2')) for s in specs],
                  accelerator, settings)
    g = app.handle
    try:
        for index, spec in enumerate(specs):
            _build_one(g, device_name(index), spec)
        app.shutdown()
    finally:
        app.close()
    return {'built': [s['path'] for s in specs]}


def _do_read(targets, accelerator, settings):
    """targets: [{'path', 'format', 'partition' (0 or N) or 'lv' (an LV path), 'files'}]."""
    app = _launch([api.Drive(t['path'], t['format'], readonly=True) for t in targets],
                  accelerator, settings)
    g = app.handle
    out = []
    try:
        for index, target in enumerate(targets):
            device = target.get('lv') or '%s%s' % (
                device_name(index), target.get('partition') or '')
            g.mount_ro(device, '/')
            files = {}
            for path in target['files']:
                try:
                    st = g.lstatns(path)
                except RuntimeError:
                    files[path] = None
                    continue
                entry = {'mode': st['st_mode'] & 0o7777, 'uid': st['st_uid'],
                         'gid': st['st_gid'], 'type': st['st_mode'] & 0o170000}
                if entry['type'] == 0o100000:
                    entry['content'] = base64.b64encode(g.read_file(path)).decode()
                files[path] = entry
            out.append(files)
            g.umount_all()
    finally:
        app.close()
    return {'files': out}


def _child(action, payload, accelerator, settings_dict):
    settings = appliance.Settings(**settings_dict)
    fn = {'build': _do_build, 'read': _do_read}[action]
    return fn(payload, accelerator, settings)


def _run(action, payload, settings, timeout):
    """Run ``action`` in a child (own process group) bounded by ``timeout`` seconds."""
    accelerator, probing, _ = appliance.choose_accelerator(settings)
    attempts = [(accelerator, settings.kvm_probe_timeout if probing else timeout)]
    if probing:
        attempts.append(('tcg', timeout))
    error = None
    for accelerator, seconds in attempts:
        request = json.dumps({'action': action, 'payload': payload,
                              'accelerator': accelerator,
                              'settings': settings.__dict__})
        proc = subprocess.Popen([sys.executable, '-m', 'inject.imagebuilder'],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True,
                                **parent_death.popen_args())
        try:
            out, err = proc.communicate(request, timeout=seconds)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            error = '%s timed out after %s s under %s' % (action, seconds, accelerator)
            continue
        if proc.returncode == 0:
            return json.loads(out)
        error = '%s failed under %s: %s' % (action, accelerator, err.strip()[-2000:])
    raise RuntimeError(error)


def build(specs, settings, timeout=600):
    """Create the images in ``specs`` ([{'path', 'layout', 'format', 'size_mb'}])."""
    for spec in specs:
        if spec['layout'] not in LAYOUTS:
            raise ValueError('unknown layout %r (known: %s)' % (spec['layout'],
                                                               ', '.join(LAYOUTS)))
    return _run('build', specs, settings, timeout)['built']


def read_back(targets, settings, timeout=600):
    """Read files out of images, read-only; returns per target {path: entry or None}.

    Each entry has mode, uid, gid, type and, for regular files, ``content`` as bytes.
    """
    result = _run('read', targets, settings, timeout)['files']
    for files in result:
        for entry in files.values():
            if entry and 'content' in entry:
                entry['content'] = base64.b64decode(entry['content'])
    return result


if __name__ == '__main__':
    # The demo or test that started it died: its appliance goes too.
    parent_death.watch(lambda: os.killpg(0, signal.SIGKILL))
    job = json.load(sys.stdin)
    json.dump(_child(job['action'], job['payload'], job['accelerator'], job['settings']),
              sys.stdout)
