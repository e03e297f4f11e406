"""inject-metadata under hostile clients, issue 17: slow clients holding connections do
not stop it answering a guest, and oversize request heads are refused naming what was
too large."""

import http.client
import uuid as uuid_mod

import pytest

from inject.metadata import wsgi
from tests.httpserver import support
from tests.metadata import service
from tools import slow_clients

#: [wsgi]header_timeout of the process under test: the slow clients are not expired
#: before the answer is due (the guest's request waits at most half of it).
HEADER_TIMEOUT = 120
INSTANCE = str(uuid_mod.uuid4())


@pytest.fixture
def metadata(tmp_path):
    db = service.make_database(str(tmp_path / 'inject-api.sqlite'), [
        (INSTANCE, 'project-1', 'vm1', b'#cloud-config\n', {'k': 'v'}, 'member')])
    conf = service.write_conf(str(tmp_path / 'inject.conf'), db,
                              {'wsgi': {'header_timeout': HEADER_TIMEOUT}})
    with service.running(conf, log_path=str(tmp_path / 'metadata.log')) as (url, _):
        yield int(url.rsplit(':', 1)[1])


def meta_data(port):
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=HEADER_TIMEOUT / 2)
    try:
        conn.request('GET', '/openstack/latest/meta_data.json', headers={
            'X-Instance-ID': INSTANCE, 'X-Tenant-ID': 'project-1',
            'X-Instance-ID-Signature': wsgi.sign(service.SECRET, INSTANCE),
            'X-Forwarded-For': '10.0.0.9'})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def test_slow_clients_do_not_stop_inject_metadata(metadata):
    with slow_clients.Held(metadata, 60, interval=2) as held:
        assert held.holding == 60
        status, body = meta_data(metadata)
        assert status == 200 and INSTANCE.encode() in body
    # Every slow client was still connected, so the answer came while they held.
    assert held.result['closed_by_server'] == 0, held.result


def test_oversize_heads_are_refused_naming_what(metadata):
    for what, (data, code, words) in sorted(support.OVERSIZE.items()):
        status, body = support.exchange(metadata, data)
        assert (what, status, words in body) == (what, code, True), body
    assert meta_data(metadata)[0] == 200
