"""Bad input to ``inject image`` is exit 2 with one line on stderr, never a traceback.

Each case is refused before any appliance starts, so these run the real CLI as a
subprocess (as an operator runs it) without libguestfs.
"""

import subprocess
import sys

import pytest

from inject import request


def _run(tmp_path, *args):
    conf = tmp_path / 'inject.conf'
    conf.write_text('[DEFAULT]\nstate_path = %s\n[injection]\ninject_partition = 1\n'
                    'inject_password = true\nimage_dirs = %s\n' % (tmp_path, tmp_path))
    disk = tmp_path / 'disk.raw'
    disk.write_bytes(b'\0' * 65536)
    return subprocess.run(
        [sys.executable, '-m', 'inject.cmd.inject', 'image', str(disk), '--format', 'raw',
         '--config-file', str(conf)] + list(args),
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120)


def _refused(proc, message):
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ''
    assert proc.stderr.startswith('inject: ')
    assert proc.stderr.count('\n') == 1, proc.stderr
    assert 'Traceback' not in proc.stderr
    assert message in proc.stderr


def test_password_file_not_utf8(tmp_path):
    pw = tmp_path / 'pw'
    pw.write_bytes(b'caf\xe9\n')
    _refused(_run(tmp_path, '--admin-password-file', str(pw)),
             'password file %s is not UTF-8 text (byte 3)' % pw)


def test_password_over_4096_bytes(tmp_path):
    pw = tmp_path / 'pw'
    pw.write_text('x' * 5000 + '\n')
    _refused(_run(tmp_path, '--admin-password-file', str(pw)),
             'the admin password is 5000 bytes long; at most 4096 are accepted')


@pytest.mark.parametrize('local', ['/dev/zero', '/dev/null'])
def test_file_that_is_not_regular(tmp_path, local):
    _refused(_run(tmp_path, '--file', '/etc/x=' + local),
             'file %s is not a regular file' % local)


def test_directory_as_file(tmp_path):
    _refused(_run(tmp_path, '--file', '/etc/x=%s' % tmp_path), 'cannot read file')


def test_file_over_the_limit(tmp_path):
    big = tmp_path / 'big'
    with open(big, 'wb') as f:
        f.truncate(request.MAX_FILE_BYTES + 1)
    _refused(_run(tmp_path, '--file', '/etc/x=%s' % big),
             'is larger than %d bytes' % request.MAX_FILE_BYTES)


def test_network_file_not_regular(tmp_path):
    _refused(_run(tmp_path, '--network-file', '/dev/zero'),
             'network file /dev/zero is not a regular file')
