"""os-instance-actions: what was done to a server, recorded in the database."""

import pytest

from tests.api import contract


@pytest.mark.parametrize('version', ['2.1', '2.50', '2.51', '2.57'])
@pytest.mark.parametrize('roles', ['admin', 'member'])
def test_list_and_show(api, version, roles):
    headers = {'X-Roles': roles}
    sid = api.request('POST', '/v2.1/servers', {'server': dict(
        name='a', imageRef=api.image_id, flavorRef='1',
        **({'networks': 'none'} if version != '2.1' else {}))},
        version=version, headers=headers, status=202).json['server']['id']
    api.app.compute.wait()
    base = '/v2.1/servers/%s/os-instance-actions' % sid
    resp = api.request('GET', base, version=version, headers=headers, status=200)
    actions = contract.check('servers', 'list_instance_actions', version,
                             resp)['instanceActions']
    assert [a['action'] for a in actions] == ['create']
    request_id = actions[0]['request_id']
    assert request_id.startswith('req-')
    resp = api.request('GET', '%s/%s' % (base, request_id), version=version,
                       headers=headers, status=200)
    action = contract.check('servers', 'show_instance_action', version,
                            resp)['instanceAction']
    if roles == 'admin' or version in ('2.51', '2.57'):
        event, = action['events']
        assert (event['event'], event['result']) == (
            'compute__do_build_and_run_instance', 'Success')
        assert ('traceback' in event) == (roles == 'admin')
    else:
        assert 'events' not in action
    api.request('GET', '%s/req-nope' % base, version=version, headers=headers,
                status=404)


def test_failed_build_is_an_error_action(api):
    api.fake.fail_with = 'boom'
    sid = api.create(version='2.56', personality=[
        {'path': '/a', 'contents': 'eA=='}]).json['server']['id']
    actions = api.request('GET', '/v2.1/servers/%s/os-instance-actions' % sid,
                          status=200).json['instanceActions']
    assert actions[0]['message'] == 'Error'
    action = api.request('GET', '/v2.1/servers/%s/os-instance-actions/%s'
                         % (sid, actions[0]['request_id']), version='2.51',
                         status=200).json['instanceAction']
    assert action['events'][0]['result'] == 'Error'
