import hashlib
import os
import shutil
import struct
import subprocess

import pytest

from inject import exception
from inject import image
from inject import overlay as overlay_mod

QEMU_IMG = shutil.which('qemu-img')
QEMU_IO = shutil.which('qemu-io')
needs_qemu_img = pytest.mark.skipif(QEMU_IMG is None, reason='qemu-img is not installed')
needs_qemu_io = pytest.mark.skipif(QEMU_IO is None, reason='qemu-io is not installed')


# Where qcow2() puts its tables (64 KiB clusters): a reference count table in cluster
# 1, the L1 table in cluster 3; the file is sparse up to the L1 table's end.
REFCOUNT_TABLE = 0x10000
L1_TABLE = 0x30000


def qcow2(path, version=3, backing=None, backing_fmt=None, data_file=None,
          incompatible=0, crypt=0, magic=b'QFI\xfb', size=1 << 20, backing_size=None,
          cluster_bits=16, l1_size=None, l1_table_offset=L1_TABLE,
          refcount_table_offset=REFCOUNT_TABLE, refcount_table_clusters=1,
          nb_snapshots=0, snapshots_offset=0, file_size=None):
    """Write a minimal qcow2 file: its header, and where its tables would be (zeros:
    only the header is read)."""
    header_length = 72 if version == 2 else 104
    if l1_size is None:
        l1_size = -(-size // ((1 << cluster_bits) * (1 << cluster_bits) // 8))
    head = magic + struct.pack('>IQIIQIIQQIIQ', version, 0, 0, cluster_bits, size, crypt,
                               l1_size, l1_table_offset, refcount_table_offset,
                               refcount_table_clusters, nb_snapshots, snapshots_offset)
    if version != 2:
        head += struct.pack('>QQQII', incompatible, 0, 0, 4, header_length)
    ext = b''
    for kind, value in ((0xE2792ACA, backing_fmt), (0x44415441, data_file)):
        if value is not None:
            raw = value.encode()
            ext += struct.pack('>II', kind, len(raw)) + raw + b'\0' * (-len(raw) % 8)
    ext += struct.pack('>II', 0, 0)
    body = head + ext
    if backing is not None:
        raw = backing.encode()
        offset = len(body)
        body = (body[:8] + struct.pack('>QI', offset, backing_size or len(raw))
                + body[20:] + raw)
    with open(path, 'wb') as f:
        f.write(body + b'\0' * 512)
        f.truncate(file_size if file_size is not None
                   else max(f.tell(), l1_table_offset + l1_size * 8))
    return str(path)


def raw(path, size=4096):
    with open(path, 'wb') as f:
        f.write(os.urandom(size))
    return str(path)


def sha256(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.fixture
def dirs(tmp_path):
    images = tmp_path / 'images'
    outside = tmp_path / 'outside'
    images.mkdir()
    outside.mkdir()
    return images, outside


# --- DiskImage -------------------------------------------------------------------------

@pytest.mark.parametrize('fmt', ['vmdk', 'QCOW2', 'auto', None, ''])
def test_unsupported_format_rejected(fmt):
    with pytest.raises(exception.InvalidImage, match='is not supported'):
        image.DiskImage('/tmp/x', fmt)


def test_path_made_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert image.DiskImage('d.raw', 'raw').path == str(tmp_path / 'd.raw')


def test_missing_disk(dirs):
    images, _ = dirs
    with pytest.raises(exception.InvalidImage, match='no such file'):
        image.DiskImage(str(images / 'nope.raw'), 'raw').check([str(images)])


def test_directory_is_not_a_disk(dirs):
    images, _ = dirs
    with pytest.raises(exception.InvalidImage, match='neither a regular file'):
        image.DiskImage(str(images), 'raw').check([str(images)])


def test_raw_disk_anywhere_has_empty_chain(dirs):
    _, outside = dirs
    assert image.DiskImage(raw(outside / 'd.raw'), 'raw').check([]) == []


def test_qcow2_without_backing_has_empty_chain(dirs):
    _, outside = dirs
    assert image.DiskImage(qcow2(outside / 'd.qcow2'), 'qcow2').check([]) == []


# --- header parsing -------------------------------------------------------------------

@pytest.mark.parametrize('version', [2, 3])
def test_header_with_backing_and_format(tmp_path, version):
    path = qcow2(tmp_path / 'd.qcow2', version=version, backing='base.raw', backing_fmt='raw')
    h = image.read_qcow2_header(path)
    layout = h.pop('layout')
    assert h == {'version': version, 'size': 1 << 20, 'backing_file': 'base.raw',
                 'backing_format': 'raw', 'data_file': None}
    assert (layout.cluster_bits, layout.l1_size, layout.l1_table_offset,
            layout.refcount_table_offset, layout.refcount_table_clusters) == (
        16, 1, L1_TABLE, REFCOUNT_TABLE, 1)


@pytest.mark.parametrize('version', [2, 3])
def test_header_without_backing(tmp_path, version):
    h = image.read_qcow2_header(qcow2(tmp_path / 'd.qcow2', version=version))
    assert h['backing_file'] is None and h['backing_format'] is None


def test_header_with_data_file(tmp_path):
    h = image.read_qcow2_header(qcow2(tmp_path / 'd.qcow2', data_file='d.data',
                                      incompatible=4))
    assert h['data_file'] == 'd.data'


def test_data_file_bit_without_extension(tmp_path):
    with pytest.raises(exception.InvalidImage, match='needs an external data file'):
        image.read_qcow2_header(qcow2(tmp_path / 'd.qcow2', incompatible=4))


def test_encrypted_refused(tmp_path):
    with pytest.raises(exception.InvalidImage, match='encrypted'):
        image.read_qcow2_header(qcow2(tmp_path / 'd.qcow2', crypt=1))


def test_bad_magic(tmp_path):
    path = qcow2(tmp_path / 'd.qcow2', magic=b'QFI\x00')
    with pytest.raises(exception.InvalidImage, match='no qcow2 header') as e:
        image.DiskImage(path, 'qcow2').check([])
    assert path in str(e.value)


def test_raw_content_given_as_qcow2(tmp_path):
    with pytest.raises(exception.InvalidImage, match='no qcow2 header'):
        image.read_qcow2_header(raw(tmp_path / 'd.raw'))


def test_unsupported_version(tmp_path):
    with pytest.raises(exception.InvalidImage, match='version 4 is not supported'):
        image.read_qcow2_header(qcow2(tmp_path / 'd.qcow2', version=4))


def test_corrupt_backing_name_length(tmp_path):
    path = qcow2(tmp_path / 'd.qcow2', backing='b', backing_fmt='raw', backing_size=5000)
    with pytest.raises(exception.InvalidImage, match='backing file name length'):
        image.read_qcow2_header(path)


def test_truncated_extension(tmp_path):
    path = tmp_path / 'd.qcow2'
    qcow2(path)
    path.write_bytes(path.read_bytes()[:104] + struct.pack('>II', 0xE2792ACA, 100) + b'raw')
    with pytest.raises(exception.InvalidImage, match='truncated'):
        image.read_qcow2_header(str(path))


# --- what qemu would refuse to open, and truncated tables -----------------------------

@pytest.mark.parametrize('fields, reason', [
    ({'l1_table_offset': L1_TABLE + 0x200},
     'its L1 table offset 0x30200 is not a multiple of its cluster size (65536)'),
    ({'refcount_table_offset': REFCOUNT_TABLE + 8},
     'its reference count table offset 0x10008 is not a multiple of its cluster size'),
    ({'nb_snapshots': 1, 'snapshots_offset': 0x20010},
     'its snapshot table offset 0x20010 is not a multiple'),
    ({'refcount_table_clusters': 0}, 'it has no reference count table'),
    ({'cluster_bits': 8}, 'its cluster size (2^8) is not one qemu supports'),
    ({'cluster_bits': 22}, 'its cluster size (2^22) is not one qemu supports'),
    ({'size': 1 << 40, 'l1_size': 1},
     'its L1 table (1 entries) is too small for its virtual size'),
    ({'file_size': L1_TABLE + 4},
     'it is truncated: its L1 table (offset 0x30000, 8 bytes) ends beyond the end of '
     'the file (196612 bytes)'),
    ({'file_size': 0x8000},
     'it is truncated: its reference count table (offset 0x10000, 65536 bytes)'),
])
def test_a_qcow2_qemu_would_refuse_or_that_is_truncated_is_refused(dirs, fields, reason):
    _, outside = dirs
    path = qcow2(outside / 'd.qcow2', **fields)
    with pytest.raises(exception.InvalidImage) as e:
        image.DiskImage(path, 'qcow2').check([])
    assert reason in str(e.value) and path in str(e.value)


@needs_qemu_img
@pytest.mark.parametrize('fields', [{'l1_table_offset': L1_TABLE + 0x200},
                                    {'refcount_table_clusters': 0}, {'cluster_bits': 8}])
def test_what_is_refused_qemu_refuses_too(dirs, fields):
    _, outside = dirs
    path = qcow2(outside / 'd.qcow2', **fields)
    out = subprocess.run([QEMU_IMG, 'info', path], capture_output=True, text=True)
    assert out.returncode != 0, out.stdout


def test_a_backing_file_qemu_would_refuse_is_named(dirs):
    images, _ = dirs
    qcow2(images / 'base.qcow2', l1_table_offset=L1_TABLE + 0x200)
    top = qcow2(images / 'top.qcow2', backing='base.qcow2', backing_fmt='qcow2')
    with pytest.raises(exception.InvalidImage) as e:
        image.DiskImage(top, 'qcow2').check([str(images)])
    assert 'its backing file %s is not a usable qcow2: its L1 table offset' % (
        images / 'base.qcow2') in str(e.value)


# --- backing chains ---------------------------------------------------------------------

def test_backing_inside_with_format_returns_chain(dirs):
    images, _ = dirs
    base = raw(images / 'base.raw')
    mid = qcow2(images / 'mid.qcow2', backing='base.raw', backing_fmt='raw')
    top = qcow2(images / 'top.qcow2', version=2, backing=mid, backing_fmt='qcow2')
    chain = image.DiskImage(top, 'qcow2').check([str(images)])
    assert [(c.path, c.format) for c in chain] == [(mid, 'qcow2'), (base, 'raw')]


def test_disk_itself_may_live_outside_image_dirs(dirs):
    images, outside = dirs
    base = raw(images / 'base.raw')
    top = qcow2(outside / 'top.qcow2', backing=base, backing_fmt='raw')
    assert [c.path for c in image.DiskImage(top, 'qcow2').check([str(images)])] == [base]


def test_backing_outside_refused_naming_target(dirs):
    images, outside = dirs
    secret = raw(outside / 'secret.raw')
    top = qcow2(images / 'top.qcow2', backing=secret, backing_fmt='raw')
    with pytest.raises(exception.UnsafeBackingFile) as e:
        image.DiskImage(top, 'qcow2').check([str(images)])
    assert repr(secret) in str(e.value)
    assert 'outside the configured image directories' in str(e.value)


def test_relative_backing_climbing_out_refused(dirs):
    images, outside = dirs
    raw(outside / 'secret.raw')
    top = qcow2(images / 'top.qcow2', backing='../outside/secret.raw', backing_fmt='raw')
    with pytest.raises(exception.UnsafeBackingFile, match='outside'):
        image.DiskImage(top, 'qcow2').check([str(images)])


def test_backing_to_host_file_refused(dirs):
    images, _ = dirs
    top = qcow2(images / 'top.qcow2', backing='/etc/passwd', backing_fmt='raw')
    with pytest.raises(exception.UnsafeBackingFile, match="'/etc/passwd'"):
        image.DiskImage(top, 'qcow2').check([str(images)])


def test_no_image_dirs_refuses_every_backing_file(dirs):
    images, _ = dirs
    raw(images / 'base.raw')
    top = qcow2(images / 'top.qcow2', backing='base.raw', backing_fmt='raw')
    with pytest.raises(exception.UnsafeBackingFile, match=r'\(none\)'):
        image.DiskImage(top, 'qcow2').check([])


def test_sibling_directory_with_common_prefix_is_outside(tmp_path):
    images = tmp_path / 'images'
    evil = tmp_path / 'images-evil'
    images.mkdir()
    evil.mkdir()
    base = raw(evil / 'base.raw')
    top = qcow2(images / 'top.qcow2', backing=base, backing_fmt='raw')
    with pytest.raises(exception.UnsafeBackingFile, match='outside'):
        image.DiskImage(top, 'qcow2').check([str(images)])


def test_backing_without_recorded_format_refused(dirs):
    images, _ = dirs
    raw(images / 'base.raw')
    top = qcow2(images / 'top.qcow2', backing='base.raw')
    with pytest.raises(exception.UnsafeBackingFile, match='no recorded format'):
        image.DiskImage(top, 'qcow2').check([str(images)])


def test_backing_with_unsupported_format_refused(dirs):
    images, _ = dirs
    raw(images / 'base.vmdk')
    top = qcow2(images / 'top.qcow2', backing='base.vmdk', backing_fmt='vmdk')
    with pytest.raises(exception.InvalidImage, match="format 'vmdk'"):
        image.DiskImage(top, 'qcow2').check([str(images)])


def test_missing_backing_file_refused(dirs):
    images, _ = dirs
    top = qcow2(images / 'top.qcow2', backing='gone.raw', backing_fmt='raw')
    with pytest.raises(exception.UnsafeBackingFile, match='does not exist'):
        image.DiskImage(top, 'qcow2').check([str(images)])


@pytest.mark.parametrize('name', [
    'nbd://evil.example:10809/export',
    'json:{"file": {"driver": "file", "filename": "/etc/shadow"}}',
    'file:/etc/shadow',
    'http://evil.example/disk.img',
])
def test_protocol_names_refused(dirs, name):
    images, _ = dirs
    top = qcow2(images / 'top.qcow2', backing=name, backing_fmt='raw')
    with pytest.raises(exception.UnsafeBackingFile, match='protocol') as e:
        image.DiskImage(top, 'qcow2').check([str(images)])
    assert repr(name) in str(e.value)


def test_relative_name_with_colon_after_slash_is_a_path(dirs):
    images, _ = dirs
    (images / 'sub').mkdir()
    base = raw(images / 'sub' / 'a:b.raw')
    top = qcow2(images / 'top.qcow2', backing='sub/a:b.raw', backing_fmt='raw')
    assert [c.path for c in image.DiskImage(top, 'qcow2').check([str(images)])] == [base]


def test_symlink_inside_pointing_outside_refused(dirs):
    images, outside = dirs
    secret = raw(outside / 'secret.raw')
    os.symlink(secret, images / 'innocent.raw')
    top = qcow2(images / 'top.qcow2', backing='innocent.raw', backing_fmt='raw')
    with pytest.raises(exception.UnsafeBackingFile, match='outside') as e:
        image.DiskImage(top, 'qcow2').check([str(images)])
    # The message names where the link points, not only the innocent-looking link.
    assert 'resolves through a symbolic link to %s' % secret in str(e.value)


def test_symlinked_image_dir_is_resolved(tmp_path):
    real = tmp_path / 'real'
    real.mkdir()
    os.symlink(real, tmp_path / 'alias')
    base = raw(real / 'base.raw')
    top = qcow2(real / 'top.qcow2', backing=base, backing_fmt='raw')
    chain = image.DiskImage(top, 'qcow2').check([str(tmp_path / 'alias')])
    assert [c.path for c in chain] == [base]


def test_self_loop_refused(dirs):
    images, _ = dirs
    top = qcow2(images / 'top.qcow2', backing='top.qcow2', backing_fmt='qcow2')
    with pytest.raises(exception.InvalidImage, match='loops'):
        image.DiskImage(top, 'qcow2').check([str(images)])


def test_two_file_loop_refused(dirs):
    images, _ = dirs
    qcow2(images / 'b.qcow2', backing='a.qcow2', backing_fmt='qcow2')
    a = qcow2(images / 'a.qcow2', backing='b.qcow2', backing_fmt='qcow2')
    with pytest.raises(exception.InvalidImage, match='loops'):
        image.DiskImage(a, 'qcow2').check([str(images)])


def test_chain_deeper_than_limit_refused(dirs):
    images, _ = dirs
    raw(images / 'l0.raw')
    qcow2(images / 'l1.qcow2', backing='l0.raw', backing_fmt='raw')
    for n in range(2, image.MAX_CHAIN + 3):
        qcow2(images / ('l%d.qcow2' % n), backing='l%d.qcow2' % (n - 1), backing_fmt='qcow2')
    top = str(images / ('l%d.qcow2' % (image.MAX_CHAIN + 2)))
    with pytest.raises(exception.InvalidImage, match='deeper than %d' % image.MAX_CHAIN):
        image.DiskImage(top, 'qcow2').check([str(images)])


def test_chain_at_the_limit_is_fine(dirs):
    images, _ = dirs
    raw(images / 'l0.raw')
    qcow2(images / 'l1.qcow2', backing='l0.raw', backing_fmt='raw')
    for n in range(2, image.MAX_CHAIN + 1):
        qcow2(images / ('l%d.qcow2' % n), backing='l%d.qcow2' % (n - 1), backing_fmt='qcow2')
    top = str(images / ('l%d.qcow2' % image.MAX_CHAIN))
    assert len(image.DiskImage(top, 'qcow2').check([str(images)])) == image.MAX_CHAIN


def test_data_file_inside_ok(dirs):
    images, _ = dirs
    raw(images / 'd.data')
    top = qcow2(images / 'd.qcow2', data_file='d.data', incompatible=4)
    assert image.DiskImage(top, 'qcow2').check([str(images)]) == []


def test_data_file_outside_refused(dirs):
    images, outside = dirs
    secret = raw(outside / 'secret.raw')
    top = qcow2(images / 'd.qcow2', data_file=secret, incompatible=4)
    with pytest.raises(exception.UnsafeBackingFile, match='external data file') as e:
        image.DiskImage(top, 'qcow2').check([str(images)])
    assert repr(secret) in str(e.value)


def test_data_file_of_a_backing_file_is_checked(dirs):
    images, outside = dirs
    secret = raw(outside / 'secret.raw')
    qcow2(images / 'base.qcow2', data_file=secret, incompatible=4)
    top = qcow2(images / 'top.qcow2', backing='base.qcow2', backing_fmt='qcow2')
    with pytest.raises(exception.UnsafeBackingFile, match='external data file'):
        image.DiskImage(top, 'qcow2').check([str(images)])


def test_unwritable_disk_refused(dirs, monkeypatch):
    images, _ = dirs
    path = raw(images / 'd.raw')
    real_access = os.access
    monkeypatch.setattr(os, 'access', lambda p, m: False if p == path else real_access(p, m))
    with pytest.raises(exception.InvalidImage, match='not readable and writable'):
        image.DiskImage(path, 'raw').check([])


# --- with the real qemu-img -------------------------------------------------------------

@needs_qemu_img
def test_real_qcow2_with_backing_is_parsed(dirs):
    images, _ = dirs
    base = raw(images / 'base.raw', 1 << 20)
    top = str(images / 'top.qcow2')
    subprocess.run([QEMU_IMG, 'create', '-q', '-f', 'qcow2', '-b', base, '-F', 'raw', top],
                   check=True)
    h = image.read_qcow2_header(top)
    assert h['version'] == 3
    assert h['backing_file'] == base
    assert h['backing_format'] == 'raw'
    assert h['data_file'] is None
    assert h['size'] == 1 << 20
    assert [c.path for c in image.DiskImage(top, 'qcow2').check([str(images)])] == [base]


@needs_qemu_img
def test_real_qcow2_compat_v2_is_parsed(dirs):
    images, _ = dirs
    base = raw(images / 'base.raw', 1 << 20)
    top = str(images / 'top.qcow2')
    subprocess.run([QEMU_IMG, 'create', '-q', '-f', 'qcow2', '-o', 'compat=0.10',
                    '-b', 'base.raw', '-F', 'raw', top], check=True)
    h = image.read_qcow2_header(top)
    assert (h['version'], h['backing_file'], h['backing_format']) == (2, 'base.raw', 'raw')


@needs_qemu_img
def test_real_qcow2_with_external_data_file(dirs):
    images, outside = dirs
    data = str(outside / 'd.data')
    top = str(images / 'd.qcow2')
    subprocess.run([QEMU_IMG, 'create', '-q', '-f', 'qcow2', '-o', 'data_file=' + data,
                    top, '1M'], check=True)
    assert image.read_qcow2_header(top)['data_file'] == data
    with pytest.raises(exception.UnsafeBackingFile, match='external data file'):
        image.DiskImage(top, 'qcow2').check([str(images)])


@needs_qemu_img
def test_overlay_create_points_at_the_disk(tmp_path):
    disk = image.DiskImage(raw(tmp_path / 'disk.raw', 1 << 20), 'raw')
    overlay = overlay_mod.Overlay.create(disk, str(tmp_path / 'overlays'))
    assert os.path.dirname(overlay.path) == str(tmp_path / 'overlays')
    assert os.stat(tmp_path / 'overlays').st_mode & 0o777 == 0o700
    h = image.read_qcow2_header(overlay.path)
    assert (h['backing_file'], h['backing_format']) == (disk.path, 'raw')
    overlay.discard()


@needs_qemu_img
def test_commit_of_untouched_overlay_keeps_disk_and_removes_overlay(tmp_path):
    disk = image.DiskImage(raw(tmp_path / 'disk.raw', 1 << 20), 'raw')
    before = sha256(disk.path)
    overlay = overlay_mod.Overlay.create(disk, str(tmp_path / 'overlays'))
    overlay.commit()
    assert sha256(disk.path) == before
    assert not os.path.exists(overlay.path)


@needs_qemu_img
def test_discard_removes_overlay(tmp_path):
    disk = image.DiskImage(raw(tmp_path / 'disk.raw', 1 << 20), 'raw')
    before = sha256(disk.path)
    overlay = overlay_mod.Overlay.create(disk, str(tmp_path / 'overlays'))
    overlay.discard()
    overlay.discard()              # twice is harmless
    assert not os.path.exists(overlay.path)
    assert [n for n in os.listdir(tmp_path / 'overlays') if n != '.lock'] == []
    assert sha256(disk.path) == before


@needs_qemu_img
@needs_qemu_io
@pytest.mark.parametrize('fmt', ['raw', 'qcow2'])
def test_written_overlay_reaches_disk_only_on_commit(tmp_path, fmt):
    path = str(tmp_path / ('disk.' + fmt))
    subprocess.run([QEMU_IMG, 'create', '-q', '-f', fmt, path, '1M'], check=True)
    disk = image.DiskImage(path, fmt)
    before = sha256(path)
    for commit in (False, True):
        overlay = overlay_mod.Overlay.create(disk, str(tmp_path / 'overlays'))
        subprocess.run([QEMU_IO, '-f', 'qcow2', '-c', 'write -P 0x5a 4096 4096',
                        overlay.path], check=True, capture_output=True)
        (overlay.commit if commit else overlay.discard)()
        assert not os.path.exists(overlay.path)
        assert (sha256(path) != before) is commit
    read = subprocess.run([QEMU_IO, '-f', fmt, '-c', 'read -P 0x5a 4096 4096', path],
                          capture_output=True, text=True, check=True)
    assert 'Pattern verification failed' not in read.stdout + read.stderr


@needs_qemu_img
def test_overlay_create_failure_leaves_no_file(tmp_path):
    disk = image.DiskImage(str(tmp_path / 'vanished.raw'), 'raw')
    with pytest.raises(exception.InvalidImage) as e:
        overlay_mod.Overlay.create(disk, str(tmp_path / 'overlays'))
    assert 'cannot open it as a backing file' in str(e.value)
    assert disk.path in str(e.value)
    assert [n for n in os.listdir(tmp_path / 'overlays') if n != '.lock'] == []


def test_qemu_img_missing(tmp_path, monkeypatch):
    monkeypatch.setenv('PATH', str(tmp_path))
    with pytest.raises(exception.ImageCommandFailed, match='qemu-utils'):
        image.qemu_img(['info', '/x'], '/x')


@needs_qemu_img
def test_commit_failure_still_removes_overlay(tmp_path):
    disk = image.DiskImage(raw(tmp_path / 'disk.raw', 1 << 20), 'raw')
    overlay = overlay_mod.Overlay.create(disk, str(tmp_path / 'overlays'))
    with open(overlay.path, 'wb') as f:
        f.write(b'garbage')
    with pytest.raises(exception.ImageCommandFailed, match='qemu-img commit'):
        overlay.commit()
    assert not os.path.exists(overlay.path)


def test_a_missing_qemu_img_is_named_under_setpriv_too(tmp_path, monkeypatch):
    """qemu-img runs under setpriv --pdeathsig; setpriv's "failed to execute" is the
    same clear error as a missing qemu-img without it."""
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    (bindir / 'setpriv').symlink_to(shutil.which('setpriv'))
    monkeypatch.setenv('PATH', str(bindir))
    assert image.parent_death.setpriv()
    with pytest.raises(exception.ImageCommandFailed) as e:
        image.qemu_img(['info', str(tmp_path / 'd')], str(tmp_path / 'd'))
    assert 'qemu-img is not installed (Debian package qemu-utils)' in str(e.value)
    monkeypatch.setenv('PATH', str(tmp_path))           # no setpriv either
    with pytest.raises(exception.ImageCommandFailed) as e:
        image.qemu_img(['info', str(tmp_path / 'd')], str(tmp_path / 'd'))
    assert 'qemu-img is not installed (Debian package qemu-utils)' in str(e.value)
