"""The operator CLI, run as a user runs it: a subprocess of the installed ``inject``."""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.integration.conftest import CACHE_DIR
from tests.integration.conftest import KEY

INJECT = os.path.join(os.path.dirname(sys.executable), 'inject')


def _config(tmp_path, partition=None, **injection):
    lines = ['[DEFAULT]', 'state_path = %s' % tmp_path,
             '[appliance]', 'cache_dir = %s' % CACHE_DIR, '[injection]']
    if partition is not None:
        lines.append('inject_partition = %d' % partition)
    lines += ['%s = %s' % kv for kv in injection.items()]
    path = tmp_path / 'inject.conf'
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


def _run(*args, timeout=600):
    start = time.monotonic()
    proc = subprocess.run([INJECT] + list(args), capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    return proc, time.monotonic() - start


@pytest.fixture
def local_files(tmp_path):
    paths = []
    for name, content in (('motd', 'from the cli\n'), ('app.ini', '[a]\nb = 1\n'),
                          ('run.sh', '#!/bin/sh\ntrue\n')):
        p = tmp_path / name
        p.write_text(content)
        paths.append(str(p))
    return paths


def test_inject_image_partition_one_three_files_and_a_key(images, tmp_path, local_files):
    disk = str(tmp_path / 'cli.qcow2')
    shutil.copyfile(images['mbr'], disk)
    config = _config(tmp_path, inject_key='true')
    proc, seconds = _run('image', disk, '--format', 'qcow2', '--partition', '1',
                         '--file', '/etc/motd=' + local_files[0],
                         '--file', '/etc/app/app.ini=' + local_files[1],
                         '--file', '/usr/local/bin/run.sh=' + local_files[2],
                         '--key', KEY, '--config-file', config, '--json')
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report['ok'] and report['committed']
    assert report['partition_used'] == '/dev/sda1'
    assert [i['status'] for i in report['items']] == ['injected'] * 4
    assert [i['target'] for i in report['items']] == [
        '/root/.ssh/authorized_keys', '/etc/motd', '/etc/app/app.ini', '/usr/local/bin/run.sh']
    print('\ninject image (partition 1, three files and a key): %.1f s wall, launch %.1f s'
          % (seconds, report['timings']['launch']))


def test_inject_status_says_it_works_and_how(tmp_path):
    proc, seconds = _run('status', '--json', '--config-file', _config(tmp_path, partition=1))
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout)
    assert status['ok'] is True
    assert status['accelerator'] in ('kvm', 'tcg')
    assert status['launch_seconds'] > 0
    assert status['libguestfs'].startswith('1.')
    print('\ninject status: %.1f s wall, launch %.1f s' % (seconds, status['launch_seconds']))


def test_disabled_host_reports_every_item_not_injected(images, tmp_path, local_files):
    before = open(images['noos'], 'rb').read()
    proc, _ = _run('image', images['noos'], '--format', 'qcow2',
                   '--file', '/etc/motd=' + local_files[0], '--key', KEY,
                   '--config-file', _config(tmp_path, inject_key='true'))
    assert proc.returncode == 1
    assert 'not injected: disabled by inject_partition=-2 on this host' in proc.stderr
    assert proc.stdout.count('not injected: disabled by inject_partition=-2') == 2
    assert 'no appliance launched' in proc.stdout
    assert open(images['noos'], 'rb').read() == before


def test_key_skipped_when_inject_key_is_off(images, tmp_path):
    proc, _ = _run('image', images['noos'], '--format', 'qcow2', '--partition', '1',
                   '--key', KEY, '--json', '--config-file', _config(tmp_path))
    assert proc.returncode == 1
    item, = json.loads(proc.stdout)['items']
    assert item['status'] == 'skipped'
    assert item['reason'] == 'not injected: inject_key is False on this host'


@pytest.mark.parametrize('spec, message', [
    ('/etc/../../x={f}', "'..' climbs above the guest root"),
    ('/etc/={f}', 'it names a directory'),
    ('=/nonexistent', 'must be GUEST_PATH=LOCAL_FILE'),
    ('/etc/x=/nonexistent/file', 'cannot read file /nonexistent/file'),
])
def test_bad_input_is_a_clear_error_exit_2(images, tmp_path, local_files, spec, message):
    proc, _ = _run('image', images['noos'], '--format', 'qcow2', '--partition', '1',
                   '--file', spec.format(f=local_files[0]),
                   '--config-file', _config(tmp_path))
    assert proc.returncode == 2
    assert message in proc.stderr
    assert proc.stderr.startswith('inject: ')


def test_unsupported_format_is_refused(images, tmp_path):
    proc, _ = _run('image', images['noos'], '--format', 'vmdk')
    assert proc.returncode == 2
    assert "invalid choice: 'vmdk'" in proc.stderr
