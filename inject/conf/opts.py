"""Entry point for oslo-config-generator (namespace ``inject``)."""

from inject.conf import agent
from inject.conf import api
from inject.conf import appliance
from inject.conf import database
from inject.conf import injection
from inject.conf import paths

_MODULES = (paths, injection, appliance, agent, api, database)


def list_opts():
    """Return [(group, [opts])] for every option inject registers."""
    merged = {}
    for module in _MODULES:
        for group, opts in module.list_opts().items():
            merged.setdefault(group, []).extend(opts)
    return [(group, opts) for group, opts in merged.items()]
