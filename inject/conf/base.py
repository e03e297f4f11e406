"""Registering a group of options on any ConfigOpts, the global CONF or a fresh one."""

from oslo_config import cfg


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
