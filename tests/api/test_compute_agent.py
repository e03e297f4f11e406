"""The API asks this host's agent whether it can inject, over RPC: the agent answers from
its own configuration, and an agent that does not answer is a reason of its own."""

import threading
import time
import uuid

import pytest

from inject import agent
from inject.agent import rpcapi
from inject.api import compute
from tests.api.support import b64, make_conf

PERSONALITY = [{'path': '/etc/motd', 'contents': b64(b'x')}]


@pytest.fixture
def remote(api, tmp_path, monkeypatch):
    """``remote(**overrides)``: an agent with a configuration of its own, serving the API's
    ``[agent]host``, reached by the API's client over a shared (in-memory) transport."""
    started = []
    host = 'compute-%s' % uuid.uuid4().hex[:8]
    api.conf.set_override('host', host, group='agent')
    transport = rpcapi.get_transport(api.conf)
    client = agent.AgentClient(api.conf, transport=transport)
    monkeypatch.setattr(api.app.compute, 'agent_client', lambda: client)
    api.conf.set_override('personality_without_injection', 'refuse', group='api')

    def start(**overrides):
        conf = make_conf(tmp_path / 'agent', **overrides)
        conf.set_override('host', host, group='agent')
        conf.set_override('warm_appliances', 0, group='appliance')
        conf.set_override('drain_timeout', 1, group='agent')
        service = agent.AgentService(conf, transport=transport)
        service.start(selftest=False)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()
    transport.cleanup()


def test_the_agents_configuration_decides_not_the_apis(api, remote):
    assert api.conf.injection.inject_partition == 1          # the API would inject
    remote(**{'injection.inject_partition': -2})
    resp = api.create(version='2.56', status=400, wait=False, personality=PERSONALITY)
    message = resp.json['badRequest']['message']
    assert message.startswith('Personality files cannot be injected on this host: '
                              'injection is disabled ([injection]inject_partition = -2)')


def test_an_agent_that_can_inject_accepts_personality(api, remote):
    remote(**{'injection.inject_partition': 1})
    api.create(version='2.56', personality=PERSONALITY)
    assert [r.files for r in api.fake.requests] == [[('/etc/motd', b'x')]]


def test_no_agent_answering_is_the_reason(api, remote, monkeypatch):
    monkeypatch.setattr(compute, 'CAPABILITIES_TIMEOUT', 1)
    resp = api.create(version='2.56', status=400, wait=False, personality=PERSONALITY)
    assert resp.json['badRequest']['message'].startswith(
        'Personality files cannot be injected on this host: no injection agent on host '
        '%s answered within 1 s.' % api.conf.agent.host)
    assert api.fake.requests == []


def test_the_in_process_agent_is_asked_by_default(api):
    api.conf.set_override('personality_without_injection', 'refuse', group='api')
    assert api.app.compute.injection_unavailable() is None
    assert api.app.compute._agent[0] is not None            # started in this process
    api.conf.set_override('inject_partition', -2, group='injection')
    assert 'inject_partition = -2' in api.app.compute.injection_unavailable()


def test_waiting_for_builds_has_one_deadline_for_all(tmp_path):
    """A stopping inject-api waits BUILDS_STOP_SECONDS for its builds in all, not per
    build, before it stops its agent."""
    waiter = compute.Compute(make_conf(tmp_path), db=None)
    held = threading.Event()
    waiter._threads = [threading.Thread(target=held.wait, daemon=True) for _ in range(3)]
    for thread in waiter._threads:
        thread.start()
    t0 = time.monotonic()
    waiter.wait(timeout=2)
    waited = time.monotonic() - t0
    held.set()
    assert 2 <= waited < 3 * 2            # a deadline per build would take 6 s
