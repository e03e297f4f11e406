"""The appliance's accelerator handling and deadlines, with the real qemu."""

import os
import subprocess

from inject import appliance
from inject import injection
from inject.vfs import api


def _job(path):
    item = injection.Item('file', '/etc/never', b'x', True)
    return appliance.Job(drive=api.Drive(path, 'qcow2'), image_name=path, partition=1,
                         items=[item])


def _qemu_processes_with(path):
    out = subprocess.run(['ps', '-eo', 'pid,args'], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if 'qemu' in line and path in line]


def test_a_hung_launch_is_killed_and_reported(conf, tmp_path):
    disk = str(tmp_path / ('hang-%d.qcow2' % os.getpid()))
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', disk, '16M'], check=True)
    settings = appliance.Settings(accelerator='tcg', launch_timeout=5,
                                  cache_dir=conf.appliance.cache_dir)
    outcome = appliance.run([_job(disk)], settings)
    assert outcome.accelerator is None
    assert 'did not finish launch within 5 s' in outcome.error
    assert 'its qemu was killed' in outcome.error
    assert outcome.jobs[0].error == outcome.error
    assert _qemu_processes_with(disk) == []


def test_forced_kvm_that_cannot_work_is_a_clear_error(conf):
    usable, _ = appliance.kvm_usable()
    settings = appliance.Settings(accelerator='kvm', launch_timeout=30,
                                  cache_dir=conf.appliance.cache_dir)
    outcome = appliance.run([], settings)
    if usable and outcome.error is None:
        assert outcome.accelerator == 'kvm'      # a host where KVM really works
        return
    # Here KVM is missing, aborts (MSR) or hangs: each is reported, none hangs the caller.
    assert outcome.accelerator is None
    assert ('KVM does not work on this host' in outcome.error
            or 'KVM seems to hang on this host' in outcome.error), outcome.error
