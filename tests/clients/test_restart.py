"""A real inject-api process is stopped (SIGTERM) and started again on the same state
directory and database: what clients created is still there."""

import base64
import urllib.request

from tests.api import support
from tests.clients.conftest import InjectApi


def _b64(data):
    return base64.b64encode(data).decode()


def test_state_survives_a_process_restart(tmp_path):
    support.make_image(tmp_path)
    api = InjectApi(tmp_path)
    try:
        image = next(i.id for i in api.sdk().compute.images())
        conn = api.sdk('2.56')
        failed = conn.compute.create_server(
            name='with-file', image_id=image, flavor_id='1', networks='none',
            metadata={'role': 'web'},
            personality=[{'path': '/etc/motd', 'contents': _b64(b'x')}])
        assert api.wait_status(failed.id)['status'] == 'ERROR'
        conn = api.sdk('2.57', roles='admin')
        ok = conn.compute.create_server(name='plain', image_id=image, flavor_id='1',
                                        networks='none')
        api.wait_status(ok.id)
        conn.compute.rebuild_server(ok, image=image, user_data=_b64(b'echo kept'))
        api.wait_status(ok.id)
        conn.compute.update_quota_set('demo', instances=7)
        conn.compute.update_quota_class_set('default', cores=33)
    finally:
        api.stop()
    assert api.proc.returncode == 0      # SIGTERM is a clean stop

    api = InjectApi(tmp_path)
    try:
        conn = api.sdk('2.57', roles='admin')
        server = conn.compute.get_server(failed.id)
        assert server.status == 'ERROR'
        assert server.fault['message'].startswith('Personality files not injected: '
                                                  '/etc/motd')
        assert server.metadata == {'role': 'web'}
        server = conn.compute.get_server(ok.id)
        assert server.status == 'ACTIVE'
        assert server.user_data == _b64(b'echo kept')        # admin view, 2.3+
        assert conn.compute.get_quota_set('demo').instances == 7
        assert conn.compute.get_quota_class_set('default').cores == 33
        with urllib.request.urlopen(api.endpoint + '/limits') as r:
            assert b'"maxTotalCores": 33' in r.read()
    finally:
        api.stop()
