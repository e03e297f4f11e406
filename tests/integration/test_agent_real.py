"""The agent for real: two inject-agent daemons on a real RabbitMQ (loopback), and an
in-process agent batching requests into shared appliance launches."""

import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from inject import agent
from inject.agent import rpcapi
from inject import exception
from inject import image
from inject import request
from tests.integration.conftest import CACHE_DIR
from tests.integration.conftest import FILES

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AGENT = os.path.join(os.path.dirname(sys.executable), 'inject-agent')


@pytest.fixture(scope='module')
def rabbit_url():
    url = os.environ.get('INJECT_TEST_TRANSPORT_URL')
    if not url:
        url = subprocess.run(['bash', os.path.join(TOP, 'tools', 'rabbitmq.sh')],
                             check=True, capture_output=True, text=True).stdout.split()[-1]
    return url


def _write_config(path, state, url, host, partition):
    path.write_text(
        '[DEFAULT]\nstate_path = %s\ntransport_url = %s\n'
        '[agent]\nhost = %s\nselftest_interval = -1\nbatch_window = 0.2\n'
        'drain_timeout = 300\n'
        '[appliance]\ncache_dir = %s\n'
        '[injection]\ninject_partition = %d\nimage_dirs = %s\n'
        % (state, url, host, CACHE_DIR, partition, os.path.join(state, 'images')))


class AgentProcess:
    def __init__(self, tmp, url, host, partition):
        self.host = host
        self.state = tmp / host
        self.state.mkdir()
        self.config = tmp / (host + '.conf')
        _write_config(self.config, str(self.state), url, host, partition)
        self.log = tmp / (host + '.log')
        self.proc = subprocess.Popen([AGENT, '--config-file', str(self.config)],
                                     stdout=open(self.log, 'w'), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def set_partition(self, partition, url):
        _write_config(self.config, str(self.state), url, self.host, partition)
        self.proc.send_signal(signal.SIGHUP)

    def log_text(self):
        return self.log.read_text()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(120)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture(scope='module')
def rabbit_agents(rabbit_url, tmp_path_factory, conf):
    tmp = tmp_path_factory.mktemp('agents')
    agents = {host: AgentProcess(tmp, rabbit_url, host, -2) for host in ('agent-a', 'agent-b')}
    try:
        client = agent.AgentClient(conf, transport=rpcapi.get_transport(conf, url=rabbit_url))
        deadline = time.monotonic() + 180
        for host in agents:
            while True:
                try:
                    client.capabilities(host, timeout=5)
                    break
                except exception.AgentTimeout:
                    assert time.monotonic() < deadline, (
                        '%s did not answer: %s' % (host, agents[host].log_text()[-4000:]))
        yield client, agents
    finally:
        for a in agents.values():
            a.stop()


def _request(path, **kwargs):
    return request.InjectionRequest(image.DiskImage(path, 'qcow2'), **kwargs)


def test_each_request_reaches_the_named_host(rabbit_agents, images):
    client, agents = rabbit_agents
    for host in agents:
        caps = client.capabilities(host)
        assert caps['host'] == host and caps['inject_partition'] == -2
        assert caps['can_inject'] is False and caps['injection_enabled'] is False
        report = client.inject(host, _request(images['noos'], files=FILES), project_id='p')
        assert report['host'] == host
        assert not report['ok']
        assert {i['reason'] for i in report['items']} == {
            'not injected: disabled by inject_partition=-2 on this host'}


def test_a_host_without_agent_times_out_clearly(rabbit_agents, images):
    client, _ = rabbit_agents
    start = time.monotonic()
    with pytest.raises(exception.AgentTimeout) as e:
        client.inject('agent-c', _request(images['noos'], files=FILES), timeout=3)
    assert time.monotonic() - start < 30
    assert 'No injection agent on host agent-c answered within 3 s' in str(e.value)


def test_sighup_turns_injection_on_and_sigterm_drains(rabbit_agents, rabbit_url, images,
                                                     tmp_path):
    client, agents = rabbit_agents
    a = agents['agent-a']
    disk = str(tmp_path / 'drain.qcow2')
    shutil.copyfile(images['mbr'], disk)
    os.makedirs(os.path.join(a.state, 'images'), exist_ok=True)

    a.set_partition(1, rabbit_url)
    deadline = time.monotonic() + 30
    while client.capabilities('agent-a')['inject_partition'] != 1:
        assert time.monotonic() < deadline, a.log_text()[-4000:]
        time.sleep(0.2)
    assert 'Configuration changed: [injection]inject_partition = 1 (was -2)' in a.log_text()

    replies = []
    worker = threading.Thread(target=lambda: replies.append(
        client.inject('agent-a', _request(disk, files=FILES), project_id='p',
                      timeout=600)))
    worker.start()
    time.sleep(2)                      # the request is in the agent: now stop it
    a.proc.send_signal(signal.SIGTERM)
    worker.join(600)
    assert a.proc.wait(60) == 0
    report, = replies
    assert report['ok'], (report, a.log_text()[-4000:])
    assert report['host'] == 'agent-a' and report['committed']
    assert [i['status'] for i in report['items']] == ['injected'] * 3
    assert 'stopped (0 request(s) answered with an error)' in a.log_text()


def test_in_process_agent_batches_one_project_per_launch(conf, images, tmp_path):
    for name in ('inject_partition',):
        conf.set_override(name, 1, 'injection')
    conf.set_override('batch_window', 1.0, 'agent')
    conf.set_override('max_appliances', 2, 'agent')
    service, client = agent.start_in_process(conf, selftest=False)
    try:
        disks = {}
        for name in ('p1-a', 'p1-b', 'p1-c', 'p2-a'):
            disks[name] = str(tmp_path / (name + '.qcow2'))
            shutil.copyfile(images['mbr'], disks[name])
        replies = {}

        def send(name):
            replies[name] = client.inject(conf.agent.host, _request(disks[name], files=FILES),
                                          project_id=name[:2], instance_id=name)

        threads = [threading.Thread(target=send, args=(n,)) for n in disks]
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        assert all(replies[n]['ok'] for n in disks), replies
        assert service.scheduler.batches == 2
        launches = {n: replies[n]['timings']['launch'] for n in disks}
        assert launches['p1-a'] == launches['p1-b'] == launches['p1-c']
        assert launches['p2-a'] != launches['p1-a']
        devices = sorted(replies[n]['partition_used'] for n in ('p1-a', 'p1-b', 'p1-c'))
        assert devices == ['/dev/sda1', '/dev/sdb1', '/dev/sdc1']
        assert replies['p2-a']['partition_used'] == '/dev/sda1'
    finally:
        service.stop()
        conf.clear_override('inject_partition', 'injection')
        conf.clear_override('batch_window', 'agent')
        conf.clear_override('max_appliances', 'agent')


def _expected_error(bad):
    """What the agent's decoder says of ``bad`` in-process."""
    from inject.agent import payload as payload_mod
    try:
        payload_mod.from_dict(bad)
        payload_mod.project_of(bad)
    except exception.InjectError as e:
        return str(e)
    raise AssertionError('%r decodes' % (bad,))


def test_hostile_payloads_over_rabbitmq_are_answered_naming_the_problem(
        rabbit_agents, rabbit_url, conf):
    import oslo_messaging as messaging
    _, agents = rabbit_agents
    transport = rpcapi.get_transport(conf, url=rabbit_url)
    raw = messaging.get_rpc_client(transport, messaging.Target(
        topic=conf.agent.topic, version=rpcapi.VERSION)).prepare(server='agent-b',
                                                                 timeout=60)
    good = {'image': {'path': '/images/d.qcow2', 'format': 'qcow2'},
            'files': [{'path': '/etc/motd', 'contents': 'aGkK'}], 'instance_id': 'i-1'}

    def variant(**changes):
        bad = dict(good, **changes)
        return bad

    cases = {
        'bad base64': (variant(files=[{'path': '/etc/motd', 'contents': '%%%'}]),
                       'file /etc/motd is not valid base64'),
        'image path not text': (variant(image={'path': 5, 'format': 'qcow2'}),
                                'image.path must be a string, not int'),
        'partition not int': (variant(partition='1'),
                              "partition must be an integer >= -2, not '1'"),
        'files not a list': (variant(files='x'), 'files must be a list, not str'),
        'no image': ({'files': []}, 'image is missing'),
        'no contents': (variant(files=[{'path': '/etc/motd'}]),
                        'files[0].contents is missing'),
        'huge image path': (variant(image={'path': '/' + 'a' * 200000, 'format': 'qcow2'}),
                            'image.path is longer than 4096 bytes'),
        'huge guest path': (variant(files=[{'path': '/' + 'b' * 200000, 'contents': ''}]),
                            'it is longer than 4096 bytes'),
        'dot-dot': (variant(files=[{'path': '../../etc/shadow', 'contents': 'aGkK'}]),
                    "'..' climbs above the guest root"),
        'password of 5000 bytes': (variant(admin_password='p' * 5000),
                                   'the admin password is 5000 bytes long'),
        'NUL in image path': (variant(image={'path': '/i/\0d', 'format': 'qcow2'}),
                              'image.path contains a NUL byte'),
        'not an object': (['x'], 'the payload must be an object, not list'),
    }
    for name, (bad, problem) in cases.items():
        answer = raw.call({}, 'inject', payload=bad)
        assert answer['ok'] is False, name
        assert problem in answer['error'], (name, answer['error'])
        assert answer['error'] == _expected_error(bad), name      # as in-process
        assert answer['host'] == 'agent-b', name
    # calls that do not even carry a payload this version can read
    answer = raw.call({}, 'inject')
    assert answer['error'] == ('Invalid injection request: malformed request payload (the '
                               'payload argument is missing).')
    answer = raw.call({}, 'inject', payload=good, extra=1)
    assert 'unexpected argument(s): extra' in answer['error']
    assert answer['instance_id'] == 'i-1'
    # and the agent still serves
    assert raw.call({}, 'capabilities')['host'] == 'agent-b'
    assert agents['agent-b'].proc.poll() is None
