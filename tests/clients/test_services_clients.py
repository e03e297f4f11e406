"""Hosts known through their heartbeats, seen and changed with the real ``openstack``
CLI against a real inject-api process: ``openstack compute service list/set`` and
``openstack hypervisor list/show`` unchanged; an inject-agent process that is killed
goes down; and a host that is down, forced down or disabled gets no build, with a
fault saying why (also over RabbitMQ, where an agent that stopped would otherwise
leave the build waiting for [agent]rpc_timeout)."""

import os
import signal
import subprocess
import sys
import time

import pytest

from inject import servicegroup
from tests import services as test_services
from tests.api import support
from tests.clients.conftest import InjectApi, run_openstack

AGENT = servicegroup.BINARY
INJECT_AGENT = os.path.join(os.path.dirname(sys.executable), 'inject-agent')
# The heartbeat options of every process here: a report each second, down after 10 s
# without one (the production rules, with smaller numbers; a busy host still writes a
# heartbeat well within 10 s).
HEARTBEATS = '[DEFAULT]\nreport_interval = 1\nservice_down_time = 10\n'
DOWN_TIME = 10


@pytest.fixture(scope='module')
def hosts_api(tmp_path_factory):
    """inject-api (its in-process agent serving host ``api-host``), every noauth
    caller an administrator (OSC cannot send X-Roles)."""
    state = tmp_path_factory.mktemp('inject-api-hosts')
    support.make_image(state)
    api = InjectApi(state, extra_conf=(HEARTBEATS + '[api]\nnoauth_roles = admin\n'
                                       '[agent]\nhost = api-host\n'))
    yield api
    api.stop()


def _osc_env(api):
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    env.update(OS_AUTH_TYPE='none', OS_COMPUTE_ENDPOINT_OVERRIDE=api.endpoint)
    return env


@pytest.fixture(scope='module')
def osc(hosts_api):
    def run(*args, **kwargs):
        return run_openstack(args, _osc_env(hosts_api), hosts_api.state, **kwargs)
    return run


def _service(osc, host):
    found = osc('compute', 'service', 'list', '--host', host, '--long')
    assert len(found) == 1, found
    return found[0]


def _wait_state(osc, host, state, seconds):
    deadline = time.monotonic() + seconds
    while True:
        found = osc('compute', 'service', 'list', '--host', host)
        if found and found[0]['State'] == state:
            return found[0]
        assert time.monotonic() < deadline, 'service of %s not %s: %s' % (
            host, state, found)
        time.sleep(0.5)


def _boot(api, name):
    """Create a server with openstacksdk (no wait) and wait for its end state."""
    conn = api.sdk('2.57', roles='admin')
    image = next(i.id for i in api.sdk().compute.images())
    server = conn.compute.create_server(name=name, image_id=image, flavor_id='1',
                                        networks='none')
    return api.wait_status(server.id, timeout=120)


def test_service_list_shows_the_in_process_agent(osc):
    service = _service(osc, 'api-host')
    assert (service['Binary'], service['Zone'], service['Status'], service['State'],
            service['Disabled Reason'], service['Forced Down']) == (
        AGENT, 'nova', 'enabled', 'up', None, False)
    assert len(service['ID']) == 36                  # negotiated 2.57: uuids


@pytest.mark.parametrize('change,shown,reason,restore', [
    (('--disable', '--disable-reason', 'disk swap'),
     {'Status': 'disabled', 'Disabled Reason': 'disk swap'}, 'disabled (disk swap).',
     ('--enable',)),
    (('--down',), {'State': 'down', 'Forced Down': True},
     'forced down by an administrator.', ('--up',)),
])
def test_a_host_set_disabled_or_down_gets_no_build(osc, hosts_api, change, shown,
                                                   reason, restore):
    osc('compute', 'service', 'set', *change, 'api-host', AGENT, fmt=None)
    service = _service(osc, 'api-host')
    assert {k: service[k] for k in shown} == shown
    server = _boot(hosts_api, 'while-%s' % change[0].strip('-'))
    assert server['status'] == 'ERROR'
    assert server['fault']['message'] == (
        'No valid host was found. The inject-agent service of host api-host is ' + reason)
    osc('compute', 'service', 'set', *restore, 'api-host', AGENT, fmt=None)
    service = _service(osc, 'api-host')
    assert (service['Status'], service['Disabled Reason'], service['State'],
            service['Forced Down']) == ('enabled', None, 'up', False)
    assert _boot(hosts_api, 'after-%s' % restore[0].strip('-'))['status'] == 'ACTIVE'


def test_service_set_of_an_unknown_host_fails(osc):
    code, out = osc('compute', 'service', 'set', '--disable', 'nowhere', AGENT,
                    fmt=None, check=False)
    assert code != 0 and 'nowhere' in out


def test_hypervisor_list_and_show(osc):
    listed = osc('hypervisor', 'list', '--long')
    mine = [h for h in listed if h['Hypervisor Hostname'] == 'api-host']
    assert len(mine) == 1
    hyp = mine[0]
    assert (hyp['Hypervisor Type'], hyp['State']) == ('inject', 'up')
    assert hyp['vCPUs'] >= 1 and hyp['Memory MB'] > 0
    shown = osc('hypervisor', 'show', 'api-host')
    assert (shown['id'], shown['state'], shown['status'], shown['service_host'],
            shown['aggregates'], shown['hypervisor_type']) == (
        hyp['ID'], 'up', 'enabled', 'api-host', [], 'inject')


class AgentProcess:
    """``inject-agent`` serving ``host`` with ``conf_text`` (heartbeats into the
    database it names)."""

    def __init__(self, tmp, host, conf_text):
        self.state = tmp / host
        self.state.mkdir()
        conf = tmp / (host + '.conf')
        conf.write_text('[DEFAULT]\nstate_path = %s\n%s[agent]\nhost = %s\n'
                        'selftest_interval = -1\n[appliance]\nwarm_appliances = 0\n'
                        % (self.state, conf_text, host))
        self.log = tmp / (host + '.log')
        self.proc = subprocess.Popen([INJECT_AGENT, '--config-file', str(conf)],
                                     stdout=open(self.log, 'w'), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)


def test_an_agent_process_that_dies_goes_down(osc, hosts_api, tmp_path):
    database = 'sqlite:///%s' % (hosts_api.state / 'inject-api.sqlite')
    agent = AgentProcess(tmp_path, 'agent-2', HEARTBEATS
                         + '[database]\nconnection = %s\n' % database)
    try:
        _wait_state(osc, 'agent-2', 'up', 60)
        hyp = [h for h in osc('hypervisor', 'list')
               if h['Hypervisor Hostname'] == 'agent-2']
        assert hyp and hyp[0]['State'] == 'up'
        agent.kill()
        started = time.monotonic()
        _wait_state(osc, 'agent-2', 'down', DOWN_TIME * 6)
        assert time.monotonic() - started > DOWN_TIME / 2      # not at once: by time
    finally:
        agent.kill()
    assert 'registered in the database' in agent.log.read_text()


@pytest.fixture
def rabbit_url():
    return test_services.required('INJECT_TEST_TRANSPORT_URL', 'RabbitMQ',
                                  'tools/rabbitmq.sh')


def test_a_remote_host_that_stopped_heartbeating_gets_no_build(tmp_path, rabbit_url):
    """inject-api sends its builds to inject-agent ``rabbit-host`` over RabbitMQ; the
    agent is killed: once its heartbeat is stale, a build fails at once with the
    reason, instead of waiting [agent]rpc_timeout for an agent that is gone."""
    state = tmp_path / 'api'
    state.mkdir()
    support.make_image(state)
    database = 'sqlite:///%s' % (state / 'inject-api.sqlite')
    shared = HEARTBEATS + 'transport_url = %s\n' % rabbit_url
    api = InjectApi(state, extra_conf=shared + '[api]\nnoauth_roles = admin\n'
                                               '[agent]\nhost = rabbit-host\n')
    agent = None
    try:
        env = _osc_env(api)
        osc = (lambda *a, **k: run_openstack(a, env, state, **k))
        agent = AgentProcess(tmp_path, 'rabbit-host',
                             shared + '[database]\nconnection = %s\n' % database)
        _wait_state(osc, 'rabbit-host', 'up', 60)
        assert _boot(api, 'on-rabbit-host')['status'] == 'ACTIVE'
        agent.kill()
        _wait_state(osc, 'rabbit-host', 'down', DOWN_TIME * 6)
        started = time.monotonic()
        server = _boot(api, 'after-it-died')
        assert server['status'] == 'ERROR'
        assert server['fault']['message'].startswith(
            'No valid host was found. The inject-agent service of host rabbit-host is '
            'down: its last heartbeat was ')
        assert time.monotonic() - started < 60       # rpc_timeout is 900 s
    finally:
        if agent is not None:
            agent.kill()
        api.stop()
