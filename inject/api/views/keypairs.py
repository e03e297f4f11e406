"""Key pair bodies at the request's microversion, as Nova's keypairs ViewBuilder: list
entries (name, public key, fingerprint), the create answer (with ``user_id``, and the
private key of a generated pair), the show answer (with Nova's soft-delete fields,
never set); ``type`` from 2.2."""

from urllib import parse

from inject.api import microversion as mv
from inject.api.views import times


def _common(req, kp):
    body = {'name': kp.name, 'public_key': kp.public_key, 'fingerprint': kp.fingerprint}
    if req.version >= mv.V2_2:
        body['type'] = kp.type
    return body


def entry(req, kp):
    """One item of ``GET /os-keypairs``."""
    return {'keypair': _common(req, kp)}


def created(req, kp, private_key=None):
    body = dict(_common(req, kp), user_id=kp.user_id)
    if private_key is not None:
        body['private_key'] = private_key
    return {'keypair': body}


def show(req, kp):
    body = dict(_common(req, kp), user_id=kp.user_id, id=kp.id,
                created_at=times.isotime_usec(kp.created_at), updated_at=None,
                deleted=False, deleted_at=None)
    return {'keypair': body}


def collection_links(req, items):
    """``keypairs_links``: the next page, with the request's other parameters (Nova's
    _get_next_link: sorted, the marker replaced by the last name shown)."""
    params = dict(sorted(req.GET.items()))
    params['marker'] = items[-1].name
    own, _ = req.link_prefix()
    return [{'rel': 'next',
             'href': '%s/os-keypairs?%s' % (own, parse.urlencode(params))}]
