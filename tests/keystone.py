"""The fixed identity layout that tests build on the real Keystone tools/keystone.sh
starts on loopback, and the ways to use it: tokens, sessions and a keystonemiddleware
``auth_token`` configuration.

The layout (all in the ``Default`` domain; each password is ``pw-<username>``):

============================  =============  ====================================
user                          project        role (token roles, with implied ones)
============================  =============  ====================================
``p1-reader``                 ``inject-p1``  reader (reader)
``p1-member``                 ``inject-p1``  member (member, reader)
``p1-admin``                  ``inject-p1``  admin (admin, manager, member, reader)
``p2-member``                 ``inject-p2``  member (member, reader)
``inject-vendordata``         ``service``    service: Nova's ``[vendordata_dynamic_auth]``
                                             account, whose token a vendordata target
                                             receives
``inject-authtoken``          ``service``    service: the account a keystonemiddleware
                                             ``auth_token`` validates tokens with
============================  =============  ====================================

``keystone-manage bootstrap`` (tools/keystone.sh) made the roles admin > manager >
member > reader and service, and the ``admin`` user (admin on project ``admin`` and
on the system). :func:`ensure_layout` adds the rest through the Identity v3 API, as
that admin, and is idempotent: existing projects, users and grants are reused.
"""

from urllib.parse import urlencode

from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

DOMAIN = 'default'
ADMIN_USER = 'admin'
ADMIN_PROJECT = 'admin'
# tools/keystone.sh's default (INJECT_KEYSTONE_ADMIN_PASSWORD there).
DEFAULT_ADMIN_PASSWORD = 'inject-admin'

PROJECTS = ('inject-p1', 'inject-p2', 'service')
ROLES = ('reader', 'member', 'manager', 'admin', 'service')
# username: (project, role granted on it)
USERS = {
    'p1-reader': ('inject-p1', 'reader'),
    'p1-member': ('inject-p1', 'member'),
    'p1-admin': ('inject-p1', 'admin'),
    'p2-member': ('inject-p2', 'member'),
    'inject-vendordata': ('service', 'service'),
    'inject-authtoken': ('service', 'service'),
}


def password_of(username):
    """The known password of a layout user."""
    return 'pw-%s' % username


def password_auth(auth_url, username, password, project_name):
    """keystoneauth1 v3 password auth scoped to ``project_name`` (Default domain)."""
    return v3.Password(auth_url=auth_url, username=username, password=password,
                       user_domain_id=DOMAIN, project_name=project_name,
                       project_domain_id=DOMAIN)


def session(layout, username, project_name=None):
    """A keystoneauth1 Session authenticated as a layout user (or ``admin``), scoped
    to its project unless ``project_name`` names another."""
    user = layout['users'][username]
    return ks_session.Session(auth=password_auth(
        layout['auth_url'], username, user['password'],
        project_name or user['project_name']))


def access(layout, username, project_name=None):
    """The keystoneauth1 AccessInfo (token, roles, project) of a layout user."""
    sess = session(layout, username, project_name)
    return sess.auth.get_access(sess)


def token(layout, username, project_name=None):
    """A project-scoped token (the ``X-Auth-Token`` value) for a layout user."""
    return access(layout, username, project_name).auth_token


def authtoken_config(layout, username='inject-authtoken', **overrides):
    """An oslo.config ConfigOpts for keystonemiddleware's ``auth_token`` against this
    Keystone, as ``AuthProtocol(app, {'oslo_config_config': conf})`` takes it: the
    middleware authenticates as ``username`` (a ``service``-role account) to validate
    the tokens it receives. ``overrides`` set further ``[keystone_authtoken]`` options.
    """
    from keystoneauth1 import loading
    from keystonemiddleware import auth_token
    from oslo_config import cfg

    group = 'keystone_authtoken'
    conf = cfg.ConfigOpts()
    for name, opts in auth_token.list_opts():
        conf.register_opts(opts, group=name)
    conf([], project='inject-test', default_config_files=[], default_config_dirs=[])
    # after parsing: the plugin's required options get their values just below
    conf.register_opts(loading.get_auth_plugin_conf_options('password'), group=group)
    user = layout['users'][username]
    values = {
        'auth_type': 'password', 'auth_url': layout['auth_url'],
        'www_authenticate_uri': layout['auth_url'],
        'username': username, 'password': user['password'],
        'user_domain_id': DOMAIN, 'project_name': user['project_name'],
        'project_domain_id': DOMAIN, 'region_name': 'RegionOne',
    }
    values.update(overrides)
    for name, value in values.items():
        conf.set_override(name, value, group)
    return conf


class _Admin:
    """Identity v3 calls as the bootstrap admin."""

    def __init__(self, auth_url, password):
        self.sess = ks_session.Session(auth=password_auth(
            auth_url, ADMIN_USER, password, ADMIN_PROJECT))
        self.base = auth_url.rstrip('/')

    def call(self, method, path, json=None, ok=(200, 201, 204)):
        resp = self.sess.request(self.base + path, method, json=json, raise_exc=False)
        if resp.status_code not in ok:
            raise RuntimeError('Keystone %s %s: HTTP %d %s'
                               % (method, path, resp.status_code, resp.text[:300]))
        return resp

    def by_name(self, kind):
        """Every one of ``kind`` (roles, projects, users) by name: roles are global,
        projects and users those of the Default domain."""
        query = '' if kind == 'roles' else '?' + urlencode({'domain_id': DOMAIN})
        return {o['name']: o for o in self.call('GET', '/' + kind + query).json()[kind]}

    def create(self, kind, body):
        """A new one of ``kind`` (projects, users); a concurrent creator's 409 is
        answered by looking it up."""
        resp = self.call('POST', '/' + kind, {kind[:-1]: body}, ok=(201, 409))
        if resp.status_code == 201:
            return resp.json()[kind[:-1]]
        return self.by_name(kind)[body['name']]

    def grants(self):
        """The direct project role assignments, as (project_id, user_id, role_id)."""
        return {(a['scope']['project']['id'], a['user']['id'], a['role']['id'])
                for a in self.call('GET', '/role_assignments').json()['role_assignments']
                if 'user' in a and 'project' in a.get('scope', {})}


def _password_works(auth_url, username, password, project_name):
    sess = ks_session.Session(auth=password_auth(auth_url, username, password,
                                                 project_name))
    try:
        sess.get_token()
        return True
    except ks_exc.Unauthorized:
        return False


def ensure_layout(auth_url, admin_password=DEFAULT_ADMIN_PASSWORD):
    """Create (idempotently) the layout described at the top of this module and return
    it::

        {'auth_url': 'http://127.0.0.1:5000/v3',
         'domain_id': 'default',
         'projects': {'inject-p1': <id>, 'inject-p2': <id>, 'service': <id>,
                      'admin': <id>},
         'roles': {'reader': <id>, 'member': <id>, 'manager': <id>, 'admin': <id>,
                   'service': <id>},
         'users': {'p1-reader': {'id': <id>, 'name': 'p1-reader',
                                 'password': 'pw-p1-reader',
                                 'project_name': 'inject-p1', 'project_id': <id>,
                                 'role': 'reader'},
                   ...,
                   'admin': {... 'password': admin_password, 'project_name': 'admin',
                             'role': 'admin'}}}
    """
    admin = _Admin(auth_url, admin_password)
    existing = admin.by_name('roles')
    missing = [name for name in ROLES if name not in existing]
    if missing:  # bootstrap makes them all; a missing one is a setup error
        raise RuntimeError('Keystone has no role %s: was it set up by tools/keystone.sh '
                           '(keystone-manage bootstrap)?' % ', '.join(missing))
    roles = {name: existing[name]['id'] for name in ROLES}

    existing = admin.by_name('projects')
    projects = {}
    for name in PROJECTS + (ADMIN_PROJECT,):
        project = existing.get(name) or admin.create('projects', {
            'name': name, 'domain_id': DOMAIN,
            'description': 'inject tests (tests/keystone.py)'})
        projects[name] = project['id']

    existing = admin.by_name('users')
    grants = admin.grants()
    users = {}
    for name, (project_name, role) in USERS.items():
        password = password_of(name)
        user = existing.get(name)
        if user is None:
            user = admin.create('users', {
                'name': name, 'domain_id': DOMAIN, 'password': password,
                'default_project_id': projects[project_name]})
        elif not _password_works(auth_url, name, password, project_name):
            # A password changed by hand is put back; a right one is left alone, since
            # changing it would revoke the tokens other test sessions hold.
            admin.call('PATCH', '/users/%s' % user['id'], {'user': {'password': password}})
        grant = (projects[project_name], user['id'], roles[role])
        if grant not in grants:
            admin.call('PUT', '/projects/%s/users/%s/roles/%s' % grant)
        users[name] = {'id': user['id'], 'name': name, 'password': password,
                       'project_name': project_name, 'project_id': projects[project_name],
                       'role': role}
    users[ADMIN_USER] = {'id': existing[ADMIN_USER]['id'], 'name': ADMIN_USER,
                         'password': admin_password, 'project_name': ADMIN_PROJECT,
                         'project_id': projects[ADMIN_PROJECT], 'role': 'admin'}
    return {'auth_url': auth_url, 'domain_id': DOMAIN, 'projects': projects,
            'roles': roles, 'users': users}


def ensure_region(layout, region):
    """Make the region exist (idempotently), for endpoints of their own."""
    admin = _Admin(layout['auth_url'], layout['users'][ADMIN_USER]['password'])
    admin.call('POST', '/regions', {'region': {'id': region}}, ok=(201, 409))


def ensure_endpoint(layout, service_type, url, name=None, region='RegionOne',
                    interface='public'):
    """Make the catalog hold a ``service_type`` service with an ``interface`` endpoint
    in ``region`` at ``url``, idempotently: the service (the one named ``name``, by
    default ``service_type``, or the oldest of that type) and its endpoint are reused,
    the endpoint's URL updated when another run left a different one (each test run
    starts its services on other ports). Returns the endpoint's id.

    The catalog is shared by every user of this Keystone: one test module at a time
    may own an endpoint (a concurrent run of the same module would move it)."""
    admin = _Admin(layout['auth_url'], layout['users'][ADMIN_USER]['password'])
    name = name or service_type
    services = admin.call('GET', '/services?' + urlencode(
        {'type': service_type})).json()['services']
    services.sort(key=lambda s: (s.get('name') != name, s['id']))
    if services:
        service = services[0]
    else:
        service = admin.call('POST', '/services', {'service': {
            'type': service_type, 'name': name, 'enabled': True,
            'description': 'inject tests (tests/keystone.py)'}}).json()['service']
    endpoints = admin.call('GET', '/endpoints?' + urlencode(
        {'service_id': service['id'], 'interface': interface,
         'region_id': region})).json()['endpoints']
    if not endpoints:
        return admin.call('POST', '/endpoints', {'endpoint': {
            'service_id': service['id'], 'interface': interface, 'region_id': region,
            'url': url, 'enabled': True}}).json()['endpoint']['id']
    endpoint = sorted(endpoints, key=lambda e: e['id'])[0]
    if endpoint['url'] != url or not endpoint.get('enabled', True):
        admin.call('PATCH', '/endpoints/%s' % endpoint['id'],
                   {'endpoint': {'url': url, 'enabled': True}})
    return endpoint['id']
