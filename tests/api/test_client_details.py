"""Details Nova's clients rely on: request ids on every response, ``Location`` on a
create, Nova's checks of ``networks`` and access addresses, images looked up by id,
404 for what is not served, the rebuild conflict message, and bodies nested too deep."""

import json

import pytest

from inject.api import catalog

NET = '3cb9bc59-5699-4588-a4b1-b87f96708bc6'
PORT = 'b0a9c8c4-8a5c-4a5f-a6a9-5b0d0f6b1f3e'


def _message(resp, name='badRequest'):
    return resp.json[name]['message']


def _request_id(resp):
    rid = resp.headers['X-OpenStack-Request-Id']
    assert resp.headers['X-Compute-Request-Id'] == rid
    assert rid.startswith('req-') and len(rid) == 40
    return rid


def test_request_ids_on_every_response(api, monkeypatch):
    sid = api.create().json['server']['id']
    responses = [
        api.request('GET', '/', status=200),                         # version documents
        api.request('GET', '/v2.1', status=200),
        api.request('GET', '/v2.1/servers', status=200),
        api.request('POST', '/v2.1/servers', 'not json', status=400),
        api.request('GET', '/v2.1/servers/nope', status=404),
        api.request('GET', '/v2.1/os-migrations', status=404),
        api.request('PUT', '/v2.1/servers', {}, status=405),
        api.request('GET', '/v2.1/servers', headers={'Accept': 'text/html'}, status=406),
        api.request('GET', '/v2.1/servers', version='9.9', status=406),
    ]
    api.app.db.instance_update(sid, vm_state='building', task_state='spawning')
    responses.append(api.request('POST', '/v2.1/servers/%s/action' % sid,
                                 {'rebuild': {'imageRef': api.image_id}}, status=409))

    def broken(*args, **kwargs):
        raise RuntimeError('database gone')
    monkeypatch.setattr(api.app.db, 'instance_page', broken)
    responses.append(api.request('GET', '/v2.1/servers', status=500))
    ids = [_request_id(r) for r in responses]
    assert len(set(ids)) == len(ids)                                 # one per request


def test_request_id_is_the_one_recorded(api):
    resp = api.create(version='2.51')
    sid = resp.json['server']['id']
    actions = api.request('GET', '/v2.1/servers/%s/os-instance-actions' % sid,
                          version='2.51', status=200).json['instanceActions']
    assert actions[0]['request_id'] == _request_id(resp)


def test_client_request_id_is_not_taken_as_ours(api):
    mine = 'req-11111111-2222-3333-4444-555555555555'
    resp = api.request('GET', '/v2.1/servers', status=200,
                       headers={'X-OpenStack-Request-Id': mine})
    assert _request_id(resp) != mine


@pytest.mark.parametrize('path', ['/v2.1/servers', '/v2/servers', '/v2.1/p1/servers'])
def test_location_is_the_self_link(api, path):
    resp = api.request('POST', path, {'server': {
        'name': 'vm', 'imageRef': api.image_id, 'flavorRef': '1'}}, status=202)
    api.app.compute.wait()
    server = resp.json['server']
    self_link = next(link['href'] for link in server['links'] if link['rel'] == 'self')
    assert resp.headers['Location'] == self_link
    assert self_link == 'http://localhost%s/%s' % (path, server['id'])


def test_deeply_nested_body_is_a_400(api):
    for body in ('[' * 50000 + ']' * 50000,
                 '{"server": {"name": "a", "flavorRef": "1", "metadata": {"k": %s}}}'
                 % ('[' * 500 + ']' * 500)):
        resp = api.test.post('/v2.1/servers', body, expect_errors=True,
                             headers={'Content-Type': 'application/json'})
        assert resp.status_int == 400
        assert _message(resp) == 'Malformed request body'


def test_ordinary_nesting_is_fine(api):
    api.create(**{'metadata': {'a': 'b'}})
    body = {'server': {'name': 'vm', 'imageRef': api.image_id, 'flavorRef': '1'},
            'os:scheduler_hints': {'query': {'a': [[[[['x']]]]]}}}
    api.request('POST', '/v2.1/servers', body, status=202)
    api.app.compute.wait()


def test_access_ips_normalised_as_nova_stores_them(api):
    sid = api.create(accessIPv4='192.0.2.1',
                     accessIPv6='2001:0DB8:0000:0000:0000:0000:0000:0001'
                     ).json['server']['id']
    server = api.request('GET', '/v2.1/servers/' + sid, status=200).json['server']
    assert (server['accessIPv4'], server['accessIPv6']) == ('192.0.2.1', '2001:db8::1')
    resp = api.request('POST', '/v2.1/servers/%s/action' % sid, {'rebuild': {
        'imageRef': api.image_id, 'accessIPv6': 'fe80:0:0::0:1'}}, status=202)
    assert resp.json['server']['accessIPv6'] == 'fe80::1'
    assert resp.json['server']['accessIPv4'] == '192.0.2.1'
    api.app.compute.wait()


@pytest.mark.parametrize('key,value', [
    ('accessIPv4', '192.0.2'), ('accessIPv4', '2001:db8::1'), ('accessIPv4', ''),
    ('accessIPv6', '192.0.2.1'), ('accessIPv6', 'fe80::1::2'), ('accessIPv6', ''),
])
def test_access_ips_validated(api, key, value):
    resp = api.create(status=400, wait=False, **{key: value})
    assert _message(resp).startswith('Invalid input for field/attribute %s.' % key)
    sid = api.create().json['server']['id']
    resp = api.request('POST', '/v2.1/servers/%s/action' % sid, {'rebuild': {
        'imageRef': api.image_id, key: value}}, status=400)
    assert _message(resp).startswith('Invalid input for field/attribute %s.' % key)


@pytest.mark.parametrize('version,networks,message', [
    ('2.1', [{'uuid': 'net1'}],
     'Bad networks format: network uuid is not in proper format (net1)'),
    ('2.36', [{'fixed_ip': '10.0.0.2'}], "Bad network format: missing 'uuid'"),
    ('2.1', [{'uuid': NET, 'fixed_ip': '10.0.0.300'}],
     'Invalid input for field/attribute fixed_ip. Value: 10.0.0.300.'),
    ('2.1', [{'port': 'p1'}], "Invalid input for field/attribute port. Value: p1."),
    ('2.1', [{'port': PORT, 'fixed_ip': '10.0.0.2'}],
     "Specified Fixed IP '10.0.0.2' cannot be used with port '%s': the two cannot be "
     "specified together." % PORT),
    ('2.1', [{'port': PORT}, {'port': PORT}],
     "Port ID '%s' was specified twice: you cannot attach a port multiple times."
     % PORT),
    ('2.1', 'none', "Invalid input for field/attribute networks. Value: none."),
    ('2.37', [{'uuid': 'net1'}], 'Invalid input for field/attribute uuid. Value: net1.'),
    ('2.37', 'some', "'some' is not one of ['none', 'auto']"),     # Nova's wording too
    ('2.37', [{'uuid': NET, 'tag': 'eth0'}], "'tag' was unexpected"),
    ('2.31', [{'uuid': NET, 'tag': 'eth0'}], "'tag' was unexpected"),
    # a network or port inject-api does not have: never dropped silently
    ('2.1', [{'uuid': NET}], 'Network %s could not be found.' % NET),
    ('2.1', [{'uuid': NET.replace('-', '')}],
     'Network %s could not be found.' % NET.replace('-', '')),
    ('2.32', [{'uuid': NET, 'tag': 'eth0'}], 'Network %s could not be found.' % NET),
    ('2.42', [{'uuid': NET, 'fixed_ip': '2001:db8::5', 'tag': 'eth0'}],
     'Network %s could not be found.' % NET),
    ('2.57', [{'port': PORT}], 'Port id %s could not be found.' % PORT),
])
def test_networks_refused(api, version, networks, message):
    resp = api.create(version=version, status=400, wait=False, networks=networks)
    assert message in _message(resp), _message(resp)


@pytest.mark.parametrize('version,networks', [
    ('2.1', []), ('2.36', []), ('2.37', 'auto'), ('2.37', 'none'), ('2.57', [])])
def test_no_network_asked_for(api, version, networks):
    api.create(version=version, networks=networks)


def test_security_groups(api):
    api.create(security_groups=[{'name': 'default'}])
    api.create(security_groups=[])
    resp = api.create(status=400, wait=False,
                      security_groups=[{'name': 'default'}, {'name': 'web'}])
    assert _message(resp) == 'Security group web not found.'


def test_images_by_id_only(api):
    image = catalog.images(api.conf.api.image_dir)[0]
    assert image.name == 'cirros'
    assert api.request('GET', '/v2.1/images/' + image.id,
                       status=200).json['image']['name'] == 'cirros'
    resp = api.request('GET', '/v2.1/images/cirros', status=404)
    assert _message(resp, 'itemNotFound') == 'Image not found.'
    api.request('GET', '/v2/images/cirros', status=404)
    # the Glance-style images below the compute endpoint (an image endpoint override)
    glance = '/v2.1/v2/images'
    assert api.request('GET', '%s/%s' % (glance, image.id),
                       status=200).json['id'] == image.id
    resp = api.request('GET', glance + '/cirros', status=404)
    assert _message(resp, 'itemNotFound') == 'No image found with ID cirros'
    # names are found through the list, as novaclient and openstacksdk look them up
    found = api.request('GET', glance + '?name=cirros', status=200).json['images']
    assert [i['id'] for i in found] == [image.id]
    # and an imageRef is an id
    resp = api.create(status=400, wait=False, imageRef='cirros')
    assert _message(resp) == 'Can not find requested image'


@pytest.mark.parametrize('path', ['/v2.1/os-migrations', '/v2.1/demo/os-migrations',
                                  '/v2.1/os-availability-zone', '/v2.1/servers/x/ips',
                                  '/v2.1/os-migrations/detail', '/identity/v3'])
def test_what_is_not_served_is_a_404(api, path):
    resp = api.request('GET', path, status=404)
    assert _message(resp, 'itemNotFound') == 'The resource could not be found.'


def test_rebuild_while_building_names_vm_state(api):
    sid = api.create(wait=False).json['server']['id']
    api.app.compute.wait()
    api.app.db.instance_update(sid, vm_state='building', task_state='spawning')
    resp = api.request('POST', '/v2.1/servers/%s/action' % sid,
                       {'rebuild': {'imageRef': api.image_id}}, status=409)
    assert _message(resp, 'conflictingRequest') == (
        "Cannot 'rebuild' instance %s while it is in vm_state building" % sid)
    api.app.db.instance_update(sid, vm_state='active', task_state='rebuilding')
    resp = api.request('POST', '/v2.1/servers/%s/action' % sid,
                       {'rebuild': {'imageRef': api.image_id}}, status=409)
    assert _message(resp, 'conflictingRequest') == (
        "Cannot 'rebuild' instance %s while it is in task_state rebuilding" % sid)


def test_error_bodies_are_json(api):
    resp = api.request('GET', '/v2.1/nothing', status=404)
    assert json.loads(resp.body) == {'itemNotFound': {
        'code': 404, 'message': 'The resource could not be found.'}}
