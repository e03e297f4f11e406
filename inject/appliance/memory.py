"""What an appliance costs in host memory, its guest memory size, and the launch check.

An appliance is a qemu process plus its worker (a Python process, about 50 MB). qemu's
resident memory is what the guest has touched plus, under TCG, the translation cache
(see :mod:`inject.appliance.hv`). Peak qemu RSS measured on our 2-core test machines
(TCG, issue 12 measurements; launch, then mount and write on each drive):

- default cache: 437-460 MB with one drive, 581-593 MB with eight (+20 MB per further
  drive: the cache grows with the code the guest runs for each disk); inspecting an
  LVM disk 726 MB with one drive (775 MB in our earlier notes), 1281 MB with eight
  (+80 MB per drive);
- ``tb-size`` 64: 300 MB with one drive, 309-317 MB with eight, 337-338 MB with
  inspection of an LVM disk (one or eight drives);
- guest memory (memsize 272-512) made no difference to either;
- KVM was not measurable here (no working KVM); without a translation cache its qemu
  holds what the guest touches (150-200 MB for injection work) plus qemu itself, so
  :func:`appliance_mb` takes 300 MB, +3 MB per drive -- an estimate, on the safe side.

:func:`appliance_mb` takes the inspection figures, so the estimate holds for any work.

:func:`admit` is asked before every appliance is started (cold and warm): it refuses,
with the numbers, when ``MemAvailable`` cannot hold the appliance next to the ones this
process has just started and whose memory ``MemAvailable`` does not show yet.
"""

import logging
import threading
import time

from inject import exception

LOG = logging.getLogger(__name__)

MEMINFO = '/proc/meminfo'

#: guest memory (memsize) of an appliance: base + per drive it holds, in MiB
MEMSIZE_BASE = 256
MEMSIZE_PER_DRIVE = 16

#: host memory, MB: the worker process, and qemu's own part beside the TCG cache
WORKER_MB = 50
QEMU_BASE_MB = 275
QEMU_DRIVE_MB = 2
#: what the default TCG cache (up to 1 GiB) grows to: one drive, then per further
#: drive
TCG_CACHE_MB = 450
TCG_CACHE_DRIVE_MB = 80
#: KVM (not measured here: see the module text)
KVM_MB = 300
KVM_DRIVE_MB = 3

#: how long a started appliance counts as not yet visible in MemAvailable, per
#: accelerator (about twice a usual launch: by then its memory is resident)
SETTLE_SECONDS = {'kvm': 10.0, 'tcg': 40.0}


def memsize(floor, drives):
    """Guest memory (MiB) for an appliance holding ``drives`` drives: MEMSIZE_BASE +
    MEMSIZE_PER_DRIVE per drive, or ``floor`` ([appliance]memsize) when that is more."""
    return max(floor or 0, MEMSIZE_BASE + MEMSIZE_PER_DRIVE * max(1, drives))


def appliance_mb(accelerator, tb_size, drives):
    """Peak host memory (MB) of one appliance -- qemu and its worker -- holding
    ``drives`` drives, under ``accelerator`` with a ``tb_size`` MiB TCG cache (0: qemu's
    default)."""
    more = max(1, drives) - 1
    if accelerator == 'kvm':
        return WORKER_MB + KVM_MB + KVM_DRIVE_MB * more
    cache = TCG_CACHE_MB + TCG_CACHE_DRIVE_MB * more
    if tb_size:
        cache = min(cache, tb_size)
    return WORKER_MB + QEMU_BASE_MB + QEMU_DRIVE_MB * more + cache


def available_mb(meminfo=MEMINFO):
    """MemAvailable in MB, or None when it cannot be read."""
    return meminfo_mb('MemAvailable', meminfo)


def meminfo_mb(field, meminfo=MEMINFO):
    """The ``field`` of ``/proc/meminfo`` (MemTotal, MemAvailable...) in MB, or None
    when it cannot be read."""
    try:
        with open(meminfo) as f:
            fields = dict(line.split(':', 1) for line in f if ':' in line)
        return int(fields[field].split()[0]) // 1024
    except (OSError, KeyError, ValueError, IndexError):
        return None


class Admission:
    """The launch-time check; one per process (:data:`ADMISSION`), its clock and meminfo
    path replaceable for tests."""

    def __init__(self, meminfo=MEMINFO, clock=time.monotonic):
        self.meminfo = meminfo
        self.clock = clock
        self._lock = threading.Lock()
        self._started = []        # [(MB, until)]: appliances started moments ago

    def pending_mb(self):
        now = self.clock()
        with self._lock:
            self._started = [(mb, until) for mb, until in self._started if until > now]
            return sum(mb for mb, _ in self._started)

    def admit(self, need_mb, what, settle_seconds):
        """Count an appliance needing ``need_mb`` as started, or raise
        :class:`inject.exception.NotEnoughMemory` (``what`` describes it) when
        MemAvailable, less what appliances started within their ``settle_seconds``
        still need, cannot hold it. With no MemAvailable to read, admits."""
        with self._lock:
            available = available_mb(self.meminfo)
            now = self.clock()
            self._started = [(mb, until) for mb, until in self._started if until > now]
            pending = sum(mb for mb, _ in self._started)
            if available is not None and available - pending < need_mb:
                raise exception.NotEnoughMemory(need=need_mb, what=what,
                                                available=available, pending=pending)
            self._started.append((need_mb, now + settle_seconds))


ADMISSION = Admission()


def admit(launching, drives):
    """Before starting an appliance with :class:`inject.vfs.api.LaunchSettings`
    ``launching`` and ``drives`` drives: raise NotEnoughMemory when the host cannot
    hold it now (see :class:`Admission`)."""
    need = appliance_mb(launching.accelerator, launching.tb_size, drives)
    what = '%s, %d drive(s), guest memory %d MiB, %s' % (
        launching.accelerator, drives, launching.memsize,
        'TCG cache %d MiB' % launching.tb_size if launching.tb_size
        else ('default TCG cache' if launching.accelerator == 'tcg' else 'no TCG cache'))
    ADMISSION.admit(need, what, SETTLE_SECONDS.get(launching.accelerator, 40.0))
