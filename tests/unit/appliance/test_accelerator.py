"""Accelerator choice, the outcomes remembered in cache_dir, boot kernel and vCPUs."""

import json
import os

import pytest

from inject.appliance import accelerator as accel
from inject.appliance import session
from tests.unit.appliance.base import KERNEL
from tests.unit.appliance.base import settings


def no_kvm_check():
    pytest.fail('kvm_usable() must not be consulted')


# --- accelerator choice --------------------------------------------------------------------

@pytest.mark.parametrize('accelerator', ['tcg', 'kvm'])
def test_configured_accelerator_is_honoured(tmp_path, monkeypatch, accelerator):
    monkeypatch.setattr(accel, 'kvm_usable', no_kvm_check)
    assert accel.choose_accelerator(settings(tmp_path, accelerator=accelerator)) == (
        accelerator, False, 'configured')


def test_kvm_usable_without_dev_kvm(fs):      # pyfakefs: an empty filesystem
    assert accel.kvm_usable() == (False, '/dev/kvm does not exist')


def test_kvm_usable_when_not_accessible(fs, monkeypatch):
    fs.create_file('/dev/kvm')
    monkeypatch.setattr(os, 'access', lambda path, mode: False)
    usable, why = accel.kvm_usable()
    assert not usable and 'not readable and writable' in why


def test_kvm_usable_when_accessible(fs):
    fs.create_file('/dev/kvm')
    assert accel.kvm_usable() == (True, None)


def test_auto_without_dev_kvm_is_tcg(fs):
    assert accel.choose_accelerator(session.Settings(cache_dir='/cache')) == (
        'tcg', False, '/dev/kvm does not exist')


def test_auto_with_kvm_probes_kvm(tmp_path, monkeypatch):
    monkeypatch.setattr(accel, 'kvm_usable', lambda: (True, None))
    accelerator, probing, why = accel.choose_accelerator(settings(tmp_path))
    assert (accelerator, probing) == ('kvm', True)
    assert 'trying KVM' in why


# --- remembered outcomes -------------------------------------------------------------------

def write_record(tmp_path, **record):
    cache = tmp_path / 'cache'
    cache.mkdir(exist_ok=True)
    (cache / accel.RECORD_NAME).write_text(json.dumps(record))


def test_auto_uses_remembered_tcg(tmp_path, monkeypatch):
    monkeypatch.setattr(accel, 'kvm_usable', lambda: (True, None))
    write_record(tmp_path, host=accel._host_key(), accelerator='tcg',
                 reason='KVM failed here (x)')
    assert accel.choose_accelerator(settings(tmp_path)) == (
        'tcg', False, 'remembered: KVM failed here (x)')


def test_auto_with_remembered_kvm_keeps_it_on_trial(tmp_path, monkeypatch):
    monkeypatch.setattr(accel, 'kvm_usable', lambda: (True, None))
    write_record(tmp_path, host=accel._host_key(), accelerator='kvm',
                 reason='KVM launched in 2.0 s')
    assert accel.choose_accelerator(settings(tmp_path)) == (
        'kvm', True, 'remembered: KVM launched in 2.0 s')


def test_record_for_another_host_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setattr(accel, 'kvm_usable', lambda: (True, None))
    write_record(tmp_path, host='5.10.0-other /usr/bin/qemu-system-x86_64@1',
                 accelerator='tcg', reason='old kernel')
    assert accel.read_record(settings(tmp_path)) is None
    assert accel.choose_accelerator(settings(tmp_path))[:2] == ('kvm', True)


def test_record_is_ignored_without_kvm(fs):
    fs.create_file('/cache/' + accel.RECORD_NAME, contents=json.dumps(
        {'host': accel._host_key(), 'accelerator': 'kvm', 'reason': 'x'}))
    assert accel.choose_accelerator(session.Settings(cache_dir='/cache'))[0] == 'tcg'


def test_host_key_changes_with_qemu(fs):
    missing = accel._host_key()
    fs.create_file(accel.QEMU_BINARY)
    os.utime(accel.QEMU_BINARY, (1000, 1000))
    assert accel._host_key() != missing
    assert accel._host_key().endswith('qemu-system-x86_64@1000')


def test_unreadable_record_is_ignored(tmp_path):
    (tmp_path / 'cache').mkdir()
    (tmp_path / 'cache' / accel.RECORD_NAME).write_text('{not json')
    assert accel.read_record(settings(tmp_path)) is None
    assert accel.read_record(session.Settings(cache_dir=None)) is None


def test_record_that_is_not_an_object_is_ignored(tmp_path):
    (tmp_path / 'cache').mkdir()
    (tmp_path / 'cache' / accel.RECORD_NAME).write_text('null')
    assert accel.read_record(settings(tmp_path)) is None


def test_written_record_is_read_back(tmp_path):
    s = settings(tmp_path)
    (tmp_path / 'cache').mkdir()
    accel.write_record(s, 'kvm', 'KVM launched in 3.0 s')
    record = accel.read_record(s)
    assert (record['accelerator'], record['reason']) == ('kvm', 'KVM launched in 3.0 s')
    assert record['host'] == accel._host_key()
    assert accel.read_record(s, accel.KERNEL_RECORD_NAME) is None   # another record


def test_without_cache_dir_nothing_is_remembered(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    accel.write_record(session.Settings(cache_dir=None), 'tcg', 'x')
    assert list(tmp_path.iterdir()) == []


# --- the appliance kernel and its vCPUs ----------------------------------------------------

@pytest.mark.parametrize('kernel_boot, accelerator, expected', [
    ('auto', 'tcg', KERNEL), ('auto', 'kvm', None), ('pvh', 'kvm', KERNEL),
    ('pvh', 'tcg', KERNEL), ('stock', 'tcg', None),
])
def test_boot_kernel(tmp_path, extracted, kernel_boot, accelerator, expected):
    s = settings(tmp_path, kernel_boot=kernel_boot)
    assert accel.boot_kernel(s, accelerator) == expected
    assert extracted == ([s.cache_dir] if expected else [])


def test_boot_kernel_stock_once_pvh_failed_here(tmp_path, extracted):
    s = settings(tmp_path, kernel_boot='auto')
    accel.write_record(s, 'tcg', 'PVH boot failed', accel.KERNEL_RECORD_NAME)
    assert accel.boot_kernel(s, 'tcg') is None and extracted == []


@pytest.mark.parametrize('smp, others, expected', [
    (0, 0, min(2, os.cpu_count())), (0, 1, 1), (0, 3, 1), (3, 0, 3), (1, 0, 1), (2, 5, 2),
])
def test_smp_auto_gives_a_lone_appliance_two_vcpus(tmp_path, smp, others, expected):
    launching = accel.launch_settings(settings(tmp_path, smp=smp), 'tcg', KERNEL, others)
    assert launching.smp == expected
    assert (launching.accelerator, launching.kernel) == ('tcg', KERNEL)


def test_counted_sessions_are_the_others_of_the_next():
    with accel.counted() as first:
        with accel.counted() as second:
            assert second == first + 1
    with accel.counted() as again:
        assert again == first
