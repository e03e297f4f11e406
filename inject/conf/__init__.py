"""Configuration options, grouped by the part of inject that reads them."""

from oslo_config import cfg

from inject.conf import agent
from inject.conf import api
from inject.conf import appliance
from inject.conf import database
from inject.conf import injection
from inject.conf import paths

CONF = cfg.CONF

paths.register_opts(CONF)
agent.register_opts(CONF)
injection.register_opts(CONF)
appliance.register_opts(CONF)
api.register_opts(CONF)
database.register_opts(CONF)
