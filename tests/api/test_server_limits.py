"""inject-api (two worker processes) under hostile clients, issue 17: slow clients
holding connections do not stop it answering others, and oversize request heads are
refused naming what was too large."""

from tests.api.test_workers import api_process  # noqa: F401  (a fixture)
from tests.httpserver import support
from tools import slow_clients

#: [wsgi]header_timeout of the process under test: the slow clients are not expired
#: before the answer is due (ApiProcess.request waits at most 60 s).
HEADER_TIMEOUT = 120


def test_slow_clients_do_not_stop_inject_api(api_process):  # noqa: F811
    api = api_process(workers=2, extra='[wsgi]\nheader_timeout = %d\n' % HEADER_TIMEOUT)
    with slow_clients.Held(api.port, 60, interval=2) as held:
        assert held.holding == 60
        status, body = api.request('GET', '/v2.1/flavors')
        assert status == 200 and body['flavors']
    # Every slow client was still connected, so the answer came while they held.
    assert held.result['closed_by_server'] == 0, held.result


def test_oversize_heads_are_refused_naming_what(api_process):  # noqa: F811
    api = api_process(workers=2)
    for what, (data, code, words) in sorted(support.OVERSIZE.items()):
        status, body = support.exchange(api.port, data)
        assert (what, status, words in body) == (what, code, True), body
    assert api.request('GET', '/v2.1/flavors')[0] == 200
