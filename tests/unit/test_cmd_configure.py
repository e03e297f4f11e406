"""Every service checks all of its options when it starts (inject.cmd.configure): a bad
value anywhere in what it reads stops it at once, exit status 2, with one line naming
the option, the value and the file. The real console scripts, as subprocesses; each
is refused before it opens a database, a socket or an appliance.

Before, only what a service happened to read at start was checked: inject-api started
with ``[api]vendordata_dynamic_connect_timeout = 2`` and failed every build that needed
vendordata in its background thread.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

BIN = os.path.dirname(sys.executable)


def run(tmp_path, script, text, *args):
    conf = tmp_path / 'inject.conf'
    conf.write_text('[DEFAULT]\nstate_path = %s\n%s' % (tmp_path, text))
    proc = subprocess.run([os.path.join(BIN, script), '--config-file', str(conf)]
                          + list(args), capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=120)
    return proc, str(conf)


def refused(proc, prog):
    """The one line ``prog`` wrote (libraries' import warnings aside)."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert 'Traceback' not in proc.stderr
    [line] = [line for line in proc.stderr.splitlines()
              if line.startswith(prog + ': ')]
    return line


ISSUE = '[api]\nvendordata_dynamic_connect_timeout = 2\n'


@pytest.mark.parametrize('script', ['inject-api', 'inject-metadata'])
def test_the_issues_timeout_stops_the_services_that_read_it(tmp_path, script):
    proc, conf = run(tmp_path, script, ISSUE +
                     '[neutron]\nmetadata_proxy_shared_secret = s\n')
    line = refused(proc, script)
    assert ('[api]vendordata_dynamic_connect_timeout = 2 (in %s): Should be greater '
            'than or equal to 3' % conf) in line


@pytest.mark.parametrize('script, text, named', [
    ('inject-api', '[api]\nmax_limit = -1\n', '[api]max_limit = -1'),
    ('inject-api', '[quota]\ninstances = ten\n', '[quota]instances = ten'),
    ('inject-api', '[oslo_policy]\nenforce_new_defaults = maybe\n',
     '[oslo_policy]enforce_new_defaults = maybe'),
    ('inject-api', '[oslo_messaging_rabbit]\nrabbit_qos_prefetch_count = x\n',
     '[oslo_messaging_rabbit]rabbit_qos_prefetch_count = x'),
    ('inject-api', '[api]\nauth_strategy = keystone\n'
                   '[keystone_authtoken]\nhttp_connect_timeout = soon\n',
     '[keystone_authtoken]http_connect_timeout = soon'),
    ('inject-api', '[api]\nauth_strategy = keystone\n'
                   '[keystone_authtoken]\nauth_type = password\nauth_url = http://k\n'
                   'user_domain_id = a\n[api]\nvendordata_dynamic_targets = x\n',
     "[api]vendordata_dynamic_targets = x"),
    ('inject-api', '[vendordata_dynamic_auth]\nauth_type = pasword\n',
     "[vendordata_dynamic_auth]auth_type = pasword"),
    ('inject-metadata', '[vendordata_dynamic_auth]\nauth_type = pasword\n',
     "[vendordata_dynamic_auth]auth_type = pasword"),
    ('inject-metadata', '[vendordata_dynamic_auth]\nauth_type = password\n'
                        'split_loggers = perhaps\n',
     '[vendordata_dynamic_auth]split_loggers = perhaps'),
    ('inject-metadata', '[metadata]\nport = 99999\n', '[metadata]port = 99999'),
    ('inject-agent', '[agent]\nmax_batch = 0\n', '[agent]max_batch = 0'),
    ('inject-agent', '[appliance]\nsmp = two\n', '[appliance]smp = two'),
    ('inject-agent', '[oslo_messaging_rabbit]\nheartbeat_rate = x\n',
     '[oslo_messaging_rabbit]heartbeat_rate = x'),
    ('inject', '[injection]\ninject_partition = -3\n', '[injection]inject_partition = -3'),
])
def test_any_bad_value_a_service_reads_stops_it(tmp_path, script, text, named):
    args = ['status'] if script == 'inject' else []
    if script == 'inject':      # the CLI takes --config-file after its command
        conf = tmp_path / 'inject.conf'
        conf.write_text('[DEFAULT]\nstate_path = %s\n%s' % (tmp_path, text))
        proc = subprocess.run([os.path.join(BIN, script), 'status', '--config-file',
                               str(conf)], capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, timeout=120)
        conf = str(conf)
    else:
        proc, conf = run(tmp_path, script, text + '[neutron]\n'
                         'metadata_proxy_shared_secret = s\n', *args)
    line = refused(proc, script)
    assert named + ' (in %s)' % conf in line, line
    assert line.endswith('nothing was started.')


def test_every_bad_value_is_named_at_once(tmp_path):
    proc, conf = run(tmp_path, 'inject-api', ISSUE + 'workers = x\n'
                     '[injection]\ninject_partition = 9x\n')
    line = refused(proc, 'inject-api')
    for named in ('[api]vendordata_dynamic_connect_timeout = 2', '[api]workers = x',
                  '[injection]inject_partition = 9x'):
        assert named in line


def test_a_service_checks_only_what_it_reads(tmp_path):
    # inject-agent runs no HTTP server and no metadata service: a bad [metadata] or
    # [wsgi] value (which inject-api, reading everything, refuses) does not stop it
    conf = tmp_path / 'inject.conf'
    bad = '[metadata]\nport = 99999\n[wsgi]\nmax_header_line = x\n'
    conf.write_text('[DEFAULT]\nstate_path = %s\n%s'
                    '[agent]\nselftest_interval = -1\n[appliance]\nwarm_appliances = 0\n'
                    '[injection]\ninject_partition = -2\n' % (tmp_path, bad))
    log = tmp_path / 'agent.log'
    proc = subprocess.Popen([os.path.join(BIN, 'inject-agent'), '--config-file',
                             str(conf), '--log-file', str(log)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while 'serving topic' not in (log.read_text() if log.exists() else ''):
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    assert proc.returncode == 0
    proc, _ = run(tmp_path, 'inject-api', bad)
    line = refused(proc, 'inject-api')
    assert '[metadata]port = 99999' in line and '[wsgi]max_header_line = x' in line
