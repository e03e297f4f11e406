"""The qcow2 overlay inject writes itself (inject.image.write_qcow2_overlay) against the
one ``qemu-img create -f qcow2 -F FMT -b BACKING`` writes: same ``qemu-img info``, a
clean ``qemu-img check``, usable by qemu (a write through it reads back, the backing
file's bytes show through), and the same refusals."""

import json
import os
import shutil
import subprocess

import pytest

from inject import exception
from inject import image

pytestmark = pytest.mark.skipif(
    shutil.which('qemu-img') is None or shutil.which('qemu-io') is None,
    reason='qemu-img and qemu-io are not installed')

# What qemu-img info says of an image that depends on its path or its allocation.
_VARYING = ('filename', 'actual-size', 'dirty-flag', 'full-backing-filename')


def info(path):
    out = subprocess.run(['qemu-img', 'info', '--output=json', str(path)],
                         check=True, capture_output=True, text=True).stdout
    return {k: v for k, v in json.loads(out).items() if k not in _VARYING}


def check(path):
    return subprocess.run(['qemu-img', 'check', str(path)], capture_output=True,
                          text=True)


def qemu_img_overlay(path, backing, fmt, cwd=None):
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', fmt, '-b', backing,
                    str(path)], check=True, cwd=cwd)


def raw(path, size, fill=None):
    with open(path, 'wb') as f:
        if fill is not None:
            f.write(fill * size)
        else:
            f.truncate(size)
    return str(path)


@pytest.mark.parametrize('size', [0, 1000, 1 << 20, 5 << 30])
def test_raw_backing_matches_qemu_img(tmp_path, size):
    base = raw(tmp_path / 'base.raw', size)
    image.write_qcow2_overlay(str(tmp_path / 'ours.qcow2'), base, 'raw')
    qemu_img_overlay(tmp_path / 'theirs.qcow2', base, 'raw')
    assert info(tmp_path / 'ours.qcow2') == info(tmp_path / 'theirs.qcow2')
    assert info(tmp_path / 'ours.qcow2')['virtual-size'] == (size + 511) // 512 * 512
    assert check(tmp_path / 'ours.qcow2').returncode == 0
    assert (os.path.getsize(tmp_path / 'ours.qcow2')
            == os.path.getsize(tmp_path / 'theirs.qcow2'))


def test_qcow2_backing_matches_qemu_img(tmp_path):
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2',
                    str(tmp_path / 'base.qcow2'), '3G'], check=True)
    base = str(tmp_path / 'base.qcow2')
    image.write_qcow2_overlay(str(tmp_path / 'ours.qcow2'), base, 'qcow2')
    qemu_img_overlay(tmp_path / 'theirs.qcow2', base, 'qcow2')
    ours = info(tmp_path / 'ours.qcow2')
    assert ours == info(tmp_path / 'theirs.qcow2')
    assert ours['virtual-size'] == 3 << 30
    assert ours['backing-filename-format'] == 'qcow2'
    assert check(tmp_path / 'ours.qcow2').returncode == 0


@pytest.mark.parametrize('name', ["odd name 'é' \"q\" $x;y", 'a:b', 'x' * 200])
def test_paths_with_odd_characters(tmp_path, name):
    folder = tmp_path / name
    folder.mkdir()
    base = raw(folder / (name + '.raw'), 1 << 20, fill=b'\x5a')
    overlay = folder / ('over ' + name + '.qcow2')
    image.write_qcow2_overlay(str(overlay), base, 'raw')
    assert info(overlay)['backing-filename'] == base
    assert check(overlay).returncode == 0
    header = image.read_qcow2_header(str(overlay))
    assert (header['backing_file'], header['backing_format']) == (base, 'raw')


def test_a_relative_backing_name_is_relative_to_the_overlay(tmp_path):
    (tmp_path / 'images').mkdir()
    (tmp_path / 'disks').mkdir()
    raw(tmp_path / 'images' / 'base.raw', 1 << 20)
    ours, theirs = tmp_path / 'disks' / 'ours.qcow2', tmp_path / 'disks' / 'theirs.qcow2'
    image.write_qcow2_overlay(str(ours), '../images/base.raw', 'raw')
    qemu_img_overlay(theirs, '../images/base.raw', 'raw', cwd=str(tmp_path / 'disks'))
    assert info(ours) == info(theirs)
    assert info(ours)['backing-filename'] == '../images/base.raw'


def test_the_overlay_is_usable_and_shows_the_backing_bytes(tmp_path):
    base = raw(tmp_path / 'base.raw', 1 << 20, fill=b'\x5a')
    overlay = str(tmp_path / 'disk.qcow2')
    image.write_qcow2_overlay(overlay, base, 'raw')
    io = ['qemu-io', '-f', 'qcow2']
    read = subprocess.run(io + ['-c', 'read -P 0x5a 0 1M', overlay], capture_output=True,
                          text=True)
    assert read.returncode == 0 and 'Pattern verification failed' not in read.stdout
    subprocess.run(io + ['-c', 'write -P 0x07 65536 4096', overlay], check=True,
                   capture_output=True)
    assert check(overlay).returncode == 0
    read = subprocess.run(io + ['-c', 'read -P 0x07 65536 4096', '-c',
                                'read -P 0x5a 0 65536', overlay],
                          capture_output=True, text=True)
    assert read.returncode == 0 and 'Pattern verification failed' not in read.stdout
    with open(base, 'rb') as f:
        assert f.read() == b'\x5a' * (1 << 20)       # the base is untouched


def test_an_existing_file_is_replaced_and_keeps_its_mode(tmp_path):
    base = raw(tmp_path / 'base.raw', 1 << 20)
    target = tmp_path / 'made-by-mkstemp.qcow2'
    target.write_bytes(b'old content' * 100000)
    os.chmod(target, 0o600)
    image.write_qcow2_overlay(str(target), base, 'raw')
    assert os.stat(target).st_mode & 0o777 == 0o600
    assert check(target).returncode == 0
    assert info(target)['virtual-size'] == 1 << 20


def test_create_overlay_writes_it(tmp_path):
    base = image.DiskImage(raw(tmp_path / 'base.raw', 1 << 20), 'raw')
    image.create_overlay(base, str(tmp_path / 'disk'))
    assert info(tmp_path / 'disk')['backing-filename'] == base.path
    assert check(tmp_path / 'disk').returncode == 0


def _refused(tmp_path, backing, fmt):
    with pytest.raises(exception.InvalidImage) as e:
        image.write_qcow2_overlay(str(tmp_path / 'over.qcow2'), backing, fmt)
    theirs = subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', fmt, '-b',
                             backing, str(tmp_path / 'theirs.qcow2')],
                            capture_output=True, text=True)
    return str(e.value), theirs.returncode


def test_a_missing_backing_file_is_refused_as_qemu_img_refuses_it(tmp_path):
    message, theirs = _refused(tmp_path, str(tmp_path / 'missing.raw'), 'raw')
    assert 'cannot open it as a backing file' in message
    assert theirs != 0


def test_a_qcow2_backing_with_a_missing_backing_file_is_refused(tmp_path):
    raw(tmp_path / 'gone.raw', 1 << 20)
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'raw', '-b',
                    str(tmp_path / 'gone.raw'), str(tmp_path / 'mid.qcow2')], check=True)
    os.unlink(tmp_path / 'gone.raw')
    message, theirs = _refused(tmp_path, str(tmp_path / 'mid.qcow2'), 'qcow2')
    assert 'gone.raw does not exist' in message
    assert theirs != 0


def test_a_backing_file_that_is_not_qcow2_is_refused(tmp_path):
    message, theirs = _refused(tmp_path, raw(tmp_path / 'plain.raw', 4096), 'qcow2')
    assert 'has no qcow2 header' in message
    assert theirs != 0


def test_a_protocol_name_is_refused(tmp_path):
    with pytest.raises(exception.InvalidImage, match='qemu protocol'):
        image.write_qcow2_overlay(str(tmp_path / 'over.qcow2'), 'nbd:localhost:1', 'raw')
    assert not (tmp_path / 'over.qcow2').exists()


def test_a_backing_name_too_long_for_the_header_is_refused(tmp_path):
    with pytest.raises(exception.InvalidImage, match='longer than 1023 bytes'):
        image.write_qcow2_overlay(str(tmp_path / 'over.qcow2'), '/' + 'x' * 1023, 'raw')


def test_an_unsupported_backing_format_is_refused(tmp_path):
    with pytest.raises(exception.InvalidImage, match='not supported'):
        image.write_qcow2_overlay(str(tmp_path / 'over.qcow2'),
                                  raw(tmp_path / 'b.raw', 512), 'vmdk')
