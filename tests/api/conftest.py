"""An inject-api application on a temporary state directory and SQLite database, with
injection faked at its one boundary (inject.api.compute.inject_disk) unless a test
asks for the real core. What the API asks of the agent's capabilities is answered by
the real in-process agent (no appliance: no self-test, no warm appliance)."""

import pytest

from inject.api import compute
from tests.api.support import Api, FakeInjection, make_conf, make_image


@pytest.fixture
def fake_injection(monkeypatch):
    fake = FakeInjection()
    monkeypatch.setattr(compute, 'inject_disk', fake)
    return fake


@pytest.fixture
def api(tmp_path, fake_injection):
    make_image(tmp_path)
    conf = make_conf(tmp_path, **{'injection.inject_partition': 1,
                                  'appliance.warm_appliances': 0})
    api = Api(tmp_path, conf, fake_injection)
    yield api
    api.app.compute.wait()
    api.app.compute.close()       # the in-process agent, if a test started it


@pytest.fixture
def api_disabled(tmp_path):
    """Real injection core with injection disabled (-2): no appliance is launched."""
    make_image(tmp_path)
    conf = make_conf(tmp_path)
    api = Api(tmp_path, conf, None)
    yield api
    api.app.compute.wait()
    api.app.compute.close()       # the in-process agent it started
