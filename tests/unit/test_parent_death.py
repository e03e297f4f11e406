"""inject.parent_death, with real processes: a parent that is killed with SIGKILL, and
children (started from a thread that ends, or forked) that must notice and end."""

import os
import pathlib
import subprocess
import sys
import time

from inject import parent_death
from tests import processes

REPO = pathlib.Path(__file__).resolve().parents[2]

#: a child that watches; its cleanup takes a while and writes argv[1] when done, even
#: when the main thread has found the parent gone by itself (its stdin ends) and would
#: exit first (argv[2] == 'exit')
CHILD = '''
import os, sys, time
from inject import parent_death

def cleanup():
    time.sleep(0.5)
    with open(sys.argv[1], 'w') as f:
        f.write('cleaned up')
    os._exit(0)

assert parent_death.watch(cleanup)
print('watching', flush=True)
if sys.argv[2] == 'exit':
    sys.stdin.read()     # as the worker's broken pipe to its agent
    parent_death.wait_for_cleanup(30)
    sys.exit(0)
time.sleep(3600)
'''

#: a parent that starts CHILD from a thread that then ends, and says the child's pid
THREAD_PARENT = '''
import subprocess, sys, threading, time
from inject import parent_death

def start():
    child = subprocess.Popen([sys.executable, '-c', sys.argv[1]] + sys.argv[2:],
                             stdin=subprocess.PIPE, **parent_death.popen_args())
    print(child.pid, flush=True)
thread = threading.Thread(target=start)
thread.start()
thread.join()
time.sleep(3600)
'''

#: a parent that forks two children which watch (the default: log and exit)
FORK_PARENT = '''
import os, sys, time
from inject import parent_death
for _ in range(2):
    parent_death.before_fork()
    pid = os.fork()
    if pid == 0:
        parent_death.watch(name='forked child')
        time.sleep(3600)
        os._exit(0)
    print(pid, flush=True)
time.sleep(3600)
'''


def _start(script, *args):
    return subprocess.Popen([sys.executable, '-c', script] + list(args), cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(REPO)))


def _alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] not in ('Z', 'X')
    except OSError:
        return False


def test_a_child_outlives_the_thread_that_started_it_and_dies_with_the_process(tmp_path):
    """PDEATHSIG would have killed it when the starting thread ended."""
    mark = tmp_path / 'mark'
    parent = _start(THREAD_PARENT, CHILD, str(mark), 'sleep')
    child = int(parent.stdout.readline())
    time.sleep(0.5)              # the thread is long gone
    assert _alive(child)
    tree, survivors = processes.survivors_of_sigkill(parent)
    assert [pid for pid, _ in tree] == [child]
    assert survivors == []
    assert mark.read_text() == 'cleaned up'
    parent.stdout.close()
    parent.stderr.close()


def test_the_cleanup_is_done_even_when_the_main_thread_exits_first(tmp_path):
    mark = tmp_path / 'mark'
    parent = _start(THREAD_PARENT, CHILD, str(mark), 'exit')
    child = int(parent.stdout.readline())
    _, survivors = processes.survivors_of_sigkill(parent)
    assert survivors == []
    assert not _alive(child)
    assert mark.read_text() == 'cleaned up'
    parent.stdout.close()
    parent.stderr.close()


def test_forked_children_die_with_their_parent(tmp_path):
    """Each forked child closes its copy of the write end (a sibling forked later would
    otherwise keep the first one's lifeline open) and exits, saying why."""
    parent = _start(FORK_PARENT)
    children = [int(parent.stdout.readline()) for _ in range(2)]
    tree, survivors = processes.survivors_of_sigkill(parent)
    assert sorted(pid for pid, _ in tree) == sorted(children)
    assert survivors == []
    log = parent.stderr.read()
    assert log.count('forked child: the parent process %d died; exiting'
                     % parent.pid) == 2, log
    parent.stdout.close()
    parent.stderr.close()


def test_without_a_lifeline_nothing_is_watched(monkeypatch):
    monkeypatch.delenv(parent_death.ENV, raising=False)
    assert parent_death.watch() is False


def test_setpriv_is_found():
    """util-linux is essential on Debian: qemu and qemu-img run under it."""
    argv = parent_death.setpriv()
    assert argv[1:] == ['--pdeathsig', 'KILL'] and os.access(argv[0], os.X_OK)
