"""Start a real ``inject-metadata`` process (``python -m inject.cmd.metadata``) on an
inject-api database, for the process tests and tools/metadata_bench.py."""

import base64
import contextlib
import os
import re
import subprocess
import sys
import time

from inject.db import api as db_api

SECRET = 'neutron-proxy-secret'


def make_database(path, instances):
    """A migrated SQLite database of inject-api at ``path`` holding ``instances``:
    ``[(uuid, project_id, name, user_data bytes or None, metadata, boot_roles)]``."""
    url = 'sqlite:///%s' % path
    db = db_api.Database(url)
    for uuid, project, name, user_data, meta, roles in instances:
        db.instance_create(
            {'uuid': uuid, 'project_id': project, 'user_id': 'user-' + project,
             'name': name, 'vm_state': 'active', 'image_ref': 'image-' + name,
             'flavor': {'name': 'm1.tiny', 'vcpus': 1, 'ram': 512},
             'user_data': (base64.b64encode(user_data).decode()
                           if user_data is not None else None)},
            meta, {'boot_roles': roles})
    db.dispose()
    return url


def write_conf(path, database_url, sections=None, secret=SECRET):
    """An inject.conf for inject-metadata: ``sections`` is ``{group: {name: value}}``."""
    groups = {'database': {'connection': database_url},
              'neutron': {'metadata_proxy_shared_secret': secret},
              'metadata': {'host': '127.0.0.1', 'port': 0}}
    for group, values in (sections or {}).items():
        groups.setdefault(group, {}).update(values)
    with open(path, 'w') as f:
        for group, values in groups.items():
            f.write('[%s]\n' % group)
            for name, value in values.items():
                if isinstance(value, (list, tuple)):
                    value = ','.join(value)
                f.write('%s = %s\n' % (name, value))
    return path


@contextlib.contextmanager
def running(conf_path, log_path=None, timeout=60):
    """Run inject-metadata with ``conf_path``; yield ``(url, process)``."""
    env = dict(os.environ)
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env['PYTHONPATH'] = os.pathsep.join(filter(None, [top, env.get('PYTHONPATH')]))
    args = [sys.executable, '-m', 'inject.cmd.metadata', '--config-file', conf_path]
    if log_path:
        args += ['--log-file', log_path]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        deadline = time.monotonic() + timeout
        line = proc.stdout.readline()
        if 'listening on' not in line:
            proc.wait(max(1, deadline - time.monotonic()))
            raise RuntimeError('inject-metadata did not start (exit %s): %s%s'
                               % (proc.returncode, line, proc.stderr.read()))
        url = re.search(r'listening on (http://\S+)', line).group(1).rstrip('/')
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stdout.close()
        proc.stderr.close()
