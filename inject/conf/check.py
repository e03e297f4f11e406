"""Every option a service reads, checked when it starts.

oslo.config converts a value only when it is read, so a bad one in a configuration file
(``[api]vendordata_dynamic_connect_timeout = 2`` under its minimum of 3) used to pass
the start and fail the first request, or a background build, that read it.
:func:`check` reads every option registered on the ConfigOpts once, as the service
would, and names each bad one: the option, the value as written and the file (or
environment variable) it came from. The services register everything they will
ever read before it runs (:func:`inject.cmd.configure`).
"""

from oslo_config import cfg

from inject import exception


def check(conf):
    """Read every option registered on ``conf``;
    :class:`~inject.exception.InvalidConfiguration` naming all whose value is not
    valid (one start tells the operator everything to fix)."""
    problems = []
    for group, name in registered(conf):
        try:
            (conf if group is None else conf[group])[name]
        except cfg.Error as e:
            problems.append(describe(conf, group, name, e))
    if problems:
        raise exception.InvalidConfiguration(problems='; '.join(problems))


def registered(conf):
    """``(group or None, name)`` of every option registered on ``conf``, through the
    Mapping face of ConfigOpts and of its groups."""
    for key in conf:
        try:
            value = conf[key]
        except cfg.Error:          # a [DEFAULT] option whose value is bad
            yield None, key
            continue
        if isinstance(value, cfg.ConfigOpts.GroupAttr):
            for name in value:
                yield key, name
        else:
            yield None, key


def describe(conf, group, name, error):
    """``[group]name = value (in FILE): reason`` for an option whose read failed."""
    label = '[%s]%s' % (group or 'DEFAULT', name)
    reason = str(error)
    if ' is not valid: ' in reason:       # oslo.config's "Value for option ... from
        reason = reason.rsplit(' is not valid: ', 1)[1]   # LOCATION is not valid: why"
    try:
        opt, value, location = _lookup(conf, group, name)
    except Exception:     # noqa: BLE001 -- oslo.config's private face changed
        return '%s: %s' % (label, reason)
    if value is None:
        return '%s: %s' % (label, reason)
    if opt.secret:        # neither the value nor a reason that may quote it
        return '%s = **** %s: not a valid %s' % (label, _where(location),
                                                 opt.type.type_name)
    if isinstance(value, (list, tuple)):
        value = ', '.join(str(v) for v in value)
    return '%s = %s %s: %s' % (label, value, _where(location), reason)


def _where(location):
    if location.location == cfg.Locations.command_line:
        return '(on the command line)'
    if location.location == cfg.Locations.environment:
        return '(from the environment variable %s)' % location.detail
    return '(in %s)' % location.detail


def _lookup(conf, group, name):
    """``(opt, value as written or None, LocationInfo)`` of the value oslo.config
    read for an option: the command line, else the environment, else the last
    configuration file that sets it (under any of its deprecated names), as
    ``ConfigOpts._do_get`` looks.

    oslo.config has no public call that returns a value it cannot convert
    (``get_location()`` raises the very error being described), so this uses the
    lookups that the failed read used (``Opt._get_from_namespace``, the environment
    driver): deprecated names and several files resolve exactly as they did for the
    read. If a later oslo.config changes them, :func:`describe` still names the
    option and the reason (tests/unit/test_conf_check.py notices).
    """
    opt = conf._get_opt_info(name, group)['opt']
    try:
        value, location = opt._get_from_namespace(conf._namespace, group)
    except KeyError:                  # in no file and not on the command line
        value, location = None, None
    if location is None or location.location != cfg.Locations.command_line:
        env_value, env_location = conf._env_driver.get(group, name, opt)
        if env_location is not None:
            return opt, env_value, env_location
    return opt, value, location
