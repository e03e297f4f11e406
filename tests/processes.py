"""Process trees read from /proc, and the one check that a killed process leaves nothing
alive behind (inject-agent, inject-api, inject-metadata and their workers)."""

import os
import signal
import time

#: how long the children of a killed process may take to notice and end (issue 17: "no
#: worker alive 3 s later"); the lifeline's end-of-file reaches them at once
ORPHAN_SECONDS = 3


def processes():
    """{pid: (ppid, argv)} of every process."""
    found = {}
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % name) as f:
                stat = f.read()
            with open('/proc/%s/cmdline' % name, 'rb') as f:
                argv = f.read().split(b'\0')
        except OSError:
            continue
        fields = stat.rsplit(')', 1)[1].split()
        if fields[0] == 'Z':
            continue
        found[int(name)] = (int(fields[1]), [a.decode('utf-8', 'replace') for a in argv if a])
    return found


def descendants(pid):
    """[(pid, argv)] of the living descendants of ``pid``."""
    procs = processes()
    result, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for child, (ppid, argv) in procs.items():
            if ppid == parent:
                result.append((child, argv))
                todo.append(child)
    return result


def is_qemu(argv):
    return bool(argv) and os.path.basename(argv[0]).startswith('qemu-system')


def is_appliance_worker(argv):
    return 'inject.cmd.appliance_worker' in argv


def _started(pid):
    """When ``pid`` started (clock ticks since boot), or None once it is gone or a
    zombie: with the pid, it names one process, whatever reuses the pid later."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ('Z', 'X') else fields[19]


def tree_of(pid):
    """The living descendants of ``pid``, for :func:`still_alive`."""
    return [(child, argv, _started(child)) for child, argv in descendants(pid)]


def still_alive(tree, seconds=ORPHAN_SECONDS):
    """[(pid, argv)] of the processes of ``tree`` (see :func:`tree_of`) still alive
    after ``seconds`` (sooner when all are gone). Those are killed after the look, so
    that a failing test leaves nothing running."""
    deadline = time.monotonic() + seconds
    while True:
        alive = [(pid, argv) for pid, argv, start in tree
                 if start is not None and _started(pid) == start]
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    for pid, _ in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return alive


def survivors_of_sigkill(proc, seconds=ORPHAN_SECONDS):
    """SIGKILL ``proc`` (a Popen) and return ``(tree, survivors)``: its descendants just
    before, and those of them still alive ``seconds`` later, as [(pid, argv)]."""
    tree = tree_of(proc.pid)
    proc.kill()
    proc.wait()
    return [(pid, argv) for pid, argv, _ in tree], still_alive(tree, seconds)
