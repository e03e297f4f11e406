"""The agent service over the in-process oslo.messaging transport, its client, its
configuration (transport_url, reload) and its sizing."""

import concurrent.futures
import logging
import re
import subprocess
import uuid

from futurist import _thread as futurist_thread
from oslo_config import cfg
import pytest

from inject import appliance
from inject import exception
from inject import image
from inject import inspection_cache
from inject import manager as manager_mod
from inject import paths
from inject import report as report_mod
from inject.agent import rpcapi
from inject.agent import service as service_mod
from inject.appliance import warm as appliance_warm
from inject.conf import agent as agent_conf
from inject.request import InjectionRequest

RABBIT = 'rabbit://u:p@127.0.0.1:5672/'
TIMEOUT = 5


# --- transport_url ------------------------------------------------------------------------
# A fresh ConfigOpts for each: oslo.config keeps an option's location at set_override
# after clear_override, so overriding [DEFAULT]transport_url on the shared CONF would
# leave every later test of this process on rabbit://.

def fresh_conf(tmp_path=None, text=None):
    c = cfg.ConfigOpts()
    # by group name: the shared OptGroup object would carry CONF's overrides along
    c.register_opts(agent_conf.agent_opts, group='agent')
    files = []
    if text is not None:
        path = tmp_path / 'inject.conf'
        path.write_text(text)
        files = [str(path)]
    c([], project='inject', default_config_files=files)
    return c


def test_transport_url_defaults_to_in_process():
    c = fresh_conf()
    assert rpcapi.transport_url(c) == rpcapi.IN_PROCESS_URL == 'fake:/'
    assert rpcapi.in_process(c)


def test_transport_url_set_override_counts_as_set():
    c = fresh_conf()
    assert rpcapi.transport_url(c) == 'fake:/'      # registers [DEFAULT]transport_url
    c.set_override('transport_url', RABBIT)
    assert c.get_location('transport_url').location == cfg.Locations.set_override
    assert rpcapi.transport_url(c) == RABBIT
    assert not rpcapi.in_process(c)


def test_transport_url_from_a_config_file(tmp_path):
    c = fresh_conf(tmp_path, '[DEFAULT]\ntransport_url = %s\n' % RABBIT)
    assert rpcapi.transport_url(c) == RABBIT
    assert c.get_location('transport_url').location == cfg.Locations.user
    assert not rpcapi.in_process(c)


def test_transport_url_of_the_shared_conf_is_in_process(conf):
    assert rpcapi.transport_url(conf) == 'fake:/'    # what the service tests below use


# --- default_max_appliances ---------------------------------------------------------------

@pytest.fixture
def meminfo(tmp_path):
    def write(text):
        path = tmp_path / 'meminfo'
        path.write_text(text)
        return str(path)
    return write


def mem(mb):
    return ('MemTotal:       16384000 kB\nMemFree:          100000 kB\n'
            'MemAvailable:   %8d kB\nBuffers:            1234 kB\n' % (mb * 1024))


TCG = {'accelerator': 'tcg'}


@pytest.mark.parametrize('cores, available_mb, max_batch, expected', [
    (8, 64000, 16, 8),          # memory for all: one per core
    (8, 3000, 16, 7),           # 3000 // (50 + 275 + 30 + 64) = 7
    (8, 2932, 16, 6),
    (8, 2933, 16, 7),
    (2, 3600, 1, 2),
    (8, 100, 16, 1),            # never 0
])
def test_default_max_appliances(monkeypatch, meminfo, cores, available_mb, max_batch,
                                expected):
    monkeypatch.setattr(service_mod.os, 'cpu_count', lambda: cores)
    assert service_mod.default_max_appliances(
        max_batch, meminfo(mem(available_mb)), appliance.Settings(**TCG)) == expected


@pytest.mark.parametrize('tb_size, available_mb, expected', [
    (0, 6100, 3),               # 6100 // (775 + 15 * 2 + 15 * 80) = 3
    (64, 6100, 14),             # 6100 // 419 = 14
])
def test_default_max_appliances_depends_on_tb_size(monkeypatch, meminfo, tb_size,
                                                   available_mb, expected):
    monkeypatch.setattr(service_mod.os, 'cpu_count', lambda: 16)
    settings = appliance.Settings(tb_size=tb_size, **TCG)
    assert service_mod.default_max_appliances(16, meminfo(mem(available_mb)),
                                              settings) == expected


def test_default_max_appliances_leaves_memory_for_warm_appliances(monkeypatch, meminfo):
    monkeypatch.setattr(service_mod.os, 'cpu_count', lambda: 16)
    settings = appliance.Settings(warm_max_disks=4, **TCG)
    per_warm = 50 + 275 + 3 * 2 + 64                  # 395 MB
    path = meminfo(mem(419 * 5 + per_warm * 2))
    assert service_mod.default_max_appliances(16, path, settings) == 6
    assert service_mod.default_max_appliances(16, path, settings, warm_appliances=2) == 5


def test_default_max_appliances_under_kvm(monkeypatch, meminfo):
    monkeypatch.setattr(service_mod.os, 'cpu_count', lambda: 16)
    kvm = appliance.Settings(accelerator='kvm')
    # 3555 // (50 + 300 + 15 * 3) = 9; TCG's 419 MB per appliance give 8
    assert service_mod.default_max_appliances(16, meminfo(mem(3555)), kvm) == 9
    # KVM on trial (auto) is counted as TCG: that is what runs if KVM fails
    monkeypatch.setattr(appliance.accelerator, 'kvm_usable', lambda: (True, None))
    auto = appliance.Settings(accelerator='auto')
    assert service_mod.default_max_appliances(16, meminfo(mem(3555)), auto) == 8


@pytest.mark.parametrize('text', [
    None, 'MemTotal: 1000 kB\n', 'MemAvailable: lots kB\n',
    'MemAvailable:\n',
], ids=['unreadable', 'no MemAvailable', 'not a number', 'empty'])
def test_default_max_appliances_without_memory_figure_is_one_per_core(
        monkeypatch, tmp_path, meminfo, text):
    monkeypatch.setattr(service_mod.os, 'cpu_count', lambda: 6)
    path = str(tmp_path / 'missing') if text is None else meminfo(text)
    assert service_mod.default_max_appliances(16, path) == 6


def test_default_max_appliances_without_cpu_count(monkeypatch, meminfo):
    monkeypatch.setattr(service_mod.os, 'cpu_count', lambda: None)
    assert service_mod.default_max_appliances(16, meminfo(mem(64000))) == 1


# --- the service, in-process ----------------------------------------------------------------

class StubManager:
    """Stands in for inject.manager.Manager: records batches, answers a status."""

    def __init__(self):
        self.batches = []
        self.status_result = {'accelerator': 'tcg', 'kernel_boot': 'pvh',
                              'launch_seconds': 14.2, 'reason': None}

    def inject(self, requests, on_report=None, owner=None):
        self.batches.append(list(requests))
        reports = []
        for r in requests:
            rep = report_mod.Report(image=r.image.path, format=r.image.format,
                                    request_id=r.request_id, accelerator='tcg',
                                    committed=True)
            rep.items = [report_mod.ItemResult(kind='file', target=p,
                                               status=report_mod.INJECTED)
                         for p, _ in r.files]
            reports.append(rep)
        return reports

    def scheduling_keys(self, request):
        return {'disk:' + request.image.path}

    def still_exclusive(self, key):
        return True

    def status(self):
        return dict(self.status_result)

    def stop_appliances(self, reason):
        self.stopped = reason
        return 0


@pytest.fixture(autouse=True)
def quick_rpc_server_stop(monkeypatch):
    """The RPC server's worker threads notice a stop only after idling this long (1 s
    in futurist), which rpc_server.wait() sits out."""
    monkeypatch.setattr(futurist_thread.ThreadWorker, 'MAX_IDLE_FOR', 0.02)


@pytest.fixture
def start(conf, override):
    """``start()``: an AgentService on the in-process transport with a StubManager, and
    a client sharing that transport. Every service is stopped afterwards."""
    started = []
    override('batch_window', 0.0, 'agent')
    override('drain_timeout', 1, 'agent')
    override('max_appliances', 2, 'agent')
    override('selftest_interval', 0, 'agent')

    def start():
        override('host', 'agent-%s' % uuid.uuid4().hex[:8], 'agent')
        transport = rpcapi.get_transport(conf)
        service = service_mod.AgentService(conf, transport=transport,
                                           manager=StubManager())
        service.start(selftest=False)
        started.append(service)
        return service, rpcapi.AgentClient(conf, transport=transport)

    yield start
    for service in started:
        service.stop()
        service.transport.cleanup()
        service.scheduler._dispatcher.join(TIMEOUT)
        assert not service.scheduler._dispatcher.is_alive()


@pytest.fixture
def agent(start):
    return start()


def request(path='/images/d.qcow2', **kwargs):
    return InjectionRequest(image.DiskImage(path, 'qcow2'),
                            files=[('/etc/motd', b'hi\n')], **kwargs)


def test_inject_returns_the_report_with_host_and_instance(agent):
    service, client = agent
    result = client.inject(service.host, request(request_id='req-1'), instance_id='i-1',
                           project_id='p-1', timeout=TIMEOUT)
    assert result['host'] == service.host and result['instance_id'] == 'i-1'
    assert result['image'] == '/images/d.qcow2' and result['format'] == 'qcow2'
    assert result['ok'] is True and result['request_id'] == 'req-1'
    assert result['items'][0]['target'] == '/etc/motd'
    [[got]] = service.manager.batches
    assert got.files == [('/etc/motd', b'hi\n')] and got.request_id == 'req-1'


def test_inject_without_instance_id(agent):
    service, client = agent
    result = client.inject(service.host, request(), timeout=TIMEOUT)
    assert result['instance_id'] is None and result['host'] == service.host


def test_requests_of_one_project_share_a_batch(start, override):
    override('batch_window', 0.2, 'agent')
    service, client = start()
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        calls = [pool.submit(client.inject, service.host, request(path), project_id=project,
                             timeout=TIMEOUT)
                 for path, project in (('/i/a', 'p1'), ('/i/b', 'p2'), ('/i/c', 'p1'))]
        results = [c.result() for c in calls]
    assert [r['image'] for r in results] == ['/i/a', '/i/b', '/i/c']
    assert sorted(sorted(r.image.path for r in batch)
                  for batch in service.manager.batches) == [
        ['/i/a', '/i/c'], ['/i/b']]


def test_invalid_payload_comes_back_as_a_failed_report(agent):
    service, client = agent
    bad = {'instance_id': 'i-2', 'image': {'path': '/images/d.raw', 'format': 'raw'},
           'files': [{'path': '/etc/motd', 'contents': '%%% not base64'}]}
    result = client._call(service.host, 'inject', TIMEOUT, payload=bad)
    assert result['ok'] is False
    assert 'file /etc/motd is not valid base64' in result['error']
    assert (result['image'], result['format']) == ('/images/d.raw', 'raw')
    assert (result['host'], result['instance_id']) == (service.host, 'i-2')
    assert service.manager.batches == []


@pytest.mark.parametrize('bad', [None, [], {'files': 'x'}], ids=['None', 'list', 'no image'])
def test_malformed_payloads_come_back_as_failed_reports(agent, bad):
    service, _ = agent
    result = service.inject(bad)
    assert result['ok'] is False and 'malformed request payload' in result['error']
    assert result['image'] is None and result['host'] == service.host


def test_image_that_is_not_a_dict_comes_back_as_a_failed_report(agent):
    service, _ = agent
    result = service.inject({'image': 'd.raw'})
    assert result['ok'] is False and 'malformed request payload' in result['error']


def test_capabilities_follow_inject_partition_live(agent, override):
    service, client = agent
    override('inject_partition', -2, 'injection')
    caps = client.capabilities(service.host, timeout=TIMEOUT)
    assert caps['host'] == service.host
    assert (caps['inject_partition'], caps['injection_enabled']) == (-2, False)
    assert caps['can_inject'] is False
    override('inject_partition', 1, 'injection')
    caps = client.capabilities(service.host, timeout=TIMEOUT)
    assert (caps['inject_partition'], caps['injection_enabled']) == (1, True)
    assert (caps['max_appliances'], caps['max_batch'], caps['batch_window']) == (2, 16, 0.0)
    assert (caps['running'], caps['queued']) == (0, 0)


def test_capabilities_report_the_last_selftest(agent, override):
    service, client = agent
    override('inject_partition', 1, 'injection')
    caps = client.capabilities(service.host, timeout=TIMEOUT)
    assert caps['last_selftest']['reason'] == 'not run yet'
    assert caps['can_inject'] is False and caps['accelerator'] is None

    service.run_selftest()
    caps = client.capabilities(service.host, timeout=TIMEOUT)
    assert caps['can_inject'] is True and caps['accelerator'] == 'tcg'
    assert caps['last_selftest']['launch_seconds'] == 14.2
    assert caps['last_selftest']['kernel_boot'] == 'pvh'
    assert caps['last_selftest']['launch_seconds'] == 14.2
    assert caps['last_selftest']['reason'] is None and caps['last_selftest']['when']

    service.manager.status_result = {'accelerator': None, 'kernel_boot': None,
                                     'launch_seconds': None,
                                     'reason': 'qemu exited unexpectedly'}
    service.run_selftest()
    caps = client.capabilities(service.host, timeout=TIMEOUT)
    assert caps['can_inject'] is False and caps['accelerator'] is None
    assert caps['last_selftest']['ok'] is False
    assert caps['last_selftest']['reason'] == 'qemu exited unexpectedly'


def test_selftest_ok_but_injection_disabled_cannot_inject(agent, override):
    service, client = agent
    override('inject_partition', -2, 'injection')
    service.run_selftest()
    assert client.capabilities(service.host, timeout=TIMEOUT)['can_inject'] is False


def test_capabilities_reason_says_why_injection_is_known_not_to_work(agent, override,
                                                                      monkeypatch):
    service, client = agent
    override('inject_partition', 1, 'injection')
    loads = []
    monkeypatch.setattr(service_mod.vfs, 'load_driver', lambda: loads.append(1))
    caps = client.capabilities(service.host, timeout=TIMEOUT)
    # no self-test yet: not proven to work, but nothing known against it
    assert caps['can_inject'] is False and caps['reason'] is None
    service.run_selftest()
    caps = client.capabilities(service.host, timeout=TIMEOUT)
    assert caps['can_inject'] is True and caps['reason'] is None
    assert loads == [1]            # the binding is loaded once, then remembered

    service.manager.status_result = {'accelerator': None, 'kernel_boot': None,
                                     'launch_seconds': None,
                                     'reason': 'qemu exited unexpectedly'}
    service.run_selftest()
    assert client.capabilities(service.host, timeout=TIMEOUT)['reason'] == (
        'the last self-test failed: qemu exited unexpectedly')

    override('inject_partition', -2, 'injection')
    assert client.capabilities(service.host, timeout=TIMEOUT)['reason'] == (
        'injection is disabled ([injection]inject_partition = -2)')


def test_capabilities_reason_when_libguestfs_cannot_be_loaded(agent, override,
                                                              monkeypatch):
    service, client = agent
    override('inject_partition', 1, 'injection')

    def broken():
        raise exception.VFSDriverUnavailable(reason='No module named guestfs')
    monkeypatch.setattr(service_mod.vfs, 'load_driver', broken)
    caps = client.capabilities(service.host, timeout=TIMEOUT)
    assert caps['can_inject'] is False and 'No module named guestfs' in caps['reason']
    monkeypatch.setattr(service_mod.vfs, 'load_driver', lambda: None)
    assert client.capabilities(service.host, timeout=TIMEOUT)['reason'] is None


def test_unknown_host_times_out(agent):
    _, client = agent
    with pytest.raises(exception.AgentTimeout) as e:
        client.capabilities('no-such-host', timeout=1)
    assert 'no-such-host' in str(e.value) and 'within 1 s' in str(e.value)


def test_inject_after_stop_answers_agent_stopping(start):
    service, _ = start()
    service.stop()
    result = service.inject({'image': {'path': '/d.raw', 'format': 'raw'}})
    assert result['ok'] is False and 'stopped before this request was done' in \
        result['error']
    assert service.manager.batches == []


def test_max_appliances_from_conf_or_default(start, override, monkeypatch):
    service, _ = start()
    assert service.max_appliances == 2 and service.scheduler.max_appliances == 2
    override('max_appliances', 0, 'agent')
    override('warm_appliances', 3, 'appliance')
    override('tb_size', 32, 'appliance')
    asked = []

    def default(max_batch, **kwargs):
        asked.append((max_batch, kwargs))
        return 7
    monkeypatch.setattr(service_mod, 'default_max_appliances', default)
    service, _ = start()
    assert service.max_appliances == 7
    [(max_batch, kwargs)] = asked
    assert kwargs['warm_appliances'] == 3 and kwargs['settings'].tb_size == 32


def test_start_in_process(conf, override):
    override('host', 'agent-%s' % uuid.uuid4().hex[:8], 'agent')
    override('drain_timeout', 1, 'agent')
    override('max_appliances', 1, 'agent')
    service, client = service_mod.start_in_process(conf, selftest=False)
    try:
        assert isinstance(service.manager, manager_mod.Manager)
        assert client.transport is service.transport
        assert client.capabilities(service.host, timeout=TIMEOUT)['host'] == service.host
    finally:
        service.stop()
        service.transport.cleanup()


def test_the_agent_names_a_base_image_once_per_request(conf, override, tmp_path,
                                                        monkeypatch):
    """Naming a base image reads its first MiB: once per request, however many batches
    the request waits through."""
    images = tmp_path / 'images'
    images.mkdir()
    base = str(images / 'base.raw')
    subprocess.run(['qemu-img', 'create', '-q', '-f', 'raw', base, '1M'], check=True)
    disks = []
    for name in ('a', 'b', 'c'):
        disks.append(str(images / ('%s.qcow2' % name)))
        subprocess.run(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', base,
                        disks[-1]], check=True)
    override('state_path', str(tmp_path))
    override('image_dirs', [str(images)], 'injection')
    override('inject_partition', -1, 'injection')
    override('warm_appliances', 0, 'appliance')
    override('host', 'agent-%s' % uuid.uuid4().hex[:8], 'agent')
    override('batch_window', 0.2, 'agent')
    override('max_appliances', 1, 'agent')
    override('drain_timeout', 1, 'agent')
    named = []
    key_for = inspection_cache.key_for
    monkeypatch.setattr(inspection_cache, 'key_for',
                        lambda chain: named.append(chain[-1].path) or key_for(chain))
    batches = []

    def inject(self, requests, on_report=None, owner=None):  # no appliance: the base is never inspected
        batches.append([r.image.path for r in requests])
        return [report_mod.Report(image=r.image.path, format='qcow2') for r in requests]
    monkeypatch.setattr(manager_mod.Manager, 'inject', inject)
    transport = rpcapi.get_transport(conf)
    service = service_mod.AgentService(conf, transport=transport)
    service.start(selftest=False)
    try:
        client = rpcapi.AgentClient(conf, transport=transport)
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            calls = [pool.submit(client.inject, service.host, request(disk, partition=-1),
                                 project_id='p1', timeout=TIMEOUT) for disk in disks]
            assert [c.result()['image'] for c in calls] == disks
    finally:
        service.stop()
        transport.cleanup()
    assert sorted(batches) == [[d] for d in disks]       # one base to inspect: apart
    assert named == [base] * 3


def test_a_request_is_decoded_and_its_paths_normalised_once(conf, override, tmp_path,
                                                             monkeypatch):
    override('state_path', str(tmp_path))
    override('inject_partition', -2, 'injection')     # the real manager, no appliance
    override('warm_appliances', 0, 'appliance')
    override('host', 'agent-%s' % uuid.uuid4().hex[:8], 'agent')
    override('drain_timeout', 1, 'agent')
    req = InjectionRequest(image.DiskImage(str(tmp_path / 'd.qcow2'), 'qcow2'),
                           files=[('etc/motd', b'hi\n'), ('/etc/../etc/app.ini', b'x')])
    decoded, normalised = [], []
    from_dict, normalise = service_mod.payload_mod.from_dict, paths.normalise
    monkeypatch.setattr(service_mod.payload_mod, 'from_dict',
                        lambda data: decoded.append(data) or from_dict(data))
    monkeypatch.setattr(paths, 'normalise',
                        lambda path: normalised.append(path) or normalise(path))
    transport = rpcapi.get_transport(conf)
    service = service_mod.AgentService(conf, transport=transport)
    service.start(selftest=False)
    try:
        result = rpcapi.AgentClient(conf, transport=transport).inject(
            service.host, req, timeout=TIMEOUT)
    finally:
        service.stop()
        transport.cleanup()
    assert [i['target'] for i in result['items']] == ['/etc/motd', '/etc/app.ini']
    assert all(i['status'] == report_mod.SKIPPED for i in result['items'])
    assert len(decoded) == 1
    assert normalised == ['/etc/motd', '/etc/app.ini']     # as the client sent them


# --- reload ------------------------------------------------------------------------------------

@pytest.fixture
def conf_file(conf, tmp_path):
    """CONF parsed from a config file (written by the test); reparsed without it after."""
    path = tmp_path / 'inject.conf'

    def parse(text):
        path.write_text(text)
        conf([], project='inject', default_config_files=[str(path)])
        return path

    yield parse
    conf([], project='inject', default_config_files=[])


def test_reload_changes_mutable_options_and_logs_them(start, conf, conf_file, caplog):
    path = conf_file('[injection]\ninject_partition = -2\n[agent]\nbatch_window = 0.5\n')
    assert conf.injection.inject_partition == -2
    service, client = start()
    assert client.capabilities(service.host, timeout=TIMEOUT)['inject_partition'] == -2

    path.write_text('[injection]\ninject_partition = 1\n[agent]\nbatch_window = 0.5\n')
    with caplog.at_level(logging.WARNING, logger='inject.agent.service'):
        service.reload()
    assert conf.injection.inject_partition == 1
    assert client.capabilities(service.host, timeout=TIMEOUT)['inject_partition'] == 1
    changed = [r.getMessage() for r in caplog.records
               if r.name == 'inject.agent.service' and r.levelno == logging.WARNING
               and r.getMessage().startswith('Configuration changed')]
    # oslo.config hands the hook the values as written in the file (strings)
    assert len(changed) == 1, changed
    assert re.fullmatch(r"Configuration changed: \[injection\]inject_partition = "
                        r"'?1'? \(was '?-2'?\)", changed[0]), changed[0]


def test_reload_updates_the_scheduler(conf, conf_file, start, override):
    path = conf_file('[agent]\nmax_batch = 4\n')
    service, _ = start()
    # the fixture's override of batch_window hides the file's value; max_batch is not
    assert service.scheduler.max_batch == 4
    path.write_text('[agent]\nmax_batch = 9\n')
    service.reload()
    assert service.scheduler.max_batch == 9
    assert service.capabilities()['max_batch'] == 9


def test_a_stopped_service_is_no_longer_told_about_changes(conf, override):
    override('drain_timeout', 1, 'agent')
    service, _ = service_mod.start_in_process(conf, selftest=False)
    service.stop()
    service.transport.cleanup()
    assert service not in service_mod._LIVE


@pytest.mark.parametrize('size', [0, 2])
def test_the_real_manager_gets_a_warm_pool_of_the_configured_size(conf, override, size,
                                                                   monkeypatch):
    override('warm_appliances', size, 'appliance')
    override('warm_max_disks', 3, 'appliance')
    override('host', 'agent-%s' % uuid.uuid4().hex[:8], 'agent')
    launched = []
    monkeypatch.setattr(appliance_warm, 'launch_warm', lambda settings: launched.append(1))
    transport = rpcapi.get_transport(conf)
    service = service_mod.AgentService(conf, transport=transport)
    try:
        if size:
            assert service.manager.pool is service.pool
            assert (service.pool.size, service.pool.max_disks) == (2, 3)
        else:
            assert service.pool is None and service.manager.pool is None
        assert service.capabilities()['warm_appliances'] == 0     # none launched yet
        assert launched == []          # the pool launches at start(), not before
    finally:
        service.transport.cleanup()


# --- payloads the agent cannot decode are answered, never dropped ---------------------------

def test_a_call_without_payload_is_answered_with_a_failed_report(agent):
    service, client = agent
    result = client._call(service.host, 'inject', TIMEOUT)
    assert result['ok'] is False
    assert result['error'] == ('Invalid injection request: malformed request payload (the '
                               'payload argument is missing).')
    assert result['host'] == service.host


def test_a_call_with_unexpected_arguments_is_answered_with_a_failed_report(agent):
    service, client = agent
    good = {'image': {'path': '/images/d.raw', 'format': 'raw'}, 'instance_id': 'i-3'}
    result = client._call(service.host, 'inject', TIMEOUT, payload=good, priority=1,
                          dry_run=True)
    assert result['ok'] is False
    assert 'unexpected argument(s): dry_run, priority' in result['error']
    assert (result['image'], result['instance_id']) == ('/images/d.raw', 'i-3')
    assert service.manager.batches == []


def test_a_payload_the_decoder_did_not_foresee_is_answered(agent, monkeypatch):
    service, client = agent

    def broken(payload):
        raise KeyError('surprise')
    monkeypatch.setattr(service_mod.payload_mod, 'from_dict', broken)
    result = client._call(service.host, 'inject', TIMEOUT,
                          payload={'image': {'path': 5, 'format': []}, 'instance_id': {}})
    assert result['ok'] is False
    assert result['error'] == ("Invalid injection request: malformed request payload "
                               "(KeyError: 'surprise').")
    assert (result['image'], result['format'], result['instance_id']) == (None, None, None)


def test_a_failure_while_queueing_is_answered(agent, monkeypatch):
    service, client = agent

    def broken(request):
        raise ValueError('embedded null byte')
    monkeypatch.setattr(service.scheduler, '_keys', broken)
    result = client.inject(service.host, request(), timeout=TIMEOUT)
    assert result['ok'] is False
    assert result['error'] == ('internal error of the agent: ValueError: embedded null '
                               'byte')


def test_a_batch_refused_for_memory_fails_each_request_with_the_numbers(start, monkeypatch):
    def short_of_memory(self, requests, on_report=None, owner=None):
        raise exception.NotEnoughMemory(need=409, what='tcg, 1 drive(s)', available=300,
                                        pending=0)
    monkeypatch.setattr(StubManager, 'inject', short_of_memory)
    service, client = start()
    result = client.inject(service.host, request(), instance_id='i-1', timeout=TIMEOUT)
    assert result['ok'] is False
    assert result['error'].startswith('Not enough memory to start an appliance: it needs '
                                      'about 409 MB (tcg, 1 drive(s)), the host has 300 MB')
