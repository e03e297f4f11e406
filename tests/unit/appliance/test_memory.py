"""Appliance memory: guest memsize from the drives, host memory per appliance, and the
launch-time check against MemAvailable (cold and warm launches)."""

import pytest

from inject import exception
from inject.appliance import accelerator as accel
from inject.appliance import memory
from inject.appliance import session
from inject.appliance import warm
from inject.vfs import api
from tests.unit.appliance.base import job
from tests.unit.appliance.base import settings


def meminfo(tmp_path, available_mb, name='meminfo'):
    path = tmp_path / name
    path.write_text('MemTotal:       16384000 kB\nMemFree:          100000 kB\n'
                    'MemAvailable:   %8d kB\nBuffers:            1234 kB\n'
                    % (available_mb * 1024))
    return str(path)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


# --- sizes ------------------------------------------------------------------------------------

@pytest.mark.parametrize('floor, drives, expected', [
    (0, 1, 272), (0, 8, 384), (0, 16, 512), (0, 0, 272),
    (512, 1, 512), (512, 16, 512), (512, 32, 768), (1024, 4, 1024),
])
def test_memsize_is_base_plus_drives_or_the_floor(floor, drives, expected):
    assert memory.memsize(floor, drives) == expected


@pytest.mark.parametrize('accelerator, tb_size, drives, expected', [
    ('tcg', 0, 1, 50 + 275 + 450),              # 726 MB qemu with inspection, measured
    ('tcg', 0, 8, 50 + 275 + 14 + 450 + 560),   # 1281 MB qemu inspecting, measured
    ('tcg', 64, 1, 50 + 275 + 64),              # 300 MB, 338 with inspection
    ('tcg', 64, 16, 50 + 275 + 30 + 64),        # bounded: 2 MB per further drive
    ('tcg', 1024, 1, 50 + 275 + 450),           # a cache bigger than what fills it
    ('kvm', 0, 1, 50 + 300),
    ('kvm', 64, 8, 50 + 300 + 21),              # no TCG cache under KVM
])
def test_appliance_mb(accelerator, tb_size, drives, expected):
    assert memory.appliance_mb(accelerator, tb_size, drives) == expected


def test_bounded_cache_costs_less_than_default():
    for drives in (1, 4, 16):
        assert (memory.appliance_mb('tcg', 64, drives)
                < memory.appliance_mb('tcg', 0, drives))


@pytest.mark.parametrize('text', [None, 'MemTotal: 1000 kB\n', 'MemAvailable: lots kB\n',
                                  'MemAvailable:\n'])
def test_available_mb_unreadable_is_none(tmp_path, text):
    path = tmp_path / 'meminfo'
    if text is not None:
        path.write_text(text)
    assert memory.available_mb(str(path)) is None


def test_available_mb(tmp_path):
    assert memory.available_mb(meminfo(tmp_path, 3000)) == 3000


# --- launch settings: memsize from what the appliance holds -------------------------------

def test_launch_settings_size_memory_for_the_drives(tmp_path):
    assert accel.launch_settings(settings(tmp_path), 'kvm').memsize == 272
    assert accel.launch_settings(settings(tmp_path), 'kvm', drives=8).memsize == 384
    assert accel.launch_settings(settings(tmp_path, memsize=1024), 'kvm',
                                 drives=8).memsize == 1024


def test_warm_launch_settings_size_memory_for_warm_max_disks(tmp_path):
    s = settings(tmp_path, warm_max_disks=6)
    assert accel.launch_settings(s, 'kvm', hotplug=True).memsize == 256 + 16 * 6


# --- the check -----------------------------------------------------------------------------

def test_admits_what_fits_and_refuses_with_the_numbers(tmp_path):
    check = memory.Admission(meminfo(tmp_path, 1000), Clock())
    check.admit(400, 'first', 40)
    with pytest.raises(exception.NotEnoughMemory) as e:
        check.admit(700, 'tcg, 8 drive(s)', 40)
    message = str(e.value)
    assert 'needs about 700 MB (tcg, 8 drive(s))' in message
    assert '1000 MB available (MemAvailable)' in message
    assert '400 MB of which are promised' in message
    assert '[agent]max_appliances' in message


def test_started_appliances_count_until_they_settle(tmp_path):
    clock = Clock()
    check = memory.Admission(meminfo(tmp_path, 1000), clock)
    check.admit(600, 'first', 40)
    with pytest.raises(exception.NotEnoughMemory):
        check.admit(600, 'second', 40)      # MemAvailable does not show the first yet
    assert check.pending_mb() == 600
    clock.now += 41                         # by now MemAvailable shows it
    check.admit(600, 'second', 40)
    assert check.pending_mb() == 600


def test_refused_appliance_promises_nothing(tmp_path):
    check = memory.Admission(meminfo(tmp_path, 500), Clock())
    with pytest.raises(exception.NotEnoughMemory):
        check.admit(600, 'big', 40)
    assert check.pending_mb() == 0
    check.admit(450, 'small', 40)


def test_unreadable_meminfo_admits(tmp_path):
    check = memory.Admission(str(tmp_path / 'missing'), Clock())
    check.admit(10 ** 6, 'huge', 40)


def test_admit_uses_the_launch_settings(tmp_path, admission):
    admission.meminfo = meminfo(tmp_path, 400, 'small')
    kvm = api.LaunchSettings('kvm', memsize=272)
    memory.admit(kvm, 1)                     # 350 MB
    tcg = api.LaunchSettings('tcg', memsize=384, tb_size=64)
    with pytest.raises(exception.NotEnoughMemory) as e:
        memory.admit(tcg, 8)
    assert 'needs about %d MB (tcg, 8 drive(s), guest memory 384 MiB, TCG cache 64 MiB)' \
        % memory.appliance_mb('tcg', 64, 8) in str(e.value)


# --- cold and warm launches are checked before anything starts ---------------------------

def no_worker(*args, **kwargs):
    pytest.fail('a worker was started although memory was short')


def test_cold_session_is_refused_before_starting(tmp_path, admission, monkeypatch):
    admission.meminfo = meminfo(tmp_path, 200, 'small')
    monkeypatch.setattr(session.channel, 'start_worker', no_worker)
    jobs = [job(str(tmp_path / ('d%d.qcow2' % i))) for i in range(3)]
    with pytest.raises(exception.NotEnoughMemory) as e:
        session.run(jobs, settings(tmp_path, accelerator='tcg'))
    assert '3 drive(s)' in str(e.value) and '200 MB available' in str(e.value)
    assert accel.read_record(settings(tmp_path)) is None      # nothing learnt of KVM


def test_kvm_probe_refused_for_memory_remembers_nothing(tmp_path, admission, monkeypatch):
    admission.meminfo = meminfo(tmp_path, 200, 'small')
    monkeypatch.setattr(accel, 'kvm_usable', lambda: (True, None))
    monkeypatch.setattr(session.channel, 'start_worker', no_worker)
    with pytest.raises(exception.NotEnoughMemory):
        session.run([job(str(tmp_path / 'd.qcow2'))], settings(tmp_path))
    assert accel.read_record(settings(tmp_path)) is None


def test_warm_launch_is_refused_before_starting(tmp_path, admission, monkeypatch):
    admission.meminfo = meminfo(tmp_path, 200, 'small')
    monkeypatch.setattr(warm.channel, 'start_worker', no_worker)
    with pytest.raises(exception.NotEnoughMemory) as e:
        warm.launch_warm(settings(tmp_path, accelerator='tcg', warm_max_disks=5))
    assert '5 drive(s)' in str(e.value)


def test_refused_warm_launch_backs_the_pool_off(tmp_path, admission, monkeypatch):
    admission.meminfo = meminfo(tmp_path, 200, 'small')
    monkeypatch.setattr(warm.channel, 'start_worker', no_worker)
    pool = warm.WarmPool(settings(tmp_path, accelerator='tcg'), 1, 4)
    pool._launch_one()
    assert pool.ready() == 0
    assert 'Not enough memory to start an appliance' in pool.last_error
    pool.close()
