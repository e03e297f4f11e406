"""Stale overlays (their process killed) are swept; overlays in use are kept.

Real files and real flock: the lock semantics are the point, so no pyfakefs here.
"""

import os
import subprocess
import sys
import textwrap

from inject import image
from inject import overlay as overlay_mod

HOLDER = textwrap.dedent('''
    import sys
    from inject import overlay as overlay_mod
    # Create exactly as Overlay.create does, minus qemu-img.
    import fcntl, os, tempfile
    with overlay_mod._directory_lock(sys.argv[1], fcntl.LOCK_SH):
        fd, path = tempfile.mkstemp(prefix='disk.', suffix=overlay_mod.OVERLAY_SUFFIX,
                                    dir=sys.argv[1])
        fcntl.flock(fd, fcntl.LOCK_EX)
    print(path, flush=True)
    sys.stdin.read()
''')


def _holder(directory):
    proc = subprocess.Popen([sys.executable, '-c', HOLDER, str(directory)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


def test_overlay_of_a_live_process_is_kept(tmp_path):
    proc, path = _holder(tmp_path)
    try:
        assert overlay_mod.sweep_stale_overlays(str(tmp_path)) == []
        assert os.path.exists(path)
    finally:
        proc.kill()
        proc.wait()


def test_overlay_of_a_killed_process_is_swept(tmp_path):
    proc, path = _holder(tmp_path)
    proc.kill()
    proc.wait()
    other = tmp_path / 'keep.txt'
    other.write_text('not an overlay')
    assert overlay_mod.sweep_stale_overlays(str(tmp_path)) == [path]
    assert not os.path.exists(path)
    assert other.exists()


def test_sweep_of_a_missing_directory_is_empty(tmp_path):
    assert overlay_mod.sweep_stale_overlays(str(tmp_path / 'none')) == []


def test_overlay_name_fits_name_max_for_a_long_image_name(tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr(image, 'create_overlay', lambda img, path: made.append(path))
    name = 'é' * 120 + '.qcow2'          # 246 bytes in UTF-8
    disk = tmp_path / name
    disk.write_bytes(b'')
    overlay = overlay_mod.Overlay.create(image.DiskImage(str(disk), 'qcow2'), str(tmp_path / 'ov'))
    try:
        assert len(os.fsencode(os.path.basename(overlay.path))) <= 255
        assert os.path.exists(overlay.path)
        # In use: a sweep keeps it.
        assert overlay_mod.sweep_stale_overlays(str(tmp_path / 'ov')) == []
    finally:
        overlay.discard()
    assert not os.path.exists(overlay.path)
    assert made == [overlay.path]
