"""The accelerator paths with the real qemu: TCG runs with a bounded translation cache
(tb-size, set by the qemu wrapper), KVM -- where it works -- with the stock kernel and a
wrapper that only makes qemu die with its worker. One appliance launch each (the KVM
test launches only where KVM works).

The disk is made on the host with mke2fs (no appliance launch), and read back with
debugfs, which reads the filesystem image in user space: nothing is mounted on the host.
"""

import os
import subprocess
import threading

import pytest

from inject import appliance
from inject import image
from inject import manager
from inject import request
from inject.appliance import accelerator as accel

KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIntegrationTestKeyIntegrationTestKey00 it@inject'


class QemuWatch:
    """Records the command line and executable of every qemu whose command line
    mentions ``marker`` (the appliance cache directory) while it runs."""

    def __init__(self, marker):
        self.marker = marker
        self.seen = {}          # pid -> (argv, exe)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        while not self._stop.wait(0.1):
            for pid in os.listdir('/proc'):
                if not pid.isdigit() or int(pid) in self.seen:
                    continue
                try:
                    with open('/proc/%s/cmdline' % pid, 'rb') as f:
                        argv = f.read().decode('utf-8', 'replace').split('\0')[:-1]
                    exe = os.readlink('/proc/%s/exe' % pid)
                except OSError:
                    continue
                if ('qemu-system' in exe and '-kernel' in argv
                        and any(self.marker in a for a in argv)):
                    self.seen[int(pid)] = (argv, exe)

    def appliance(self):
        assert len(self.seen) == 1, self.seen
        return next(iter(self.seen.values()))


@pytest.fixture
def override_appliance(conf):
    """override_appliance(name=value, ...): [appliance] overrides, cleared afterwards."""
    names = []

    def override(**options):
        for name, value in options.items():
            conf.set_override(name, value, 'appliance')
            names.append(name)
    yield override
    for name in names:
        conf.clear_override(name, 'appliance')


def machine_accel(argv):
    """The accel= values of every -machine option."""
    return [part for i, a in enumerate(argv[:-1]) if a in ('-machine', '-M')
            for part in argv[i + 1].split(',') if part.startswith('accel=')]


def test_tcg_appliance_runs_with_bounded_translation_cache(conf, override_appliance):
    override_appliance(accelerator='tcg', tb_size=64)
    d = os.path.join(conf.state_path, 'images')
    os.makedirs(d, exist_ok=True)
    disk = os.path.join(d, 'tbsize.raw')
    subprocess.run(['mke2fs', '-q', '-F', '-t', 'ext4', '-L', 'root', disk, '64M'],
                   check=True)
    req = request.InjectionRequest(image.DiskImage(disk, 'raw'), partition=0, key=KEY,
                                   files=[('/etc/motd', b'bounded cache\n')])
    with QemuWatch(conf.appliance.cache_dir) as watch:
        [report] = manager.Manager(conf).inject([req])
    assert report.ok, report.reason()
    assert report.accelerator == 'tcg'
    argv, exe = watch.appliance()
    assert os.path.basename(exe) == 'qemu-system-x86_64'      # exec'd: no wrapper left
    assert argv[argv.index('-accel') + 1] == 'tcg,tb-size=64'
    assert machine_accel(argv) == []                          # qemu refuses both forms

    def cat(path):
        return subprocess.run(['debugfs', '-R', 'cat ' + path, disk], check=True,
                              capture_output=True).stdout
    assert cat('/etc/motd') == b'bounded cache\n'
    assert cat('/root/.ssh/authorized_keys').decode().strip().endswith(KEY)


def test_auto_chooses_kvm_with_stock_kernel_and_the_reaper_wrapper(conf,
                                                                   override_appliance):
    override_appliance(accelerator='auto', kernel_boot='auto', tb_size=64)
    settings = appliance.Settings.from_conf(conf)
    accelerator, probing, why = accel.choose_accelerator(settings)
    if accelerator != 'kvm':
        pytest.skip('KVM does not work on this host, so auto chooses TCG (%s)' % why)
    assert accel.boot_kernel(settings, 'kvm') is None
    launching = accel.launch_settings(settings, 'kvm')
    # no tb-size: the wrapper only makes qemu die with its worker (inject.appliance.hv)
    assert (os.path.basename(launching.hv), launching.tb_size) == ('qemu-reaper', 0)
    assert launching.recovery_proc is False
    with QemuWatch(conf.appliance.cache_dir) as watch:
        outcome = appliance.run([], settings)
    if outcome.accelerator != 'kvm' and probing:
        pytest.skip('KVM was tried and failed on this host: %s' % '; '.join(outcome.notes))
    assert outcome.error is None, outcome.error
    assert (outcome.accelerator, outcome.kernel_boot) == ('kvm', 'stock')
    argv, exe = watch.appliance()
    assert os.path.basename(exe) == 'qemu-system-x86_64'
    assert not any('tb-size' in a for a in argv)
    assert machine_accel(argv) in (['accel=kvm'], ['accel=kvm:tcg'])
