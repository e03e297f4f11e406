"""tools/guest_image.py's own logic, without building: which mirror entries it takes from
the host's apt configuration, what the recipe digest covers, when the cache is reused
or rebuilt, mmdebstrap kept to its own mount namespace, the mount watch, the bounded
steps (killed with their process group), and errors that name the step."""

import json
import os
import subprocess
import sys
import time

import pytest

from tests import tools

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
guest_image = tools.load('guest_image')

DEB822 = '''\
Types: deb
# a comment
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: http://mirror.example/debian
Suites: bookworm
Components: main
Enabled: no
'''
ONE_LINE = '''\
deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main
deb [arch=amd64 signed-by=/x.gpg] https://deb.nodesource.com/node_20.x nodistro main
deb http://deb.debian.org/debian bookworm-backports main
# deb http://commented.example/debian bookworm main
deb http://other.example/debian bookworm non-free
'''


def _host(tmp_path, sources=DEB822, lists=ONE_LINE, codename='bookworm'):
    etc = tmp_path / 'etc'
    (etc / 'apt' / 'sources.list.d').mkdir(parents=True)
    (etc / 'apt' / 'sources.list.d' / 'debian.sources').write_text(sources)
    (etc / 'apt' / 'sources.list.d' / 'others.list').write_text(lists)
    (etc / 'os-release').write_text('ID=debian\nVERSION_CODENAME=%s\n' % codename)
    return str(tmp_path)


def test_the_mirror_is_the_hosts_debian_entries_of_its_release(tmp_path):
    entries = guest_image.apt_sources(_host(tmp_path))
    assert guest_image.debian_mirrors('bookworm', entries) == [
        'deb http://deb.debian.org/debian bookworm main',
        'deb http://deb.debian.org/debian bookworm-updates main',
        'deb http://deb.debian.org/debian-security bookworm-security main']


def test_host_recipe_names_what_is_missing(tmp_path):
    root = _host(tmp_path, sources='', lists=ONE_LINE)
    with pytest.raises(guest_image.BuildError, match='no Debian mirror for bookworm'):
        guest_image.host_recipe(root=root)
    recipe = guest_image.host_recipe(mirror='http://mirror.example/debian', root=root)
    assert recipe.mirrors == ['deb http://mirror.example/debian bookworm main']
    (tmp_path / 'etc' / 'os-release').write_text('ID=debian\n')
    with pytest.raises(guest_image.BuildError, match='VERSION_CODENAME'):
        guest_image.host_recipe(root=root)


def _recipe(**changes):
    recipe = guest_image.Recipe(release='bookworm',
                                mirrors=['deb http://deb.debian.org/debian bookworm main'])
    for name, value in changes.items():
        setattr(recipe, name, value)
    return recipe


@pytest.mark.parametrize('change', [
    {'release': 'trixie'},
    {'mirrors': ['deb http://mirror.example/debian bookworm main']},
    {'packages': guest_image.PACKAGES + ('vim',)},
    {'dpkg_options': ()},
    {'files': dict(guest_image.FILES, **{'/etc/motd': ('hi\n', 0o644)})},
    {'files': dict(guest_image.FILES, **{'/etc/hostname': ('debian\n', 0o600)})},
    {'symlinks': {}},
    {'remove': ()},
    {'size_mb': 4096},
    {'cmdline': guest_image.CMDLINE + ' quiet'},
    {'version': guest_image.RECIPE_VERSION + 1},
])
def test_the_digest_covers_the_whole_recipe(change):
    assert _recipe().digest() == _recipe().digest()
    assert _recipe(**change).digest() != _recipe().digest()


def test_mmdebstrap_runs_in_its_own_mount_namespace():
    """unshare mode: the chroot's mounts are made in mmdebstrap's namespace (root mode
    would mount /proc, /dev... of the chroot on the host)."""
    cmd = guest_image.mmdebstrap_command(_recipe(), '/x/root.tar')
    assert cmd[:2] == ['mmdebstrap', '--mode=unshare']
    assert [a for a in cmd if a.startswith('--mode')] == ['--mode=unshare']
    assert cmd[-3:] == ['bookworm', '/x/root.tar',
                        'deb http://deb.debian.org/debian bookworm main']
    assert '--format=tar' in cmd


def _fake_build(calls):
    def build(directory, recipe, settings, say):
        calls.append(recipe.digest())
        os.makedirs(directory, exist_ok=True)
        for name in ('disk.qcow2', guest_image.KERNEL, guest_image.INITRD):
            with open(os.path.join(directory, name), 'w') as f:
                f.write(name)
        with open(os.path.join(directory, guest_image.INFO), 'w') as f:
            json.dump({'recipe': recipe.as_dict(), 'disk': 'disk.qcow2',
                       'built_at': 'now'}, f)
        return guest_image.Image.load(directory)
    return build


def test_the_cache_is_reused_until_the_recipe_changes(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(guest_image, '_build', _fake_build(calls))
    first = guest_image.ensure(str(tmp_path), None, _recipe(), say=lambda t: None)
    again = guest_image.ensure(str(tmp_path), None, _recipe(), say=lambda t: None)
    assert len(calls) == 1 and again.directory == first.directory
    assert again.cmdline == guest_image.CMDLINE

    other = guest_image.ensure(str(tmp_path), None, _recipe(size_mb=3000),
                               say=lambda t: None)
    assert len(calls) == 2 and other.directory != first.directory
    assert not os.path.exists(first.directory), 'the other recipe\'s image was kept'

    guest_image.ensure(str(tmp_path), None, _recipe(size_mb=3000), rebuild=True,
                       say=lambda t: None)
    assert len(calls) == 3


def test_an_incomplete_cache_entry_is_built_again(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(guest_image, '_build', _fake_build(calls))
    image = guest_image.ensure(str(tmp_path), None, _recipe(), say=lambda t: None)
    os.unlink(image.initrd)
    guest_image.ensure(str(tmp_path), None, _recipe(), say=lambda t: None)
    assert len(calls) == 2


def test_the_mount_watch_sees_a_mount_under_its_directory(tmp_path):
    table = tmp_path / 'mountinfo'
    table.write_text('22 1 8:1 / / rw - ext4 /dev/vda rw\n')
    build = tmp_path / 'build'
    with guest_image._MountWatch(str(build), interval=0.05, table=str(table)) as watch:
        with open(table, 'a') as f:
            f.write('23 22 0:5 / %s/chroot/proc rw - proc proc rw\n' % build)
            f.write('24 22 0:6 / %s-other/x rw - proc proc rw\n' % build)
        time.sleep(0.3)
    assert watch.seen == {'%s/chroot/proc' % build}


def test_a_bounded_step_is_killed_with_its_process_group(tmp_path):
    pidfile = tmp_path / 'child.pid'
    started = time.monotonic()
    status = guest_image._run_bounded(
        ['sh', '-c', 'sleep 300 & echo $! > %s; wait' % pidfile], str(tmp_path / 'log'), 2)
    assert status is None and time.monotonic() - started < 60
    child = int(pidfile.read_text())
    deadline = time.monotonic() + 10
    while os.path.exists('/proc/%d' % child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not os.path.exists('/proc/%d' % child), 'the step\'s child outlived it'


def test_a_failed_mmdebstrap_names_the_step_and_keeps_its_log(tmp_path, monkeypatch):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    fake = bin_dir / 'mmdebstrap'
    fake.write_text('#!/bin/sh\necho "E: cannot reach the mirror"\nexit 3\n')
    fake.chmod(0o755)
    monkeypatch.setenv('PATH', '%s:%s' % (bin_dir, os.environ['PATH']))
    with pytest.raises(guest_image.BuildError) as failed:
        guest_image.ensure(str(tmp_path / 'state'), None, _recipe(), say=lambda t: None)
    text = str(failed.value)
    assert text.startswith('image: mmdebstrap failed (exit 3)')
    assert 'E: cannot reach the mirror' in text
    log = text.split('log kept in ')[1].split(':')[0]
    assert 'cannot reach the mirror' in open(log).read()

    monkeypatch.setenv('PATH', str(tmp_path / 'nowhere'))
    with pytest.raises(guest_image.BuildError, match='image: mmdebstrap is not installed'):
        guest_image.ensure(str(tmp_path / 'state'), None, _recipe(), say=lambda t: None)


def test_the_tool_runs_as_a_script():
    proc = subprocess.run([sys.executable, os.path.join(TOP, 'tools', 'guest_image.py'),
                           '--help'], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and '--rebuild' in proc.stdout
