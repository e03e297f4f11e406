"""The library's public face (``import inject``): inject(), status() and the request and
image types, over the fake guestfs; and the command line, which uses that face."""

import json
import subprocess
import sys

import pytest

import inject
from inject import image
from inject import report
from inject import request
from inject.cmd import inject as cmd_inject
# the tmp_path host with a fake appliance.run, shared with the manager's tests
from tests.unit.test_manager import KEY, host  # noqa: F401  (a fixture)


def test_the_face_names_what_it_holds():
    assert sorted(inject.__all__) == ['DiskImage', 'InjectionRequest', 'inject', 'status']
    assert inject.InjectionRequest is request.InjectionRequest
    assert inject.DiskImage is image.DiskImage


def test_importing_inject_loads_neither_oslo_config_nor_libguestfs():
    code = ('import sys, inject; '
            'print(sorted(m for m in sys.modules if m.split(".")[0] in '
            '("oslo_config", "oslo_messaging", "guestfs", "stevedore") '
            'or m in ("inject.conf", "inject.manager", "inject.vfs")))')
    out = subprocess.run([sys.executable, '-c', code], check=True, capture_output=True,
                         text=True).stdout
    assert out.strip() == '[]'


def test_inject_shares_one_launch_between_the_requests(host, conf):
    disks = [host.disk('a.raw'), host.disk('b.raw')]
    requests = (inject.InjectionRequest(inject.DiskImage(d, 'raw'), key=KEY,
                                        files=[('/etc/motd', d.encode())]) for d in disks)
    reports = inject.inject(requests, conf=conf)       # any iterable
    assert [r.image for r in reports] == disks
    assert all(r.ok and r.committed for r in reports)
    assert len(host.runs) == 1 and len(host.runs[0]) == 2
    for d in disks:
        assert host.trees[d][1]['/etc/motd'].content == d.encode()


def test_inject_reads_inject_conf_by_default(host, override):
    override('inject_partition', -2, 'injection')      # on inject.conf.CONF
    disk = host.disk('d.raw')
    [rep] = inject.inject([inject.InjectionRequest(inject.DiskImage(disk, 'raw'),
                                                   files=[('/x', b'x')])])
    assert [(i.status, i.reason) for i in rep.items] == [
        (report.SKIPPED, 'not injected: disabled by inject_partition=-2 on this host')]
    assert host.runs == []


def test_status(host, conf, override):
    result = inject.status(conf=conf)
    assert result['ok'] is True and result['reason'] is None
    assert result['accelerator'] == 'tcg' and result['libguestfs'] == '1.48.6'
    override('inject_partition', -2, 'injection')
    result = inject.status()
    assert result['ok'] is False and 'disabled by inject_partition=-2' in result['reason']


# --- the command line, through the face --------------------------------------------------

@pytest.fixture
def cli(host, monkeypatch):
    """``inject`` on the shared CONF as the host fixture set it (no re-parse, no logging
    setup)."""
    monkeypatch.setattr(cmd_inject, '_setup', lambda args: None)
    return cmd_inject.main


def test_cli_image(cli, host, tmp_path, capsys):
    disk = host.disk('d.raw')
    motd = tmp_path / 'motd'
    motd.write_bytes(b'from the cli\n')
    assert cli(['image', disk, '--format', 'raw', '--file', '/etc/motd=%s' % motd,
                '--json']) == 0
    assert json.loads(capsys.readouterr().out)['ok'] is True
    assert host.trees[disk][1]['/etc/motd'].content == b'from the cli\n'
    assert len(host.runs) == 1


def test_cli_status(cli, override, capsys):
    assert cli(['status', '--json']) == 0
    assert json.loads(capsys.readouterr().out)['ok'] is True
    override('inject_partition', -2, 'injection')
    assert cli(['status']) == 1
    out, err = capsys.readouterr()
    assert out.startswith('injection works on this host: no\n')
    assert 'inject: the appliance works, but injection is disabled' in err


def test_agent_entry_points_register_what_they_read_on_the_conf_given():
    # as oslo.messaging does: no inject.conf.register_opts needed first
    from oslo_config import cfg
    from inject import agent
    conf = cfg.ConfigOpts()
    conf([], default_config_files=[])
    client = agent.AgentClient(conf)
    assert conf.agent.topic == 'inject-agent' and conf.agent.rpc_timeout == 900
    assert client.transport is not None
    assert 'api' not in conf and 'database' not in conf     # only what it reads
