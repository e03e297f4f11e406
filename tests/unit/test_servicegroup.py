"""Up or down, and why a host gets no build (inject.servicegroup), as Nova's service
group API decides with its database driver."""

import datetime
import types

import pytest

from inject import servicegroup
from tests.api.support import make_conf

NOW = datetime.datetime(2026, 1, 1, 12, 0, 0)


def service(seen=None, created=-3600, forced_down=False, disabled=False, reason=None):
    at = (lambda s: None if s is None else NOW + datetime.timedelta(seconds=s))
    return types.SimpleNamespace(last_seen_up=at(seen), created_at=at(created),
                                 forced_down=forced_down, disabled=disabled,
                                 disabled_reason=reason, host='h1',
                                 binary=servicegroup.BINARY)


@pytest.fixture
def conf(tmp_path):
    return make_conf(tmp_path)


@pytest.mark.parametrize('seen,created,up', [
    (-60, -3600, True), (-61, -3600, False), (60, -3600, True), (61, -3600, False),
    (None, -60, True), (None, -61, False)])
def test_up_within_service_down_time_either_way(conf, seen, created, up):
    assert servicegroup.is_up(service(seen, created), NOW, conf) is up


def test_forced_down_is_down_whatever_the_heartbeat(conf):
    assert not servicegroup.is_up(service(0, forced_down=True), NOW, conf)


def test_down_time_is_stretched_when_not_above_the_interval(conf):
    conf.set_override('report_interval', 30)
    conf.set_override('service_down_time', 20)
    assert servicegroup.down_time(conf) == 75
    assert servicegroup.is_up(service(-74), NOW, conf)
    conf.set_override('service_down_time', 31)
    assert servicegroup.down_time(conf) == 31


def test_refusals_say_why(conf):
    assert servicegroup.refusal(service(-5), NOW, conf) is None
    assert servicegroup.refusal(service(-90), NOW, conf) == (
        'The inject-agent service of host h1 is down: its last heartbeat was 90 s ago, '
        'more than [DEFAULT]service_down_time (60 s). Start inject-agent on h1 (or let '
        'it reach the database again).')
    assert servicegroup.refusal(service(-5, forced_down=True), NOW, conf) == (
        'The inject-agent service of host h1 is forced down by an administrator.')
    assert servicegroup.refusal(service(-5, disabled=True, reason='fan'), NOW, conf) == (
        'The inject-agent service of host h1 is disabled (fan).')
    assert servicegroup.refusal(service(-5, disabled=True), NOW, conf).endswith(
        'is disabled (no reason given).')
