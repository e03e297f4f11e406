"""The database of inject-api: :class:`Database` is the one object callers query and
write through (inject-api, its spawn threads and inject-metadata). Every method opens
its own short transaction, so handlers and the background spawn threads never share a
session. Each concern lives in a module of its own, whose class ``Database`` gathers:

* :mod:`inject.db.engine`: the engine, SQLite's pragmas, sessions and the project lock
* :mod:`inject.db.instances`: instances, their metadata, creates under a quota decision
* :mod:`inject.db.listing`: server lists filtered, sorted and paged in SQL
* :mod:`inject.db.builds`: the spawn flow's transactions, instance actions, faults
* :mod:`inject.db.served`: personality files and vendordata answers kept for serving
* :mod:`inject.db.keypairs`: key pairs
* :mod:`inject.db.quotas`: project and class limits, usage counted in SQL
* :mod:`inject.db.services`: the agents' registrations and heartbeats, what hosts hold
"""

from inject.db import builds
from inject.db import engine
from inject.db import instances
from inject.db import keypairs
from inject.db import models  # noqa: F401  (callers reach the models through here)
from inject.db import quotas
from inject.db import served
from inject.db import services


class Database(engine.Engine, instances.Instances, builds.Builds, served.Served,
               keypairs.KeyPairs, quotas.Quotas, services.Services):
    """One engine and its session factory, for the URL in ``[database]connection``,
    with every query of inject-api."""
