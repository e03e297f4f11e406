"""Configuration options, grouped by the part of inject that reads them.

Nothing is registered at import. :func:`register_opts` puts inject's options on a
ConfigOpts: each console entry point puts those its service reads on the global
:data:`CONF`; the public entry points (:func:`inject.inject`, :func:`inject.status`,
the agent's ``AgentClient``, ``AgentService`` and ``start_in_process``) put those
they read on the ConfigOpts they are handed (:data:`HOST_MODULES`,
:data:`AGENT_MODULES`), as oslo libraries do; tests and embedding callers may build
their own with :func:`new_conf`.
:mod:`inject.conf.check` checks every registered option's value at a service's start.
"""

from oslo_config import cfg

from inject.conf import agent
from inject.conf import api
from inject.conf import appliance
from inject.conf import configdrive
from inject.conf import database
from inject.conf import glance
from inject.conf import injection
from inject.conf import metadata
from inject.conf import paths
from inject.conf import service
from inject.conf import wsgi

CONF = cfg.CONF

MODULES = (paths, injection, appliance, agent, api, database, metadata, configdrive,
           service, glance, wsgi)
#: What injection on a host reads: the library face and the inject CLI.
HOST_MODULES = (paths, injection, appliance, agent)
#: What an agent reads: that, and what it reports in its heartbeat (the service
#: group's options, the disk of [api]instances_path).
AGENT_MODULES = HOST_MODULES + (api, service)
#: What inject-metadata reads (inject-api reads everything: its agent may be in-process).
METADATA_MODULES = (paths, database, metadata, configdrive, wsgi)


def register_opts(conf, modules=MODULES):
    """Register the options of ``modules`` (default: every inject option) on ``conf``
    (idempotent); return ``conf``."""
    for module in modules:
        module.register_opts(conf)
    return conf


def new_conf():
    """A fresh ConfigOpts with every inject option registered (not yet parsed)."""
    return register_opts(cfg.ConfigOpts())
