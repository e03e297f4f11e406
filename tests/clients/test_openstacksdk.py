"""openstacksdk against a running inject-api: ``openstack.connect(auth_type='none',
compute_endpoint_override=..., load_envvars=False)``. The SDK does not guard
microversions, so inject-api's 400s are what protects its users."""

import base64

import pytest
from openstack import exceptions


def _b64(data):
    return base64.b64encode(data).decode()


def _image_id(api):
    # The image proxy answers only below 2.36, as in Nova: ask without a microversion.
    return next(i.id for i in api.sdk().compute.images() if i.name == 'cirros')


def test_create_with_personality_at_256(disabled_api):
    conn = disabled_api.sdk('2.56')
    server = conn.compute.create_server(
        name='sdk-file', image_id=_image_id(disabled_api), flavor_id='1', networks='none',
        personality=[{'path': '/etc/motd', 'contents': _b64(b'from the sdk\n')}])
    server = disabled_api.wait_status(server.id)
    assert server['status'] == 'ERROR'
    assert '/etc/motd' in server['fault']['message']
    shown = conn.compute.get_server(server['id'])
    assert shown.fault['message'].startswith('Personality files not injected')
    conn.compute.delete_server(server['id'])


def test_personality_at_257_is_refused_by_the_server(disabled_api):
    conn = disabled_api.sdk('2.57')
    with pytest.raises(exceptions.BadRequestException) as e:
        conn.compute.create_server(
            name='sdk-257', image_id=_image_id(disabled_api), flavor_id='1', networks='none',
            personality=[{'path': '/etc/motd', 'contents': _b64(b'x')}])
    assert 'personality' in str(e.value)


def test_rebuild_with_user_data_at_257(disabled_api):
    conn = disabled_api.sdk('2.57')
    image = _image_id(disabled_api)
    server = conn.compute.create_server(name='sdk-rebuild', image_id=image,
                                        flavor_id='1', networks='none')
    disabled_api.wait_status(server.id)
    rebuilt = conn.compute.rebuild_server(server, image=image,
                                          user_data=_b64(b'#!/bin/sh\necho hi\n'))
    assert rebuilt.user_data == _b64(b'#!/bin/sh\necho hi\n')
    assert disabled_api.wait_status(server.id)['status'] == 'ACTIVE'
    conn.compute.delete_server(server)


def test_limits(disabled_api):
    absolute = disabled_api.sdk('2.56').compute.get_limits().absolute
    assert (absolute.personality, absolute.personality_size) == (5, 10240)
    absolute = disabled_api.sdk('2.57').compute.get_limits().absolute
    assert absolute.personality is None and absolute.instances == 10


def test_quota_set_and_class(disabled_api):
    conn = disabled_api.sdk('2.56')
    quota = conn.compute.get_quota_set('inject')     # the caller's own project
    assert quota.injected_files == 5 and quota.instances == 10
    conn = disabled_api.sdk('2.57', roles='admin')
    quota = conn.compute.get_quota_set('demo')
    assert quota.injected_files is None and quota.instances == 10
    klass = conn.compute.get_quota_class_set('default')
    assert klass.instances == 10 and klass.injected_files is None
