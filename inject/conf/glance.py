"""How a compute host reaches the Image API (``[glance]``, keystoneauth1's session,
adapter and auth options, as Nova's ``[glance]``) and where it keeps the base images
it fetched (``[image_cache]``)."""

from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

from inject.conf import base

GLANCE_GROUP = 'glance'
DEFAULT_SERVICE_TYPE = 'image'
#: Seconds a download may stall (no byte read) before it fails: keystoneauth's own
#: default waits forever, and a fetch holds the image's lock on the host meanwhile.
DEFAULT_TIMEOUT = 60

glance_group = cfg.OptGroup(
    GLANCE_GROUP,
    title='Image API options',
    help='Where a compute host fetches base images: GET /v2/images/{id} and '
         '/v2/images/{id}/file of Glance, or of inject-api, which serves its image '
         'directory the same way (endpoint_override = http://API-HOST:8774/v2.1). '
         'Without endpoint_override the endpoint is the "image" service of the '
         'Keystone catalog, found with the token of the auth plugin configured here '
         '(auth_type = password ...).')

image_cache_group = cfg.OptGroup(
    'image_cache',
    title='Image cache options',
    help='The base images a compute host fetched, verified, under '
         '[api]instances_path.')

image_cache_opts = [
    cfg.StrOpt('subdirectory_name',
               default='_base',
               help='Directory under [api]instances_path holding the fetched base '
                    'images, one file per image (named by the SHA-1 of its id and its '
                    'format, as Nova names them by the SHA-1); lock files are in '
                    '[api]instances_path/locks.'),
]


def _adapter_opts():
    """keystoneauth1's adapter options without the version ones (the Image API is
    v2, and the fetcher says so in its paths), defaulting to the ``image`` service;
    what Nova's ``[glance]`` has."""
    opts = [o for o in ks_loading.get_adapter_conf_options(include_deprecated=False)
            if o.dest not in ('version', 'min_version', 'max_version')]
    cfg.set_defaults(opts, service_type=DEFAULT_SERVICE_TYPE,
                     valid_interfaces=['internal', 'public'])
    return opts


def _session_opts():
    opts = ks_loading.get_session_conf_options()
    cfg.set_defaults(opts, timeout=DEFAULT_TIMEOUT)
    return opts


def register_opts(conf):
    base.register(conf, image_cache_group, image_cache_opts)
    if GLANCE_GROUP not in conf:
        conf.register_group(cfg.OptGroup(GLANCE_GROUP, title=glance_group.title,
                                         help=glance_group.help))
    conf.register_opts(_session_opts(), group=GLANCE_GROUP)
    conf.register_opts(_adapter_opts(), group=GLANCE_GROUP)
    # keystoneauth's loader reads the version options; they are not offered.
    for name in ('version', 'min-version', 'max-version'):
        opt = cfg.StrOpt(name, help='Not used: the Image API is v2.')
        try:
            conf.register_opt(opt, group=GLANCE_GROUP)
        except cfg.DuplicateOptError:
            pass
    ks_loading.register_auth_conf_options(conf, GLANCE_GROUP)


def list_opts():
    return {
        image_cache_group: image_cache_opts,
        glance_group: (_session_opts() + _adapter_opts()
                       + ks_loading.get_auth_common_conf_options()
                       + ks_loading.get_auth_plugin_conf_options('password')
                       + ks_loading.get_auth_plugin_conf_options('v3password')),
    }
