"""The Python examples of README.rst and of the package docstring (``inject.__doc__``),
run as written, each in a fresh interpreter whose global ``inject.conf.CONF`` has none of
inject's options registered: the public entry points register what they read on the
ConfigOpts they are handed, as oslo libraries do. Before, the README's "From a compute
driver" example raised ``NoSuchOptError: no such option agent in group [DEFAULT]``.

The examples are extracted from the documents (every literal block that imports inject),
so that a change to one that no longer runs breaks this test, and an example this test
does not know fails it until it is taught here. What the test supplies is only what an
example leaves to its reader: the names it uses without defining them (``path``,
``CONF``, ``req``...), the disk path the docstring spells out (replaced by a test disk),
and the configuration the embedding program parsed before (state under a temporary
directory, the shared appliance cache, a broker).
"""

import ast
import json
import os
import shutil
import subprocess
import sys
import time

import docutils.core
import docutils.nodes

import inject
from inject import agent
from inject import exception
from inject.agent import rpcapi
from tests import services
from tests.integration.conftest import CACHE_DIR
from tests.integration.test_agent_real import AgentProcess

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCSTRING_DISK = '/var/lib/nova/instances/u/disk'

# Runs one example: parse the embedding program's configuration into the global CONF
# (no inject option registered yet, checked), define the names the example leaves to
# its reader, run the example's text as written, print what the test asks for.
RUNNER = r'''
import json, sys
import inject.conf
CONF = inject.conf.CONF
CONF(['--config-file', sys.argv[1]], project='inject')
assert not {'injection', 'appliance', 'agent'} & set(CONF), sorted(CONF)
names = {'CONF': CONF}
exec(sys.argv[2], names)
try:
    exec(compile(sys.argv[3], 'example', 'exec'), names)
    print(json.dumps({k: eval(v, names) for k, v in json.loads(sys.argv[4]).items()},
                     default=str))
finally:
    if 'service' in names:
        names['service'].stop()
'''


def _python_blocks(text):
    """The literal blocks of reStructuredText ``text`` that are Python importing
    inject."""
    tree = docutils.core.publish_doctree(text, settings_overrides={'report_level': 5})
    found = []
    for node in tree.findall(docutils.nodes.literal_block):
        code = node.astext()
        if 'import inject' not in code and 'from inject import' not in code:
            continue
        ast.parse(code)          # a Python example that does not even parse: fail
        found.append(code)
    return found


def readme_examples():
    with open(os.path.join(TOP, 'README.rst')) as f:
        return _python_blocks(f.read())


def docstring_examples():
    return _python_blocks(inject.__doc__)


def _which(code):
    """The name this test knows an example by."""
    if 'agent.AgentClient(CONF)' in code:
        return 'compute driver'
    if 'inject.inject([inject.InjectionRequest(' in code and 'path' in code:
        return 'from python'
    if DOCSTRING_DISK in code:
        return 'docstring'
    return None


def test_every_python_example_is_known_here():
    examples = readme_examples() + docstring_examples()
    unknown = [code for code in examples if _which(code) is None]
    assert not unknown, ('a Python example this test does not know how to run; teach '
                         'tests/integration/test_examples.py:\n%s' % '\n---\n'.join(unknown))
    assert sorted(_which(code) for code in examples) == [
        'compute driver', 'docstring', 'from python']


def _example(name, source):
    [code] = [c for c in source() if _which(c) == name]
    return code


def _disk(images, tmp_path, name):
    path = str(tmp_path / (name + '.qcow2'))
    shutil.copyfile(images['mbr'], path)
    return path


def _config(tmp_path, text=''):
    state = tmp_path / 'state'
    state.mkdir(exist_ok=True)
    path = tmp_path / 'embedding.conf'
    path.write_text('[DEFAULT]\nstate_path = %s\n[appliance]\ncache_dir = %s\n'
                    'warm_appliances = 0\n%s' % (state, CACHE_DIR, text))
    return str(path)


def _run(config, prelude, code, wanted):
    proc = subprocess.run(
        [sys.executable, '-c', RUNNER, config, prelude, code, json.dumps(wanted)],
        capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600,
        env=dict(os.environ, PYTHONPATH=TOP))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_readme_from_python(images, tmp_path):
    path = _disk(images, tmp_path, 'from-python')
    got = _run(_config(tmp_path), 'path = %r' % path,
               _example('from python', readme_examples),
               {'ok': 'report.ok', 'files': '[i.status for i in report.items]'})
    assert got == {'ok': True, 'files': ['injected']}


def test_docstring_example(images, tmp_path):
    disk = _disk(images, tmp_path, 'docstring')
    code = _example('docstring', docstring_examples)
    # No partition in the request: the host's inject_partition (the embedding
    # program's configuration) decides.
    got = _run(_config(tmp_path, '[injection]\ninject_partition = 1\n'), '',
               code.replace(DOCSTRING_DISK, disk),
               {'ok': 'report.ok', 'status': 'inject.status()["ok"]'})
    assert got == {'ok': True, 'status': True}


DRIVER_PRELUDE = '''
from inject import image, request
req = request.InjectionRequest(image.DiskImage(%r, 'qcow2'), partition=1,
                               files=[('/etc/motd', b'from the driver\\n')])
uuid, project = 'c2a3e0f8-5d4b-4f7e-9a1c-0b2d3e4f5a6b', 'project-1'
'''
DRIVER_WANTED = {'ok': "report['ok']", 'host': "report['host']",
                 'can_inject': "caps['can_inject']"}


def test_readme_compute_driver_over_rabbitmq(images, tmp_path):
    """As written: ``AgentClient(CONF)`` asks inject-agent on compute-1 over a broker."""
    url = services.required('INJECT_TEST_TRANSPORT_URL', 'RabbitMQ', 'tools/rabbitmq.sh')
    disk = _disk(images, tmp_path, 'driver')
    compute = AgentProcess(tmp_path, url, 'compute-1', -2)
    try:
        client = agent.AgentClient(inject_conf_for(url))
        deadline = time.monotonic() + 180
        while True:
            try:
                client.capabilities('compute-1', timeout=5)
                break
            except exception.AgentTimeout:
                assert time.monotonic() < deadline, compute.log_text()[-4000:]
        got = _run(_config(tmp_path, '[DEFAULT]\ntransport_url = %s\n' % url),
                   DRIVER_PRELUDE % disk, _example('compute driver', readme_examples),
                   DRIVER_WANTED)
    finally:
        compute.stop()
    # -2 on that host: the request's own partition is injected; can_inject says
    # what the host would do for a request that names none
    assert got == {'ok': True, 'host': 'compute-1', 'can_inject': False}


def test_readme_compute_driver_in_process(images, tmp_path):
    """The example's other form, given in its comment: ``service, client =
    agent.start_in_process(CONF)``, no broker."""
    code = _example('compute driver', readme_examples)
    comment = [line.split('#', 1)[1].strip() for line in code.splitlines()
               if '#' in line]
    assert comment[0].startswith('or: service, client =')
    alternative = comment[0][len('or: '):] + ' ' + comment[1]
    assert alternative == 'service, client = agent.start_in_process(CONF)'
    code = code.replace('client = agent.AgentClient(CONF)', alternative, 1)
    disk = _disk(images, tmp_path, 'in-process')
    got = _run(_config(tmp_path, '[agent]\nhost = compute-1\nselftest_interval = -1\n'),
               DRIVER_PRELUDE % disk, code, DRIVER_WANTED)
    assert got == {'ok': True, 'host': 'compute-1', 'can_inject': False}


def inject_conf_for(url):
    """A ConfigOpts of this test process's own, to wait for the agent."""
    from inject import conf as inject_conf
    conf = inject_conf.new_conf()
    conf([], project='inject', default_config_files=[])
    rpcapi.register_opts(conf)
    conf.set_override('transport_url', url)
    return conf
