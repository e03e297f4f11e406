"""The WSGI application of inject-api: what every request may use (the configuration,
the database, the policy, the quotas, the spawn flow) and the pipeline its requests go
through (:mod:`inject.api.deploy`).

Every response, errors and version documents included, carries
``OpenStack-API-Version``, ``X-OpenStack-Nova-API-Version`` and ``Vary``, and the
request's id as ``X-OpenStack-Request-Id`` and ``X-Compute-Request-Id``.
"""

from inject.api import compute as compute_mod
from inject.api import deploy
from inject.api import microversion  # noqa: F401  (inject.cmd.api names its range)
from inject.api import policy
from inject.api import quotas
from inject.api import request as request_mod
from inject.db import api as db_api


class Application:
    """inject-api. ``conf`` is the oslo.config CONF; ``db`` a :class:`Database`."""

    def __init__(self, conf, db=None, compute=None):
        self.conf = conf
        self.db = db or db_api.Database(conf.database.connection,
                                        sync=conf.database.sync_on_start)
        self.policy = policy.Enforcer(conf)
        self.quotas = quotas.Quotas(conf, self.db)
        self.compute = compute or compute_mod.Compute(conf, self.db)
        self.pipeline = deploy.deploy(conf)

    def __call__(self, environ, start_response):
        environ[request_mod.APP] = self
        return self.pipeline(environ, start_response)


def make_app(conf, db=None, compute=None):
    return Application(conf, db=db, compute=compute)
