"""Shared fixtures for the tests that run the real libguestfs appliance.

A launch costs 12-16 s under TCG (more with many drives), so launches are shared: all
test images are built in one launch; the known-partition cases run as one batch (one
launch), the inspection cases as another (inspection scans every drive of an appliance,
so they are kept apart); and everything is read back in one read-only launch.
"""

import hashlib
import os
import shutil
import signal
import struct
import subprocess
import time

import pytest

from inject import appliance
from inject import image
from inject import imagebuilder
from inject import manager
from inject import request
from inject import conf as inject_conf
from tests import processes

CONF = inject_conf.register_opts(inject_conf.CONF)
# Kept between runs so only the first run on a machine pays the appliance build.
CACHE_DIR = '/var/tmp/inject-tests/appliance'

KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIntegrationTestKeyIntegrationTestKey00 it@inject'
FILES = [('/etc/motd', b'integration motd\n'),
         ('/opt/app/conf/app.ini', b'[app]\nport = 8080\n'),
         ('etc/relative.conf', b'relative=yes\n')]
BOOT_FILES = [('/boot/grub/inject.cfg', b'set timeout=1\n')]


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            h.update(block)
    return h.hexdigest()


def pytest_collection_modifyitems(items):
    for item in items:
        if 'tests/integration/' in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope='session')
def conf(tmp_path_factory):
    state = tmp_path_factory.mktemp('state')
    CONF([], project='inject', default_config_files=[])
    CONF.set_override('state_path', str(state))
    CONF.set_override('cache_dir', CACHE_DIR, 'appliance')
    CONF.set_override('inject_key', True, 'injection')
    CONF.set_override('inject_password', True, 'injection')
    CONF.set_override('image_dirs', [str(state / 'images')], 'injection')
    yield CONF
    CONF.clear_override('state_path')
    CONF.clear_override('cache_dir', 'appliance')
    for name in ('inject_key', 'inject_password', 'image_dirs'):
        CONF.clear_override(name, 'injection')


@pytest.fixture(scope='session')
def images(conf):
    """Every test image, built in one appliance launch, under $state_path/images."""
    d = os.path.join(conf.state_path, 'images')
    os.makedirs(os.path.join(d, 'base'))
    specs = {
        'mbr': {'layout': 'mbr-linux'},
        'whole': {'layout': 'whole-linux', 'format': 'raw'},
        'lvm': {'layout': 'lvm-linux', 'vg': 'vgit'},
        'split': {'layout': 'split-linux'},
        'two': {'layout': 'two-roots'},
        'noos': {'layout': 'no-os'},
        'selinux': {'layout': 'selinux'},
        'base': {'layout': 'mbr-linux'},
    }
    paths = {}
    for name, spec in specs.items():
        fmt = spec.get('format', 'qcow2')
        sub = 'base' if name == 'base' else ''
        paths[name] = os.path.join(d, sub, '%s.%s' % (name, fmt))
        spec.update(path=paths[name], format=fmt, size_mb=128)
    imagebuilder.build(list(specs.values()), appliance.Settings.from_conf(conf))
    # Disks that must come out unchanged, and an instance disk on a base image.
    for name in ('rollback', 'rollback-raw'):
        src = paths['whole'] if name.endswith('raw') else paths['mbr']
        paths[name] = os.path.join(d, name + os.path.splitext(src)[1])
        shutil.copyfile(src, paths[name])
    for name in ('instance', 'warm-a', 'warm-b', 'warm-c'):
        paths[name] = os.path.join(d, name + '.qcow2')
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'qcow2',
                        '-b', paths['base'], paths[name]], check=True)
    paths.update(_corrupt_disks(d, paths['mbr']))
    return paths


def _corrupt_disks(d, good):
    """Corrupt qcow2 copies of ``good`` (an MBR disk with an ext4 root): an L1 table
    entry that qemu finds corrupt on the first read; the file cut in half (its tables
    whole, its data gone: zeros to qemu); the file cut inside its L1 table; an L1 table
    offset qemu refuses to open; and two disks backing each other."""
    paths = {}
    for name in ('corrupt-l1', 'truncated', 'truncated-l1', 'bad-l1-offset'):
        paths[name] = os.path.join(d, name + '.qcow2')
        shutil.copyfile(good, paths[name])
    layout = image.read_qcow2_header(good)['layout']
    with open(paths['corrupt-l1'], 'r+b') as f:     # an L2 table at an odd offset
        f.seek(layout.l1_table_offset)
        entry, = struct.unpack('>Q', f.read(8))
        assert entry, 'the first L1 entry of %s maps nothing' % good
        f.seek(layout.l1_table_offset)
        f.write(struct.pack('>Q', entry | 0x200))
    os.truncate(paths['truncated'], os.path.getsize(good) // 2)
    assert os.path.getsize(paths['truncated']) > layout.l1_table_offset + 4096
    os.truncate(paths['truncated-l1'], layout.l1_table_offset + 4)
    with open(paths['bad-l1-offset'], 'r+b') as f:
        f.seek(40)                                 # the header's l1_table_offset
        f.write(struct.pack('>Q', layout.l1_table_offset + 0x200))
    paths['loop-a'] = os.path.join(d, 'loop-a.qcow2')
    paths['loop-b'] = os.path.join(d, 'loop-b.qcow2')
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', good,
                    paths['loop-b']], check=True)
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b',
                    'loop-b.qcow2', paths['loop-a']], check=True)
    subprocess.run(['qemu-img', 'rebase', '-u', '-F', 'qcow2', '-b', 'loop-a.qcow2',
                    paths['loop-b']], check=True)
    return paths


def _req(path, partition, **kwargs):
    fmt = 'raw' if path.endswith('.raw') else 'qcow2'
    return request.InjectionRequest(image.DiskImage(path, fmt), partition=partition, **kwargs)


class Batch:
    """One Manager.inject call: its reports by name, hashes before and after, and what
    the host saw while it ran (commands started, mount table)."""

    def __init__(self, conf, images, requests, monkeypatch, pool=None, owner=None):
        self.names = [name for name, _ in requests]
        self.before = {name: sha256(images[name]) for name in set(self.names)}
        self.base_before = sha256(images['base'])
        self.commands = []
        real_popen = subprocess.Popen

        def spy(args, *a, **kw):
            self.commands.append(list(args))
            return real_popen(args, *a, **kw)

        monkeypatch.setattr(subprocess, 'Popen', spy)
        with open('/proc/self/mountinfo') as f:
            self.mounts_before = f.read()
        self.early = []           # (name, whether its overlay was committed) as answered
        try:
            reports = manager.Manager(conf, pool=pool).inject(
                [r for _, r in requests], owner=owner,
                on_report=lambda i, r: self.early.append((self.names[i], r.committed)))
        finally:
            monkeypatch.undo()
        with open('/proc/self/mountinfo') as f:
            self.mounts_after = f.read()
        self.reports = dict(zip(self.names, reports))
        self.after = {name: sha256(images[name]) for name in set(self.names)}
        self.base_after = sha256(images['base'])


@pytest.fixture(scope='session')
def static_batch(conf, images):
    """Known partitions (N and 0): one launch, one drive per disk."""
    mp = pytest.MonkeyPatch()
    requests = [
        ('mbr', _req(images['mbr'], 1, files=FILES, key=KEY, net='auto lo\n',
                     metadata={'role': 'test'}, admin_password='correct horse')),
        ('whole', _req(images['whole'], 0, files=FILES)),
        ('instance', _req(images['instance'], 1, files=FILES)),
        ('selinux', _req(images['selinux'], 1, key=KEY)),
        ('noos', _req(images['noos'], 5, files=FILES)),
        ('rollback', _req(images['rollback'], 1,
                          files=[('/etc/first.conf', b'1'), ('/etc/motd/sub', b'x')])),
        ('rollback-raw', _req(images['rollback-raw'], 0, key=KEY,
                              files=[('/etc/second.conf', b'2'), ('/etc', b'dir')])),
    ] + [(name, _req(images[name], 1, files=FILES))
         for name in ('corrupt-l1', 'truncated', 'truncated-l1', 'bad-l1-offset',
                      'loop-a')]
    return Batch(conf, images, requests, mp)


@pytest.fixture(scope='session')
def inspect_batch(conf, images, static_batch):
    """inject_partition=-1: one launch for the disks that need inspection, and one the
    root probe finds without it."""
    mp = pytest.MonkeyPatch()
    requests = [
        ('lvm', _req(images['lvm'], -1, files=FILES, key=KEY)),
        ('split', _req(images['split'], -1, files=FILES + BOOT_FILES)),
        ('two', _req(images['two'], -1, files=FILES)),
        ('noos', _req(images['noos'], -1, files=FILES)),
    ]
    return Batch(conf, images, requests, mp)


@pytest.fixture(scope='session')
def warm_batch(conf, images, inspect_batch):
    """Two disks hot-plugged into a warm appliance, launched before they were asked for;
    then the same project's next disk, hot-plugged into the same appliance (which
    lingered for it)."""
    pool = appliance.WarmPool(appliance.Settings.from_conf(conf), 1, 4,
                              linger=600).start()
    deadline = time.monotonic() + conf.appliance.launch_timeout + 30
    while pool.ready() < 1:
        assert pool.last_error is None, pool.last_error
        assert time.monotonic() < deadline, 'the warm appliance never came up'
        time.sleep(0.2)
    pool.refill = lambda: None      # no replacement: nothing else here needs one
    mp = pytest.MonkeyPatch()
    requests = [
        ('warm-a', _req(images['warm-a'], 1, files=FILES, key=KEY)),
        ('warm-b', _req(images['warm-b'], -1, files=FILES)),
    ]
    try:
        batch = Batch(conf, images, requests, mp, pool=pool, owner='p1')
        batch.lingering = pool.lingering()
        batch.next = Batch(conf, images, [('warm-c', _req(images['warm-c'], 1, files=FILES))],
                           pytest.MonkeyPatch(), pool=pool, owner='p1')
        batch.worker_killed = _kill_the_worker_alone(pool.take(['any'], 'p1'))
        return batch
    finally:
        pool.close()


def _kill_the_worker_alone(warm):
    """SIGKILL a warm appliance's worker process only (not its process group, as the
    agent would): {'children': argv of its children before, 'qemu_gone': whether qemu
    died with it}. A qemu that outlives it is killed here, after the look."""
    children = processes.descendants(warm.proc.pid)
    qemu = [pid for pid, argv in children if processes.is_qemu(argv)]
    os.kill(warm.proc.pid, signal.SIGKILL)
    warm.proc.wait()
    warm.receiver.close()
    deadline = time.monotonic() + 30       # pdeathsig is at once; this only bounds a failure
    while (any(pid in processes.processes() for pid in qemu)
           and time.monotonic() < deadline):
        time.sleep(0.1)
    left = [pid for pid in qemu if pid in processes.processes()]
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return {'children': [argv for _, argv in children], 'qemu': qemu, 'qemu_gone': not left}


READ = [p for p, _ in FILES] + ['/etc/relative.conf', '/opt', '/opt/app', '/opt/app/conf',
                                 '/root/.ssh', '/root/.ssh/authorized_keys', '/meta.js',
                                 '/etc/network', '/etc/network/interfaces', '/etc/shadow',
                                 '/etc/passwd', '/etc/rc.d/rc.local', '/etc/rc.local',
                                 '/etc/first.conf', '/etc/second.conf', '/grub/inject.cfg',
                                 '/boot/grub/inject.cfg']


@pytest.fixture(scope='session')
def readback(conf, images, static_batch, inspect_batch, warm_batch):
    """What the disks hold afterwards, read in one read-only launch."""
    targets = {
        'mbr': {'partition': 1}, 'whole': {'partition': 0}, 'instance': {'partition': 1},
        'selinux': {'partition': 1}, 'lvm': {'lv': '/dev/vgit/root'},
        'base': {'partition': 1}, 'split': {'partition': 1},
        'warm-a': {'partition': 1}, 'warm-b': {'partition': 1},
        'warm-c': {'partition': 1},
    }
    specs = []
    for name, where in targets.items():
        fmt = 'raw' if images[name].endswith('.raw') else 'qcow2'
        specs.append(dict(where, path=images[name], format=fmt, files=READ))
    found = imagebuilder.read_back(specs, appliance.Settings.from_conf(conf))
    return dict(zip(targets, found))
