"""os-keypairs: create (a generated key pair, or an imported public key), list, show
and delete a user's key pairs, as Nova answers them.

Key pairs belong to users: every operation is on the caller's own key pairs unless an
administrator names another user (``user_id``, from 2.10: in the create body, in the
query of the others). Creating one counts against the ``key_pairs`` quota of the
caller's project, per user (Nova's default 100). Material (generation, fingerprints,
validation of imported keys) is :mod:`inject.api.crypto`'s; bodies are
:mod:`inject.api.views.keypairs`'.
"""

from inject.api import crypto
from inject.api import faults
from inject.api import microversion as mv
from inject.api import validation
from inject.api.schemas import keypairs as schema
from inject.api.views import keypairs as views

_RULE = 'os_compute_api:os-keypairs:%s'
MAX_LIMIT = 1000       # Nova's [api]max_limit default: the largest page from 2.35


def _user(req, given=None):
    """The user whose key pairs a request is about: ``given`` (create body) or the
    first ``user_id`` of the query, from 2.10; else the caller."""
    if req.version >= mv.V2_10:
        if given is None and 'user_id' in req.GET:
            given = req.GET.getall('user_id')[0]
        if given:
            return given
    return req.context.user_id


def not_found(user_id, name):
    return faults.NotFound('Keypair %s not found for user %s' % (name, user_id))


def _quota_exceeded():
    return faults.Forbidden('Quota exceeded, too many key pairs.')


def _over_quota(req, user_id, adding):
    """Whether the user would have more key pairs than the project allows."""
    allowed = req.app.quotas.limits(req.context.project_id)['key_pairs']
    return 0 <= allowed < req.app.db.key_pair_count(user_id) + adding


def create(req):
    body = req.body_json()
    validation.validate(mv.select(schema.CREATE, req.version), body)
    params = body['keypair']
    user_id = _user(req, params.get('user_id'))
    req.authorize(_RULE % 'create', user_id=user_id)
    name = params['name']
    key_type = params.get('type', crypto.SSH)
    if _over_quota(req, user_id, 1):
        raise _quota_exceeded()
    try:
        if 'public_key' in params:
            private_key, public_key = None, params['public_key']
            fingerprint = crypto.fingerprint(public_key, key_type)
        else:
            private_key, public_key, fingerprint = crypto.generate(user_id, key_type)
    except crypto.InvalidKeypair as e:
        raise faults.BadRequest(str(e))
    kp = req.app.db.key_pair_create(user_id, name, public_key, fingerprint, key_type)
    if kp is None:
        raise faults.Conflict("Key pair '%s' already exists." % name)
    # Nova's recheck: two creates racing past the first check must not both stay.
    if _over_quota(req, user_id, 0):
        req.app.db.key_pair_delete(user_id, name)
        raise _quota_exceeded()
    status = 201 if req.version >= mv.V2_2 else 200
    return status, views.created(req, kp, private_key)


def _page(req):
    """``(limit, marker)`` from 2.35 (limit at most MAX_LIMIT); ``(None, None)``
    before, where the whole list is one page."""
    if req.version < mv.V2_35:
        return None, None
    limit = MAX_LIMIT
    if 'limit' in req.GET:
        try:
            given = int(req.GET['limit'])
        except ValueError:
            raise faults.BadRequest('limit param must be an integer')
        if given < 0:
            raise faults.BadRequest('limit param must be positive')
        limit = min(given, MAX_LIMIT) if given else MAX_LIMIT
    return limit, req.GET.get('marker')


def index(req):
    user_id = _user(req)
    req.authorize(_RULE % 'index', user_id=user_id)
    limit, marker = _page(req)
    items = req.app.db.key_pair_list(user_id, limit=limit, marker=marker)
    if items is None:
        raise faults.BadRequest('Marker %s could not be found.' % marker)
    body = {'keypairs': [views.entry(req, kp) for kp in items]}
    if limit is not None and items and len(items) == limit:
        body['keypairs_links'] = views.collection_links(req, items)
    return 200, body


def show(req, id):
    user_id = _user(req)
    req.authorize(_RULE % 'show', user_id=user_id)
    kp = req.app.db.key_pair_get(user_id, id)
    if kp is None:
        raise not_found(user_id, id)
    return 200, views.show(req, kp)


def delete(req, id):
    user_id = _user(req)
    req.authorize(_RULE % 'delete', user_id=user_id)
    if not req.app.db.key_pair_delete(user_id, id):
        raise not_found(user_id, id)
    return (204 if req.version >= mv.V2_2 else 202), None
