"""The worker's work (serve), in-process over the fake guestfs, its launch hints, and
what it does when the process that started it dies."""

import logging
import os
import pathlib
import subprocess
import sys
import time

import pytest

from inject import injection
from inject import report
from inject.appliance import channel
from inject.appliance import worker
from inject.vfs import api
from inject.vfs import guestfs as vfs_guestfs
from tests import processes
from tests.unit import fakeguestfs
from tests.unit.appliance.base import file_item
from tests.unit.appliance.base import job

REPO = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture
def two_disks(fake_guestfs):
    trees = [fakeguestfs.linux_tree(), fakeguestfs.linux_tree()]
    fake_guestfs.DISKS['/d0.qcow2'] = fakeguestfs.Disk({0: trees[0]})
    fake_guestfs.DISKS['/d1.qcow2'] = fakeguestfs.Disk({1: trees[1]})
    return trees


def serve(jobs, accelerator='tcg'):
    sent = []
    worker.serve(sent.append, vfs_guestfs.GuestFSDriver(), [j.drive for j in jobs],
                 api.LaunchSettings(accelerator), jobs)
    return sent


def kinds(sent):
    return [type(m) for m in sent]


def test_serve_reports_launch_jobs_in_order_and_shutdown(two_disks, fake_guestfs):
    jobs = [job('/d0.qcow2', 0, [file_item('/a')]), job('/d1.qcow2', 1, [file_item('/b')])]
    sent = serve(jobs)
    assert kinds(sent) == [channel.Launched, channel.JobDone, channel.JobDone,
                           channel.Shutdown]
    assert [m.index for m in sent[1:3]] == [0, 1]
    first, second = sent[1].outcome, sent[2].outcome
    assert first.mountpoints == [['/', '/dev/sda']]
    assert second.mountpoints == [['/', '/dev/sdb1']]
    assert [r.status for r in first.results + second.results] == [report.INJECTED] * 2
    assert first.error is None and set(first.timings) == {'mount', 'writes'}
    assert sent[3].error is None
    assert '/a' in two_disks[0] and '/b' in two_disks[1]
    g = fake_guestfs.HANDLES[-1]
    assert g.called('shutdown') and g.closed


def test_serve_mount_failure_fails_only_that_job(two_disks):
    jobs = [job('/d0.qcow2', 5, [file_item('/a')], name='disk0'),
            job('/d1.qcow2', 1, [file_item('/b')])]
    sent = serve(jobs)
    assert kinds(sent) == [channel.Launched, channel.JobDone, channel.JobDone,
                           channel.Shutdown]
    assert 'Partition 5 does not exist in disk0' in sent[1].outcome.error
    assert sent[1].outcome.results == []
    assert sent[2].outcome.error is None
    assert [r.status for r in sent[2].outcome.results] == [report.INJECTED]


def test_serve_unexpected_exception_fails_only_that_job(two_disks, fake_guestfs,
                                                         monkeypatch):
    real_apply = injection.apply
    calls = []

    def apply(fs, items):
        calls.append(items)
        if len(calls) == 1:
            raise ZeroDivisionError('bug in a writer')
        return real_apply(fs, items)
    monkeypatch.setattr(injection, 'apply', apply)
    sent = serve([job('/d0.qcow2', 0, [file_item('/a')]),
                  job('/d1.qcow2', 1, [file_item('/b')])])
    assert sent[1].outcome.error == 'internal error: ZeroDivisionError: bug in a writer'
    assert sent[2].outcome.error is None
    assert '/b' in two_disks[1]
    # the failed disk was unmounted before the next one was mounted
    names = [(call, args) for call, args in fake_guestfs.HANDLES[-1].calls
             if call in ('mount', 'umount_all')]
    assert names[:3] == [('mount', ('/dev/sda', '/')), ('umount_all', ()),
                         ('mount', ('/dev/sdb1', '/'))]
    assert isinstance(sent[-1], channel.Shutdown)


def test_serve_launch_failure(fake_guestfs):
    fake_guestfs.LAUNCH_ERRORS['force_kvm'] = 'qemu: failed to set MSR 0x48b'
    sent = serve([job('/d0.qcow2')], accelerator='kvm')
    [message] = sent
    assert isinstance(message, channel.LaunchFailed)
    assert 'failed to set MSR' in message.reason
    assert 'set [appliance]accelerator = tcg' in message.reason


def test_serve_shutdown_failure_is_reported(two_disks, fake_guestfs, monkeypatch):
    def shutdown(self):
        raise RuntimeError('shutdown: fsync: Input/output error')
    monkeypatch.setattr(fakeguestfs.GuestFS, 'shutdown', shutdown)
    sent = serve([job('/d0.qcow2', 0, [file_item('/a')])])
    assert isinstance(sent[-1], channel.Shutdown)
    assert 'flushing the appliance failed' in sent[-1].error
    assert fake_guestfs.HANDLES[-1].closed


def test_log_records_go_out_as_log_messages():
    sent = []
    handler = worker._PipeHandler(sent.append)
    handler.emit(logging.LogRecord('inject.x', logging.WARNING, __file__, 1,
                                   'disk %s', ('d0',), None))
    assert sent == [channel.Log(logging.WARNING, 'disk d0')]


def test_a_log_record_that_cannot_be_sent_is_dropped():
    def broken(message):
        raise BrokenPipeError
    worker._PipeHandler(broken).emit(logging.LogRecord(
        'inject.x', logging.INFO, __file__, 1, 'lost', (), None))


@pytest.mark.parametrize('message, hint', [
    ('could not open /dev/kvm', 'accelerator = tcg'),
    ('qemu-system-x86_64: not found', 'Install qemu-system-x86'),
    ('cannot create /var/cache: Permission denied', 'cache_dir is writable'),
    ('something else', 'libguestfs-test-tool'),
])
def test_launch_hint(message, hint):
    assert hint in worker._launch_hint(message)


def test_launch_hint_for_unreadable_kernel(monkeypatch):
    monkeypatch.setattr(worker, 'kernels_readable',
                        lambda: ([], ['/boot/vmlinuz-6.1.0-13-amd64']))
    assert 'chmod 0644 /boot/vmlinuz-6.1.0-13-amd64' in worker._launch_hint(
        'supermin exited with error status 1')


def test_launch_hint_for_missing_kernel(monkeypatch):
    monkeypatch.setattr(worker, 'kernels_readable', lambda: ([], []))
    assert 'linux-image-amd64' in worker._launch_hint('no kernel found')


def test_a_warm_worker_serves_rounds_detaching_each_disk(two_disks, fake_guestfs):
    """Each list of jobs: its disks hot-plugged together, each detached when done, then
    Idle; None shuts the appliance down."""
    rounds = [[job('/d0.qcow2', 0, [file_item('/a')])],
              [job('/d1.qcow2', 1, [file_item('/b')]),
               job('/missing.qcow2', 3, [file_item('/c')])],
              None]
    sent = []
    worker.serve(sent.append, vfs_guestfs.GuestFSDriver(), [],
                 api.LaunchSettings('tcg', hotplug=True), None,
                 lambda: rounds.pop(0))
    assert kinds(sent) == [channel.Launched, channel.JobDone, channel.Idle,
                           channel.JobDone, channel.JobDone, channel.Idle,
                           channel.Shutdown]
    first, second, third = sent[1].outcome, sent[3].outcome, sent[4].outcome
    assert first.released and second.released and third.released
    assert third.error and 'Partition 3' in third.error      # failed, still let go
    assert {'attach', 'mount', 'writes', 'detach'} <= set(first.timings)
    assert sent[2].reusable and sent[5].reusable
    assert '/a' in two_disks[0] and '/b' in two_disks[1]
    g = fake_guestfs.HANDLES[-1]
    assert g.list_devices() == ['/dev/sda']                 # only the placeholder left
    qmp = [args[0] for name, args in g.calls if name == 'qmp']
    assert qmp.count('device_del') == qmp.count('blockdev-del') == 3


def test_an_appliance_launched_for_a_session_that_is_gone_is_closed(two_disks,
                                                                    fake_guestfs):
    """The agent stopped while the appliance launched: the first message cannot be sent,
    and the appliance (qemu) is closed on the way out, not left running."""
    def gone(message):
        raise BrokenPipeError
    with pytest.raises(BrokenPipeError):
        worker.serve(gone, vfs_guestfs.GuestFSDriver(), [job('/d0.qcow2').drive],
                     api.LaunchSettings('tcg'), [job('/d0.qcow2')])
    assert fake_guestfs.HANDLES[-1].closed


# --- a worker whose agent died ---------------------------------------------------------

#: an agent stand-in: an overlay in front of DISK (it holds the overlay's lock, as the
#: manager does), then a cold session that hangs at its KVM launch, or a warm appliance
#: hanging on the mount of the disk hot-plugged into it
AGENT = '''
import sys, time
from inject import image, overlay
from inject.appliance import channel, session, warm
from inject.vfs import api
channel.WORKER_MODULE = 'tests.unit.workers.fake'
kind, disk, overlays, cache = sys.argv[1:]
held = overlay.Overlay.create(image.DiskImage(disk, 'raw'), overlays)
job = session.Job(api.Drive(held.path, 'qcow2'), disk, 0, [])
if kind == 'cold':
    session.run([job], session.Settings(accelerator='kvm', cache_dir=cache))
else:
    ready = warm.launch_warm(session.Settings(accelerator='tcg', kernel_boot='stock',
                                              cache_dir=cache))
    ready.send_jobs([job])
    time.sleep(3600)
'''


def _wait_for(path, proc, seconds=60):
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, '%s never appeared' % path
        time.sleep(0.02)


@pytest.mark.parametrize('kind', ['cold', 'warm'])
def test_a_worker_whose_agent_died_kills_its_appliance_and_removes_its_overlay(tmp_path,
                                                                               kind):
    disk = tmp_path / 'disk.raw'
    disk.write_bytes(os.urandom(1 << 20))
    before = disk.read_bytes()
    overlays = tmp_path / 'overlays'
    marks = tmp_path / 'marks'
    marks.mkdir()
    # hot-plugged after /dev/null (sda) and the appliance's root (sdb)
    env = dict(os.environ, FAKE_QEMU_DIR=str(marks), FAKE_HANG_KVM='1',
               FAKE_HANG_MOUNT='/dev/sdc', PYTHONPATH=str(REPO))
    agent = subprocess.Popen([sys.executable, '-c', AGENT, kind, str(disk), str(overlays),
                              str(tmp_path / 'cache')], cwd=REPO, env=env,
                             stderr=subprocess.PIPE, text=True)
    _wait_for(marks / ('pids' if kind == 'cold' else 'mounting'), agent)
    worker_pid, qemu_pid = map(int, (marks / 'pids').read_text().split())
    tree, survivors = processes.survivors_of_sigkill(agent)
    assert {worker_pid, qemu_pid} <= {pid for pid, _ in tree}
    assert survivors == []
    assert os.listdir(overlays) == ['.lock']
    assert disk.read_bytes() == before
    assert ('inject appliance worker %d: the process that started it died; removed 1 '
            'overlay(s), killing its appliance' % worker_pid) in agent.stderr.read()
    agent.stderr.close()
