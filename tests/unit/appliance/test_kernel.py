"""The uncompressed host kernel for PVH boot: finding, extracting, checking, caching."""

import gzip
import lzma
import os
import struct

import pytest

from inject.appliance import kernel as appliance_kernel


def elf(pvh=True):
    """A minimal 64-bit ELF with one PT_NOTE segment (a Xen PVH entry note or another)."""
    name = b'Xen\0'
    note_type = 18 if pvh else 17
    note = struct.pack('<III', len(name), 4, note_type) + name + struct.pack('<I', 0x1000)
    other = struct.pack('<III', 4, 4, 1) + b'GNU\0' + b'abcd'
    notes = other + note
    phoff, phentsize = 64, 56
    data_off = phoff + phentsize
    header = (b'\x7fELF' + bytes([2, 1, 1, 0]) + bytes(8)
              + struct.pack('<HHIQQQIHHHHHH', 2, 62, 1, 0, phoff, 0, 0, 64, phentsize,
                            1, 0, 0, 0))
    phdr = struct.pack('<IIQQQQQQ', 4, 4, data_off, 0, 0, len(notes), len(notes), 4)
    return header + phdr + notes + b'kernel text' * 100


def bzimage(payload, compress='xz'):
    packed = (lzma.compress(payload, format=lzma.FORMAT_XZ) if compress == 'xz'
              else gzip.compress(payload))
    # setup code that happens to contain a magic, then the payload, then a trailer
    return b'MZ setup \xfd7zXZ\x00 not a stream \x1f\x8b\x08junk' + packed + b'\0' * 64


@pytest.mark.parametrize('compress', ['xz', 'gzip'])
def test_decompress_finds_the_elf(compress):
    assert appliance_kernel.decompress(bzimage(elf(), compress)) == elf()


def test_decompress_without_a_kernel():
    assert appliance_kernel.decompress(b'MZ nothing compressed here') is None
    # a stream that decompresses to something other than an ELF
    assert appliance_kernel.decompress(bzimage(b'not an elf')) is None


def test_pvh_note():
    assert appliance_kernel.has_pvh_entry(elf(pvh=True))
    assert not appliance_kernel.has_pvh_entry(elf(pvh=False))
    assert not appliance_kernel.has_pvh_entry(b'\x7fELF' + bytes([1, 1]) + bytes(60))
    assert not appliance_kernel.has_pvh_entry(elf()[:70])       # truncated
    assert not appliance_kernel.has_pvh_entry(b'not an elf at all')


def make_boot(tmp_path, versions, with_modules=None, payload=None):
    boot, modules = tmp_path / 'boot', tmp_path / 'modules'
    boot.mkdir(exist_ok=True)
    modules.mkdir(exist_ok=True)
    for v in versions:
        (boot / ('vmlinuz-' + v)).write_bytes(bzimage(payload or elf()))
        if with_modules is None or v in with_modules:
            (modules / v).mkdir(exist_ok=True)
    return str(boot / 'vmlinuz-*'), str(modules)


def test_host_kernel_prefers_the_running_one(tmp_path, monkeypatch):
    running = os.uname().release
    boot_glob, modules = make_boot(tmp_path, ['99.0.0-new', running])
    path, version = appliance_kernel.host_kernel(boot_glob, modules)
    assert version == running and path.endswith('vmlinuz-' + running)


def test_host_kernel_takes_the_newest_with_modules(tmp_path):
    boot_glob, modules = make_boot(tmp_path, ['6.1.0-9-amd64', '6.1.0-10-amd64',
                                              '6.2.0-1-amd64'],
                                   with_modules={'6.1.0-9-amd64', '6.1.0-10-amd64'})
    assert appliance_kernel.host_kernel(boot_glob, modules)[1] == '6.1.0-10-amd64'


def test_host_kernel_none(tmp_path):
    assert appliance_kernel.host_kernel(str(tmp_path / 'vmlinuz-*'), str(tmp_path)) is None


def test_prepare_extracts_once_and_reuses(tmp_path):
    boot_glob, modules = make_boot(tmp_path, ['6.1.0-9-amd64'])
    cache = tmp_path / 'cache'
    kernel = appliance_kernel.prepare(str(cache), boot_glob, modules)
    assert kernel == appliance_kernel.Kernel(
        str(cache / 'pvh-kernel' / 'vmlinux-6.1.0-9-amd64.2'), '6.1.0-9-amd64',
        os.path.join(modules, '6.1.0-9-amd64'))
    assert open(kernel.path, 'rb').read() == elf()
    mtime = os.stat(kernel.path).st_mtime_ns
    assert appliance_kernel.prepare(str(cache), boot_glob, modules) == kernel
    assert os.stat(kernel.path).st_mtime_ns == mtime          # not extracted again


def test_prepare_extracts_again_when_the_kernel_is_updated(tmp_path):
    boot_glob, modules = make_boot(tmp_path, ['6.1.0-9-amd64'])
    cache = str(tmp_path / 'cache')
    kernel = appliance_kernel.prepare(cache, boot_glob, modules)
    os.utime(kernel.path, (1, 1))              # older than the bzImage now
    appliance_kernel.prepare(cache, boot_glob, modules)
    assert os.stat(kernel.path).st_mtime > 1


def test_prepare_without_pvh_note_boots_stock(tmp_path):
    boot_glob, modules = make_boot(tmp_path, ['6.1.0-9-amd64'], payload=elf(pvh=False))
    assert appliance_kernel.prepare(str(tmp_path / 'cache'), boot_glob, modules) is None
    assert not list((tmp_path / 'cache').glob('pvh-kernel/vmlinux-*'))


def test_prepare_with_unwritable_cache_boots_stock(tmp_path):
    boot_glob, modules = make_boot(tmp_path, ['6.1.0-9-amd64'])
    (tmp_path / 'file').write_text('x')
    assert appliance_kernel.prepare(str(tmp_path / 'file'), boot_glob, modules) is None


def test_prepare_without_cache_dir_or_kernel(tmp_path):
    boot_glob, modules = make_boot(tmp_path, ['6.1.0-9-amd64'])
    assert appliance_kernel.prepare(None, boot_glob, modules) is None
    assert appliance_kernel.prepare(str(tmp_path), str(tmp_path / 'none-*'), modules) is None


def loadable(segments):
    """A 64-bit ELF with PT_LOAD segments of the given (file bytes, memory size)."""
    phoff, phentsize = 64, 56
    offset = phoff + phentsize * len(segments)
    header = (b'\x7fELF' + bytes([2, 1, 1, 0]) + bytes(8)
              + struct.pack('<HHIQQQIHHHHHH', 2, 62, 1, 0, phoff, 0, 0, 64, phentsize,
                            len(segments), 0, 0, 0))
    phdrs, data = b'', b''
    for i, (content, memsz) in enumerate(segments):
        phdrs += struct.pack('<IIQQQQQQ', 1, 7, offset + len(data), 0x1000000 * (i + 1),
                             0x1000000 * (i + 1), len(content), memsz, 0x1000)
        data += content
    return header + phdrs + data


def program_headers(elf):
    phoff, = struct.unpack_from('<Q', elf, 0x20)
    _, phnum = struct.unpack_from('<HH', elf, 0x36)
    return [struct.unpack_from('<IIQQQQQQ', elf, phoff + 56 * i) for i in range(phnum)]


def guest_memory(elf):
    """What an ELF loader puts in memory: {paddr: bytes}, zero-filled to p_memsz."""
    return {paddr: elf[offset:offset + filesz] + bytes(memsz - filesz)
            for _, _, offset, _, paddr, filesz, memsz, _ in program_headers(elf)}


def test_trim_zero_tails_leaves_the_same_guest_memory():
    original = loadable([(b'text' * 100 + bytes(5000), 5400),       # zeros in the file
                         (b'data\0\0data' + bytes(3), 100),          # inner zeros kept
                         (b'x' * 50, 50),                             # no zeros at all
                         (bytes(64), 64)])                            # all zeros
    trimmed = appliance_kernel.trim_zero_tails(original)
    assert len(trimmed) == len(original)                 # the bytes do not move
    assert guest_memory(trimmed) == guest_memory(original)
    assert [h[5] for h in program_headers(trimmed)] == [400, 10, 50, 0]
    assert [h[6] for h in program_headers(trimmed)] == [5400, 100, 50, 64]


def test_trim_zero_tails_keeps_notes():
    assert appliance_kernel.trim_zero_tails(elf()) == elf()     # no PT_LOAD: unchanged


def test_a_new_extraction_removes_older_kernels_and_their_appliances(tmp_path):
    boot_glob, modules = make_boot(tmp_path, ['6.1.0-9-amd64'])
    cache = tmp_path / 'cache'
    old_kernel = cache / 'pvh-kernel' / 'vmlinux-6.1.0-9-amd64'          # format 1
    old_kernel.parent.mkdir(parents=True)
    old_kernel.write_bytes(elf())
    for old in ('.guestfs-0', 'vmlinux-6.1.0-8-amd64.2'):                 # appliances
        (cache / 'pvh-appliance' / old / 'appliance.d').mkdir(parents=True)
    kernel = appliance_kernel.prepare(str(cache), boot_glob, modules)
    assert [p.name for p in (cache / 'pvh-kernel').iterdir()] == ['vmlinux-6.1.0-9-amd64.2']
    assert not list((cache / 'pvh-appliance').iterdir())
    assert appliance_kernel.appliance_dir(str(cache), kernel) == str(
        cache / 'pvh-appliance' / 'vmlinux-6.1.0-9-amd64.2')
