"""inject-api's pipeline, declared once (as placement's ``deploy.py``): the layers a
request passes through, from the outside in; its response passes them in reverse.
Each concern is one layer, and each fact of a request is worked out by one of them
(:mod:`inject.api.request` lists which).

==================  ==============================================================
layer               its one job
==================  ==============================================================
RequestId           a request id per request, on every response
RequestLog          one log line per request: status, size, microversion, time
VersionHeaders      the negotiated microversion on every response, errors included
FaultWrapper        every error as Nova's body; anything unexpected a bare 500
Negotiation         JSON only (406); the microversion parsed once (400, 406)
VersionDocuments    ``/``, ``/v2``, ``/v2.1``, answered before authentication
authentication      keystonemiddleware's auth_token (``auth_strategy = keystone``)
Context             who is calling: the oslo.context RequestContext
Router              method and path to a handler; its answer as JSON
==================  ==============================================================
"""

from inject.api import auth
from inject.api import middleware
from inject.api import router

#: Every layer but the innermost, from the outside in: ``layer(app, conf)`` wraps
#: the layers inside it.
PIPELINE = (
    middleware.RequestId,
    middleware.RequestLog,
    middleware.VersionHeaders,
    middleware.FaultWrapper,
    middleware.Negotiation,
    router.VersionDocuments,
    auth.authentication,
    auth.Context,
)


def deploy(conf):
    """The WSGI pipeline of inject-api for ``conf``, ending in the :class:`Router`."""
    app = router.Router(conf)
    for layer in reversed(PIPELINE):
        app = layer(app, conf)
    return app
