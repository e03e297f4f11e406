"""A worker that reads its arguments, starts a child in its process group (as libguestfs
starts qemu), writes both pids to $INJECT_TEST_PIDFILE, and then hangs forever."""

import os
import subprocess
import sys
import time

sys.stdin.buffer.read()
child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3600)'])
pidfile = os.environ.get('INJECT_TEST_PIDFILE')
if pidfile:
    with open(pidfile + '.tmp', 'w') as f:
        f.write('%d %d\n' % (os.getpid(), child.pid))
    os.replace(pidfile + '.tmp', pidfile)
while True:
    time.sleep(3600)
