"""A commit that fails or is killed half-way leaves the disk as it was (overlay_mod.UndoJournal).

Real qemu-img and qemu-io, real files: "half-way" is a real commit that wrote into the
disk before failing (or before its process died)."""

import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

from inject import exception
from inject import image
from inject import overlay as overlay_mod
from tests import processes

QEMU_IMG = shutil.which('qemu-img')
QEMU_IO = shutil.which('qemu-io')
pytestmark = pytest.mark.skipif(QEMU_IMG is None or QEMU_IO is None,
                                reason='qemu-img and qemu-io are needed')


def sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def qemu_io(fmt, path, command):
    subprocess.run([QEMU_IO, '-f', fmt, '-c', command, path], check=True,
                   capture_output=True)


def make_disk(tmp_path, fmt, base=False):
    """A disk with data of its own (and holes), as an instance disk would have; with
    ``base``, a qcow2 on a backing file (the usual Nova instance disk)."""
    path = str(tmp_path / ('disk.' + fmt))
    if base:
        backing = str(tmp_path / 'base.qcow2')
        subprocess.run([QEMU_IMG, 'create', '-q', '-f', 'qcow2', backing, '8M'], check=True)
        qemu_io('qcow2', backing, 'write -P 0x11 0 1M')
        subprocess.run([QEMU_IMG, 'create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b',
                        backing, path], check=True)
    else:
        subprocess.run([QEMU_IMG, 'create', '-q', '-f', fmt, path, '8M'], check=True)
    qemu_io(fmt, path, 'write -P 0x22 1M 64k')
    return image.DiskImage(path, fmt)


def written_overlay(disk, tmp_path):
    overlay = overlay_mod.Overlay.create(disk, str(tmp_path / 'overlays'))
    for command in ('write -P 0x5a 0 64k', 'write -P 0x5b 1M 4k', 'write -P 0x5c 6M 1M',
                    'write -z 7M 64k'):
        qemu_io('qcow2', overlay.path, command)
    return overlay


def leftovers(tmp_path):
    return sorted(n for n in os.listdir(tmp_path / 'overlays') if n != '.lock')


CASES = [('raw', False), ('qcow2', False), ('qcow2', True)]
IDS = ['raw', 'qcow2', 'qcow2 on a base']


@pytest.mark.parametrize('fmt, base', CASES, ids=IDS)
def test_a_commit_that_fails_half_way_is_undone(tmp_path, monkeypatch, fmt, base):
    disk = make_disk(tmp_path, fmt, base)
    before = sha256(disk.path)
    overlay = written_overlay(disk, tmp_path)
    real = image.qemu_img

    def commit_then_die(args, path, **kwargs):
        out = real(args, path, **kwargs)
        if args[0] == 'commit':          # it wrote everything, then "was killed"
            assert sha256(disk.path) != before
            raise exception.ImageCommandFailed(command='qemu-img commit', path=path,
                                               reason='exit -9')
        return out
    monkeypatch.setattr(image, 'qemu_img', commit_then_die)
    with pytest.raises(exception.ImageCommandFailed) as e:
        overlay.commit()
    assert str(e.value) == ('qemu-img commit failed for %s: exit -9; the disk was '
                            'restored to what it was before the commit' % disk.path)
    assert sha256(disk.path) == before
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize('fmt, base', CASES, ids=IDS)
def test_a_commit_that_works_is_kept_and_leaves_no_journal(tmp_path, fmt, base):
    disk = make_disk(tmp_path, fmt, base)
    overlay = written_overlay(disk, tmp_path)
    overlay.commit()
    qemu_io(fmt, disk.path, 'read -P 0x5c 6M 1M')
    qemu_io(fmt, disk.path, 'read -P 0x22 1052672 61440')
    assert leftovers(tmp_path) == []


KILLED = textwrap.dedent('''
    import os, signal, sys
    from inject import image
    from inject import overlay as overlay_mod
    real = image.qemu_img
    def commit_then_die(args, path, **kwargs):
        out = real(args, path, **kwargs)
        if args[0] == 'commit':
            os.kill(os.getpid(), signal.SIGKILL)     # killed after writing the disk
        return out
    image.qemu_img = commit_then_die
    overlay = overlay_mod.Overlay.create(image.DiskImage(sys.argv[1], sys.argv[2]), sys.argv[3])
    for command in ('write -P 0x5a 0 64k', 'write -P 0x5c 6M 1M'):
        import subprocess
        subprocess.run(['qemu-io', '-f', 'qcow2', '-c', command, overlay.path], check=True,
                       capture_output=True)
    overlay.commit()
''')


@pytest.mark.parametrize('fmt, base', CASES, ids=IDS)
def test_a_commit_killed_with_its_process_is_undone_by_the_sweep(tmp_path, fmt, base):
    disk = make_disk(tmp_path, fmt, base)
    before = sha256(disk.path)
    overlays = tmp_path / 'overlays'
    proc = subprocess.run([sys.executable, '-c', KILLED, disk.path, fmt, str(overlays)],
                          capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    assert sha256(disk.path) != before                 # half-committed
    [stale] = [n for n in leftovers(tmp_path) if n.endswith(overlay_mod.OVERLAY_SUFFIX)]
    assert overlay_mod.sweep_stale_overlays(str(overlays)) == [str(overlays / stale)]
    assert sha256(disk.path) == before
    assert leftovers(tmp_path) == []


def test_an_overlay_qemu_img_cannot_read_is_not_committed(tmp_path):
    disk = make_disk(tmp_path, 'raw')
    before = sha256(disk.path)
    overlay = overlay_mod.Overlay.create(disk, str(tmp_path / 'overlays'))
    with open(overlay.path, 'wb') as f:
        f.write(b'garbage')
    with pytest.raises(exception.ImageCommandFailed) as e:
        overlay.commit()
    assert 'not attempted, nothing was written to the disk' in str(e.value)
    assert sha256(disk.path) == before
    assert leftovers(tmp_path) == []


# A qemu-img that, for a commit, says its pid and hangs (as a long commit would).
HANGING_QEMU_IMG = '''#!/bin/sh
if [ "$1" = commit ]; then
    echo $$ > %(mark)s.tmp && mv %(mark)s.tmp %(mark)s
    exec sleep 3600
fi
exec %(real)s "$@"
'''

COMMITTER = textwrap.dedent('''
    import sys
    from inject import image
    from inject import overlay as overlay_mod
    overlay = overlay_mod.Overlay.create(image.DiskImage(sys.argv[1], 'raw'), sys.argv[2])
    overlay.commit()
''')


def test_a_commit_killed_with_its_process_ends_and_holds_the_lock_until_then(tmp_path):
    """qemu-img dies with the process that runs it (setpriv --pdeathsig) instead of
    writing on into the disk, and holds the overlay's lock while it lives: no sweep (the
    next start's, an orphaned worker's) restores the disk under a running commit."""
    disk = make_disk(tmp_path, 'raw')
    before = sha256(disk.path)
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    mark = tmp_path / 'qemu-img.pid'
    stand_in = bindir / 'qemu-img'
    stand_in.write_text(HANGING_QEMU_IMG % {'mark': mark, 'real': QEMU_IMG})
    stand_in.chmod(0o755)
    overlays = tmp_path / 'overlays'
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    committer = subprocess.Popen(
        [sys.executable, '-c', COMMITTER, disk.path, str(overlays)], cwd=repo,
        env=dict(os.environ, PATH='%s:%s' % (bindir, os.environ['PATH']), PYTHONPATH=repo))
    deadline = time.monotonic() + 60
    while not mark.exists():
        assert committer.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    pid = int(mark.read_text())
    [path] = [os.path.join(overlays, n) for n in leftovers(tmp_path)
              if n.endswith(overlay_mod.OVERLAY_SUFFIX)]
    held = [os.readlink('/proc/%d/fd/%s' % (pid, fd))
            for fd in os.listdir('/proc/%d/fd' % pid)]
    assert path in held
    tree, survivors = processes.survivors_of_sigkill(committer)
    assert pid in [p for p, _ in tree]
    assert survivors == []
    assert overlay_mod.sweep_stale_overlays(str(overlays)) == [path]
    assert sha256(disk.path) == before
    assert leftovers(tmp_path) == []
