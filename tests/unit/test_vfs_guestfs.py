"""The libguestfs driver (inject.vfs.guestfs): launch, mounting, file operations, hot-plug.

What to mount for inject_partition=-1 or a missing partition is test_vfs_roots.py.
"""

import logging
import os

import pytest

from inject.appliance import kernel as appliance_kernel
from inject import exception
from inject.vfs import api
from inject.vfs import guestfs as vfs_guestfs
from tests.unit import fakeguestfs
from tests.unit.fakeguestfs import Disk
from tests.unit.fakeguestfs import d
from tests.unit.fakeguestfs import f
from tests.unit.fakeguestfs import link


def launch(fake, disks, accelerator='tcg', **settings):
    drives = []
    for n, disk in enumerate(disks):
        path = '/images/disk%d.qcow2' % n
        fake.DISKS[path] = disk
        drives.append(api.Drive(path, 'qcow2'))
    appliance = vfs_guestfs.GuestFSDriver().launch(
        drives, api.LaunchSettings(accelerator, **settings))
    return appliance, appliance.handle


def simple_tree(marker='x'):
    return {'/': d(), '/marker': f(marker), '/boot': d(), '/var': d()}


# --- launch ----------------------------------------------------------------------------------

@pytest.mark.parametrize('accelerator', ['tcg', 'kvm'])
def test_launch_settings(fake_guestfs, tmp_path, accelerator):
    cache = tmp_path / 'cache'
    drives = [api.Drive('/a.qcow2', 'qcow2'), api.Drive('/b.raw', 'raw', readonly=True)]
    appliance = vfs_guestfs.GuestFSDriver().launch(
        drives, api.LaunchSettings(accelerator, memsize=768, smp=2, cache_dir=str(cache)))
    g = appliance.handle
    assert g.settings['backend_settings'] == ['force_' + accelerator]
    assert (g.settings['memsize'], g.settings['smp']) == (768, 2)
    assert g.settings['network'] is False
    assert g.settings['cachedir'] == str(cache)
    assert cache.is_dir() and cache.stat().st_mode & 0o777 == 0o700
    assert g.called('add_drive_opts') == [('/a.qcow2', 'qcow2', False),
                                          ('/b.raw', 'raw', True)]
    assert [c for c, _ in g.calls].index('launch') > [c for c, _ in g.calls].index(
        'add_drive_opts')
    assert g.launched and 'trace' not in g.settings


def test_launch_runs_the_given_hypervisor(fake_guestfs):
    g = launch(fake_guestfs, [Disk()], tb_size=64, hv='/cache/qemu-wrapper/qemu-tcg-tb64')[1]
    assert g.settings['hv'] == '/cache/qemu-wrapper/qemu-tcg-tb64'
    assert [c for c, _ in g.calls].index('set_hv') < [c for c, _ in g.calls].index('launch')


def test_launch_without_hypervisor_keeps_libguestfs_default(fake_guestfs):
    g = launch(fake_guestfs, [Disk()], accelerator='kvm')[1]
    assert 'hv' not in g.settings
    assert g.settings['recovery_proc'] is True


def test_launch_without_recovery_process_when_the_wrapper_reaps(fake_guestfs):
    g = launch(fake_guestfs, [Disk()], tb_size=64, hv='/cache/qemu-wrapper/qemu-tcg-tb64',
               recovery_proc=False)[1]
    assert g.settings['recovery_proc'] is False
    assert [c for c, _ in g.calls].index('set_recovery_proc') < [
        c for c, _ in g.calls].index('launch')


def test_launch_with_debug_traces(fake_guestfs):
    g = launch(fake_guestfs, [Disk()], debug=True)[1]
    assert g.settings['trace'] is True and g.settings['verbose'] is True
    [(callback, events)] = g.called('set_event_callback')
    assert events & fakeguestfs.EVENT_APPLIANCE and events & fakeguestfs.EVENT_TRACE
    callback(fakeguestfs.EVENT_APPLIANCE, 1, b'console line\n', [])   # must not raise


def test_launch_failure_becomes_appliance_launch_failed(fake_guestfs):
    fake_guestfs.LAUNCH_ERRORS['force_kvm'] = 'qemu: failed to set MSR 0x48b'
    with pytest.raises(exception.ApplianceLaunchFailed) as e:
        launch(fake_guestfs, [Disk()], accelerator='kvm')
    assert 'accelerator kvm' in str(e.value)
    assert 'failed to set MSR' in str(e.value)
    assert fake_guestfs.HANDLES[-1].closed


def test_version(fake_guestfs):
    assert vfs_guestfs.GuestFSDriver().version() == '1.48.6'
    assert fake_guestfs.HANDLES[-1].closed


# --- mounting by partition number ------------------------------------------------------------

def test_mount_partition_n(fake_guestfs):
    appliance, g = launch(fake_guestfs, [Disk({1: simple_tree('one'), 2: simple_tree('two')})])
    fs = appliance.mount(0, 2, 'disk0')
    assert g.called('mount') == [('/dev/sda2', '/')]
    assert fs.mountpoints == (('/', '/dev/sda2'),)
    assert fs.read('/marker') == b'two'


def test_mount_partition_on_second_drive(fake_guestfs):
    appliance, g = launch(fake_guestfs, [Disk({1: simple_tree('a')}),
                                         Disk({1: simple_tree('b')})])
    assert appliance.mount(1, 1, 'disk1').read('/marker') == b'b'
    assert g.called('mount') == [('/dev/sdb1', '/')]


def test_partition_0_is_the_whole_device(fake_guestfs):
    appliance, g = launch(fake_guestfs, [Disk({0: simple_tree('whole')})])
    fs = appliance.mount(0, 0, 'disk0')
    assert g.called('mount') == [('/dev/sda', '/')]
    assert fs.read('/marker') == b'whole'
    assert g.called('list_partitions') == []


def test_mount_failure_becomes_guest_filesystem_error(fake_guestfs):
    appliance, g = launch(fake_guestfs, [Disk({1: simple_tree()})])
    with pytest.raises(exception.GuestFilesystemError) as e:
        appliance.mount(0, 0, 'disk0.img')       # /dev/sda holds no filesystem
    assert 'disk0.img' in str(e.value) and '/dev/sda at /' in str(e.value)
    assert g.called('umount_all')


# --- mounting by inspection -------------------------------------------------------------------

def test_failing_secondary_mount_is_skipped(fake_guestfs, caplog):
    tree = simple_tree('root')
    del tree['/var']                              # nowhere to mount /var
    disk = Disk({1: tree, 2: simple_tree()}, roots={1: {'/': 1, '/var': 2}})
    appliance, _ = launch(fake_guestfs, [disk])
    with caplog.at_level(logging.WARNING):
        fs = appliance.mount(0, -1, 'd0')
    assert fs.mountpoints == (('/', '/dev/sda1'),)
    assert 'Skipping /dev/sda2 at /var' in caplog.text


# --- the filesystem ----------------------------------------------------------------------------

@pytest.fixture
def fs(fake_guestfs):
    tree = {'/': d(), '/etc': d(), '/etc/motd': f('hello\n', 0o640, 3, 4),
            '/etc/link': link('motd'), '/etc/dangling': link('/nowhere'), '/dir': d(0o711)}
    appliance, _ = launch(fake_guestfs, [Disk({1: tree})])
    return appliance.mount(0, 1, 'd0')


def test_stat_file(fs):
    assert fs.stat('/etc/motd') == api.Stat(mode=0o640, uid=3, gid=4, size=6, is_dir=False,
                                            is_file=True)


def test_stat_dir(fs):
    st = fs.stat('/dir')
    assert (st.mode, st.is_dir, st.is_file) == (0o711, True, False)


def test_stat_follows_symlinks(fs):
    assert fs.stat('/etc/link').size == 6


@pytest.mark.parametrize('path', ['/missing', '/etc/missing/x', '/etc/motd/x',
                                  '/etc/dangling'])
def test_stat_of_missing_path_is_none(fs, path):
    assert fs.stat(path) is None


def test_stat_other_error_is_raised(fs, monkeypatch):
    def statns(path):
        raise RuntimeError('statns: %s: Permission denied' % path)
    monkeypatch.setattr(fs._g, 'statns', statns)
    with pytest.raises(exception.GuestReadError) as e:
        fs.stat('/etc/motd')
    assert str(e.value) == ('Cannot read /etc/motd in the guest: cannot stat it: statns: '
                            '/etc/motd: Permission denied.')


def test_read_uses_pread(fs):
    assert fs.read('/etc/motd') == b'hello\n'
    assert fs._g.called('pread') == [('/etc/motd',)]
    assert fs._g.called('read_file') == []


def test_read_large_file_uses_read_file(fs, monkeypatch):
    monkeypatch.setattr(vfs_guestfs, 'PREAD_MAX', 3)
    assert fs.read('/etc/motd') == b'hello\n'
    assert fs._g.called('read_file') == [('/etc/motd',)]


def test_read_missing(fs):
    with pytest.raises(exception.GuestReadError) as e:
        fs.read('/nope')
    assert str(e.value) == 'Cannot read /nope in the guest: it does not exist.'


@pytest.mark.parametrize('call, limit', [('pread', None), ('read_file', 3)])
def test_read_errors_are_read_errors(fs, monkeypatch, call, limit):
    def fail(path, *args):
        raise RuntimeError('%s: %s: Input/output error' % (call, path))
    monkeypatch.setattr(fs._g, call, fail)
    if limit:
        monkeypatch.setattr(vfs_guestfs, 'PREAD_MAX', limit)
    with pytest.raises(exception.GuestReadError) as e:
        fs.read('/etc/motd')
    assert str(e.value) == ('Cannot read /etc/motd in the guest: %s failed: %s: '
                            '/etc/motd: Input/output error.' % (call, call))


def test_write_errors_are_wrapped(fs):
    with pytest.raises(exception.GuestWriteError) as e:
        fs.write('/nodir/file', b'x')
    assert str(e.value) == ('Cannot write /nodir/file in the guest: write failed: '
                            'write: /nodir/file: No such file or directory.')


def test_mkdir_chmod_chown_append(fs):
    fs.mkdir('/new')
    fs.chmod('/new', 0o700)
    fs.chown('/new', 5, 6)
    fs.append('/new/log', b'a')
    fs.append('/new/log', b'b')
    assert fs.stat('/new') == api.Stat(0o700, 5, 6, 4096, True, False)
    assert fs.read('/new/log') == b'ab'


def test_unmount(fs):
    fs.unmount()
    assert fs._g.mounts == {}


def test_unmount_failure_says_writes_may_be_lost(fs, monkeypatch):
    def umount_all():
        raise RuntimeError('umount_all: /: Device or resource busy')
    monkeypatch.setattr(fs._g, 'umount_all', umount_all)
    with pytest.raises(exception.GuestSyncError) as e:
        fs.unmount()
    assert str(e.value) == ('What was written to the guest filesystem may not have '
                            'reached the disk: umount_all failed: umount_all: /: Device '
                            'or resource busy.')


def test_shutdown_failure_is_reported(fake_guestfs, monkeypatch):
    appliance, g = launch(fake_guestfs, [Disk()])

    def shutdown():
        raise RuntimeError('shutdown: sync failed')
    monkeypatch.setattr(g, 'shutdown', shutdown)
    with pytest.raises(exception.GuestSyncError) as e:
        appliance.shutdown()
    assert str(e.value) == ("What was written to the appliance's drives may not have "
                            'reached the disk: flushing the appliance failed: shutdown: '
                            'sync failed.')
    appliance.close()
    assert g.closed


def test_close_never_raises(fake_guestfs, monkeypatch):
    appliance, g = launch(fake_guestfs, [Disk()])
    monkeypatch.setattr(g, 'close', lambda: 1 / 0)
    appliance.close()


# --- remembered layouts (partition -1 with a layout from the inspection cache) -----------------

def os_tree(marker):
    tree = fakeguestfs.linux_tree()
    tree.update({'/marker': f(marker), '/boot': d(), '/var': d()})
    return tree


def test_remembered_layout_mounts_without_inspection(fake_guestfs):
    disk = Disk({1: os_tree('root')}, roots={1: {'/': 1}})
    appliance, g = launch(fake_guestfs, [disk])
    fs = appliance.mount(0, -1, 'd0', layout=[('/', 'part:1')])
    assert g.called('mount') == [('/dev/sda1', '/')]
    assert g.called('inspect_os') == [] and g.called('umount_all') == []
    assert fs.source == 'remembered layout'
    assert fs.mountpoints == (('/', '/dev/sda1'),)
    assert fs.layout == (('/', 'part:1'),)
    assert fs.read('/marker') == b'root'


def test_remembered_layout_is_relative_to_the_drive(fake_guestfs):
    first = Disk({1: os_tree('first')})
    second = Disk({1: simple_tree('boot'), 2: os_tree('second')})
    appliance, g = launch(fake_guestfs, [first, second])
    fs = appliance.mount(1, -1, 'd1', layout=[('/', 'part:2'), ('/boot', 'part:1')])
    assert g.called('mount') == [('/dev/sdb2', '/'), ('/dev/sdb1', '/boot')]
    assert fs.mountpoints == (('/', '/dev/sdb2'), ('/boot', '/dev/sdb1'))
    assert fs.layout == (('/', 'part:2'), ('/boot', 'part:1'))
    assert fs.read('/marker') == b'second' and fs.read('/boot/marker') == b'boot'
    assert g.called('inspect_os') == []


@pytest.mark.parametrize('disk, spec, device', [
    (Disk({0: os_tree('whole')}), 'whole', '/dev/sda'),
    (Disk({1: {'/': d()}}, lvs={'/dev/vg0/root': os_tree('lv')}), 'lv:vg0/root',
     '/dev/vg0/root'),
], ids=['whole', 'lv'])
def test_remembered_layout_of_whole_disk_or_lv(fake_guestfs, disk, spec, device):
    appliance, g = launch(fake_guestfs, [disk])
    fs = appliance.mount(0, -1, 'd0', layout=[('/', spec)])
    assert g.called('mount') == [(device, '/')]
    assert fs.source == 'remembered layout' and fs.layout == (('/', spec),)
    assert g.called('inspect_os') == []


def test_a_layout_is_only_used_with_partition_minus_1(fake_guestfs):
    appliance, g = launch(fake_guestfs, [Disk({1: os_tree('one'), 2: os_tree('two')})])
    fs = appliance.mount(0, 1, 'd0', layout=[('/', 'part:2')])
    assert g.called('mount') == [('/dev/sda1', '/')]
    assert fs.source == 'partition 1'


def fallback_disk():
    """Root on 2, /var on 3 (inspection says); 1 holds a filesystem without /etc."""
    return Disk({1: simple_tree('no-etc'), 2: os_tree('root'), 3: simple_tree('var')},
                roots={2: {'/': 2, '/var': 3}})


INSPECTED = [('/dev/sda2', '/'), ('/dev/sda3', '/var')]


def check_fell_back_to_inspection(g, fs):
    assert len(g.called('inspect_os')) == 1
    assert fs.source == 'inspection'
    assert fs.mountpoints == (('/', '/dev/sda2'), ('/var', '/dev/sda3'))
    assert fs.layout == (('/', 'part:2'), ('/var', 'part:3'))
    # nothing left mounted from the failed attempt
    assert {mp: dev for mp, (dev, _) in g.mounts.items()} == {'/': '/dev/sda2',
                                                              '/var': '/dev/sda3'}
    assert fs.read('/marker') == b'root' and fs.read('/var/marker') == b'var'
    names = [name for name, _ in g.calls]
    assert names.index('umount_all') < names.index('inspect_os')


@pytest.mark.parametrize('layout', [
    [('/', 'part:7')],                                        # the device is gone
    [('/', 'part:1')],                                        # its root has no /etc
    [('/', 'part:2'), ('/boot', 'part:3'), ('/var', 'part:9')],   # a later device is gone
    [('/', 'part:2'), ('/nowhere', 'part:3')],                # no directory to mount on
], ids=['missing device', 'no /etc', 'missing secondary', 'missing mountpoint'])
def test_a_layout_that_does_not_fit_falls_back_to_inspection(fake_guestfs, layout):
    appliance, g = launch(fake_guestfs, [fallback_disk()])
    fs = appliance.mount(0, -1, 'd0', layout=layout)
    check_fell_back_to_inspection(g, fs)
    mounts = g.called('mount')
    assert len(mounts) > 2 and mounts[-2:] == INSPECTED     # the layout was tried first


@pytest.mark.parametrize('spec', [
    'part:x', 'part:', 'part:-1', 'lv:vg', 'lv:a/b/c', 'lv:', 'nfs:server', '',
    'lv:../x', 'lv:vg/..',
])
def test_a_bad_spec_is_not_mounted_and_falls_back_to_inspection(fake_guestfs, spec):
    appliance, g = launch(fake_guestfs, [fallback_disk()])
    fs = appliance.mount(0, -1, 'd0', layout=[('/', spec)])
    assert g.called('mount') == INSPECTED          # the bad spec never reached mount
    check_fell_back_to_inspection(g, fs)


@pytest.mark.parametrize('partition, layout, source', [
    (0, (('/', 'whole'),), 'whole disk'),
    (2, (('/', 'part:2'),), 'partition 2'),
])
def test_every_mount_reports_its_layout_and_source(fake_guestfs, partition, layout, source):
    tree = os_tree('x')
    appliance, _ = launch(fake_guestfs, [Disk({partition: tree})])
    fs = appliance.mount(0, partition, 'd0')
    assert (fs.layout, fs.source) == (layout, source)


def test_inspection_reports_a_layout_relative_to_the_drive(fake_guestfs):
    first = Disk({1: os_tree('first')}, roots={1: {'/': 1}})
    second = Disk({1: {'/': d()}}, lvs={'/dev/vg1/root': os_tree('lv')}, pv=1,
                  roots={'/dev/vg1/root': {'/': '/dev/vg1/root'}})
    third = Disk({1: simple_tree('boot'), 2: os_tree('root')}, roots={2: {'/': 2,
                                                                           '/boot': 1}})
    appliance, _ = launch(fake_guestfs, [first, second, third])
    fs = appliance.mount(1, -1, 'd1')
    assert (fs.source, fs.layout) == ('inspection', (('/', 'lv:vg1/root'),))
    fs.unmount()
    fs = appliance.mount(2, -1, 'd2')
    assert fs.layout == (('/', 'part:2'), ('/boot', 'part:1'))


def test_fake_is_dir_as_libguestfs(fake_guestfs):
    tree = {'/': d(), '/etc': d(), '/etc/motd': f('x'), '/lnk': link('/etc')}
    appliance, g = launch(fake_guestfs, [Disk({1: tree})])
    with pytest.raises(RuntimeError, match="call 'mount' first"):
        g.is_dir('/etc')
    appliance.mount(0, 1, 'd0')
    assert [g.is_dir(p) for p in ('/', '/etc', '/etc/motd', '/nope', '/etc/motd/x')] == [
        True, True, False, False, False]
    assert (g.is_dir('/lnk'), g.is_dir('/lnk', followsymlinks=True)) == (False, True)


def test_launch_with_an_extracted_kernel(fake_guestfs, tmp_path, monkeypatch):
    seen = {}
    real_launch = fakeguestfs.GuestFS.launch

    def launch_and_look(self):
        seen.update({k: v for k, v in os.environ.items() if k.startswith('SUPERMIN_')})
        return real_launch(self)
    monkeypatch.setattr(fakeguestfs.GuestFS, 'launch', launch_and_look)
    monkeypatch.setenv('SUPERMIN_MODULES', '/previous/value')
    kernel = appliance_kernel.Kernel('/k/vmlinux-6.1', '6.1', '/lib/modules/6.1')
    cache = tmp_path / 'cache'
    g = launch(fake_guestfs, [Disk()], cache_dir=str(cache), kernel=kernel)[1]
    assert seen == {'SUPERMIN_KERNEL': '/k/vmlinux-6.1', 'SUPERMIN_KERNEL_VERSION': '6.1',
                    'SUPERMIN_MODULES': '/lib/modules/6.1'}
    assert g.settings['cachedir'] == str(cache)
    assert 'SUPERMIN_KERNEL' not in os.environ          # only for the launch
    assert os.environ['SUPERMIN_MODULES'] == '/previous/value'


# --- warm appliances: disks hot-plugged after launch ------------------------------------------

def launch_warm(fake, **settings):
    appliance = vfs_guestfs.GuestFSDriver().launch(
        [], api.LaunchSettings('tcg', hotplug=True, **settings))
    return appliance, appliance.handle


def test_warm_launch_holds_only_a_placeholder_and_a_monitor(fake_guestfs):
    appliance, g = launch_warm(fake_guestfs)
    assert g.called('add_drive_opts') == [('/dev/null', 'raw', True)]
    [(flag, value)] = g.called('config')
    assert flag == '-qmp' and value.startswith('unix:') and value.endswith(
        ',server=on,wait=off')
    sock_dir = os.path.dirname(value[len('unix:'):].split(',')[0])
    assert os.stat(sock_dir).st_mode & 0o777 == 0o700      # only inject may talk to qemu
    appliance.close()
    assert not os.path.exists(sock_dir)


def test_hot_plugged_disks_are_mounted_by_their_own_device(fake_guestfs):
    fake_guestfs.DISKS['/images/a.qcow2'] = Disk({1: simple_tree('a')})
    fake_guestfs.DISKS['/images/b.qcow2'] = Disk({0: simple_tree('b')})
    appliance, g = launch_warm(fake_guestfs)
    assert appliance.attach(api.Drive('/images/a.qcow2', 'qcow2')) == 0
    assert appliance.attach(api.Drive('/images/b.qcow2', 'raw', readonly=True)) == 1
    # /dev/sda is the placeholder, /dev/sdb the appliance's own root disk
    fs = appliance.mount(0, 1, 'a')
    assert fs.mountpoints == (('/', '/dev/sdc1'),) and fs.layout == (('/', 'part:1'),)
    assert fs.read('/marker') == b'a'
    fs.unmount()
    fs = appliance.mount(1, 0, 'b')
    assert fs.mountpoints == (('/', '/dev/sdd'),) and fs.read('/marker') == b'b'
    adds = [args[1] for name, args in g.calls if name == 'qmp' and args[0] == 'blockdev-add']
    node_a, node_b = [add['node-name'] for add in adds]
    assert adds[0] == {'node-name': node_a, 'driver': 'qcow2', 'read-only': False,
                       'file': {'driver': 'file', 'filename': '/images/a.qcow2',
                                'read-only': False}}
    assert adds[1]['driver'] == 'raw' and adds[1]['read-only'] is True
    assert node_a != node_b


def test_a_disk_qemu_cannot_open_fails_to_attach_and_the_next_one_still_does(fake_guestfs):
    fake_guestfs.HOTPLUG_ERRORS['/images/bad.qcow2'] = "Could not open '/images/bad.qcow2'"
    fake_guestfs.DISKS['/images/good.qcow2'] = Disk({1: simple_tree('good')})
    appliance, _ = launch_warm(fake_guestfs)
    with pytest.raises(exception.HotplugFailed) as e:
        appliance.attach(api.Drive('/images/bad.qcow2', 'qcow2'))
    assert "blockdev-add: Could not open '/images/bad.qcow2'" in str(e.value)
    assert 'warm_appliances = 0' in str(e.value)
    assert appliance.attach(api.Drive('/images/good.qcow2', 'qcow2')) == 0
    assert appliance.mount(0, 1, 'good').read('/marker') == b'good'


def test_a_disk_that_never_appears_times_out(fake_guestfs, monkeypatch):
    appliance, g = launch_warm(fake_guestfs)
    monkeypatch.setattr(fakeguestfs.GuestFS, '_plug', lambda self, *args: None)
    with pytest.raises(exception.HotplugFailed) as e:
        appliance.attach(api.Drive('/images/x.qcow2', 'qcow2'), timeout=0.3)
    assert e.value.touched          # qemu had opened it: not to be put elsewhere
    assert str(e.value) == ('Attaching a disk to a warm appliance failed at device_add: '
                            'the disk did not appear in the appliance in 0 s. Set '
                            '[appliance]warm_appliances = 0 if this keeps happening.')


def test_attach_needs_a_warm_appliance(fake_guestfs):
    appliance, _ = launch(fake_guestfs, [Disk()])
    with pytest.raises(exception.HotplugFailed, match='not launched warm'):
        appliance.attach(api.Drive('/images/x.qcow2', 'qcow2'))


def test_a_disk_that_appears_too_late_is_not_taken_for_the_next(fake_guestfs, monkeypatch):
    """Disks are found by the serial they were plugged with, never as "the new one"."""
    fake_guestfs.DISKS['/images/slow.qcow2'] = Disk({1: simple_tree('slow')})
    fake_guestfs.DISKS['/images/next.qcow2'] = Disk({1: simple_tree('next')})
    appliance, g = launch_warm(fake_guestfs)
    real_plug = fakeguestfs.GuestFS._plug
    late = []
    monkeypatch.setattr(fakeguestfs.GuestFS, '_plug',
                        lambda self, *args: late.append(args))
    with pytest.raises(exception.HotplugFailed) as e:
        appliance.attach(api.Drive('/images/slow.qcow2', 'qcow2'), timeout=0.3)
    assert e.value.touched
    monkeypatch.setattr(fakeguestfs.GuestFS, '_plug', real_plug)
    index = appliance.attach(api.Drive('/images/next.qcow2', 'qcow2'))
    real_plug(g, *late[0])          # now the slow one shows up, after the next
    assert appliance.mount(index, 1, 'next').read('/marker') == b'next'


def test_several_disks_are_plugged_together_and_detached_one_by_one(fake_guestfs):
    for name in ('a', 'b', 'c'):
        fake_guestfs.DISKS['/images/%s.qcow2' % name] = Disk({1: simple_tree(name)})
    fake_guestfs.HOTPLUG_ERRORS['/images/bad.qcow2'] = 'Could not open it'
    appliance, g = launch_warm(fake_guestfs)
    found = appliance.attach_all([api.Drive('/images/%s.qcow2' % n, 'qcow2')
                                  for n in ('a', 'bad', 'b')])
    assert found[0] == 0 and found[2] == 1
    assert isinstance(found[1], exception.HotplugFailed) and not found[1].touched
    assert len(g.called('list_disk_labels')) == 1      # both seen by one look
    fs = appliance.mount(1, 1, 'b')
    assert fs.read('/marker') == b'b'
    fs.unmount()
    appliance.detach(1)
    assert g.list_devices() == ['/dev/sda', '/dev/sdc']     # b's device (sdd) is gone
    qmp = [args for name, args in g.calls if name == 'qmp']
    assert [c for c, _ in qmp[-2:]] == ['device_del', 'blockdev-del']
    index = appliance.attach(api.Drive('/images/c.qcow2', 'qcow2'))
    assert appliance.mount(index, 1, 'c').read('/marker') == b'c'
    with pytest.raises(exception.HotplugFailed, match='not hot-plugged'):
        appliance.detach(1)                             # already detached


def test_a_disk_qemu_cannot_open_is_untouched(fake_guestfs):
    fake_guestfs.HOTPLUG_ERRORS['/images/bad.qcow2'] = 'Could not open it'
    appliance, _ = launch_warm(fake_guestfs)
    with pytest.raises(exception.HotplugFailed) as e:
        appliance.attach(api.Drive('/images/bad.qcow2', 'qcow2'))
    assert not e.value.touched


# --- libguestfs error text is one line in every message ---------------------------------------

MOUNT_ERROR = ("mount: /dev/sda1 on / (options: ''): mount: /sysroot: wrong fs type, bad "
               "option, bad superblock on /dev/sda1.\n       dmesg(1) may have more "
               "information after failed mount system call.\n")


def test_error_text_is_folded_onto_one_line():
    from inject.vfs import handle
    assert handle.error_text(RuntimeError(MOUNT_ERROR)) == (
        "mount: /dev/sda1 on / (options: ''): mount: /sysroot: wrong fs type, bad option, "
        "bad superblock on /dev/sda1. dmesg(1) may have more information after failed "
        "mount system call.")
    assert handle.error_text(RuntimeError('  one line \n')) == 'one line'


def test_a_multi_line_mount_error_makes_a_one_line_message(fake_guestfs, monkeypatch):
    appliance, g = launch(fake_guestfs, [Disk({1: simple_tree()})])

    def mount(device, mountpoint):
        raise RuntimeError(MOUNT_ERROR)
    monkeypatch.setattr(g, 'mount', mount)
    with pytest.raises(exception.GuestFilesystemError) as e:
        appliance.mount(0, 1, 'disk0.img')
    assert '\n' not in str(e.value)
    assert 'bad superblock on /dev/sda1. dmesg(1) may have more' in str(e.value)


def test_a_multi_line_launch_error_makes_a_one_line_message(fake_guestfs):
    fake_guestfs.LAUNCH_ERRORS['force_tcg'] = (
        'guestfs_launch failed.\nThis usually means the libguestfs appliance failed to '
        'start or crashed.\nDo:\n  export LIBGUESTFS_DEBUG=1 LIBGUESTFS_TRACE=1\n')
    with pytest.raises(exception.ApplianceLaunchFailed) as e:
        launch(fake_guestfs, [Disk()])
    assert '\n' not in str(e.value)
    assert 'guestfs_launch failed. This usually means' in str(e.value)


def test_a_label_vanishing_while_listed_is_looked_at_again(fake_guestfs, monkeypatch):
    """The appliance fails list_disk_labels when a detached disk's label goes while it
    lists them: that is not this disk's failure."""
    fake_guestfs.DISKS['/images/a.qcow2'] = Disk({1: simple_tree('a')})
    appliance, g = launch_warm(fake_guestfs)
    real = fakeguestfs.GuestFS.list_disk_labels
    failures = [RuntimeError('list_disk_labels: realpath: /dev/disk/guestfs/drive4: '
                             'No such file or directory')]

    def flaky(self):
        if failures:
            raise failures.pop()
        return real(self)
    monkeypatch.setattr(fakeguestfs.GuestFS, 'list_disk_labels', flaky)
    index = appliance.attach(api.Drive('/images/a.qcow2', 'qcow2'))
    assert appliance.mount(index, 1, 'a').read('/marker') == b'a'
