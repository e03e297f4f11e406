"""Injection through the real libguestfs appliance, on images the tests build."""

import json
import subprocess

import pytest
from passlib.hash import sha512_crypt

from inject import image
from inject import manager
from inject import parent_death
from inject import request
from inject.appliance import hv
from tests.integration.conftest import FILES
from tests.integration.conftest import KEY

ROOT_DIR_MODE = 0o755
FILE_MODE = 0o644


def _statuses(report):
    return [(item.kind, item.target, item.status) for item in report.items]


# --- partition 1 of an MBR disk: every kind of item -----------------------------------

def test_mbr_partition_one_everything_injected(static_batch):
    report = static_batch.reports['mbr']
    assert report.ok, report.format_text()
    assert report.committed
    assert report.partition_used == '/dev/sda1'
    assert report.accelerator in ('kvm', 'tcg')
    assert [i.kind for i in report.items] == ['key', 'net', 'metadata', 'admin_password',
                                              'file', 'file', 'file']
    assert {'launch', 'mount', 'writes', 'commit', 'total'} <= set(report.timings)
    json.loads(report.to_json())


def test_mbr_files_have_their_content_owner_and_mode(readback):
    files = readback['mbr']
    for path, content in FILES:
        path = '/' + path.lstrip('/')
        assert files[path]['content'] == content, path
        assert (files[path]['uid'], files[path]['gid']) == (0, 0)
    # an existing file keeps its mode; new files and every created directory are set
    assert files['/etc/motd']['mode'] == FILE_MODE
    assert files['/opt/app/conf/app.ini']['mode'] == FILE_MODE
    for d in ('/opt', '/opt/app', '/opt/app/conf', '/etc/network'):
        assert files[d]['mode'] == ROOT_DIR_MODE, d
        assert (files[d]['uid'], files[d]['gid']) == (0, 0), d


def test_mbr_key_metadata_net(readback):
    files = readback['mbr']
    assert files['/root/.ssh']['mode'] == 0o700
    keys = files['/root/.ssh/authorized_keys']
    assert keys['mode'] == 0o600 and (keys['uid'], keys['gid']) == (0, 0)
    assert keys['content'].decode().splitlines()[-1] == KEY
    assert json.loads(files['/meta.js']['content']) == {'role': 'test'}
    assert files['/etc/network/interfaces']['content'] == b'auto lo\n'
    assert files['/etc/rc.local'] is None       # no SELinux on this guest


def test_mbr_admin_password_in_shadow(readback):
    shadow = readback['mbr']['/etc/shadow']
    assert (shadow['mode'], shadow['uid'], shadow['gid']) == (0o640, 0, 42)
    lines = shadow['content'].decode().split('\n')
    root = [line for line in lines if line.startswith('root:')][0].split(':')
    assert root[1].startswith('$6$')
    assert sha512_crypt.verify('correct horse', root[1])
    assert root[2:] == ['19700', '0', '99999', '7', '', '', '']
    assert lines[1].startswith('daemon:*:') and lines[-1] == ''
    assert b'root:x:0:0:' in readback['mbr']['/etc/passwd']['content']


def test_host_saw_no_mount_and_only_qemu_img_and_workers(static_batch):
    assert static_batch.mounts_before == static_batch.mounts_after
    assert static_batch.commands, 'no command was recorded'
    for argv in static_batch.commands:
        if argv[:3] == parent_death.setpriv():      # qemu-img dies with the agent
            argv = argv[3:]
        assert argv[0] == 'qemu-img' or argv[1:3] == ['-m', 'inject.cmd.appliance_worker'], argv


# --- whole disk, raw --------------------------------------------------------------------

def test_whole_disk_raw(static_batch, readback):
    report = static_batch.reports['whole']
    assert report.ok, report.format_text()
    assert report.partition_used == '/dev/sdb'
    for path, content in FILES:
        assert readback['whole']['/' + path.lstrip('/')]['content'] == content


# --- an instance disk on a base image ---------------------------------------------------

def test_instance_disk_changes_and_its_base_does_not(static_batch, readback):
    assert static_batch.reports['instance'].ok
    assert static_batch.before['instance'] != static_batch.after['instance']
    assert static_batch.base_before == static_batch.base_after
    assert readback['instance']['/etc/motd']['content'] == b'integration motd\n'
    assert readback['base']['/etc/motd']['content'] != b'integration motd\n'


# --- SELinux guests ---------------------------------------------------------------------

def test_selinux_guest_gets_rc_local_with_absolute_restorecon(static_batch, readback):
    report = static_batch.reports['selinux']
    assert report.ok, report.format_text()
    rc = readback['selinux']['/etc/rc.d/rc.local']
    assert rc['mode'] == 0o755
    assert rc['content'].decode() == (
        '#!/bin/sh\n# Added by inject to give injected ssh keys their SELinux context\n'
        'restorecon -RF /root/.ssh 2>/dev/null || :\n')
    assert any('SELinux' in note for note in report.items[0].notes)


# --- failures: clear, and nothing half-written ------------------------------------------

def test_missing_partition_is_a_clear_error(static_batch):
    report = static_batch.reports['noos']
    assert not report.ok and not report.committed
    assert 'Partition 5 does not exist in' in report.error
    assert 'its partitions: 1' in report.error
    assert static_batch.before['noos'] == static_batch.after['noos']


def test_failed_mandatory_item_leaves_qcow2_byte_for_byte(static_batch):
    report = static_batch.reports['rollback']
    assert not report.ok and not report.committed
    assert _statuses(report) == [('file', '/etc/first.conf', 'failed'),
                                 ('file', '/etc/motd/sub', 'failed')]
    assert report.items[0].reason.startswith('rolled back: ')
    assert '/etc/motd exists in the guest and is not a directory' in report.items[1].reason
    assert static_batch.before['rollback'] == static_batch.after['rollback']


def test_failed_mandatory_item_leaves_raw_byte_for_byte(static_batch):
    report = static_batch.reports['rollback-raw']
    assert not report.ok and not report.committed
    assert 'it is a directory in the guest' in report.items[-1].reason
    assert report.items[0].reason.startswith('rolled back: ')
    assert static_batch.before['rollback-raw'] == static_batch.after['rollback-raw']


def test_one_bad_disk_does_not_fail_the_others_in_its_launch(static_batch):
    ok = {name for name, r in static_batch.reports.items() if r.ok}
    assert ok == {'mbr', 'whole', 'instance', 'selinux'}


# --- corrupt qcow2 disks: each fails alone, clearly, and stays as it was ----------------

def test_a_corrupt_l1_table_entry_is_called_corrupt(static_batch):
    """qemu finds the L2 table offset corrupt on the first read (EIO in the guest)."""
    report = static_batch.reports['corrupt-l1']
    assert not report.ok and not report.committed
    assert report.accelerator is not None                   # it reached the appliance
    assert report.error.startswith(
        'Cannot mount the guest filesystem of %s: the disk image is unreadable or '
        'corrupt: reading its first sector failed (' % report.image), report.error
    assert 'Input/output error' in report.error
    assert static_batch.before['corrupt-l1'] == static_batch.after['corrupt-l1']


def test_a_qcow2_cut_in_its_data_fails_to_mount(static_batch):
    """Its tables are whole, its clusters past the cut read as zeros to qemu: the
    filesystem does not mount, and the error names the disk."""
    report = static_batch.reports['truncated']
    assert not report.ok and not report.committed
    assert report.error.startswith('Cannot mount the guest filesystem of %s: mounting '
                                   % report.image)
    assert static_batch.before['truncated'] == static_batch.after['truncated']


@pytest.mark.parametrize('name, reason', [
    ('truncated-l1', 'it is truncated: its L1 table (offset 0x'),
    ('bad-l1-offset', 'its L1 table offset 0x'),
    ('loop-a', 'its backing chain loops'),
])
def test_a_qcow2_qemu_cannot_open_is_refused_before_the_appliance(static_batch, name,
                                                                   reason):
    """Refused alone, before the launch it shares with the batch: qemu refusing one
    drive would fail the launch, every other disk of the batch with it."""
    report = static_batch.reports[name]
    assert not report.ok and not report.committed
    assert report.accelerator is None and 'launch' not in report.timings
    assert report.error.startswith('Disk image %s cannot be used: ' % report.image)
    assert reason in report.error, report.error
    assert static_batch.before[name] == static_batch.after[name]


def test_qemu_refuses_what_is_refused_before_the_appliance(images):
    for name in ('bad-l1-offset', 'loop-a'):
        out = subprocess.run(['qemu-img', 'info', '--backing-chain', images[name]],
                             capture_output=True, text=True)
        assert out.returncode != 0, (name, out.stdout)


# --- inject_partition = -1 --------------------------------------------------------------

def test_inspection_mounts_lvm_root_and_boot(inspect_batch, readback):
    report = inspect_batch.reports['lvm']
    assert report.ok, report.format_text()
    assert report.partition_requested == -1
    assert report.mountpoints[0] == ['/', '/dev/vgit/root']
    assert report.mountpoints[1][0] == '/boot'
    assert readback['lvm']['/etc/motd']['content'] == b'integration motd\n'
    assert readback['lvm']['/root/.ssh/authorized_keys']['content'].endswith(
        KEY.encode() + b'\n')


def test_root_probe_mounts_root_and_boot_from_fstab_without_inspection(inspect_batch,
                                                                        readback):
    report = inspect_batch.reports['split']
    assert report.ok, report.format_text()
    assert report.root_found_by == 'root probe'
    (root, root_dev), (boot, boot_dev) = report.mountpoints
    assert (root, boot) == ('/', '/boot')
    assert root_dev.endswith('2') and boot_dev == root_dev[:-1] + '1'
    # /boot/grub/inject.cfg went into the /boot filesystem (partition 1), not into
    # the root filesystem's empty /boot directory
    found = readback['split']
    assert found['/grub/inject.cfg']['content'] == b'set timeout=1\n'
    assert found['/boot/grub/inject.cfg'] is None


def test_a_warm_appliance_takes_disks_without_a_launch(warm_batch, readback):
    for name in ('warm-a', 'warm-b'):
        report = warm_batch.reports[name]
        assert report.ok and report.committed, report.format_text()
        assert report.timings['launch'] == 0.0 and report.timings['warm_launch'] > 0
        assert report.timings['attach'] < 30
        assert readback[name]['/etc/motd']['content'] == b'integration motd\n'
        # hot-plugged after the appliance's own disks: not /dev/sda
        assert not report.mountpoints[0][1].startswith('/dev/sda')
    assert warm_batch.reports['warm-b'].root_found_by == 'root probe'
    assert readback['warm-a']['/root/.ssh/authorized_keys']['content'].endswith(
        KEY.encode() + b'\n')
    # the base image under both stayed as it was
    assert warm_batch.base_before == warm_batch.base_after
    # each disk was detached, committed and answered as soon as it was done
    assert warm_batch.early == [('warm-a', True), ('warm-b', True)]
    for name in ('warm-a', 'warm-b'):
        assert warm_batch.reports[name].timings['detach'] < 30
        assert 'shutdown' not in warm_batch.reports[name].timings   # not on its path


def test_a_warm_appliance_lingers_for_its_project_s_next_disk(warm_batch, readback):
    assert warm_batch.lingering == 1
    first, = {r.appliance for r in warm_batch.reports.values()}
    report = warm_batch.next.reports['warm-c']
    assert report.ok and report.committed, report.format_text()
    assert report.appliance == first and report.timings['launch'] == 0.0
    assert readback['warm-c']['/etc/motd']['content'] == b'integration motd\n'


def test_qemu_dies_with_its_worker(warm_batch):
    """Under TCG the tb-size wrapper runs qemu with a parent-death signal, so there is
    no libguestfs recovery process beside it (its only job); either way a qemu whose
    worker is killed does not outlive it."""
    killed = warm_batch.worker_killed
    assert len(killed['qemu']) == 1, killed
    accelerator, = {r.accelerator for r in warm_batch.reports.values()}
    if accelerator == 'tcg' and hv.reaps():
        assert len(killed['children']) == 1, killed      # qemu alone: no recovery fork
    assert killed['qemu_gone'], killed


def test_inspection_with_two_roots_is_a_clear_error(inspect_batch):
    report = inspect_batch.reports['two']
    assert not report.ok
    assert 'Several operating systems found in' in report.error
    assert report.image in report.error
    assert inspect_batch.before['two'] == inspect_batch.after['two']


def test_inspection_without_os_is_a_clear_error(inspect_batch):
    report = inspect_batch.reports['noos']
    assert not report.ok
    assert report.error.startswith('No operating system found in ' + report.image)
    assert inspect_batch.before['noos'] == inspect_batch.after['noos']


# --- refused before any appliance -------------------------------------------------------

def test_hostile_backing_file_is_refused_before_the_appliance(conf, tmp_path):
    hostile = tmp_path / 'hostile.qcow2'
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'raw',
                    '-b', '/etc/passwd', str(hostile), '1M'], check=True)
    req = request.InjectionRequest(image.DiskImage(str(hostile), 'qcow2'),
                                   files=FILES, partition=1)
    report, = manager.Manager(conf).inject([req])
    assert not report.ok and not report.committed
    assert report.accelerator is None and 'launch' not in report.timings
    assert "backing file '/etc/passwd'" in report.error
    assert 'outside the configured image directories' in report.error
