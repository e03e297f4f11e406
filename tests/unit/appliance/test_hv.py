"""The qemu wrappers (inject.appliance.hv): TCG's bounds the translation cache, and both
make qemu die with its worker; run for real around a stand-in qemu that prints its pid
and arguments."""

import os
import signal
import subprocess
import sys
import time

import pytest

from inject.appliance import accelerator as accel
from inject.appliance import hv
from tests.unit.appliance.base import settings

FAKE_QEMU = '''#!/bin/sh
echo "pid $$"
for a do echo "arg $a"; done
[ -n "$FAKE_QEMU_SLEEP" ] && exec sleep "$FAKE_QEMU_SLEEP"
exit "${FAKE_QEMU_EXIT:-0}"
'''

APPLIANCE = ['-global', 'virtio-blk-pci.scsi=off', '-display', 'none', '-machine',
             'accel=tcg', '-cpu', 'max,la57=off', '-m', '512', '-kernel', '/c/kernel',
             '-initrd', '/c/initrd', '-append', 'panic=1 console=ttyS0 -kernel * quiet']


@pytest.fixture
def qemu(tmp_path):
    path = tmp_path / 'bin' / 'qemu-system-x86_64'
    path.parent.mkdir()
    path.write_text(FAKE_QEMU)
    path.chmod(0o755)
    return str(path)


def run(wrapper, args, **env):
    out = subprocess.run([wrapper] + args, capture_output=True, text=True,
                         env=dict(os.environ, **env))
    lines = out.stdout.splitlines()
    return out.returncode, int(lines[0].split()[1]), [line[4:] for line in lines[1:]]


@pytest.mark.parametrize('args', [
    ['-display', 'none', '-help'],
    ['-display', 'none', '-machine', 'accel=kvm:tcg', '-device', '?'],
    ['-display', 'none', '-machine', 'accel=kvm:tcg', '-qmp', 'stdio'],
], ids=['help', 'devices', 'qmp'])
def test_feature_probes_run_unchanged(tmp_path, qemu, args):
    wrapper = hv.prepare(str(tmp_path / 'cache'), 64, qemu)
    assert run(wrapper, args)[2] == args


def test_appliance_launch_gets_tb_size_instead_of_machine_accel(tmp_path, qemu):
    wrapper = hv.prepare(str(tmp_path / 'cache'), 64, qemu)
    code, _, args = run(wrapper, APPLIANCE)
    expected = [a for a in APPLIANCE if a not in ('-machine', 'accel=tcg')]
    assert args == expected + ['-accel', 'tcg,tb-size=64']
    assert code == 0


def test_machine_type_and_properties_are_kept(tmp_path, qemu):
    wrapper = hv.prepare(str(tmp_path / 'cache'), 32, qemu)
    args = run(wrapper, ['-machine', 'q35,accel=kvm:tcg,usb=off', '-enable-kvm',
                         '-kernel', 'k'])[2]
    assert args == ['-machine', 'q35,usb=off', '-kernel', 'k', '-accel', 'tcg,tb-size=32']


def test_wrapper_execs_qemu_exit_status_passes(tmp_path, qemu):
    wrapper = hv.prepare(str(tmp_path / 'cache'), 64, qemu)
    proc = subprocess.Popen([wrapper] + APPLIANCE, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, FAKE_QEMU_EXIT='7'))
    out, _ = proc.communicate()
    assert proc.returncode == 7
    assert out.splitlines()[0] == 'pid %d' % proc.pid      # exec'd: no process between


def test_signals_reach_qemu(tmp_path, qemu):
    wrapper = hv.prepare(str(tmp_path / 'cache'), 64, qemu)
    proc = subprocess.Popen([wrapper] + APPLIANCE, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, FAKE_QEMU_SLEEP='60'))
    assert proc.stdout.readline() == 'pid %d\n' % proc.pid
    for _ in range(200):       # until the fake qemu has exec'd sleep
        with open('/proc/%d/cmdline' % proc.pid, 'rb') as f:
            if f.read().startswith(b'sleep'):
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(10) == -signal.SIGTERM
    proc.stdout.close()


def _gone(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] in ('Z', 'X')
    except OSError:
        return True


@pytest.mark.parametrize('which', ['tcg', 'reaper'])
def test_qemu_dies_with_the_worker(tmp_path, qemu, which):
    """What libguestfs's recovery process was for: the worker is killed, its qemu goes
    too (setpriv --pdeathsig, kept across qemu's exec), under TCG's wrapper and under
    the one KVM gets."""
    assert hv.reaps()                  # util-linux is essential on Debian
    wrapper = (hv.prepare(str(tmp_path / 'cache'), 64, qemu) if which == 'tcg'
               else hv.prepare_reaper(str(tmp_path / 'cache'), qemu))
    parent = subprocess.Popen(
        [sys.executable, '-c', 'import subprocess, sys, time; '
         'subprocess.Popen(sys.argv[1:]); time.sleep(60)', wrapper] + APPLIANCE,
        stdout=subprocess.PIPE, text=True, env=dict(os.environ, FAKE_QEMU_SLEEP='60'))
    pid = int(parent.stdout.readline().split()[1])
    for _ in range(200):       # until the fake qemu has exec'd sleep
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            if f.read().startswith(b'sleep'):
                break
        time.sleep(0.05)
    assert not _gone(pid)
    parent.kill()
    parent.wait()
    parent.stdout.close()
    for _ in range(200):
        if _gone(pid):
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        pytest.fail('qemu outlived its parent')


def test_reaper_wrapper_runs_qemu_as_asked(tmp_path, qemu):
    wrapper = hv.prepare_reaper(str(tmp_path / 'cache'), qemu)
    assert run(wrapper, APPLIANCE)[2] == APPLIANCE
    assert run(wrapper, ['-help'])[2] == ['-help']
    code, _, _ = run(wrapper, ['-help'], FAKE_QEMU_EXIT='3')
    assert code == 3


def test_reaper_wrapper_needs_setpriv_and_a_cache_dir(tmp_path, qemu, monkeypatch):
    assert hv.prepare_reaper(None, qemu) is None
    assert hv.prepare_reaper(str(tmp_path), "/opt/q'emu") is None
    monkeypatch.setattr(hv, 'setpriv', lambda: None)
    assert hv.prepare_reaper(str(tmp_path), qemu) is None


def test_without_setpriv_qemu_runs_directly_and_recovery_stays(tmp_path, qemu,
                                                                monkeypatch):
    monkeypatch.setattr(hv, 'setpriv', lambda: None)
    monkeypatch.setattr(accel, 'QEMU_BINARY', qemu)
    monkeypatch.delenv('LIBGUESTFS_HV', raising=False)
    launching = accel.launch_settings(settings(tmp_path), 'tcg')
    assert launching.hv and launching.recovery_proc
    assert '--pdeathsig' not in open(launching.hv).read()
    code, pid, args = run(launching.hv, APPLIANCE)
    assert args[-2:] == ['-accel', 'tcg,tb-size=64'] and code == 0


def test_no_wrapper_without_tb_size_or_cache_dir(tmp_path, qemu):
    assert hv.prepare(str(tmp_path), 0, qemu) is None
    assert hv.prepare(None, 64, qemu) is None


def test_unwritable_cache_dir_gives_no_wrapper(tmp_path, qemu):
    blocker = tmp_path / 'file'
    blocker.write_text('')
    assert hv.prepare(str(blocker), 64, qemu) is None


def test_quote_in_qemu_path_gives_no_wrapper(tmp_path):
    assert hv.prepare(str(tmp_path), 64, "/opt/q'emu") is None


def test_wrapper_is_kept_then_rewritten_when_qemu_changes(tmp_path, qemu):
    cache = str(tmp_path / 'cache')
    wrapper = hv.prepare(cache, 64, qemu)
    os.utime(wrapper, (1000, 1000))
    assert hv.prepare(cache, 64, qemu) == wrapper
    assert os.stat(wrapper).st_mtime == 1000       # untouched: libguestfs's probe cache holds
    with open(qemu, 'a') as f:
        f.write('# upgraded\n')
    assert hv.prepare(cache, 64, qemu) == wrapper
    assert os.stat(wrapper).st_mtime > 1000        # rewritten: libguestfs probes again
    assert os.access(wrapper, os.X_OK)


def test_each_tb_size_has_its_wrapper(tmp_path, qemu):
    assert hv.prepare(str(tmp_path), 64, qemu) != hv.prepare(str(tmp_path), 128, qemu)


def test_real_qemu_honours_libguestfs_hv(monkeypatch):
    monkeypatch.delenv('LIBGUESTFS_HV', raising=False)
    assert hv.real_qemu('/usr/bin/qemu') == '/usr/bin/qemu'
    monkeypatch.setenv('LIBGUESTFS_HV', '/opt/qemu')
    assert hv.real_qemu('/usr/bin/qemu') == '/opt/qemu'


# --- the choice: TCG gets the tb-size wrapper, KVM the one that only reaps --------------

def test_tcg_launch_settings_use_the_wrapper(tmp_path, monkeypatch, qemu):
    monkeypatch.setattr(accel, 'QEMU_BINARY', qemu)
    monkeypatch.delenv('LIBGUESTFS_HV', raising=False)
    launching = accel.launch_settings(settings(tmp_path), 'tcg')
    assert launching.tb_size == 64
    assert launching.hv == os.path.join(str(tmp_path / 'cache'), hv.SUBDIR, 'qemu-tcg-tb64')
    assert "real='%s'" % qemu in open(launching.hv).read()
    assert launching.recovery_proc is False       # the wrapper kills qemu with the worker


def test_kvm_launch_settings_use_the_reaper_wrapper(tmp_path, monkeypatch, qemu):
    monkeypatch.setattr(accel, 'QEMU_BINARY', qemu)
    monkeypatch.delenv('LIBGUESTFS_HV', raising=False)
    launching = accel.launch_settings(settings(tmp_path), 'kvm')
    assert launching.tb_size == 0
    assert launching.hv == os.path.join(str(tmp_path / 'cache'), hv.SUBDIR, 'qemu-reaper')
    text = open(launching.hv).read()
    assert "'%s'" % qemu in text and '--pdeathsig' in text and 'tb-size' not in text
    assert launching.recovery_proc is False       # the wrapper kills qemu with the worker


def test_without_setpriv_kvm_gets_no_wrapper_and_recovery_stays(tmp_path, monkeypatch):
    monkeypatch.setattr(hv, 'setpriv', lambda: None)
    launching = accel.launch_settings(settings(tmp_path), 'kvm')
    assert (launching.tb_size, launching.hv) == (0, None)
    assert launching.recovery_proc is True
    assert not (tmp_path / 'cache' / hv.SUBDIR).exists()


def test_tb_size_zero_keeps_qemu_default(tmp_path):
    launching = accel.launch_settings(settings(tmp_path, tb_size=0), 'tcg')
    assert launching.tb_size == 0
    assert os.path.basename(launching.hv) == 'qemu-reaper'


def test_no_wrapper_means_no_tb_size_claimed(tmp_path, monkeypatch):
    monkeypatch.setattr(hv, 'prepare', lambda *args: None)
    launching = accel.launch_settings(settings(tmp_path), 'tcg')
    assert launching.tb_size == 0
    assert os.path.basename(launching.hv) == 'qemu-reaper'
