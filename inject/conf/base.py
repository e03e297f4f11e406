"""Registering options on any ConfigOpts, the global CONF or a fresh one: a group of
inject's, a library's listed options, a keystoneauth plugin's."""

from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import loading as ks_loading
from oslo_config import cfg

from inject import exception
from inject.conf import check


def register(conf, group, opts):
    """Register ``opts`` under ``group`` (an OptGroup, or None for DEFAULT) on ``conf``.

    oslo.config records registered options inside the OptGroup object itself, so each
    ConfigOpts gets its own copy of the group: two ConfigOpts (a test's and the global
    CONF) never share registrations or overrides. The Opt objects are shared; they hold
    no per-ConfigOpts state.
    """
    if group is None:
        conf.register_opts(opts)
        return
    conf.register_group(cfg.OptGroup(group.name, title=group.title, help=group.help))
    conf.register_opts(opts, group=group.name)


def register_listed(conf, listed):
    """Register a library's ``list_opts()`` (``[(group name or None, [opts])]``, what
    oslo-config-generator reads) on ``conf``. The library registers the same options
    when it first reads them; equal options registered twice are one."""
    for group, opts in listed:
        conf.register_opts(opts, group=group)


def register_auth_plugin(conf, group):
    """Register the options of the keystoneauth plugin that ``[group]auth_type`` (or
    the group its ``auth_section`` names) chooses, as keystoneauth does when it loads
    the plugin at the first request: done at start, they are checked with the others.
    An ``auth_type`` naming no plugin is :class:`~inject.exception.InvalidConfiguration`
    (keystoneauth would raise it at that first request)."""
    ks_loading.register_auth_conf_options(conf, group)
    section = conf[group].auth_section or group
    if section != group:
        ks_loading.register_auth_conf_options(conf, section)
    name = conf[section].auth_type
    if not name:
        return
    try:
        opts = ks_loading.get_auth_plugin_conf_options(name)
    except ks_exc.NoMatchingPlugin:
        raise exception.InvalidConfiguration(problems=check.describe(
            conf, section, 'auth_type', 'no keystoneauth plugin is named %r (there are: %s)'
            % (name, ', '.join(sorted(ks_loading.get_available_plugin_names())))))
    conf.register_opts(opts, group=section)
