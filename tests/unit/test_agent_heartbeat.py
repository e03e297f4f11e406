"""The agent's heartbeat (inject.agent.heartbeat) on a real SQLite database: it
registers, reports on a timer, survives a failing database and a deleted row, and
the agent service reports what the host can do."""

import logging
import threading
import uuid

import pytest

from inject import servicegroup
from inject.agent import heartbeat as heartbeat_mod
from inject.agent import rpcapi
from inject.agent import service as service_mod
from inject.db import api as db_api
from inject.db import services as db_services
from tests.api.support import make_conf


@pytest.fixture
def conf(tmp_path):
    conf = make_conf(tmp_path)
    conf.set_override('warm_appliances', 0, group='appliance')
    conf.set_override('max_appliances', 2, group='agent')
    conf.set_override('drain_timeout', 1, group='agent')
    return conf


@pytest.fixture
def db(tmp_path):
    database = db_api.Database('sqlite:///%s' % (tmp_path / 'inject-api.sqlite'))
    yield database
    database.dispose()


def beat(conf, db, host='h1', report=lambda: {'can_inject': True}):
    return heartbeat_mod.Heartbeat(conf, db, host, report)


def test_registers_then_reports(conf, db):
    hb = beat(conf, db)
    assert hb.beat()
    row, _ = db.service_get(host='h1', binary=servicegroup.BINARY)
    assert (row.report_count, row.disabled, row.capabilities) == (1, False,
                                                                  {'can_inject': True})
    assert hb.beat() and hb.beat()
    row, now = db.service_get(host='h1', binary=servicegroup.BINARY)
    assert row.report_count == 3 and row.last_seen_up is not None
    assert servicegroup.is_up(row, now, conf)


def test_the_timer_reports_every_interval(conf, db):
    conf.set_override('report_interval', 1)
    hb = beat(conf, db)
    hb.start()
    try:
        deadline = threading.Event()
        for _ in range(100):               # a few intervals, however busy the host
            row, _ = db.service_get(host='h1', binary=servicegroup.BINARY)
            if row.report_count >= 3:
                break
            deadline.wait(0.2)
        assert row.report_count >= 3
    finally:
        hb.stop()
    count = row.report_count
    assert not hb._thread.is_alive()
    row, _ = db.service_get(host='h1', binary=servicegroup.BINARY)
    assert row.report_count <= count + 1


def test_a_new_service_is_disabled_when_new_services_are_not_enabled(conf, db):
    conf.set_override('enable_new_services', False)
    beat(conf, db).beat()
    row, _ = db.service_get(host='h1', binary=servicegroup.BINARY)
    assert (row.disabled, row.disabled_reason) == (True, db_services.NEW_SERVICE_DISABLED)
    db.service_update(row.id, disabled=False, disabled_reason=None)
    beat(conf, db).beat()                  # a restart keeps the administrator's choice
    row, _ = db.service_get(host='h1', binary=servicegroup.BINARY)
    assert row.disabled is False


def test_a_restart_keeps_disabled_and_forced_down(conf, db):
    beat(conf, db).beat()
    row, _ = db.service_get(host='h1', binary=servicegroup.BINARY)
    db.service_update(row.id, disabled=True, disabled_reason='repair', forced_down=True)
    beat(conf, db).beat()
    row, _ = db.service_get(host='h1', binary=servicegroup.BINARY)
    assert (row.disabled, row.disabled_reason, row.forced_down, row.report_count) == (
        True, 'repair', True, 2)


class FlakyDatabase:
    """Delegates to a real Database, failing while ``failing`` is set."""

    def __init__(self, db):
        self.db = db
        self.failing = False

    def __getattr__(self, name):
        if self.failing:
            raise RuntimeError('connection refused')
        return getattr(self.db, name)


def test_a_failing_database_is_logged_once_and_recovery_too(conf, db, caplog):
    caplog.set_level(logging.INFO, logger=heartbeat_mod.__name__)
    flaky = FlakyDatabase(db)
    hb = beat(conf, flaky)
    flaky.failing = True
    assert not hb.beat() and not hb.beat() and not hb.beat()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert 'RuntimeError: connection refused' in warnings[0].getMessage()
    assert db.service_list()[0] == []
    flaky.failing = False
    assert hb.beat()                       # registers once the database answers
    assert 'Recovered from being unable to report status.' in caplog.text
    assert db.service_list()[0][0].report_count == 1


def test_a_deleted_row_is_an_error_and_not_recreated(conf, db, caplog):
    hb = beat(conf, db)
    hb.beat()
    row, _ = db.service_get(host='h1', binary=servicegroup.BINARY)
    db.service_delete(row.id)
    assert not hb.beat() and not hb.beat()
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert 'services table record for the inject-agent service on host h1 is gone' in (
        errors[0].getMessage())
    assert db.service_list()[0] == []


def test_a_failing_report_function_does_not_stop_the_timer(conf, db, caplog):
    calls = []

    def report():
        calls.append(1)
        if len(calls) == 1:
            raise ValueError('no meminfo')
        return {}
    hb = beat(conf, db, report=report)
    assert not hb.beat()
    assert 'ValueError: no meminfo' in caplog.text
    assert hb.beat()


def test_the_agent_service_reports_what_the_host_can_do(conf, db):
    conf.set_override('host', 'agent-%s' % uuid.uuid4().hex[:8], group='agent')
    transport = rpcapi.get_transport(conf)
    service = service_mod.AgentService(conf, transport=transport, db=db)
    service.start(selftest=False)
    try:
        row, now = db.service_get(host=service.host, binary=servicegroup.BINARY)
        caps = row.capabilities
        assert caps['inject_partition'] == -2 and caps['can_inject'] is False
        assert 'inject_partition = -2' in caps['reason']
        assert (caps['max_appliances'], caps['free_slots'], caps['running']) == (2, 2, 0)
        resources = caps['resources']
        assert resources['vcpus'] >= 1 and resources['memory_mb'] > 0
        assert resources['host_ip'] == conf.my_ip
        assert resources['hypervisor_type'] == 'inject'
        assert servicegroup.is_up(row, now, conf)
    finally:
        service.stop()
        transport.cleanup()
    assert not service.heartbeat._thread.is_alive()


def test_without_a_database_the_agent_does_not_report(conf):
    transport = rpcapi.get_transport(conf)
    service = service_mod.AgentService(conf, transport=transport)
    assert service.heartbeat is None
    transport.cleanup()
