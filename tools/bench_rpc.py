"""Two real inject-agent processes on one RabbitMQ, for tools/benchmark.py's rpc cases.

Each agent gets the benchmark's configuration with its own ``[agent]host`` (bench-1,
bench-2), ``[DEFAULT]transport_url``, ``state_path`` and appliance cache (a copy of the
in-process agent's, so no agent builds its appliance), ``[agent]max_appliances = 1``
(two agents on one machine each think they own it; one each keeps the total at the
in-process agent's one-per-core on 2 cores) and no self-test (the in-process agent runs
none either). :meth:`Agents.stop` stops them, and kills whatever is left of their process
trees (qemu included).
"""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time

HOSTS = ('bench-1', 'bench-2')


def rabbit_url(top, given=None):
    """(url, None), or (None, why RabbitMQ is not available)."""
    if given:
        return given, None
    try:
        proc = subprocess.run(['bash', os.path.join(top, 'tools', 'rabbitmq.sh')],
                              capture_output=True, text=True, timeout=600,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, 'tools/rabbitmq.sh did not run: %s' % e
    lines = proc.stdout.split()
    if proc.returncode != 0 or not lines or not lines[-1].startswith('rabbit://'):
        return None, 'tools/rabbitmq.sh failed (%d): %s' % (
            proc.returncode, ' '.join(proc.stderr.split()[-40:]) or 'no output')
    return lines[-1], None


def agent_argv(config):
    """The real console script next to this Python, else its module."""
    script = os.path.join(os.path.dirname(sys.executable), 'inject-agent')
    if os.path.exists(script):
        return [script, '--config-file', config]
    return [sys.executable, '-m', 'inject.cmd.agent', '--config-file', config]


def descendants(pid):
    """``pid`` and every process under it."""
    children = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry) as f:
                    ppid = int(f.read().rsplit(')', 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def kill_tree(pids):
    """SIGKILL what is still alive of ``pids`` (collected while their parent lived)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


class Agents:
    """Start with :meth:`start`, wait with :meth:`wait_warm`, always :meth:`stop`."""

    def __init__(self, workdir, config_text, url, warm_cache, hosts=HOSTS):
        self.dir = os.path.join(workdir, 'rpc')
        self.config_text = config_text
        self.url = url
        self.warm_cache = warm_cache
        self.hosts = hosts
        self.procs = {}
        self.logs = {}

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        for host in self.hosts:       # pre-warmed caches first, then both start at once
            cache = os.path.join(self.dir, host, 'appliance')
            if not os.path.isdir(cache) and os.path.isdir(self.warm_cache):
                shutil.rmtree(cache + '.tmp', ignore_errors=True)     # an interrupted copy
                shutil.copytree(self.warm_cache, cache + '.tmp', symlinks=True)
                os.rename(cache + '.tmp', cache)
        for host in self.hosts:
            state = os.path.join(self.dir, host)
            cache = os.path.join(state, 'appliance')
            config = os.path.join(self.dir, host + '.conf')
            with open(config, 'w') as f:
                f.write(self.config_text(state, {
                    'DEFAULT': {'transport_url': self.url},
                    'agent': {'host': host, 'max_appliances': 1, 'selftest_interval': -1,
                              'drain_timeout': 120},
                    'appliance': {'cache_dir': cache}}))
            self.logs[host] = os.path.join(self.dir, host + '.log')
            with open(self.logs[host], 'w') as log:
                self.procs[host] = subprocess.Popen(
                    agent_argv(config), stdout=log, stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL)

    def pids(self):
        return [p.pid for p in self.procs.values()]

    def log_tail(self, host, chars=2000):
        try:
            with open(self.logs[host]) as f:
                return f.read()[-chars:]
        except OSError:
            return ''

    def wait_warm(self, client, warm, timeout=300):
        """Until every agent answers with ``warm`` appliances ready; raises RuntimeError
        naming the agent that died or did not get there."""
        from inject import exception
        deadline = time.monotonic() + timeout
        for host, proc in self.procs.items():
            while True:
                if proc.poll() is not None:
                    raise RuntimeError('inject-agent %s exited (%d): %s' % (
                        host, proc.returncode, self.log_tail(host)))
                try:
                    caps = client.capabilities(host, timeout=5)
                    if caps['warm_appliances'] >= warm:
                        break
                except exception.AgentTimeout:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError('inject-agent %s has no warm appliance after %d s: '
                                       '%s' % (host, timeout, self.log_tail(host)))
                time.sleep(0.3)

    def stop(self):
        trees = {host: descendants(p.pid) for host, p in self.procs.items()}
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for host, proc in self.procs.items():
            try:
                proc.wait(150)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            kill_tree(trees[host])
        self.procs = {}


def send_all(one, count, sequential=False):
    """Call ``one(i)`` for i in range(count), all at once in threads (or one after
    another); return (reports, seconds from the first call to the last answer). Each
    report gets ``bench_seconds``: how long its own call took."""
    reports = [None] * count

    def send(i):
        t0 = time.monotonic()
        try:
            reports[i] = one(i)
        except Exception as e:           # reported as a failed disk, not a crash
            reports[i] = {'ok': False, 'error': '%s: %s' % (type(e).__name__, e),
                          'timings': {}}
        reports[i]['bench_seconds'] = time.monotonic() - t0

    start = time.monotonic()
    if sequential:
        for i in range(count):
            send(i)
    else:
        threads = [threading.Thread(target=send, args=(i,)) for i in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return reports, time.monotonic() - start
