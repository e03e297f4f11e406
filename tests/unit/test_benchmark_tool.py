"""tools/benchmark.py's own logic (no appliance): projects of case (d), the check that no
appliance held two projects' disks, the timing medians, the configuration it writes, and
the rpc cases' set-up when RabbitMQ is missing."""

import configparser
import os
import subprocess

from tests import tools

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


benchmark = tools.load('benchmark')
bench_rpc = tools.load('bench_rpc')


def test_case_d_is_four_projects_of_four_disks():
    projects = benchmark.projects_for('d', 16)
    assert projects == ['bench-p%d' % (i // 4 + 1) for i in range(16)]
    assert benchmark.projects_for('c', 3) == ['bench'] * 3


def test_an_appliance_with_two_projects_is_named():
    reports = [{'appliance': 'app-1', 'project': 'bench-p1'},
               {'appliance': 'app-1', 'project': 'bench-p1'},
               {'appliance': 'app-2', 'project': 'bench-p2'},
               {'appliance': 'app-3', 'project': 'bench-p3'},
               {'appliance': 'app-3', 'project': 'bench-p4'},
               {'appliance': None, 'project': 'bench-p4'}]
    assert benchmark.mixed_projects(reports) == {'app-3': ['bench-p3', 'bench-p4']}
    assert benchmark.mixed_projects(reports[:3]) == {}


def test_a_row_with_mixed_projects_is_not_ok(capsys):
    reports = [dict(benchmark.summarize({'ok': True, 'appliance': 'app-1',
                                         'timings': {'mount': 1.0}}, project))
               for project in ('bench-p1', 'bench-p2')]
    row = benchmark.make_row('d', 'inject', [10.0], [900.0], True, reports, reports, 'tcg')
    assert row['ok'] is False
    assert 'mixed projects: app-1 held bench-p1, bench-p2' in capsys.readouterr().out
    row = benchmark.make_row('d', 'inject', [10.0], [900.0], True, reports[:1],
                             reports[:1], 'tcg')
    assert row['ok'] is True
    assert 'mixed projects: none' in capsys.readouterr().out


def test_timings_are_medians_over_the_reports_that_have_them():
    reports = [{'timings': {'mount': 1.0, 'writes': 0.2}},
               {'timings': {'mount': 3.0, 'writes': 0.4, 'launch': 12.0}},
               {'timings': {'mount': 2.0, 'writes': 0.9}}]
    assert benchmark.median_timings(reports) == {'launch': 12.0, 'mount': 2.0,
                                                 'writes': 0.4}


def test_reps_report_the_median_wall_time():
    row = benchmark.make_row('a', 'inject', [5.0, 3.0, 4.0], [900.0, 950.0, 920.0], True,
                             [], [], 'tcg')
    assert row['wall'] == 4.0 and row['rss_mb'] == 950.0
    assert row['per_min'] == 15.0


def test_config_leaves_batch_window_to_inject_and_sets_the_accelerator():
    text = benchmark.config_writer('/w', ['kernel_boot=stock'], 'tcg')(
        '/w/state', {'agent': {'host': 'bench-1'}, 'DEFAULT': {'transport_url': 'x:/'}})
    conf = configparser.ConfigParser()
    conf.read_string(text)
    assert 'batch_window' not in conf['agent']
    assert conf['agent']['host'] == 'bench-1' and conf['agent']['max_batch'] == '16'
    assert conf['appliance']['accelerator'] == 'tcg'
    assert conf['appliance']['kernel_boot'] == 'stock'
    assert conf['DEFAULT']['state_path'] == '/w/state'
    default = configparser.ConfigParser()
    default.read_string(benchmark.config_writer('/w')('/w/state'))
    assert 'accelerator' not in default['appliance']


def test_nova_and_virt_copy_in_follow_the_accelerator():
    assert benchmark.libguestfs_env('kvm')['LIBGUESTFS_BACKEND_SETTINGS'] == 'force_kvm'
    assert benchmark.libguestfs_env('tcg')['LIBGUESTFS_BACKEND_SETTINGS'] == 'force_tcg'
    assert benchmark.libguestfs_env('kvm')['BENCH_ACCELERATOR'] == 'kvm'


def test_without_rabbitmq_the_reason_is_given(tmp_path):
    (tmp_path / 'tools').mkdir()
    (tmp_path / 'tools' / 'rabbitmq.sh').write_text(
        'echo "rabbitmq: cannot install rabbitmq-server" >&2; exit 100\n')
    url, why = bench_rpc.rabbit_url(str(tmp_path))
    assert url is None
    assert 'failed (100)' in why and 'cannot install rabbitmq-server' in why
    assert bench_rpc.rabbit_url(str(tmp_path), 'rabbit://given') == ('rabbit://given', None)


def test_rpc_cases_are_skipped_with_the_reason(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(bench_rpc, 'rabbit_url', lambda top, given: (None, 'no broker'))
    monkeypatch.setattr(benchmark, 'bench_rpc', bench_rpc)

    class Args:
        transport_url = None
        reps = 1
    rows, skipped = benchmark.run_rows(Args, ['a-rpc', 'c-rpc'], ['inject'],
                                       (str(tmp_path),) + (None,) * 6, None, 'tcg')
    assert rows == []
    assert skipped == {'a-rpc': 'RabbitMQ is not available: no broker',
                       'c-rpc': 'RabbitMQ is not available: no broker'}
    assert 'case (a-rpc) skipped: RabbitMQ is not available' in capsys.readouterr().out
    benchmark.print_table(rows, skipped)
    assert '| (c-rpc) | inject | 16 | - | - | - | skipped: RabbitMQ' in (
        capsys.readouterr().out)


def test_requests_spread_and_failures_become_failed_reports():
    def one(i):
        if i == 2:
            raise RuntimeError('no agent')
        return {'ok': True, 'i': i}
    reports, seconds = bench_rpc.send_all(one, 4)
    assert [r['ok'] for r in reports] == [True, True, False, True]
    assert reports[2]['error'] == 'RuntimeError: no agent'
    assert seconds >= 0


def test_the_wait_outside_the_agents_work_is_kept():
    kept = benchmark.summarize({'ok': True, 'bench_seconds': 3.5,
                                'timings': {'total': 2.9, 'launch': 0.0,
                                            'warm_launch': 9.0}}, 'bench')
    assert abs(kept['timings']['outside'] - 0.6) < 1e-9
    assert kept['warm'] is True and 'warm_launch' not in kept['timings']
    assert 'outside' not in benchmark.summarize({'ok': False, 'timings': {}},
                                                'bench')['timings']


def test_an_agent_that_dies_skips_the_rpc_cases_with_its_reason(tmp_path, monkeypatch):
    from inject.agent import rpcapi
    events = []

    class DeadAgents:
        hosts = bench_rpc.HOSTS

        def __init__(self, *args):
            pass

        def start(self):
            events.append('start')

        def pids(self):
            return []

        def wait_warm(self, client, warm):
            raise RuntimeError('inject-agent bench-1 exited (1): boom')

        def stop(self):
            events.append('stop')

    monkeypatch.setattr(benchmark.bench_rpc, 'rabbit_url', lambda top, given: ('x:/', None))
    monkeypatch.setattr(benchmark.bench_rpc, 'Agents', DeadAgents)
    monkeypatch.setattr(rpcapi, 'get_transport', lambda conf, url: None)
    monkeypatch.setattr(rpcapi, 'AgentClient', lambda conf, transport: None)
    images = tmp_path / 'images'
    images.mkdir()
    base = str(images / 'base.qcow2')
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', base, '1M'], check=True)

    class Args:
        transport_url = None
        reps = 1

    class Conf:
        class appliance:
            warm_appliances = 1
    rows, skipped = benchmark.run_rows(
        Args, ['a-rpc', 'c-rpc'], ['inject'],
        (str(tmp_path), str(images), base, None, None, None, None), Conf, 'tcg')
    assert rows == []
    assert skipped == {case: 'inject-agent bench-1 exited (1): boom'
                       for case in ('a-rpc', 'c-rpc')}
    assert events == ['start', 'stop']
    assert sorted(os.listdir(images)) == ['base.qcow2']      # no disk left behind
