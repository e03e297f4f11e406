"""Who is calling, two layers of the pipeline: :func:`authentication`
(keystonemiddleware's auth_token with ``[api]auth_strategy = keystone``) and
:class:`Context`, the request context from auth_token's headers or, with ``noauth2``,
from Nova's noauth conventions and the configured defaults."""

from oslo_context import context as oslo_context

from inject.api import faults
from inject.api import request as request_mod
from inject.conf import base

AUTHTOKEN_GROUP = 'keystone_authtoken'


def register_opts(conf):
    """With ``keystone``: keystonemiddleware auth_token's options and those of the
    keystoneauth plugin its ``auth_type`` names, registered before the middleware
    does, so that inject-api checks their values at start."""
    if conf.api.auth_strategy != 'keystone':
        return
    from keystonemiddleware import auth_token
    base.register_listed(conf, auth_token.list_opts())
    base.register_auth_plugin(conf, AUTHTOKEN_GROUP)


def authentication(app, conf):
    """``app`` behind keystonemiddleware's auth_token with ``keystone``, else as is."""
    if conf.api.auth_strategy != 'keystone':
        return app
    from keystonemiddleware import auth_token
    return auth_token.AuthProtocol(app, {'oslo_config_config': conf})


class Context:
    """The caller's RequestContext (:func:`context`), kept in the environ."""

    def __init__(self, app, conf):
        self.app = app
        self.conf = conf

    def __call__(self, environ, start_response):
        environ[request_mod.CONTEXT] = context(request_mod.Request(environ), self.conf)
        return self.app(environ, start_response)


def context(req, conf):
    """The oslo.context RequestContext of ``req``; 401 when keystone did not confirm
    the token. Its request ids are those :class:`inject.api.middleware.RequestId` put
    in the environ.

    With ``keystone`` every identity attribute comes from auth_token's headers (the
    token's scope included: system and domain tokens are told apart from project
    ones by the policy's scope check). With ``noauth`` the roles are ``X-Roles`` or
    ``[api]noauth_roles``, expanded as Keystone's default implied roles expand them
    (admin implies member, member implies reader); admin is never implied."""
    h = req.headers
    # The request ids made for this request (and answered with).
    ids = {'request_id': req.environ.get('openstack.request_id'),
           'global_request_id': req.environ.get('openstack.global_request_id')}
    if conf.api.auth_strategy == 'keystone':
        if h.get('X-Identity-Status') != 'Confirmed':
            raise faults.Fault(401, 'Authentication required')
        return oslo_context.RequestContext.from_environ(req.environ, **ids)
    else:
        # Nova's noauth2 convention: a token "user:project" names both.
        token = h.get('X-Auth-Token', '')
        token_user, _, token_project = token.partition(':') if ':' in token else (
            None, None, None)
        project = (req.url_project or h.get('X-Project-Id') or token_project
                   or conf.api.noauth_project)
        user = h.get('X-User-Id') or token_user or conf.api.noauth_user
        roles = _roles(h['X-Roles']) if 'X-Roles' in h else list(conf.api.noauth_roles)
    return oslo_context.RequestContext(user_id=user, project_id=project,
                                       roles=_implied(roles), **ids)


# Keystone's bootstrap makes admin imply member and member imply reader.
_IMPLIES = {'admin': ['member'], 'member': ['reader']}


def _implied(roles):
    out = []
    todo = list(roles)
    while todo:
        role = todo.pop(0)
        if role not in out:
            out.append(role)
            todo.extend(_IMPLIES.get(role.lower(), []))
    return out


def _roles(text):
    return [r.strip() for r in text.split(',') if r.strip()]
