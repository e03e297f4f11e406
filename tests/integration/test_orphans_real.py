"""Appliance workers and their qemu end with the process that started them, however it
ends: a real inject-agent (on RabbitMQ) and a real inject-api with an in-process agent,
with warm appliances, killed with SIGKILL mid-launch and mid-batch; a few seconds later
(tests.processes.ORPHAN_SECONDS) nothing they started is alive and no overlay a worker
held is left, its disk as it was. The same with a KVM launch that hangs, and a graceful
stop (SIGTERM) during one, which ends within its bound (drain_timeout, and for
inject-api the builds' 30 s first), leaving nothing behind either.

A KVM launch that hangs is stood in for by :data:`HUNG_KVM_QEMU`, a qemu that runs the
appliance paused (-S) under TCG and tells libguestfs's probe that KVM works, so the KVM
path (no TCG wrapper, kvm's deadlines) is taken on hosts whose KVM hangs or is missing.
(Never under TCG: the TCG wrapper in the shared cache_dir would then run it for every
test that launches meanwhile.)
One full appliance launch in all (the agent's warm appliance); every other is killed
while it launches.
"""

import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

from inject import agent
from inject import exception
from inject import image
from inject import overlay as overlay_mod
from inject import request
from inject.agent import rpcapi
from inject.appliance import accelerator as accel
from inject.cmd import api as api_cmd
from tests import processes
from tests.integration.conftest import CACHE_DIR
from tests.integration.conftest import FILES
from tests.integration.conftest import sha256
from tests.integration.test_agent_real import rabbit_url  # noqa: F401 (fixture)
from tests.integration.test_faults_real import BIG_FILES
from tests.integration.test_faults_real import QEMU_IMG
from tests.integration.test_faults_real import WRAPPER as HANGING_COMMIT
from tests.integration.test_faults_real import wait_for

BIN = os.path.dirname(sys.executable)

HUNG_KVM_QEMU = '''#!%(python)s
"""qemu standing in for a KVM launch that hangs (tests): the appliance launch (it has
-kernel) runs under TCG, paused (-S), so the appliance never comes up; libguestfs's
probe of KVM (query-kvm on -qmp stdio) is told that KVM works, whether or not this host
has it; every other run is qemu's own."""
import os, subprocess, sys
real = %(real)r
args = sys.argv[1:]
if '-kernel' in args:
    args = [a.replace('accel=kvm:tcg', 'accel=tcg').replace('accel=kvm', 'accel=tcg')
            for a in args if a != '-enable-kvm']
    os.execv(real, [real] + args + ['-S'])
if '-qmp' in args:
    out = subprocess.run([real] + args, stdout=subprocess.PIPE, text=True).stdout
    sys.stdout.write(out.replace('"enabled": false', '"enabled": true'))
    sys.exit(0)
os.execv(real, [real] + args)
'''


class Service:
    """inject-agent or inject-api run with ``sections`` ({group: {name: value}}) as its
    configuration file and ``env``, its output in a log; ``tmp/bin`` goes first on its
    PATH."""

    def __init__(self, program, tmp, sections, env=()):
        self.state = tmp / 'state'
        self.state.mkdir(exist_ok=True)
        self.overlay_dir = self.state / 'overlays'
        bindir = tmp / 'bin'
        bindir.mkdir(exist_ok=True)
        config = tmp / (program + '.conf')
        sections = dict(sections)
        sections.setdefault('DEFAULT', {})['state_path'] = self.state
        with open(config, 'w') as f:
            for group, values in sections.items():
                f.write('[%s]\n' % group)
                f.writelines('%s = %s\n' % item for item in values.items())
        self.log = tmp / (program + '.log')
        with open(self.log, 'a') as out:
            self.proc = subprocess.Popen(
                [os.path.join(BIN, program), '--config-file', str(config)],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=dict(os.environ, PATH='%s:%s' % (bindir, os.environ['PATH']),
                         **dict(env)))

    def log_text(self):
        return self.log.read_text()

    def qemus(self):
        """pids of the appliances' qemu (not libguestfs's short probes of qemu)."""
        return [pid for pid, argv in processes.descendants(self.proc.pid)
                if _appliance_qemu(argv)]

    def overlays(self):
        """The overlays (and undo journals) left in the overlay directory."""
        return sorted(n for n in os.listdir(self.overlay_dir) if n != '.lock') \
            if self.overlay_dir.is_dir() else []

    def kill_and_look(self):
        """SIGKILL it: ([argv] of the appliance workers and qemus it had, [(pid, argv)]
        of all its descendants still alive ORPHAN_SECONDS later)."""
        tree, survivors = processes.survivors_of_sigkill(self.proc)
        return [argv for _, argv in tree if _appliance_qemu(argv)
                or processes.is_appliance_worker(argv)], survivors

    def term_and_look(self, seconds):
        """SIGTERM it: (exit status, seconds it took (at most ``seconds``), [(pid,
        argv)] of its descendants still alive ORPHAN_SECONDS later)."""
        tree = processes.tree_of(self.proc.pid)
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(seconds)
        return code, time.monotonic() - t0, processes.still_alive(tree)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def _appliance_qemu(argv):
    return processes.is_qemu(argv) and '-kernel' in argv


def _count(test, argvs):
    return sum(1 for argv in argvs if test(argv))


def _hung_kvm(tmp):
    """The environment that makes every appliance launch a hung KVM launch."""
    stand_in = tmp / 'qemu-hung-kvm'
    stand_in.write_text(HUNG_KVM_QEMU % {'python': sys.executable,
                                         'real': accel.QEMU_BINARY})
    stand_in.chmod(0o755)
    return {'LIBGUESTFS_HV': str(stand_in)}


def _disk(images, tmp, name):
    path = tmp / 'disks' / (name + '.qcow2')
    path.parent.mkdir(exist_ok=True)
    shutil.copyfile(images['mbr'], path)
    return str(path)


# --- inject-agent ----------------------------------------------------------------------

def _start_agent(tmp, url, conf, appliance, env=(), **agent_options):
    host = 'orphans-%s' % uuid.uuid4().hex[:8]
    options = {'host': host, 'selftest_interval': -1, 'batch_window': 0.2,
               'max_appliances': 2}
    options.update(agent_options)
    a = Service('inject-agent', tmp, {
        'DEFAULT': {'transport_url': url}, 'agent': options,
        'injection': {'inject_partition': 1, 'image_dirs': tmp / 'disks'},
        'appliance': dict({'cache_dir': CACHE_DIR, 'warm_appliances': 1}, **appliance)},
        env)
    client = agent.AgentClient(conf, transport=rpcapi.get_transport(conf, url=url))
    deadline = time.monotonic() + 180
    while True:
        try:
            client.capabilities(host, timeout=5)
            break
        except exception.AgentTimeout:
            assert time.monotonic() < deadline and a.proc.poll() is None, a.log_text()
    return a, client, host


class Call:
    """An inject call to the agent, in a thread of its own (a call the killed agent
    never answers does not hold the test)."""

    def __init__(self, client, host, disk, project, files=FILES):
        self.reply = None
        req = request.InjectionRequest(image.DiskImage(disk, 'qcow2'), files=files)

        def send():
            try:
                self.reply = client.inject(host, req, project_id=project, timeout=600)
            except exception.AgentTimeout as e:
                self.reply = e
        self.thread = threading.Thread(target=send, daemon=True)
        self.thread.start()


def test_a_killed_agent_leaves_no_worker_qemu_or_overlay(
        rabbit_url, conf, images, tmp_path):  # noqa: F811
    """Mid-launch (a cold appliance launching for a batch of two disks) and mid-batch
    (the warm appliance's disk detached, its commit under way) at once."""
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    mark = tmp_path / 'hang-commit'
    (bindir / 'qemu-img').write_text(HANGING_COMMIT % {'mark': mark, 'real': QEMU_IMG})
    (bindir / 'qemu-img').chmod(0o755)
    disks = {name: _disk(images, tmp_path, name) for name in ('cold-1', 'cold-2', 'warm')}
    before = {name: sha256(path) for name, path in disks.items()}
    # warm_max_disks 1: the batch of two disks launches its own appliance
    a, client, host = _start_agent(tmp_path, rabbit_url, conf,
                                   {'accelerator': 'tcg', 'warm_max_disks': 1})
    try:
        wait_for(lambda: client.capabilities(host)['warm_appliances'] == 1)
        [warm_qemu] = a.qemus()
        cold = [Call(client, host, disks[n], 'p-cold') for n in ('cold-1', 'cold-2')]
        wait_for(lambda: len(a.qemus()) == 2)                 # the cold one launches
        mark.touch()
        Call(client, host, disks['warm'], 'p-warm', files=BIG_FILES)
        wait_for(lambda: os.path.exists(str(mark) + '.pid'))  # its commit hangs
        assert len(a.qemus()) == 2 and warm_qemu in a.qemus()
        assert 'Hot-plugging 1 disk(s) into a warm appliance' in a.log_text()
        assert not any(c.reply for c in cold)                 # still launching
        assert len([n for n in a.overlays() if n.endswith(overlay_mod.OVERLAY_SUFFIX)]) == 3
        kinds, survivors = a.kill_and_look()
    finally:
        a.stop()
    assert _count(_appliance_qemu, kinds) == 2
    assert _count(processes.is_appliance_worker, kinds) == 2
    assert survivors == [], a.log_text()[-3000:]
    wait_for(lambda: a.overlays() == [], processes.ORPHAN_SECONDS)
    # the commit that wrote into the warm disk was undone by its orphaned worker
    assert {name: sha256(path) for name, path in disks.items()} == before
    assert a.log_text().count('the process that started it died') == 2


def test_a_killed_agent_leaves_no_hung_kvm_launch(
        rabbit_url, conf, images, tmp_path):  # noqa: F811
    disk = _disk(images, tmp_path, 'kvm')
    a, client, host = _start_agent(tmp_path, rabbit_url, conf, {'accelerator': 'kvm'},
                                   _hung_kvm(tmp_path))
    try:
        call = Call(client, host, disk, 'p1')
        wait_for(lambda: len(a.qemus()) == 2)          # the warm one and the batch's
        assert a.overlays()
        # Under KVM too qemu dies with its worker, and libguestfs's recovery process (a
        # fork of the worker) is not needed for that: the worker's only child is qemu.
        procs = processes.processes()
        qemu_of = {procs[q][0]: q for q in a.qemus()}       # worker -> its qemu
        # the batch's (the warm one's qemu has a monitor for hot-plugging)
        [worker] = [w for w, q in qemu_of.items() if '-qmp' not in procs[q][1]]
        assert [pid for pid, _ in processes.descendants(worker)] == [qemu_of[worker]]
        alone = processes.tree_of(worker)
        os.kill(worker, signal.SIGKILL)
        assert processes.still_alive(alone) == []
        call.thread.join(60)
        assert 'The appliance worker died during launch' in call.reply['error']
        kinds, survivors = a.kill_and_look()
    finally:
        a.stop()
    qemus = [argv for argv in kinds if _appliance_qemu(argv)]
    assert len(qemus) == 1 and '-S' in qemus[0]        # the warm one, hung
    assert survivors == []
    wait_for(lambda: a.overlays() == [], processes.ORPHAN_SECONDS)


def test_sigterm_during_a_hung_kvm_launch_ends_after_the_drain(
        rabbit_url, conf, images, tmp_path):  # noqa: F811
    drain = 5
    disk = _disk(images, tmp_path, 'kvm')
    before = sha256(disk)
    a, client, host = _start_agent(tmp_path, rabbit_url, conf, {'accelerator': 'kvm'},
                                   _hung_kvm(tmp_path), drain_timeout=drain)
    try:
        call = Call(client, host, disk, 'p1')
        wait_for(lambda: len(a.qemus()) == 2)
        code, stopped, survivors = a.term_and_look(drain + 60)
        call.thread.join(60)
    finally:
        a.stop()
    print('inject-agent SIGTERM during a hung KVM launch: stopped in %.1f s '
          '(drain_timeout %d s)' % (stopped, drain))
    assert code == 0
    assert drain <= stopped < drain + 30
    assert not call.reply['ok'] and not call.reply['committed']
    assert call.reply['error'].startswith(
        'inject-agent %s is stopping ([agent]drain_timeout of %d s ran out): '
        % (host, drain))
    assert survivors == []
    assert a.overlays() == [] and sha256(disk) == before
    assert 'batch(es) still running after drain_timeout' in a.log_text()


# --- the image builder (tests, demo) ------------------------------------------------

BUILDER = '''
import sys
from inject import imagebuilder
from inject.appliance import session
imagebuilder.build([{'path': sys.argv[1], 'layout': 'no-os', 'size_mb': 16,
                     'format': 'qcow2'}],
                   session.Settings(accelerator='kvm', cache_dir=sys.argv[2]))
'''


def test_a_killed_image_builder_leaves_no_appliance(tmp_path):
    """The demo's and the tests' image builder is a worker too (its launch hangs here:
    KVM's, whose qemu wrapper no other test shares)."""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    builder = subprocess.Popen(
        [sys.executable, '-c', BUILDER, str(tmp_path / 'd.qcow2'), CACHE_DIR], cwd=repo,
        env=dict(os.environ, PYTHONPATH=repo, **_hung_kvm(tmp_path)),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: any(_appliance_qemu(argv)
                             for _, argv in processes.descendants(builder.pid)))
        tree, survivors = processes.survivors_of_sigkill(builder)
    finally:
        if builder.poll() is None:
            builder.kill()
            builder.wait()
    assert _count(_appliance_qemu, [argv for _, argv in tree]) == 1
    assert survivors == []


# --- inject-api with an in-process agent --------------------------------------------------

DRAIN = 5        # [agent]drain_timeout of the inject-api tests


def _start_api(tmp, images, env=(), **appliance_options):
    image_dir = tmp / 'state' / 'images'
    image_dir.mkdir(parents=True, exist_ok=True)
    if not (image_dir / 'debian.qcow2').exists():
        shutil.copyfile(images['mbr'], image_dir / 'debian.qcow2')
    port = _free_port()
    sections = {'api': {'port': port},
                'agent': {'selftest_interval': -1, 'drain_timeout': DRAIN},
                'injection': {'inject_partition': 1, 'image_dirs': image_dir},
                'appliance': dict({'cache_dir': CACHE_DIR, 'warm_appliances': 1},
                                  **appliance_options)}
    api = Service('inject-api', tmp, sections, env)
    api.url = 'http://127.0.0.1:%d/v2.1' % port
    wait_for(lambda: api.proc.poll() is not None or _get(api.url + '/flavors') is not None,
             120)
    assert api.proc.poll() is None, api.log_text()
    return api


def _free_port():
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


HEADERS = {'Content-Type': 'application/json', 'X-OpenStack-Nova-API-Version': '2.56',
           'X-Project-Id': 'p1', 'X-Roles': 'member,reader'}


def _get(url, version='2.56'):
    headers = dict(HEADERS, **{'X-OpenStack-Nova-API-Version': version})
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    timeout=10) as r:
            return json.load(r)
    except OSError:
        return None


def _boot(api, name):
    image = _get(api.url + '/images', '2.1')['images'][0]['id']     # the proxy ends at 2.36
    files = [{'path': '/etc/motd', 'contents': base64.b64encode(b'hi\n').decode()}]
    body = {'server': {'name': name, 'imageRef': image, 'flavorRef': '1',
                       'networks': 'none', 'personality': files}}
    req = urllib.request.Request(api.url + '/servers', json.dumps(body).encode(),
                                 headers=HEADERS, method='POST')
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.load(r)['server']['id']


def test_a_killed_inject_api_leaves_no_worker_qemu_or_overlay_and_stops_in_time(images,
                                                                                tmp_path):
    """SIGKILL while its warm appliance and a build's appliance launch (TCG); then,
    restarted with a KVM launch that hangs, SIGTERM while both hang."""
    api = _start_api(tmp_path, images, accelerator='tcg')
    try:
        first = _boot(api, 'killed')
        wait_for(lambda: len(api.qemus()) == 2)         # the warm one and the build's
        assert api.overlays()
        kinds, survivors = api.kill_and_look()
    finally:
        api.stop()
    assert _count(_appliance_qemu, kinds) == 2
    assert _count(processes.is_appliance_worker, kinds) == 2
    assert survivors == []
    wait_for(lambda: api.overlays() == [], processes.ORPHAN_SECONDS)

    api = _start_api(tmp_path, images, env=_hung_kvm(tmp_path), accelerator='kvm')
    try:
        assert _get(api.url + '/servers/' + first)['server']['status'] == 'ERROR'
        _boot(api, 'stopped')
        wait_for(lambda: len(api.qemus()) == 2)
        bound = api_cmd.BUILDS_STOP_SECONDS + DRAIN
        code, stopped, survivors = api.term_and_look(bound + 60)
    finally:
        api.stop()
    print('inject-api SIGTERM during hung KVM launches: stopped in %.1f s (builds %d s, '
          'drain_timeout %d s)' % (stopped, api_cmd.BUILDS_STOP_SECONDS, DRAIN))
    assert code == 0
    assert stopped < bound + 30
    assert survivors == []
    assert api.overlays() == []
