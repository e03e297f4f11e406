"""cloud-init as the oracle: Debian's package unpacked by tools/cloudinit.sh, whose
`cloudinit` directory comes in INJECT_TEST_CLOUDINIT_DIR (tools/setup.sh test sets it).
It runs in a subprocess of this interpreter with that directory on PYTHONPATH, so
nothing of cloud-init (its logging set-up included) leaks into the test process."""

import json
import os
import subprocess
import sys

import pytest

from tests import services

READER = os.path.join(os.path.dirname(__file__), 'cloudinit_reader.py')


@pytest.fixture(scope='session')
def cloudinit_dir():
    path = services.required('INJECT_TEST_CLOUDINIT_DIR', 'cloud-init',
                             'tools/cloudinit.sh')
    if not os.path.isdir(os.path.join(path, 'cloudinit')):
        pytest.fail('INJECT_TEST_CLOUDINIT_DIR=%s holds no cloudinit package' % path)
    return path


@pytest.fixture
def cloudinit_read(cloudinit_dir):
    """``cloudinit_read(tree_dir)``: what cloud-init's config drive reader makes of it."""
    def read(tree):
        env = dict(os.environ, PYTHONPATH=cloudinit_dir)
        proc = subprocess.run([sys.executable, READER, tree], env=env,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise AssertionError('cloud-init could not read %s:\n%s' % (tree, proc.stderr))
        return json.loads(proc.stdout)
    return read
