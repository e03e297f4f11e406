"""How an appliance is launched: accelerator, kernel, vCPUs, and what was learnt here.

Accelerator ``auto``: TCG when /dev/kvm is missing or not accessible; otherwise KVM is
tried once with a short deadline (``kvm_probe_timeout``). If it fails (on some hosts qemu
aborts with "failed to set MSR") or hangs, the session is relaunched under TCG and the
outcome is remembered in ``cache_dir`` for this kernel and qemu (:func:`write_record`),
so later launches go straight to what works. A PVH boot that fails by PVH's own fault
(see :func:`inject.appliance.session._retry_pvh`: not a deadline, not a killed qemu or
worker) is remembered the same way (``KERNEL_RECORD_NAME``), and later launches boot the
stock kernel.

Under TCG the appliance's qemu runs through a wrapper that bounds its translation cache
(``[appliance]tb_size``, :mod:`inject.appliance.hv`) and kernel_boot auto boots PVH; under
KVM -- chosen by auto wherever it works -- the stock kernel boots and qemu's wrapper only
makes it die with its worker, as the TCG one does too.
Guest memory is sized from the drives an appliance holds, and no appliance is started
when the host's available memory cannot hold it (:mod:`inject.appliance.memory`).
"""

import contextlib
import json
import logging
import os
import threading
import time

from inject import fileutils
from inject.appliance import hv
from inject.appliance import kernel as appliance_kernel
from inject.appliance import memory
from inject.vfs import api

LOG = logging.getLogger(__name__)

KVM_DEVICE = '/dev/kvm'
QEMU_BINARY = '/usr/bin/qemu-system-x86_64'
RECORD_NAME = 'accelerator.json'
KERNEL_RECORD_NAME = 'kernel-boot.json'

# What an appliance launch usually takes on an idle host (measured on 2-core machines:
# TCG 13-22 s, KVM 2-5 s); a slower launch stretches the session's deadlines
# (inject.appliance.session.slowness).
USUAL_LAUNCH_SECONDS = {'kvm': 5.0, 'tcg': 20.0}

_running_lock = threading.Lock()
_running = 0         # appliance sessions of this process now running (for smp auto)


def kvm_usable():
    """(True, None) when /dev/kvm can be opened read-write, else (False, why)."""
    if not os.path.exists(KVM_DEVICE):
        return False, '%s does not exist' % KVM_DEVICE
    if not os.access(KVM_DEVICE, os.R_OK | os.W_OK):
        return False, '%s is not readable and writable by this user' % KVM_DEVICE
    return True, None


# --- remembered outcomes ------------------------------------------------------------------

def _host_key():
    try:
        qemu = '%s@%d' % (QEMU_BINARY, os.stat(QEMU_BINARY).st_mtime)
    except OSError:
        qemu = QEMU_BINARY + '@missing'
    return '%s %s' % (os.uname().release, qemu)


def _record_path(settings, name):
    return os.path.join(settings.cache_dir, name) if settings.cache_dir else None


def read_record(settings, name=RECORD_NAME):
    """The remembered outcome of the last KVM probe (or, with KERNEL_RECORD_NAME, PVH
    boot) on this kernel and qemu, or None."""
    path = _record_path(settings, name)
    try:
        with open(path) as f:
            record = json.load(f)
    except (TypeError, OSError, ValueError):
        return None
    return record if isinstance(record, dict) and record.get('host') == _host_key() else None


def write_record(settings, accelerator, reason, name=RECORD_NAME):
    """Remember what worked (or failed) on this kernel and qemu, in ``cache_dir``."""
    path = _record_path(settings, name)
    if not path:
        return
    try:
        fileutils.atomic_write(path, json.dumps(
            {'host': _host_key(), 'accelerator': accelerator, 'reason': reason,
             'when': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}), mode=0o644)
    except OSError as e:
        LOG.warning('Cannot remember the accelerator probe in %s: %s', path, e)


# --- choices ---------------------------------------------------------------------------

def choose_accelerator(settings):
    """(accelerator, probing, why): ``probing`` means KVM is on trial (auto mode)."""
    if settings.accelerator in ('kvm', 'tcg'):
        return settings.accelerator, False, 'configured'
    usable, why = kvm_usable()
    if not usable:
        return 'tcg', False, why
    record = read_record(settings)
    if record and record['accelerator'] == 'tcg':
        return 'tcg', False, 'remembered: ' + record['reason']
    # KVM stays on trial: should it start failing, the session falls back to TCG.
    return 'kvm', True, ('remembered: ' + record['reason'] if record
                         else '%s is accessible; trying KVM' % KVM_DEVICE)


def boot_kernel(settings, accelerator):
    """The extracted kernel to PVH-boot (:class:`inject.appliance.kernel.Kernel`), or
    None for stock."""
    if settings.kernel_boot == 'stock' or (settings.kernel_boot == 'auto'
                                           and accelerator != 'tcg'):
        return None
    if read_record(settings, KERNEL_RECORD_NAME):
        return None       # PVH failed here before, and the stock kernel worked
    return appliance_kernel.prepare(settings.cache_dir)


def launch_settings(settings, accelerator, kernel=None, others_running=0, hotplug=False,
                    drives=1):
    """The driver's LaunchSettings for an appliance holding ``drives`` drives (with
    ``hotplug``: up to ``settings.warm_max_disks``), with smp auto resolved, memory
    sized for the drives, and a qemu wrapper: under TCG the tb-size one, else the one
    that only makes qemu die with its worker (:mod:`inject.appliance.hv`)."""
    smp = settings.smp
    if not smp:
        smp = 1 if others_running else max(1, min(2, os.cpu_count() or 1))
    cache_dir = settings.cache_dir
    if kernel and cache_dir:
        cache_dir = appliance_kernel.appliance_dir(cache_dir, kernel)
    tb_size, wrapper = tcg_cache(settings, accelerator)
    if wrapper is None:
        wrapper = hv.prepare_reaper(settings.cache_dir, hv.real_qemu(QEMU_BINARY))
    if hotplug:
        drives = settings.warm_max_disks
    return api.LaunchSettings(accelerator=accelerator,
                              memsize=memory.memsize(settings.memsize, drives), smp=smp,
                              debug=settings.debug, cache_dir=cache_dir, kernel=kernel,
                              hotplug=hotplug, tb_size=tb_size, hv=wrapper,
                              recovery_proc=not (wrapper and hv.reaps()))


def tcg_cache(settings, accelerator):
    """(tb_size, wrapper path): the TCG translation cache bound and the qemu wrapper
    that sets it (:mod:`inject.appliance.hv`); (0, None) under KVM, with tb_size 0, or
    when the wrapper cannot be written (qemu's default cache then)."""
    tb_size = settings.tb_size
    if accelerator != 'tcg' or not tb_size:
        return 0, None
    wrapper = hv.prepare(settings.cache_dir, tb_size, hv.real_qemu(QEMU_BINARY))
    return (tb_size, wrapper) if wrapper else (0, None)


def admit(launching, drives):
    """Raise NotEnoughMemory when the host cannot hold this appliance now (see
    :func:`inject.appliance.memory.admit`); call it right before starting one."""
    memory.admit(launching, drives)


@contextlib.contextmanager
def counted():
    """Count a launch or session as running (for smp auto); yields how many others run."""
    global _running
    with _running_lock:
        others, _running = _running, _running + 1
    try:
        yield others
    finally:
        with _running_lock:
            _running -= 1
