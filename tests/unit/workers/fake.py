"""The real worker (inject.appliance.worker.worker_main) over the fake guestfs module.

Every drive holds an unpartitioned Linux root. Environment:
FAKE_LAUNCH_ERROR_KVM  -- launch under force_kvm fails with this message;
FAKE_HANG_KVM          -- launch under force_kvm hangs;
FAKE_KVM_KILLED        -- a launch under force_kvm kills its own worker with SIGKILL;
FAKE_HANG_MOUNT        -- mounting this device (e.g. /dev/sdb) hangs;
FAKE_LAUNCH_ERROR_PVH  -- launch fails with this message when supermin is pointed at an
                          extracted kernel (SUPERMIN_KERNEL set);
FAKE_PVH_FAILS_ONCE    -- a file: the first PVH launch (while it does not exist) fails
                          as a qemu killed from outside does, and creates it;
FAKE_PVH_KILLED        -- a PVH launch kills its own worker with SIGKILL (as kill -9 or
                          the OOM killer would);
FAKE_HANG_PVH          -- a PVH launch hangs;
FAKE_LAUNCH_RECORD     -- append the launch's smp and SUPERMIN_KERNEL to this file;
FAKE_HOTPLUG_ERROR     -- a warm appliance cannot hot-plug this disk (host path);
FAKE_DETACH_ERROR      -- a warm appliance cannot detach its disks again;
FAKE_QEMU_DIR          -- launch starts a stand-in qemu (a sleeping child in the worker's
                          process group, as libguestfs starts qemu) and writes "WORKER
                          QEMU" pids to DIR/pids; a hanging mount writes DIR/mounting.
"""

import os
import signal
import subprocess
import sys
import time

from tests.unit import fakeguestfs

fakeguestfs.DEFAULT_DISK = lambda: fakeguestfs.Disk({0: fakeguestfs.linux_tree()})
if os.environ.get('FAKE_HOTPLUG_ERROR'):
    fakeguestfs.HOTPLUG_ERRORS[os.environ['FAKE_HOTPLUG_ERROR']] = 'Could not open it'
if os.environ.get('FAKE_LAUNCH_ERROR_KVM'):
    fakeguestfs.LAUNCH_ERRORS['force_kvm'] = os.environ['FAKE_LAUNCH_ERROR_KVM']

_launch = fakeguestfs.GuestFS.launch
_mount = fakeguestfs.GuestFS.mount


def _mark(name, text=''):
    if os.environ.get('FAKE_QEMU_DIR'):
        path = os.path.join(os.environ['FAKE_QEMU_DIR'], name)
        with open(path + '.tmp', 'w') as f:
            f.write(text)
        os.replace(path + '.tmp', path)


def launch(self):
    if os.environ.get('FAKE_QEMU_DIR'):
        qemu = subprocess.Popen(['sleep', '3600'])
        _mark('pids', '%d %d' % (os.getpid(), qemu.pid))
    if os.environ.get('FAKE_LAUNCH_RECORD'):
        with open(os.environ['FAKE_LAUNCH_RECORD'], 'a') as f:
            f.write('%s %s %s\n' % (self.settings['smp'],
                                    os.environ.get('SUPERMIN_KERNEL', '-'),
                                    self.settings.get('cachedir')))
    if os.environ.get('FAKE_HANG_KVM') and 'force_kvm' in self.settings['backend_settings']:
        time.sleep(3600)
    if os.environ.get('FAKE_KVM_KILLED') and 'force_kvm' in self.settings['backend_settings']:
        os.kill(os.getpid(), signal.SIGKILL)
    pvh = bool(os.environ.get('SUPERMIN_KERNEL'))
    if os.environ.get('FAKE_LAUNCH_ERROR_PVH') and pvh:
        raise RuntimeError('launch: ' + os.environ['FAKE_LAUNCH_ERROR_PVH'])
    once = os.environ.get('FAKE_PVH_FAILS_ONCE')
    if once and pvh and not os.path.exists(once):
        open(once, 'w').close()
        raise RuntimeError('guestfs_launch failed.\nThis usually means the libguestfs '
                           'appliance failed to start or crashed.')
    if os.environ.get('FAKE_PVH_KILLED') and pvh:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get('FAKE_HANG_PVH') and pvh:
        time.sleep(3600)
    return _launch(self)


def mount(self, device, mountpoint):
    if device == os.environ.get('FAKE_HANG_MOUNT'):
        _mark('mounting')
        time.sleep(3600)
    return _mount(self, device, mountpoint)


fakeguestfs.GuestFS.launch = launch
fakeguestfs.GuestFS.mount = mount
sys.modules['guestfs'] = fakeguestfs

from inject.appliance import worker  # noqa: E402  (after guestfs is in place)

if os.environ.get('FAKE_DETACH_ERROR'):
    from inject import exception  # noqa: E402
    from inject.vfs import guestfs as vfs_guestfs  # noqa: E402

    def detach(self, index, timeout=30):
        raise exception.HotplugFailed(what='device_del', reason='stuck')
    vfs_guestfs.GuestFSAppliance.detach = detach

if __name__ == '__main__':
    worker.worker_main()
