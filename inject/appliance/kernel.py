"""An uncompressed copy of the host kernel, so TCG appliances boot without decompressing.

supermin builds the appliance from the host's ``/boot/vmlinuz-*``, a bzImage whose kernel
is XZ-compressed. Under TCG software emulation its decompressor runs in every launch
(about 2.5 s of every launch, measured on our 2-core test machines, where launches took
20-22 s with the stock kernel and 13-17 s with PVH). qemu can instead boot the kernel's ELF image
(``vmlinux``) directly through its PVH entry point, skipping the decompressor.

:func:`prepare` extracts that ELF once into ``cache_dir`` (about 66 MB), checks that it has
a PVH entry note, and returns where it is; the driver hands it to supermin with
``SUPERMIN_KERNEL``. Whenever anything is off -- no kernel, another compression, no PVH
note, a full disk -- it returns None and the appliance boots the stock kernel.

qemu keeps the ELF mapped for as long as the appliance runs (it copies the segments
into guest memory again at each reset), so every page of the segments it has read stays
in its RSS. The last segment of a Debian kernel ends with about 23 MB of zeros (.bss,
.brk, stored in the file): :func:`trim_zero_tails` leaves such zeros to the loader, which
zero-fills past a segment's file size as it does for any .bss. Guest memory is the same,
byte for byte; qemu reads 23 MB less of the file, and its RSS is 23 MB smaller.
"""

import dataclasses
import glob
import logging
import lzma
import os
import re
import shutil
import struct
import threading
import zlib

from inject import fileutils

LOG = logging.getLogger(__name__)

BOOT_GLOB = '/boot/vmlinuz-*'
MODULES_DIR = '/lib/modules'
SUBDIR = 'pvh-kernel'
APPLIANCE_SUBDIR = 'pvh-appliance'

_XZ_MAGIC = b'\xfd7zXZ\x00'
_GZIP_MAGIC = b'\x1f\x8b\x08'
_ELF_MAGIC = b'\x7fELF'
_PT_LOAD = 1
_PT_NOTE = 4
#: the extracted file's format, in its name: 2 = zero tails left to the loader. A new
#: format gets a new file (and a new PVH appliance: supermin does not notice a kernel
#: changed in place).
FORMAT = 2
_XEN_ELFNOTE_PHYS32_ENTRY = 18     # the PVH entry point qemu looks for

_lock = threading.Lock()


@dataclasses.dataclass(frozen=True)
class Kernel:
    """What supermin needs to build an appliance around an extracted kernel."""
    path: str          # the uncompressed ELF
    version: str       # e.g. 6.1.0-57-amd64
    modules: str       # /lib/modules/<version>


def _version_key(version):
    return [int(p) if p.isdigit() else p for p in re.split(r'(\d+)', version)]


def host_kernel(boot_glob=BOOT_GLOB, modules_dir=MODULES_DIR):
    """(bzImage path, version) supermin would use: the running kernel's when /boot has
    it, else the newest /boot/vmlinuz-* with modules; None when there is none."""
    candidates = {}
    for path in glob.glob(boot_glob):
        version = os.path.basename(path)[len('vmlinuz-'):]
        if os.path.isdir(os.path.join(modules_dir, version)) and os.access(path, os.R_OK):
            candidates[version] = path
    running = os.uname().release
    if running in candidates:
        return candidates[running], running
    if not candidates:
        return None
    version = max(candidates, key=_version_key)
    return candidates[version], version


def decompress(bzimage):
    """The ELF kernel inside a bzImage (XZ or gzip payload), or None."""
    for magic, opener in ((_XZ_MAGIC, _unxz), (_GZIP_MAGIC, _gunzip)):
        start = bzimage.find(magic)
        while start != -1:
            try:
                elf = opener(bzimage[start:])
            except (lzma.LZMAError, OSError, EOFError, zlib.error):
                elf = None
            if elf and elf.startswith(_ELF_MAGIC):
                return elf
            start = bzimage.find(magic, start + 1)
    return None


def _unxz(data):
    return lzma.LZMADecompressor().decompress(data)


def _gunzip(data):
    # A decompressobj stops at the member's end and ignores the bzImage tail after it.
    return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data)


def has_pvh_entry(elf):
    """True when a 64-bit little-endian ELF carries the Xen PVH entry note."""
    try:
        if elf[:4] != _ELF_MAGIC or elf[4] != 2 or elf[5] != 1:
            return False
        phoff, = struct.unpack_from('<Q', elf, 0x20)
        phentsize, phnum = struct.unpack_from('<HH', elf, 0x36)
        for i in range(phnum):
            p_type, _, p_offset, _, _, p_filesz = struct.unpack_from(
                '<IIQQQQ', elf, phoff + i * phentsize)
            if p_type != _PT_NOTE:
                continue
            pos, end = p_offset, p_offset + p_filesz
            while pos + 12 <= end:
                namesz, descsz, note_type = struct.unpack_from('<III', elf, pos)
                name = elf[pos + 12:pos + 12 + namesz].rstrip(b'\0')
                if name == b'Xen' and note_type == _XEN_ELFNOTE_PHYS32_ENTRY:
                    return True
                pos += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    except struct.error:
        return False
    return False


def trim_zero_tails(elf):
    """``elf`` with each loadable segment's trailing zero bytes left out of its file
    size (its memory size unchanged: the loader zero-fills them). The file's bytes do
    not move; only program headers change."""
    out = bytearray(elf)
    phoff, = struct.unpack_from('<Q', elf, 0x20)
    phentsize, phnum = struct.unpack_from('<HH', elf, 0x36)
    for i in range(phnum):
        at = phoff + i * phentsize
        p_type, _, p_offset, _, _, p_filesz, p_memsz = struct.unpack_from(
            '<IIQQQQQ', elf, at)
        if p_type != _PT_LOAD or not p_filesz:
            continue
        segment = memoryview(elf)[p_offset:p_offset + p_filesz]
        kept = len(bytes(segment).rstrip(b'\0'))
        if kept < p_filesz and p_filesz <= p_memsz:
            struct.pack_into('<Q', out, at + 32, kept)      # p_filesz
    return bytes(out)


def prepare(cache_dir, boot_glob=BOOT_GLOB, modules_dir=MODULES_DIR):
    """The extracted host kernel (extracting it on first use), or None to boot stock."""
    found = host_kernel(boot_glob, modules_dir)
    if found is None or not cache_dir:
        return None
    source, version = found
    directory = os.path.join(cache_dir, SUBDIR)
    target = os.path.join(directory, 'vmlinux-%s.%d' % (version, FORMAT))
    modules = os.path.join(modules_dir, version)
    with _lock:
        try:
            if os.path.getmtime(target) >= os.path.getmtime(source):
                return Kernel(target, version, modules)
        except OSError:
            pass
        try:
            with open(source, 'rb') as f:
                elf = decompress(f.read())
            if elf is None or not has_pvh_entry(elf):
                LOG.info('%s has no PVH-bootable kernel inside; the appliance boots it '
                         'as it is', source)
                return None
            os.makedirs(directory, mode=0o700, exist_ok=True)
            fileutils.atomic_write(target, trim_zero_tails(elf), mode=0o644)
            _remove_others(cache_dir, target)
        except OSError as e:
            LOG.warning('Cannot extract %s into %s (%s); the appliance boots the stock '
                        'kernel', source, directory, e)
            return None
    LOG.info('Extracted %s into %s for PVH boot', source, target)
    return Kernel(target, version, modules)


def appliance_dir(cache_dir, kernel):
    """Where the appliance around ``kernel`` is built: apart from the stock one, and
    one per extracted kernel file (supermin would not notice a kernel changed in an
    appliance it has already built)."""
    return os.path.join(cache_dir, APPLIANCE_SUBDIR, os.path.basename(kernel.path))


def _remove_others(cache_dir, keep):
    """Remove the kernels extracted before ``keep`` (older versions and formats) and
    the appliances built around them (an appliance is about 700 MB)."""
    for path in glob.glob(os.path.join(cache_dir, SUBDIR, 'vmlinux-*')):
        if path != keep:
            try:
                os.unlink(path)
            except OSError:
                pass
    built = os.path.join(cache_dir, APPLIANCE_SUBDIR)
    try:
        names = os.listdir(built)
    except OSError:
        return
    for name in names:
        if name != os.path.basename(keep):
            shutil.rmtree(os.path.join(built, name), ignore_errors=True)
