"""The processes of the real appliance's tree, read from /proc (integration tests)."""

import os


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
