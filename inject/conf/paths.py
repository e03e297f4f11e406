"""Where inject keeps its state on the host."""

from oslo_config import cfg

from inject.conf import base

path_opts = [
    cfg.StrOpt('state_path',
               default='/var/lib/inject',
               help='Top-level directory for the state inject keeps on this host '
                    '(the accelerator probe result, overlays being written). '
                    'Other options refer to it as $state_path.'),
]


def register_opts(conf):
    base.register(conf, None, path_opts)


def list_opts():
    return {'DEFAULT': path_opts}
