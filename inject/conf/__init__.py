"""Configuration options, grouped by the part of inject that reads them.

Nothing is registered at import. :func:`register_opts` puts every inject option on a
ConfigOpts: the console entry points and :mod:`inject` (the library face) do it on the
global :data:`CONF`; tests and embedding callers may build their own with
:func:`new_conf`.
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

CONF = cfg.CONF

MODULES = (paths, injection, appliance, agent, api, database, metadata, configdrive,
           service, glance)


def register_opts(conf):
    """Register every inject option on ``conf`` (idempotent); return ``conf``."""
    for module in MODULES:
        module.register_opts(conf)
    return conf


def new_conf():
    """A fresh ConfigOpts with every inject option registered (not yet parsed)."""
    return register_opts(cfg.ConfigOpts())
