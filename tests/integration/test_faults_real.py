"""Faults on the real appliance, through a real inject-agent on a real RabbitMQ.

One agent serves every fault in turn (one appliance at a time, no warm appliance), and
each fault must end in a clear report, the disk byte-identical (or, where the fault
is survived, injected), no overlay, undo journal or qemu left behind, and the agent
still serving:

1. qemu killed with SIGKILL during a (PVH) launch: relaunched, injected; PVH not
   turned off (no kernel-boot.json);
2. while that runs, two queued disks are removed and truncated: each refused with why;
3. qemu killed during the writes: failed, the disk untouched;
4. the appliance worker killed during the writes: failed, the disk untouched;
5. ``qemu-img commit`` killed after it wrote into the disk: undone, the disk as it was;
   the other disk of that batch committed, and a last request injected normally.

The qemu-img commit is killed through a stand-in ``qemu-img`` first on the agent's PATH:
for a commit, while a marker file exists, it runs the real commit and then waits to be
killed -- the worst case, a commit that wrote everything and never returned.
"""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from inject import agent
from inject import image
from inject import request
from inject.agent import rpcapi
from inject import exception
from inject.appliance import accelerator as accel
from tests.integration.conftest import CACHE_DIR
from tests.integration.conftest import FILES
from tests.integration.conftest import sha256
from tests.processes import descendants
from tests.processes import is_appliance_worker as is_worker
from tests.processes import is_qemu
from tests.processes import processes as _processes
from tests.integration.test_agent_real import rabbit_url  # noqa: F401 (fixture)

AGENT = os.path.join(os.path.dirname(sys.executable), 'inject-agent')
QEMU_IMG = shutil.which('qemu-img')

WRAPPER = '''#!/bin/sh
# qemu-img for the fault tests: a commit, while $MARK exists, runs for real and then
# hangs until it is killed (its pid in $MARK.pid).
MARK=%(mark)s
if [ "$1" = commit ] && [ -e "$MARK" ]; then
    rm -f "$MARK"
    %(real)s "$@" || exit $?
    echo $$ > "$MARK.pid.tmp" && mv "$MARK.pid.tmp" "$MARK.pid"
    exec sleep 3600
fi
exec %(real)s "$@"
'''

# Enough data that the writes take a while under TCG: 24 files of 1 MiB.
BIG_FILES = [('/opt/big/f%02d' % i, bytes([i]) * (1 << 20)) for i in range(24)]


# --- the agent's process tree ----------------------------------------------------------

def wait_for(what, seconds=600, interval=0.05):
    deadline = time.monotonic() + seconds
    while True:
        value = what()
        if value:
            return value
        assert time.monotonic() < deadline, 'timed out waiting for %s' % what
        time.sleep(interval)


# --- the agent ------------------------------------------------------------------------

class Agent:
    def __init__(self, tmp, url, images_dir):
        self.host = 'faults-agent'
        self.state = tmp / 'state'
        self.state.mkdir()
        self.overlays = self.state / 'overlays'
        bindir = tmp / 'bin'
        bindir.mkdir()
        self.mark = tmp / 'hang-commit'
        wrapper = bindir / 'qemu-img'
        wrapper.write_text(WRAPPER % {'mark': self.mark, 'real': QEMU_IMG})
        wrapper.chmod(0o755)
        config = tmp / 'agent.conf'
        config.write_text(
            '[DEFAULT]\nstate_path = %s\ntransport_url = %s\n'
            '[agent]\nhost = %s\nselftest_interval = -1\nbatch_window = 0.2\n'
            'max_appliances = 1\ndrain_timeout = 300\n'
            '[appliance]\ncache_dir = %s\naccelerator = tcg\nwarm_appliances = 0\n'
            '[injection]\ninject_partition = 1\nimage_dirs = %s\n'
            % (self.state, url, self.host, CACHE_DIR, images_dir))
        self.log = tmp / 'agent.log'
        env = dict(os.environ, PATH='%s:%s' % (bindir, os.environ.get('PATH', '')))
        self.proc = subprocess.Popen([AGENT, '--config-file', str(config)],
                                     stdout=open(self.log, 'w'), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)

    def log_text(self):
        return self.log.read_text()

    def tail(self):
        return self.log_text()[-6000:]

    def children(self, test):
        return [(pid, argv) for pid, argv in descendants(self.proc.pid) if test(argv)]

    def leftovers(self):
        """Overlays or undo journals, and qemu processes, left behind."""
        files = sorted(n for n in os.listdir(self.overlays) if n != '.lock') \
            if os.path.isdir(self.overlays) else []
        return files, self.children(is_qemu)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture(scope='module')
def faults_agent(rabbit_url, tmp_path_factory, conf):  # noqa: F811
    tmp = tmp_path_factory.mktemp('faults')
    images_dir = tmp / 'images'
    images_dir.mkdir()
    a = Agent(tmp, rabbit_url, images_dir)
    try:
        client = agent.AgentClient(conf, transport=rpcapi.get_transport(conf, url=rabbit_url))
        deadline = time.monotonic() + 180
        while True:
            try:
                client.capabilities(a.host, timeout=5)
                break
            except exception.AgentTimeout:
                assert time.monotonic() < deadline, a.tail()
        yield client, a, images_dir
    finally:
        a.stop()


class Call:
    """One inject call to the agent, in a thread of its own."""

    def __init__(self, client, host, path, project, files=FILES):
        self.path = path
        self.before = sha256(path)
        self.reply = None
        req = request.InjectionRequest(image.DiskImage(path, 'qcow2'), files=files)

        def send():
            self.reply = client.inject(host, req, project_id=project, timeout=900)
        self.thread = threading.Thread(target=send)
        self.thread.start()

    def result(self):
        self.thread.join(900)
        assert self.reply is not None, 'no reply'
        return self.reply


def _kill_when_writing(a, disk, test):
    """Wait for the worker to say it is writing into ``disk``, then SIGKILL the agent's
    descendant that ``test`` picks (qemu or the worker). Returns its argv."""
    wait_for(lambda: 'Writing %d item(s) into %s' % (len(BIG_FILES), disk) in a.log_text())
    # The worker's own child, not libguestfs's recovery process (a fork of the worker).
    procs = _processes()
    [(pid, argv)] = [(pid, argv) for pid, argv in a.children(test)
                     if not is_worker(argv) or procs[pid][0] == a.proc.pid]
    os.kill(pid, signal.SIGKILL)
    return argv


def test_faults_end_in_clear_reports_and_the_agent_keeps_serving(faults_agent, images):
    client, a, images_dir = faults_agent
    disks = {}
    for name in ('launch', 'removed', 'truncated', 'writes', 'worker', 'commit', 'last'):
        disks[name] = str(images_dir / (name + '.qcow2'))
        shutil.copyfile(images['mbr'], disks[name])
    kernel_record = os.path.join(CACHE_DIR, accel.KERNEL_RECORD_NAME)
    pvh_broken_before = os.path.exists(kernel_record)
    timings = {}

    # 1. qemu killed 2 s into its launch; meanwhile two disks wait in the queue.
    t0 = time.monotonic()
    launch = Call(client, a.host, disks['launch'], 'p1')
    [(qemu, argv)] = wait_for(lambda: a.children(is_qemu))
    kernel_boot = 'pvh' if any('vmlinux' in arg for arg in argv) else 'stock'
    removed = Call(client, a.host, disks['removed'], 'p2')
    truncated = Call(client, a.host, disks['truncated'], 'p2')
    wait_for(lambda: client.capabilities(a.host)['queued'] == 2)
    os.remove(disks['removed'])
    with open(disks['truncated'], 'r+b') as f:
        f.truncate(0)
    time.sleep(2)
    os.kill(qemu, signal.SIGKILL)

    report = launch.result()
    timings['killed launch'] = time.monotonic() - t0
    assert report['ok'] and report['committed'], (report, a.tail())
    assert any('launched again' in n or 'used the stock kernel' in n
               for n in report['notes']), report['notes']
    if kernel_boot == 'pvh' and not pvh_broken_before:
        assert not os.path.exists(kernel_record), 'one killed qemu turned PVH off'
    assert sha256(disks['launch']) != launch.before

    report = removed.result()
    assert not report['ok'] and not report['committed']
    assert report['error'] == 'Disk image %s cannot be used: no such file.' % disks['removed']
    report = truncated.result()
    assert not report['ok']
    assert report['error'] == ('Disk image %s cannot be used: it was given as qcow2 but has '
                               'no qcow2 header.' % disks['truncated'])
    assert os.path.getsize(disks['truncated']) == 0
    assert a.leftovers() == ([], [])

    # 2. qemu killed during the writes.
    t0 = time.monotonic()
    writes = Call(client, a.host, disks['writes'], 'p3', files=BIG_FILES)
    assert is_qemu(_kill_when_writing(a, disks['writes'], is_qemu))
    report = writes.result()
    timings['qemu killed in writes'] = time.monotonic() - t0
    assert not report['ok'] and not report['committed'], report
    assert '\n' not in report['error'] and report['error'], report
    assert sha256(disks['writes']) == writes.before
    wait_for(lambda: a.leftovers() == ([], []), 30)

    # 3. the appliance worker killed during the writes.
    t0 = time.monotonic()
    worker = Call(client, a.host, disks['worker'], 'p4', files=BIG_FILES)
    _kill_when_writing(a, disks['worker'], is_worker)
    report = worker.result()
    timings['worker killed in writes'] = time.monotonic() - t0
    assert not report['ok'] and not report['committed'], report
    assert report['error'] == ('The appliance worker died during work on %s (exit code -9).'
                               % disks['worker']), report
    assert sha256(disks['worker']) == worker.before
    wait_for(lambda: a.leftovers() == ([], []), 30)

    # 4. qemu-img commit killed after it wrote into the disk; the next disk of the same
    # batch is committed, and the agent keeps serving.
    t0 = time.monotonic()
    a.mark.touch()
    commit = Call(client, a.host, disks['commit'], 'p5')
    # queued first, so that its commit is the batch's first (the one the stand-in holds)
    wait_for(lambda: sum(client.capabilities(a.host)[k] for k in ('queued', 'running')))
    last = Call(client, a.host, disks['last'], 'p5')
    pid = int(wait_for(lambda: os.path.exists(str(a.mark) + '.pid')
                       and open(str(a.mark) + '.pid').read().strip()))
    assert sha256(disks['commit']) != commit.before       # the commit did write
    os.kill(pid, signal.SIGKILL)
    report = commit.result()
    timings['commit killed'] = time.monotonic() - t0
    assert not report['ok'] and not report['committed'], report
    assert report['error'].startswith('committing the overlay into the disk failed: '
                                      'qemu-img commit failed for %s:' % disks['commit'])
    assert report['error'].endswith('the disk was restored to what it was before the '
                                    'commit'), report['error']
    assert sha256(disks['commit']) == commit.before
    report = last.result()
    assert report['ok'] and report['committed'], report
    assert sha256(disks['last']) != last.before
    assert a.leftovers() == ([], [])
    assert client.capabilities(a.host)['queued'] == 0
    print('fault timings (s):', {k: round(v, 1) for k, v in timings.items()})
