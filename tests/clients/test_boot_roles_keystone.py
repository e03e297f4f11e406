"""Boot roles end to end, as a cloud sees them: users of a real Keystone create servers
with config drives through inject-api (keystone mode, real openstacksdk), and the
dynamic vendordata target -- behind keystonemiddleware on the same Keystone -- receives
each creator's roles as ``boot-roles`` with inject's service token. A rebuild by
another user keeps the creator's roles (captured at create, never refreshed)."""

import textwrap

import openstack
import pytest

from inject.api import catalog
from tests import keystone as ks
from tests.api import support
from tests.clients.conftest import InjectApi, keystone_conf
from tests.metadata import target_app

pytestmark = pytest.mark.keystone


@pytest.fixture(scope='module')
def target(keystone):
    app = target_app.TargetApp()
    with target_app.serve(target_app.protected(app, ks.authtoken_config(keystone))) as url:
        app.url = url
        yield app


@pytest.fixture(scope='module')
def api(tmp_path_factory, keystone, target):
    state = tmp_path_factory.mktemp('inject-api-boot-roles')
    support.make_image(state)
    service = keystone['users']['inject-vendordata']
    api = InjectApi(state, extra_conf=keystone_conf(keystone, textwrap.dedent('''\
        [api]
        vendordata_providers = DynamicJSON
        vendordata_dynamic_targets = roles@{target}/vd
        vendordata_dynamic_failure_fatal = true
        [vendordata_dynamic_auth]
        auth_type = password
        auth_url = {url}
        username = {user}
        password = {password}
        user_domain_id = default
        project_name = {project}
        project_domain_id = default
        ''').format(url=keystone['auth_url'], target=target.url, user=service['name'],
                    password=service['password'], project=service['project_name'])))
    api.image_id = catalog.images(str(state / 'images'))[0].id
    yield api
    api.stop()


def _connect(keystone, api, username):
    user = keystone['users'][username]
    return openstack.connect(
        auth_type='password', auth_url=keystone['auth_url'], username=username,
        password=user['password'], user_domain_id='default',
        project_name=user['project_name'], project_domain_id='default',
        compute_endpoint_override=api.endpoint, load_envvars=False,
        load_yaml_config=False, compute_api_version='2.57')


def _boot(conn, api, name):
    server = conn.compute.create_server(name=name, image_id=api.image_id, flavor_id='1',
                                       networks='none', config_drive=True)
    return conn.compute.wait_for_server(server, status='ACTIVE', failures=['ERROR'],
                                        interval=0.5, wait=120)


def _posts_for(target, server_id):
    return [r for r in target.requests if (r['body'] or {}).get('instance-id') == server_id]


def test_each_creators_roles_reach_the_target_with_the_service_token(keystone, api,
                                                                     target):
    member, admin = _connect(keystone, api, 'p1-member'), _connect(keystone, api,
                                                                    'p1-admin')
    by_member = _boot(member, api, 'roles-member')
    by_admin = _boot(admin, api, 'roles-admin')
    [post] = _posts_for(target, by_member.id)          # one POST per build
    assert set(post['body']['boot-roles'].split(',')) == {'member', 'reader'}
    assert post['body']['project-id'] == keystone['projects']['inject-p1']
    assert post['identity']['identity-status'] == 'Confirmed'
    assert post['identity']['user-name'] == 'inject-vendordata'
    [post] = _posts_for(target, by_admin.id)
    assert {'admin', 'member', 'reader'} <= set(post['body']['boot-roles'].split(','))

    # A rebuild by an administrator keeps the member's roles of the create.
    admin.compute.rebuild_server(by_member, image=api.image_id)
    admin.compute.wait_for_server(admin.compute.get_server(by_member.id),
                                  status='ACTIVE', failures=['ERROR'], interval=0.5,
                                  wait=120)
    posts = _posts_for(target, by_member.id)
    assert len(posts) == 2                             # the rebuild asked again
    assert set(posts[-1]['body']['boot-roles'].split(',')) == {'member', 'reader'}
    for conn, server in ((member, by_member), (admin, by_admin)):
        conn.compute.delete_server(server)
